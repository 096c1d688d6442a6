package fulfillment_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
)

func TestThreeWorkersRunEachTaskOnce(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newProvider(t, nil)
	const orders, perOrder = 200, 10
	ids := seedTasks(t, db, orders, perOrder, "http", taskExec(p.URL+"/deliver"), 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	var stops []func()
	for i := 0; i < 3; i++ {
		w := fulfillment.New(st, fulfillment.Config{PollInterval: 20 * time.Millisecond, BatchSize: 25,
			Concurrency: 8, LeaseDuration: time.Minute, HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())
		stops = append(stops, startWorker(t, w))
	}
	total := orders * perOrder
	ev.waitFor(t, 60*time.Second, "2000 completions", func() bool { return ev.count(fulfillment.OutcomeCompleted) >= total })
	for _, stop := range stops {
		stop()
	}
	calls := p.snapshot()
	if len(calls) != total {
		t.Fatalf("provider saw %d distinct tasks, want %d", len(calls), total)
	}
	for id, n := range calls {
		if n != 1 {
			t.Fatalf("task %s called %d times", id, n)
		}
	}
	var notDone, notCompleted int
	_ = db.Get(&notDone, `SELECT count(*) FROM fulfillment_tasks WHERE status <> 'completed' OR attempt <> 1`)
	_ = db.Get(&notCompleted, `SELECT count(*) FROM orders WHERE id = ANY($1) AND status <> 'completed'`, pqArray(ids))
	if notDone != 0 || notCompleted != 0 || ev.count(fulfillment.OutcomeLeaseLost) != 0 {
		t.Fatalf("%d tasks and %d orders not completed", notDone, notCompleted)
	}
}

func TestKilledWorkerLeaseIsReclaimedAndStaleCompletionIgnored(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	firstArrived := make(chan struct{})
	release := make(chan struct{})
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, call int) {
		if call == 1 {
			close(firstArrived)
			<-release // the "killed" worker's call hangs
		}
		_ = json.NewEncoder(w).Encode(map[string]int{"call": call})
	})
	t0 := time.Now()
	seedTasks(t, db, 1, 1, "http", taskExec(p.URL), 3, t0.Add(-time.Minute))

	// Worker A: its clock is stuck (a frozen process), its lease runs out
	// at t0+1h and is never extended past that.
	evA := newEvents()
	clockA := &fakeClock{now: t0}
	a := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, LeaseDuration: time.Hour,
		Now: clockA.Now, HTTPClient: p.Client(), OnEvent: evA.add, WorkerID: "A"}, quietLogger())
	stopA := startWorker(t, a)
	<-firstArrived

	// Worker B lives two hours later: A's lease has expired.
	evB := newEvents()
	clockB := &fakeClock{now: t0.Add(2 * time.Hour)}
	b := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, LeaseDuration: time.Hour,
		Now: clockB.Now, HTTPClient: p.Client(), OnEvent: evB.add, WorkerID: "B"}, quietLogger())
	stopB := startWorker(t, b)
	evB.waitFor(t, 20*time.Second, "B completes the rescued task", func() bool { return evB.count(fulfillment.OutcomeCompleted) == 1 })

	close(release) // A's call finally answers; its completion must change nothing
	evA.waitFor(t, 20*time.Second, "A's stale completion", func() bool { return evA.count(fulfillment.OutcomeLeaseLost) == 1 })
	stopA()
	stopB()

	tasks, _ := st.FindTasksByOrder(context.Background(), firstOrder(t, db))
	task := tasks[0]
	var res struct {
		Response struct {
			Body struct{ Call int } `json:"body"`
		} `json:"response"`
	}
	_ = json.Unmarshal(task.Result, &res)
	if task.Status != store.TaskCompleted || res.Response.Body.Call != 2 || task.Attempt != 2 || task.RetryCount != 1 {
		t.Fatalf("task %s attempt %d retries %d result %s", task.Status, task.Attempt, task.RetryCount, task.Result)
	}
	if !strings.Contains(string(task.History), `"rescued"`) {
		t.Fatalf("history %s", task.History)
	}
	if evA.count(fulfillment.OutcomeCompleted) != 0 {
		t.Fatal("stale worker counted a completion")
	}
}

func firstOrder(t *testing.T, db interface {
	Get(any, string, ...any) error
}) string {
	t.Helper()
	var id string
	if err := db.Get(&id, `SELECT id FROM orders ORDER BY created_at LIMIT 1`); err != nil {
		t.Fatal(err)
	}
	return id
}

// Shutdown is tested in two halves, because the worker waits the whole grace
// period whenever a task never finishes: with a grace of seconds, one test
// that has both kinds of task would sleep for it.

// Tasks running at shutdown finish within the grace period, and nothing more
// is claimed. The grace is generous (a loaded CI box may take a while to
// complete them) and costs nothing: Run returns as soon as they are done.
func TestShutdownLetsRunningTasksFinish(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	var arrived atomic.Int32
	bothArrived := make(chan struct{})
	release := make(chan struct{})
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if arrived.Add(1) == 2 {
			close(bothArrived)
		}
		<-release
		_, _ = io.WriteString(w, `{}`)
	})
	seedTasks(t, db, 1, 4, "http", taskExec(p.URL), 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	const grace = 5 * time.Second
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, BatchSize: 2, Concurrency: 2,
		Grace: grace, HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-bothArrived
	cancel()
	close(release) // during the grace period
	waitRun(t, done, "running tasks finished")
	if w.Running() {
		t.Fatal("still running after Run returned")
	}
	rows := shutdownRows(t, db)
	completed, untouched := 0, 0
	for _, r := range rows {
		switch {
		case r.Status == "completed" && r.Attempt == 1:
			completed++
		case r.Status == "pending" && r.Attempt == 0 && r.Owner == nil:
			untouched++
		default:
			t.Errorf("task %+v", r)
		}
	}
	if completed != 2 || untouched != 2 || ev.count(fulfillment.OutcomeCompleted) != 2 ||
		ev.count(fulfillment.OutcomeReleased) != 0 {
		t.Fatalf("completed %d untouched %d, events: %d completed %d released", completed, untouched,
			ev.count(fulfillment.OutcomeCompleted), ev.count(fulfillment.OutcomeReleased))
	}
	if arrived.Load() != 2 {
		t.Fatalf("claimed after shutdown: %d calls", arrived.Load())
	}
}

// Tasks still running when the grace period ends are cancelled and their
// claims released without spending an attempt. Here the grace must expire
// (these tasks never finish) and nothing races it, so it is short.
func TestShutdownReleasesTasksStillRunningAfterGrace(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	var arrived atomic.Int32
	bothArrived := make(chan struct{})
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if arrived.Add(1) == 2 {
			close(bothArrived)
		}
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client going away
		<-r.Context().Done()               // never finishes: cancelled after the grace period
	})
	seedTasks(t, db, 1, 2, "http", taskExec(p.URL), 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, BatchSize: 2, Concurrency: 2,
		Grace: 100 * time.Millisecond, HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	<-bothArrived
	cancel()
	waitRun(t, done, "the grace period ended")
	released := 0
	for _, r := range shutdownRows(t, db) {
		if r.Status == "pending" && r.Attempt == 0 && r.RetryCount == 0 && r.Owner == nil {
			released++
		} else {
			t.Errorf("task %+v", r)
		}
	}
	if released != 2 || ev.count(fulfillment.OutcomeReleased) != 2 {
		t.Fatalf("released %d, %d release events", released, ev.count(fulfillment.OutcomeReleased))
	}
	if arrived.Load() != 2 {
		t.Fatalf("claimed after shutdown: %d calls", arrived.Load())
	}
}

// waitRun waits for Run to return after its context was cancelled; a
// minute means the shutdown is stuck (not a slow box).
func waitRun(t *testing.T, done <-chan error, after string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("Run did not return after %s", after)
	}
}

type shutdownRow struct {
	Status     string  `db:"status"`
	Attempt    int     `db:"attempt"`
	RetryCount int     `db:"retry_count"`
	Owner      *string `db:"lease_owner"`
}

func shutdownRows(t *testing.T, db *sqlx.DB) []shutdownRow {
	t.Helper()
	var rows []shutdownRow
	if err := db.Select(&rows, `SELECT status, attempt, retry_count, lease_owner FROM fulfillment_tasks ORDER BY status`); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestRetryScheduleThenDeadLetterPutsOrderOnHold(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		w.WriteHeader(http.StatusBadGateway)
	})
	clock := &fakeClock{now: time.Now()}
	seedTasks(t, db, 1, 1, "http", taskExec(p.URL), 2, clock.Now().Add(-time.Second))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, LeaseDuration: 10 * time.Minute,
		Now: clock.Now, HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())
	startWorker(t, w)

	scheduled := func() time.Time {
		var at time.Time
		if err := db.Get(&at, `SELECT scheduled_at FROM fulfillment_tasks`); err != nil {
			t.Fatal(err)
		}
		return at
	}
	for i, base := range []float64{60, 120} {
		ev.waitFor(t, 20*time.Second, "a retry", func() bool { return ev.count(fulfillment.OutcomeRetried) == i+1 })
		delay := scheduled().Sub(clock.Now()).Seconds()
		if delay < base*0.9-0.01 || delay > base*1.1+0.01 {
			t.Fatalf("retry %d after %.1fs, want %.0fs ±10%%", i+1, delay, base)
		}
		clock.Advance(time.Duration(base*1.2) * time.Second)
	}
	ev.waitFor(t, 20*time.Second, "dead letter", func() bool { return ev.count(fulfillment.OutcomeDeadLettered) == 1 })

	tasks, _ := st.FindTasksByOrder(context.Background(), firstOrder(t, db))
	var res map[string]any
	_ = json.Unmarshal(tasks[0].Result, &res)
	var hist []map[string]any
	_ = json.Unmarshal(tasks[0].History, &hist)
	if tasks[0].Status != store.TaskFailed || res["dead_letter"] != true || len(hist) != 3 ||
		!strings.Contains(*tasks[0].ErrorMessage, "unexpected status 502") {
		t.Fatalf("task %s result %s history %s", tasks[0].Status, tasks[0].Result, tasks[0].History)
	}
	var status string
	_ = db.Get(&status, `SELECT status FROM orders`)
	if status != "on_hold" {
		t.Fatalf("order %s, want on_hold", status)
	}
	m := w.Metrics()
	if m.TasksFailed != 3 || m.TasksRetried != 2 || m.TasksDeadLettered != 1 || m.TasksProcessed != 0 || m.LastError == nil {
		t.Fatalf("metrics %+v", m)
	}
}

func TestRetryDelayFormula(t *testing.T) {
	t.Parallel()
	for rc, want := range map[int]float64{0: 60, 1: 120, 2: 240, 3: 480, 4: 960, 5: 1800, 9: 1800, 60: 1800} {
		for _, u := range []float64{0, 0.5, 0.999999} {
			got := fulfillment.RetryDelay(rc, 0.1, u).Seconds()
			if got < want*0.9-1e-6 || got > want*1.1+1e-6 {
				t.Errorf("RetryDelay(%d, u=%v) = %v, want %v ±10%%", rc, u, got, want)
			}
		}
		if got := fulfillment.RetryDelay(rc, 0.1, 0.5).Seconds(); got != want {
			t.Errorf("midpoint RetryDelay(%d) = %v, want %v", rc, got, want)
		}
	}
}

type panicky struct{}

func (panicky) Execute(context.Context, *fulfillment.Job) fulfillment.Outcome { panic("executor bug") }

func TestPanicFailsOnlyThatTask(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newProvider(t, nil)
	seedTasks(t, db, 1, 1, "boom", map[string]any{"url": "http://unused"}, 3, time.Now().Add(-time.Minute))
	seedTasks(t, db, 1, 2, "http", taskExec(p.URL), 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, HTTPClient: p.Client(),
		OnEvent: ev.add, Executors: map[string]fulfillment.Executor{"boom": panicky{}}}, quietLogger())
	startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "both outcomes", func() bool {
		return ev.count(fulfillment.OutcomeCompleted) == 2 && ev.count(fulfillment.OutcomeRetried) == 1
	})
	var msg string
	_ = db.Get(&msg, `SELECT error_message FROM fulfillment_tasks WHERE execution_kind = 'boom'`)
	if !strings.Contains(msg, "panicked: executor bug") || !w.Running() {
		t.Fatalf("error %q running %v", msg, w.Running())
	}
}

// The seed product's configuration, end to end from EnqueueTasksTx: both
// calls arrive rendered, the tasks complete and the order completes.
func TestSeedConfigEndToEnd(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	var mu sync.Mutex
	got := map[string]*http.Request{}
	bodies := map[string]map[string]any{}
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		got[r.URL.Path], bodies[r.URL.Path] = r, body
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	})
	config := `{"tasks": [
	 {"type": "analytics_collection", "title": "Baseline analytics synchronization", "schedule_offset_minutes": 5,
	  "max_retries": 3, "payload": {"playbook": "instagram-baseline-analytics"},
	  "execution": {"method": "POST", "url": "{{ env.FULFILLMENT_BASE_URL }}/v1/instagram/analytics/sync",
	   "headers": {"Content-Type": "application/json", "Authorization": "Bearer {{ env.FULFILLMENT_ANALYTICS_TOKEN }}",
	     "X-Order-Id": "{{ order.id }}", "X-Order-Number": "{{ order.order_number }}"},
	   "timeout_seconds": 10, "success_statuses": [200, 202],
	   "body": {"orderId": "{{ order.id }}", "orderNumber": "{{ order.orderNumber }}", "productSlug": "{{ product.slug }}",
	     "itemId": "{{ item.id }}", "quantity": "{{ item.quantity }}", "selectedOptions": "{{ item.selected_options }}",
	     "attributes": "{{ item.attributes }}"},
	   "environment_keys": ["FULFILLMENT_BASE_URL", "FULFILLMENT_ANALYTICS_TOKEN"]}},
	 {"type": "content_promotion", "title": "Campaign activation webhook", "schedule_offset_minutes": 30, "max_retries": 5,
	  "execution": {"url": "{{ env.FULFILLMENT_BASE_URL }}/v1/campaigns/activate",
	   "headers": {"Authorization": "Bearer {{ env.FULFILLMENT_ACTIVATION_TOKEN }}"}, "success_status_min": 200,
	   "success_status_max": 299,
	   "body": {"campaign": {"orderId": "{{ order.id }}", "total": "{{ order.total }}", "unitPrice": "{{ item.unit_price }}"},
	     "customer": {"userId": "{{ order.user_id }}"}, "metadata": {"notes": "{{ order.notes }}"}},
	   "environment_keys": ["FULFILLMENT_BASE_URL", "FULFILLMENT_ACTIVATION_TOKEN"]}}]}`
	ctx := context.Background()
	var productID, orderID string
	if err := db.Get(&productID, `INSERT INTO products (slug, title, category, base_price, status, fulfillment_config)
		VALUES ('instagram-growth', 'Instagram Growth Service', 'social_media', 99, 'active', $1) RETURNING id`, config); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&orderID, `INSERT INTO orders (status, subtotal, total, notes) VALUES ('processing', 1277.40, 1277.40, 'rush')
		RETURNING id`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO order_items (order_id, product_id, product_title, quantity, unit_price, total_price,
		selected_options, attributes) VALUES ($1, $2, 'Instagram Growth Service', 1, 1277.40, 1277.40,
		'{"options":[{"groupId":"g","optionId":"o"}]}', '{"customFields":[{"id":"f","value":"@brand"}]}')`, orderID, productID); err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *sqlx.Tx) error {
		_, err := store.EnqueueTasksTx(ctx, tx, orderID, time.Now().Add(-time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FULFILLMENT_BASE_URL": p.URL, "FULFILLMENT_ANALYTICS_TOKEN": "tok-a",
		"FULFILLMENT_ACTIVATION_TOKEN": "tok-b", "DATABASE_URL": "postgres://secret"}
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, HTTPClient: p.Client(),
		Env: func(k string) string { return env[k] }, OnEvent: ev.add}, quietLogger())
	startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "two completions", func() bool { return ev.count(fulfillment.OutcomeCompleted) == 2 })

	mu.Lock()
	defer mu.Unlock()
	var number string
	_ = db.Get(&number, `SELECT order_number FROM orders WHERE id = $1`, orderID)
	a, b := got["/v1/instagram/analytics/sync"], got["/v1/campaigns/activate"]
	if a == nil || b == nil {
		t.Fatalf("calls: %v", got)
	}
	if a.Header.Get("Authorization") != "Bearer tok-a" || a.Header.Get("X-Order-Number") != number ||
		a.Header.Get("X-Order-Id") != orderID || b.Header.Get("Authorization") != "Bearer tok-b" {
		t.Fatalf("headers %v / %v", a.Header, b.Header)
	}
	ab, bb := bodies["/v1/instagram/analytics/sync"], bodies["/v1/campaigns/activate"]
	if ab["quantity"] != float64(1) || ab["orderNumber"] != number || ab["productSlug"] != "instagram-growth" {
		t.Fatalf("analytics body %v", ab)
	}
	if _, ok := ab["selectedOptions"].(map[string]any); !ok {
		t.Fatalf("selectedOptions not an object: %v", ab["selectedOptions"])
	}
	campaign := bb["campaign"].(map[string]any)
	if campaign["total"] != 1277.4 || bb["customer"].(map[string]any)["userId"] != nil ||
		bb["metadata"].(map[string]any)["notes"] != "rush" {
		t.Fatalf("activation body %v", bb)
	}
	var status string
	_ = db.Get(&status, `SELECT status FROM orders WHERE id = $1`, orderID)
	if status != "completed" {
		t.Fatalf("order %s", status)
	}
}
