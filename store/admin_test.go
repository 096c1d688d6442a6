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
