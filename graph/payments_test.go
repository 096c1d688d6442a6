package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store/storetest"
)

const webhookSecret = "whsec_graph_test"

func stripeMockURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("STRIPE_MOCK_URL")
	if u == "" {
		t.Fatal("STRIPE_MOCK_URL is not set: run `make test`, or start stripe-mock (go install github.com/stripe/stripe-mock@v0.203.0) and point STRIPE_MOCK_URL at it")
	}
	return u
}

// TestPaidOrderEndToEnd walks the path over the HTTP surface: an
// order created with the checkout key, a checkout session for it against
// stripe-mock, and a signed checkout.session.completed leave the order
// processing, its payment succeeded and its tasks pending; a replay of the
// webhook changes nothing.
func TestPaidOrderEndToEnd(t *testing.T) {
	t.Parallel()
	st := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := st.Seed(ctx, "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	svc := payments.NewService(st, payments.NewClient(payments.Config{
		SecretKey: "sk_test_graphSecret", WebhookSecrets: []string{webhookSecret}, APIBase: stripeMockURL(t), Logger: logger,
	}), logger)
	h := graph.NewServer(graph.ServerConfig{Store: st, Logger: logger, Payments: svc,
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"})})
	c := client.New(h, client.Path("/graphql"))
	ids := seedIDs(t, st)

	var o orderResp
	post(t, c, createOrderMutation, &o, client.AddHeader("X-API-Key", "checkout-key"),
		client.Var("input", map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth",
			"configuration": map[string]any{"optionIds": []string{ids["Scale (8-week program)"]},
				"subscriptionPlanId": ids["Quarterly partnership"], "customFields": fieldsCfg(ids)}}}}))
	orderID := o.CreateOrder.ID

	const checkout = `mutation($id: ID!) { createCheckoutSession(orderId: $id, successUrl: "https://shop.example/ok",
		cancelUrl: "https://shop.example/cancel", idempotencyKey: "co-1") { checkoutSessionId checkoutUrl paymentId amount currency } }`
	var cs struct {
		CreateCheckoutSession struct{ CheckoutSessionID, CheckoutURL, PaymentID, Amount, Currency string }
	}
	if err := postErr(c, checkout, &cs, client.Var("id", orderID)); err == nil || !strings.Contains(err.Error(), "UNAUTHENTICATED") {
		t.Fatalf("checkout without a key: %v", err)
	}
	post(t, c, checkout, &cs, client.Var("id", orderID), client.AddHeader("X-API-Key", "checkout-key"))
	session := cs.CreateCheckoutSession
	if session.Amount != "1277.40" || session.Currency != "EUR" || session.CheckoutSessionID == "" {
		t.Fatalf("session: %+v", session)
	}

	// The same key replays the first session; with other arguments it is refused.
	var again struct {
		CreateCheckoutSession struct{ CheckoutSessionID, PaymentID string }
	}
	post(t, c, checkout, &again, client.Var("id", orderID), client.AddHeader("X-API-Key", "checkout-key"))
	if again.CreateCheckoutSession.CheckoutSessionID != session.CheckoutSessionID || again.CreateCheckoutSession.PaymentID != session.PaymentID {
		t.Fatalf("retry with the same key: %+v vs %+v", again.CreateCheckoutSession, session)
	}
	other := strings.Replace(checkout, "https://shop.example/ok", "https://shop.example/elsewhere", 1)
	if err := postErr(c, other, &again, client.Var("id", orderID), client.AddHeader("X-API-Key", "checkout-key")); err == nil ||
		!strings.Contains(err.Error(), "IDEMPOTENCY_CONFLICT") {
		t.Fatalf("same key, other arguments: %v", err)
	}
	restCheckout := func(successURL string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/payments/checkout/", strings.NewReader(fmt.Sprintf(
			`{"order_id":%q,"success_url":%q,"cancel_url":"https://shop.example/cancel"}`, orderID, successURL)))
		req.Header.Set("X-API-Key", "checkout-key")
		req.Header.Set("Idempotency-Key", "rest-co-1")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	r1, r2, r3 := restCheckout("https://shop.example/ok"), restCheckout("https://shop.example/ok"), restCheckout("https://shop.example/x")
	if r1.Code != 200 || r2.Body.String() != r1.Body.String() || r2.Header().Get("Idempotent-Replayed") != "true" ||
		!strings.Contains(r1.Body.String(), session.CheckoutSessionID) || r3.Code != 422 {
		t.Fatalf("REST checkout with a key: %d %s / %d %s / %d %s", r1.Code, r1.Body, r2.Code, r2.Body, r3.Code, r3.Body)
	}

	event := fmt.Sprintf(`{"id":"evt_e2e_1","type":"checkout.session.completed","created":%d,"data":{"object":{
		"id":%q,"object":"checkout.session","payment_status":"paid","amount_total":127740,"currency":"eur",
		"payment_intent":"pi_e2e","metadata":{"order_id":%q}}}}`, time.Now().Unix(), session.CheckoutSessionID, orderID)
	deliver := func(sig string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/payments/webhooks/stripe", strings.NewReader(event))
		req.Header.Set("Stripe-Signature", sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := deliver("t=1,v1=00"); rec.Code != http.StatusBadRequest {
		t.Fatalf("bad signature: %d %s", rec.Code, rec.Body.String())
	}
	for i := 0; i < 2; i++ { // the second delivery is a replay
		if rec := deliver(payments.SignPayload([]byte(event), webhookSecret, time.Now())); rec.Code != 200 {
			t.Fatalf("delivery %d: %d %s", i, rec.Code, rec.Body.String())
		}
	}

	var got struct {
		Order struct {
			Status   string
			Payments []struct{ Status, Amount, ProviderReference string }
		}
	}
	post(t, c, `query($id: ID!) { order(id: $id) { status payments { status amount providerReference } } }`, &got,
		client.Var("id", orderID), client.AddHeader("X-API-Key", "admin-key"))
	if got.Order.Status != "PROCESSING" || len(got.Order.Payments) != 1 || got.Order.Payments[0].Status != "SUCCEEDED" ||
		got.Order.Payments[0].ProviderReference != session.CheckoutSessionID {
		t.Fatalf("after payment: %+v", got.Order)
	}
	var tasks []struct {
		Status string `db:"status"`
		Type   string `db:"task_type"`
	}
	if err := st.DB().Select(&tasks, `SELECT t.status, t.task_type FROM fulfillment_tasks t
		JOIN order_items i ON i.id = t.order_item_id WHERE i.order_id = $1 ORDER BY t.scheduled_at`, orderID); err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 2 || tasks[0].Type != "analytics_collection" || tasks[1].Status != "pending" {
		t.Fatalf("tasks after payment and a replay: %+v", tasks)
	}

	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/payments/observability", nil)
	req.Header.Set("X-API-Key", "checkout-key")
	h.ServeHTTP(rec, req)
	var obs struct {
		Checkout struct{ Totals map[string]int } `json:"checkout"`
		Webhooks struct{ Totals map[string]int } `json:"webhooks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &obs); err != nil || obs.Checkout.Totals["succeeded"] != 2 || obs.Webhooks.Totals["processed"] != 2 {
		t.Fatalf("observability: %d %s", rec.Code, rec.Body.String())
	}
}
