package rest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/smplat/smplat/store"
)

func optionIDs(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	ids := map[string]string{}
	rows, err := st.DB().Query(`SELECT name, id FROM product_options UNION ALL SELECT label, id FROM product_subscription_plans
		UNION ALL SELECT label, id FROM product_custom_fields UNION ALL SELECT slug, id FROM products`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		ids[k] = v
	}
	return ids
}

func orderBody(ids map[string]string, unitPrice string) string {
	return fmt.Sprintf(`{"items":[{"product_id":%q,"product_title":"Instagram Growth Service","quantity":2,
		"unit_price":%s,"total_price":2554.80,
		"selected_options":{"options":[{"groupId":"g","optionId":%q}],"subscriptionPlan":{"id":%q},"source":"configurator"},
		"attributes":{"customFields":[{"id":%q,"value":"@brand"},{"id":%q,"value":"launch"}]}}],
		"user_id":"6f9b0aab-f6fd-4c5b-b56b-943c445fd650","notes":"rest"}`,
		ids["instagram-growth"], unitPrice, ids["Scale (8-week program)"], ids["Quarterly partnership"],
		ids["Instagram handle"], ids["Primary campaign objective"])
}

func TestCreateOrderREST(t *testing.T) {
	t.Parallel()
	h, st := newServer(t)
	ids := optionIDs(t, st)

	rec := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "1277.40")))
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"code":"UNAUTHENTICATED"`) {
		t.Fatalf("no key: %d %s", rec.Code, rec.Body.String())
	}

	rec = do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "0.01")), "X-API-Key", "checkout-key")
	if rec.Code != 422 || !strings.Contains(rec.Body.String(), `"code":"PRICE_MISMATCH"`) || !strings.Contains(rec.Body.String(), `1277.40`) {
		t.Fatalf("tampered price: %d %s", rec.Code, rec.Body.String())
	}

	rec = do(t, h, "POST", "/api/v1/orders/", strings.NewReader(orderBody(ids, "1277.40")), "X-API-Key", "checkout-key")
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	var order map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &order); err != nil {
		t.Fatal(err)
	}
	items := order["items"].([]any)
	item := items[0].(map[string]any)
	if order["status"] != "pending" || order["total"] != 2554.8 || order["currency"] != "EUR" || item["unit_price"] != 1277.4 ||
		item["selected_options"].(map[string]any)["source"] != "configurator" {
		t.Fatalf("order: %s", rec.Body.String())
	}
	id := order["id"].(string)

	// Read back through REST (admin) with the same numbers.
	rec = do(t, h, "GET", "/api/v1/orders/"+id, nil, "X-API-Key", "admin-key")
	var back map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &back)
	if rec.Code != 200 || back["total"] != 2554.8 || back["order_number"] != order["order_number"] {
		t.Fatalf("read back: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/api/v1/orders/"+id, nil, "X-API-Key", "checkout-key"); rec.Code != 403 {
		t.Fatalf("checkout key reading an order: %d", rec.Code)
	}
	body := strings.Replace(orderBody(ids, "1277.40"), ids["instagram-growth"], "7f9b0aab-f6fd-4c5b-b56b-943c445fd650", 1)
	rec = do(t, h, "POST", "/api/v1/orders", strings.NewReader(body), "X-API-Key", "checkout-key")
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "Product not found: 7f9b0aab") {
		t.Fatalf("unknown product: %d %s", rec.Code, rec.Body.String())
	}
}

func TestOrderIdempotencyREST(t *testing.T) {
	t.Parallel()
	h, st := newServer(t)
	ids := optionIDs(t, st)
	first := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "1277.40")), "X-API-Key", "checkout-key", "Idempotency-Key", "k1")
	again := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "1277.40")), "X-API-Key", "checkout-key", "Idempotency-Key", "k1")
	if first.Code != 201 || again.Code != 201 || first.Body.String() != again.Body.String() || again.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d/%d replayed=%q\n%s\n%s", first.Code, again.Code, again.Header().Get("Idempotent-Replayed"), first.Body, again.Body)
	}
	other := do(t, h, "POST", "/api/v1/orders", strings.NewReader(strings.Replace(orderBody(ids, "1277.40"), `"notes":"rest"`, `"notes":"x"`, 1)),
		"X-API-Key", "checkout-key", "Idempotency-Key", "k1")
	if other.Code != 422 || !strings.Contains(other.Body.String(), "IDEMPOTENCY_CONFLICT") {
		t.Fatalf("different body: %d %s", other.Code, other.Body.String())
	}
	bad := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "5")), "X-API-Key", "checkout-key", "Idempotency-Key", "k2")
	good := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "1277.40")), "X-API-Key", "checkout-key", "Idempotency-Key", "k2")
	if bad.Code != 422 || good.Code != 201 {
		t.Fatalf("a refused request must store nothing under its key: %d then %d", bad.Code, good.Code)
	}
	var n int
	if err := st.DB().Get(&n, `SELECT count(*) FROM orders`); err != nil || n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
}

func TestOrderListingREST(t *testing.T) {
	t.Parallel()
	h, st := newServer(t)
	ids := optionIDs(t, st)
	var created []string
	for i := 0; i < 3; i++ {
		rec := do(t, h, "POST", "/api/v1/orders", strings.NewReader(orderBody(ids, "1277.40")), "X-API-Key", "checkout-key")
		var o map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &o)
		created = append(created, o["id"].(string))
	}
	rec := do(t, h, "PATCH", "/api/v1/orders/"+created[0]+"/status", strings.NewReader(`{"status":"CANCELED","notes":"dup"}`), "X-API-Key", "admin-key")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"canceled"`) {
		t.Fatalf("patch status: %d %s", rec.Code, rec.Body.String())
	}
	list := func(query string) []map[string]any {
		rec := do(t, h, "GET", "/api/v1/orders"+query, nil, "X-API-Key", "admin-key")
		var out []map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 {
			t.Fatalf("%s: %d %s", query, rec.Code, rec.Body.String())
		}
		return out
	}
	if got := list(""); len(got) != 3 || got[0]["id"] != created[2] || len(got[0]["items"].([]any)) != 1 {
		t.Fatalf("newest first: %v", got)
	}
	if got := list("?skip=1&limit=1"); len(got) != 1 || got[0]["id"] != created[1] {
		t.Fatalf("skip/limit: %v", got)
	}
	if got := list("?status_filter=canceled"); len(got) != 1 || got[0]["id"] != created[0] {
		t.Fatalf("status filter: %v", got)
	}
	if rec := do(t, h, "GET", "/api/v1/orders?status_filter=bogus", nil, "X-API-Key", "admin-key"); rec.Code != 400 {
		t.Fatalf("invalid filter: %d %s", rec.Code, rec.Body.String())
	}
	rec = do(t, h, "GET", "/api/v1/orders/user/6f9b0aab-f6fd-4c5b-b56b-943c445fd650", nil, "X-API-Key", "checkout-key")
	var mine []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &mine); err != nil || len(mine) != 3 {
		t.Fatalf("user orders: %d %s", rec.Code, rec.Body.String())
	}
	rec = do(t, h, "GET", "/api/v1/orders/"+created[1]+"/progress", nil, "X-API-Key", "checkout-key")
	want := fmt.Sprintf(`{"order_id":%q,"order_status":"pending","total_tasks":0,"completed_tasks":0,"failed_tasks":0,"in_progress_tasks":0,"progress_percentage":0,"items_count":1}`, created[1])
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("progress: %d %s", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, "GET", "/api/v1/orders/7f9b0aab-f6fd-4c5b-b56b-943c445fd650", nil, "X-API-Key", "admin-key"); rec.Code != 404 ||
		!strings.Contains(rec.Body.String(), "Order not found") {
		t.Fatalf("unknown order: %d %s", rec.Code, rec.Body.String())
	}
}
