package store_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

func seeded(t *testing.T) (*store.Store, string) {
	t.Helper()
	s := storetest.NewStore(t)
	id, err := s.Seed(context.Background(), "instagram-growth")
	if err != nil {
		t.Fatal(err)
	}
	return s, id
}

func TestFindProductNotFound(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	for name, find := range map[string]func() error{
		"slug":       func() error { _, err := s.FindProductBySlug(ctx, "nope"); return err },
		"id":         func() error { _, err := s.FindProduct(ctx, "6f9b0aab-f6fd-4c5b-b56b-943c445fd650"); return err },
		"invalid id": func() error { _, err := s.FindProduct(ctx, "not-a-uuid"); return err },
		"detail":     func() error { _, err := s.ProductDetailBySlug(ctx, "nope"); return err },
	} {
		e, ok := store.AsError(find())
		if !ok || e.Code != store.CodeNotFound || e.Message != "Product not found" {
			t.Errorf("%s: got %v, want NOT_FOUND", name, e)
		}
	}
}

func TestSeedIsIdempotentAndComplete(t *testing.T) {
	t.Parallel()
	s, id := seeded(t)
	ctx := context.Background()
	id2, err := s.Seed(ctx, "instagram-growth")
	if err != nil || id2 != id {
		t.Fatalf("second seed: %v, id %s vs %s", err, id2, id)
	}
	d, err := s.ProductDetailBySlug(ctx, "instagram-growth")
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != id || d.Title != "Instagram Growth Service" || d.BasePrice.StringFixed(2) != "99.00" || d.Status != store.ProductActive {
		t.Fatalf("product: %+v", d.Product)
	}
	if len(d.OptionGroups) != 2 || len(d.AddOns) != 3 || len(d.CustomFields) != 3 || len(d.SubscriptionPlans) != 3 {
		t.Fatalf("counts: %d groups, %d add-ons, %d fields, %d plans",
			len(d.OptionGroups), len(d.AddOns), len(d.CustomFields), len(d.SubscriptionPlans))
	}
	wantOptions := [][]string{
		{"Essentials (4-week sprint)", "Scale (8-week program)", "Dominance (12-week takeover)"},
		{"UGC & reels production", "Influencer collaborations", "Paid spike amplification", "Community management"},
	}
	for gi, g := range d.OptionGroups {
		if g.DisplayOrder != gi {
			t.Errorf("group %d display order %d", gi, g.DisplayOrder)
		}
		opts := d.Options[g.ID]
		if len(opts) != len(wantOptions[gi]) {
			t.Fatalf("group %s: %d options", g.Name, len(opts))
		}
		for oi, o := range opts {
			if o.Name != wantOptions[gi][oi] || o.DisplayOrder != oi {
				t.Errorf("group %d option %d: %s (order %d)", gi, oi, o.Name, o.DisplayOrder)
			}
		}
	}
	if !d.Options[d.OptionGroups[0].ID][0].Recommended() || d.Options[d.OptionGroups[0].ID][1].Recommended() {
		t.Error("Essentials should be the only recommended option")
	}
	plans := d.SubscriptionPlans
	if !plans[0].IsDefault || plans[1].PriceMultiplier.String() != "2.6" || plans[2].PriceDelta.String() != "-600" {
		t.Errorf("plans: %+v", plans)
	}
	for _, table := range []string{"products", "product_option_groups", "product_options", "product_add_ons",
		"product_custom_fields", "product_subscription_plans"} {
		var n int
		if err := s.DB().Get(&n, "SELECT count(*) FROM "+table); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"products": 1, "product_option_groups": 2, "product_options": 7, "product_add_ons": 3,
			"product_custom_fields": 3, "product_subscription_plans": 3}[table]
		if n != want {
			t.Errorf("%s: %d rows after seeding twice, want %d", table, n, want)
		}
	}
}

func TestBatchedReadersKeepDisplayOrder(t *testing.T) {
	t.Parallel()
	s, id := seeded(t)
	ctx := context.Background()
	// Reverse the add-ons' display order; readers must follow it.
	if _, err := s.DB().Exec(`UPDATE product_add_ons SET display_order = 10 - display_order`); err != nil {
		t.Fatal(err)
	}
	addOns, err := s.AddOnsByProduct(ctx, []string{id, "not-a-uuid"})
	if err != nil {
		t.Fatal(err)
	}
	got := addOns[id]
	if len(got) != 3 || got[0].Label != "Executive-ready reporting pack" || got[2].Label != "Creative lab: 10 custom assets" {
		t.Fatalf("add-ons out of display order: %+v", got)
	}
	groups, err := s.OptionGroupsByProduct(ctx, []string{id})
	if err != nil || len(groups[id]) != 2 {
		t.Fatalf("groups: %v %v", groups, err)
	}
	opts, err := s.OptionsByGroup(ctx, []string{groups[id][0].ID, groups[id][1].ID})
	if err != nil || len(opts[groups[id][0].ID]) != 3 || len(opts[groups[id][1].ID]) != 4 {
		t.Fatalf("options: %v %v", opts, err)
	}
	fields, err := s.CustomFieldsByProduct(ctx, []string{id})
	if err != nil || fields[id][0].Label != "Instagram handle" || fields[id][2].FieldType != store.FieldURL {
		t.Fatalf("fields: %+v %v", fields[id], err)
	}
	plans, err := s.PlansByProduct(ctx, []string{id})
	if err != nil || plans[id][0].Label != "One-time sprint" {
		t.Fatalf("plans: %+v %v", plans[id], err)
	}
}

func TestFindProductsFiltersAndPages(t *testing.T) {
	t.Parallel()
	s, _ := seeded(t)
	ctx := context.Background()
	for i, st := range []string{"draft", "active", "archived", "active"} {
		if _, err := s.DB().Exec(`INSERT INTO products (slug, title, category, base_price, status, created_at)
			VALUES ($1, $2, $3, 10, $4, now() + make_interval(secs => $5))`,
			"p-"+st+string(rune('a'+i)), "Product "+st, "tiktok", st, i+1); err != nil {
			t.Fatal(err)
		}
	}
	active := store.ProductActive
	page, err := s.FindProducts(ctx, store.ProductFilter{Status: &active}, 2, nil)
	if err != nil || len(page.Products) != 2 || !page.HasNextPage {
		t.Fatalf("first page: %+v %v", page, err)
	}
	last := page.Products[1]
	page2, err := s.FindProducts(ctx, store.ProductFilter{Status: &active}, 2, &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID})
	if err != nil || len(page2.Products) != 1 || page2.HasNextPage {
		t.Fatalf("second page: %+v %v", page2, err)
	}
	search := "INSTAGRAM"
	page, err = s.FindProducts(ctx, store.ProductFilter{Search: &search}, 10, nil)
	if err != nil || len(page.Products) != 1 || page.Products[0].Slug != "instagram-growth" {
		t.Fatalf("search: %+v %v", page, err)
	}
	pct := "%"
	page, err = s.FindProducts(ctx, store.ProductFilter{Search: &pct}, 10, nil)
	if err != nil || len(page.Products) != 0 {
		t.Fatalf("a %% search must match literally: %+v %v", page, err)
	}
	cat := "tiktok"
	n, err := s.CountProducts(ctx, store.ProductFilter{Category: &cat})
	if err != nil || n != 4 {
		t.Fatalf("count: %d %v", n, err)
	}
	c := store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	back, err := store.DecodeCursor("after", c.Encode())
	if err != nil || back.ID != c.ID || !back.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("cursor round trip: %+v %v", back, err)
	}
	if _, err := store.DecodeCursor("after", "garbage!"); err == nil {
		t.Fatal("garbage cursor accepted")
	}
}

// TestConfigurationsMatchTheReaders: the one-statement read returns what the
// per-level readers return, for every list, and only the lists asked for.
func TestConfigurationsMatchTheReaders(t *testing.T) {
	t.Parallel()
	s, id := seeded(t)
	ctx := context.Background()
	other, err := s.SeedProduct(ctx, store.SeedProduct{Slug: "bare", Title: "Bare", Category: "c",
		BasePrice: store.Seeds["instagram-growth"].BasePrice, Currency: store.USD, Status: store.ProductDraft})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{id, other}
	all := store.ConfigurationLists{Groups: true, Options: true, AddOns: true, CustomFields: true, Plans: true}
	c, err := s.Configurations(ctx, ids, all)
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := s.OptionGroupsByProduct(ctx, ids)
	addOns, _ := s.AddOnsByProduct(ctx, ids)
	fields, _ := s.CustomFieldsByProduct(ctx, ids)
	plans, _ := s.PlansByProduct(ctx, ids)
	var groupIDs []string
	for _, g := range groups[id] {
		groupIDs = append(groupIDs, g.ID)
	}
	options, _ := s.OptionsByGroup(ctx, groupIDs)
	same := func(name string, a, b any) {
		t.Helper()
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s differ:\n%+v\n%+v", name, a, b)
		}
	}
	same("groups", c.Groups[id], groups[id])
	same("add-ons", c.AddOns[id], addOns[id])
	same("fields", c.Fields[id], fields[id])
	same("plans", c.Plans[id], plans[id])
	for _, g := range groupIDs {
		same("options", c.Options[g], options[g])
	}
	if len(c.Groups[other]) != 0 || len(c.Plans[other]) != 0 {
		t.Errorf("the bare product has no configuration: %+v", c)
	}
	only, err := s.Configurations(ctx, ids, store.ConfigurationLists{Plans: true})
	if err != nil || len(only.Plans[id]) != 3 || len(only.Groups) != 0 || len(only.AddOns) != 0 {
		t.Fatalf("plans only: %+v %v", only, err)
	}
}

func TestOpenUsesGenericPlans(t *testing.T) {
	t.Parallel()
	db, err := store.Open(context.Background(), storetest.URL(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.Get(&mode, `SHOW plan_cache_mode`); err != nil || mode != "force_generic_plan" {
		t.Fatalf("plan_cache_mode = %q (%v)", mode, err)
	}
}
