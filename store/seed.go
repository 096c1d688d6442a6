package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
)

// SeedProduct is a product and its configuration as the seed writes them.
type SeedProduct struct {
	Slug, Title, Description, Category string
	BasePrice                          decimal.Decimal
	Currency                           Currency
	Status                             ProductStatus
	FulfillmentConfig                  JSON
	Configuration                      ConfigurationSpec
}

// Seeds are the products `smplat seed --slug` knows, by slug.
var Seeds = map[string]SeedProduct{"instagram-growth": instagramGrowth()}

// Seed writes a seed product in one transaction: the product is created when
// missing (left as it is when present) and its configuration and
// fulfillment config are replaced, so seeding twice leaves one copy.
// Returns the product id; NOT_FOUND for an unknown slug.
func (s *Store) Seed(ctx context.Context, slug string) (string, error) {
	sp, ok := Seeds[slug]
	if !ok {
		return "", Errorf(CodeNotFound, "slug", "no seed for slug %q", slug)
	}
	return s.SeedProduct(ctx, sp)
}

// SeedProduct writes any seed-shaped product (the benchmark harness and the
// smoke runner seed their own).
func (s *Store) SeedProduct(ctx context.Context, sp SeedProduct) (string, error) {
	var id string
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &id, `INSERT INTO products
			(slug, title, description, category, base_price, currency, status, fulfillment_config)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (slug) DO UPDATE SET fulfillment_config = EXCLUDED.fulfillment_config, updated_at = now()
			RETURNING id`,
			sp.Slug, sp.Title, sp.Description, sp.Category, sp.BasePrice, sp.Currency, sp.Status, sp.FulfillmentConfig)
		if err != nil {
			return mapError(err)
		}
		return replaceConfigurationTx(ctx, tx, id, sp.Configuration)
	})
	if err != nil {
		return "", fmt.Errorf("seed %s: %w", sp.Slug, err)
	}
	return id, nil
}

func ptr[T any](v T) *T { return &v }

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func decp(s string) *decimal.Decimal { return ptr(dec(s)) }

func mustJSON(v any) JSON {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// instagramGrowth is SPEC §11, the reference product.
func instagramGrowth() SeedProduct {
	return SeedProduct{
		Slug:        "instagram-growth",
		Title:       "Instagram Growth Service",
		Description: "Professional Instagram growth and engagement service",
		Category:    "social_media",
		BasePrice:   dec("99.00"),
		Currency:    EUR,
		Status:      ProductActive,
		Configuration: ConfigurationSpec{
			OptionGroups: []OptionGroupSpec{
				{
					Name:        "Campaign tier",
					Description: ptr("Select the tier that best matches your growth targets."),
					GroupType:   GroupSingle, IsRequired: true,
					Options: []OptionSpec{
						{Name: "Essentials (4-week sprint)", PriceDelta: dec("0"),
							Description:  ptr("Best for testing a new niche or validating product positioning."),
							MetadataJSON: JSON(`{"recommended": true}`)},
						{Name: "Scale (8-week program)", PriceDelta: dec("450"),
							Description: ptr("Balanced experiments, live reporting, and advanced automation tuning.")},
						{Name: "Dominance (12-week takeover)", PriceDelta: dec("980"),
							Description: ptr("Aggressive funnel, influencer collaborations, and creative production credits.")},
					},
				},
				{
					Name:        "Experiment focus areas",
					Description: ptr("Choose the levers we emphasize during the campaign (pick as many as applicable)."),
					GroupType:   GroupMultiple, IsRequired: false,
					Options: []OptionSpec{
						{Name: "UGC & reels production", PriceDelta: dec("180")},
						{Name: "Influencer collaborations", PriceDelta: dec("250")},
						{Name: "Paid spike amplification", PriceDelta: dec("320")},
						{Name: "Community management", PriceDelta: dec("160")},
					},
				},
			},
			AddOns: []AddOnSpec{
				{Label: "Creative lab: 10 custom assets", PriceDelta: dec("420"), IsRecommended: true,
					Description: ptr("Carousel, reels, and story templates aligned to campaign narrative.")},
				{Label: "Influencer whitelist management", PriceDelta: dec("560"),
					Description: ptr("We handle outreach, vetting, and briefing for paid collaborations.")},
				{Label: "Executive-ready reporting pack", PriceDelta: dec("190"),
					Description: ptr("Weekly KPI recap deck plus insights you can share with stakeholders.")},
			},
			CustomFields: []CustomFieldSpec{
				{Label: "Instagram handle", FieldType: FieldText, IsRequired: true, Placeholder: ptr("@yourbrand"),
					HelpText: ptr("No password required. We'll request access securely post-purchase.")},
				{Label: "Primary campaign objective", FieldType: FieldText, IsRequired: true,
					Placeholder: ptr("e.g., Launch new product line, grow community")},
				{Label: "Preferred landing page URL", FieldType: FieldURL, IsRequired: false,
					Placeholder: ptr("https://example.com"), HelpText: ptr("Used for call-to-action placements and tracking.")},
			},
			SubscriptionPlans: []PlanSpec{
				{Label: "One-time sprint", BillingCycle: OneTime, IsDefault: true,
					Description: ptr("Single campaign engagement, perfect for launch support.")},
				{Label: "Quarterly partnership", BillingCycle: Quarterly, PriceMultiplier: decp("2.6"), PriceDelta: decp("-150"),
					Description: ptr("Continuous optimization with quarterly strategy intensives.")},
				{Label: "Annual growth retainer", BillingCycle: Annual, PriceMultiplier: decp("9.5"), PriceDelta: decp("-600"),
					Description: ptr("Priority roadmap, dedicated analysts, and VIP support channel.")},
			},
		},
		FulfillmentConfig: mustJSON(map[string]any{"tasks": []any{
			map[string]any{
				"type":                    "analytics_collection",
				"title":                   "Baseline analytics synchronization",
				"description":             "Collect current Instagram metrics before campaign automations kick off.",
				"schedule_offset_minutes": 5,
				"max_retries":             3,
				"payload":                 map[string]any{"playbook": "instagram-baseline-analytics"},
				"execution": map[string]any{
					"kind":   "http",
					"method": "POST",
					"url":    "{{ env.FULFILLMENT_BASE_URL }}/v1/instagram/analytics/sync",
					"headers": map[string]any{
						"Content-Type":   "application/json",
						"Authorization":  "Bearer {{ env.FULFILLMENT_ANALYTICS_TOKEN }}",
						"X-Order-Id":     "{{ order.id }}",
						"X-Order-Number": "{{ order.order_number }}",
					},
					"timeout_seconds":  10,
					"success_statuses": []int{200, 202},
					"body": map[string]any{
						"orderId":         "{{ order.id }}",
						"orderNumber":     "{{ order.order_number }}",
						"productId":       "{{ product.id }}",
						"productSlug":     "{{ product.slug }}",
						"itemId":          "{{ item.id }}",
						"quantity":        "{{ item.quantity }}",
						"selectedOptions": "{{ item.selected_options }}",
						"attributes":      "{{ item.attributes }}",
					},
					"environment_keys": []string{"FULFILLMENT_BASE_URL", "FULFILLMENT_ANALYTICS_TOKEN"},
				},
			},
			map[string]any{
				"type":                    "content_promotion",
				"title":                   "Campaign activation webhook",
				"description":             "Trigger the creative automation pipeline for configured campaign deliverables.",
				"schedule_offset_minutes": 30,
				"max_retries":             5,
				"payload":                 map[string]any{"playbook": "instagram-campaign-activation"},
				"execution": map[string]any{
					"kind":   "http",
					"method": "POST",
					"url":    "{{ env.FULFILLMENT_BASE_URL }}/v1/campaigns/activate",
					"headers": map[string]any{
						"Content-Type":  "application/json",
						"Authorization": "Bearer {{ env.FULFILLMENT_ACTIVATION_TOKEN }}",
					},
					"timeout_seconds":    20,
					"success_status_min": 200,
					"success_status_max": 299,
					"body": map[string]any{
						"campaign": map[string]any{
							"orderId":      "{{ order.id }}",
							"orderNumber":  "{{ order.order_number }}",
							"productTitle": "{{ product.title }}",
							"currency":     "{{ order.currency }}",
							"total":        "{{ order.total }}",
							"unitPrice":    "{{ item.unit_price }}",
							"quantity":     "{{ item.quantity }}",
						},
						"customer": map[string]any{"userId": "{{ order.user_id }}"},
						"metadata": map[string]any{
							"notes":           "{{ order.notes }}",
							"selectedOptions": "{{ item.selected_options }}",
							"attributes":      "{{ item.attributes }}",
						},
					},
					"environment_keys": []string{"FULFILLMENT_BASE_URL", "FULFILLMENT_ACTIVATION_TOKEN"},
				},
			},
		}}),
	}
}
