package graph_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/smplat/smplat/store"
)

// seedIDs reads the ids of the seed's options, add-ons and plans by name.
func seedIDs(t *testing.T, st *store.Store) map[string]string {
	t.Helper()
	ids := map[string]string{}
	rows, err := st.DB().Query(`SELECT name, id FROM product_options
		UNION ALL SELECT label, id FROM product_add_ons
		UNION ALL SELECT label, id FROM product_subscription_plans
		UNION ALL SELECT label, id FROM product_custom_fields`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	return ids
}

const quoteQuery = `query($cfg: ConfigurationInput, $qty: Int) {
	quote(productSlug: "instagram-growth", quantity: $qty, configuration: $cfg) {
		currency unitPrice total quantity
		breakdown { basePrice subtotal options { name priceDelta } addOns { label } plan { label priceMultiplier priceDelta } }
		defaultsApplied { kind id label } } }`

type quoteResp struct {
	Quote struct {
		Currency, UnitPrice, Total string
		Quantity                   int
		Breakdown                  struct {
			BasePrice, Subtotal string
			Plan                *struct{ Label string }
		}
		DefaultsApplied []struct{ Kind, ID, Label string }
	}
}

const createOrderMutation = `mutation($input: CreateOrderInput!, $key: String) {
	createOrder(input: $input, idempotencyKey: $key) {
		id orderNumber status total currency
		items { productTitle quantity unitPrice totalPrice configuration { unitPrice defaultsApplied { label } } }
		statusHistory { fromStatus toStatus actor } } }`

type orderResp struct {
	CreateOrder struct {
		ID, OrderNumber, Status, Total, Currency string
		Items                                    []struct {
			ProductTitle          string
			Quantity              int
			UnitPrice, TotalPrice string
			Configuration         struct{ UnitPrice string }
		}
		StatusHistory []struct {
			FromStatus *string
			ToStatus   string
			Actor      string
		}
	}
}

func fieldsCfg(ids map[string]string) []map[string]any {
	return []map[string]any{
		{"fieldId": ids["Instagram handle"], "value": "@brand"},
		{"fieldId": ids["Primary campaign objective"], "value": "grow"},
	}
}

func TestQuoteAndOrderAgree(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	ids := seedIDs(t, st)
	cases := []struct {
		name string
		cfg  map[string]any
		qty  int
		want string
	}{
		{"defaults", map[string]any{}, 1, "99.00"},
		{"scale quarterly", map[string]any{"optionIds": []string{ids["Scale (8-week program)"]},
			"subscriptionPlanId": ids["Quarterly partnership"]}, 1, "1277.40"},
		{"scale quarterly x3", map[string]any{"optionIds": []string{ids["Scale (8-week program)"]},
			"subscriptionPlanId": ids["Quarterly partnership"]}, 3, "1277.40"},
	}
	for _, tc := range cases {
		var q quoteResp
		post(t, c, quoteQuery, &q, client.Var("cfg", tc.cfg), client.Var("qty", tc.qty))
		if q.Quote.UnitPrice != tc.want || q.Quote.Currency != "EUR" {
			t.Errorf("%s: quote %+v, want unit %s", tc.name, q.Quote, tc.want)
		}
		cfg := map[string]any{"customFields": fieldsCfg(ids)}
		for k, v := range tc.cfg {
			cfg[k] = v
		}
		var o orderResp
		post(t, c, createOrderMutation, &o, client.AddHeader("X-API-Key", "checkout-key"),
			client.Var("input", map[string]any{"items": []any{map[string]any{
				"productSlug": "instagram-growth", "quantity": tc.qty, "configuration": cfg}}}))
		it := o.CreateOrder.Items[0]
		if it.UnitPrice != q.Quote.UnitPrice || o.CreateOrder.Total != q.Quote.Total || it.Configuration.UnitPrice != it.UnitPrice {
			t.Errorf("%s: order %+v disagrees with quote %+v", tc.name, o.CreateOrder, q.Quote)
		}
		if o.CreateOrder.Status != "PENDING" || !strings.HasPrefix(o.CreateOrder.OrderNumber, "SM") ||
			len(o.CreateOrder.StatusHistory) != 1 || o.CreateOrder.StatusHistory[0].Actor != "checkout" {
			t.Errorf("%s: order %+v", tc.name, o.CreateOrder)
		}
	}
	var q quoteResp
	post(t, c, quoteQuery, &q)
	if len(q.Quote.DefaultsApplied) != 2 || q.Quote.DefaultsApplied[0].Label != "Essentials (4-week sprint)" ||
		q.Quote.DefaultsApplied[1].Label != "One-time sprint" {
		t.Errorf("defaults applied: %+v", q.Quote.DefaultsApplied)
	}
}

func TestQuoteBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	ids := seedIDs(t, st)
	err := postErr(c, quoteQuery, &quoteResp{}, client.Var("cfg", map[string]any{
		"optionIds": []string{ids["Scale (8-week program)"], ids["Dominance (12-week takeover)"]}}))
	if err == nil || !strings.Contains(err.Error(), `"code":"BAD_USER_INPUT"`) || !strings.Contains(err.Error(), `"field":"configuration.optionIds.1"`) {
		t.Fatalf("two options of a single group: %v", err)
	}
	err = postErr(c, quoteQuery, &quoteResp{}, client.Var("qty", 0))
	if err == nil || !strings.Contains(err.Error(), `"field":"quantity"`) {
		t.Fatalf("quantity 0: %v", err)
	}
}

func TestCreateOrderAuthAndValidation(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	input := client.Var("input", map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth"}}})
	for key, code := range map[string]string{"": "UNAUTHENTICATED", "wrong": "UNAUTHENTICATED"} {
		err := postErr(c, createOrderMutation, &orderResp{}, input, client.AddHeader("X-API-Key", key))
		if err == nil || !strings.Contains(err.Error(), code) {
			t.Errorf("key %q: %v", key, err)
		}
	}
	// Required custom fields are missing: refused with the field, nothing written.
	err := postErr(c, createOrderMutation, &orderResp{}, input, client.AddHeader("Authorization", "Bearer admin-key"))
	if err == nil || !strings.Contains(err.Error(), `"field":"input.items.0.configuration.customFields`) {
		t.Fatalf("missing custom fields: %v", err)
	}
	var n int
	if err := st.DB().Get(&n, `SELECT count(*) FROM orders`); err != nil || n != 0 {
		t.Fatalf("%d orders written by refused calls (%v)", n, err)
	}
}

func TestCreateOrderIdempotencyKey(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	ids := seedIDs(t, st)
	input := map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth",
		"configuration": map[string]any{"customFields": fieldsCfg(ids)}}}}
	var wg sync.WaitGroup
	results := make([]string, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var o orderResp
			if err := postErr(c, createOrderMutation, &o, client.AddHeader("X-API-Key", "checkout-key"),
				client.Var("input", input), client.Var("key", "order-1")); err != nil {
				results[i] = err.Error()
				return
			}
			results[i] = o.CreateOrder.ID
		}()
	}
	wg.Wait()
	var orderID string
	for _, r := range results {
		if strings.Contains(r, "IDEMPOTENCY_IN_FLIGHT") {
			continue
		}
		if strings.Contains(r, "error") {
			t.Fatalf("unexpected: %s", r)
		}
		if orderID != "" && r != orderID {
			t.Fatalf("two orders for one key: %s and %s", orderID, r)
		}
		orderID = r
	}
	var n int
	if err := st.DB().Get(&n, `SELECT count(*) FROM orders`); err != nil || n != 1 {
		t.Fatalf("%d orders for one key", n)
	}
	resp, err := c.RawPost(createOrderMutation, client.AddHeader("X-API-Key", "checkout-key"),
		client.Var("input", input), client.Var("key", "order-1"))
	if err != nil || resp.Extensions["idempotentReplayed"] != true {
		t.Fatalf("replay not marked: %v %v", resp.Extensions, err)
	}
	changed := map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth", "quantity": 2,
		"configuration": map[string]any{"customFields": fieldsCfg(ids)}}}}
	err = postErr(c, createOrderMutation, &orderResp{}, client.AddHeader("X-API-Key", "checkout-key"),
		client.Var("input", changed), client.Var("key", "order-1"))
	if err == nil || !strings.Contains(err.Error(), "IDEMPOTENCY_CONFLICT") {
		t.Fatalf("same key, other input: %v", err)
	}
	// Another API key has its own key space.
	var o orderResp
	post(t, c, createOrderMutation, &o, client.AddHeader("X-API-Key", "admin-key"),
		client.Var("input", input), client.Var("key", "order-1"))
	if o.CreateOrder.ID == orderID {
		t.Fatal("keys are not scoped per API key")
	}
}

func TestOrderAdministration(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	ids := seedIDs(t, st)
	input := map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth",
		"configuration": map[string]any{"customFields": fieldsCfg(ids)}}}, "userId": "6f9b0aab-f6fd-4c5b-b56b-943c445fd650"}
	var created []string
	for i := 0; i < 3; i++ {
		var o orderResp
		post(t, c, createOrderMutation, &o, client.AddHeader("X-API-Key", "checkout-key"), client.Var("input", input))
		created = append(created, o.CreateOrder.ID)
	}
	const update = `mutation($id: ID!) { updateOrderStatus(id: $id, status: ON_HOLD, note: "customer asked") {
		status statusHistory { fromStatus toStatus actor note } } }`
	err := postErr(c, update, &struct{}{}, client.Var("id", created[0]), client.AddHeader("X-API-Key", "checkout-key"))
	if err == nil || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("checkout key updating a status: %v", err)
	}
	var upd struct {
		UpdateOrderStatus struct {
			Status        string
			StatusHistory []struct {
				FromStatus *string
				ToStatus   string
				Actor      string
				Note       *string
			}
		}
	}
	post(t, c, update, &upd, client.Var("id", created[0]), client.AddHeader("X-API-Key", "admin-key"))
	h := upd.UpdateOrderStatus.StatusHistory
	if upd.UpdateOrderStatus.Status != "ON_HOLD" || len(h) != 2 || *h[1].FromStatus != "PENDING" || h[1].Actor != "admin" || *h[1].Note != "customer asked" {
		t.Fatalf("history: %+v", upd)
	}
	var list struct {
		Orders struct {
			TotalCount int
			Nodes      []struct{ ID, Status string }
		}
	}
	post(t, c, `{ orders(first: 10) { totalCount nodes { id status } } }`, &list, client.AddHeader("X-API-Key", "admin-key"))
	if list.Orders.TotalCount != 3 || list.Orders.Nodes[0].ID != created[2] || list.Orders.Nodes[2].ID != created[0] {
		t.Fatalf("newest first: %+v (created %v)", list.Orders, created)
	}
	post(t, c, `{ orders(filter: {status: ON_HOLD}) { totalCount nodes { id } } }`, &list, client.AddHeader("X-API-Key", "admin-key"))
	if list.Orders.TotalCount != 1 || list.Orders.Nodes[0].ID != created[0] {
		t.Fatalf("status filter: %+v", list.Orders)
	}
	var prog struct {
		OrderProgress struct {
			TotalTasks         int
			ProgressPercentage float64
			ItemsCount         int
			OrderStatus        string
		}
	}
	post(t, c, fmt.Sprintf(`{ orderProgress(orderId: %q) { totalTasks progressPercentage itemsCount orderStatus } }`, created[1]),
		&prog, client.AddHeader("X-API-Key", "checkout-key"))
	if prog.OrderProgress.TotalTasks != 0 || prog.OrderProgress.ProgressPercentage != 0 || prog.OrderProgress.ItemsCount != 1 {
		t.Fatalf("progress: %+v", prog)
	}
	raw, _ := json.Marshal(prog)
	if !strings.Contains(string(raw), "PENDING") {
		t.Fatalf("progress status: %s", raw)
	}
}
