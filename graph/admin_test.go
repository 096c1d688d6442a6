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

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/graph/scalar"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// rotatedServer accepts two admin keys, as during a rotation.
func rotatedServer(t *testing.T) (http.Handler, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	if _, err := st.Seed(context.Background(), "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	return graph.NewServer(graph.ServerConfig{Store: st, Logger: slog.New(slog.DiscardHandler),
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key", "admin-key-2"})}), st
}

// catalogFingerprint sums every catalog row and its update time, so any
// write shows.
func catalogFingerprint(t *testing.T, st *store.Store) string {
	t.Helper()
	var fp string
	err := st.DB().Get(&fp, `SELECT concat_ws('|',
		(SELECT count(*) || max(updated_at)::text || string_agg(slug || status || title, ',' ORDER BY slug) FROM products),
		(SELECT count(*) || coalesce(max(updated_at)::text, '') FROM product_option_groups),
		(SELECT count(*) || coalesce(max(updated_at)::text, '') FROM product_options),
		(SELECT count(*) || coalesce(max(updated_at)::text, '') FROM product_add_ons),
		(SELECT count(*) || coalesce(max(updated_at)::text, '') FROM product_custom_fields),
		(SELECT count(*) || coalesce(max(updated_at)::text, '') FROM product_subscription_plans))`)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestAdminAuthorizationMatrix runs every admin mutation and REST write
// with no key, a wrong key, the checkout key, the admin key and the rotated
// second admin key: 401, 401, 403, ok, ok — and the refused calls write
// nothing.
func TestAdminAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	h, st := rotatedServer(t)
	ids := seedIDs(t, st)
	var productID, groupID string
	if err := st.DB().Get(&productID, `SELECT id FROM products`); err != nil {
		t.Fatal(err)
	}
	if err := st.DB().Get(&groupID, `SELECT id FROM product_option_groups ORDER BY display_order LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	// Each call is valid and idempotent enough to succeed twice (admin key, then the rotated one).
	mutations := map[string]string{
		"createProduct":               `createProduct(input: {slug: "new-%[1]s", title: "New", category: "c", basePrice: "1"}) { id }`,
		"updateProduct":               `updateProduct(id: "%[2]s", input: {title: "Renamed"}) { id }`,
		"deleteProduct":               `deleteProduct(id: "%[4]s")`,
		"updateFulfillmentConfig":     `updateFulfillmentConfig(productId: "%[2]s", config: {tasks: [{type: "manual", title: "Deliver"}]}) { id }`,
		"replaceProductConfiguration": `replaceProductConfiguration(productId: "%[4]s", configuration: {optionGroups: [], addOns: [], customFields: [], subscriptionPlans: []}) { id }`,
		"createOptionGroup":           `createOptionGroup(productId: "%[2]s", input: {name: "G"}) { id }`,
		"updateOptionGroup":           `updateOptionGroup(id: "%[3]s", input: {name: "G2"}) { id }`,
		"deleteOptionGroup":           `deleteOptionGroup(id: "%[5]s")`,
		"reorderOptionGroups":         `reorderOptionGroups(productId: "%[4]s", ids: []) { id }`,
		"createOption":                `createOption(groupId: "%[3]s", input: {name: "O", priceDelta: "1"}) { id }`,
		"updateOption":                `updateOption(id: "%[6]s", input: {priceDelta: "451"}) { id }`,
		"deleteOption":                `deleteOption(id: "%[5]s")`,
		"reorderOptions":              `reorderOptions(groupId: "%[5]s", ids: []) { id }`,
		"createAddOn":                 `createAddOn(productId: "%[2]s", input: {label: "A"}) { id }`,
		"updateAddOn":                 `updateAddOn(id: "%[7]s", input: {label: "A2"}) { id }`,
		"deleteAddOn":                 `deleteAddOn(id: "%[5]s")`,
		"reorderAddOns":               `reorderAddOns(productId: "%[4]s", ids: []) { id }`,
		"createCustomField":           `createCustomField(productId: "%[2]s", input: {label: "F"}) { id }`,
		"updateCustomField":           `updateCustomField(id: "%[8]s", input: {helpText: null}) { id }`,
		"deleteCustomField":           `deleteCustomField(id: "%[5]s")`,
		"reorderCustomFields":         `reorderCustomFields(productId: "%[4]s", ids: []) { id }`,
		"createSubscriptionPlan":      `createSubscriptionPlan(productId: "%[2]s", input: {label: "P"}) { id }`,
		"updateSubscriptionPlan":      `updateSubscriptionPlan(id: "%[9]s", input: {label: "P2"}) { id }`,
		"deleteSubscriptionPlan":      `deleteSubscriptionPlan(id: "%[5]s")`,
		"reorderSubscriptionPlans":    `reorderSubscriptionPlans(productId: "%[4]s", ids: []) { id }`,
		"updateOrderStatus":           `updateOrderStatus(id: "%[5]s", status: CANCELED) { id }`,
	}
	keys := []struct {
		name, key, want string
	}{
		{"no key", "", "UNAUTHENTICATED"},
		{"wrong key", "nope", "UNAUTHENTICATED"},
		{"checkout key", "checkout-key", "FORBIDDEN"},
		{"admin key", "admin-key", ""},
		{"rotated admin key", "admin-key-2", ""},
	}
	for name, m := range mutations {
		for _, k := range keys {
			// Entities created and deleted per call so deletes succeed on both admin keys.
			var scratchProduct, scratch string
			if k.want == "" {
				mustExec(t, st, `INSERT INTO products (slug, title, category, base_price) VALUES ($1, 'S', 's', 1)`, "scratch-"+name+k.key)
				if err := st.DB().Get(&scratchProduct, `SELECT id FROM products WHERE slug = $1`, "scratch-"+name+k.key); err != nil {
					t.Fatal(err)
				}
				scratch = scratchEntity(t, st, name, scratchProduct)
			} else {
				scratchProduct, scratch = productID, "6f9b0aab-f6fd-4c5b-b56b-943c445fd650"
			}
			q := "mutation { " + fmt.Sprintf(m, strings.ReplaceAll(k.name, " ", "-"), productID, groupID, scratchProduct, scratch,
				ids["Scale (8-week program)"], ids["Executive-ready reporting pack"], ids["Instagram handle"], ids["Annual growth retainer"]) + " }"
			before := catalogFingerprint(t, st)
			rec := gql(t, h, q, k.key)
			body := rec.Body.String()
			if k.want != "" {
				if !strings.Contains(body, `"code":"`+k.want+`"`) {
					t.Errorf("%s with %s: want %s, got %s", name, k.name, k.want, body)
				}
				if after := catalogFingerprint(t, st); after != before {
					t.Errorf("%s with %s wrote to the catalog", name, k.name)
				}
				continue
			}
			if strings.Contains(body, `"errors"`) {
				t.Errorf("%s with %s: %s", name, k.name, body)
			}
		}
	}
	restCalls := []struct{ method, path, body string }{
		{"POST", "/api/v1/products", `{"slug":"rest-%s","title":"R","category":"c","basePrice":5,"currency":"usd","status":"ACTIVE"}`},
		{"PATCH", "/api/v1/products/" + productID, `{"title":"Patched %s"}`},
		{"DELETE", "/api/v1/products/%s", ``},
	}
	wantStatus := map[string]int{"UNAUTHENTICATED": 401, "FORBIDDEN": 403}
	for _, c := range restCalls {
		for _, k := range keys {
			path, body := c.path, c.body
			if c.method == "DELETE" {
				id := "6f9b0aab-f6fd-4c5b-b56b-943c445fd650"
				if k.want == "" {
					mustExec(t, st, `INSERT INTO products (slug, title, category, base_price) VALUES ($1, 'D', 'd', 1)`, "del-"+k.key)
					if err := st.DB().Get(&id, `SELECT id FROM products WHERE slug = $1`, "del-"+k.key); err != nil {
						t.Fatal(err)
					}
				}
				path = fmt.Sprintf(path, id)
			} else {
				body = fmt.Sprintf(body, strings.ReplaceAll(k.name, " ", "-"))
			}
			before := catalogFingerprint(t, st)
			req := httptest.NewRequest(c.method, path, strings.NewReader(body))
			if k.key != "" {
				req.Header.Set("Authorization", "Bearer "+k.key)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if k.want != "" {
				if rec.Code != wantStatus[k.want] || !strings.Contains(rec.Body.String(), k.want) {
					t.Errorf("%s %s with %s: %d %s", c.method, c.path, k.name, rec.Code, rec.Body.String())
				}
				if catalogFingerprint(t, st) != before {
					t.Errorf("%s %s with %s wrote to the catalog", c.method, c.path, k.name)
				}
				continue
			}
			if want := map[string]int{"POST": 201, "PATCH": 200, "DELETE": 204}[c.method]; rec.Code != want {
				t.Errorf("%s %s with %s: %d %s", c.method, c.path, k.name, rec.Code, rec.Body.String())
			}
		}
	}
}

// scratchEntity makes the entity a delete/reorder mutation acts on and
// returns its id (for reorders: the parent, whose children list is empty).
func scratchEntity(t *testing.T, st *store.Store, mutation, productID string) string {
	t.Helper()
	var id string
	q := map[string]string{
		"deleteOptionGroup":      `INSERT INTO product_option_groups (product_id, name) VALUES ($1, 'x') RETURNING id`,
		"reorderOptions":         `INSERT INTO product_option_groups (product_id, name) VALUES ($1, 'x') RETURNING id`,
		"deleteOption":           `WITH g AS (INSERT INTO product_option_groups (product_id, name) VALUES ($1, 'x') RETURNING id) INSERT INTO product_options (group_id, name) SELECT id, 'o' FROM g RETURNING id`,
		"deleteAddOn":            `INSERT INTO product_add_ons (product_id, label) VALUES ($1, 'x') RETURNING id`,
		"deleteCustomField":      `INSERT INTO product_custom_fields (product_id, label) VALUES ($1, 'x') RETURNING id`,
		"deleteSubscriptionPlan": `INSERT INTO product_subscription_plans (product_id, label) VALUES ($1, 'x') RETURNING id`,
		"updateOrderStatus":      `INSERT INTO orders (currency) SELECT currency FROM products WHERE id = $1 RETURNING id`,
	}[mutation]
	if q == "" {
		return ""
	}
	if err := st.DB().Get(&id, q, productID); err != nil {
		t.Fatal(err)
	}
	return id
}

func mustExec(t *testing.T, st *store.Store, q string, args ...any) {
	t.Helper()
	if _, err := st.DB().Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

func gql(t *testing.T, h http.Handler, query, key string) *httptest.ResponseRecorder {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query})
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// gqlData runs an admin query and decodes its data, failing on errors.
func gqlData(t *testing.T, h http.Handler, query string, vars map[string]any, out any) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", "admin-key")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp struct {
		Data   json.RawMessage
		Errors json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("%s: %s", query, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			t.Fatal(err)
		}
	}
}

func dec(d interface{ String() string }) string { return d.String() }

// TestRebuildSeedThroughMutations rebuilds instagram-growth from nothing with
// one mutation per entity, then checks GET /api/v1/products/instagram-growth
// against the golden file of the seeded product: the same document.
func TestRebuildSeedThroughMutations(t *testing.T) {
	t.Parallel()
	st := storetest.NewStore(t)
	h := graph.NewServer(graph.ServerConfig{Store: st, Logger: slog.New(slog.DiscardHandler),
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"})})
	seed := store.Seeds["instagram-growth"]
	var created struct{ CreateProduct struct{ ID string } }
	gqlData(t, h, `mutation($in: CreateProductInput!) { createProduct(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"slug": seed.Slug, "title": seed.Title, "description": seed.Description, "category": seed.Category,
		"basePrice": scalar.FormatDecimal(seed.BasePrice), "currency": "EUR", "status": "ACTIVE"}}, &created)
	pid := created.CreateProduct.ID
	for _, g := range seed.Configuration.OptionGroups {
		var grp struct{ CreateOptionGroup struct{ ID string } }
		gqlData(t, h, `mutation($p: ID!, $in: CreateOptionGroupInput!) { createOptionGroup(productId: $p, input: $in) { id } }`,
			map[string]any{"p": pid, "in": map[string]any{"name": g.Name, "description": g.Description,
				"groupType": strings.ToUpper(string(g.GroupType)), "isRequired": g.IsRequired}}, &grp)
		for _, o := range g.Options {
			in := map[string]any{"name": o.Name, "description": o.Description, "priceDelta": dec(o.PriceDelta)}
			if len(o.MetadataJSON) > 0 {
				in["metadataJson"] = json.RawMessage(o.MetadataJSON)
			}
			gqlData(t, h, `mutation($g: ID!, $in: CreateOptionInput!) { createOption(groupId: $g, input: $in) { id } }`,
				map[string]any{"g": grp.CreateOptionGroup.ID, "in": in}, nil)
		}
	}
	for _, a := range seed.Configuration.AddOns {
		gqlData(t, h, `mutation($p: ID!, $in: CreateAddOnInput!) { createAddOn(productId: $p, input: $in) { id } }`,
			map[string]any{"p": pid, "in": map[string]any{"label": a.Label, "description": a.Description,
				"priceDelta": dec(a.PriceDelta), "isRecommended": a.IsRecommended}}, nil)
	}
	for _, f := range seed.Configuration.CustomFields {
		gqlData(t, h, `mutation($p: ID!, $in: CreateCustomFieldInput!) { createCustomField(productId: $p, input: $in) { id } }`,
			map[string]any{"p": pid, "in": map[string]any{"label": f.Label, "fieldType": strings.ToUpper(string(f.FieldType)),
				"placeholder": f.Placeholder, "helpText": f.HelpText, "isRequired": f.IsRequired}}, nil)
	}
	for _, p := range seed.Configuration.SubscriptionPlans {
		in := map[string]any{"label": p.Label, "description": p.Description, "billingCycle": strings.ToUpper(string(p.BillingCycle)), "isDefault": p.IsDefault}
		if p.PriceMultiplier != nil {
			in["priceMultiplier"] = p.PriceMultiplier.String()
		}
		if p.PriceDelta != nil {
			in["priceDelta"] = p.PriceDelta.String()
		}
		gqlData(t, h, `mutation($p: ID!, $in: CreateSubscriptionPlanInput!) { createSubscriptionPlan(productId: $p, input: $in) { id } }`,
			map[string]any{"p": pid, "in": in}, nil)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/products/instagram-growth", nil))
	got := graphtest.Normalize(t, rec.Body.Bytes())
	want, err := os.ReadFile("rest/testdata/instagram-growth.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("rebuilt product differs from the seed:\n%s", got)
	}
}

// TestAdminBadInputNamesTheField checks that mutation errors carry the code
// and the argument path, and that nothing is written.
func TestAdminBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	h, st := rotatedServer(t)
	var productID string
	if err := st.DB().Get(&productID, `SELECT id FROM products`); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ mutation, code, field string }{
		{`createProduct(input: {slug: "Bad Slug", title: "T", category: "c", basePrice: "1"}) { id }`, "BAD_USER_INPUT", "input.slug"},
		{`createProduct(input: {slug: "instagram-growth", title: "T", category: "c", basePrice: "1"}) { id }`, "CONFLICT", "input.slug"},
		{`createProduct(input: {slug: "ok", title: "  ", category: "c", basePrice: "1"}) { id }`, "BAD_USER_INPUT", "input.title"},
		{`createProduct(input: {slug: "ok", title: "T", category: "c", basePrice: "-1"}) { id }`, "BAD_USER_INPUT", "input.basePrice"},
		{`updateProduct(id: "%s", input: {basePrice: "1.234"}) { id }`, "BAD_USER_INPUT", "input.basePrice"},
		{`createSubscriptionPlan(productId: "%s", input: {label: "P", priceMultiplier: "0"}) { id }`, "BAD_USER_INPUT", "input.priceMultiplier"},
		{`createOptionGroup(productId: "%s", input: {name: "G", groupType: SINGLE, metadataJson: {allowMultiple: true}}) { id }`, "BAD_USER_INPUT", "input.groupType"},
		{`updateFulfillmentConfig(productId: "%s", config: {tasks: [{type: "teleport", title: "x"}]}) { id }`, "BAD_USER_INPUT", "config.tasks.0.type"},
		{`replaceProductConfiguration(productId: "%s", configuration: {optionGroups: [], addOns: [], customFields: [],
			subscriptionPlans: [{label: "A", billingCycle: MONTHLY, isDefault: true}, {label: "B", billingCycle: ANNUAL, isDefault: false, priceMultiplier: "-2"}]}) { id }`,
			"BAD_USER_INPUT", "configuration.subscriptionPlans.1.priceMultiplier"},
		{`updateOption(id: "6f9b0aab-f6fd-4c5b-b56b-943c445fd650", input: {name: "x"}) { id }`, "NOT_FOUND", ""},
	}
	for _, tc := range cases {
		m := tc.mutation
		if strings.Contains(m, "%s") {
			m = fmt.Sprintf(m, productID)
		}
		before := catalogFingerprint(t, st)
		body := gql(t, h, "mutation { "+m+" }", "admin-key").Body.String()
		if !strings.Contains(body, `"code":"`+tc.code+`"`) || (tc.field != "" && !strings.Contains(body, `"field":"`+tc.field+`"`)) {
			t.Errorf("%s\nwant %s on %q, got %s", m, tc.code, tc.field, body)
		}
		if catalogFingerprint(t, st) != before {
			t.Errorf("%s wrote to the catalog", m)
		}
	}
}

// TestAdminEntityLifecycle creates, reorders, updates and deletes add-ons
// and reads each step back through product(slug).
func TestAdminEntityLifecycle(t *testing.T) {
	t.Parallel()
	h, st := rotatedServer(t)
	var productID string
	if err := st.DB().Get(&productID, `SELECT id FROM products`); err != nil {
		t.Fatal(err)
	}
	read := func() []struct{ ID, Label, Description string } {
		var out struct {
			Product struct {
				AddOns []struct{ ID, Label, Description string }
			}
		}
		gqlData(t, h, `{ product(slug: "instagram-growth") { addOns { id label description } } }`, nil, &out)
		return out.Product.AddOns
	}
	var created struct{ CreateAddOn struct{ ID string } }
	gqlData(t, h, `mutation($p: ID!) { createAddOn(productId: $p, input: {label: "First", description: "d", displayOrder: 0}) { id } }`,
		map[string]any{"p": productID}, &created)
	got := read()
	if len(got) != 4 || got[0].Label != "First" || got[1].Label != "Creative lab: 10 custom assets" {
		t.Fatalf("insert at 0: %+v", got)
	}
	gqlData(t, h, `mutation($id: ID!) { updateAddOn(id: $id, input: {label: "Renamed", description: null}) { id } }`,
		map[string]any{"id": created.CreateAddOn.ID}, nil)
	if got := read(); got[0].Label != "Renamed" || got[0].Description != "" {
		t.Fatalf("update: %+v", got[0])
	}
	ids := []string{got[3].ID, got[2].ID, got[1].ID, got[0].ID}
	gqlData(t, h, `mutation($p: ID!, $ids: [ID!]!) { reorderAddOns(productId: $p, ids: $ids) { id } }`,
		map[string]any{"p": productID, "ids": ids}, nil)
	if got := read(); got[0].ID != ids[0] || got[3].ID != created.CreateAddOn.ID {
		t.Fatalf("reorder: %+v", got)
	}
	gqlData(t, h, `mutation($id: ID!) { deleteAddOn(id: $id) }`, map[string]any{"id": created.CreateAddOn.ID}, nil)
	if got := read(); len(got) != 3 {
		t.Fatalf("delete: %+v", got)
	}
}
