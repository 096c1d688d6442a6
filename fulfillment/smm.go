package fulfillment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// SMM panel "API v2" (the de-facto protocol of SMM panels): every call is a
// form POST to one URL with the API key and an action.
//
//	action=add    key, service, link, quantity, … → {"order": 23501} or {"error": "…"}
//	action=status key, order                      → {"status": "In progress", "charge": "0.27",
//	                                                 "start_count": "3572", "remains": "157", "currency": "USD"}
//
// add carries no idempotency key, so smplat never sends it twice on its
// own: a failure before the request was written (dial refused, DNS) is an
// ordinary retry; once it may have been written (timeout, reset, 5xx,
// unreadable reply, or a worker that died mid-call) the task is parked for
// an operator to reconcile with the panel. Status polls are snoozes: they
// do not spend retries.

// smmSpec is an smm_panel execution block after rendering.
type smmSpec struct {
	URL      string         `json:"url"`
	Key      any            `json:"key"`
	Service  any            `json:"service"`
	Link     any            `json:"link"`
	Quantity any            `json:"quantity"`
	Params   map[string]any `json:"params"` // extra add fields (comments, runs, interval, …)
	// TimeoutSeconds bounds each call (30).
	TimeoutSeconds *float64 `json:"timeout_seconds"`
	// PollIntervalSeconds is the wait between status polls (60).
	PollIntervalSeconds *float64 `json:"poll_interval_seconds"`
	// MaxPollSeconds parks a task whose order is still not finished after
	// this long (7 days).
	MaxPollSeconds *float64 `json:"max_poll_seconds"`
}

// smmState is kept in the task's state column across attempts.
type smmState struct {
	// AddSentAt is set just before an add request goes out; if a later
	// attempt finds it without ProviderOrder, the add may have been placed.
	AddSentAt *time.Time `json:"add_sent_at,omitempty"`
	// ProviderOrder is the panel's order id once add succeeded.
	ProviderOrder string     `json:"provider_order,omitempty"`
	AddedAt       *time.Time `json:"added_at,omitempty"`
	Polls         int        `json:"polls,omitempty"`
	LastStatus    string     `json:"last_status,omitempty"`
	LastPollError string     `json:"last_poll_error,omitempty"`
}

// maxSMMReply caps a panel reply; anything longer is not an API v2 reply.
const maxSMMReply = 1 << 20

// SMMPanelExecutor places and follows an order with an SMM panel.
type SMMPanelExecutor struct{}

// Execute implements Executor.
func (SMMPanelExecutor) Execute(ctx context.Context, job *Job) Outcome {
	var spec smmSpec
	if err := renderBlock(job, &spec); err != nil {
		return failed(err, nil)
	}
	if u, err := url.Parse(spec.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return failed(&configError{msg: "smm_panel url must be an absolute http(s) URL"}, nil)
	}
	if Stringify(spec.Key) == "" {
		return failed(&configError{msg: "smm_panel key is empty"}, nil)
	}
	var st smmState
	if len(job.Task.State) > 0 {
		_ = json.Unmarshal(job.Task.State, &st)
	}
	if st.ProviderOrder != "" {
		return spec.poll(ctx, job, st)
	}
	if st.AddSentAt != nil {
		return Outcome{Kind: Park, State: mustJSON(st),
			Error: "an earlier add request may have reached the panel (its reply was never recorded); reconcile with the panel, then retry or complete the task"}
	}
	return spec.add(ctx, job, st)
}

func (s *smmSpec) add(ctx context.Context, job *Job, st smmState) Outcome {
	now := job.Now()
	st.AddSentAt = &now
	if err := job.SaveState(ctx, mustJSON(st)); err != nil {
		return failed(fmt.Errorf("record add in flight: %w", err), nil)
	}
	form := url.Values{}
	for k, v := range s.Params {
		form.Set(k, Stringify(v))
	}
	form.Set("key", Stringify(s.Key))
	form.Set("action", "add")
	form.Set("service", Stringify(s.Service))
	form.Set("link", Stringify(s.Link))
	form.Set("quantity", Stringify(s.Quantity))

	reply, status, written, err := s.call(ctx, job, form)
	cleared := smmState{} // nothing was placed: forget the in-flight mark
	switch {
	case err != nil && !written:
		return Outcome{Kind: Fail, Error: "add: " + err.Error(), State: mustJSON(cleared)}
	case err != nil:
		return Outcome{Kind: Park, State: mustJSON(st),
			Error: "add request was sent but its reply was lost (" + err.Error() + "); reconcile with the panel"}
	case status != http.StatusOK:
		return Outcome{Kind: Park, State: mustJSON(st), Result: mustJSON(map[string]any{"add_http_status": status}),
			Error: fmt.Sprintf("add request answered HTTP %d; reconcile with the panel", status)}
	}
	var r struct {
		Order json.RawMessage `json:"order"`
		Error any             `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return Outcome{Kind: Park, State: mustJSON(st),
			Error: "add reply is not valid JSON; reconcile with the panel"}
	}
	if r.Error != nil {
		// The panel refused: nothing was placed, so a retry is safe.
		msg := Stringify(r.Error)
		return Outcome{Kind: Fail, Error: "panel refused add: " + truncate(msg, 300), State: mustJSON(cleared),
			Result: mustJSON(map[string]any{"provider_error": truncate(msg, 1000)})}
	}
	order := strings.Trim(strings.TrimSpace(string(r.Order)), `"`)
	if order == "" || order == "null" {
		return Outcome{Kind: Park, State: mustJSON(st), Error: "add reply has neither order nor error; reconcile with the panel"}
	}
	added := job.Now()
	st = smmState{ProviderOrder: order, AddedAt: &added, LastStatus: "Pending"}
	return Outcome{Kind: Snooze, State: mustJSON(st), RunAt: added.Add(s.pollInterval()),
		Note: "panel order " + order + " placed"}
}

func (s *smmSpec) poll(ctx context.Context, job *Job, st smmState) Outcome {
	form := url.Values{"key": {Stringify(s.Key)}, "action": {"status"}, "order": {st.ProviderOrder}}
	reply, status, _, err := s.call(ctx, job, form)
	st.Polls++
	now := job.Now()
	wait := func(problem string) Outcome {
		st.LastPollError = problem
		if st.AddedAt != nil && now.Sub(*st.AddedAt) > s.maxPoll() {
			return Outcome{Kind: Park, State: mustJSON(st),
				Error: fmt.Sprintf("panel order %s not finished after %s (last status %q)", st.ProviderOrder,
					s.maxPoll(), st.LastStatus)}
		}
		return Outcome{Kind: Snooze, State: mustJSON(st), RunAt: now.Add(s.pollInterval()), Note: problem}
	}
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Shutdown: let the worker release the task.
			return Outcome{Kind: Fail, Error: "status: " + err.Error()}
		}
		return wait("status poll failed: " + err.Error())
	}
	if status != http.StatusOK {
		return wait(fmt.Sprintf("status poll answered HTTP %d", status))
	}
	var r map[string]any
	if err := json.Unmarshal(reply, &r); err != nil {
		return wait("status reply is not valid JSON")
	}
	if e, ok := r["error"]; ok && e != nil {
		return wait("panel status error: " + truncate(Stringify(e), 300))
	}
	raw := Stringify(r["status"])
	norm, terminal := NormalizeSMMStatus(raw)
	st.LastStatus, st.LastPollError = norm, ""
	if !terminal {
		return wait("")
	}
	result := mustJSON(map[string]any{"provider_order": st.ProviderOrder, "status": norm, "provider_status": raw,
		"charge": r["charge"], "start_count": r["start_count"], "remains": r["remains"], "currency": r["currency"],
		"partial": norm == "Partial"})
	switch norm {
	case "Canceled":
		// Terminal at the panel: retrying would place a new order, which is
		// an operator's call (RetryTask starts over).
		return Outcome{Kind: Fail, Permanent: true, State: mustJSON(st), Result: result,
			Error: "panel canceled order " + st.ProviderOrder}
	default: // Completed, Partial (what was not delivered is in remains)
		return Outcome{Kind: Complete, State: mustJSON(st), Result: result}
	}
}

// call POSTs the form; written reports whether any of the request may have
// reached the panel (its headers were written to the connection).
func (s *smmSpec) call(ctx context.Context, job *Job, form url.Values) (reply []byte, status int, written bool, err error) {
	timeout := timeoutOf(s.TimeoutSeconds, DefaultHTTPTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{
		WroteHeaders: func() { wrote.Store(true) },
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote.Store(true) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, s.URL,
		strings.NewReader(form.Encode()))
	if err != nil {
		return nil, 0, false, &configError{msg: "smm_panel url: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := job.Client.Do(req)
	if err != nil {
		return nil, 0, wrote.Load(), callError(ctx, "POST", s.URL, timeout, err)
	}
	defer resp.Body.Close()
	body, truncated, err := readCapped(resp.Body, maxSMMReply)
	if err != nil {
		return nil, resp.StatusCode, true, callError(ctx, "POST", s.URL, timeout, err)
	}
	if truncated {
		return nil, resp.StatusCode, true, fmt.Errorf("POST %s: reply larger than %d bytes", redactURL(s.URL), maxSMMReply)
	}
	return body, resp.StatusCode, true, nil
}

func (s *smmSpec) pollInterval() time.Duration {
	if s.PollIntervalSeconds == nil || *s.PollIntervalSeconds < 0 {
		return time.Minute
	}
	return time.Duration(*s.PollIntervalSeconds * float64(time.Second))
}

func (s *smmSpec) maxPoll() time.Duration {
	if s.MaxPollSeconds == nil || *s.MaxPollSeconds <= 0 {
		return 7 * 24 * time.Hour
	}
	return time.Duration(*s.MaxPollSeconds * float64(time.Second))
}

// NormalizeSMMStatus maps a panel's status text to Completed, Partial,
// Canceled (terminal) or Pending, In progress, Processing (not terminal),
// ignoring case, spacing, underscores and hyphens, and common synonyms
// ("complete", "cancelled", "refunded", "partially completed", "inprogress").
// Unknown text is returned trimmed and treated as not terminal.
func NormalizeSMMStatus(s string) (status string, terminal bool) {
	k := strings.ToLower(strings.TrimSpace(s))
	k = strings.NewReplacer("_", " ", "-", " ").Replace(k)
	k = strings.Join(strings.Fields(k), " ")
	switch k {
	case "completed", "complete", "done", "success", "successful", "finished", "delivered":
		return "Completed", true
	case "partial", "partially completed", "partial completed", "partially done", "partially delivered":
		return "Partial", true
	case "canceled", "cancelled", "cancel", "canceled refunded", "refunded", "refund", "failed", "fail":
		return "Canceled", true
	case "pending", "queued", "awaiting", "new", "":
		return "Pending", false
	case "in progress", "inprogress", "progress", "running", "active", "started":
		return "In progress", false
	case "processing", "process":
		return "Processing", false
	}
	return strings.TrimSpace(s), false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
