package fulfillment_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// newDB is a fresh database with a bounded pool (tests run in parallel).
func newDB(t *testing.T) (*sqlx.DB, *store.Store) {
	t.Helper()
	db := storetest.New(t)
	db.SetMaxOpenConns(24)
	db.SetMaxIdleConns(24)
	return db, store.New(db)
}

// seedTasks inserts orders×perOrder order items with one task each of the
// given kind and execution, due at due; it returns the order ids.
func seedTasks(t *testing.T, db *sqlx.DB, orders, perOrder int, kind string, exec any, maxRetries int, due time.Time) []string {
	t.Helper()
	ctx := context.Background()
	execJSON, err := json.Marshal(exec)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	err = db.SelectContext(ctx, &ids, `INSERT INTO orders (status, total, currency)
		SELECT 'processing', 10, 'EUR' FROM generate_series(1, $1) RETURNING id`, orders)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO order_items (order_id, product_title, quantity, unit_price, total_price,
			attributes)
		SELECT o, 'Followers', 2, 5, 10, '{"handle": "@brand", "link": "https://instagram.com/brand"}' FROM unnest($1::uuid[]) o, generate_series(1, $2)`,
		pqArray(ids), perOrder)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.ExecContext(ctx, `INSERT INTO fulfillment_tasks (order_item_id, task_type, execution_kind, title,
			payload, execution, max_retries, scheduled_at)
		SELECT oi.id, 'follower_growth', $2, 'Grow followers',
			jsonb_build_object('order', jsonb_build_object('id', o.id, 'order_number', o.order_number, 'total', o.total),
				'item', jsonb_build_object('id', oi.id, 'quantity', oi.quantity, 'attributes', oi.attributes),
				'product', jsonb_build_object('slug', 'followers')),
			$3::jsonb, $4, $5
		FROM order_items oi JOIN orders o ON o.id = oi.order_id WHERE oi.order_id = ANY($1)`,
		pqArray(ids), kind, string(execJSON), maxRetries, due)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// events collects worker events and lets a test wait for a condition.
type events struct {
	mu   sync.Mutex
	all  []fulfillment.Event
	wake chan struct{}
}

func newEvents() *events { return &events{wake: make(chan struct{}, 1)} }

func (e *events) add(ev fulfillment.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *events) count(outcome string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Outcome == outcome {
			n++
		}
	}
	return n
}

// waitFor blocks until cond holds after an event, or fails after timeout.
func (e *events) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-e.wake:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// startWorker runs w until the test ends (or stop is called); stop returns
// after Run has returned.
func startWorker(t *testing.T, w *fulfillment.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fakeClock is a settable clock for retry schedules and lease expiry.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// provider is a fake HTTP provider counting calls per X-Task-Id.
type provider struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newProvider(t *testing.T, h func(w http.ResponseWriter, r *http.Request, call int)) *provider {
	p := &provider{calls: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Task-Id")
		p.mu.Lock()
		p.calls[id]++
		n := p.calls[id]
		p.mu.Unlock()
		if h != nil {
			h(w, r, n)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *provider) snapshot() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.calls))
	for k, v := range p.calls {
		out[k] = v
	}
	return out
}

// taskExec is an http block that sends the task id in a header.
func taskExec(url string) map[string]any {
	return map[string]any{"url": url, "headers": map[string]any{"X-Task-Id": "{{ task.id }}"},
		"body": map[string]any{"task": "{{ task.id }}", "quantity": "{{ item.quantity }}"}, "timeout_seconds": 10}
}

func pqArray(ids []string) any { return pq.Array(ids) }
