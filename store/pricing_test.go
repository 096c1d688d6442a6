package store_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
)

func decOf(s string) decimal.Decimal { return decimal.RequireFromString(s) }
func decRef(s string) *decimal.Decimal {
	d := decOf(s)
	return &d
}
func strRef(s string) *string { return &s }

// seedDetail is the instagram-growth product of SPEC §11, built in memory
// with readable ids.
func seedDetail() *store.ProductDetail {
	d := &store.ProductDetail{
		Product: store.Product{
			ID: "prod", Slug: "instagram-growth", Title: "Instagram Growth Service",
			Category: "social_media", BasePrice: decOf("99.00"), Currency: store.EUR, Status: store.ProductActive,
		},
		OptionGroups: []store.OptionGroup{
			{ID: "tier", Name: "Campaign tier", GroupType: store.GroupSingle, IsRequired: true, DisplayOrder: 0},
			{ID: "focus", Name: "Experiment focus areas", GroupType: store.GroupMultiple, DisplayOrder: 1},
		},
		Options: map[string][]store.ProductOption{
			"tier": {
				{ID: "essentials", GroupID: "tier", Name: "Essentials (4-week sprint)", PriceDelta: decOf("0"),
					MetadataJSON: store.JSON(`{"recommended": true}`)},
				{ID: "scale", GroupID: "tier", Name: "Scale (8-week program)", PriceDelta: decOf("450.00"), DisplayOrder: 1},
				{ID: "dominance", GroupID: "tier", Name: "Dominance (12-week takeover)", PriceDelta: decOf("980.00"), DisplayOrder: 2},
			},
			"focus": {
				{ID: "ugc", GroupID: "focus", Name: "UGC & reels production", PriceDelta: decOf("180.00")},
				{ID: "influencer", GroupID: "focus", Name: "Influencer collaborations", PriceDelta: decOf("250.00"), DisplayOrder: 1},
				{ID: "paid", GroupID: "focus", Name: "Paid spike amplification", PriceDelta: decOf("320.00"), DisplayOrder: 2},
				{ID: "community", GroupID: "focus", Name: "Community management", PriceDelta: decOf("160.00"), DisplayOrder: 3},
			},
		},
		AddOns: []store.AddOn{
			{ID: "creative", Label: "Creative lab: 10 custom assets", PriceDelta: decOf("420.00"), IsRecommended: true},
			{ID: "whitelist", Label: "Influencer whitelist management", PriceDelta: decOf("560.00"), DisplayOrder: 1},
			{ID: "reporting", Label: "Executive-ready reporting pack", PriceDelta: decOf("190.00"), DisplayOrder: 2},
		},
		CustomFields: []store.CustomField{
			{ID: "handle", Label: "Instagram handle", FieldType: store.FieldText, IsRequired: true},
			{ID: "objective", Label: "Primary campaign objective", FieldType: store.FieldText, IsRequired: true, DisplayOrder: 1},
			{ID: "landing", Label: "Preferred landing page URL", FieldType: store.FieldURL, DisplayOrder: 2},
		},
		SubscriptionPlans: []store.SubscriptionPlan{
			{ID: "one-time", Label: "One-time sprint", BillingCycle: store.OneTime, IsDefault: true},
			{ID: "quarterly", Label: "Quarterly partnership", BillingCycle: store.Quarterly,
				PriceMultiplier: decRef("2.6"), PriceDelta: decRef("-150.00"), DisplayOrder: 1},
			{ID: "annual", Label: "Annual growth retainer", BillingCycle: store.Annual,
				PriceMultiplier: decRef("9.5"), PriceDelta: decRef("-600.00"), DisplayOrder: 2},
		},
	}
	return d
}

// filled are valid values for the seed's required custom fields.
var filled = []store.CustomFieldValue{
	{FieldID: "handle", Value: "@brand"},
	{FieldID: "objective", Value: "Launch"},
}

func TestPriceSeedConfigurations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       store.Configuration
		qty       int
		unit      string
		total     string
		subtotal  string
		defaults  []string // kind:id
		options   []string
		plan      string
		precision bool
	}{
		{
			name: "defaults only", cfg: store.Configuration{CustomFields: filled}, qty: 1,
			unit: "99.00", total: "99.00", subtotal: "99.00",
			defaults: []string{"option:essentials", "plan:one-time"}, options: []string{"essentials"}, plan: "one-time",
		},
		{
			name: "scale + quarterly", qty: 1,
			cfg: store.Configuration{OptionIDs: []string{"scale"}, SubscriptionPlanID: strRef("quarterly"), CustomFields: filled},
			// (99 + 450) × 2.6 − 150
			unit: "1277.40", total: "1277.40", subtotal: "549.00", options: []string{"scale"}, plan: "quarterly",
		},
		{
			name: "scale + quarterly × 3", qty: 3,
			cfg:  store.Configuration{OptionIDs: []string{"scale"}, SubscriptionPlanID: strRef("quarterly"), CustomFields: filled},
			unit: "1277.40", total: "3832.20", subtotal: "549.00", options: []string{"scale"}, plan: "quarterly",
		},
		{
			name: "dominance + every focus area + every add-on + annual", qty: 1,
			cfg: store.Configuration{
				// given out of display order: the breakdown is in display order
				OptionIDs:          []string{"community", "dominance", "ugc", "influencer", "paid"},
				AddOnIDs:           []string{"reporting", "creative", "whitelist"},
				SubscriptionPlanID: strRef("annual"),
				CustomFields:       append([]store.CustomFieldValue{{FieldID: "landing", Value: "https://example.com/x"}}, filled...),
			},
			// 99 + 980 + (180+250+320+160) + (420+560+190) = 3159; × 9.5 = 30010.5; − 600 = 29410.50
			unit: "29410.50", total: "29410.50", subtotal: "3159.00",
			options: []string{"dominance", "ugc", "influencer", "paid", "community"}, plan: "annual",
		},
		{
			name: "explicit one-time plan reports no default", qty: 2,
			cfg:  store.Configuration{OptionIDs: []string{"essentials"}, SubscriptionPlanID: strRef("one-time"), CustomFields: filled},
			unit: "99.00", total: "198.00", subtotal: "99.00", options: []string{"essentials"}, plan: "one-time",
		},
		{
			name: "focus areas only, tier defaulted", qty: 1,
			cfg:  store.Configuration{OptionIDs: []string{"ugc"}, CustomFields: filled},
			unit: "279.00", total: "279.00", subtotal: "279.00",
			defaults: []string{"option:essentials", "plan:one-time"}, options: []string{"essentials", "ugc"}, plan: "one-time",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := store.Price(seedDetail(), tt.cfg, tt.qty, "")
			if err != nil {
				t.Fatal(err)
			}
			if !q.UnitPrice.Equal(decOf(tt.unit)) || q.UnitPrice.StringFixed(2) != tt.unit {
				t.Errorf("unit = %s, want %s", q.UnitPrice, tt.unit)
			}
			if !q.Total.Equal(decOf(tt.total)) {
				t.Errorf("total = %s, want %s", q.Total, tt.total)
			}
			if !q.Breakdown.Subtotal.Equal(decOf(tt.subtotal)) {
				t.Errorf("subtotal = %s, want %s", q.Breakdown.Subtotal, tt.subtotal)
			}
			var defaults []string
			for _, d := range q.DefaultsApplied {
				defaults = append(defaults, d.Kind+":"+d.ID)
			}
			if strings.Join(defaults, ",") != strings.Join(tt.defaults, ",") {
				t.Errorf("defaults = %v, want %v", defaults, tt.defaults)
			}
			var opts []string
			for _, o := range q.Breakdown.Options {
				opts = append(opts, o.OptionID)
			}
			if strings.Join(opts, ",") != strings.Join(tt.options, ",") {
				t.Errorf("options = %v, want %v", opts, tt.options)
			}
			if q.Breakdown.Plan == nil || q.Breakdown.Plan.ID != tt.plan {
				t.Errorf("plan = %+v, want %s", q.Breakdown.Plan, tt.plan)
			}
			if q.Currency != store.EUR || q.ProductSlug != "instagram-growth" || q.Quantity != tt.qty {
				t.Errorf("quote header = %+v", q)
			}
		})
	}
}

func TestPriceBreakdownAndSnapshotJSON(t *testing.T) {
	t.Parallel()
	q, err := store.Price(seedDetail(), store.Configuration{
		OptionIDs: []string{"scale", "paid"}, AddOnIDs: []string{"creative"},
		CustomFields: append(filled, store.CustomFieldValue{FieldID: "landing", Value: "  http://shop.example  "}),
	}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
	b := q.Breakdown
	if !b.BasePrice.Equal(decOf("99")) || len(b.Options) != 2 || b.Options[0].GroupName != "Campaign tier" ||
		!b.Options[1].PriceDelta.Equal(decOf("320")) || len(b.AddOns) != 1 || b.AddOns[0].Label != "Creative lab: 10 custom assets" {
		t.Fatalf("breakdown = %+v", b)
	}
	if len(q.CustomFields) != 3 || q.CustomFields[2].Value != "http://shop.example" || q.CustomFields[0].Label != "Instagram handle" {
		t.Fatalf("custom fields = %+v", q.CustomFields)
	}
	// 99 + 450 + 320 + 420 = 1289
	if !q.UnitPrice.Equal(decOf("1289")) {
		t.Fatalf("unit = %s", q.UnitPrice)
	}
	raw, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"unitPrice":`, `"breakdown":`, `"defaultsApplied":[{"kind":"plan"`, `"groupId":"tier"`, `"billingCycle":"one_time"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("snapshot JSON lacks %s: %s", key, raw)
		}
	}
	var back store.Quote
	if err := json.Unmarshal(raw, &back); err != nil || !back.Total.Equal(q.Total) {
		t.Fatalf("snapshot does not round-trip: %v %+v", err, back)
	}
}

func TestPriceRoundsHalfUp(t *testing.T) {
	t.Parallel()
	d := &store.ProductDetail{
		Product: store.Product{ID: "p", Slug: "p", BasePrice: decOf("10.03"), Currency: store.USD},
		SubscriptionPlans: []store.SubscriptionPlan{
			{ID: "x", Label: "x1.5", PriceMultiplier: decRef("1.5")},
		},
	}
	// 10.03 × 1.5 = 15.045: half-up gives 15.05 (banker's rounding would give 15.04).
	q, err := store.Price(d, store.Configuration{}, 7, "")
	if err != nil {
		t.Fatal(err)
	}
	if q.UnitPrice.StringFixed(2) != "15.05" || q.Total.StringFixed(2) != "105.35" {
		t.Fatalf("unit %s total %s, want 15.05 and 105.35", q.UnitPrice, q.Total)
	}
	if len(q.DefaultsApplied) != 1 || q.DefaultsApplied[0].Kind != store.DefaultKindPlan {
		t.Fatalf("first plan should be applied as default: %+v", q.DefaultsApplied)
	}
	// A product without plans or groups is just its base price.
	d.SubscriptionPlans = nil
	q, err = store.Price(d, store.Configuration{}, 1, "")
	if err != nil || q.UnitPrice.StringFixed(2) != "10.03" || q.Breakdown.Plan != nil || len(q.DefaultsApplied) != 0 {
		t.Fatalf("got %+v, %v", q, err)
	}
}

func TestPriceErrors(t *testing.T) {
	t.Parallel()
	negative := func() *store.ProductDetail {
		d := seedDetail()
		d.AddOns = append(d.AddOns, store.AddOn{ID: "rebate", Label: "Rebate", PriceDelta: decOf("-200.00")})
		return d
	}
	requiredMulti := func() *store.ProductDetail {
		d := seedDetail()
		d.OptionGroups[1].IsRequired = true
		return d
	}
	numberField := func() *store.ProductDetail {
		d := seedDetail()
		d.CustomFields = append(d.CustomFields, store.CustomField{ID: "budget", Label: "Budget", FieldType: store.FieldNumber})
		return d
	}
	with := func(extra ...store.CustomFieldValue) []store.CustomFieldValue {
		return append(append([]store.CustomFieldValue{}, filled...), extra...)
	}
	tests := []struct {
		name    string
		detail  func() *store.ProductDetail
		cfg     store.Configuration
		qty     int
		prefix  string
		field   string
		message string
	}{
		{name: "quantity zero", cfg: store.Configuration{CustomFields: filled}, qty: 0, field: "quantity"},
		{name: "quantity too large", cfg: store.Configuration{CustomFields: filled}, qty: store.MaxQuantity + 1, field: "quantity"},
		{name: "quantity with prefix", cfg: store.Configuration{CustomFields: filled}, qty: -1, prefix: "input.items.3", field: "input.items.3.quantity"},
		{name: "unknown option", cfg: store.Configuration{OptionIDs: []string{"scale", "nope"}, CustomFields: filled}, field: "configuration.optionIds.1"},
		{name: "option of prefixed item", prefix: "input.items.0", cfg: store.Configuration{OptionIDs: []string{"nope"}, CustomFields: filled}, field: "input.items.0.configuration.optionIds.0"},
		{name: "duplicate option", cfg: store.Configuration{OptionIDs: []string{"ugc", "ugc"}, CustomFields: filled}, field: "configuration.optionIds.1"},
		{name: "two options of a single group", cfg: store.Configuration{OptionIDs: []string{"scale", "ugc", "dominance"}, CustomFields: filled}, field: "configuration.optionIds.2", message: "at most one"},
		{name: "required multiple group empty", detail: requiredMulti, cfg: store.Configuration{OptionIDs: []string{"scale"}, CustomFields: filled}, field: "configuration.optionIds", message: "at least one"},
		{name: "unknown add-on", cfg: store.Configuration{AddOnIDs: []string{"creative", "scale"}, CustomFields: filled}, field: "configuration.addOnIds.1"},
		{name: "duplicate add-on", cfg: store.Configuration{AddOnIDs: []string{"creative", "creative"}, CustomFields: filled}, field: "configuration.addOnIds.1"},
		{name: "unknown plan", cfg: store.Configuration{SubscriptionPlanID: strRef("weekly"), CustomFields: filled}, field: "configuration.subscriptionPlanId"},
		{name: "required field missing", cfg: store.Configuration{CustomFields: filled[:1]}, field: "configuration.customFields", message: "Primary campaign objective is required"},
		{name: "required field blank", cfg: store.Configuration{CustomFields: []store.CustomFieldValue{{FieldID: "handle", Value: "  "}, filled[1]}}, field: "configuration.customFields.0.value"},
		{name: "unknown field", cfg: store.Configuration{CustomFields: with(store.CustomFieldValue{FieldID: "shoe-size", Value: "42"})}, field: "configuration.customFields.2.fieldId"},
		{name: "duplicate field", cfg: store.Configuration{CustomFields: with(filled[0])}, field: "configuration.customFields.2.fieldId"},
		{name: "relative url", cfg: store.Configuration{CustomFields: with(store.CustomFieldValue{FieldID: "landing", Value: "example.com"})}, field: "configuration.customFields.2.value"},
		{name: "ftp url", cfg: store.Configuration{CustomFields: with(store.CustomFieldValue{FieldID: "landing", Value: "ftp://example.com"})}, field: "configuration.customFields.2.value"},
		{name: "javascript url", cfg: store.Configuration{CustomFields: with(store.CustomFieldValue{FieldID: "landing", Value: "javascript:alert(1)"})}, field: "configuration.customFields.2.value"},
		{name: "bad number", detail: numberField, cfg: store.Configuration{CustomFields: with(store.CustomFieldValue{FieldID: "budget", Value: "12 euros"})}, field: "configuration.customFields.2.value"},
		{name: "negative unit price", detail: negative, cfg: store.Configuration{AddOnIDs: []string{"rebate"}, CustomFields: filled}, field: "configuration", message: "below zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := seedDetail()
			if tt.detail != nil {
				d = tt.detail()
			}
			qty := tt.qty
			if qty == 0 && !strings.HasPrefix(tt.name, "quantity") {
				qty = 1
			}
			q, err := store.Price(d, tt.cfg, qty, tt.prefix)
			e, ok := store.AsError(err)
			if !ok || e.Code != store.CodeBadUserInput || e.Field != tt.field {
				t.Fatalf("got %+v, %v; want BAD_USER_INPUT on %s", q, err, tt.field)
			}
			if tt.message != "" && !strings.Contains(e.Message, tt.message) {
				t.Errorf("message %q lacks %q", e.Message, tt.message)
			}
		})
	}
}

func TestPriceValidValues(t *testing.T) {
	t.Parallel()
	d := seedDetail()
	d.CustomFields = append(d.CustomFields, store.CustomField{ID: "budget", Label: "Budget", FieldType: store.FieldNumber})
	for _, v := range []string{"12", "-3.5", "1e3", " 42 "} {
		_, err := store.Price(d, store.Configuration{CustomFields: append([]store.CustomFieldValue{{FieldID: "budget", Value: v}}, filled...)}, 1, "")
		if err != nil {
			t.Errorf("number %q: %v", v, err)
		}
	}
	// Optional fields may be blank whatever their type.
	_, err := store.Price(d, store.Configuration{CustomFields: append([]store.CustomFieldValue{{FieldID: "landing", Value: ""}, {FieldID: "budget", Value: " "}}, filled...)}, 1, "")
	if err != nil {
		t.Fatal(err)
	}
}

func TestPricePreviewAllowsMissingRequiredFields(t *testing.T) {
	t.Parallel()
	q, err := store.PricePreview(seedDetail(), store.Configuration{OptionIDs: []string{"scale"}, SubscriptionPlanID: strRef("quarterly")}, 1, "")
	if err != nil || q.UnitPrice.StringFixed(2) != "1277.40" {
		t.Fatalf("preview: %+v %v", q, err)
	}
	// but still validates the values given
	_, err = store.PricePreview(seedDetail(), store.Configuration{CustomFields: []store.CustomFieldValue{{FieldID: "landing", Value: "nope"}}}, 1, "")
	if e, ok := store.AsError(err); !ok || e.Field != "configuration.customFields.0.value" {
		t.Fatalf("preview accepted a bad url: %v", err)
	}
	if _, err := store.Price(seedDetail(), store.Configuration{}, 1, ""); err == nil {
		t.Fatal("Price must require required fields")
	}
}
