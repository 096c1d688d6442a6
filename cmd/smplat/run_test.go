package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store/storetest"
)

// providerCall is one request the fake fulfillment provider received.
type providerCall struct {
	Path, Auth, OrderNumber string
	Body                    map[string]any
}

// TestRunServePaidOrderIsFulfilled runs the real binary's run() on :0 with
// the worker enabled: an order paid through a signed webhook leads to both
// configured provider calls with rendered headers and bodies, completed
// tasks, a completed order, and health reporting running: true.
func TestRunServePaidOrderIsFulfilled(t *testing.T) {
	dsn := storetest.URL(t)
	stripeURL := os.Getenv("STRIPE_MOCK_URL")
	if stripeURL == "" {
		t.Fatal("STRIPE_MOCK_URL is not set: run `make test`, or start stripe-mock and point STRIPE_MOCK_URL at it")
	}
	var mu sync.Mutex
	var calls []providerCall
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		calls = append(calls, providerCall{r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Order-Number"), body})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer provider.Close()

	env := map[string]string{
		"DATABASE_URL": dsn, "HTTP_ADDR": "127.0.0.1:0", "ENVIRONMENT": "development",
		"CHECKOUT_API_KEY": "ck", "ADMIN_API_KEY": "ak",
		"STRIPE_SECRET_KEY": "sk_test_runTest", "STRIPE_WEBHOOK_SECRET": "whsec_run", "STRIPE_API_BASE": stripeURL,
		"FULFILLMENT_WORKER_ENABLED": "true", "FULFILLMENT_POLL_INTERVAL_SECONDS": "1",
		"FULFILLMENT_BASE_URL": provider.URL, "FULFILLMENT_ANALYTICS_TOKEN": "analytics-secret",
		"FULFILLMENT_ACTIVATION_TOKEN": "activation-secret",
	}
	getenv := func(k string) string { return env[k] }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := run(ctx, []string{"seed", "--slug", "instagram-growth"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}

	logs, logw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv, io.Discard, logw); logw.Close() }()
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`msg=listening addr=(\S+)`)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start listening")
	}

	call := func(method, path, key, body string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s %s: %v %s", method, path, err, b)
			}
		}
	}

	var product struct {
		ID           string
		CustomFields []struct {
			ID         string
			IsRequired bool
		}
	}
	call("GET", "/api/v1/products/instagram-growth", "", "", &product)
	var cf []string
	for _, f := range product.CustomFields {
		if f.IsRequired {
			cf = append(cf, fmt.Sprintf(`{"id":%q,"value":"@brand"}`, f.ID))
		}
	}
	var order struct {
		ID, OrderNumber string
	}
	var created map[string]any
	call("POST", "/api/v1/orders", "ck", fmt.Sprintf(`{"items":[{"product_id":%q,"quantity":1,
		"attributes":{"customFields":[%s]}}],"notes":"run test"}`, product.ID, strings.Join(cf, ",")), &created)
	order.ID, order.OrderNumber = created["id"].(string), created["order_number"].(string)

	var session struct {
		CheckoutSessionID string `json:"checkout_session_id"`
	}
	call("POST", "/api/v1/payments/checkout", "ck", fmt.Sprintf(`{"order_id":%q,"success_url":"https://shop.example/ok",
		"cancel_url":"https://shop.example/no"}`, order.ID), &session)
	event := fmt.Sprintf(`{"id":"evt_run_1","type":"checkout.session.completed","created":%d,"data":{"object":{
		"id":%q,"object":"checkout.session","payment_status":"paid","amount_total":9900,"currency":"eur",
		"metadata":{"order_id":%q}}}}`, time.Now().Unix(), session.CheckoutSessionID, order.ID)
	req, _ := http.NewRequest("POST", base+"/api/v1/payments/webhooks/stripe", strings.NewReader(event))
	req.Header.Set("Stripe-Signature", payments.SignPayload([]byte(event), "whsec_run", time.Now()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()

	// The tasks are due 5 and 30 minutes after payment; let that time pass.
	db := sqlx.MustOpen("postgres", dsn)
	defer db.Close()
	db.MustExec(`UPDATE fulfillment_tasks SET scheduled_at = now() - interval '1 second'`)

	deadline := time.Now().Add(30 * time.Second)
	var got map[string]any
	for {
		call("GET", "/api/v1/orders/"+order.ID, "ak", "", &got)
		if got["status"] == "completed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got["status"] != "completed" {
		t.Fatalf("order status %v after the worker ran", got["status"])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("provider calls: %+v", calls)
	}
	byPath := map[string]providerCall{}
	for _, c := range calls {
		byPath[c.Path] = c
	}
	sync := byPath["/v1/instagram/analytics/sync"]
	if sync.Auth != "Bearer analytics-secret" || sync.OrderNumber != order.OrderNumber || sync.Body["orderNumber"] != order.OrderNumber ||
		sync.Body["productSlug"] != "instagram-growth" || sync.Body["quantity"] != 1.0 {
		t.Errorf("analytics call: %+v", sync)
	}
	act := byPath["/v1/campaigns/activate"]
	campaign, _ := act.Body["campaign"].(map[string]any)
	if act.Auth != "Bearer activation-secret" || campaign["orderId"] != order.ID || campaign["productTitle"] != "Instagram Growth Service" {
		t.Errorf("activation call: %+v", act)
	}
	var health struct {
		Running bool `json:"running"`
		Metrics struct {
			TasksProcessed int `json:"tasks_processed"`
		} `json:"metrics"`
	}
	call("GET", "/api/v1/fulfillment/health", "", "", &health)
	if !health.Running || health.Metrics.TasksProcessed != 2 {
		t.Errorf("health: %+v", health)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
