package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

func postQuery(h http.Handler, query string, vars map[string]any, op string) *httptest.ResponseRecorder {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars, "operationName": op})
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestFastPathMatchesGqlgen answers the same catalog queries through the
// fast path and through gqlgen's executor and requires identical bytes.
func TestFastPathMatchesGqlgen(t *testing.T) {
	t.Parallel()
	st := storetest.NewStore(t)
	ctx := context.Background()
	for i := 0; i < 12; i++ {
		sp := store.Seeds["instagram-growth"]
		sp.Slug = fmt.Sprintf("p-%02d", i)
		sp.Title = fmt.Sprintf(`Product <%d> & "friends"`, i)
		if i%3 == 2 {
			sp.Status = store.ProductDraft
			sp.Description = ""
		}
		if _, err := st.SeedProduct(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.DB().Exec(`UPDATE products SET description = NULL WHERE status = 'draft'`); err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig{Store: st, Logger: slog.New(slog.DiscardHandler), Keys: auth.NewKeys([]string{"c"}, []string{"a"})}
	fast := NewServer(cfg)
	cfg.DisableFastPath = true
	slow := NewServer(cfg)

	cases := []struct {
		name, query, op string
		vars            map[string]any
	}{
		{"W1", `query($slug: String!) { product(slug: $slug) { ` + graphtest.ProductFields + ` } }`, "", map[string]any{"slug": "p-01"}},
		{"W2", `query { products(first: 50, filter: {status: ACTIVE}) { nodes { ` + graphtest.ProductFields + ` } } }`, "", nil},
		{"absent product", `{ product(slug: "nope") { id } }`, "", nil},
		{"aliases, fragments, typename", `query Q($s: String!) { a: product(slug: $s) { ...P __typename }
			b: product(slug: "p-02") { description t: title } __typename }
			fragment P on Product { id t: title optionGroups { ... on OptionGroup { name options { label l2: name } } }
			subscriptionPlans { priceMultiplier priceDelta isDefault } }`, "Q", map[string]any{"s": "p-03"}},
		{"connection", `query($after: String) { products(first: 3, after: $after, filter: {category: "social_media"}) {
			totalCount __typename pageInfo { hasNextPage endCursor __typename }
			edges { cursor node { slug addOns { label } customFields { label fieldType } } } } }`, "", nil},
		{"two operations", `query A { products(first: 1) { nodes { slug } } } query B { products(first: 2, filter: {search: "P-1"}) { nodes { slug } } }`, "B", nil},
		{"first 0", `{ products(first: 0) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } }`, "", nil},
		{"default page", `{ products { nodes { slug status } } }`, "", nil},
	}
	fp := newCatalogFastPath(st, NewExecutableSchema(Config{Resolvers: &Resolver{Store: st}, Complexity: complexityRoot()}),
		defaultComplexityLimit, defaultDepthLimit)
	for _, tc := range cases {
		body, _ := json.Marshal(map[string]any{"query": tc.query, "variables": tc.vars, "operationName": tc.op})
		req := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		if !fp.serve(httptest.NewRecorder(), req, 1<<20) {
			t.Errorf("%s: the fast path declined it", tc.name)
		}
		f := postQuery(fast, tc.query, tc.vars, tc.op)
		s := postQuery(slow, tc.query, tc.vars, tc.op)
		if f.Code != 200 || f.Body.String() != s.Body.String() || f.Header().Get("Content-Type") != s.Header().Get("Content-Type") {
			t.Errorf("%s: fast path differs from gqlgen\nfast: %d %s\ngqlgen: %d %s", tc.name, f.Code, f.Body.String(), s.Code, s.Body.String())
		}
		if strings.Contains(s.Body.String(), "errors") {
			t.Errorf("%s: %s", tc.name, s.Body.String())
		}
	}
	// A cursor from the first page continues on the second, on both paths.
	var first struct {
		Data struct {
			Products struct{ PageInfo struct{ EndCursor string } }
		}
	}
	_ = json.Unmarshal(postQuery(fast, cases[4].query, nil, "").Body.Bytes(), &first)
	next := map[string]any{"after": first.Data.Products.PageInfo.EndCursor}
	if f, s := postQuery(fast, cases[4].query, next, ""), postQuery(slow, cases[4].query, next, ""); f.Body.String() != s.Body.String() {
		t.Errorf("second page differs:\n%s\n%s", f.Body.String(), s.Body.String())
	}
}

// TestFastPathLeavesTheRestToGqlgen: everything outside the catalog reads
// is declined untouched.
func TestFastPathLeavesTheRestToGqlgen(t *testing.T) {
	t.Parallel()
	st := storetest.NewStore(t)
	es := NewExecutableSchema(Config{Resolvers: &Resolver{Store: st}})
	fp := newCatalogFastPath(st, es, defaultComplexityLimit, defaultDepthLimit)
	for name, q := range map[string]string{
		"mutation":       `mutation { deleteProduct(id: "x") }`,
		"admin field":    `{ product(slug: "a") { fulfillmentConfig } }`,
		"directive":      `query($x: Boolean!) { product(slug: "a") { id @include(if: $x) } }`,
		"invalid":        `{ product(slug: "a") { nope } }`,
		"other root":     `{ quote(productSlug: "a") { total } }`,
		"introspection":  `{ __schema { types { name } } }`,
		"repeated key":   `{ product(slug: "a") { id } product(slug: "a") { title } }`,
		"bad cursor":     `{ products(after: "garbage") { nodes { id } } }`,
		"negative first": `{ products(first: -1) { nodes { id } } }`,
		"too deep":       `{ products { edges { node { optionGroups { options { id } } } } } }`,
	} {
		body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"x": true}})
		req := httptest.NewRequest("POST", "/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		depth := fp.depthLimit
		if name == "too deep" {
			fp.depthLimit = 4
		}
		if fp.serve(rec, req, 1<<20) {
			t.Errorf("%s: answered by the fast path: %s", name, rec.Body.String())
		}
		fp.depthLimit = depth
		if rec.Body.Len() != 0 {
			t.Errorf("%s: wrote before declining", name)
		}
		rest := make([]byte, len(body)+1)
		if n, _ := req.Body.Read(rest); n != len(body) {
			t.Errorf("%s: body not restored for gqlgen (%d of %d bytes)", name, n, len(body))
		}
	}
}
