package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// product is a product inserted by insertProduct, its parts by name.
type orderProduct struct {
	ID, Slug string
	Option   map[string]string // "scale" → id
	AddOn    map[string]string // "creative" → id
	Field    map[string]string // "handle" → id
	Plan     map[string]string // "quarterly" → id
}

type productOpts struct {
	status   string
	currency string
	base     string
}

// insertProduct writes the seed-shaped product of SPEC §11 under slug with
// plain SQL (the seed command is another package's business).
func insertOrderProduct(t testing.TB, db *sqlx.DB, slug string, opts ...func(*productOpts)) orderProduct {
	t.Helper()
	o := productOpts{status: "active", currency: "EUR", base: "99.00"}
	for _, f := range opts {
		f(&o)
	}
	ctx := context.Background()
	p := orderProduct{Slug: slug, Option: map[string]string{}, AddOn: map[string]string{}, Field: map[string]string{}, Plan: map[string]string{}}
	get := func(dst *string, q string, args ...any) {
		t.Helper()
		if err := db.GetContext(ctx, dst, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	get(&p.ID, `INSERT INTO products (slug, title, category, base_price, currency, status)
		VALUES ($1, 'Instagram Growth Service', 'social_media', $2, $3, $4) RETURNING id`, slug, o.base, o.currency, o.status)
	var tier, focus string
	get(&tier, `INSERT INTO product_option_groups (product_id, name, group_type, is_required, display_order)
		VALUES ($1, 'Campaign tier', 'single', true, 0) RETURNING id`, p.ID)
	get(&focus, `INSERT INTO product_option_groups (product_id, name, group_type, is_required, display_order)
		VALUES ($1, 'Experiment focus areas', 'multiple', false, 1) RETURNING id`, p.ID)
	for i, o := range []struct{ key, name, delta, meta string }{
		{"essentials", "Essentials (4-week sprint)", "0", `{"recommended": true}`},
		{"scale", "Scale (8-week program)", "450", ""},
		{"dominance", "Dominance (12-week takeover)", "980", ""},
	} {
		var id string
		get(&id, `INSERT INTO product_options (group_id, name, price_delta, metadata_json, display_order)
			VALUES ($1, $2, $3, NULLIF($4, '')::jsonb, $5) RETURNING id`, tier, o.name, o.delta, o.meta, i)
		p.Option[o.key] = id
	}
	for i, o := range []struct{ key, name, delta string }{
		{"ugc", "UGC & reels production", "180"}, {"influencer", "Influencer collaborations", "250"},
		{"paid", "Paid spike amplification", "320"}, {"community", "Community management", "160"},
	} {
		var id string
		get(&id, `INSERT INTO product_options (group_id, name, price_delta, display_order)
			VALUES ($1, $2, $3, $4) RETURNING id`, focus, o.name, o.delta, i)
		p.Option[o.key] = id
	}
	for i, a := range []struct{ key, label, delta string }{
		{"creative", "Creative lab: 10 custom assets", "420"}, {"whitelist", "Influencer whitelist management", "560"},
		{"reporting", "Executive-ready reporting pack", "190"},
	} {
		var id string
		get(&id, `INSERT INTO product_add_ons (product_id, label, price_delta, is_recommended, display_order)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, p.ID, a.label, a.delta, i == 0, i)
		p.AddOn[a.key] = id
	}
	for i, f := range []struct {
		key, label, typ string
		required        bool
	}{
		{"handle", "Instagram handle", "text", true}, {"objective", "Primary campaign objective", "text", true},
		{"landing", "Preferred landing page URL", "url", false},
	} {
		var id string
		get(&id, `INSERT INTO product_custom_fields (product_id, label, field_type, is_required, display_order)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, p.ID, f.label, f.typ, f.required, i)
		p.Field[f.key] = id
	}
	for i, pl := range []struct {
		key, label, cycle string
		mult, delta       *string
	}{
		{"one-time", "One-time sprint", "one_time", nil, nil},
		{"quarterly", "Quarterly partnership", "quarterly", strRef("2.6"), strRef("-150")},
		{"annual", "Annual growth retainer", "annual", strRef("9.5"), strRef("-600")},
	} {
		var id string
		get(&id, `INSERT INTO product_subscription_plans (product_id, label, billing_cycle, price_multiplier,
			price_delta, is_default, display_order) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			p.ID, pl.label, pl.cycle, pl.mult, pl.delta, i == 0, i)
		p.Plan[pl.key] = id
	}
	return p
}

// fields fills the product's required custom fields.
func (p orderProduct) fields() []store.CustomFieldValue {
	return []store.CustomFieldValue{{FieldID: p.Field["handle"], Value: "@brand"}, {FieldID: p.Field["objective"], Value: "Launch"}}
}

func (p orderProduct) ids(m map[string]string, keys ...string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}

// simpleOrder is a one-line order of the defaults.
func defaultsOrder(p orderProduct) store.CreateOrderInput {
	return store.CreateOrderInput{Actor: "checkout", Items: []store.OrderItemInput{{
		ProductSlug: &p.Slug, Quantity: 1, Configuration: store.Configuration{CustomFields: p.fields()},
	}}}
}

func countTableRows(t testing.TB, db *sqlx.DB, table string) int {
	t.Helper()
	var n int
	if err := db.Get(&n, `SELECT count(*) FROM `+table); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCreateOrderReadBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	user := "7d9f1c3e-0000-4000-8000-000000000001"
	email := "buyer@example.com"
	notes := "rush"
	o, items, err := s.CreateOrder(ctx, store.CreateOrderInput{
		Actor: "checkout", UserID: &user, CustomerEmail: &email, Notes: &notes, Prefix: "input",
		Items: []store.OrderItemInput{
			{ProductSlug: &p.Slug, Quantity: 2, Configuration: store.Configuration{
				OptionIDs: p.ids(p.Option, "scale"), SubscriptionPlanID: strRef(p.Plan["quarterly"]), CustomFields: p.fields(),
			}},
			{ProductID: &p.ID, Quantity: 1, Configuration: store.Configuration{
				OptionIDs:          p.ids(p.Option, "dominance", "ugc", "influencer", "paid", "community"),
				AddOnIDs:           p.ids(p.AddOn, "creative", "whitelist", "reporting"),
				SubscriptionPlanID: strRef(p.Plan["annual"]),
				CustomFields:       p.fields(),
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 2 × 1277.40 + 29410.50
	if o.OrderNumber != "SM000001" || o.Status != store.OrderPending || o.Source != store.SourceCheckout ||
		o.Subtotal.StringFixed(2) != "31965.30" || !o.Tax.IsZero() || o.Total.StringFixed(2) != "31965.30" ||
		o.Currency != store.EUR || *o.UserID != user || *o.CustomerEmail != email || *o.Notes != "rush" {
		t.Fatalf("order = %+v", o)
	}
	if len(items) != 2 || items[0].UnitPrice.StringFixed(2) != "1277.40" || items[0].TotalPrice.StringFixed(2) != "2554.80" ||
		items[1].TotalPrice.StringFixed(2) != "29410.50" || items[0].ProductTitle != "Instagram Growth Service" {
		t.Fatalf("items = %+v", items)
	}

	got, err := s.FindOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.OrderNumber != o.OrderNumber || !got.Total.Equal(o.Total) || !got.Subtotal.Equal(o.Subtotal) || got.Status != o.Status {
		t.Fatalf("read back %+v, wrote %+v", got, o)
	}
	byOrder, err := s.ItemsByOrder(ctx, []string{o.ID, "not-a-uuid"})
	if err != nil {
		t.Fatal(err)
	}
	back := byOrder[o.ID]
	if len(back) != 2 {
		t.Fatalf("items read back: %+v", back)
	}
	for i := range back {
		if back[i].ID != items[i].ID || !back[i].UnitPrice.Equal(items[i].UnitPrice) || !back[i].TotalPrice.Equal(items[i].TotalPrice) || back[i].Quantity != items[i].Quantity {
			t.Fatalf("item %d read back %+v, wrote %+v", i, back[i], items[i])
		}
	}
	snap, err := back[1].Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if snap.UnitPrice.StringFixed(2) != "29410.50" || len(snap.Breakdown.Options) != 5 || len(snap.Breakdown.AddOns) != 3 ||
		snap.Breakdown.Plan.Label != "Annual growth retainer" || len(snap.CustomFields) != 2 {
		t.Fatalf("snapshot = %+v", snap)
	}
	snap0, _ := back[0].Snapshot()
	if len(snap0.DefaultsApplied) != 0 || snap0.Breakdown.Subtotal.StringFixed(2) != "549.00" {
		t.Fatalf("snapshot 0 = %+v", snap0)
	}
	// The cart-shaped JSON is built for callers that send none.
	var cart struct {
		Options []struct {
			GroupID, OptionID string
		} `json:"options"`
		SubscriptionPlan struct{ ID string } `json:"subscriptionPlan"`
	}
	if err := json.Unmarshal(back[0].SelectedOptions, &cart); err != nil || len(cart.Options) != 1 ||
		cart.Options[0].OptionID != p.Option["scale"] || cart.SubscriptionPlan.ID != p.Plan["quarterly"] {
		t.Fatalf("selected_options = %s (%v)", back[0].SelectedOptions, err)
	}
	var attrs struct {
		CustomFields []struct{ ID, Label, Value string } `json:"customFields"`
	}
	if err := json.Unmarshal(back[0].Attributes, &attrs); err != nil || len(attrs.CustomFields) != 2 ||
		attrs.CustomFields[0].ID != p.Field["handle"] || attrs.CustomFields[0].Label != "Instagram handle" || attrs.CustomFields[0].Value != "@brand" {
		t.Fatalf("attributes = %s", back[0].Attributes)
	}

	// REST JSON: snake_case, money as numbers.
	raw, err := json.Marshal(store.OrderWithItems{Order: *got, Items: back})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"order_number":"SM000001"`, `"total":31965.30`, `"subtotal":31965.30`, `"tax":0.00`,
		`"status":"pending"`, `"unit_price":1277.40`, `"total_price":29410.50`, `"items":[{`, `"user_id":"` + user + `"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("REST JSON lacks %s: %s", want, raw)
		}
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil || generic["total"].(float64) != 31965.30 {
		t.Fatalf("REST JSON does not parse: %v", err)
	}

	events, err := s.StatusEventsByOrder(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	ev := events[o.ID]
	if len(ev) != 1 || ev[0].FromStatus != nil || ev[0].ToStatus != store.OrderPending || ev[0].Actor != "checkout" {
		t.Fatalf("events = %+v", ev)
	}
}

func TestCreateOrderErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	draft := insertOrderProduct(t, db, "draft-one", func(o *productOpts) { o.status = "draft" })
	archived := insertOrderProduct(t, db, "old-one", func(o *productOpts) { o.status = "archived" })
	usd := insertOrderProduct(t, db, "usd-one", func(o *productOpts) { o.currency = "USD" })
	missing := "5b0c5a0e-0000-4000-8000-000000000000"
	line := func(p orderProduct) store.OrderItemInput {
		return store.OrderItemInput{ProductID: &p.ID, Quantity: 1, Configuration: store.Configuration{CustomFields: p.fields()}}
	}
	bad := "nope"
	tests := []struct {
		name   string
		in     store.CreateOrderInput
		code   store.Code
		field  string
		msg    string
		expect map[string]any
	}{
		{name: "no items", in: store.CreateOrderInput{Prefix: "input"}, code: store.CodeBadUserInput, field: "input.items"},
		{name: "no product reference", in: store.CreateOrderInput{Items: []store.OrderItemInput{{Quantity: 1}}}, code: store.CodeBadUserInput, field: "items.0.productId"},
		{name: "unknown product id", in: store.CreateOrderInput{Items: []store.OrderItemInput{line(p), {ProductID: &missing, Quantity: 1}}},
			code: store.CodeNotFound, field: "items.1.productId", msg: "Product not found: " + missing},
		{name: "malformed product id", in: store.CreateOrderInput{Items: []store.OrderItemInput{{ProductID: &bad, Quantity: 1}}},
			code: store.CodeNotFound, field: "items.0.productId", msg: "Product not found: nope"},
		{name: "unknown slug", in: store.CreateOrderInput{Prefix: "input", Items: []store.OrderItemInput{{ProductSlug: strRef("ghost"), Quantity: 1}}},
			code: store.CodeNotFound, field: "input.items.0.productSlug", msg: "Product not found: ghost"},
		{name: "draft product", in: store.CreateOrderInput{Items: []store.OrderItemInput{line(draft)}}, code: store.CodeBadUserInput, field: "items.0.productId", msg: "draft"},
		{name: "archived product", in: store.CreateOrderInput{Items: []store.OrderItemInput{line(p), line(archived)}}, code: store.CodeBadUserInput, field: "items.1.productId", msg: "archived"},
		{name: "mixed currencies", in: store.CreateOrderInput{Items: []store.OrderItemInput{line(p), line(usd)}}, code: store.CodeBadUserInput, field: "items.1.productId", msg: "currency"},
		{name: "bad quantity", in: store.CreateOrderInput{Items: []store.OrderItemInput{line(p), {ProductID: &p.ID, Quantity: 0}}}, code: store.CodeBadUserInput, field: "items.1.quantity"},
		{name: "bad option", in: store.CreateOrderInput{Prefix: "input", Items: []store.OrderItemInput{{ProductID: &p.ID, Quantity: 1,
			Configuration: store.Configuration{OptionIDs: []string{usd.Option["scale"]}, CustomFields: p.fields()}}}},
			code: store.CodeBadUserInput, field: "input.items.0.configuration.optionIds.0"},
		{name: "missing required field", in: store.CreateOrderInput{Items: []store.OrderItemInput{{ProductID: &p.ID, Quantity: 1}}},
			code: store.CodeBadUserInput, field: "items.0.configuration.customFields"},
		{name: "bad user id", in: store.CreateOrderInput{UserID: &bad, Items: []store.OrderItemInput{line(p)}}, code: store.CodeBadUserInput, field: "userId"},
		{name: "bad email", in: store.CreateOrderInput{CustomerEmail: &bad, Items: []store.OrderItemInput{line(p)}}, code: store.CodeBadUserInput, field: "customerEmail"},
		{name: "tampered unit price", in: store.CreateOrderInput{Items: []store.OrderItemInput{{ProductID: &p.ID, Quantity: 2,
			UnitPrice: decRef("0.01"), TotalPrice: decRef("0.02"),
			Configuration: store.Configuration{OptionIDs: p.ids(p.Option, "scale"), SubscriptionPlanID: strRef(p.Plan["quarterly"]), CustomFields: p.fields()}}}},
			code: store.CodePriceMismatch, field: "items.0.unitPrice", msg: "1277.40",
			expect: map[string]any{"expected_unit_price": "1277.40", "expected_total_price": "2554.80"}},
		{name: "tampered total price", in: store.CreateOrderInput{Items: []store.OrderItemInput{{ProductID: &p.ID, Quantity: 2,
			UnitPrice: decRef("99"), TotalPrice: decRef("99"), Configuration: store.Configuration{CustomFields: p.fields()}}}},
			code: store.CodePriceMismatch, field: "items.0.totalPrice",
			expect: map[string]any{"expected_unit_price": "99.00", "expected_total_price": "198.00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := s.CreateOrder(ctx, tt.in)
			e, ok := store.AsError(err)
			if !ok || e.Code != tt.code || e.Field != tt.field {
				t.Fatalf("got %+v, %v; want %s on %s", o, err, tt.code, tt.field)
			}
			if !strings.Contains(e.Message, tt.msg) {
				t.Errorf("message %q lacks %q", e.Message, tt.msg)
			}
			for k, v := range tt.expect {
				if e.Extra[k] != v {
					t.Errorf("extra[%s] = %v, want %v", k, e.Extra[k], v)
				}
			}
		})
	}
	if n := countTableRows(t, db, "orders"); n != 0 {
		t.Fatalf("%d orders written by failed calls", n)
	}

	// A client price equal to the server's (however written) is accepted.
	it := line(p)
	it.UnitPrice, it.TotalPrice = decRef("99"), decRef("99.000")
	if _, _, err := s.CreateOrder(ctx, store.CreateOrderInput{Items: []store.OrderItemInput{it}}); err != nil {
		t.Fatal(err)
	}
}

func TestCreateOrderKeepsClientCart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	sel := store.JSON(fmt.Sprintf(`{"options":[{"groupId":"g","optionId":%q}],"addOns":[],"subscriptionPlan":{"id":%q},"utm":"spring"}`,
		p.Option["scale"], p.Plan["quarterly"]))
	attrs := store.JSON(`{"customFields":[{"id":"x","value":"@brand"}],"referrer":"ig"}`)
	_, items, err := s.CreateOrder(ctx, store.CreateOrderInput{Items: []store.OrderItemInput{{
		ProductID: &p.ID, Quantity: 1, SelectedOptions: sel, Attributes: attrs, UnitPrice: decRef("1277.4"),
		Configuration: store.Configuration{OptionIDs: p.ids(p.Option, "scale"), SubscriptionPlanID: strRef(p.Plan["quarterly"]), CustomFields: p.fields()},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var a, b map[string]any
	_ = json.Unmarshal(items[0].SelectedOptions, &a)
	_ = json.Unmarshal(sel, &b)
	if a["utm"] != "spring" || !strings.Contains(string(items[0].Attributes), `"referrer": "ig"`) {
		t.Fatalf("client cart not kept: %s %s", items[0].SelectedOptions, items[0].Attributes)
	}
}

func TestCreateOrderAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	poison := insertOrderProduct(t, db, "poison")
	if _, err := db.Exec(`UPDATE products SET title = 'Poison' WHERE id = $1`, poison.ID); err != nil {
		t.Fatal(err)
	}
	// A failure the pricing cannot foresee, raised by the database while the
	// last item is inserted, after the order row and the first items exist.
	if _, err := db.Exec(`CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.product_title = 'Poison' THEN RAISE EXCEPTION 'poisoned item'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER poison BEFORE INSERT ON order_items FOR EACH ROW EXECUTE FUNCTION poison();`); err != nil {
		t.Fatal(err)
	}
	in := defaultsOrder(p)
	in.Items = append(in.Items, in.Items[0], store.OrderItemInput{ProductID: &poison.ID, Quantity: 1,
		Configuration: store.Configuration{CustomFields: poison.fields()}})
	if _, _, err := s.CreateOrder(ctx, in); err == nil || !strings.Contains(err.Error(), "poisoned item") {
		t.Fatalf("want the poisoned insert's error, got %v", err)
	}
	for _, table := range []string{"orders", "order_items", "order_status_events"} {
		if n := countTableRows(t, db, table); n != 0 {
			t.Errorf("%s has %d rows after a failed order", table, n)
		}
	}
	// Validation failures in the last item leave nothing either.
	in = defaultsOrder(p)
	in.Items = append(in.Items, store.OrderItemInput{ProductID: &p.ID, Quantity: 1})
	if _, _, err := s.CreateOrder(ctx, in); err == nil {
		t.Fatal("want an error")
	}
	if n := countTableRows(t, db, "orders"); n != 0 {
		t.Errorf("orders has %d rows", n)
	}
}

func TestCreateOrderStatementCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, counter := storetest.NewCounting(t)
	s := store.New(db)
	a := insertOrderProduct(t, db, "a")
	b := insertOrderProduct(t, db, "b")
	c := insertOrderProduct(t, db, "c")
	counter.Reset()
	if _, _, err := s.CreateOrder(ctx, defaultsOrder(a)); err != nil {
		t.Fatal(err)
	}
	one := counter.Load()
	in := defaultsOrder(a)
	in.Items = append(in.Items, defaultsOrder(b).Items[0], store.OrderItemInput{ProductID: &c.ID, Quantity: 3,
		Configuration: store.Configuration{CustomFields: c.fields()}})
	counter.Reset()
	if _, _, err := s.CreateOrder(ctx, in); err != nil {
		t.Fatal(err)
	}
	// Reads: one query per level whatever the number of products; writes:
	// one insert per item more.
	if three := counter.Load(); three != one+2 {
		t.Fatalf("1 item: %d statements, 3 items of 3 products: %d; want %d", one, three, one+2)
	}
	if one != 5 { // 2 reads (products, every configuration list) + order + item + event
		t.Fatalf("1 item: %d statements, want 5", one)
	}
}

func TestCreateOrderConcurrentNumbers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	db.SetMaxOpenConns(16)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	const n = 200
	numbers := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			o, _, err := s.CreateOrder(ctx, defaultsOrder(p))
			if err == nil {
				numbers[i] = o.OrderNumber
			}
			errs[i] = err
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		seen[numbers[i]] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct order numbers for %d orders", len(seen), n)
	}
	sort.Strings(numbers)
	if numbers[0] != "SM000001" || numbers[n-1] != fmt.Sprintf("SM%06d", n) {
		t.Fatalf("numbers run %s…%s", numbers[0], numbers[n-1])
	}
}

func TestOrderListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	alice := "a11ce000-0000-4000-8000-000000000001"
	bob := "b0b00000-0000-4000-8000-000000000002"
	var made []*store.Order // oldest first
	for i := range 7 {
		in := defaultsOrder(p)
		if i%2 == 0 {
			in.UserID = &alice
		} else {
			in.UserID = &bob
		}
		o, _, err := s.CreateOrder(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, o)
	}
	if _, err := s.UpdateOrderStatus(ctx, made[1].ID, store.OrderProcessing, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateOrderStatus(ctx, made[4].ID, store.OrderProcessing, "admin", ""); err != nil {
		t.Fatal(err)
	}
	numbers := func(os []store.Order) string {
		var out []string
		for _, o := range os {
			out = append(out, o.OrderNumber[len(o.OrderNumber)-1:])
		}
		return strings.Join(out, "")
	}

	// Pages of 3, newest first, by cursor.
	var got []store.Order
	var after *store.Cursor
	for page := 0; ; page++ {
		pg, err := s.FindOrders(ctx, store.OrderFilter{}, 3, after)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pg.Orders...)
		if !pg.HasNextPage {
			break
		}
		c := pg.Orders[len(pg.Orders)-1].Cursor()
		// through the opaque form, as a client would
		if after, err = store.DecodeCursor("after", c.Encode()); err != nil {
			t.Fatal(err)
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if numbers(got) != "7654321" {
		t.Fatalf("newest first by cursor: %s", numbers(got))
	}

	list, err := s.ListOrders(ctx, store.OrderFilter{}, 2, 3)
	if err != nil || numbers(list) != "543" {
		t.Fatalf("skip 2 limit 3: %s %v", numbers(list), err)
	}
	if list, _ = s.ListOrders(ctx, store.OrderFilter{}, 0, 1000); len(list) != 7 {
		t.Fatalf("limit capped: %d", len(list))
	}
	if list, _ = s.ListOrders(ctx, store.OrderFilter{}, 50, 10); list == nil || len(list) != 0 {
		t.Fatalf("past the end: %v", list)
	}
	if _, err := s.ListOrders(ctx, store.OrderFilter{}, -1, 10); err == nil {
		t.Fatal("negative skip accepted")
	}
	processing := store.OrderProcessing
	if list, _ = s.ListOrders(ctx, store.OrderFilter{Status: &processing}, 0, 10); numbers(list) != "52" {
		t.Fatalf("status filter: %s", numbers(list))
	}
	if list, _ = s.ListOrders(ctx, store.OrderFilter{UserID: &alice}, 0, 10); numbers(list) != "7531" {
		t.Fatalf("user filter: %s", numbers(list))
	}
	pg, err := s.FindOrders(ctx, store.OrderFilter{UserID: &bob, Status: &processing}, 10, nil)
	if err != nil || numbers(pg.Orders) != "2" || pg.HasNextPage {
		t.Fatalf("user+status: %s %v", numbers(pg.Orders), err)
	}
	if n, err := s.CountOrders(ctx, store.OrderFilter{UserID: &bob}); err != nil || n != 3 {
		t.Fatalf("count: %d %v", n, err)
	}
	bad := "x"
	if _, err := s.FindOrders(ctx, store.OrderFilter{UserID: &bad}, 10, nil); err == nil {
		t.Fatal("bad user id accepted")
	}
}

func TestUpdateOrderStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	o, _, err := s.CreateOrder(ctx, defaultsOrder(p))
	if err != nil {
		t.Fatal(err)
	}
	up, err := s.UpdateOrderStatus(ctx, o.ID, store.OrderOnHold, "admin", "fraud check")
	if err != nil || up.Status != store.OrderOnHold || !up.UpdatedAt.After(o.UpdatedAt) {
		t.Fatalf("update: %+v %v", up, err)
	}
	if _, err := s.UpdateOrderStatus(ctx, o.ID, store.OrderOnHold, "admin", "customer called"); err != nil {
		t.Fatal(err)
	}
	ev, err := s.StatusEventsByOrder(ctx, []string{o.ID})
	if err != nil {
		t.Fatal(err)
	}
	e := ev[o.ID]
	if len(e) != 3 || *e[1].FromStatus != store.OrderPending || e[1].ToStatus != store.OrderOnHold || e[1].Actor != "admin" ||
		*e[1].Note != "fraud check" || *e[2].FromStatus != store.OrderOnHold || *e[2].Note != "customer called" {
		t.Fatalf("events = %+v", e)
	}
	for _, id := range []string{"nope", "5b0c5a0e-0000-4000-8000-000000000000"} {
		_, err := s.UpdateOrderStatus(ctx, id, store.OrderActive, "admin", "")
		if e, ok := store.AsError(err); !ok || e.Code != store.CodeNotFound || e.Message != "Order not found" {
			t.Fatalf("%s: %v", id, err)
		}
		if _, err := s.FindOrder(ctx, id); err == nil {
			t.Fatal("found a missing order")
		}
	}
	for _, in := range []string{"on_hold", "ON_HOLD", " Canceled "} {
		if _, err := store.ParseOrderStatus("status", in); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
	if _, err := store.ParseOrderStatus("status", "shipped"); err == nil {
		t.Error("shipped accepted")
	}
}

func TestOrderProgress(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	in := defaultsOrder(p)
	in.Items = append(in.Items, in.Items[0])
	o, items, err := s.CreateOrder(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := s.OrderProgress(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pr.OrderID != o.ID || pr.OrderStatus != store.OrderPending || pr.TotalTasks != 0 || pr.ProgressPercentage != 0 || pr.ItemsCount != 2 {
		t.Fatalf("no tasks: %+v", pr)
	}
	raw, _ := json.Marshal(pr)
	if !strings.Contains(string(raw), `"progress_percentage":0,`) || !strings.Contains(string(raw), `"items_count":2`) {
		t.Fatalf("progress JSON: %s", raw)
	}
	for i, st := range []string{"completed", "failed", "in_progress", "parked", "pending", "canceled", "completed"} {
		if _, err := db.Exec(`INSERT INTO fulfillment_tasks (order_item_id, task_type, status, title)
			VALUES ($1, 'manual', $2, 'task')`, items[i%2].ID, st); err != nil {
			t.Fatal(err)
		}
	}
	pr, err = s.OrderProgress(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	// 6 counted (the canceled one is not), 2 completed: 33.33%.
	if pr.TotalTasks != 6 || pr.CompletedTasks != 2 || pr.FailedTasks != 1 || pr.InProgressTasks != 2 ||
		pr.ProgressPercentage != 33.33 || pr.ItemsCount != 2 {
		t.Fatalf("with tasks: %+v", pr)
	}
	if _, err := s.OrderProgress(ctx, "5b0c5a0e-0000-4000-8000-000000000000"); err == nil {
		t.Fatal("progress of a missing order")
	}
	if _, err := s.OrderProgress(ctx, "nope"); err == nil {
		t.Fatal("progress of a malformed id")
	}
}

func TestConfigurationFromCart(t *testing.T) {
	t.Parallel()
	cfg, err := store.ConfigurationFromCart(
		store.JSON(`{"options":[{"groupId":"g","optionId":"o1"},{"groupId":"g2","optionId":"o2"}],"addOns":[{"id":"a1"}],"subscriptionPlan":{"id":"p1"},"extra":1}`),
		store.JSON(`{"customFields":[{"id":"f1","value":"@x"},{"id":"f2","value":42},{"id":"f3","value":null}],"utm":"x"}`), "items.0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.OptionIDs, ",") != "o1,o2" || strings.Join(cfg.AddOnIDs, ",") != "a1" || *cfg.SubscriptionPlanID != "p1" ||
		len(cfg.CustomFields) != 3 || cfg.CustomFields[1].Value != "42" || cfg.CustomFields[2].Value != "" {
		t.Fatalf("cfg = %+v", cfg)
	}
	if cfg, err := store.ConfigurationFromCart(nil, store.JSON("null"), "items.0"); err != nil || cfg.OptionIDs != nil || cfg.SubscriptionPlanID != nil {
		t.Fatalf("empty cart: %+v %v", cfg, err)
	}
	for _, tc := range []struct{ sel, attrs, field string }{
		{`[1]`, ``, "items.0.selected_options"},
		{`{"options":[{"groupId":"g"}]}`, ``, "items.0.selected_options.options.0.optionId"},
		{`{"addOns":[{}]}`, ``, "items.0.selected_options.addOns.0.id"},
		{``, `{"customFields":{}}`, "items.0.attributes"},
		{``, `{"customFields":[{"value":"x"}]}`, "items.0.attributes.customFields.0.id"},
		{``, `{"customFields":[{"id":"f","value":{"a":1}}]}`, "items.0.attributes.customFields.0.value"},
	} {
		_, err := store.ConfigurationFromCart(store.JSON(tc.sel), store.JSON(tc.attrs), "items.0")
		if e, ok := store.AsError(err); !ok || e.Code != store.CodeBadUserInput || e.Field != tc.field {
			t.Errorf("%s %s: got %v, want %s", tc.sel, tc.attrs, err, tc.field)
		}
	}
	for in, want := range map[string]string{
		"items.0.configuration.optionIds.1":            "items.0.selected_options.options.1.optionId",
		"items.0.configuration.optionIds":              "items.0.selected_options.options",
		"items.2.configuration.addOnIds.0":             "items.2.selected_options.addOns.0.id",
		"items.0.configuration.subscriptionPlanId":     "items.0.selected_options.subscriptionPlan.id",
		"items.0.configuration.customFields.3.fieldId": "items.0.attributes.customFields.3.id",
		"items.0.configuration.customFields.3.value":   "items.0.attributes.customFields.3.value",
		"items.0.configuration.customFields":           "items.0.attributes.customFields",
		"items.0.configuration":                        "items.0.selected_options",
		"items.1.productId":                            "items.1.product_id",
		"items.1.unitPrice":                            "items.1.unit_price",
		"items.1.quantity":                             "items.1.quantity",
		"userId":                                       "user_id",
		"items":                                        "items",
	} {
		if got := store.CartPath(in); got != want {
			t.Errorf("CartPath(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestCreateOrderFromCartReportsCartPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	sel := store.JSON(fmt.Sprintf(`{"options":[{"optionId":%q},{"optionId":%q}]}`, p.Option["scale"], p.Option["dominance"]))
	attrs := store.JSON(fmt.Sprintf(`{"customFields":[{"id":%q,"value":"@b"},{"id":%q,"value":"Launch"}]}`, p.Field["handle"], p.Field["objective"]))
	cfg, err := store.ConfigurationFromCart(sel, attrs, "items.0")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.CreateOrder(ctx, store.CreateOrderInput{CartPaths: true, Items: []store.OrderItemInput{{
		ProductID: &p.ID, Quantity: 1, Configuration: cfg, SelectedOptions: sel, Attributes: attrs,
	}}})
	if e, ok := store.AsError(err); !ok || e.Field != "items.0.selected_options.options.1.optionId" {
		t.Fatalf("got %v", err)
	}
}

func TestQuoteProductAgreesWithOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	insertOrderProduct(t, db, "drafty", func(o *productOpts) { o.status = "draft" })
	cfgs := []store.Configuration{
		{},
		{OptionIDs: p.ids(p.Option, "scale"), SubscriptionPlanID: strRef(p.Plan["quarterly"])},
		{OptionIDs: p.ids(p.Option, "dominance", "ugc", "influencer", "paid", "community"),
			AddOnIDs: p.ids(p.AddOn, "creative", "whitelist", "reporting"), SubscriptionPlanID: strRef(p.Plan["annual"])},
	}
	for i, cfg := range cfgs {
		q, err := s.QuoteProduct(ctx, p.Slug, cfg, 3)
		if err != nil {
			t.Fatal(err)
		}
		cfg.CustomFields = p.fields()
		o, items, err := s.CreateOrder(ctx, store.CreateOrderInput{Items: []store.OrderItemInput{{ProductSlug: &p.Slug, Quantity: 3, Configuration: cfg}}})
		if err != nil {
			t.Fatal(err)
		}
		if !q.UnitPrice.Equal(items[0].UnitPrice) || !q.Total.Equal(o.Total) {
			t.Errorf("config %d: quote %s/%s, order %s/%s", i, q.UnitPrice, q.Total, items[0].UnitPrice, o.Total)
		}
	}
	_, err := s.QuoteProduct(ctx, "ghost", store.Configuration{}, 1)
	if e, ok := store.AsError(err); !ok || e.Code != store.CodeNotFound || e.Field != "productSlug" {
		t.Fatalf("ghost: %v", err)
	}
	_, err = s.QuoteProduct(ctx, "drafty", store.Configuration{}, 1)
	if e, ok := store.AsError(err); !ok || e.Code != store.CodeBadUserInput || e.Field != "productSlug" {
		t.Fatalf("draft: %v", err)
	}
	_, err = s.QuoteProduct(ctx, p.Slug, store.Configuration{OptionIDs: []string{"x"}}, 1)
	if e, ok := store.AsError(err); !ok || e.Field != "configuration.optionIds.0" {
		t.Fatalf("bad option: %v", err)
	}
}

// Canceling an order cancels its tasks that have not started (pending,
// parked) in the same transaction, with a history note; a task a worker is
// running keeps its lease and may finish; the worker claims nothing more.
func TestCancelOrderCancelsOpenTasks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	orderID, _ := fixture(t, db, seedConfig, "processing", 2) // 4 http tasks
	now := time.Now()
	enqueue(t, s, orderID, now.Add(-time.Hour))
	running, err := s.ClaimTasks(ctx, "w1", 1, time.Minute, now)
	if err != nil || len(running) != 1 {
		t.Fatalf("claimed %d (%v)", len(running), err)
	}
	toPark, err := s.ClaimTasks(ctx, "w2", 1, time.Minute, now)
	if err != nil || len(toPark) != 1 {
		t.Fatalf("claimed %d (%v)", len(toPark), err)
	}
	if err := s.ParkTask(ctx, toPark[0].Lease(), "reply lost", nil, nil, now); err != nil {
		t.Fatal(err)
	}

	// Inside a transaction that rolls back, nothing happens to the tasks.
	rollback := errors.New("rollback")
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := store.SetOrderStatusTx(ctx, tx, orderID, store.OrderCanceled, "admin", ""); err != nil {
			return err
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	var open int
	if err := db.Get(&open, `SELECT count(*) FROM fulfillment_tasks t JOIN order_items oi ON oi.id = t.order_item_id
		WHERE oi.order_id = $1 AND t.status IN ('pending', 'parked')`, orderID); err != nil || open != 3 {
		t.Fatalf("open tasks after rollback %d (%v), want 3", open, err)
	}

	if _, err := s.UpdateOrderStatus(ctx, orderID, store.OrderCanceled, "admin", "customer asked"); err != nil {
		t.Fatal(err)
	}
	tasks, err := s.FindTasksByOrder(ctx, orderID)
	if err != nil || len(tasks) != 4 {
		t.Fatalf("tasks %d (%v)", len(tasks), err)
	}
	for _, task := range tasks {
		if task.ID == running[0].ID {
			if task.Status != store.TaskInProgress || task.LeaseOwner == nil || *task.LeaseOwner != "w1" ||
				task.Attempt != running[0].Attempt {
				t.Errorf("running task changed: %s owner %v attempt %d", task.Status, task.LeaseOwner, task.Attempt)
			}
			continue
		}
		if task.Status != store.TaskCanceled || task.CompletedAt == nil {
			t.Errorf("task %s is %s, want canceled", task.ID, task.Status)
		}
		var history []map[string]any
		if err := json.Unmarshal(task.History, &history); err != nil || len(history) == 0 {
			t.Fatalf("history %s (%v)", task.History, err)
		}
		last := history[len(history)-1]
		if last["event"] != "canceled" || last["note"] != "order canceled" || last["worker"] != "admin" {
			t.Errorf("last history entry %v", last)
		}
	}
	if got, err := s.ClaimTasks(ctx, "w3", 10, time.Minute, now.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("claimed %d tasks of a canceled order (%v)", len(got), err)
	}
	// The running task finishes; the order stays canceled.
	if err := s.CompleteTask(ctx, running[0].Lease(), store.JSON(`{"ok":true}`), nil, now); err != nil {
		t.Fatal(err)
	}
	if st := orderStatus(t, db, orderID); st != "canceled" {
		t.Fatalf("order %s, want canceled", st)
	}
}

// Workers claiming and completing while admins cancel orders: no deadlock
// (cancel locks tasks before the order, as the worker does), and no
// canceled order is left with a pending or parked task.
func TestCancelOrderWhileWorkersClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	now := time.Now()
	var orders []string
	for i := 0; i < 12; i++ {
		id, _ := fixture(t, db, seedConfig, "processing", 2)
		enqueue(t, s, id, now.Add(-time.Hour))
		orders = append(orders, id)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tasks, err := s.ClaimTasks(ctx, owner, 2, time.Minute, now)
				if err != nil {
					errs <- fmt.Errorf("claim: %w", err)
					return
				}
				for _, task := range tasks {
					if err := s.CompleteTask(ctx, task.Lease(), store.JSON(`{}`), nil, now); err != nil {
						errs <- fmt.Errorf("complete: %w", err)
						return
					}
				}
			}
		}(fmt.Sprintf("w%d", w))
	}
	var cancels sync.WaitGroup
	for _, id := range orders {
		cancels.Add(1)
		go func(id string) {
			defer cancels.Done()
			if _, err := s.UpdateOrderStatus(ctx, id, store.OrderCanceled, "admin", ""); err != nil {
				errs <- fmt.Errorf("cancel %s: %w", id, err)
			}
		}(id)
	}
	cancels.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var open int
	if err := db.Get(&open, `SELECT count(*) FROM fulfillment_tasks WHERE status IN ('pending', 'parked', 'in_progress')`); err != nil || open != 0 {
		t.Fatalf("%d tasks still open (%v)", open, err)
	}
	var notCanceled int
	if err := db.Get(&notCanceled, `SELECT count(*) FROM orders WHERE id = ANY($1) AND status <> 'canceled'`,
		pq.Array(orders)); err != nil || notCanceled != 0 {
		t.Fatalf("%d orders not canceled (%v)", notCanceled, err)
	}
}

// JSONMoney is the one REST money encoding: a number token with two
// decimals, rounded half away from zero. Order, OrderItem and Payment write
// their money with it (byte for byte: REST clients compare these bodies).
func TestJSONMoney(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0.00", "99": "99.00", "1277.4": "1277.40", "1.005": "1.01", "1.004": "1.00", "-1.005": "-1.01",
		"-0.5": "-0.50", "0.001": "0.00", "1e3": "1000.00", "123456789012.345": "123456789012.35",
	} {
		d := decimal.RequireFromString(in)
		b, err := json.Marshal(map[string]any{"v": store.JSONMoney(d)})
		if err != nil || string(b) != `{"v":`+want+`}` {
			t.Errorf("%s: %s (%v), want %s", in, b, err, want)
		}
		m := store.JSONMoney(d)
		if b, _ := json.Marshal(struct{ P *store.JSONMoney }{&m}); string(b) != `{"P":`+want+`}` {
			t.Errorf("%s by pointer: %s", in, b)
		}
	}
	if b, _ := json.Marshal(struct{ P *store.JSONMoney }{}); string(b) != `{"P":null}` {
		t.Errorf("nil: %s", b)
	}
	d := decimal.RequireFromString("1277.4")
	pid := "p"
	body, err := json.Marshal(store.OrderWithItems{Order: store.Order{Subtotal: d, Tax: decimal.Zero, Total: d},
		Items: []store.OrderItem{{ProductID: &pid, UnitPrice: decimal.RequireFromString("638.7"), TotalPrice: d}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"subtotal":1277.40,"tax":0.00,"total":1277.40,"items":[`,
		`"unit_price":638.70,"total_price":1277.40}]`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("order body %s lacks %s", body, want)
		}
	}
	pay, err := json.Marshal(store.Payment{Amount: decimal.RequireFromString("124"), Currency: "EUR"})
	if err != nil || !strings.HasSuffix(string(pay), `"currency":"EUR","failure_reason":null,"captured_at":null,`+
		`"created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z","amount":124.00}`) {
		t.Errorf("payment body %s (%v)", pay, err)
	}
}
