package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// ---------------------------------------------------------------------------
// helpers (prefixed adm to stay clear of other store_test files)

func admDec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func admPtr[T any](v T) *T { return &v }

func admWantErr(t *testing.T, name string, err error, code store.Code, field string) {
	t.Helper()
	e, ok := store.AsError(err)
	if !ok || e.Code != code || e.Field != field {
		t.Errorf("%s: got %v, want %s on %q", name, err, code, field)
	}
}

// admSnapshot is the whole catalog as JSON: every product with its
// configuration, timestamps included, so "nothing written" is an equality.
func admSnapshot(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	page, err := s.FindProducts(ctx, store.ProductFilter{}, store.MaxPageSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	var all []*store.ProductDetail
	for _, p := range page.Products {
		d, err := s.ProductDetail(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, d)
	}
	var counts []int
	for _, table := range []string{"products", "product_option_groups", "product_options", "product_add_ons",
		"product_custom_fields", "product_subscription_plans"} {
		var n int
		if err := s.DB().GetContext(ctx, &n, `SELECT count(*) FROM `+table); err != nil {
			t.Fatal(err)
		}
		counts = append(counts, n)
	}
	b, err := json.Marshal(map[string]any{"products": all, "counts": counts})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func admProductInput(slug string) store.ProductInput {
	return store.ProductInput{Slug: slug, Title: "Title " + slug, Category: "social_media", BasePrice: admDec("10.00"),
		Currency: store.EUR}
}

func admCreateProduct(t *testing.T, s *store.Store, slug string) *store.Product {
	t.Helper()
	p, err := s.CreateProduct(context.Background(), admProductInput(slug))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ---------------------------------------------------------------------------
// Products

func TestAdminProductLifecycle(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()

	cfg := store.Seeds["instagram-growth"].FulfillmentConfig
	p, err := s.CreateProduct(ctx, store.ProductInput{Slug: "tiktok-boost", Title: "  TikTok Boost ",
		Description: admPtr("Grow on TikTok"), Category: "social_media", BasePrice: admDec("49.5"),
		Currency: "usd", Status: "ACTIVE", FulfillmentConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if p.Title != "TikTok Boost" || p.Currency != store.USD || p.Status != store.ProductActive ||
		p.BasePrice.StringFixed(2) != "49.50" || p.Description == nil || len(p.FulfillmentConfig) == 0 {
		t.Fatalf("created: %+v", p)
	}
	got, err := s.ProductDetailBySlug(ctx, "tiktok-boost")
	if err != nil || got.ID != p.ID || got.Title != p.Title {
		t.Fatalf("read back: %v %+v", err, got)
	}

	// Defaults: status draft, currency EUR.
	d, err := s.CreateProduct(ctx, store.ProductInput{Slug: "plain", Title: "Plain", Category: "c", BasePrice: admDec("0")})
	if err != nil || d.Status != store.ProductDraft || d.Currency != store.EUR || d.FulfillmentConfig != nil {
		t.Fatalf("defaults: %v %+v", err, d)
	}

	// Only the given fields change; description and config can be cleared.
	u, err := s.UpdateProduct(ctx, p.ID, store.ProductUpdate{Title: admPtr("TikTok Boost Pro"),
		Description: store.SetNull[string](), FulfillmentConfig: store.SetNull[store.JSON]()})
	if err != nil {
		t.Fatal(err)
	}
	if u.Title != "TikTok Boost Pro" || u.Description != nil || u.FulfillmentConfig != nil ||
		u.Slug != p.Slug || u.Currency != store.USD || !u.BasePrice.Equal(p.BasePrice) || !u.UpdatedAt.After(p.UpdatedAt) {
		t.Fatalf("updated: %+v", u)
	}
	u, err = s.UpdateProduct(ctx, p.ID, store.ProductUpdate{Slug: admPtr("tiktok-pro"), Status: admPtr(store.ProductStatus("archived")),
		BasePrice: admPtr(admDec("59")), Currency: admPtr(store.EUR), Category: admPtr("video"),
		Description: store.SetTo("again")})
	if err != nil || u.Slug != "tiktok-pro" || u.Status != store.ProductArchived || u.BasePrice.StringFixed(2) != "59.00" ||
		u.Currency != store.EUR || u.Category != "video" || u.Description == nil || *u.Description != "again" {
		t.Fatalf("updated: %v %+v", err, u)
	}
	// An empty update changes nothing.
	same, err := s.UpdateProduct(ctx, p.ID, store.ProductUpdate{})
	if err != nil || !same.UpdatedAt.Equal(u.UpdatedAt) {
		t.Fatalf("empty update: %v %+v", err, same)
	}
	// Fulfillment config on its own.
	withCfg, err := s.UpdateFulfillmentConfig(ctx, p.ID, store.JSON(`{"tasks": [{"type": "manual", "title": "Deliver"}]}`))
	if err != nil || !strings.Contains(string(withCfg.FulfillmentConfig), "Deliver") {
		t.Fatalf("config: %v %+v", err, withCfg)
	}
	cleared, err := s.UpdateFulfillmentConfig(ctx, p.ID, store.JSON("null"))
	if err != nil || cleared.FulfillmentConfig != nil {
		t.Fatalf("clear config: %v %+v", err, cleared)
	}

	if err := s.DeleteProduct(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.FindProduct(ctx, p.ID)
	admWantErr(t, "find deleted", err, store.CodeNotFound, "")
	admWantErr(t, "delete twice", s.DeleteProduct(ctx, p.ID), store.CodeNotFound, "")
	admWantErr(t, "delete bad id", s.DeleteProduct(ctx, "nope"), store.CodeNotFound, "")
	_, err = s.UpdateProduct(ctx, p.ID, store.ProductUpdate{Title: admPtr("x")})
	admWantErr(t, "update deleted", err, store.CodeNotFound, "")
	_, err = s.UpdateProduct(ctx, "nope", store.ProductUpdate{})
	admWantErr(t, "update bad id", err, store.CodeNotFound, "")
	_, err = s.UpdateFulfillmentConfig(ctx, p.ID, nil)
	admWantErr(t, "config deleted", err, store.CodeNotFound, "")
}

func TestAdminProductDuplicateSlug(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	admCreateProduct(t, s, "taken")
	other := admCreateProduct(t, s, "other")
	before := admSnapshot(t, s)

	_, err := s.CreateProduct(ctx, admProductInput("taken"))
	e, ok := store.AsError(err)
	if !ok || e.Code != store.CodeConflict || e.Field != "slug" || e.Message != "Product with this slug already exists" {
		t.Fatalf("create: %v", err)
	}
	_, err = s.UpdateProduct(ctx, other.ID, store.ProductUpdate{Slug: admPtr("taken"), Title: admPtr("changed")})
	admWantErr(t, "update", err, store.CodeConflict, "slug")
	if after := admSnapshot(t, s); after != before {
		t.Fatalf("database changed:\n%s\n%s", before, after)
	}
}

func TestAdminProductBadInput(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	p := admCreateProduct(t, s, "existing")
	before := admSnapshot(t, s)

	create := func(mod func(*store.ProductInput)) func() error {
		return func() error {
			in := admProductInput("fresh")
			mod(&in)
			_, err := s.CreateProduct(ctx, in)
			return err
		}
	}
	update := func(u store.ProductUpdate) func() error {
		return func() error { _, err := s.UpdateProduct(ctx, p.ID, u); return err }
	}
	badCfg := store.JSON(`{"tasks": [{"type": "manual", "title": "t", "execution": {"kind": "http"}}]}`)
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"empty slug", create(func(in *store.ProductInput) { in.Slug = "" }), "slug"},
		{"upper slug", create(func(in *store.ProductInput) { in.Slug = "Fresh" }), "slug"},
		{"slug spaces", create(func(in *store.ProductInput) { in.Slug = "fresh one" }), "slug"},
		{"slug double dash", create(func(in *store.ProductInput) { in.Slug = "fresh--one" }), "slug"},
		{"slug trailing dash", create(func(in *store.ProductInput) { in.Slug = "fresh-" }), "slug"},
		{"slug underscore", create(func(in *store.ProductInput) { in.Slug = "fresh_one" }), "slug"},
		{"slug too long", create(func(in *store.ProductInput) { in.Slug = strings.Repeat("a", 101) }), "slug"},
		{"blank title", create(func(in *store.ProductInput) { in.Title = "  " }), "title"},
		{"long title", create(func(in *store.ProductInput) { in.Title = strings.Repeat("t", 201) }), "title"},
		{"long description", create(func(in *store.ProductInput) { in.Description = admPtr(strings.Repeat("d", 5001)) }), "description"},
		{"blank category", create(func(in *store.ProductInput) { in.Category = "" }), "category"},
		{"negative price", create(func(in *store.ProductInput) { in.BasePrice = admDec("-0.01") }), "basePrice"},
		{"three decimals", create(func(in *store.ProductInput) { in.BasePrice = admDec("1.005") }), "basePrice"},
		{"huge price", create(func(in *store.ProductInput) { in.BasePrice = admDec("100000000") }), "basePrice"},
		{"currency", create(func(in *store.ProductInput) { in.Currency = "GBP" }), "currency"},
		{"status", create(func(in *store.ProductInput) { in.Status = "live" }), "status"},
		{"config", create(func(in *store.ProductInput) { in.FulfillmentConfig = badCfg }), "fulfillmentConfig.tasks.0.execution.url"},
		{"config not json", create(func(in *store.ProductInput) { in.FulfillmentConfig = store.JSON(`{`) }), "fulfillmentConfig"},
		{"update slug", update(store.ProductUpdate{Slug: admPtr("Bad Slug")}), "slug"},
		{"update title", update(store.ProductUpdate{Title: admPtr("")}), "title"},
		{"update category", update(store.ProductUpdate{Category: admPtr(" ")}), "category"},
		{"update description", update(store.ProductUpdate{Description: store.SetTo(strings.Repeat("d", 5001))}), "description"},
		{"update price", update(store.ProductUpdate{BasePrice: admPtr(admDec("-1"))}), "basePrice"},
		{"update currency", update(store.ProductUpdate{Currency: admPtr(store.Currency("JPY"))}), "currency"},
		{"update status", update(store.ProductUpdate{Status: admPtr(store.ProductStatus(""))}), "status"},
		{"update config", update(store.ProductUpdate{FulfillmentConfig: store.SetTo(badCfg)}), "fulfillmentConfig.tasks.0.execution.url"},
		{"update config via method", func() error { _, err := s.UpdateFulfillmentConfig(ctx, p.ID, badCfg); return err },
			"fulfillmentConfig.tasks.0.execution.url"},
		// A valid field next to an invalid one writes neither.
		{"update mixed", update(store.ProductUpdate{Title: admPtr("New"), BasePrice: admPtr(admDec("1.234"))}), "basePrice"},
	} {
		admWantErr(t, tc.name, tc.call(), store.CodeBadUserInput, tc.field)
	}
	if after := admSnapshot(t, s); after != before {
		t.Fatalf("database changed:\n%s\n%s", before, after)
	}
}

func TestAdminDeleteProductKeepsOrderItems(t *testing.T) {
	t.Parallel()
	s, productID := seeded(t)
	ctx := context.Background()
	db := s.DB()
	var orderID, itemID string
	if err := db.GetContext(ctx, &orderID, `INSERT INTO orders (subtotal, total) VALUES (99, 99) RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &itemID, `INSERT INTO order_items (order_id, product_id, product_title, quantity, unit_price, total_price)
		VALUES ($1, $2, 'Instagram Growth Service', 1, 99, 99) RETURNING id`, orderID, productID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteProduct(ctx, productID); err != nil {
		t.Fatal(err)
	}
	var item struct {
		ProductID *string `db:"product_id"`
		Title     string  `db:"product_title"`
	}
	if err := db.GetContext(ctx, &item, `SELECT product_id, product_title FROM order_items WHERE id = $1`, itemID); err != nil {
		t.Fatal(err)
	}
	if item.ProductID != nil || item.Title != "Instagram Growth Service" {
		t.Fatalf("order item after delete: %+v", item)
	}
	var left int
	if err := db.GetContext(ctx, &left, `SELECT (SELECT count(*) FROM product_option_groups) + (SELECT count(*) FROM product_options)
		+ (SELECT count(*) FROM product_add_ons) + (SELECT count(*) FROM product_custom_fields)
		+ (SELECT count(*) FROM product_subscription_plans)`); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d configuration rows survived the product", left)
	}
}

// ---------------------------------------------------------------------------
// Nested entities

func admGroupNames(t *testing.T, s *store.Store, productID string) []string {
	t.Helper()
	d, err := s.ProductDetail(context.Background(), productID)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, g := range d.OptionGroups {
		out = append(out, g.Name)
	}
	return out
}

func admEqual(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s: got %q, want %q", what, got, want)
	}
}

func TestAdminOptionGroupsAndOptions(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	p := admCreateProduct(t, s, "groups")

	a, err := s.CreateOptionGroup(ctx, p.ID, store.OptionGroupInput{Name: " Tier ", Description: admPtr("Pick one"),
		GroupType: "SINGLE", IsRequired: true, MetadataJSON: store.JSON(`{"note": "x"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Tier" || a.GroupType != store.GroupSingle || !a.IsRequired || a.ProductID != p.ID || a.DisplayOrder != 0 {
		t.Fatalf("created: %+v", a)
	}
	b, err := s.CreateOptionGroup(ctx, p.ID, store.OptionGroupInput{Name: "Extras", GroupType: store.GroupMultiple,
		MetadataJSON: store.JSON(`{"max_selections": 3}`)})
	if err != nil || b.DisplayOrder != 1 {
		t.Fatalf("append: %v %+v", err, b)
	}
	c, err := s.CreateOptionGroup(ctx, p.ID, store.OptionGroupInput{Name: "First", DisplayOrder: admPtr(0)})
	if err != nil || c.DisplayOrder != 0 || c.GroupType != store.GroupSingle {
		t.Fatalf("insert at 0: %v %+v", err, c)
	}
	admEqual(t, "after insert", admGroupNames(t, s, p.ID), "First", "Tier", "Extras")

	// Update: only given fields; description cleared; moved to the end.
	u, err := s.UpdateOptionGroup(ctx, c.ID, store.OptionGroupUpdate{Name: admPtr("Focus"), Description: store.SetNull[string](),
		GroupType: admPtr(store.GroupMultiple), IsRequired: admPtr(true), DisplayOrder: admPtr(9)})
	if err != nil || u.Name != "Focus" || u.GroupType != store.GroupMultiple || !u.IsRequired || u.Description != nil || u.DisplayOrder != 2 {
		t.Fatalf("update: %v %+v", err, u)
	}
	admEqual(t, "after move", admGroupNames(t, s, p.ID), "Tier", "Extras", "Focus")
	// Metadata can be cleared.
	u, err = s.UpdateOptionGroup(ctx, a.ID, store.OptionGroupUpdate{MetadataJSON: store.SetNull[store.JSON]()})
	if err != nil || u.MetadataJSON != nil || u.Name != "Tier" || *u.Description != "Pick one" {
		t.Fatalf("clear metadata: %v %+v", err, u)
	}

	// Reorder.
	groups, err := s.ReorderOptionGroups(ctx, p.ID, []string{c.ID, b.ID, a.ID})
	if err != nil || len(groups) != 3 || groups[0].ID != c.ID || groups[2].DisplayOrder != 2 {
		t.Fatalf("reorder: %v %+v", err, groups)
	}
	admEqual(t, "after reorder", admGroupNames(t, s, p.ID), "Focus", "Extras", "Tier")

	// Options of group a.
	o1, err := s.CreateOption(ctx, a.ID, store.OptionInput{Name: "Essentials", PriceDelta: admDec("0"),
		MetadataJSON: store.JSON(`{"recommended": true}`)})
	if err != nil || o1.GroupID != a.ID || o1.DisplayOrder != 0 || !o1.Recommended() {
		t.Fatalf("option: %v %+v", err, o1)
	}
	o2, err := s.CreateOption(ctx, a.ID, store.OptionInput{Name: "Scale", PriceDelta: admDec("450"), Description: admPtr("8 weeks")})
	if err != nil || o2.DisplayOrder != 1 {
		t.Fatalf("option append: %v %+v", err, o2)
	}
	o3, err := s.CreateOption(ctx, a.ID, store.OptionInput{Name: "Dominance", PriceDelta: admDec("-9.99"), DisplayOrder: admPtr(1)})
	if err != nil || o3.DisplayOrder != 1 {
		t.Fatalf("option insert: %v %+v", err, o3)
	}
	optionNames := func() []string {
		d, err := s.ProductDetailBySlug(ctx, "groups")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range d.Options[a.ID] {
			out = append(out, o.Name)
		}
		return out
	}
	admEqual(t, "options", optionNames(), "Essentials", "Dominance", "Scale")
	uo, err := s.UpdateOption(ctx, o2.ID, store.OptionUpdate{PriceDelta: admPtr(admDec("500.5")), Description: store.SetNull[string](),
		MetadataJSON: store.SetTo(store.JSON(`{"badge": "popular"}`)), DisplayOrder: admPtr(0)})
	if err != nil || uo.PriceDelta.StringFixed(2) != "500.50" || uo.Description != nil || uo.Name != "Scale" ||
		!strings.Contains(string(uo.MetadataJSON), "popular") {
		t.Fatalf("update option: %v %+v", err, uo)
	}
	admEqual(t, "options after move", optionNames(), "Scale", "Essentials", "Dominance")
	if _, err := s.ReorderOptions(ctx, a.ID, []string{o1.ID, o2.ID, o3.ID}); err != nil {
		t.Fatal(err)
	}
	admEqual(t, "options after reorder", optionNames(), "Essentials", "Scale", "Dominance")
	del, err := s.DeleteOption(ctx, o3.ID)
	if err != nil || del.ID != o3.ID || del.GroupID != a.ID {
		t.Fatalf("delete option: %v %+v", err, del)
	}
	admEqual(t, "options after delete", optionNames(), "Essentials", "Scale")
	_, err = s.DeleteOption(ctx, o3.ID)
	admWantErr(t, "delete option twice", err, store.CodeNotFound, "")

	dg, err := s.DeleteOptionGroup(ctx, a.ID)
	if err != nil || dg.ProductID != p.ID {
		t.Fatalf("delete group: %v %+v", err, dg)
	}
	admEqual(t, "groups after delete", admGroupNames(t, s, p.ID), "Focus", "Extras")
	for name, call := range map[string]func() error{
		"update deleted group": func() error { _, err := s.UpdateOptionGroup(ctx, a.ID, store.OptionGroupUpdate{}); return err },
		"delete deleted group": func() error { _, err := s.DeleteOptionGroup(ctx, a.ID); return err },
		"option in deleted group": func() error {
			_, err := s.CreateOption(ctx, a.ID, store.OptionInput{Name: "x"})
			return err
		},
		"options of deleted group cascade": func() error { _, err := s.UpdateOption(ctx, o1.ID, store.OptionUpdate{}); return err },
		"reorder deleted group":            func() error { _, err := s.ReorderOptions(ctx, a.ID, nil); return err },
		"group of unknown product": func() error {
			_, err := s.CreateOptionGroup(ctx, "6f9b0aab-f6fd-4c5b-b56b-943c445fd650", store.OptionGroupInput{Name: "x"})
			return err
		},
		"reorder unknown product": func() error { _, err := s.ReorderOptionGroups(ctx, "bad", nil); return err },
		"bad option id":           func() error { _, err := s.DeleteOption(ctx, "bad"); return err },
	} {
		admWantErr(t, name, call(), store.CodeNotFound, "")
	}
}

func TestAdminAddOnsFieldsPlans(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	p := admCreateProduct(t, s, "nested")
	detail := func() *store.ProductDetail {
		d, err := s.ProductDetailBySlug(ctx, "nested")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// Add-ons.
	a1, err := s.CreateAddOn(ctx, p.ID, store.AddOnInput{Label: "Creative lab", PriceDelta: admDec("420"), IsRecommended: true,
		Description: admPtr("assets")})
	if err != nil || a1.ProductID != p.ID || !a1.IsRecommended || a1.DisplayOrder != 0 {
		t.Fatalf("add-on: %v %+v", err, a1)
	}
	a2, _ := s.CreateAddOn(ctx, p.ID, store.AddOnInput{Label: "Whitelist", PriceDelta: admDec("560")})
	a3, err := s.CreateAddOn(ctx, p.ID, store.AddOnInput{Label: "Reporting", PriceDelta: admDec("190"), DisplayOrder: admPtr(0)})
	if err != nil {
		t.Fatal(err)
	}
	labels := func() []string {
		var out []string
		for _, a := range detail().AddOns {
			out = append(out, a.Label)
		}
		return out
	}
	admEqual(t, "add-ons", labels(), "Reporting", "Creative lab", "Whitelist")
	ua, err := s.UpdateAddOn(ctx, a1.ID, store.AddOnUpdate{Label: admPtr("Creative lab: 10 assets"), IsRecommended: admPtr(false),
		Description: store.SetNull[string](), PriceDelta: admPtr(admDec("400"))})
	if err != nil || ua.Label != "Creative lab: 10 assets" || ua.IsRecommended || ua.Description != nil || ua.PriceDelta.StringFixed(2) != "400.00" {
		t.Fatalf("update add-on: %v %+v", err, ua)
	}
	if _, err := s.ReorderAddOns(ctx, p.ID, []string{a1.ID, a2.ID, a3.ID}); err != nil {
		t.Fatal(err)
	}
	admEqual(t, "add-ons reordered", labels(), "Creative lab: 10 assets", "Whitelist", "Reporting")
	if da, err := s.DeleteAddOn(ctx, a2.ID); err != nil || da.ID != a2.ID || da.ProductID != p.ID {
		t.Fatalf("delete add-on: %v %+v", err, da)
	}
	admEqual(t, "add-ons after delete", labels(), "Creative lab: 10 assets", "Reporting")

	// Custom fields.
	f1, err := s.CreateCustomField(ctx, p.ID, store.CustomFieldInput{Label: "Instagram handle", IsRequired: true,
		Placeholder: admPtr("@yourbrand"), HelpText: admPtr("No password")})
	if err != nil || f1.FieldType != store.FieldText || !f1.IsRequired || f1.DisplayOrder != 0 {
		t.Fatalf("field: %v %+v", err, f1)
	}
	f2, err := s.CreateCustomField(ctx, p.ID, store.CustomFieldInput{Label: "Landing page", FieldType: "URL"})
	if err != nil || f2.FieldType != store.FieldURL || f2.DisplayOrder != 1 {
		t.Fatalf("field append: %v %+v", err, f2)
	}
	uf, err := s.UpdateCustomField(ctx, f1.ID, store.CustomFieldUpdate{FieldType: admPtr(store.FieldNumber), Placeholder: store.SetNull[string](),
		HelpText: store.SetTo("Followers"), IsRequired: admPtr(false), DisplayOrder: admPtr(1)})
	if err != nil || uf.FieldType != store.FieldNumber || uf.Placeholder != nil || *uf.HelpText != "Followers" || uf.IsRequired ||
		uf.Label != "Instagram handle" || uf.DisplayOrder != 1 {
		t.Fatalf("update field: %v %+v", err, uf)
	}
	if d := detail(); len(d.CustomFields) != 2 || d.CustomFields[0].ID != f2.ID {
		t.Fatalf("fields order: %+v", d.CustomFields)
	}
	if _, err := s.ReorderCustomFields(ctx, p.ID, []string{f1.ID, f2.ID}); err != nil {
		t.Fatal(err)
	}
	if d := detail(); d.CustomFields[0].ID != f1.ID {
		t.Fatalf("fields reordered: %+v", d.CustomFields)
	}
	if _, err := s.DeleteCustomField(ctx, f2.ID); err != nil {
		t.Fatal(err)
	}
	if d := detail(); len(d.CustomFields) != 1 {
		t.Fatalf("fields after delete: %+v", d.CustomFields)
	}

	// Plans: one default at most, moved by create and update.
	p1, err := s.CreateSubscriptionPlan(ctx, p.ID, store.PlanInput{Label: "One-time sprint", IsDefault: true})
	if err != nil || p1.BillingCycle != store.OneTime || !p1.IsDefault || p1.PriceMultiplier != nil {
		t.Fatalf("plan: %v %+v", err, p1)
	}
	p2, err := s.CreateSubscriptionPlan(ctx, p.ID, store.PlanInput{Label: "Quarterly", BillingCycle: "QUARTERLY",
		PriceMultiplier: admPtr(admDec("2.6")), PriceDelta: admPtr(admDec("-150")), IsDefault: true})
	if err != nil || !p2.IsDefault || p2.PriceMultiplier.String() != "2.6" || p2.DisplayOrder != 1 {
		t.Fatalf("plan 2: %v %+v", err, p2)
	}
	defaults := func() []string {
		var out []string
		for _, pl := range detail().SubscriptionPlans {
			if pl.IsDefault {
				out = append(out, pl.Label)
			}
		}
		return out
	}
	admEqual(t, "default after create", defaults(), "Quarterly")
	up, err := s.UpdateSubscriptionPlan(ctx, p1.ID, store.PlanUpdate{IsDefault: admPtr(true), Description: store.SetTo("Single")})
	if err != nil || !up.IsDefault || *up.Description != "Single" {
		t.Fatalf("update plan: %v %+v", err, up)
	}
	admEqual(t, "default after update", defaults(), "One-time sprint")
	up, err = s.UpdateSubscriptionPlan(ctx, p2.ID, store.PlanUpdate{PriceMultiplier: store.SetNull[decimal.Decimal](),
		PriceDelta: store.SetTo(admDec("10")), BillingCycle: admPtr(store.Annual), Label: admPtr("Annual"), DisplayOrder: admPtr(0)})
	if err != nil || up.PriceMultiplier != nil || up.PriceDelta.StringFixed(2) != "10.00" || up.BillingCycle != store.Annual ||
		up.IsDefault || up.DisplayOrder != 0 {
		t.Fatalf("update plan 2: %v %+v", err, up)
	}
	if _, err := s.ReorderSubscriptionPlans(ctx, p.ID, []string{p1.ID, p2.ID}); err != nil {
		t.Fatal(err)
	}
	if d := detail(); d.SubscriptionPlans[0].ID != p1.ID || d.SubscriptionPlans[1].DisplayOrder != 1 {
		t.Fatalf("plans reordered: %+v", d.SubscriptionPlans)
	}
	if _, err := s.DeleteSubscriptionPlan(ctx, p1.ID); err != nil {
		t.Fatal(err)
	}
	admEqual(t, "default after deleting it", defaults())

	for name, call := range map[string]func() error{
		"update add-on":  func() error { _, err := s.UpdateAddOn(ctx, a2.ID, store.AddOnUpdate{}); return err },
		"delete add-on":  func() error { _, err := s.DeleteAddOn(ctx, "x"); return err },
		"update field":   func() error { _, err := s.UpdateCustomField(ctx, f2.ID, store.CustomFieldUpdate{}); return err },
		"delete field":   func() error { _, err := s.DeleteCustomField(ctx, f2.ID); return err },
		"update plan":    func() error { _, err := s.UpdateSubscriptionPlan(ctx, p1.ID, store.PlanUpdate{}); return err },
		"delete plan":    func() error { _, err := s.DeleteSubscriptionPlan(ctx, p1.ID); return err },
		"reorder add-on": func() error { _, err := s.ReorderAddOns(ctx, "6f9b0aab-f6fd-4c5b-b56b-943c445fd650", nil); return err },
	} {
		admWantErr(t, name, call(), store.CodeNotFound, "")
	}
}

func TestAdminNestedBadInput(t *testing.T) {
	t.Parallel()
	s, productID := seeded(t)
	ctx := context.Background()
	other := admCreateProduct(t, s, "other")
	otherGroup, err := s.CreateOptionGroup(ctx, other.ID, store.OptionGroupInput{Name: "Other group"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.ProductDetail(ctx, productID)
	if err != nil {
		t.Fatal(err)
	}
	single, multiple := d.OptionGroups[0], d.OptionGroups[1]
	opts := d.Options[single.ID]
	addOn, field, plan := d.AddOns[0], d.CustomFields[0], d.SubscriptionPlans[1]
	groupIDs := []string{single.ID, multiple.ID}
	before := admSnapshot(t, s)

	many := store.JSON(`{"max_selections": 2}`)
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"group name", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: " "})
			return err
		}, "name"},
		{"group type", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: "g", GroupType: "several"})
			return err
		}, "groupType"},
		{"single with max_selections", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: "g", GroupType: store.GroupSingle, MetadataJSON: many})
			return err
		}, "groupType"},
		{"single with allowMultiple", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: "g", MetadataJSON: store.JSON(`{"allowMultiple": true}`)})
			return err
		}, "groupType"},
		{"group metadata list", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: "g", MetadataJSON: store.JSON(`[1]`)})
			return err
		}, "metadataJson"},
		{"group display order", func() error {
			_, err := s.CreateOptionGroup(ctx, productID, store.OptionGroupInput{Name: "g", DisplayOrder: admPtr(-1)})
			return err
		}, "displayOrder"},
		{"update group to single with metadata", func() error {
			// The multiple group gets metadata allowing several, then is made single in the same call.
			_, err := s.UpdateOptionGroup(ctx, multiple.ID, store.OptionGroupUpdate{GroupType: admPtr(store.GroupSingle), MetadataJSON: store.SetTo(many)})
			return err
		}, "groupType"},
		{"update single group metadata", func() error {
			_, err := s.UpdateOptionGroup(ctx, single.ID, store.OptionGroupUpdate{MetadataJSON: store.SetTo(store.JSON(`{"allow_multiple": true}`))})
			return err
		}, "groupType"},
		{"update group name", func() error {
			_, err := s.UpdateOptionGroup(ctx, single.ID, store.OptionGroupUpdate{Name: admPtr(""), IsRequired: admPtr(false)})
			return err
		}, "name"},
		{"update group type", func() error {
			_, err := s.UpdateOptionGroup(ctx, single.ID, store.OptionGroupUpdate{GroupType: admPtr(store.GroupType("x"))})
			return err
		}, "groupType"},
		{"reorder groups missing one", func() error { _, err := s.ReorderOptionGroups(ctx, productID, groupIDs[:1]); return err }, "ids"},
		{"reorder groups twice", func() error {
			_, err := s.ReorderOptionGroups(ctx, productID, []string{single.ID, single.ID})
			return err
		}, "ids.1"},
		{"reorder groups foreign id", func() error {
			_, err := s.ReorderOptionGroups(ctx, productID, []string{single.ID, otherGroup.ID})
			return err
		}, "ids.1"},
		{"reorder groups not uuid", func() error {
			_, err := s.ReorderOptionGroups(ctx, productID, []string{"nope", single.ID})
			return err
		}, "ids.0"},
		{"reorder groups of other product", func() error { _, err := s.ReorderOptionGroups(ctx, other.ID, groupIDs); return err }, "ids.0"},
		{"option name", func() error { _, err := s.CreateOption(ctx, single.ID, store.OptionInput{Name: ""}); return err }, "name"},
		{"option price decimals", func() error {
			_, err := s.CreateOption(ctx, single.ID, store.OptionInput{Name: "o", PriceDelta: admDec("0.001")})
			return err
		}, "priceDelta"},
		{"option metadata", func() error {
			_, err := s.CreateOption(ctx, single.ID, store.OptionInput{Name: "o", MetadataJSON: store.JSON(`"x"`)})
			return err
		}, "metadataJson"},
		{"update option price", func() error {
			_, err := s.UpdateOption(ctx, opts[0].ID, store.OptionUpdate{PriceDelta: admPtr(admDec("1e9"))})
			return err
		}, "priceDelta"},
		{"update option name", func() error {
			_, err := s.UpdateOption(ctx, opts[0].ID, store.OptionUpdate{Name: admPtr(" ")})
			return err
		}, "name"},
		{"update option position", func() error {
			_, err := s.UpdateOption(ctx, opts[0].ID, store.OptionUpdate{DisplayOrder: admPtr(-2)})
			return err
		}, "displayOrder"},
		{"reorder options of another group", func() error {
			_, err := s.ReorderOptions(ctx, multiple.ID, []string{opts[0].ID})
			return err
		}, "ids.0"},
		{"add-on label", func() error { _, err := s.CreateAddOn(ctx, productID, store.AddOnInput{Label: ""}); return err }, "label"},
		{"add-on price", func() error {
			_, err := s.CreateAddOn(ctx, productID, store.AddOnInput{Label: "a", PriceDelta: admDec("1.111")})
			return err
		}, "priceDelta"},
		{"update add-on label", func() error { _, err := s.UpdateAddOn(ctx, addOn.ID, store.AddOnUpdate{Label: admPtr("")}); return err }, "label"},
		{"update add-on description", func() error {
			_, err := s.UpdateAddOn(ctx, addOn.ID, store.AddOnUpdate{Description: store.SetTo(strings.Repeat("x", 5001))})
			return err
		}, "description"},
		{"reorder add-ons foreign", func() error { _, err := s.ReorderAddOns(ctx, productID, []string{field.ID}); return err }, "ids.0"},
		{"field label", func() error {
			_, err := s.CreateCustomField(ctx, productID, store.CustomFieldInput{Label: "\t"})
			return err
		}, "label"},
		{"field type", func() error {
			_, err := s.CreateCustomField(ctx, productID, store.CustomFieldInput{Label: "f", FieldType: "date"})
			return err
		}, "fieldType"},
		{"field placeholder", func() error {
			_, err := s.CreateCustomField(ctx, productID, store.CustomFieldInput{Label: "f", Placeholder: admPtr(strings.Repeat("p", 5001))})
			return err
		}, "placeholder"},
		{"update field type", func() error {
			_, err := s.UpdateCustomField(ctx, field.ID, store.CustomFieldUpdate{FieldType: admPtr(store.FieldType("email"))})
			return err
		}, "fieldType"},
		{"update field help", func() error {
			_, err := s.UpdateCustomField(ctx, field.ID, store.CustomFieldUpdate{HelpText: store.SetTo(strings.Repeat("h", 5001))})
			return err
		}, "helpText"},
		{"reorder fields missing", func() error { _, err := s.ReorderCustomFields(ctx, productID, nil); return err }, "ids"},
		{"plan label", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: ""})
			return err
		}, "label"},
		{"plan cycle", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: "p", BillingCycle: "weekly"})
			return err
		}, "billingCycle"},
		{"plan multiplier zero", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: "p", PriceMultiplier: admPtr(admDec("0")), IsDefault: true})
			return err
		}, "priceMultiplier"},
		{"plan multiplier negative", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: "p", PriceMultiplier: admPtr(admDec("-1"))})
			return err
		}, "priceMultiplier"},
		{"plan multiplier decimals", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: "p", PriceMultiplier: admPtr(admDec("1.00001"))})
			return err
		}, "priceMultiplier"},
		{"plan delta", func() error {
			_, err := s.CreateSubscriptionPlan(ctx, productID, store.PlanInput{Label: "p", PriceDelta: admPtr(admDec("0.005"))})
			return err
		}, "priceDelta"},
		{"update plan multiplier", func() error {
			_, err := s.UpdateSubscriptionPlan(ctx, plan.ID, store.PlanUpdate{PriceMultiplier: store.SetTo(admDec("0")), IsDefault: admPtr(true)})
			return err
		}, "priceMultiplier"},
		{"update plan cycle", func() error {
			_, err := s.UpdateSubscriptionPlan(ctx, plan.ID, store.PlanUpdate{BillingCycle: admPtr(store.BillingCycle(""))})
			return err
		}, "billingCycle"},
		{"reorder plans of other product", func() error {
			_, err := s.ReorderSubscriptionPlans(ctx, other.ID, []string{plan.ID})
			return err
		}, "ids.0"},
	} {
		admWantErr(t, tc.name, tc.call(), store.CodeBadUserInput, tc.field)
	}
	// Nothing above wrote anything — not even updated_at of the products.
	if after := admSnapshot(t, s); after != before {
		t.Fatalf("database changed:\n%s\n%s", before, after)
	}
}

// ---------------------------------------------------------------------------
// ReplaceConfiguration

func TestAdminReplaceConfiguration(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	p := admCreateProduct(t, s, "rebuilt")

	// The seed's configuration, written through the admin API, reads back
	// the same as the seed writes it.
	spec := store.Seeds["instagram-growth"].Configuration
	d, err := s.ReplaceConfiguration(ctx, p.ID, spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.OptionGroups) != 2 || len(d.Options[d.OptionGroups[0].ID]) != 3 || len(d.Options[d.OptionGroups[1].ID]) != 4 ||
		len(d.AddOns) != 3 || len(d.CustomFields) != 3 || len(d.SubscriptionPlans) != 3 {
		t.Fatalf("replaced: %+v", d)
	}
	if d.OptionGroups[1].Name != "Experiment focus areas" || d.OptionGroups[1].DisplayOrder != 1 ||
		d.Options[d.OptionGroups[0].ID][1].PriceDelta.StringFixed(2) != "450.00" ||
		d.SubscriptionPlans[1].PriceMultiplier.String() != "2.6" || !d.SubscriptionPlans[0].IsDefault {
		t.Fatalf("replaced content: %+v", d)
	}
	// Replacing again with a smaller spec leaves exactly the new one.
	d, err = s.ReplaceConfiguration(ctx, p.ID, store.ConfigurationSpec{
		OptionGroups: []store.OptionGroupSpec{{Name: " Only ", GroupType: "MULTIPLE",
			Options: []store.OptionSpec{{Name: "a"}, {Name: "b", PriceDelta: admDec("1.5")}}}},
	})
	if err != nil || len(d.OptionGroups) != 1 || d.OptionGroups[0].Name != "Only" || d.OptionGroups[0].GroupType != store.GroupMultiple ||
		len(d.AddOns)+len(d.CustomFields)+len(d.SubscriptionPlans) != 0 {
		t.Fatalf("second replace: %v %+v", err, d)
	}
	var options int
	if err := s.DB().GetContext(ctx, &options, `SELECT count(*) FROM product_options`); err != nil || options != 2 {
		t.Fatalf("options left: %d %v", options, err)
	}
	// Empty spec clears.
	d, err = s.ReplaceConfiguration(ctx, p.ID, store.ConfigurationSpec{})
	if err != nil || len(d.OptionGroups) != 0 {
		t.Fatalf("clear: %v %+v", err, d)
	}
	_, err = s.ReplaceConfiguration(ctx, "6f9b0aab-f6fd-4c5b-b56b-943c445fd650", spec)
	admWantErr(t, "unknown product", err, store.CodeNotFound, "")
}

func TestAdminReplaceConfigurationBadInputLeavesOldConfig(t *testing.T) {
	t.Parallel()
	s, productID := seeded(t)
	ctx := context.Background()
	before := admSnapshot(t, s)

	good := func() store.ConfigurationSpec {
		// A deep copy of the seed's spec, so cases can break one value.
		src := store.Seeds["instagram-growth"].Configuration
		out := store.ConfigurationSpec{
			AddOns:            append([]store.AddOnSpec(nil), src.AddOns...),
			CustomFields:      append([]store.CustomFieldSpec(nil), src.CustomFields...),
			SubscriptionPlans: append([]store.PlanSpec(nil), src.SubscriptionPlans...),
		}
		for _, g := range src.OptionGroups {
			g.Options = append([]store.OptionSpec(nil), g.Options...)
			out.OptionGroups = append(out.OptionGroups, g)
		}
		return out
	}
	const c = "configuration."
	for _, tc := range []struct {
		name  string
		mod   func(*store.ConfigurationSpec)
		field string
	}{
		{"group name", func(sp *store.ConfigurationSpec) { sp.OptionGroups[1].Name = "" }, c + "optionGroups.1.name"},
		{"group type", func(sp *store.ConfigurationSpec) { sp.OptionGroups[0].GroupType = "many" }, c + "optionGroups.0.groupType"},
		{"single allows several", func(sp *store.ConfigurationSpec) {
			sp.OptionGroups[0].MetadataJSON = store.JSON(`{"maxSelections": 2}`)
		}, c + "optionGroups.0.groupType"},
		{"option price", func(sp *store.ConfigurationSpec) { sp.OptionGroups[1].Options[0].PriceDelta = admDec("1.001") }, c + "optionGroups.1.options.0.priceDelta"},
		{"option name", func(sp *store.ConfigurationSpec) { sp.OptionGroups[0].Options[2].Name = " " }, c + "optionGroups.0.options.2.name"},
		{"option metadata", func(sp *store.ConfigurationSpec) { sp.OptionGroups[0].Options[1].MetadataJSON = store.JSON(`[]`) }, c + "optionGroups.0.options.1.metadataJson"},
		{"add-on label", func(sp *store.ConfigurationSpec) { sp.AddOns[2].Label = "" }, c + "addOns.2.label"},
		{"field type", func(sp *store.ConfigurationSpec) { sp.CustomFields[1].FieldType = "date" }, c + "customFields.1.fieldType"},
		{"last plan multiplier", func(sp *store.ConfigurationSpec) { sp.SubscriptionPlans[2].PriceMultiplier = admPtr(admDec("0")) }, c + "subscriptionPlans.2.priceMultiplier"},
		{"two defaults", func(sp *store.ConfigurationSpec) { sp.SubscriptionPlans[2].IsDefault = true }, c + "subscriptionPlans.2.isDefault"},
		{"plan label", func(sp *store.ConfigurationSpec) { sp.SubscriptionPlans[1].Label = "" }, c + "subscriptionPlans.1.label"},
		{"too many add-ons", func(sp *store.ConfigurationSpec) {
			for len(sp.AddOns) <= 100 {
				sp.AddOns = append(sp.AddOns, store.AddOnSpec{Label: "x"})
			}
		}, c + "addOns"},
	} {
		sp := good()
		tc.mod(&sp)
		_, err := s.ReplaceConfiguration(ctx, productID, sp)
		admWantErr(t, tc.name, err, store.CodeBadUserInput, tc.field)
	}
	if after := admSnapshot(t, s); after != before {
		t.Fatalf("database changed:\n%s\n%s", before, after)
	}
	// The seed's spec itself is untouched by validation (no shared slices modified).
	if store.Seeds["instagram-growth"].Configuration.SubscriptionPlans[2].IsDefault {
		t.Fatal("validation modified the caller's spec")
	}
}

// TestAdminReplaceConfigurationDatabaseFailure makes the database refuse the
// last plan, after every other row was written: the whole replacement rolls
// back and the old configuration stays.
func TestAdminReplaceConfigurationDatabaseFailure(t *testing.T) {
	t.Parallel()
	s, productID := seeded(t)
	ctx := context.Background()
	if _, err := s.DB().ExecContext(ctx, `
		CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.label = 'boom' THEN
				RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation', CONSTRAINT = 'test_refuse_boom';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_boom BEFORE INSERT ON product_subscription_plans
			FOR EACH ROW EXECUTE FUNCTION refuse_boom();`); err != nil {
		t.Fatal(err)
	}
	before := admSnapshot(t, s)
	spec := store.Seeds["instagram-growth"].Configuration
	spec.SubscriptionPlans = append(append([]store.PlanSpec(nil), spec.SubscriptionPlans...), store.PlanSpec{Label: "boom"})
	_, err := s.ReplaceConfiguration(ctx, productID, spec)
	admWantErr(t, "db failure", err, store.CodeBadUserInput, "configuration.subscriptionPlans.3")
	if after := admSnapshot(t, s); after != before {
		t.Fatalf("database changed:\n%s\n%s", before, after)
	}
}

// TestAdminConcurrentDefaultPlans: admin writes to one product are
// serialised by the product row lock, so concurrent "make me the default"
// creates all succeed and leave exactly one default and distinct positions.
func TestAdminConcurrentDefaultPlans(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	p := admCreateProduct(t, s, "race")
	const n = 12
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := s.CreateSubscriptionPlan(ctx, p.ID, store.PlanInput{Label: "plan", IsDefault: true})
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	d, err := s.ProductDetail(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	defaults, orders := 0, map[int]bool{}
	for _, pl := range d.SubscriptionPlans {
		if pl.IsDefault {
			defaults++
		}
		orders[pl.DisplayOrder] = true
	}
	if len(d.SubscriptionPlans) != n || defaults != 1 || len(orders) != n {
		t.Fatalf("%d plans, %d defaults, %d distinct positions", len(d.SubscriptionPlans), defaults, len(orders))
	}
}
