package payments_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/graph/rest"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

var twoItems = []item{{title: "Growth A", qty: 2, unit: "12.50"}, {title: "Growth B", qty: 1, unit: "99.00"}}

func TestWebhookPaidOnceThenReplayedChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	payload := stripeEvent("evt_paid_1", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid"))

	body := e.deliverOK(payload)
	if body["message"] != "Event processed" {
		t.Fatalf("message = %v", body["message"])
	}
	got, err := e.st.FindPayment(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.PaymentSucceeded || got.CapturedAt == nil || got.PaymentIntentID == nil || *got.PaymentIntentID != "pi_"+o.id[:8] {
		t.Fatalf("payment after paid event: %+v", got)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order status %s, want processing", s)
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks = %d, want one manual task per item (2)", n)
	}
	ev := e.scalar(`SELECT from_status || '>' || to_status || '|' || actor FROM order_status_events WHERE order_id = $1`, o.id)
	if ev != "pending>processing|webhook" {
		t.Fatalf("status event %q", ev)
	}

	for i := 0; i < 5; i++ {
		body := e.deliverOK(payload)
		if body["message"] != "Event already processed" {
			t.Fatalf("replay %d: %v", i, body)
		}
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks after replays = %d, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM order_status_events WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("status events after replays = %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM webhook_events`); n != 1 {
		t.Fatalf("webhook_events = %d, want 1", n)
	}
}

func TestWebhookConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	payload := stripeEvent("evt_concurrent", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid"))

	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = e.deliver(payload, sign(payload, testSecret, time.Now()))
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Fatalf("delivery %d: status %d", i, c)
		}
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks = %d, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM order_status_events WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("status events = %d, want 1", n)
	}
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "succeeded" {
		t.Fatalf("payment %s", s)
	}
	obs := e.svc.Observability(context.Background())
	if obs.Webhooks.Totals.Processed != 20 || obs.Webhooks.Totals.Duplicates != 19 || obs.Webhooks.Totals.Failed != 0 {
		t.Fatalf("totals %+v", obs.Webhooks.Totals)
	}
}

// A bad signature is refused before any database access: the store's pool
// counts every statement and must count none.
func TestWebhookBadSignaturesNeverTouchTheDatabase(t *testing.T) {
	t.Parallel()
	db, counter := storetest.NewCounting(t)
	e := newEnvWithDB(t, db, "")
	o := order{id: "00000000-0000-0000-0000-000000000001", number: "SM000001"}
	payload := stripeEvent("evt_bad", "checkout.session.completed", sessionObject("cs_test_x", o, 100, "eur", "paid"))
	now := time.Now()
	good := payments.SignPayload(payload, testSecret, now)
	ts := fmt.Sprint(now.Unix())
	cases := map[string]struct {
		body []byte
		sig  string
	}{
		"missing":        {payload, ""},
		"garbage":        {payload, "nonsense"},
		"no v1":          {payload, "t=" + ts},
		"no timestamp":   {payload, strings.SplitN(good, ",", 2)[1]},
		"bad timestamp":  {payload, strings.Replace(good, "t="+ts, "t=abc", 1)},
		"two timestamps": {payload, "t=" + ts + "," + good},
		"v0 only":        {payload, strings.Replace(good, "v1=", "v0=", 1)},
		"wrong secret":   {payload, payments.SignPayload(payload, "whsec_wrong", now)},
		"tampered body":  {append([]byte(" "), payload...), good},
		"wrong time":     {payload, strings.Replace(good, "t="+ts, fmt.Sprintf("t=%d", now.Unix()+1), 1)},
		"too old":        {payload, payments.SignPayload(payload, testSecret, now.Add(-301*time.Second))},
		"too far future": {payload, payments.SignPayload(payload, testSecret, now.Add(301*time.Second))},
	}
	for name, c := range cases {
		code, body := e.deliver(c.body, c.sig)
		if code != http.StatusBadRequest || body["code"] != "BAD_USER_INPUT" || body["detail"] != "Invalid signature" {
			t.Errorf("%s: %d %v", name, code, body)
		}
	}
	if n := counter.Load(); n != 0 {
		t.Fatalf("%d statements reached the database before the signature check", n)
	}
	// Just inside the tolerance, both ways, passes (and then uses the database).
	for _, d := range []time.Duration{-290 * time.Second, 290 * time.Second} {
		p := stripeEvent(fmt.Sprintf("evt_edge_%d", d), "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
		if code, body := e.deliver(p, payments.SignPayload(p, testSecret, now.Add(d))); code != 200 {
			t.Fatalf("offset %v: %d %v", d, code, body)
		}
	}
}

func TestWebhookNoSecretsConfiguredRefusesEverything(t *testing.T) {
	t.Parallel()
	db, counter := storetest.NewCounting(t)
	e := newEnvWithDB(t, db, "", func(c *payments.Config) { c.WebhookSecrets = nil })
	payload := stripeEvent("evt_x", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	if code, _ := e.deliver(payload, payments.SignPayload(payload, "", time.Now())); code != 400 {
		t.Fatalf("status %d, want 400", code)
	}
	if counter.Load() != 0 {
		t.Fatal("database touched")
	}
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "", func(c *payments.Config) { c.WebhookSecrets = []string{oldSecret, testSecret} })
	now := time.Now()
	for i, secret := range []string{oldSecret, testSecret} {
		p := stripeEvent(fmt.Sprintf("evt_rot_%d", i), "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
		if code, body := e.deliver(p, payments.SignPayload(p, secret, now)); code != 200 {
			t.Fatalf("secret %d: %d %v", i, code, body)
		}
	}
	// Stripe sends one v1 per active secret during its own rotation.
	p := stripeEvent("evt_rot_multi", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	wrong := payments.SignPayload(p, "whsec_other", now)
	right := payments.SignPayload(p, testSecret, now)
	header := wrong + "," + strings.SplitN(right, ",", 2)[1]
	if code, body := e.deliver(p, header); code != 200 {
		t.Fatalf("multi v1: %d %v", code, body)
	}
	p = stripeEvent("evt_rot_unknown", "customer.created", map[string]any{"id": "cus_1", "object": "customer"})
	if code, _ := e.deliver(p, payments.SignPayload(p, "whsec_retired", now)); code != 400 {
		t.Fatalf("retired secret accepted: %d", code)
	}
}

func TestWebhookUnknownTypeChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	payload := stripeEvent("evt_unknown", "invoice.paid", map[string]any{"id": "in_1", "object": "invoice",
		"metadata": map[string]string{"order_id": o.id}})
	body := e.deliverOK(payload)
	if body["message"] != "Event type ignored" {
		t.Fatalf("message %v", body["message"])
	}
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "pending" {
		t.Fatalf("payment %s", s)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "pending" {
		t.Fatalf("order %s", s)
	}
	if s := e.scalar(`SELECT outcome FROM webhook_events WHERE external_id = 'evt_unknown'`); s != "ignored" {
		t.Fatalf("outcome %s", s)
	}
	if e.tasks(o) != 0 {
		t.Fatal("tasks created")
	}
}

func TestWebhookStateOnlyMovesForward(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")

	e.deliverOK(stripeEvent("evt_1", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	// A late failure after success changes nothing.
	e.deliverOK(stripeEvent("evt_2", "payment_intent.payment_failed", intentObject(o, 12400, "eur", "requires_payment_method", "Your card was declined.")))
	e.deliverOK(stripeEvent("evt_3", "checkout.session.async_payment_failed", sessionObject(p.ProviderReference, o, 12400, "eur", "unpaid")))
	if s := e.scalar(`SELECT status::text || '|' || coalesce(failure_reason, '') FROM payments WHERE id = $1`, p.ID); s != "succeeded|" {
		t.Fatalf("payment %s", s)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order %s", s)
	}
	// A full refund is terminal: a late success does not resurrect the payment.
	e.deliverOK(stripeEvent("evt_4", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "amount": 12400,
		"amount_refunded": 12400, "refunded": true, "currency": "eur", "payment_intent": "pi_" + o.id[:8]}))
	e.deliverOK(stripeEvent("evt_5", "payment_intent.succeeded", intentObject(o, 12400, "eur", "succeeded", "")))
	e.deliverOK(stripeEvent("evt_6", "checkout.session.async_payment_succeeded", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "refunded" {
		t.Fatalf("payment %s, want refunded", s)
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks %d", n)
	}
	if n := e.count(`SELECT count(*) FROM order_status_events WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("status events %d", n)
	}
}

func TestWebhookFailureThenSuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")

	e.deliverOK(stripeEvent("evt_f", "payment_intent.payment_failed", intentObject(o, 12400, "eur", "requires_payment_method", "Your card was declined.")))
	got, _ := e.st.FindPayment(context.Background(), p.ID)
	if got.Status != store.PaymentFailed || got.FailureReason == nil || *got.FailureReason != "Your card was declined." {
		t.Fatalf("payment %+v", got)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "on_hold" {
		t.Fatalf("order %s, want on_hold", s)
	}
	if s := e.scalar(`SELECT note FROM order_status_events WHERE order_id = $1 ORDER BY id DESC LIMIT 1`, o.id); !strings.Contains(s, "payment failed") {
		t.Fatalf("note %q", s)
	}
	if e.tasks(o) != 0 {
		t.Fatal("tasks for a failed payment")
	}
	// The customer retries in the same session with another card: failed →
	// succeeded is forward, and the hold the failure set is released.
	e.deliverOK(stripeEvent("evt_s", "payment_intent.succeeded", intentObject(o, 12400, "eur", "succeeded", "")))
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "succeeded" {
		t.Fatalf("payment %s", s)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order %s, want processing", s)
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks %d", n)
	}
	// checkout.session.completed arriving after payment_intent.succeeded: no change.
	body := e.deliverOK(stripeEvent("evt_c", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	if body["message"] != "Event processed; no change" {
		t.Fatalf("message %v", body["message"])
	}
}

func TestWebhookAmountOrCurrencyMismatchNeverMarksPaid(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	for i, c := range []struct {
		cents    int64
		currency string
	}{{100, "eur"}, {12400, "usd"}, {12401, "eur"}, {0, "eur"}} {
		body := e.deliverOK(stripeEvent(fmt.Sprintf("evt_mm_%d", i), "checkout.session.completed",
			sessionObject(p.ProviderReference, o, c.cents, c.currency, "paid")))
		if !strings.Contains(body["message"].(string), "mismatch") {
			t.Fatalf("%d: %v", i, body)
		}
	}
	got, _ := e.st.FindPayment(context.Background(), p.ID)
	if got.Status != store.PaymentPending || got.FailureReason == nil || !strings.Contains(*got.FailureReason, "amount mismatch") {
		t.Fatalf("payment %+v", got)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "pending" {
		t.Fatalf("order %s", s)
	}
	if e.tasks(o) != 0 {
		t.Fatal("tasks created on mismatch")
	}
	// The right amount still pays it.
	e.deliverOK(stripeEvent("evt_mm_ok", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	if s := e.scalar(`SELECT status::text || '|' || coalesce(failure_reason, '') FROM payments WHERE id = $1`, p.ID); s != "succeeded|" {
		t.Fatalf("payment %s", s)
	}
}

func TestWebhookUnpaidSessionAndUnknownSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	body := e.deliverOK(stripeEvent("evt_unpaid", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "unpaid")))
	if !strings.Contains(body["message"].(string), "not completed") {
		t.Fatalf("%v", body)
	}
	// A session smplat never created is not matched by its metadata.
	body = e.deliverOK(stripeEvent("evt_other", "checkout.session.completed", sessionObject("cs_test_foreign", o, 12400, "eur", "paid")))
	if !strings.Contains(body["message"].(string), "no matching payment") {
		t.Fatalf("%v", body)
	}
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "pending" {
		t.Fatalf("payment %s", s)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "pending" {
		t.Fatalf("order %s", s)
	}
}

func TestWebhookConfiguredProductTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	cfg := `{"tasks":[
		{"type":"analytics_collection","title":"Baseline","schedule_offset_minutes":5,"max_retries":3,
		 "execution":{"kind":"http","method":"POST","url":"https://example.com/a"}},
		{"type":"content_promotion","title":"Activate","schedule_offset_minutes":30,"max_retries":5,
		 "execution":{"kind":"http","method":"POST","url":"https://example.com/b"}}]}`
	o := e.insertOrder("pending", "EUR", []item{{title: "Configured", qty: 1, unit: "99.00", configTs: cfg}})
	p := e.insertPayment(o, "EUR")
	e.deliverOK(stripeEvent("evt_cfg", "checkout.session.completed", sessionObject(p.ProviderReference, o, 9900, "eur", "paid")))
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks %d, want 2 configured tasks", n)
	}
	got := e.scalar(`SELECT string_agg(t.task_type::text || ':' || t.max_retries || ':' ||
			round(extract(epoch FROM t.scheduled_at - t.created_at))::text, ',' ORDER BY t.scheduled_at)
		FROM fulfillment_tasks t JOIN order_items i ON i.id = t.order_item_id WHERE i.order_id = $1`, o.id)
	if got != "analytics_collection:3:300,content_promotion:5:1800" {
		t.Fatalf("tasks %s", got)
	}
	e.deliverOK(stripeEvent("evt_cfg", "checkout.session.completed", sessionObject(p.ProviderReference, o, 9900, "eur", "paid")))
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks after replay %d", n)
	}
}

func TestWebhookPartialRefundKeepsPayment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	e.deliverOK(stripeEvent("evt_pay", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	e.deliverOK(stripeEvent("evt_part", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "amount": 12400,
		"amount_refunded": 1000, "refunded": false, "currency": "eur", "payment_intent": "pi_" + o.id[:8]}))
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "succeeded" {
		t.Fatalf("payment %s", s)
	}
	e.deliverOK(stripeEvent("evt_full", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "amount": 12400,
		"amount_refunded": 12400, "refunded": true, "currency": "eur", "payment_intent": "pi_" + o.id[:8]}))
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "refunded" {
		t.Fatalf("payment %s", s)
	}
}

func TestWebhookBadPayloadAndSize(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	p := []byte(`{"not":"an event"}`)
	if code, body := e.deliver(p, payments.SignPayload(p, testSecret, time.Now())); code != 400 || body["detail"] != "Invalid payload" {
		t.Fatalf("%d %v", code, body)
	}
	big := make([]byte, rest.MaxWebhookBody+1)
	if code, _ := e.deliver(big, "t=1,v1=00"); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", code)
	}
}

// A failure inside the transaction rolls back everything, the event id
// included, and answers 500 so Stripe retries; the retry then applies.
func TestWebhookFailureRollsBackAndRetrySucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	payments.SetEnqueue(e.svc, func(context.Context, sqlx.ExtContext, string, time.Time) (int, error) {
		return 0, errors.New("boom: connection to db password=hunter2 lost")
	})
	payload := stripeEvent("evt_fail", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid"))
	code, body := e.deliver(payload, sign(payload, testSecret, time.Now()))
	if code != 500 || body["code"] != "INTERNAL" || body["detail"] != "Internal server error" {
		t.Fatalf("%d %v", code, body)
	}
	if n := e.count(`SELECT count(*) FROM webhook_events`); n != 0 {
		t.Fatal("event recorded despite rollback")
	}
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, p.ID); s != "pending" {
		t.Fatalf("payment %s after rollback", s)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "pending" {
		t.Fatalf("order %s after rollback", s)
	}
	payments.SetEnqueue(e.svc, store.EnqueueTasksTx)
	e.deliverOK(payload)
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order %s after retry", s)
	}
	if n := e.tasks(o); n != 2 {
		t.Fatalf("tasks %d", n)
	}
	obs := e.svc.Observability(context.Background())
	if obs.Webhooks.Totals.Failed != 1 || obs.Webhooks.ByEventType["checkout.session.completed"].Failed != 1 {
		t.Fatalf("totals %+v", obs.Webhooks)
	}
}

func TestWebhookExpiredSessionFailsItsPaymentOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	o := e.insertOrder("pending", "EUR", twoItems)
	p := e.insertPayment(o, "EUR")
	e.deliverOK(stripeEvent("evt_x", "checkout.session.expired", sessionObject(p.ProviderReference, o, 12400, "eur", "unpaid")))
	got, _ := e.st.FindPayment(context.Background(), p.ID)
	if got.Status != store.PaymentFailed || got.FailureReason == nil || *got.FailureReason != "checkout session expired" {
		t.Fatalf("payment %+v", got)
	}
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "pending" {
		t.Fatalf("order %s, want pending (checkout may start again)", s)
	}
	// A late completion of the same session still pays (failed → succeeded is forward).
	e.deliverOK(stripeEvent("evt_y", "checkout.session.completed", sessionObject(p.ProviderReference, o, 12400, "eur", "paid")))
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order %s after completion, want processing", s)
	}
}
