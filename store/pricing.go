package store

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// Pricing (SPEC §4) is a set of pure functions over a ProductDetail: the
// configurator's preview (quote) and the order (createOrder) call the same
// Price, so they agree to the cent. Nothing here touches the database.

// MaxQuantity caps the quantity of one line. It is a sanity bound, not a
// business rule: it keeps a typo (or an attacker) from creating a line whose
// total overflows numeric(12,2).
const MaxQuantity = 10000

// CustomFieldValue is the buyer's value for one custom field.
type CustomFieldValue struct {
	FieldID string `json:"fieldId"`
	Value   string `json:"value"`
}

// Configuration is what the buyer chose for one product. Nil or empty lists
// select nothing; a nil plan selects the product's default plan.
type Configuration struct {
	OptionIDs          []string           `json:"optionIds"`
	AddOnIDs           []string           `json:"addOnIds"`
	SubscriptionPlanID *string            `json:"subscriptionPlanId"`
	CustomFields       []CustomFieldValue `json:"customFields"`
}

// Quote is the server's price of one configuration of one product, with
// every component. It is also the priced snapshot stored on an order item
// (order_items.configuration), hence the JSON tags.
type Quote struct {
	ProductID       string             `json:"productId"`
	ProductSlug     string             `json:"productSlug"`
	ProductTitle    string             `json:"productTitle"`
	Currency        Currency           `json:"currency"`
	Quantity        int                `json:"quantity"`
	UnitPrice       decimal.Decimal    `json:"unitPrice"`
	Total           decimal.Decimal    `json:"total"`
	Breakdown       QuoteBreakdown     `json:"breakdown"`
	DefaultsApplied []DefaultApplied   `json:"defaultsApplied"`
	CustomFields    []QuoteCustomField `json:"customFields"`
}

// QuoteBreakdown lists every price component of one unit. Subtotal is base +
// options + add-ons, before the plan adjusts it.
type QuoteBreakdown struct {
	BasePrice decimal.Decimal `json:"basePrice"`
	Options   []QuoteOption   `json:"options"`
	AddOns    []QuoteAddOn    `json:"addOns"`
	Plan      *QuotePlan      `json:"plan"`
	Subtotal  decimal.Decimal `json:"subtotal"`
}

// QuoteOption is one selected option.
type QuoteOption struct {
	GroupID    string          `json:"groupId"`
	GroupName  string          `json:"groupName"`
	OptionID   string          `json:"optionId"`
	Name       string          `json:"name"`
	PriceDelta decimal.Decimal `json:"priceDelta"`
}

// QuoteAddOn is one selected add-on.
type QuoteAddOn struct {
	ID         string          `json:"id"`
	Label      string          `json:"label"`
	PriceDelta decimal.Decimal `json:"priceDelta"`
}

// QuotePlan is the subscription plan applied, if any.
type QuotePlan struct {
	ID              string           `json:"id"`
	Label           string           `json:"label"`
	BillingCycle    BillingCycle     `json:"billingCycle"`
	PriceMultiplier *decimal.Decimal `json:"priceMultiplier"`
	PriceDelta      *decimal.Decimal `json:"priceDelta"`
}

// Kinds of DefaultApplied.
const (
	DefaultKindOption = "option"
	DefaultKindPlan   = "plan"
)

// DefaultApplied reports a selection the server made for the buyer: the
// default option of a required single group, or the default plan.
type DefaultApplied struct {
	Kind    string `json:"kind"`
	GroupID string `json:"groupId,omitempty"`
	ID      string `json:"id"`
	Label   string `json:"label"`
}

// QuoteCustomField is one validated custom field value.
type QuoteCustomField struct {
	FieldID string `json:"fieldId"`
	Label   string `json:"label"`
	Value   string `json:"value"`
}

// fieldPath joins a caller's prefix and path elements with dots, skipping
// empty ones: fieldPath("input.items.0", "configuration", "optionIds", 1).
func fieldPath(prefix string, parts ...any) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range parts {
		var s string
		switch v := p.(type) {
		case string:
			s = v
		case int:
			s = strconv.Itoa(v)
		}
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

// Price validates cfg against the product and prices quantity units of it
// (SPEC §4). Field paths of errors are relative to prefix: with prefix ""
// they are "quantity", "configuration.optionIds.1",
// "configuration.customFields.0.value", …; with "input.items.2" they are
// "input.items.2.quantity" and so on.
//
// Every error is a *Error with code BAD_USER_INPUT: a quantity outside
// 1..MaxQuantity, an id that does not belong to the product, a duplicate id,
// two options of a single group, a required multiple group left empty, a
// missing/blank required custom field, a bad url or number value, or a
// configuration whose unit price is negative. Price does not check the
// product's status; ordering does.
func Price(p *ProductDetail, cfg Configuration, quantity int, prefix string) (*Quote, error) {
	return price(p, cfg, quantity, prefix, true)
}

// PricePreview is Price for a configurator that has not filled in every
// field yet: required custom fields may be absent or blank. Everything else,
// including the price, is exactly Price's, so a preview and the order agree
// to the cent. Orders must use Price.
func PricePreview(p *ProductDetail, cfg Configuration, quantity int, prefix string) (*Quote, error) {
	return price(p, cfg, quantity, prefix, false)
}

func price(p *ProductDetail, cfg Configuration, quantity int, prefix string, requireFields bool) (*Quote, error) {
	if quantity < 1 || quantity > MaxQuantity {
		return nil, BadInput(fieldPath(prefix, "quantity"), "must be between 1 and %d", MaxQuantity)
	}
	q := &Quote{
		ProductID:       p.ID,
		ProductSlug:     p.Slug,
		ProductTitle:    p.Title,
		Currency:        p.Currency,
		Quantity:        quantity,
		DefaultsApplied: []DefaultApplied{},
		CustomFields:    []QuoteCustomField{},
		Breakdown: QuoteBreakdown{
			BasePrice: p.BasePrice,
			Options:   []QuoteOption{},
			AddOns:    []QuoteAddOn{},
		},
	}
	if err := priceOptions(p, cfg.OptionIDs, prefix, q); err != nil {
		return nil, err
	}
	if err := priceAddOns(p, cfg.AddOnIDs, prefix, q); err != nil {
		return nil, err
	}
	plan, err := choosePlan(p, cfg.SubscriptionPlanID, prefix, q)
	if err != nil {
		return nil, err
	}
	if q.CustomFields, err = validateCustomFields(p, cfg.CustomFields, prefix, requireFields); err != nil {
		return nil, err
	}

	subtotal := p.BasePrice
	for _, o := range q.Breakdown.Options {
		subtotal = subtotal.Add(o.PriceDelta)
	}
	for _, a := range q.Breakdown.AddOns {
		subtotal = subtotal.Add(a.PriceDelta)
	}
	q.Breakdown.Subtotal = subtotal
	unit := subtotal
	if plan != nil {
		q.Breakdown.Plan = &QuotePlan{
			ID: plan.ID, Label: plan.Label, BillingCycle: plan.BillingCycle,
			PriceMultiplier: plan.PriceMultiplier, PriceDelta: plan.PriceDelta,
		}
		if plan.PriceMultiplier != nil {
			unit = unit.Mul(*plan.PriceMultiplier)
		}
		if plan.PriceDelta != nil {
			unit = unit.Add(*plan.PriceDelta)
		}
	}
	// decimal.Round rounds half away from zero, which is half-up for the
	// non-negative prices that survive the check below.
	unit = unit.Round(2)
	if unit.IsNegative() {
		return nil, BadInput(fieldPath(prefix, "configuration"),
			"this configuration prices below zero (%s %s per unit)", unit.StringFixed(2), p.Currency)
	}
	q.UnitPrice = unit
	q.Total = unit.Mul(decimal.NewFromInt(int64(quantity))).Round(2)
	return q, nil
}

// priceOptions validates the selected options and applies the defaults of
// required single groups, appending to q in group then display order.
func priceOptions(p *ProductDetail, ids []string, prefix string, q *Quote) error {
	type loc struct {
		group *OptionGroup
		opt   *ProductOption
	}
	byID := map[string]loc{}
	for gi := range p.OptionGroups {
		g := &p.OptionGroups[gi]
		opts := p.Options[g.ID]
		for oi := range opts {
			byID[opts[oi].ID] = loc{g, &opts[oi]}
		}
	}
	chosen := map[string]bool{}
	perGroup := map[string]int{}
	for i, id := range ids {
		path := fieldPath(prefix, "configuration", "optionIds", i)
		l, ok := byID[id]
		if !ok {
			return BadInput(path, "option %s does not belong to product %s", id, p.Slug)
		}
		if chosen[id] {
			return BadInput(path, "option %s is selected twice", id)
		}
		chosen[id] = true
		perGroup[l.group.ID]++
		if l.group.GroupType == GroupSingle && perGroup[l.group.ID] > 1 {
			return BadInput(path, "group %q takes at most one option", l.group.Name)
		}
	}
	for gi := range p.OptionGroups {
		g := &p.OptionGroups[gi]
		opts := p.Options[g.ID]
		if perGroup[g.ID] == 0 && g.IsRequired && len(opts) > 0 {
			if g.GroupType == GroupMultiple {
				return BadInput(fieldPath(prefix, "configuration", "optionIds"),
					"group %q requires at least one option", g.Name)
			}
			def := defaultOption(opts)
			chosen[def.ID] = true
			q.DefaultsApplied = append(q.DefaultsApplied, DefaultApplied{
				Kind: DefaultKindOption, GroupID: g.ID, ID: def.ID, Label: def.Name,
			})
		}
		for _, o := range opts {
			if chosen[o.ID] {
				q.Breakdown.Options = append(q.Breakdown.Options, QuoteOption{
					GroupID: g.ID, GroupName: g.Name, OptionID: o.ID, Name: o.Name, PriceDelta: o.PriceDelta,
				})
			}
		}
	}
	return nil
}

// defaultOption is a group's recommended option, else its first; opts is
// non-empty and in display order.
func defaultOption(opts []ProductOption) ProductOption {
	for _, o := range opts {
		if o.Recommended() {
			return o
		}
	}
	return opts[0]
}

// priceAddOns validates the selected add-ons, appending them to q in display
// order.
func priceAddOns(p *ProductDetail, ids []string, prefix string, q *Quote) error {
	known := map[string]bool{}
	for _, a := range p.AddOns {
		known[a.ID] = true
	}
	chosen := map[string]bool{}
	for i, id := range ids {
		path := fieldPath(prefix, "configuration", "addOnIds", i)
		if !known[id] {
			return BadInput(path, "add-on %s does not belong to product %s", id, p.Slug)
		}
		if chosen[id] {
			return BadInput(path, "add-on %s is selected twice", id)
		}
		chosen[id] = true
	}
	for _, a := range p.AddOns {
		if chosen[a.ID] {
			q.Breakdown.AddOns = append(q.Breakdown.AddOns, QuoteAddOn{ID: a.ID, Label: a.Label, PriceDelta: a.PriceDelta})
		}
	}
	return nil
}

// choosePlan returns the selected plan, else the default plan, else the
// first, else nil (a product without plans).
func choosePlan(p *ProductDetail, id *string, prefix string, q *Quote) (*SubscriptionPlan, error) {
	if id != nil {
		for i := range p.SubscriptionPlans {
			if p.SubscriptionPlans[i].ID == *id {
				return &p.SubscriptionPlans[i], nil
			}
		}
		return nil, BadInput(fieldPath(prefix, "configuration", "subscriptionPlanId"),
			"plan %s does not belong to product %s", *id, p.Slug)
	}
	if len(p.SubscriptionPlans) == 0 {
		return nil, nil
	}
	plan := &p.SubscriptionPlans[0]
	for i := range p.SubscriptionPlans {
		if p.SubscriptionPlans[i].IsDefault {
			plan = &p.SubscriptionPlans[i]
			break
		}
	}
	q.DefaultsApplied = append(q.DefaultsApplied, DefaultApplied{Kind: DefaultKindPlan, ID: plan.ID, Label: plan.Label})
	return plan, nil
}

// validateCustomFields checks the values against the product's fields and
// returns them in the order the buyer sent them, values trimmed.
func validateCustomFields(p *ProductDetail, vals []CustomFieldValue, prefix string, required bool) ([]QuoteCustomField, error) {
	fields := map[string]*CustomField{}
	for i := range p.CustomFields {
		fields[p.CustomFields[i].ID] = &p.CustomFields[i]
	}
	out := make([]QuoteCustomField, 0, len(vals))
	seen := map[string]bool{}
	for i, v := range vals {
		f, ok := fields[v.FieldID]
		if !ok {
			return nil, BadInput(fieldPath(prefix, "configuration", "customFields", i, "fieldId"),
				"custom field %s does not belong to product %s", v.FieldID, p.Slug)
		}
		if seen[v.FieldID] {
			return nil, BadInput(fieldPath(prefix, "configuration", "customFields", i, "fieldId"),
				"custom field %q is given twice", f.Label)
		}
		seen[v.FieldID] = true
		path := fieldPath(prefix, "configuration", "customFields", i, "value")
		val := strings.TrimSpace(v.Value)
		if val == "" {
			if f.IsRequired && required {
				return nil, BadInput(path, "%s is required", f.Label)
			}
		} else {
			switch f.FieldType {
			case FieldURL:
				u, err := url.Parse(val)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, BadInput(path, "%s must be an absolute http(s) URL", f.Label)
				}
			case FieldNumber:
				if _, err := decimal.NewFromString(val); err != nil {
					return nil, BadInput(path, "%s must be a number", f.Label)
				}
			}
		}
		out = append(out, QuoteCustomField{FieldID: f.ID, Label: f.Label, Value: val})
	}
	for _, f := range p.CustomFields {
		if f.IsRequired && required && !seen[f.ID] {
			return nil, BadInput(fieldPath(prefix, "configuration", "customFields"), "%s is required", f.Label)
		}
	}
	return out, nil
}
