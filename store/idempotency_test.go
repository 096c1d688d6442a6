package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

func wantIdemCode(t *testing.T, err error, code store.Code) {
	t.Helper()
	if e, ok := store.AsError(err); !ok || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestIdempotencySemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)

	replay, err := s.BeginIdempotent(ctx, "scope-a", "k1", "hash-1")
	if err != nil || replay != nil {
		t.Fatalf("first begin: %v %v", replay, err)
	}
	_, err = s.BeginIdempotent(ctx, "scope-a", "k1", "hash-1")
	wantIdemCode(t, err, store.CodeIdempotencyInFlight)
	_, err = s.BeginIdempotent(ctx, "scope-a", "k1", "hash-2")
	wantIdemCode(t, err, store.CodeIdempotencyConflict)
	// Keys are scoped: another API key may use the same key.
	if replay, err := s.BeginIdempotent(ctx, "scope-b", "k1", "hash-2"); err != nil || replay != nil {
		t.Fatalf("other scope: %v %v", replay, err)
	}

	body := []byte("{\"id\": \"x\",\n \"total\": 99.00}")
	if err := s.CompleteIdempotent(ctx, "scope-a", "k1", 201, body); err != nil {
		t.Fatal(err)
	}
	// A second completion keeps the first response.
	if err := s.CompleteIdempotent(ctx, "scope-a", "k1", 500, []byte("later")); err != nil {
		t.Fatal(err)
	}
	replay, err = s.BeginIdempotent(ctx, "scope-a", "k1", "hash-1")
	if err != nil || replay == nil || replay.Status != 201 || !bytes.Equal(replay.Body, body) || replay.CompletedAt.IsZero() {
		t.Fatalf("replay: %+v %v", replay, err)
	}
	_, err = s.BeginIdempotent(ctx, "scope-a", "k1", "hash-2")
	wantIdemCode(t, err, store.CodeIdempotencyConflict)
	// Abandon does not drop a completed key.
	if err := s.AbandonIdempotent(ctx, "scope-a", "k1"); err != nil {
		t.Fatal(err)
	}
	if replay, _ := s.BeginIdempotent(ctx, "scope-a", "k1", "hash-1"); replay == nil {
		t.Fatal("abandon dropped a completed key")
	}

	// A failed request stores nothing: the key is free again, for any body.
	if _, err := s.BeginIdempotent(ctx, "scope-a", "k2", "bad-body"); err != nil {
		t.Fatal(err)
	}
	if err := s.AbandonIdempotent(ctx, "scope-a", "k2"); err != nil {
		t.Fatal(err)
	}
	if replay, err := s.BeginIdempotent(ctx, "scope-a", "k2", "good-body"); err != nil || replay != nil {
		t.Fatalf("after abandon: %v %v", replay, err)
	}
}

func TestIdempotencyExpiryAndPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	s := store.New(db)
	for _, k := range []string{"old", "old-2", "fresh"} {
		if _, err := s.BeginIdempotent(ctx, "sc", k, "h"); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteIdempotent(ctx, "sc", k, 201, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key LIKE 'old%'`); err != nil {
		t.Fatal(err)
	}
	// An expired key is absent: a different body runs afresh.
	if replay, err := s.BeginIdempotent(ctx, "sc", "old", "other"); err != nil || replay != nil {
		t.Fatalf("expired key: %v %v", replay, err)
	}
	n, err := s.PurgeIdempotencyKeys(ctx, time.Now().Add(-store.IdempotencyTTL))
	if err != nil || n != 1 {
		t.Fatalf("purge: %d %v", n, err)
	}
	if replay, err := s.BeginIdempotent(ctx, "sc", "fresh", "h"); err != nil || replay == nil || string(replay.Body) != "fresh" {
		t.Fatalf("fresh key: %+v %v", replay, err)
	}
}

// Fifty clients send the same order with the same key at once: exactly one
// order is made, and every client gets that order (replayed) or
// IDEMPOTENCY_IN_FLIGHT.
func TestIdempotentCreateOrderConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := storetest.New(t)
	db.SetMaxOpenConns(20)
	s := store.New(db)
	p := insertOrderProduct(t, db, "instagram-growth")
	const n = 50
	type result struct {
		body     []byte
		replayed bool
		err      error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			replay, err := s.BeginIdempotent(ctx, "checkout-key-hash", "order-1", "body-hash")
			if err != nil {
				results[i] = result{err: err}
				return
			}
			if replay != nil {
				results[i] = result{body: replay.Body, replayed: true}
				return
			}
			o, items, err := s.CreateOrder(ctx, defaultsOrder(p))
			if err != nil {
				_ = s.AbandonIdempotent(ctx, "checkout-key-hash", "order-1")
				results[i] = result{err: err}
				return
			}
			body, err := json.Marshal(store.OrderWithItems{Order: *o, Items: items})
			if err == nil {
				err = s.CompleteIdempotent(ctx, "checkout-key-hash", "order-1", 201, body)
			}
			results[i] = result{body: body, err: err}
		})
	}
	close(start)
	wg.Wait()

	if c := countTableRows(t, db, "orders"); c != 1 {
		t.Fatalf("%d orders, want 1", c)
	}
	var orderID string
	if err := db.Get(&orderID, `SELECT id FROM orders`); err != nil {
		t.Fatal(err)
	}
	var first []byte
	created, replayed, inFlight := 0, 0, 0
	for _, r := range results {
		switch {
		case r.err != nil:
			wantIdemCode(t, r.err, store.CodeIdempotencyInFlight)
			inFlight++
		case r.replayed:
			replayed++
		default:
			created++
			first = r.body
		}
		if r.body != nil {
			var o struct{ ID string }
			if err := json.Unmarshal(r.body, &o); err != nil || o.ID != orderID {
				t.Fatalf("a caller got order %q, want %q", o.ID, orderID)
			}
		}
	}
	if created != 1 || created+replayed+inFlight != n {
		t.Fatalf("created %d, replayed %d, in flight %d", created, replayed, inFlight)
	}
	for _, r := range results {
		if r.replayed && !bytes.Equal(r.body, first) {
			t.Fatal("a replay differs from the first response")
		}
	}
	// After the run every retry replays the first response byte for byte.
	replay, err := s.BeginIdempotent(ctx, "checkout-key-hash", "order-1", "body-hash")
	if err != nil || replay == nil || replay.Status != 201 || !bytes.Equal(replay.Body, first) {
		t.Fatalf("late retry: %+v %v", replay, err)
	}
	t.Logf("created %d, replayed %d, in flight %d", created, replayed, inFlight)
}
