package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/graph/graphtest"
)

var (
	queryW1 = `query W1($slug: String!) { product(slug: $slug) { ` + graphtest.ProductFields + ` } }`
	queryW2 = `query W2 { products(first: 50, filter: {status: ACTIVE}) { nodes { ` + graphtest.ProductFields + ` } } }`

	queryQuote = `query Quote($slug: String!, $cfg: ConfigurationInput) { quote(productSlug: $slug, quantity: 2, configuration: $cfg) {
productId productSlug currency quantity unitPrice total
breakdown { basePrice subtotal options { groupId optionId priceDelta } addOns { id priceDelta } plan { id priceMultiplier priceDelta } }
defaultsApplied { kind id } customFields { fieldId value } } }`

	mutationOrder = `mutation CreateOrder($input: CreateOrderInput!) { createOrder(input: $input) {
id orderNumber status subtotal total currency } }`

	queryActiveSlugs = `query Slugs($after: String) { products(first: 100, filter: {status: ACTIVE}, after: $after) {
nodes { slug } pageInfo { hasNextPage endCursor } } }`
)

// product is the part of a product answer the checks read.
type product struct {
	ID, Slug, Title, BasePrice, Currency, Status string
	OptionGroups                                 []struct {
		ID, Name, GroupType string
		IsRequired          bool
		DisplayOrder        int
		Options             []struct {
			ID, Name, Label, PriceDelta string
			DisplayOrder                int
		}
	}
	AddOns []struct {
		ID, Label, PriceDelta string
		DisplayOrder          int
	}
	CustomFields []struct {
		ID, Label, FieldType string
		IsRequired           bool
		DisplayOrder         int
	}
	SubscriptionPlans []struct {
		ID, Label, BillingCycle string
		IsDefault               bool
		DisplayOrder            int
	}
}

// check says whether a product answer is complete: active, and for the
// harness's products the whole seeded shape with lists in display order.
func (p *product) check() error {
	if p.ID == "" || p.Slug == "" || p.Title == "" || p.BasePrice == "" || p.Status != "ACTIVE" {
		return fmt.Errorf("product %q: base fields %+v", p.Slug, *p)
	}
	if !strings.HasPrefix(p.Slug, graphtest.CatalogSlugPrefix) {
		return nil
	}
	if len(p.OptionGroups) != 3 || len(p.AddOns) != 3 || len(p.CustomFields) != 2 || len(p.SubscriptionPlans) != 3 {
		return fmt.Errorf("product %s: %d groups, %d add-ons, %d fields, %d plans; want 3, 3, 2, 3",
			p.Slug, len(p.OptionGroups), len(p.AddOns), len(p.CustomFields), len(p.SubscriptionPlans))
	}
	ordered := func(what string, orders []int) error {
		for i := 1; i < len(orders); i++ {
			if orders[i] < orders[i-1] {
				return fmt.Errorf("product %s: %s not in display order: %v", p.Slug, what, orders)
			}
		}
		return nil
	}
	var gs, as, fs, ps []int
	for _, g := range p.OptionGroups {
		gs = append(gs, g.DisplayOrder)
		if len(g.Options) != 4 {
			return fmt.Errorf("product %s: group %q has %d options, want 4", p.Slug, g.Name, len(g.Options))
		}
		var os []int
		for _, o := range g.Options {
			if o.ID == "" || o.Label == "" || o.PriceDelta == "" {
				return fmt.Errorf("product %s: incomplete option %+v", p.Slug, o)
			}
			os = append(os, o.DisplayOrder)
		}
		if err := ordered("options of "+g.Name, os); err != nil {
			return err
		}
	}
	for _, a := range p.AddOns {
		as = append(as, a.DisplayOrder)
	}
	for _, f := range p.CustomFields {
		fs = append(fs, f.DisplayOrder)
	}
	for _, pl := range p.SubscriptionPlans {
		ps = append(ps, pl.DisplayOrder)
	}
	for what, o := range map[string][]int{"groups": gs, "add-ons": as, "fields": fs, "plans": ps} {
		if err := ordered(what, o); err != nil {
			return err
		}
	}
	return nil
}

// workload is one kind of request with the bodies it cycles through.
type workload struct {
	name   string
	apiKey string
	bodies [][]byte
	// check validates one answer to bodies[i].
	check func(i int, answer []byte) error
	// minLen is the smallest plausible answer; shorter 200s count as errors.
	minLen int
}

func (wl *workload) do(ctx context.Context, base string, body []byte) ([]byte, error) {
	return postGraphQL(ctx, base, body, wl.apiKey)
}

// checkAll sends every body once and checks every answer; minLen becomes
// 90% of the shortest complete answer.
func (wl *workload) checkAll(ctx context.Context, base string) error {
	shortest := -1
	for i, b := range wl.bodies {
		ans, err := wl.do(ctx, base, b)
		if err != nil {
			return err
		}
		if err := wl.check(i, ans); err != nil {
			return err
		}
		if shortest < 0 || len(ans) < shortest {
			shortest = len(ans)
		}
	}
	wl.minLen = shortest * 9 / 10
	return nil
}

// writeBodies writes one compact JSON body per line for the load generator.
func (wl *workload) writeBodies(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, b := range wl.bodies {
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func body(query string, vars map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		panic(err)
	}
	return b
}

// buildWorkloads reads the active catalog through the API and builds the
// request bodies: W1 and quote cycle through every active product of the
// harness, createOrder through the same configurations.
func buildWorkloads(ctx context.Context, base string, names []string) ([]*workload, error) {
	var slugs []string
	var after any
	for {
		var out struct {
			Products struct {
				Nodes    []struct{ Slug string }
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
			}
		}
		ans, err := postGraphQL(ctx, base, body(queryActiveSlugs, map[string]any{"after": after}), "")
		if err != nil {
			return nil, err
		}
		if err := decodeData(ans, &out); err != nil {
			return nil, err
		}
		for _, n := range out.Products.Nodes {
			if strings.HasPrefix(n.Slug, graphtest.CatalogSlugPrefix) {
				slugs = append(slugs, n.Slug)
			}
		}
		if !out.Products.PageInfo.HasNextPage {
			break
		}
		after = out.Products.PageInfo.EndCursor
	}
	if len(slugs) == 0 {
		return nil, fmt.Errorf("no active %s* products: run `smplat-bench seed` first", graphtest.CatalogSlugPrefix)
	}
	// The products as W1 returns them give the ids quote and createOrder use.
	products := make([]product, len(slugs))
	w1 := &workload{name: "W1"}
	for i, slug := range slugs {
		w1.bodies = append(w1.bodies, body(queryW1, map[string]any{"slug": slug}))
		ans, err := postGraphQL(ctx, base, w1.bodies[i], "")
		if err != nil {
			return nil, err
		}
		var out struct{ Product *product }
		if err := decodeData(ans, &out); err != nil {
			return nil, fmt.Errorf("W1 %s: %w", slug, err)
		}
		if out.Product == nil {
			return nil, fmt.Errorf("W1 %s: null product", slug)
		}
		products[i] = *out.Product
	}
	w1.check = func(i int, ans []byte) error {
		var out struct{ Product *product }
		if err := decodeData(ans, &out); err != nil {
			return err
		}
		if out.Product == nil || out.Product.Slug != slugs[i] {
			return fmt.Errorf("W1 %s: wrong product", slugs[i])
		}
		return out.Product.check()
	}

	w2 := &workload{name: "W2", bodies: [][]byte{body(queryW2, nil)}}
	w2.check = func(_ int, ans []byte) error {
		var out struct{ Products struct{ Nodes []product } }
		if err := decodeData(ans, &out); err != nil {
			return err
		}
		if len(out.Products.Nodes) != 50 {
			return fmt.Errorf("W2: %d nodes, want 50", len(out.Products.Nodes))
		}
		for i := range out.Products.Nodes {
			if err := out.Products.Nodes[i].check(); err != nil {
				return err
			}
		}
		return nil
	}

	// One configuration per product: an option of each single group, two
	// of the multiple one, an add-on, a non-default plan, the required field.
	configs := make([]map[string]any, len(products))
	for i, p := range products {
		g := p.OptionGroups
		configs[i] = map[string]any{
			"optionIds":          []string{g[0].Options[1].ID, g[1].Options[0].ID, g[1].Options[2].ID, g[2].Options[3].ID},
			"addOnIds":           []string{p.AddOns[0].ID},
			"subscriptionPlanId": p.SubscriptionPlans[1].ID,
			"customFields":       []map[string]string{{"fieldId": p.CustomFields[0].ID, "value": "@bench"}},
		}
	}
	// expected is base + deltas of the chosen options and add-on.
	subtotal := func(i int) decimal.Decimal {
		p := products[i]
		s, _ := mustDecimal(p.BasePrice)
		for _, d := range []string{p.OptionGroups[0].Options[1].PriceDelta, p.OptionGroups[1].Options[0].PriceDelta,
			p.OptionGroups[1].Options[2].PriceDelta, p.OptionGroups[2].Options[3].PriceDelta, p.AddOns[0].PriceDelta} {
			v, _ := mustDecimal(d)
			s = s.Add(v)
		}
		return s
	}
	totals := make([]string, len(products))
	quote := &workload{name: "quote"}
	for i, p := range products {
		quote.bodies = append(quote.bodies, body(queryQuote, map[string]any{"slug": p.Slug, "cfg": configs[i]}))
	}
	quote.check = func(i int, ans []byte) error {
		var out struct {
			Quote struct {
				ProductID, UnitPrice, Total string
				Quantity                    int
				Breakdown                   struct {
					Subtotal string
					Options  []struct{ OptionID string }
					AddOns   []struct{ ID string }
					Plan     *struct{ ID string }
				}
				CustomFields []struct{ FieldID, Value string }
			}
		}
		if err := decodeData(ans, &out); err != nil {
			return err
		}
		q := out.Quote
		unit, err1 := mustDecimal(q.UnitPrice)
		total, err2 := mustDecimal(q.Total)
		sub, err3 := mustDecimal(q.Breakdown.Subtotal)
		if err1 != nil || err2 != nil || err3 != nil || q.ProductID != products[i].ID || q.Quantity != 2 ||
			len(q.Breakdown.Options) != 4 || len(q.Breakdown.AddOns) != 1 || q.Breakdown.Plan == nil ||
			q.Breakdown.Plan.ID != products[i].SubscriptionPlans[1].ID || len(q.CustomFields) != 1 {
			return fmt.Errorf("quote %s: incomplete: %.400s", products[i].Slug, ans)
		}
		if !sub.Equal(subtotal(i)) || !total.Equal(unit.Mul(decimal.NewFromInt(2))) {
			return fmt.Errorf("quote %s: subtotal %s (want %s), unit %s, total %s", products[i].Slug, sub, subtotal(i), unit, total)
		}
		totals[i] = total.StringFixed(2)
		return nil
	}

	order := &workload{name: "createOrder", apiKey: checkoutKey}
	for i, p := range products {
		order.bodies = append(order.bodies, body(mutationOrder, map[string]any{"input": map[string]any{
			"items":         []map[string]any{{"productSlug": p.Slug, "quantity": 2, "configuration": configs[i]}},
			"customerEmail": "bench@example.com",
			"notes":         "smplat-bench",
		}}))
	}
	order.check = func(i int, ans []byte) error {
		var out struct {
			CreateOrder struct{ ID, OrderNumber, Status, Total, Currency string }
		}
		if err := decodeData(ans, &out); err != nil {
			return err
		}
		o := out.CreateOrder
		if o.ID == "" || o.OrderNumber == "" || o.Status != "PENDING" {
			return fmt.Errorf("createOrder %s: %.300s", products[i].Slug, ans)
		}
		if totals[i] != "" { // quote ran first: the order charges what the quote said
			if t, err := mustDecimal(o.Total); err != nil || t.StringFixed(2) != totals[i] {
				return fmt.Errorf("createOrder %s: total %s, quote said %s", products[i].Slug, o.Total, totals[i])
			}
		}
		return nil
	}

	all := map[string]*workload{"W1": w1, "W2": w2, "quote": quote, "createOrder": order}
	var out []*workload
	for _, n := range names {
		wl, ok := all[strings.TrimSpace(n)]
		if !ok {
			return nil, fmt.Errorf("unknown workload %q (W1, W2, quote, createOrder)", n)
		}
		out = append(out, wl)
	}
	return out, nil
}
