package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// The resolver path of the catalog workloads of `make bench` (W1: one
// product with its whole configuration; W2: a page of 50 active products,
// the same fields), through the whole HTTP handler over a real Postgres. Run
//
//	go test -run '^$' -bench W2 -benchmem -cpuprofile cpu.out ./graph/
//	go tool pprof -top graph.test cpu.out
//
// stmts/op is the SQL statements each request sent (storetest.NewCounting).

// benchServer seeds 80 products (56 active) into a counting database and
// returns the production handler and the statement counter.
func benchServer(b *testing.B) (http.Handler, *storetest.Counter) {
	b.Helper()
	db, counter := storetest.NewCounting(b)
	// The pool as store.Open sizes it in production (database/sql keeps only
	// two idle connections by default: every request would dial again).
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	st := store.New(db)
	for i := range 80 {
		if _, err := st.SeedProduct(context.Background(), graphtest.CatalogProduct(i)); err != nil {
			b.Fatal(err)
		}
	}
	h := graph.NewServer(graph.ServerConfig{
		Store: st, Environment: "production", Version: "bench", Logger: slog.New(slog.DiscardHandler),
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"}),
	})
	return h, counter
}

type benchProduct struct {
	Slug         string
	OptionGroups []struct {
		Options []struct{ ID string }
	}
	AddOns, CustomFields, SubscriptionPlans []struct{ ID string }
}

func (p benchProduct) complete() bool {
	if len(p.OptionGroups) != 3 || len(p.AddOns) != 3 || len(p.CustomFields) != 2 || len(p.SubscriptionPlans) != 3 {
		return false
	}
	for _, g := range p.OptionGroups {
		if len(g.Options) != 4 {
			return false
		}
	}
	return true
}

func benchRequest(b *testing.B, h http.Handler, counter *storetest.Counter, body []byte, check func([]byte) error) {
	b.Helper()
	serve := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := serve() // checked once, outside the timing
	if rec.Code != 200 {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var env struct {
		Data   json.RawMessage
		Errors json.RawMessage
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || len(env.Errors) > 0 {
		b.Fatalf("answer: %v %.500s", err, rec.Body)
	}
	if err := check(env.Data); err != nil {
		b.Fatal(err)
	}
	size := rec.Body.Len()
	counter.Reset()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		if rec := serve(); rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
		n++
	}
	b.StopTimer()
	b.ReportMetric(float64(counter.Load())/float64(n), "stmts/op")
	b.ReportMetric(float64(size), "resp-bytes")
}

func BenchmarkW1(b *testing.B) {
	h, counter := benchServer(b)
	body, _ := json.Marshal(map[string]any{
		"query":     `query W1($slug: String!) { product(slug: $slug) { ` + graphtest.ProductFields + ` } }`,
		"variables": map[string]any{"slug": "bench-product-001"},
	})
	benchRequest(b, h, counter, body, func(data []byte) error {
		var out struct{ Product *benchProduct }
		if err := json.Unmarshal(data, &out); err != nil {
			return err
		}
		if out.Product == nil || !out.Product.complete() {
			return fmt.Errorf("W1: incomplete product: %s", data)
		}
		return nil
	})
}

func BenchmarkW2(b *testing.B) {
	h, counter := benchServer(b)
	body, _ := json.Marshal(map[string]any{
		"query": `{ products(first: 50, filter: {status: ACTIVE}) { nodes { ` + graphtest.ProductFields + ` } } }`,
	})
	benchRequest(b, h, counter, body, func(data []byte) error {
		var out struct {
			Products struct{ Nodes []benchProduct }
		}
		if err := json.Unmarshal(data, &out); err != nil {
			return err
		}
		if len(out.Products.Nodes) != 50 {
			return fmt.Errorf("W2: %d nodes, want 50", len(out.Products.Nodes))
		}
		for _, p := range out.Products.Nodes {
			if !p.complete() {
				return fmt.Errorf("W2: incomplete product %s", p.Slug)
			}
		}
		return nil
	})
}
