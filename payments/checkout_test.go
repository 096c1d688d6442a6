package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/smplat/smplat/graph/rest"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// captured is one request that went to Stripe.
type captured struct {
	path           string
	form           url.Values
	idempotencyKey string
	auth           string
}

// recorder is an httptest proxy in front of stripe-mock that keeps every
// request, so tests can assert what smplat sent (stripe-mock answers with
// canned data that does not echo the amounts).
type recorder struct {
	mu   sync.Mutex
	reqs []captured
	srv  *httptest.Server
}

func newRecorder(t *testing.T, upstream string) *recorder {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, captured{path: r.URL.Path, form: form,
			idempotencyKey: r.Header.Get("Idempotency-Key"), auth: r.Header.Get("Authorization")})
		rec.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]captured(nil), r.reqs...)
}

func postCheckout(t *testing.T, svc *payments.Service, body any, idemKey string) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/api/v1/payments/checkout", bytes.NewReader(b))
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	rec := httptest.NewRecorder()
	(&rest.API{Payments: svc, Logger: slog.New(slog.DiscardHandler)}).StartCheckout().ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("checkout response %q: %v", rec.Body.String(), err)
	}
	return rec.Code, out
}

func checkoutBody(orderID string) map[string]any {
	return map[string]any{"order_id": orderID, "success_url": "https://shop.example.com/success",
		"cancel_url": "https://shop.example.com/cancel", "customer_email": "buyer@example.com"}
}

func TestCheckoutAgainstStripeMock(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, stripeMock(t))
	e := newEnv(t, rec.srv.URL)
	o := e.insertOrder("pending", "EUR", twoItems) // 2 × 12.50 + 99.00 = 124.00

	code, res := postCheckout(t, e.svc, checkoutBody(o.id), "client-key-1")
	if code != 200 {
		t.Fatalf("checkout: %d %v", code, res)
	}
	sessionID, _ := res["checkout_session_id"].(string)
	if !strings.HasPrefix(sessionID, "cs_") || res["checkout_url"] == "" || res["amount"] != 124.0 || res["currency"] != "EUR" {
		t.Fatalf("response %v", res)
	}
	p, err := e.st.FindPayment(context.Background(), res["payment_id"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if p.ProviderReference != sessionID || p.OrderID != o.id || !p.Amount.Equal(o.total) || p.Currency != "EUR" ||
		p.Status != store.PaymentPending || p.Provider != store.ProviderStripe {
		t.Fatalf("payment row %+v", p)
	}

	reqs := rec.requests()
	if len(reqs) != 1 || reqs[0].path != "/v1/checkout/sessions" {
		t.Fatalf("stripe requests %+v", reqs)
	}
	f := reqs[0].form
	want := map[string]string{
		"mode": "payment", "client_reference_id": o.id, "customer_email": "buyer@example.com",
		"success_url": "https://shop.example.com/success", "cancel_url": "https://shop.example.com/cancel",
		"metadata[order_id]": o.id, "metadata[order_number]": o.number,
		"payment_intent_data[metadata][order_id]": o.id,
		"line_items[0][price_data][unit_amount]":  "1250", "line_items[0][quantity]": "2",
		"line_items[0][price_data][currency]":           "eur",
		"line_items[0][price_data][product_data][name]": "Growth A",
		"line_items[1][price_data][unit_amount]":        "9900", "line_items[1][quantity]": "1",
		"line_items[1][price_data][currency]": "eur",
	}
	for k, v := range want {
		if got := f.Get(k); got != v {
			t.Errorf("stripe param %s = %q, want %q", k, got, v)
		}
	}
	if f.Has("line_items[2][quantity]") {
		t.Errorf("unexpected third line")
	}
	if reqs[0].idempotencyKey != payments.StripeIdempotencyKey(o.id, 12400, "eur", "client-key-1") {
		t.Errorf("idempotency key %q", reqs[0].idempotencyKey)
	}

	// The same key again: the same session and payment, no second session.
	code, again := postCheckout(t, e.svc, checkoutBody(o.id), "client-key-1")
	if code != 200 || again["checkout_session_id"] != sessionID || again["payment_id"] != res["payment_id"] {
		t.Fatalf("retry: %d %v, first %v", code, again, res)
	}
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("retry reached stripe (%d requests)", n)
	}
	if n := e.count(`SELECT count(*) FROM payments WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("payments %d", n)
	}
	if strings.Contains(e.log.String(), testKey) {
		t.Fatal("secret key in logs")
	}
}

func TestCheckoutConcurrentCallsMakeOneSession(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, stripeMock(t))
	e := newEnv(t, rec.srv.URL)
	o := e.insertOrder("pending", "USD", []item{{title: "Solo", qty: 3, unit: "10.01"}})
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.svc.StartCheckout(context.Background(), o.id, "https://a.example/s", "https://a.example/c", nil, "")
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = res.CheckoutSessionID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("different sessions: %v", ids)
		}
	}
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("%d stripe requests, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM payments WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("payments %d", n)
	}
	f := rec.requests()[0].form
	if f.Get("line_items[0][price_data][unit_amount]") != "1001" || f.Get("line_items[0][price_data][currency]") != "usd" {
		t.Fatalf("form %v", f)
	}
}

func TestCheckoutRefusals(t *testing.T) {
	t.Parallel()
	rec := newRecorder(t, stripeMock(t))
	e := newEnv(t, rec.srv.URL)
	processing := e.insertOrder("processing", "EUR", twoItems)
	empty := e.insertOrder("pending", "EUR", nil, "10.00")
	wrongTotal := e.insertOrder("pending", "EUR", twoItems, "130.00")

	cases := []struct {
		name   string
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{"not pending", checkoutBody(processing.id), 409, "CONFLICT", ""},
		{"no items", checkoutBody(empty.id), 409, "CONFLICT", ""},
		{"total differs from items", checkoutBody(wrongTotal.id), 409, "CONFLICT", ""},
		{"unknown order", checkoutBody("3f1c1d1e-0000-4000-8000-000000000000"), 404, "NOT_FOUND", ""},
		{"not a uuid", checkoutBody("nope"), 404, "NOT_FOUND", ""},
		{"missing order_id", map[string]any{"success_url": "https://a/s", "cancel_url": "https://a/c"}, 422, "BAD_USER_INPUT", "order_id"},
		{"missing success_url", map[string]any{"order_id": processing.id, "cancel_url": "https://a/c"}, 422, "BAD_USER_INPUT", "success_url"},
		{"relative cancel_url", map[string]any{"order_id": processing.id, "success_url": "https://a/s", "cancel_url": "/c"}, 422, "BAD_USER_INPUT", "cancel_url"},
		{"bad email", map[string]any{"order_id": processing.id, "success_url": "https://a/s", "cancel_url": "https://a/c", "customer_email": "x"}, 422, "BAD_USER_INPUT", "customer_email"},
	}
	for _, c := range cases {
		code, body := postCheckout(t, e.svc, c.body, "")
		if code != c.status || body["code"] != c.code || (c.field != "" && body["field"] != c.field) {
			t.Errorf("%s: %d %v", c.name, code, body)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("%d requests reached stripe", n)
	}
	if n := e.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("payments written: %d", n)
	}
	obs := e.svc.Observability(context.Background())
	if obs.Checkout.Totals.Failed != 7 { // the two 422s on missing fields never reach the service
		t.Fatalf("checkout totals %+v", obs.Checkout.Totals)
	}
}

func TestCheckoutProviderErrorRevealsNothing(t *testing.T) {
	t.Parallel()
	const providerText = "No such price; the key sk_test_smplatSecretKeyDoNotLog is invalid for acct_secret"
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"type": "invalid_request_error", "code": "resource_missing", "message": providerText}})
	}))
	t.Cleanup(fake.Close)
	e := newEnv(t, fake.URL)
	o := e.insertOrder("pending", "EUR", twoItems)
	code, body := postCheckout(t, e.svc, checkoutBody(o.id), "")
	if code != 502 || body["code"] != "PAYMENT_PROVIDER_ERROR" || body["detail"] != "payment provider error" {
		t.Fatalf("%d %v", code, body)
	}
	raw, _ := json.Marshal(body)
	logs := e.log.String()
	for _, secret := range []string{testKey, "acct_secret", "No such price"} {
		if strings.Contains(string(raw), secret) || strings.Contains(logs, secret) {
			t.Fatalf("%q leaked: body %s logs %s", secret, raw, logs)
		}
	}
	if !strings.Contains(logs, "resource_missing") {
		t.Fatalf("provider error code not logged: %s", logs)
	}
	if n := e.count(`SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("payment written on provider error")
	}
}

func TestCheckoutWithoutSecretKeyIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "http://127.0.0.1:1", func(c *payments.Config) { c.SecretKey = "" })
	o := e.insertOrder("pending", "EUR", twoItems)
	code, body := postCheckout(t, e.svc, checkoutBody(o.id), "")
	if code != 503 || body["code"] != "UNAVAILABLE" {
		t.Fatalf("%d %v", code, body)
	}
}

// The "done when": an order, a checkout session against
// stripe-mock, and a signed checkout.session.completed for that session
// leave the order processing, the payment succeeded and tasks pending; a
// replay changes nothing.
func TestCheckoutThenWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripeMock(t))
	o := e.insertOrder("pending", "EUR", twoItems)
	res, err := e.svc.StartCheckout(context.Background(), o.id, "https://a.example/s", "https://a.example/c", nil, "k")
	if err != nil {
		t.Fatal(err)
	}
	payload := stripeEvent("evt_e2e", "checkout.session.completed", sessionObject(res.CheckoutSessionID, o, 12400, "eur", "paid"))
	e.deliverOK(payload)
	e.deliverOK(payload)
	if s := e.scalar(`SELECT status::text FROM orders WHERE id = $1`, o.id); s != "processing" {
		t.Fatalf("order %s", s)
	}
	if s := e.scalar(`SELECT status::text FROM payments WHERE id = $1`, res.PaymentID); s != "succeeded" {
		t.Fatalf("payment %s", s)
	}
	if n := e.count(`SELECT count(*) FROM fulfillment_tasks t JOIN order_items i ON i.id = t.order_item_id
		WHERE i.order_id = $1 AND t.status = 'pending'`, o.id); n != 2 {
		t.Fatalf("pending tasks %d", n)
	}
	// A paid order cannot start another checkout.
	if _, err := e.svc.StartCheckout(context.Background(), o.id, "https://a.example/s", "https://a.example/c", nil, "k"); err == nil {
		t.Fatal("checkout of a processing order")
	} else if se, ok := store.AsError(err); !ok || se.Code != store.CodeConflict {
		t.Fatalf("err %v", err)
	}
}

func TestStatusAndObservabilityHandlers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripeMock(t))
	r := chi.NewRouter()
	api := &rest.API{Store: e.st, Payments: e.svc, Logger: slog.New(slog.DiscardHandler)}
	r.Method("GET", "/api/v1/payments/status/{payment_id}", api.PaymentStatus())
	r.Method("GET", "/api/v1/payments/observability", api.PaymentsObservability())
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %q", path, rec.Body.String())
		}
		return rec.Code, m
	}

	// Fresh process: every total present and zero.
	code, obs := get("/api/v1/payments/observability")
	if code != 200 {
		t.Fatalf("%d", code)
	}
	wantZero := map[string]float64{
		"checkout.totals.succeeded": 0, "checkout.totals.failed": 0,
		"webhooks.totals.processed": 0, "webhooks.totals.failed": 0,
		"webhooks.by_event_type.checkout.session.completed.processed": 0,
	}
	for path, want := range wantZero {
		if got, ok := dig(obs, path); !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", path, got, ok, want)
		}
	}
	if ev, _ := obs["webhooks"].(map[string]any)["last_events"].([]any); ev == nil {
		t.Errorf("last_events is not an empty list: %v", obs["webhooks"])
	}

	// One checkout succeeds, one fails; two deliveries of one event and a bad signature.
	o := e.insertOrder("pending", "EUR", twoItems)
	res, err := e.svc.StartCheckout(context.Background(), o.id, "https://a.example/s", "https://a.example/c", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartCheckout(context.Background(), "3f1c1d1e-0000-4000-8000-000000000000", "https://a.example/s", "https://a.example/c", nil, ""); err == nil {
		t.Fatal("want not found")
	}
	payload := stripeEvent("evt_obs", "checkout.session.completed", sessionObject(res.CheckoutSessionID, o, 12400, "eur", "paid"))
	e.deliverOK(payload)
	e.deliverOK(payload)
	if code, _ := e.deliver(payload, "t=1,v1=00"); code != 400 {
		t.Fatal("bad signature accepted")
	}

	_, obs = get("/api/v1/payments/observability")
	want := map[string]float64{
		"checkout.totals.succeeded": 1, "checkout.totals.failed": 1,
		"webhooks.totals.processed": 2, "webhooks.totals.failed": 0, "webhooks.totals.duplicates": 1,
		"webhooks.totals.rejected": 1, "webhooks.by_event_type.checkout.session.completed.processed": 2,
	}
	for path, w := range want {
		if got, ok := dig(obs, path); !ok || got != w {
			t.Errorf("%s = %v, want %v", path, got, w)
		}
	}
	last := obs["webhooks"].(map[string]any)["last_events"].([]any)
	if len(last) != 1 || last[0].(map[string]any)["event_id"] != "evt_obs" || last[0].(map[string]any)["outcome"] != "processed" {
		t.Errorf("last_events %v", last)
	}

	// Status of the payment, REST shape.
	code, st := get("/api/v1/payments/status/" + res.PaymentID)
	if code != 200 || st["id"] != res.PaymentID || st["status"] != "succeeded" || st["amount"] != 124.0 ||
		st["order_id"] != o.id || st["provider_reference"] != res.CheckoutSessionID || st["captured_at"] == nil {
		t.Fatalf("status %d %v", code, st)
	}
	if code, body := get("/api/v1/payments/status/3f1c1d1e-0000-4000-8000-000000000000"); code != 404 || body["detail"] != "Payment not found" {
		t.Fatalf("%d %v", code, body)
	}
	if code, _ := get("/api/v1/payments/status/not-a-uuid"); code != 404 {
		t.Fatalf("%d", code)
	}
}

// dig follows a dotted path; event-type keys contain dots, so it tries the
// longest key that exists at each level.
func dig(m map[string]any, path string) (float64, bool) {
	parts := strings.Split(path, ".")
	var cur any = m
	for i := 0; i < len(parts); {
		obj, ok := cur.(map[string]any)
		if !ok {
			return 0, false
		}
		found := false
		for j := len(parts); j > i; j-- {
			if v, ok := obj[strings.Join(parts[i:j], ".")]; ok {
				cur, i, found = v, j, true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	f, ok := cur.(float64)
	return f, ok
}
