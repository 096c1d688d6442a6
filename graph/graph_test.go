package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/client"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

func newServer(t *testing.T, st *store.Store) http.Handler {
	t.Helper()
	return graph.NewServer(graph.ServerConfig{
		Store: st, Environment: "test", Version: "test", Logger: slog.New(slog.DiscardHandler),
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"}),
	})
}

// post runs a query and decodes its data into out, failing on any error.
func post(t *testing.T, c *client.Client, query string, out any, opts ...client.Option) {
	t.Helper()
	if err := postErr(c, query, out, opts...); err != nil {
		t.Fatal(err)
	}
}

// postErr runs a query and decodes its data into out; GraphQL errors come
// back as one error holding their JSON.
func postErr(c *client.Client, query string, out any, opts ...client.Option) error {
	resp, err := c.RawPost(query, opts...)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 && string(resp.Errors) != "null" {
		return fmt.Errorf("graphql errors: %s", resp.Errors)
	}
	b, err := json.Marshal(resp.Data)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func seededClient(t *testing.T) (*client.Client, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	if _, err := st.Seed(context.Background(), "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	return client.New(newServer(t, st), client.Path("/graphql")), st
}

const productQuery = `query($slug: String!) { product(slug: $slug) { ` + graphtest.ProductFields + ` } }`

type productResp struct {
	Product *struct {
		Slug, Title, BasePrice, Currency, Status string
		OptionGroups                             []struct {
			Name, GroupType string
			IsRequired      bool
			DisplayOrder    int
			Options         []struct {
				Name, Label, PriceDelta string
				DisplayOrder            int
				MetadataJSON            map[string]any `json:"metadataJson"`
			}
		}
		AddOns []struct {
			Label, PriceDelta string
			IsRecommended     bool
		}
		CustomFields []struct {
			Label, FieldType string
			IsRequired       bool
		}
		SubscriptionPlans []struct {
			Label, BillingCycle string
			PriceMultiplier     *string
			PriceDelta          *string
			IsDefault           bool
		}
	}
}

func TestProductQueryReturnsSeed(t *testing.T) {
	t.Parallel()
	c, _ := seededClient(t)
	var resp productResp
	post(t, c, productQuery, &resp, client.Var("slug", "instagram-growth"))
	p := resp.Product
	if p == nil || p.Title != "Instagram Growth Service" || p.BasePrice != "99.00" || p.Currency != "EUR" || p.Status != "ACTIVE" {
		t.Fatalf("product: %+v", p)
	}
	if len(p.OptionGroups) != 2 || len(p.OptionGroups[0].Options) != 3 || len(p.OptionGroups[1].Options) != 4 {
		t.Fatalf("groups: %+v", p.OptionGroups)
	}
	g0 := p.OptionGroups[0]
	if g0.GroupType != "SINGLE" || !g0.IsRequired || g0.Options[1].Label != "Scale (8-week program)" ||
		g0.Options[1].Name != g0.Options[1].Label || g0.Options[1].PriceDelta != "450.00" ||
		g0.Options[0].MetadataJSON["recommended"] != true {
		t.Errorf("campaign tier: %+v", g0)
	}
	if p.OptionGroups[1].GroupType != "MULTIPLE" || p.OptionGroups[1].Options[3].Name != "Community management" {
		t.Errorf("focus areas: %+v", p.OptionGroups[1])
	}
	if len(p.AddOns) != 3 || !p.AddOns[0].IsRecommended || p.AddOns[1].PriceDelta != "560.00" {
		t.Errorf("add-ons: %+v", p.AddOns)
	}
	if len(p.CustomFields) != 3 || p.CustomFields[2].FieldType != "URL" || p.CustomFields[2].IsRequired {
		t.Errorf("fields: %+v", p.CustomFields)
	}
	plans := p.SubscriptionPlans
	if len(plans) != 3 || !plans[0].IsDefault || plans[0].PriceMultiplier != nil || plans[1].BillingCycle != "QUARTERLY" ||
		*plans[1].PriceMultiplier != "2.60" || *plans[2].PriceDelta != "-600.00" {
		t.Errorf("plans: %+v", plans)
	}
}

func TestProductQueryAbsentIsNull(t *testing.T) {
	t.Parallel()
	c, _ := seededClient(t)
	var resp productResp
	post(t, c, productQuery, &resp, client.Var("slug", "no-such-product"))
	if resp.Product != nil {
		t.Fatalf("want null, got %+v", resp.Product)
	}
}

type pageResp struct {
	Products struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage bool
			EndCursor   *string
		}
		Edges []struct {
			Cursor string
			Node   struct{ Slug string }
		}
		Nodes []struct{ Slug string }
	}
}

const pageQuery = `query($first: Int, $after: String, $filter: ProductFilter) {
	products(first: $first, after: $after, filter: $filter) {
		totalCount pageInfo { hasNextPage endCursor } edges { cursor node { slug } } nodes { slug } } }`

func addProducts(t *testing.T, st *store.Store, n int) {
	t.Helper()
	_, err := st.DB().Exec(`INSERT INTO products (slug, title, category, base_price, status, created_at)
		SELECT 'bulk-' || i, 'Bulk ' || i, 'bulk', 10, 'active', now() + make_interval(secs => i)
		FROM generate_series(1, $1) AS i`, n)
	if err != nil {
		t.Fatal(err)
	}
}

func TestProductsPagination(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	addProducts(t, st, 104) // 105 products in all

	var first pageResp
	post(t, c, pageQuery, &first, client.Var("first", 2))
	p := first.Products
	if p.TotalCount != 105 || len(p.Edges) != 2 || !p.PageInfo.HasNextPage || p.Nodes[0].Slug != "instagram-growth" ||
		p.Edges[1].Node.Slug != "bulk-1" || *p.PageInfo.EndCursor != p.Edges[1].Cursor {
		t.Fatalf("first page: %+v", p)
	}

	var next pageResp
	post(t, c, pageQuery, &next, client.Var("first", 3), client.Var("after", *p.PageInfo.EndCursor))
	if got := next.Products.Nodes; len(got) != 3 || got[0].Slug != "bulk-2" || got[2].Slug != "bulk-4" {
		t.Fatalf("second page: %+v", got)
	}

	var capped pageResp
	post(t, c, pageQuery, &capped, client.Var("first", 1000))
	if len(capped.Products.Nodes) != store.MaxPageSize || !capped.Products.PageInfo.HasNextPage {
		t.Fatalf("first over the cap: %d nodes", len(capped.Products.Nodes))
	}

	var rest pageResp
	post(t, c, pageQuery, &rest, client.Var("first", 100), client.Var("after", *capped.Products.PageInfo.EndCursor))
	if len(rest.Products.Nodes) != 5 || rest.Products.PageInfo.HasNextPage {
		t.Fatalf("last page: %d nodes, next %v", len(rest.Products.Nodes), rest.Products.PageInfo.HasNextPage)
	}

	var past pageResp
	post(t, c, pageQuery, &past, client.Var("first", 10), client.Var("after", *rest.Products.PageInfo.EndCursor))
	if len(past.Products.Nodes) != 0 || past.Products.PageInfo.HasNextPage || past.Products.PageInfo.EndCursor != nil {
		t.Fatalf("cursor past the end: %+v", past.Products)
	}

	var filtered pageResp
	post(t, c, pageQuery, &filtered, client.Var("filter", map[string]any{"status": "ACTIVE", "category": "social_media"}))
	if filtered.Products.TotalCount != 1 || filtered.Products.Nodes[0].Slug != "instagram-growth" {
		t.Fatalf("filtered: %+v", filtered.Products)
	}

	err := postErr(c, pageQuery, &past, client.Var("after", "not a cursor"))
	if err == nil || !strings.Contains(err.Error(), "BAD_USER_INPUT") {
		t.Fatalf("bad cursor: %v", err)
	}
}

const nestedPageQuery = `query($first: Int) { products(first: $first) { nodes {
	id slug optionGroups { id name options { id label priceDelta } }
	addOns { id label } customFields { id label } subscriptionPlans { id label } } } }`

// TestNestedPageStatementCount pins the statements a catalog page costs:
// the page, then one statement for all its configuration lists (groups,
// options, add-ons, custom fields, plans) — two, whether the page holds 5
// products or 50, on the fast path and through gqlgen's resolvers.
func TestNestedPageStatementCount(t *testing.T) {
	t.Parallel()
	db, counter := storetest.NewCounting(t)
	st := store.New(db)
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		sp := store.Seeds["instagram-growth"]
		sp.Slug = fmt.Sprintf("product-%02d", i)
		if _, err := st.SeedProduct(ctx, sp); err != nil {
			t.Fatal(err)
		}
	}
	for _, gqlgenOnly := range []bool{false, true} { // the catalog fast path, and gqlgen's resolvers with loaders
		c := client.New(graph.NewServer(graph.ServerConfig{Store: st, Logger: slog.New(slog.DiscardHandler),
			DisableFastPath: gqlgenOnly}), client.Path("/graphql"))
		for _, n := range []int{5, 50} {
			var resp struct {
				Products struct {
					Nodes []struct {
						OptionGroups []struct{ Options []struct{ ID string } }
						AddOns       []struct{ ID string }
					}
				}
			}
			counter.Reset()
			post(t, c, nestedPageQuery, &resp, client.Var("first", n))
			got := counter.Load()
			nodes := resp.Products.Nodes
			if len(nodes) != n || len(nodes[n-1].OptionGroups) != 2 || len(nodes[n-1].OptionGroups[1].Options) != 4 ||
				len(nodes[n-1].AddOns) != 3 {
				t.Fatalf("first %d: incomplete answer", n)
			}
			if got != 2 {
				t.Errorf("products(first: %d) with its whole configuration ran %d SQL statements, want 2", n, got)
			}
			t.Logf("products(first: %d) nested: %d SQL statements (gqlgen only: %v)", n, got, gqlgenOnly)
		}
	}
}

// TestLimitsRejectBeforeResolvers checks that an abusive query is refused
// by the depth and complexity limits before any resolver (so any SQL) runs.
func TestLimitsRejectBeforeResolvers(t *testing.T) {
	t.Parallel()
	db, counter := storetest.NewCounting(t)
	h := newServer(t, store.New(db))
	aliases := make([]string, 30)
	for i := range aliases {
		aliases[i] = fmt.Sprintf(`a%d: products(first: 100) { nodes { optionGroups { options { id } } addOns { id } } }`, i)
	}
	cases := map[string]struct {
		query, code string
	}{
		"complexity":              {"{ " + strings.Join(aliases, " ") + " }", "COMPLEXITY_LIMIT_EXCEEDED"},
		"depth":                   {`{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		"depth through fragments": {`{ products { nodes { ...G } } } fragment G on Product { optionGroups { options { ...O } } } fragment O on ProductOption { id }`, ""},
	}
	for name, tc := range cases {
		counter.Reset()
		req := httptest.NewRequest("POST", "/graphql", strings.NewReader(fmt.Sprintf(`{"query": %q}`, tc.query)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if tc.code == "" { // within the limits: answered
			if rec.Code != 200 || strings.Contains(rec.Body.String(), "errors") {
				t.Errorf("%s: %d %s", name, rec.Code, rec.Body.String())
			}
			continue
		}
		if !strings.Contains(rec.Body.String(), tc.code) || strings.Contains(rec.Body.String(), `"data":{`) {
			t.Errorf("%s: want %s and no data, got %d %s", name, tc.code, rec.Code, rec.Body.String())
		}
		if n := counter.Load(); n != 0 {
			t.Errorf("%s: %d SQL statements ran before the limit refused the query", name, n)
		}
	}
}

func TestRequestBodyCap(t *testing.T) {
	t.Parallel()
	h := newServer(t, storetest.NewStore(t))
	body := `{"query": "{ products { nodes { id } } }", "pad": "` + strings.Repeat("x", 2<<20) + `"}`
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || strings.Contains(rec.Body.String(), `"data":{`) {
		t.Fatalf("2 MiB body: %d %s", rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
	}
}
