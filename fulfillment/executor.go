package fulfillment

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/smplat/smplat/store"
)

// Executor runs one claimed task of an execution kind and says what became
// of it. It must honour ctx (cancelled on shutdown after the grace period,
// or when the lease is lost) and never panic on purpose; a panic is caught
// and fails the task.
type Executor interface {
	Execute(ctx context.Context, job *Job) Outcome
}

// Job is what an executor gets: the claimed task, its template context and
// the means to reach providers.
type Job struct {
	Task store.Task
	// Data is the template context without env: order, item, product, task.
	Data map[string]any
	// Getenv reads an environment variable; executors expose only the keys
	// their block lists in environment_keys.
	Getenv func(string) string
	// Client is the HTTP client for provider calls (timeouts are per call).
	Client *http.Client
	// Now is the worker's clock.
	Now func() time.Time
	// SaveState stores executor state under the task's lease before a step
	// that must never be repeated (store.ErrLeaseLost when the lease is gone).
	SaveState func(ctx context.Context, state json.RawMessage) error
}

// OutcomeKind is what the worker does with a task after an attempt.
type OutcomeKind int

// Outcomes.
const (
	// Complete: the work is done; Result is stored.
	Complete OutcomeKind = iota
	// Fail: the attempt failed; retried with backoff unless Permanent or out
	// of retries (then dead-lettered).
	Fail
	// Park: the provider may or may not have acted; an operator must look.
	Park
	// Snooze: waiting on the provider; run again at RunAt, no retry spent.
	Snooze
)

func (k OutcomeKind) String() string {
	switch k {
	case Complete:
		return "complete"
	case Fail:
		return "fail"
	case Park:
		return "park"
	case Snooze:
		return "snooze"
	}
	return "unknown"
}

// Outcome is an executor's verdict on one attempt.
type Outcome struct {
	Kind OutcomeKind
	// Result is merged into (Fail, Park) or replaces (Complete) the task's result.
	Result json.RawMessage
	// State, when non-nil, replaces the executor state kept across attempts.
	State json.RawMessage
	// Error says what went wrong (Fail, Park) without secrets.
	Error string
	// Permanent skips remaining retries (Fail).
	Permanent bool
	// RunAt is when a snoozed task runs again.
	RunAt time.Time
	// Note is recorded in the task history (Snooze).
	Note string
}

func failed(err error, result json.RawMessage) Outcome {
	return Outcome{Kind: Fail, Error: err.Error(), Result: result, Permanent: isPermanent(err)}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}

// taskData builds the template context of a task: order, item and product
// from the payload snapshot taken when the task was created, and task from
// the row (id, type, title, description, attempt, retry_count, max_retries,
// scheduled_at, order_id, order_item_id, payload — the configured payload
// without the context keys — and metadata).
func taskData(t *store.Task) (map[string]any, error) {
	data := map[string]any{"order": nil, "item": nil, "product": nil}
	payload := map[string]any{}
	if v, err := decodeJSON(t.Payload); err != nil {
		return nil, fmt.Errorf("task payload: %w", err)
	} else if m, ok := v.(map[string]any); ok {
		payload = m
	}
	own := map[string]any{}
	for k, v := range payload {
		switch k {
		case "order", "item", "product":
			data[k] = v
		default:
			own[k] = v
		}
	}
	desc := ""
	if t.Description != nil {
		desc = *t.Description
	}
	data["task"] = map[string]any{
		"id": t.ID, "type": string(t.TaskType), "title": t.Title, "description": desc,
		"attempt": t.Attempt, "retry_count": t.RetryCount, "max_retries": t.MaxRetries,
		"scheduled_at": t.ScheduledAt.UTC().Format(time.RFC3339), "order_id": t.OrderID,
		"order_item_id": t.OrderItemID, "payload": own, "metadata": own["metadata"],
	}
	return data, nil
}

// renderBlock decodes an execution block, renders every value except kind
// and environment_keys with env limited to environment_keys, and decodes the
// result into dst.
func renderBlock(job *Job, dst any) error {
	v, err := decodeJSON(job.Task.Execution)
	if err != nil {
		return &configError{msg: err.Error()}
	}
	block, ok := v.(map[string]any)
	if !ok {
		return &configError{msg: "execution must be an object"}
	}
	var keys []string
	if raw, ok := block["environment_keys"].([]any); ok {
		for _, k := range raw {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
	}
	data := make(map[string]any, len(job.Data)+1)
	for k, v := range job.Data {
		data[k] = v
	}
	data["env"] = envData(keys, job.Getenv)
	rendered := make(map[string]any, len(block))
	for k, val := range block {
		if k == "kind" || k == "environment_keys" {
			rendered[k] = val
			continue
		}
		r, err := Render(val, data)
		if err != nil {
			return err
		}
		rendered[k] = r
	}
	b, err := json.Marshal(rendered)
	if err != nil {
		return &configError{msg: err.Error()}
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return &configError{msg: err.Error()}
	}
	return nil
}

// timeoutOf reads timeout_seconds with a default and a ceiling.
func timeoutOf(secs *float64, def time.Duration) time.Duration {
	if secs == nil || *secs <= 0 {
		return def
	}
	d := time.Duration(*secs * float64(time.Second))
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	return d
}

// redactURL is the scheme, host and path of a URL — never its query, which
// may carry keys — for error messages.
func redactURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			raw = raw[:j+3] + raw[i+1:]
		}
	}
	return raw
}

// manualExecutor guards against a manual task reaching the worker (it is
// never claimed): it parks it for an operator.
type manualExecutor struct{}

func (manualExecutor) Execute(context.Context, *Job) Outcome {
	return Outcome{Kind: Park, Error: "manual task: an operator completes or fails it"}
}
