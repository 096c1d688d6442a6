package graph_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// cachedProcess is one API process: its own store pool, cache and change feed.
func cachedProcess(t *testing.T, dsn string) (http.Handler, *graph.ResponseCache) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cache := graph.NewResponseCache(8 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = store.ListenCatalog(ctx, dsn, cache.Invalidate, cache.SetLive)
	}()
	t.Cleanup(func() { cancel(); <-done })
	h := graph.NewServer(graph.ServerConfig{Store: store.New(db), Logger: slog.New(slog.DiscardHandler), Cache: cache,
		Keys: auth.NewKeys([]string{"checkout-key"}, []string{"admin-key"})})
	return h, cache
}

func query(h http.Handler, body, key string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

const titleQuery = `{"query":"{ product(slug: \"instagram-growth\") { title optionGroups { options { label } } } }"}`

// TestCacheInvalidationAcrossProcesses: a write through one process is
// visible to reads on another within a second, though both cache.
func TestCacheInvalidationAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	a, _ := cachedProcess(t, dsn)
	b, cacheB := cachedProcess(t, dsn)
	if _, err := store.New(mustOpen(t, dsn)).Seed(context.Background(), "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the seed to reach process b", func() bool {
		return strings.Contains(query(b, titleQuery, "").Body.String(), "Instagram Growth Service")
	})
	// The seed's notifications may still be arriving; a repeated query is
	// soon answered from the cache.
	waitFor(t, "a cache hit on process b", func() bool { return query(b, titleQuery, "").Header().Get("X-Cache") == "hit" })
	var id string
	if err := mustOpen(t, dsn).Get(&id, `SELECT id FROM products`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	rec := query(a, `{"query":"mutation { updateProduct(id: \"`+id+`\", input: {title: \"Renamed\"}) { title } }"}`, "admin-key")
	if !strings.Contains(rec.Body.String(), "Renamed") {
		t.Fatalf("update: %s", rec.Body.String())
	}
	waitFor(t, "the write to reach process b", func() bool {
		return strings.Contains(query(b, titleQuery, "").Body.String(), `"Renamed"`)
	})
	// Correctness is that it arrives (waitFor); how fast is measured, not asserted.
	t.Logf("write through process a visible on process b after %v", time.Since(start))

	// While the change feed is down the cache is bypassed.
	cacheB.SetLive(false)
	query(b, titleQuery, "")
	if rec := query(b, titleQuery, ""); rec.Header().Get("X-Cache") == "hit" {
		t.Fatal("cache answered while its change feed was down")
	}
}

// TestCacheKeepsPrivateAnswersOut: answers with admin fields, errors or
// mutations are never stored.
func TestCacheKeepsPrivateAnswersOut(t *testing.T) {
	t.Parallel()
	dsn := storetest.URL(t)
	h, _ := cachedProcess(t, dsn)
	if _, err := store.New(mustOpen(t, dsn)).Seed(context.Background(), "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	private := `{"query":"{ product(slug: \"instagram-growth\") { title fulfillmentConfig } }"}`
	waitFor(t, "the seed", func() bool {
		return strings.Contains(query(h, private, "admin-key").Body.String(), "analytics_collection")
	})
	for _, tc := range []struct{ body, key string }{
		{private, "admin-key"},
		{`{"query":"{ quote(productSlug: \"nope\") { total } }"}`, ""},
		{`{"query":"{ orders { totalCount } }"}`, "admin-key"},
		{`{"query":"{ __schema { queryType { name } } }"}`, ""},
	} {
		query(h, tc.body, tc.key)
		if rec := query(h, tc.body, tc.key); rec.Header().Get("X-Cache") == "hit" {
			t.Errorf("cached: %s", tc.body)
		}
	}
	// Without the key the private field is refused, never served from cache.
	if rec := query(h, private, ""); !strings.Contains(rec.Body.String(), "UNAUTHENTICATED") {
		t.Fatalf("private field without a key: %s", rec.Body.String())
	}
}

func mustOpen(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// waitFor polls cond until it holds, failing after five seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
