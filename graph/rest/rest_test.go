package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

func newServer(t *testing.T) (http.Handler, *store.Store) {
	t.Helper()
	st := storetest.NewStore(t)
	if _, err := st.Seed(context.Background(), "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	return graph.NewServer(graph.ServerConfig{
		Store: st, Environment: "test", Version: "v-test", Logger: slog.New(slog.DiscardHandler),
		Keys:        auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"}),
		CORSOrigins: []string{"http://localhost:3000"},
	}), st
}

func do(t *testing.T, h http.Handler, method, path string, body io.Reader, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestProductDetailGolden(t *testing.T) {
	t.Parallel()
	h, _ := newServer(t)
	for _, path := range []string{"/api/v1/products/instagram-growth", "/api/v1/products/instagram-growth/"} {
		rec := do(t, h, "GET", path, nil)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
		got := graphtest.Normalize(t, rec.Body.Bytes())
		golden := "testdata/instagram-growth.json"
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s (run go test ./graph/rest -update to accept):\n%s", path, golden, got)
		}
	}
}

func TestProductNotFound(t *testing.T) {
	t.Parallel()
	h, _ := newServer(t)
	rec := do(t, h, "GET", "/api/v1/products/nope", nil)
	if rec.Code != 404 || rec.Body.String() != `{"detail":"Product not found","code":"NOT_FOUND"}`+"\n" {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
}

func TestProductList(t *testing.T) {
	t.Parallel()
	h, st := newServer(t)
	if _, err := st.DB().Exec(`INSERT INTO products (slug, title, category, base_price, status, created_at)
		SELECT 'bulk-' || i, 'Bulk', 'bulk', 10, 'draft', now() + make_interval(secs => i) FROM generate_series(1, 120) i`); err != nil {
		t.Fatal(err)
	}
	rec := do(t, h, "GET", "/api/v1/products/", nil)
	var list []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v", rec.Code, err)
	}
	if len(list) != 121 || list[0]["slug"] != "instagram-growth" || list[0]["basePrice"] != 99.0 || list[120]["slug"] != "bulk-120" {
		t.Fatalf("list: %d products, first %v", len(list), list[0])
	}
	for _, k := range []string{"id", "slug", "title", "description", "category", "basePrice", "currency", "status", "createdAt", "updatedAt"} {
		if _, ok := list[0][k]; !ok {
			t.Errorf("product list item lacks %q", k)
		}
	}
	if _, ok := list[0]["optionGroups"]; ok {
		t.Error("the list carries base fields only")
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h, _ := newServer(t)
	for path, want := range map[string]string{
		"/healthz":         `{"environment":"test","status":"ok","version":"v-test"}`,
		"/healthz/":        `{"environment":"test","status":"ok","version":"v-test"}`,
		"/api/v1/healthz":  `{"status":"ok"}`,
		"/api/v1/healthz/": `{"status":"ok"}`,
	} {
		rec := do(t, h, "GET", path, nil)
		if rec.Code != 200 || rec.Body.String() != want+"\n" {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body.String())
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	h, _ := newServer(t)
	rec := do(t, h, "OPTIONS", "/graphql", nil, "Origin", "http://localhost:3000",
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type,x-api-key")
	if rec.Header().Get("Access-Control-Allow-Origin") != "http://localhost:3000" {
		t.Fatalf("allowed origin refused: %d %v", rec.Code, rec.Header())
	}
	rec = do(t, h, "GET", "/api/v1/products", nil, "Origin", "https://evil.example")
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("unknown origin allowed: %v", rec.Header())
	}
}
