package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/shopspring/decimal"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/smplat/smplat/graph/scalar"
	"github.com/smplat/smplat/store"
)

// catalogFastPath answers the storefront's catalog reads — queries of
// product(slug) and products(filter, first, after) over public Product
// fields — by writing the JSON straight from the store's structs, instead
// of through gqlgen's generic executor, which spends a goroutine per list
// element and a dozen allocations per field (a 50-product page has ~9,000
// fields). The data comes from the same store reads as the resolvers (one
// statement per level) and the bytes are gqlgen's own: every value goes
// through the same marshalers, and TestFastPathMatchesGqlgen compares the
// two paths byte for byte.
//
// Everything else — other operations, mutations, directives, repeated
// response keys, errors of any kind, limits exceeded — falls through to
// gqlgen, which answers (or refuses) it as usual.
type catalogFastPath struct {
	st              *store.Store
	es              graphql.ExecutableSchema
	complexityLimit int
	depthLimit      int
	plans           *lru.LRU[*fastPlan]
	// slots bounds the renders running at once: more only add scheduling
	// and garbage (a catalog page allocates megabytes); the rest wait here.
	slots chan struct{}
}

// fastPlan is a parsed, validated and flattened operation; nil selections
// mean the operation is not one the fast path answers.
type fastPlan struct {
	op   *ast.OperationDefinition
	doc  *ast.QueryDocument
	root []fastSel
	// lastSize is the size of the last answer, to size the next buffer.
	lastSize atomic.Int64
}

// fastSel is one field of a flattened selection set (fragments inlined).
type fastSel struct {
	key   string // response key: alias or name
	name  string
	field *ast.Field
	sub   []fastSel
}

// maxFastQuery bounds the query text the fast path parses itself.
const maxFastQuery = 16 << 10

func newCatalogFastPath(st *store.Store, es graphql.ExecutableSchema, complexityLimit, depthLimit int) *catalogFastPath {
	return &catalogFastPath{st: st, es: es, complexityLimit: complexityLimit, depthLimit: depthLimit,
		plans: lru.New[*fastPlan](1000), slots: make(chan struct{}, 4*runtime.GOMAXPROCS(0))}
}

// fields each type may select on the fast path; anything else (e.g. the
// admin-only Product.fulfillmentConfig) sends the query to gqlgen.
var fastFields = map[string]map[string]bool{
	"Query":             {"product": true, "products": true, "__typename": true},
	"ProductConnection": {"edges": true, "nodes": true, "pageInfo": true, "totalCount": true, "__typename": true},
	"ProductEdge":       {"cursor": true, "node": true, "__typename": true},
	"PageInfo":          {"hasNextPage": true, "endCursor": true, "__typename": true},
	"Product": {"id": true, "slug": true, "title": true, "description": true, "category": true, "basePrice": true,
		"currency": true, "status": true, "createdAt": true, "updatedAt": true, "optionGroups": true, "addOns": true,
		"customFields": true, "subscriptionPlans": true, "__typename": true},
	"OptionGroup": {"id": true, "name": true, "description": true, "groupType": true, "isRequired": true,
		"displayOrder": true, "metadataJson": true, "options": true, "__typename": true},
	"ProductOption": {"id": true, "name": true, "label": true, "description": true, "priceDelta": true,
		"metadataJson": true, "displayOrder": true, "__typename": true},
	"AddOn": {"id": true, "label": true, "description": true, "priceDelta": true, "isRecommended": true,
		"displayOrder": true, "__typename": true},
	"CustomField": {"id": true, "label": true, "fieldType": true, "placeholder": true, "helpText": true,
		"isRequired": true, "displayOrder": true, "__typename": true},
	"SubscriptionPlan": {"id": true, "label": true, "description": true, "billingCycle": true,
		"priceMultiplier": true, "priceDelta": true, "isDefault": true, "displayOrder": true, "__typename": true},
}

// flatten inlines fragments and checks every field against fastFields; ok
// is false for anything the fast path leaves to gqlgen.
func flatten(typeName string, set ast.SelectionSet) (out []fastSel, ok bool) {
	seen := map[string]bool{}
	var walk func(set ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if len(s.Directives) > 0 || !fastFields[typeName][s.Name] || seen[s.Alias] {
					return false
				}
				seen[s.Alias] = true
				f := fastSel{key: s.Alias, name: s.Name, field: s}
				if len(s.SelectionSet) > 0 {
					sub, ok := flatten(s.Definition.Type.Name(), s.SelectionSet)
					if !ok {
						return false
					}
					f.sub = sub
				}
				out = append(out, f)
			case *ast.InlineFragment:
				if len(s.Directives) > 0 || !walk(s.SelectionSet) {
					return false
				}
			case *ast.FragmentSpread:
				if len(s.Directives) > 0 || s.Definition == nil || !walk(s.Definition.SelectionSet) {
					return false
				}
			default:
				return false
			}
		}
		return true
	}
	return out, walk(set)
}

// plan parses, validates and flattens a query once per (query, operation).
func (f *catalogFastPath) plan(ctx context.Context, query, operationName string) *fastPlan {
	key := operationName + "\x00" + query
	if p, ok := f.plans.Get(ctx, key); ok {
		return p
	}
	p := &fastPlan{}
	if doc, errs := gqlparser.LoadQueryWithRules(f.es.Schema(), query, nil); len(errs) == 0 {
		op := doc.Operations.ForName(operationName)
		if operationName == "" && len(doc.Operations) == 1 {
			op = doc.Operations[0]
		}
		if op != nil && op.Operation == ast.Query && len(op.Directives) == 0 {
			if root, ok := flatten("Query", op.SelectionSet); ok {
				p = &fastPlan{op: op, doc: doc, root: root}
			}
		}
	}
	f.plans.Add(ctx, key, p)
	return p
}

// acceptsJSON reports whether gqlgen would answer the request with
// Content-Type application/json (the fast path's only form).
func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return true
	}
	first, _, _ := strings.Cut(accept, ",")
	mt, _, err := mime.ParseMediaType(strings.TrimSpace(first))
	return err == nil && (mt == "*/*" || mt == "application/*" || mt == "application/json")
}

// serve answers r and returns true, or returns false having written nothing
// (with r.Body restored) so gqlgen takes over.
func (f *catalogFastPath) serve(w http.ResponseWriter, r *http.Request, maxBody int64) bool {
	if r.Method != http.MethodPost || !acceptsJSON(r) {
		return false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || int64(len(body)) > maxBody {
		return false
	}
	var params struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
		Extensions    map[string]any `json:"extensions"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // as gqlgen decodes, so variables coerce the same way
	// Catalog queries are short; a long one goes to gqlgen, whose parser
	// token limit guards against expensive documents.
	if dec.Decode(&params) != nil || params.Query == "" || len(params.Query) > maxFastQuery || len(params.Extensions) > 0 {
		return false
	}
	ctx := r.Context()
	p := f.plan(ctx, params.Query, params.OperationName)
	if p.root == nil {
		return false
	}
	vars, gerr := validator.VariableValues(f.es.Schema(), p.op, params.Variables)
	if gerr != nil || selectionDepth(p.doc, p.op.SelectionSet, 0, map[string]bool{}) > f.depthLimit ||
		complexity.Calculate(ctx, f.es, p.op, vars) > f.complexityLimit {
		return false
	}
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-ctx.Done():
		return false
	}
	var data bytes.Buffer
	data.Grow(int(p.lastSize.Load()) + 512) // answers to one plan are alike in size
	if !f.writeQuery(ctx, &data, p.root, vars) {
		return false
	}
	p.lastSize.Store(int64(data.Len()))
	// gqlgen's framing: json.Marshal of graphql.Response{Data}, which keeps
	// compact JSON as it is but escapes <, >, & and U+2028/9 in strings.
	out := bytes.NewBuffer(make([]byte, 0, data.Len()+64))
	out.WriteString(`{"data":`)
	json.HTMLEscape(out, data.Bytes())
	out.WriteByte('}')
	if slot, ok := ctx.Value(cacheSlotKey{}).(*cacheSlot); ok {
		slot.cacheable = true // public fields only, no errors
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Bytes())
	return true
}

// writeQuery fetches and writes the root fields; false on any error.
func (f *catalogFastPath) writeQuery(ctx context.Context, w *bytes.Buffer, root []fastSel, vars map[string]any) bool {
	w.WriteByte('{')
	for i, s := range root {
		if i > 0 {
			w.WriteByte(',')
		}
		writeKey(w, s.key)
		args := s.field.ArgumentMap(vars)
		switch s.name {
		case "__typename":
			writeString(w, "Query")
		case "product":
			slug, _ := args["slug"].(string)
			p, err := f.st.FindProductBySlug(ctx, slug)
			if isNotFound(err) {
				w.WriteString("null")
				continue
			}
			if err != nil {
				return false
			}
			n, err := f.st.Configurations(ctx, []string{p.ID}, fastSelection(s.sub))
			if err != nil {
				return false
			}
			writeProduct(w, p, s.sub, n)
		case "products":
			if !f.writeProducts(ctx, w, s, args) {
				return false
			}
		}
	}
	w.WriteByte('}')
	return true
}

// fastSelection is selectedProductFields for a flattened Product selection.
func fastSelection(sub []fastSel) productSelection {
	var sel productSelection
	for _, s := range sub {
		selectList(&sel, s.name, func(child string) bool {
			for _, c := range s.sub {
				if c.name == child {
					return true
				}
			}
			return false
		})
	}
	return sel
}

func (f *catalogFastPath) writeProducts(ctx context.Context, w *bytes.Buffer, s fastSel, args map[string]any) bool {
	var filter store.ProductFilter
	if m, ok := args["filter"].(map[string]any); ok {
		if v, ok := m["status"].(string); ok {
			st := store.ProductStatus(strings.ToLower(v))
			filter.Status = &st
		}
		if v, ok := m["category"].(string); ok {
			filter.Category = &v
		}
		if v, ok := m["search"].(string); ok {
			filter.Search = &v
		}
	}
	first := 20
	switch v := args["first"].(type) {
	case int64:
		first = int(v)
	case int:
		first = v
	}
	if first < 0 {
		return false
	}
	first = min(first, store.MaxPageSize)
	var cursor *store.Cursor
	if after, ok := args["after"].(string); ok && after != "" {
		c, err := store.DecodeCursor("after", after)
		if err != nil {
			return false
		}
		cursor = c
	}
	var page store.ProductPage
	if first > 0 {
		var err error
		if page, err = f.st.FindProducts(ctx, filter, first, cursor); err != nil {
			return false
		}
	}
	var productSel []fastSel
	for _, c := range s.sub {
		switch c.name {
		case "nodes":
			productSel = append(productSel, c.sub...)
		case "edges":
			for _, e := range c.sub {
				if e.name == "node" {
					productSel = append(productSel, e.sub...)
				}
			}
		}
	}
	ids := make([]string, len(page.Products))
	for i, p := range page.Products {
		ids[i] = p.ID
	}
	n, err := f.st.Configurations(ctx, ids, fastSelection(productSel))
	if err != nil {
		return false
	}
	w.WriteByte('{')
	for i, c := range s.sub {
		if i > 0 {
			w.WriteByte(',')
		}
		writeKey(w, c.key)
		switch c.name {
		case "__typename":
			writeString(w, "ProductConnection")
		case "totalCount":
			count, err := f.st.CountProducts(ctx, filter)
			if err != nil {
				return false
			}
			graphql.MarshalInt(count).MarshalGQL(w)
		case "nodes":
			writeList(w, page.Products, func(p *store.Product) { writeProduct(w, p, c.sub, n) })
		case "edges":
			writeList(w, page.Products, func(p *store.Product) {
				writeObject(w, c.sub, func(e fastSel) {
					switch e.name {
					case "__typename":
						writeString(w, "ProductEdge")
					case "cursor":
						writeString(w, store.Cursor{CreatedAt: p.CreatedAt, ID: p.ID}.Encode())
					case "node":
						writeProduct(w, p, e.sub, n)
					}
				})
			})
		case "pageInfo":
			writeObject(w, c.sub, func(e fastSel) {
				switch e.name {
				case "__typename":
					writeString(w, "PageInfo")
				case "hasNextPage":
					graphql.MarshalBoolean(page.HasNextPage).MarshalGQL(w)
				case "endCursor":
					if len(page.Products) == 0 {
						w.WriteString("null")
						return
					}
					last := page.Products[len(page.Products)-1]
					writeString(w, store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}.Encode())
				}
			})
		}
	}
	w.WriteByte('}')
	return true
}

func writeKey(w *bytes.Buffer, key string) {
	graphql.MarshalString(key).MarshalGQL(w)
	w.WriteByte(':')
}

func writeString(w *bytes.Buffer, s string) { graphql.MarshalString(s).MarshalGQL(w) }

// writeJSONValue writes a jsonb value compacted (Postgres prints jsonb with
// spaces; gqlgen's framing removes them).
func writeJSONValue(w *bytes.Buffer, j store.JSON) {
	if len(j) == 0 || json.Compact(w, j) != nil {
		w.WriteString("null")
	}
}

func writeOptString(w *bytes.Buffer, s *string) {
	if s == nil {
		w.WriteString("null")
		return
	}
	writeString(w, *s)
}

// writeObject writes {"key":value,…} for a selection; value writes one
// field's value.
func writeObject(w *bytes.Buffer, sel []fastSel, value func(fastSel)) {
	w.WriteByte('{')
	for i, s := range sel {
		if i > 0 {
			w.WriteByte(',')
		}
		writeKey(w, s.key)
		value(s)
	}
	w.WriteByte('}')
}

func writeList[T any](w *bytes.Buffer, items []T, each func(*T)) {
	w.WriteByte('[')
	for i := range items {
		if i > 0 {
			w.WriteByte(',')
		}
		each(&items[i])
	}
	w.WriteByte(']')
}

func writeProduct(w *bytes.Buffer, p *store.Product, sel []fastSel, n *store.Configurations) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "Product")
		case "id":
			writeString(w, p.ID)
		case "slug":
			writeString(w, p.Slug)
		case "title":
			writeString(w, p.Title)
		case "description":
			writeOptString(w, p.Description)
		case "category":
			writeString(w, p.Category)
		case "basePrice":
			scalar.MarshalDecimal(p.BasePrice).MarshalGQL(w)
		case "currency":
			p.Currency.MarshalGQL(w)
		case "status":
			p.Status.MarshalGQL(w)
		case "createdAt":
			graphql.MarshalTime(p.CreatedAt).MarshalGQL(w)
		case "updatedAt":
			graphql.MarshalTime(p.UpdatedAt).MarshalGQL(w)
		case "optionGroups":
			writeList(w, n.Groups[p.ID], func(g *store.OptionGroup) { writeGroup(w, g, s.sub, n) })
		case "addOns":
			writeList(w, n.AddOns[p.ID], func(a *store.AddOn) { writeAddOn(w, a, s.sub) })
		case "customFields":
			writeList(w, n.Fields[p.ID], func(c *store.CustomField) { writeCustomField(w, c, s.sub) })
		case "subscriptionPlans":
			writeList(w, n.Plans[p.ID], func(pl *store.SubscriptionPlan) { writePlan(w, pl, s.sub) })
		}
	})
}

func writeGroup(w *bytes.Buffer, g *store.OptionGroup, sel []fastSel, n *store.Configurations) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "OptionGroup")
		case "id":
			writeString(w, g.ID)
		case "name":
			writeString(w, g.Name)
		case "description":
			writeOptString(w, g.Description)
		case "groupType":
			g.GroupType.MarshalGQL(w)
		case "isRequired":
			graphql.MarshalBoolean(g.IsRequired).MarshalGQL(w)
		case "displayOrder":
			graphql.MarshalInt(g.DisplayOrder).MarshalGQL(w)
		case "metadataJson":
			writeJSONValue(w, g.MetadataJSON)
		case "options":
			writeList(w, n.Options[g.ID], func(o *store.ProductOption) { writeOption(w, o, s.sub) })
		}
	})
}

func writeOption(w *bytes.Buffer, o *store.ProductOption, sel []fastSel) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "ProductOption")
		case "id":
			writeString(w, o.ID)
		case "name", "label":
			writeString(w, o.Name)
		case "description":
			writeOptString(w, o.Description)
		case "priceDelta":
			scalar.MarshalDecimal(o.PriceDelta).MarshalGQL(w)
		case "metadataJson":
			writeJSONValue(w, o.MetadataJSON)
		case "displayOrder":
			graphql.MarshalInt(o.DisplayOrder).MarshalGQL(w)
		}
	})
}

func writeAddOn(w *bytes.Buffer, a *store.AddOn, sel []fastSel) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "AddOn")
		case "id":
			writeString(w, a.ID)
		case "label":
			writeString(w, a.Label)
		case "description":
			writeOptString(w, a.Description)
		case "priceDelta":
			scalar.MarshalDecimal(a.PriceDelta).MarshalGQL(w)
		case "isRecommended":
			graphql.MarshalBoolean(a.IsRecommended).MarshalGQL(w)
		case "displayOrder":
			graphql.MarshalInt(a.DisplayOrder).MarshalGQL(w)
		}
	})
}

func writeCustomField(w *bytes.Buffer, c *store.CustomField, sel []fastSel) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "CustomField")
		case "id":
			writeString(w, c.ID)
		case "label":
			writeString(w, c.Label)
		case "fieldType":
			c.FieldType.MarshalGQL(w)
		case "placeholder":
			writeOptString(w, c.Placeholder)
		case "helpText":
			writeOptString(w, c.HelpText)
		case "isRequired":
			graphql.MarshalBoolean(c.IsRequired).MarshalGQL(w)
		case "displayOrder":
			graphql.MarshalInt(c.DisplayOrder).MarshalGQL(w)
		}
	})
}

func writePlan(w *bytes.Buffer, p *store.SubscriptionPlan, sel []fastSel) {
	writeObject(w, sel, func(s fastSel) {
		switch s.name {
		case "__typename":
			writeString(w, "SubscriptionPlan")
		case "id":
			writeString(w, p.ID)
		case "label":
			writeString(w, p.Label)
		case "description":
			writeOptString(w, p.Description)
		case "billingCycle":
			p.BillingCycle.MarshalGQL(w)
		case "priceMultiplier":
			writeOptDecimal(w, p.PriceMultiplier)
		case "priceDelta":
			writeOptDecimal(w, p.PriceDelta)
		case "isDefault":
			graphql.MarshalBoolean(p.IsDefault).MarshalGQL(w)
		case "displayOrder":
			graphql.MarshalInt(p.DisplayOrder).MarshalGQL(w)
		}
	})
}

func writeOptDecimal(w *bytes.Buffer, d *decimal.Decimal) {
	if d == nil {
		w.WriteString("null")
		return
	}
	scalar.MarshalDecimal(*d).MarshalGQL(w)
}
