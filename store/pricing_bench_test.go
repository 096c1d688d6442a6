package store_test

import (
	"context"
	"testing"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// BenchmarkPrice prices a full configuration of the seed product
// (instagram-growth): an option of the single group, two of the multiple
// one, an add-on, a non-default plan, the required custom fields.
func BenchmarkPrice(b *testing.B) {
	ctx := context.Background()
	st := storetest.NewStore(b)
	if _, err := st.Seed(ctx, "instagram-growth"); err != nil {
		b.Fatal(err)
	}
	p, err := st.ProductDetailBySlug(ctx, "instagram-growth")
	if err != nil {
		b.Fatal(err)
	}
	groups := p.OptionGroups
	cfg := store.Configuration{
		OptionIDs:          []string{p.Options[groups[0].ID][1].ID, p.Options[groups[1].ID][0].ID, p.Options[groups[1].ID][2].ID},
		AddOnIDs:           []string{p.AddOns[0].ID},
		SubscriptionPlanID: &p.SubscriptionPlans[1].ID,
	}
	for _, f := range p.CustomFields {
		cfg.CustomFields = append(cfg.CustomFields, store.CustomFieldValue{FieldID: f.ID, Value: "https://example.com/brand"})
	}
	if _, err := store.Price(p, cfg, 2, ""); err != nil {
		b.Fatal(err)
	}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.Price(p, cfg, 2, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("defaults", func(b *testing.B) { // nothing chosen: defaults applied
		b.ReportAllocs()
		for b.Loop() {
			if _, err := store.PricePreview(p, store.Configuration{}, 1, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
