package store

// Fulfillment tasks: creation from a product's fulfillment_config, claiming
// under a lease (River-style), every state change the worker and operators
// make, and the order status derived from the tasks (SPEC §5, §9).
//
// Claiming and leases: a worker claims due tasks with one
// UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT n) … RETURNING, which
// moves them to in_progress, writes its lease_owner and lease_expires_at and
// bumps attempt. Every later change a worker makes presents the TaskLease
// (id, owner, attempt) in its WHERE clause, so a worker whose lease expired
// (and whose task was rescued and claimed by someone else) changes nothing
// and gets ErrLeaseLost.
//
// Order status: every transaction that changes tasks re-derives the status of
// the orders they belong to before it commits (deriveOrderStatusTx), after
// locking those order rows in id order so concurrent task changes of one
// order serialise and the last one sees every other's result.
//
// Clocks: the worker passes its own clock (now) to the worker methods so
// tests can pin times; operator actions use the store's clock.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// TaskStatus is a fulfillment task's state.
type TaskStatus string

// Task statuses. parked means "needs an operator": the worker could not tell
// whether a provider acted (e.g. an SMM panel order whose reply was lost) and
// will not touch the task again until an operator retries, completes, fails
// or cancels it.
const (
	TaskPending    TaskStatus = "pending"
	TaskInProgress TaskStatus = "in_progress"
	TaskCompleted  TaskStatus = "completed"
	TaskFailed     TaskStatus = "failed"
	TaskCanceled   TaskStatus = "canceled"
	TaskParked     TaskStatus = "parked"
)

// TaskStatuses lists every task status.
var TaskStatuses = []TaskStatus{TaskPending, TaskInProgress, TaskCompleted, TaskFailed, TaskCanceled, TaskParked}

func (e TaskStatus) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *TaskStatus) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "status", v, TaskStatuses)
}

// TaskType is what a task does (SPEC §2), plus manual for the task created
// for products without a fulfillment configuration.
type TaskType string

// Task types.
const (
	TaskInstagramSetup       TaskType = "instagram_setup"
	TaskFollowerGrowth       TaskType = "follower_growth"
	TaskEngagementBoost      TaskType = "engagement_boost"
	TaskContentPromotion     TaskType = "content_promotion"
	TaskAnalyticsCollection  TaskType = "analytics_collection"
	TaskCampaignOptimization TaskType = "campaign_optimization"
	TaskManual               TaskType = "manual"
)

// TaskTypes lists every task type.
var TaskTypes = []TaskType{TaskInstagramSetup, TaskFollowerGrowth, TaskEngagementBoost, TaskContentPromotion,
	TaskAnalyticsCollection, TaskCampaignOptimization, TaskManual}

func (e TaskType) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *TaskType) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "type", v, TaskTypes)
}

// Execution kinds (the execution_kind column).
const (
	ExecutionHTTP     = "http"
	ExecutionSMMPanel = "smm_panel"
	ExecutionManual   = "manual"
)

// Task is one unit of fulfillment work for one order item.
type Task struct {
	ID          string   `db:"id" json:"id"`
	OrderItemID string   `db:"order_item_id" json:"order_item_id"`
	OrderID     string   `db:"order_id" json:"order_id"`
	TaskType    TaskType `db:"task_type" json:"task_type"`
	// ExecutionKind is http, smm_panel or manual (never claimed).
	ExecutionKind string     `db:"execution_kind" json:"execution_kind"`
	Status        TaskStatus `db:"status" json:"status"`
	Title         string     `db:"title" json:"title"`
	Description   *string    `db:"description" json:"description"`
	// Payload is the configured payload plus the order/item/product context
	// (keys "order", "item", "product", "metadata") captured at creation.
	Payload JSON `db:"payload" json:"payload"`
	// Execution is the configured execution block, unrendered.
	Execution JSON `db:"execution" json:"execution"`
	// State is executor state kept across attempts (e.g. the SMM order id).
	State        JSON       `db:"state" json:"state"`
	Result       JSON       `db:"result" json:"result"`
	ErrorMessage *string    `db:"error_message" json:"error_message"`
	RetryCount   int        `db:"retry_count" json:"retry_count"`
	MaxRetries   int        `db:"max_retries" json:"max_retries"`
	ScheduledAt  time.Time  `db:"scheduled_at" json:"scheduled_at"`
	StartedAt    *time.Time `db:"started_at" json:"started_at"`
	CompletedAt  *time.Time `db:"completed_at" json:"completed_at"`
	LeaseOwner   *string    `db:"lease_owner" json:"lease_owner"`
	LeaseExpires *time.Time `db:"lease_expires_at" json:"lease_expires_at"`
	// Attempt counts claims; it is part of the lease.
	Attempt int `db:"attempt" json:"attempt"`
	// History is a JSON array of {at, attempt, event, error?, worker?, note?}.
	History   JSON      `db:"history" json:"history"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// Lease identifies one claim of a task; worker state changes present it.
func (t *Task) Lease() TaskLease {
	l := TaskLease{TaskID: t.ID, Attempt: t.Attempt}
	if t.LeaseOwner != nil {
		l.Owner = *t.LeaseOwner
	}
	return l
}

// TaskLease is what a worker holds while it runs a task.
type TaskLease struct {
	TaskID  string
	Owner   string
	Attempt int
}

// ErrLeaseLost is returned by every lease-guarded method when the task is no
// longer in_progress under that lease (it expired and was rescued, was
// released, canceled by an operator, or already finished): nothing was
// changed. Test with errors.Is; its code is CONFLICT.
var ErrLeaseLost = &Error{Code: CodeConflict, Message: "task lease lost"}

// taskColumns selects a task joined with its order item (alias t, oi).
const taskColumns = `t.id, t.order_item_id, oi.order_id, t.task_type, t.execution_kind, t.status, t.title,
	t.description, t.payload, t.execution, t.state, t.result, t.error_message, t.retry_count, t.max_retries,
	t.scheduled_at, t.started_at, t.completed_at, t.lease_owner, t.lease_expires_at, t.attempt, t.history,
	t.created_at, t.updated_at`

// historyEntry is one element of a task's history array.
func historyEntry(at time.Time, attempt int, event, errMsg, worker, note string) JSON {
	m := map[string]any{"at": at.UTC().Format(time.RFC3339Nano), "attempt": attempt, "event": event}
	if errMsg != "" {
		m["error"] = errMsg
	}
	if worker != "" {
		m["worker"] = worker
	}
	if note != "" {
		m["note"] = note
	}
	b, _ := json.Marshal([]any{m})
	return b
}

// ---------------------------------------------------------------------------
// Creation

// TaskConfig is one entry of a product's fulfillment_config.tasks.
type TaskConfig struct {
	Type                  string          `json:"type"`
	Title                 string          `json:"title"`
	Description           *string         `json:"description"`
	ScheduleOffsetSeconds *float64        `json:"schedule_offset_seconds"`
	ScheduleOffsetMinutes *float64        `json:"schedule_offset_minutes"`
	ScheduleOffsetHours   *float64        `json:"schedule_offset_hours"`
	ScheduledAt           *time.Time      `json:"scheduled_at"`
	MaxRetries            *int            `json:"max_retries"`
	Metadata              json.RawMessage `json:"metadata"`
	Payload               json.RawMessage `json:"payload"`
	Execution             json.RawMessage `json:"execution"`
}

// FulfillmentConfig is a product's fulfillment_config column.
type FulfillmentConfig struct {
	Tasks []TaskConfig `json:"tasks"`
}

// DefaultMaxRetries applies when a configured task names none.
const DefaultMaxRetries = 3

// maxConfiguredRetries bounds max_retries: with the capped backoff, 50
// retries already span a day.
const maxConfiguredRetries = 50

// ParseFulfillmentConfig validates a fulfillment_config document, so the
// admin API can refuse a bad one when it is written (BAD_USER_INPUT with the
// path, e.g. "fulfillmentConfig.tasks.0.type"). A null/empty document is
// valid and means "one manual task per item".
func ParseFulfillmentConfig(raw JSON) (*FulfillmentConfig, error) {
	var cfg FulfillmentConfig
	if len(raw) == 0 || string(raw) == "null" {
		return &cfg, nil
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, BadInput("fulfillmentConfig", "must be an object with a tasks array: %v", err)
	}
	for i := range cfg.Tasks {
		if err := cfg.Tasks[i].validate(); err != nil {
			err.Field = fmt.Sprintf("fulfillmentConfig.tasks.%d.%s", i, err.Field)
			return nil, err
		}
	}
	return &cfg, nil
}

func (c *TaskConfig) validate() *Error {
	if _, err := parseEnum("type", c.Type, TaskTypes); err != nil {
		return BadInput("type", "must be one of %s", joinTaskTypes())
	}
	if strings.TrimSpace(c.Title) == "" {
		return BadInput("title", "is required")
	}
	if c.MaxRetries != nil && (*c.MaxRetries < 0 || *c.MaxRetries > maxConfiguredRetries) {
		return BadInput("max_retries", "must be between 0 and %d", maxConfiguredRetries)
	}
	for name, v := range map[string]*float64{"schedule_offset_seconds": c.ScheduleOffsetSeconds,
		"schedule_offset_minutes": c.ScheduleOffsetMinutes, "schedule_offset_hours": c.ScheduleOffsetHours} {
		if v != nil && (*v < 0 || math.IsNaN(*v) || *v > 366*24*3600) {
			return BadInput(name, "must be a non-negative offset")
		}
	}
	if _, err := executionKind(c.Execution); err != nil {
		return BadInput("execution", "%s", err.Error())
	}
	// A config written before reserved names were refused on write must not
	// expose them at payment time either: the entry becomes a manual task.
	var e struct {
		EnvironmentKeys []any `json:"environment_keys"`
	}
	_ = json.Unmarshal(c.Execution, &e) // an object: executionKind checked it
	for i, k := range e.EnvironmentKeys {
		if s, ok := k.(string); ok && ReservedEnvKey(s) {
			return BadInput(fmt.Sprintf("execution.environment_keys.%d", i), "%s is reserved", s)
		}
	}
	return nil
}

func joinTaskTypes() string {
	s := make([]string, len(TaskTypes))
	for i, t := range TaskTypes {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// executionKind decides the execution_kind column from an execution block:
// its "kind" when given (http, smm_panel, manual); else http when it has a
// url (the seed's blocks name no kind); no block at all → manual.
func executionKind(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return ExecutionManual, nil
	}
	var e struct {
		Kind string `json:"kind"`
		URL  string `json:"url"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", fmt.Errorf("must be an object: %v", err)
	}
	switch k := strings.ToLower(strings.TrimSpace(e.Kind)); k {
	case ExecutionHTTP, ExecutionSMMPanel, ExecutionManual:
		if k != ExecutionManual && strings.TrimSpace(e.URL) == "" {
			return "", fmt.Errorf("%s execution needs a url", k)
		}
		return k, nil
	case "":
		if strings.TrimSpace(e.URL) != "" {
			return ExecutionHTTP, nil
		}
		return ExecutionManual, nil
	default:
		return "", fmt.Errorf("kind must be http, smm_panel or manual")
	}
}

// scheduledAt is when a configured task becomes due: an explicit
// scheduled_at wins, else now plus the sum of the offsets given.
func (c *TaskConfig) scheduledAt(now time.Time) time.Time {
	if c.ScheduledAt != nil {
		return *c.ScheduledAt
	}
	var secs float64
	if c.ScheduleOffsetSeconds != nil {
		secs += *c.ScheduleOffsetSeconds
	}
	if c.ScheduleOffsetMinutes != nil {
		secs += *c.ScheduleOffsetMinutes * 60
	}
	if c.ScheduleOffsetHours != nil {
		secs += *c.ScheduleOffsetHours * 3600
	}
	return now.Add(time.Duration(secs * float64(time.Second)))
}

// enqueueItem is one order item with the context tasks are built from.
type enqueueItem struct {
	ItemID       string `db:"item_id"`
	ProductTitle string `db:"product_title"`
	Order        JSON   `db:"order_ctx"`
	Item         JSON   `db:"item_ctx"`
	Product      JSON   `db:"product_ctx"`
	Config       JSON   `db:"fulfillment_config"`
}

// EnqueueTasksTx creates the fulfillment tasks of an order inside the caller's
// transaction (the one that marks the order paid), so the paid order and its
// tasks commit together. Per order item it creates one task per entry of the
// product's fulfillment_config.tasks, or one manual task "Deliver <product
// title>" when the product has no configured tasks (or was deleted).
//
// Each task's payload is the configured payload object with the context
// added under "order", "item", "product" (snapshots at payment time, column
// names as keys) and "metadata"; the execution block is stored unrendered.
// An entry that fails validation (see ParseFulfillmentConfig) does not fail
// the payment: it becomes a manual task whose payload.config_error says why,
// so an operator sees it.
//
// It returns the number of tasks created; an order whose items already have
// tasks gets none again (0), so a replayed payment cannot double them.
func EnqueueTasksTx(ctx context.Context, tx sqlx.ExtContext, orderID string, now time.Time) (int, error) {
	if !validUUID(orderID) {
		return 0, &Error{Code: CodeNotFound, Message: "Order not found"}
	}
	var exists bool
	if err := sqlx.GetContext(ctx, tx, &exists, `SELECT EXISTS (SELECT 1 FROM fulfillment_tasks t
		JOIN order_items oi ON oi.id = t.order_item_id WHERE oi.order_id = $1)`, orderID); err != nil {
		return 0, fmt.Errorf("enqueue tasks: %w", err)
	}
	if exists {
		return 0, nil
	}
	var items []enqueueItem
	err := sqlx.SelectContext(ctx, tx, &items, `SELECT oi.id AS item_id, oi.product_title,
		jsonb_build_object('id', o.id, 'order_number', o.order_number, 'user_id', o.user_id, 'status', o.status,
			'source', o.source, 'subtotal', o.subtotal, 'tax', o.tax, 'total', o.total, 'currency', o.currency,
			'notes', o.notes, 'customer_email', o.customer_email, 'created_at', o.created_at) AS order_ctx,
		jsonb_build_object('id', oi.id, 'product_id', oi.product_id, 'product_title', oi.product_title,
			'quantity', oi.quantity, 'unit_price', oi.unit_price, 'total_price', oi.total_price,
			'selected_options', oi.selected_options, 'attributes', oi.attributes,
			'configuration', oi.configuration) AS item_ctx,
		CASE WHEN p.id IS NULL THEN NULL ELSE jsonb_build_object('id', p.id, 'slug', p.slug, 'title', p.title,
			'category', p.category, 'base_price', p.base_price, 'currency', p.currency) END AS product_ctx,
		p.fulfillment_config
		FROM orders o JOIN order_items oi ON oi.order_id = o.id LEFT JOIN products p ON p.id = oi.product_id
		WHERE o.id = $1 ORDER BY oi.created_at, oi.id`, orderID)
	if err != nil {
		return 0, fmt.Errorf("enqueue tasks: %w", err)
	}

	var rows taskInsertRows
	for _, it := range items {
		var entries []json.RawMessage
		if len(it.Config) > 0 {
			var doc struct {
				Tasks []json.RawMessage `json:"tasks"`
			}
			if json.Unmarshal(it.Config, &doc) == nil {
				entries = doc.Tasks
			}
		}
		if len(entries) == 0 {
			rows.add(it.ItemID, TaskManual, ExecutionManual, "Deliver "+it.ProductTitle, nil,
				buildTaskPayload(it, nil, nil, ""), nil, DefaultMaxRetries, now)
			continue
		}
		for i, raw := range entries {
			var c TaskConfig
			var cfgErr string
			if err := json.Unmarshal(raw, &c); err != nil {
				cfgErr = fmt.Sprintf("tasks.%d: %v", i, err)
			} else if e := c.validate(); e != nil {
				cfgErr = fmt.Sprintf("tasks.%d.%s: %s", i, e.Field, e.Message)
			}
			if cfgErr != "" {
				title := strings.TrimSpace(c.Title)
				if title == "" {
					title = "Deliver " + it.ProductTitle
				}
				rows.add(it.ItemID, TaskManual, ExecutionManual, title, c.Description,
					buildTaskPayload(it, c.Payload, c.Metadata, cfgErr), nil, DefaultMaxRetries, now)
				continue
			}
			kind, _ := executionKind(c.Execution)
			typ, _ := parseEnum("type", c.Type, TaskTypes)
			maxRetries := DefaultMaxRetries
			if c.MaxRetries != nil {
				maxRetries = *c.MaxRetries
			}
			var exec JSON
			if kind != ExecutionManual || len(c.Execution) > 0 {
				exec = JSON(c.Execution)
			}
			rows.add(it.ItemID, typ, kind, c.Title, c.Description,
				buildTaskPayload(it, c.Payload, c.Metadata, ""), exec, maxRetries, c.scheduledAt(now))
		}
	}
	if len(rows.itemIDs) == 0 {
		return 0, nil
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO fulfillment_tasks (order_item_id, task_type, execution_kind, title,
			description, payload, execution, max_retries, scheduled_at, created_at, updated_at)
		SELECT u.item_id, u.task_type::fulfillment_task_type, u.kind, u.title, u.description, u.payload::jsonb,
			u.execution::jsonb, u.max_retries, u.scheduled_at, $10, $10
		FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::int[], $9::timestamptz[]) AS u(item_id, task_type, kind, title, description, payload, execution,
			max_retries, scheduled_at)`,
		pq.Array(rows.itemIDs), pq.Array(rows.types), pq.Array(rows.kinds), pq.Array(rows.titles),
		pq.Array(rows.descriptions), pq.Array(rows.payloads), pq.Array(rows.executions),
		pq.Array(rows.maxRetries), pq.Array(rows.scheduled), now)
	if err != nil {
		return 0, mapError(fmt.Errorf("enqueue tasks: %w", err))
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// buildTaskPayload merges the configured payload (an object; anything else
// is kept under "value") with the order/item/product context.
func buildTaskPayload(it enqueueItem, payload, metadata json.RawMessage, configError string) string {
	m := map[string]json.RawMessage{}
	if len(payload) > 0 && string(payload) != "null" {
		if json.Unmarshal(payload, &m) != nil {
			m = map[string]json.RawMessage{"value": payload}
		}
	}
	m["order"] = json.RawMessage(it.Order)
	m["item"] = json.RawMessage(it.Item)
	if len(it.Product) > 0 {
		m["product"] = json.RawMessage(it.Product)
	} else {
		m["product"] = json.RawMessage("null")
	}
	if len(metadata) > 0 {
		m["metadata"] = metadata
	}
	if configError != "" {
		b, _ := json.Marshal(configError)
		m["config_error"] = b
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// taskInsertRows gathers column arrays for one INSERT … SELECT FROM unnest.
type taskInsertRows struct {
	itemIDs, types, kinds, titles []string
	descriptions, executions      []sql.NullString
	payloads                      []string
	maxRetries                    []int64
	scheduled                     []string
}

func (r *taskInsertRows) add(itemID string, typ TaskType, kind, title string, desc *string, payload string,
	exec JSON, maxRetries int, at time.Time) {
	r.itemIDs = append(r.itemIDs, itemID)
	r.types = append(r.types, string(typ))
	r.kinds = append(r.kinds, kind)
	r.titles = append(r.titles, title)
	if desc != nil {
		r.descriptions = append(r.descriptions, sql.NullString{String: *desc, Valid: true})
	} else {
		r.descriptions = append(r.descriptions, sql.NullString{})
	}
	r.payloads = append(r.payloads, payload)
	r.executions = append(r.executions, sql.NullString{String: string(exec), Valid: len(exec) > 0})
	r.maxRetries = append(r.maxRetries, int64(maxRetries))
	r.scheduled = append(r.scheduled, at.UTC().Format(time.RFC3339Nano))
}

// ---------------------------------------------------------------------------
// Worker operations

// ClaimTasks claims up to limit due tasks (pending, not manual, scheduled_at
// <= now, order not canceled) for owner, oldest first, with FOR UPDATE SKIP
// LOCKED so concurrent workers never claim the same task. Canceling an order
// already cancels its pending tasks (SetOrderStatusTx); the order check
// also covers a task put back to pending afterwards (a retry scheduled by a
// worker that was running it, an operator's retry), which must not reach a
// provider either. Claimed tasks are in_progress with a
// lease until now+lease and attempt+1; their orders' statuses are re-derived
// in the same transaction (actor "worker").
func (s *Store) ClaimTasks(ctx context.Context, owner string, limit int, lease time.Duration, now time.Time) ([]Task, error) {
	if limit <= 0 {
		return nil, nil
	}
	var tasks []Task
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		tasks = tasks[:0]
		err := sqlx.SelectContext(ctx, tx, &tasks, `UPDATE fulfillment_tasks t SET status = 'in_progress',
				lease_owner = $1, lease_expires_at = $2, attempt = t.attempt + 1,
				started_at = COALESCE(t.started_at, $3), updated_at = $3
			FROM (SELECT ft.id FROM fulfillment_tasks ft
				JOIN order_items i ON i.id = ft.order_item_id JOIN orders o ON o.id = i.order_id
				WHERE ft.status = 'pending' AND ft.execution_kind <> 'manual' AND ft.scheduled_at <= $3
				AND o.status <> 'canceled'
				ORDER BY ft.scheduled_at, ft.id LIMIT $4 FOR UPDATE OF ft SKIP LOCKED) c, order_items oi
			WHERE t.id = c.id AND oi.id = t.order_item_id
			RETURNING `+taskColumns, owner, now.Add(lease), now, limit)
		if err != nil {
			return fmt.Errorf("claim tasks: %w", err)
		}
		return deriveOrderStatusTx(ctx, tx, taskOrderIDs(tasks), "worker", "task started", now)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].ScheduledAt.Before(tasks[j].ScheduledAt) })
	return tasks, nil
}

func taskOrderIDs(tasks []Task) []string {
	ids := make([]string, 0, len(tasks))
	for _, t := range tasks {
		ids = append(ids, t.OrderID)
	}
	return ids
}

// leasedUpdate runs one lease-guarded UPDATE (its WHERE must end with
// "id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'in_progress'")
// returning the order id, then re-derives that order's status, in one
// transaction. ErrLeaseLost when the guard matched nothing.
func (s *Store) leasedUpdate(ctx context.Context, l TaskLease, now time.Time, note, q string, args ...any) error {
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		var orderID string
		all := append([]any{l.TaskID, l.Owner, l.Attempt}, args...)
		err := sqlx.GetContext(ctx, tx, &orderID, q+` RETURNING (SELECT order_id FROM order_items
			WHERE id = fulfillment_tasks.order_item_id)`, all...)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrLeaseLost
		}
		if err != nil {
			return err
		}
		return deriveOrderStatusTx(ctx, tx, []string{orderID}, "worker", note, now)
	})
}

const leaseGuard = ` WHERE id = $1 AND lease_owner = $2 AND attempt = $3 AND status = 'in_progress'`

// CompleteTask marks a leased task completed with its result (and executor
// state, when state is non-nil). ErrLeaseLost if the lease is gone.
func (s *Store) CompleteTask(ctx context.Context, l TaskLease, result, state JSON, now time.Time) error {
	return s.leasedUpdate(ctx, l, now, "task completed", `UPDATE fulfillment_tasks SET status = 'completed',
		result = $4, state = COALESCE($5, state), error_message = NULL, completed_at = $6, updated_at = $6,
		lease_owner = NULL, lease_expires_at = NULL, history = history || $7::jsonb`+leaseGuard,
		result, state, now, historyEntry(now, l.Attempt, "completed", "", l.Owner, ""))
}

// TaskFailure describes a failed attempt.
type TaskFailure struct {
	Error string
	// Result, when set, is merged into the task's result.
	Result JSON
	// State, when non-nil, replaces the executor state.
	State JSON
	// RetryAt is when the retry runs if one is left.
	RetryAt time.Time
	// Permanent skips the remaining retries (e.g. a configuration error).
	Permanent bool
}

// FailTask records a failed attempt of a leased task. While retry_count <
// max_retries (and the failure is not permanent) the task goes back to
// pending at f.RetryAt with retry_count+1; otherwise it fails for good with
// result.dead_letter = true (its history keeps every error). It reports
// whether the task was dead-lettered. ErrLeaseLost if the lease is gone.
func (s *Store) FailTask(ctx context.Context, l TaskLease, f TaskFailure, now time.Time) (deadLettered bool, err error) {
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		var cur struct {
			RetryCount int    `db:"retry_count"`
			MaxRetries int    `db:"max_retries"`
			OrderID    string `db:"order_id"`
		}
		err := sqlx.GetContext(ctx, tx, &cur, `SELECT t.retry_count, t.max_retries, oi.order_id
			FROM fulfillment_tasks t JOIN order_items oi ON oi.id = t.order_item_id
			WHERE t.id = $1 AND t.lease_owner = $2 AND t.attempt = $3 AND t.status = 'in_progress'
			FOR UPDATE OF t`, l.TaskID, l.Owner, l.Attempt)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrLeaseLost
		}
		if err != nil {
			return fmt.Errorf("fail task: %w", err)
		}
		result := f.Result
		if len(result) == 0 {
			result = JSON(`{}`)
		}
		deadLettered = f.Permanent || cur.RetryCount >= cur.MaxRetries
		if deadLettered {
			dl, _ := json.Marshal(map[string]any{"dead_letter": true, "last_error": f.Error,
				"attempts": l.Attempt, "retries": cur.RetryCount})
			_, err = tx.ExecContext(ctx, `UPDATE fulfillment_tasks SET status = 'failed',
				result = COALESCE(result, '{}') || $4::jsonb || $5::jsonb, state = COALESCE($6, state),
				error_message = $7, completed_at = $8, updated_at = $8, lease_owner = NULL, lease_expires_at = NULL,
				history = history || $9::jsonb`+leaseGuard,
				l.TaskID, l.Owner, l.Attempt, result, JSON(dl), f.State, f.Error, now,
				historyEntry(now, l.Attempt, "dead_lettered", f.Error, l.Owner, ""))
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE fulfillment_tasks SET status = 'pending',
				result = COALESCE(result, '{}') || $4::jsonb, state = COALESCE($5, state), error_message = $6,
				retry_count = retry_count + 1, scheduled_at = $7, updated_at = $8, lease_owner = NULL,
				lease_expires_at = NULL, history = history || $9::jsonb`+leaseGuard,
				l.TaskID, l.Owner, l.Attempt, result, f.State, f.Error, f.RetryAt, now,
				historyEntry(now, l.Attempt, "retry_scheduled", f.Error, l.Owner, ""))
		}
		if err != nil {
			return fmt.Errorf("fail task: %w", err)
		}
		note := "task failed, retry scheduled"
		if deadLettered {
			note = "task failed (dead letter)"
		}
		return deriveOrderStatusTx(ctx, tx, []string{cur.OrderID}, "worker", note, now)
	})
	return deadLettered, err
}

// ParkTask sets a leased task aside for an operator (status parked) because
// the worker cannot tell whether the provider acted; the worker never picks
// it up again by itself. reason becomes error_message. ErrLeaseLost if the
// lease is gone.
func (s *Store) ParkTask(ctx context.Context, l TaskLease, reason string, result, state JSON, now time.Time) error {
	if len(result) == 0 {
		result = JSON(`{}`)
	}
	return s.leasedUpdate(ctx, l, now, "task parked for reconciliation", `UPDATE fulfillment_tasks SET
		status = 'parked', result = COALESCE(result, '{}') || $4::jsonb, state = COALESCE($5, state),
		error_message = $6, updated_at = $7, lease_owner = NULL, lease_expires_at = NULL, history = history || $8::jsonb`+
		leaseGuard, result, state, reason, now, historyEntry(now, l.Attempt, "parked", reason, l.Owner, ""))
}

// SnoozeTask puts a leased task back to pending until runAt without spending
// a retry (retry_count unchanged): the executor is waiting on a provider
// (e.g. polling an SMM panel order's status). ErrLeaseLost if the lease is gone.
func (s *Store) SnoozeTask(ctx context.Context, l TaskLease, runAt time.Time, state JSON, note string, now time.Time) error {
	return s.leasedUpdate(ctx, l, now, "task waiting on provider", `UPDATE fulfillment_tasks SET status = 'pending',
		scheduled_at = $4, state = COALESCE($5, state), updated_at = $6, lease_owner = NULL,
		lease_expires_at = NULL, history = history || $7::jsonb`+leaseGuard,
		runAt, state, now, historyEntry(now, l.Attempt, "snoozed", "", l.Owner, note))
}

// ReleaseTask gives a leased task back without spending an attempt (used on
// shutdown for tasks that did not finish in the grace period): pending, due
// now, attempt restored, executor state replaced when state is non-nil.
// ErrLeaseLost if the lease is gone.
func (s *Store) ReleaseTask(ctx context.Context, l TaskLease, state JSON, now time.Time) error {
	return s.leasedUpdate(ctx, l, now, "task released", `UPDATE fulfillment_tasks SET status = 'pending',
		attempt = attempt - 1, scheduled_at = LEAST(scheduled_at, $4), updated_at = $4, lease_owner = NULL,
		lease_expires_at = NULL, state = COALESCE($6, state), history = history || $5::jsonb`+leaseGuard,
		now, historyEntry(now, l.Attempt, "released", "", l.Owner, "worker shutting down"), state)
}

// SaveTaskState stores executor state under the lease before a step that
// must not be repeated (e.g. "an SMM add is about to be sent"), so whoever
// runs the task next knows. ErrLeaseLost if the lease is gone.
func (s *Store) SaveTaskState(ctx context.Context, l TaskLease, state JSON, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE fulfillment_tasks SET state = $4, updated_at = $5`+leaseGuard,
		l.TaskID, l.Owner, l.Attempt, state, now)
	if err != nil {
		return fmt.Errorf("save task state: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// ExtendLease pushes a running task's lease to until. ErrLeaseLost if the
// lease is gone (the worker should then abandon the task).
func (s *Store) ExtendLease(ctx context.Context, l TaskLease, until time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE fulfillment_tasks SET lease_expires_at = $4`+leaseGuard,
		l.TaskID, l.Owner, l.Attempt, until)
	if err != nil {
		return fmt.Errorf("extend lease: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrLeaseLost
	}
	return nil
}

// RescueExpiredTasks returns in_progress tasks whose lease expired before now
// (their worker died or hung) to the queue. A rescue spends a retry, because
// the lost attempt may have had effects and a task that kills its worker
// must not loop forever: with retries left the task is pending and due now
// (retry_count+1), otherwise it is dead-lettered like any failure. The old
// lease no longer matches, so the stale worker changes nothing. Returns how
// many tasks were rescued.
func (s *Store) RescueExpiredTasks(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		const msg = "lease expired (worker lost)"
		var orderIDs []string
		err := sqlx.SelectContext(ctx, tx, &orderIDs, `WITH expired AS (
				SELECT id FROM fulfillment_tasks WHERE status = 'in_progress' AND lease_expires_at < $1
				ORDER BY lease_expires_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
			UPDATE fulfillment_tasks t SET
				status = CASE WHEN t.retry_count < t.max_retries THEN 'pending'
					ELSE 'failed' END::fulfillment_task_status,
				retry_count = CASE WHEN t.retry_count < t.max_retries THEN t.retry_count + 1 ELSE t.retry_count END,
				scheduled_at = $1, error_message = $2, updated_at = $1,
				completed_at = CASE WHEN t.retry_count < t.max_retries THEN NULL ELSE $1 END,
				result = CASE WHEN t.retry_count < t.max_retries THEN t.result
					ELSE COALESCE(t.result, '{}') || jsonb_build_object('dead_letter', true, 'last_error', $2::text,
						'attempts', t.attempt) END,
				history = t.history || jsonb_build_array(jsonb_build_object('at', $1::timestamptz,
					'attempt', t.attempt, 'event', 'rescued', 'error', $2::text, 'worker', t.lease_owner)),
				lease_owner = NULL, lease_expires_at = NULL
			FROM expired e, order_items oi WHERE t.id = e.id AND oi.id = t.order_item_id
			RETURNING oi.order_id`, now, msg)
		if err != nil {
			return fmt.Errorf("rescue tasks: %w", err)
		}
		n = len(orderIDs)
		return deriveOrderStatusTx(ctx, tx, orderIDs, "worker", "task lease expired", now)
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ---------------------------------------------------------------------------
// Reads

// FindTask returns one task, or NOT_FOUND.
func (s *Store) FindTask(ctx context.Context, id string) (*Task, error) {
	return findTask(ctx, s.db, id, false)
}

func findTask(ctx context.Context, q sqlx.QueryerContext, id string, lock bool) (*Task, error) {
	if !validUUID(id) {
		return nil, &Error{Code: CodeNotFound, Message: "Task not found"}
	}
	query := `SELECT ` + taskColumns + ` FROM fulfillment_tasks t JOIN order_items oi ON oi.id = t.order_item_id
		WHERE t.id = $1`
	if lock {
		query += ` FOR UPDATE OF t`
	}
	var t Task
	if err := sqlx.GetContext(ctx, q, &t, query, id); err != nil {
		return nil, notFound(err, "Task not found")
	}
	return &t, nil
}

// FindTasksByOrder returns an order's tasks in creation order (none for an
// unknown order).
func (s *Store) FindTasksByOrder(ctx context.Context, orderID string) ([]Task, error) {
	m, err := s.TasksByOrders(ctx, []string{orderID})
	if err != nil {
		return nil, err
	}
	return m[orderID], nil
}

// TasksByOrders returns the tasks of each order with one query (for loaders).
func (s *Store) TasksByOrders(ctx context.Context, orderIDs []string) (map[string][]Task, error) {
	var rows []Task
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT `+taskColumns+` FROM fulfillment_tasks t
		JOIN order_items oi ON oi.id = t.order_item_id WHERE oi.order_id = ANY($1)
		ORDER BY oi.order_id, t.created_at, oi.created_at, t.id`, pq.Array(validIDs(orderIDs)))
	if err != nil {
		return nil, fmt.Errorf("tasks by orders: %w", err)
	}
	return groupBy(rows, func(t Task) string { return t.OrderID }), nil
}

// TaskStatusCounts counts tasks by status, every status present (0 when none).
func (s *Store) TaskStatusCounts(ctx context.Context) (map[TaskStatus]int, error) {
	var rows []struct {
		Status TaskStatus `db:"status"`
		N      int        `db:"n"`
	}
	if err := sqlx.SelectContext(ctx, s.db, &rows,
		`SELECT status, count(*) AS n FROM fulfillment_tasks GROUP BY status`); err != nil {
		return nil, fmt.Errorf("task status counts: %w", err)
	}
	m := make(map[TaskStatus]int, len(TaskStatuses))
	for _, st := range TaskStatuses {
		m[st] = 0
	}
	for _, r := range rows {
		m[r.Status] = r.N
	}
	return m, nil
}

// OldestDueTaskAge is how long the oldest due, claimable task has waited
// past its scheduled_at (0 when none is due): a growing value means the
// workers are not keeping up or not running.
func (s *Store) OldestDueTaskAge(ctx context.Context, now time.Time) (time.Duration, error) {
	var oldest *time.Time
	if err := sqlx.GetContext(ctx, s.db, &oldest, `SELECT min(scheduled_at) FROM fulfillment_tasks
		WHERE status = 'pending' AND execution_kind <> 'manual' AND scheduled_at <= $1`, now); err != nil {
		return 0, fmt.Errorf("oldest due task: %w", err)
	}
	if oldest == nil {
		return 0, nil
	}
	return now.Sub(*oldest), nil
}

// ---------------------------------------------------------------------------
// Operator actions (admin). Each is one transaction that also re-derives the
// order status; actor is recorded with the status change (e.g. "admin").

// operatorUpdate locks the task, checks its state with allowed, applies the
// update (args after $1 = id) and re-derives the order status. NOT_FOUND for
// an unknown task; CONFLICT when allowed refuses.
func (s *Store) operatorUpdate(ctx context.Context, id, actor, note string, allowed func(*Task) error,
	q string, args ...any) (*Task, error) {
	var out *Task
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		t, err := findTask(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if err := allowed(t); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, append([]any{id}, args...)...); err != nil {
			return fmt.Errorf("update task: %w", err)
		}
		if err := deriveOrderStatusTx(ctx, tx, []string{t.OrderID}, actor, note, s.now()); err != nil {
			return err
		}
		out, err = findTask(ctx, tx, id, false)
		return err
	})
	return out, err
}

func conflictUnless(t *Task, msg string, ok ...TaskStatus) error {
	for _, st := range ok {
		if t.Status == st {
			return nil
		}
	}
	return &Error{Code: CodeConflict, Field: "id", Message: fmt.Sprintf("%s (task is %s)", msg, t.Status)}
}

// RetryTask puts a failed or parked task back in the queue, due now, with a
// fresh retry budget (retry_count 0). The executor state is cleared, so the
// task starts over — for a parked SMM panel task that means a new panel
// order: reconcile with the panel first. NOT_FOUND; CONFLICT unless the task
// is failed or parked, or if it is manual (complete or fail it instead).
func (s *Store) RetryTask(ctx context.Context, id, actor, note string) (*Task, error) {
	now := s.now()
	return s.operatorUpdate(ctx, id, actor, "task retried by operator", func(t *Task) error {
		if t.ExecutionKind == ExecutionManual {
			return &Error{Code: CodeConflict, Field: "id", Message: "manual tasks are completed or failed, not retried"}
		}
		return conflictUnless(t, "only failed or parked tasks can be retried", TaskFailed, TaskParked)
	}, `UPDATE fulfillment_tasks SET status = 'pending', retry_count = 0, scheduled_at = $2, state = '{}',
		completed_at = NULL, updated_at = $2, history = history || $3::jsonb WHERE id = $1`,
		now, historyEntry(now, 0, "retried", "", actor, note))
}

// CompleteManualTask marks a task done by hand with a note: a pending manual
// task, or a parked task an operator has reconciled (the provider did act).
// NOT_FOUND; CONFLICT otherwise.
func (s *Store) CompleteManualTask(ctx context.Context, id, actor, note string) (*Task, error) {
	now := s.now()
	res, _ := json.Marshal(map[string]any{"completed_by": actor, "note": note})
	return s.operatorUpdate(ctx, id, actor, "task completed by operator", manualOrParked,
		`UPDATE fulfillment_tasks SET status = 'completed', result = COALESCE(result, '{}') || $2::jsonb,
		error_message = NULL, completed_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL,
		history = history || $4::jsonb WHERE id = $1`, JSON(res), now, historyEntry(now, 0, "completed", "", actor, note))
}

// FailManualTask marks a pending manual task (or a parked one) failed with a
// note, which becomes its error_message; the order goes on_hold. NOT_FOUND;
// CONFLICT otherwise.
func (s *Store) FailManualTask(ctx context.Context, id, actor, note string) (*Task, error) {
	now := s.now()
	res, _ := json.Marshal(map[string]any{"failed_by": actor, "note": note})
	return s.operatorUpdate(ctx, id, actor, "task failed by operator", manualOrParked,
		`UPDATE fulfillment_tasks SET status = 'failed', result = COALESCE(result, '{}') || $2::jsonb,
		error_message = $5, completed_at = $3, updated_at = $3, lease_owner = NULL, lease_expires_at = NULL,
		history = history || $4::jsonb WHERE id = $1`, JSON(res), now, historyEntry(now, 0, "failed", note, actor, ""), note)
}

func manualOrParked(t *Task) error {
	if t.Status == TaskParked {
		return nil
	}
	if t.ExecutionKind != ExecutionManual {
		return &Error{Code: CodeConflict, Field: "id", Message: "only manual or parked tasks can be completed or failed by hand"}
	}
	return conflictUnless(t, "task is already finished", TaskPending, TaskInProgress)
}

// CancelTask cancels a task that is not finished (pending, in_progress,
// parked or failed). A worker running it loses its lease, so its result is
// dropped. Canceled tasks are ignored by the order status. NOT_FOUND;
// CONFLICT for a completed or already canceled task.
func (s *Store) CancelTask(ctx context.Context, id, actor, note string) (*Task, error) {
	now := s.now()
	return s.operatorUpdate(ctx, id, actor, "task canceled by operator", func(t *Task) error {
		return conflictUnless(t, "task cannot be canceled", TaskPending, TaskInProgress, TaskParked, TaskFailed)
	}, `UPDATE fulfillment_tasks SET status = 'canceled', completed_at = $2, updated_at = $2, lease_owner = NULL,
		lease_expires_at = NULL, history = history || $3::jsonb WHERE id = $1`,
		now, historyEntry(now, 0, "canceled", "", actor, note))
}

// ---------------------------------------------------------------------------
// Order status derivation (SPEC §5)

// deriveOrderStatusTx re-derives the status of the given orders from their
// tasks and records every change in order_status_events (actor, note):
//
//   - a canceled order stays canceled;
//   - an order without tasks (or whose tasks are all canceled) is unchanged;
//   - any failed task → on_hold;
//   - all tasks completed, ignoring canceled ones → completed;
//   - any task started (in_progress, parked) or completed → active;
//   - otherwise → processing.
//
// The order rows are locked first, in id order, so two transactions that
// change tasks of one order serialise and the later one computes the status
// from the earlier one's committed tasks (READ COMMITTED takes a new snapshot
// for the next statement).
func deriveOrderStatusTx(ctx context.Context, tx sqlx.ExtContext, orderIDs []string, actor, note string, now time.Time) error {
	ids := uniqueSorted(orderIDs)
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM orders WHERE id = ANY($1) ORDER BY id FOR UPDATE`,
		pq.Array(ids)); err != nil {
		return fmt.Errorf("lock orders: %w", err)
	}
	_, err := tx.ExecContext(ctx, `WITH agg AS (
			SELECT oi.order_id,
				count(*) FILTER (WHERE t.status <> 'canceled') AS live,
				count(*) FILTER (WHERE t.status = 'failed') AS failed,
				count(*) FILTER (WHERE t.status = 'completed') AS completed,
				count(*) FILTER (WHERE t.status IN ('in_progress', 'parked')) AS started
			FROM order_items oi JOIN fulfillment_tasks t ON t.order_item_id = oi.id
			WHERE oi.order_id = ANY($1) GROUP BY oi.order_id),
		target AS (
			SELECT o.id, o.status AS from_status,
				(CASE WHEN a.failed > 0 THEN 'on_hold'
					WHEN a.completed = a.live THEN 'completed'
					WHEN a.started > 0 OR a.completed > 0 THEN 'active'
					ELSE 'processing' END)::order_status AS to_status
			FROM orders o JOIN agg a ON a.order_id = o.id
			WHERE o.status <> 'canceled' AND a.live > 0),
		changed AS (
			UPDATE orders o SET status = t.to_status, updated_at = $2
			FROM target t WHERE o.id = t.id AND o.status <> t.to_status
			RETURNING o.id, t.from_status, t.to_status)
		INSERT INTO order_status_events (order_id, from_status, to_status, actor, note, created_at)
		SELECT id, from_status, to_status, $3, $4, $2 FROM changed`,
		pq.Array(ids), now, actor, nullIfEmpty(note))
	if err != nil {
		return fmt.Errorf("derive order status: %w", err)
	}
	return nil
}

// DeriveOrderStatusTx is deriveOrderStatusTx for packages that change tasks
// inside their own transaction (e.g. an admin flow).
func DeriveOrderStatusTx(ctx context.Context, tx sqlx.ExtContext, orderID, actor, note string, now time.Time) error {
	return deriveOrderStatusTx(ctx, tx, []string{orderID}, actor, note, now)
}

func uniqueSorted(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] && validUUID(id) {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
