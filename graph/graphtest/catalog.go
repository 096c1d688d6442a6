package graphtest

import (
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
)

// ProductFields selects a product's whole configuration: every field of the
// storefront's product page (the W1/W2 workloads of make bench).
const ProductFields = `id slug title description category basePrice currency status createdAt updatedAt
optionGroups { id name description groupType isRequired displayOrder metadataJson
options { id name label description priceDelta metadataJson displayOrder } }
addOns { id label description priceDelta isRecommended displayOrder }
customFields { id label fieldType placeholder helpText isRequired displayOrder }
subscriptionPlans { id label description billingCycle priceMultiplier priceDelta isDefault displayOrder }`

// CatalogSlugPrefix starts the slug of every CatalogProduct, so the harness
// can tell them from any other product in a database it was pointed at.
const CatalogSlugPrefix = "bench-"

// CatalogProduct is product i of the benchmark catalog (make bench and the
// Go benchmarks), shaped like the seed
// product but regular: 3 option groups × 4 options, 3 add-ons, 2 custom
// fields (one required) and 3 plans. Seven in ten are active; the rest are
// draft or archived.
func CatalogProduct(i int) store.SeedProduct {
	status := store.ProductActive
	switch i % 10 {
	case 7, 8:
		status = store.ProductDraft
	case 9:
		status = store.ProductArchived
	}
	s := func(format string, a ...any) *string { v := fmt.Sprintf(format, a...); return &v }
	d := func(v string) decimal.Decimal { return decimal.RequireFromString(v) }
	dp := func(v string) *decimal.Decimal { x := d(v); return &x }
	groups := []store.OptionGroupSpec{
		{Name: "Campaign tier", GroupType: store.GroupSingle, IsRequired: true,
			Description:  s("Select the tier that best matches your growth targets for product %d.", i),
			MetadataJSON: store.JSON(`{"layout": "cards"}`)},
		{Name: "Experiment focus areas", GroupType: store.GroupMultiple,
			Description: s("Choose the levers we emphasize during the campaign (pick as many as applicable).")},
		{Name: "Reporting cadence", GroupType: store.GroupSingle,
			Description: s("How often you want a written report and a call with your strategist.")},
	}
	names := [][]string{
		{"Essentials (4-week sprint)", "Scale (8-week program)", "Dominance (12-week takeover)", "Enterprise (custom)"},
		{"UGC & reels production", "Influencer collaborations", "Paid spike amplification", "Community management"},
		{"Monthly summary", "Bi-weekly review", "Weekly deep dive", "Daily dashboard"},
	}
	for g := range groups {
		for o, name := range names[g] {
			opt := store.OptionSpec{
				Name:        name,
				PriceDelta:  decimal.NewFromInt(int64(o*150 + g*20)),
				Description: s("%s — balanced experiments, live reporting and automation tuning (option %d.%d).", name, g+1, o+1),
			}
			if o == 0 {
				opt.MetadataJSON = store.JSON(`{"recommended": true}`)
			}
			groups[g].Options = append(groups[g].Options, opt)
		}
	}
	return store.SeedProduct{
		Slug:        fmt.Sprintf("%sproduct-%03d", CatalogSlugPrefix, i),
		Title:       fmt.Sprintf("Growth Service %03d", i),
		Description: fmt.Sprintf("Professional growth and engagement service number %d, with campaign strategy, creative production and weekly reporting.", i),
		Category:    []string{"social_media", "seo", "content"}[i%3],
		BasePrice:   d(fmt.Sprintf("%d.00", 49+i%50)),
		Currency:    store.EUR,
		Status:      status,
		Configuration: store.ConfigurationSpec{
			OptionGroups: groups,
			AddOns: []store.AddOnSpec{
				{Label: "Creative lab: 10 custom assets", PriceDelta: d("420"), IsRecommended: true,
					Description: s("Carousel, reels, and story templates aligned to campaign narrative.")},
				{Label: "Influencer whitelist management", PriceDelta: d("560"),
					Description: s("We handle outreach, vetting, and briefing for paid collaborations.")},
				{Label: "Executive-ready reporting pack", PriceDelta: d("190"),
					Description: s("Weekly KPI recap deck plus insights you can share with stakeholders.")},
			},
			CustomFields: []store.CustomFieldSpec{
				{Label: "Account handle", FieldType: store.FieldText, IsRequired: true, Placeholder: s("@yourbrand"),
					HelpText: s("No password required. We'll request access securely post-purchase.")},
				{Label: "Landing page URL", FieldType: store.FieldURL, Placeholder: s("https://example.com"),
					HelpText: s("Used for call-to-action placements and tracking.")},
			},
			SubscriptionPlans: []store.PlanSpec{
				{Label: "One-time sprint", BillingCycle: store.OneTime, IsDefault: true,
					Description: s("Single campaign engagement, perfect for launch support.")},
				{Label: "Quarterly partnership", BillingCycle: store.Quarterly, PriceMultiplier: dp("2.6"), PriceDelta: dp("-150"),
					Description: s("Continuous optimization with quarterly strategy intensives.")},
				{Label: "Annual growth retainer", BillingCycle: store.Annual, PriceMultiplier: dp("9.5"), PriceDelta: dp("-600"),
					Description: s("Priority roadmap, dedicated analysts, and VIP support channel.")},
			},
		},
	}
}
