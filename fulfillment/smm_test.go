package fulfillment_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
)

// fakePanel speaks SMM panel API v2: add answers addReply (default order
// 42); status answers the scripted statuses in turn (the last repeats).
type fakePanel struct {
	*httptest.Server
	adds, polls atomic.Int32
	addReply    func(w http.ResponseWriter, r *http.Request)
	statuses    []string
	mu          sync.Mutex
	lastAdd     map[string]string
}

func newPanel(t *testing.T, statuses ...string) *fakePanel {
	p := &fakePanel{statuses: statuses}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("key") != "panel-key" {
			_, _ = io.WriteString(w, `{"error": "Invalid API key"}`)
			return
		}
		switch r.PostForm.Get("action") {
		case "add":
			p.adds.Add(1)
			p.mu.Lock()
			p.lastAdd = map[string]string{}
			for k := range r.PostForm {
				p.lastAdd[k] = r.PostForm.Get(k)
			}
			p.mu.Unlock()
			if p.addReply != nil {
				p.addReply(w, r)
				return
			}
			_, _ = io.WriteString(w, `{"order": 42}`)
		case "status":
			n := int(p.polls.Add(1)) - 1
			if r.PostForm.Get("order") != "42" {
				_, _ = io.WriteString(w, `{"error": "Incorrect order ID"}`)
				return
			}
			st := p.statuses[min(n, len(p.statuses)-1)]
			_ = json.NewEncoder(w).Encode(map[string]string{"status": st, "charge": "0.27", "start_count": "3572",
				"remains": "157", "currency": "USD"})
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func smmExec(url string) map[string]any {
	return map[string]any{"kind": "smm_panel", "url": url, "key": "{{ env.PANEL_KEY }}", "service": 7,
		"link": "{{ item.attributes.link }}", "quantity": "{{ item.quantity }}", "params": map[string]any{"runs": 2},
		"timeout_seconds": 5, "poll_interval_seconds": 0, "environment_keys": []string{"PANEL_KEY"}}
}

var panelEnv = map[string]string{"PANEL_KEY": "panel-key"}

func TestSMMPanelHappyPathToCompleted(t *testing.T) {
	t.Parallel()
	p := newPanel(t, "In progress", " completed ")
	exec := smmExec(p.URL)
	out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, exec, "", panelEnv, p.Client()))
	if out.Kind != fulfillment.Snooze || !strings.Contains(string(out.State), `"provider_order":"42"`) {
		t.Fatalf("add: %v %s %s", out.Kind, out.Error, out.State)
	}
	p.mu.Lock()
	add := p.lastAdd
	p.mu.Unlock()
	if add["service"] != "7" || add["quantity"] != "3" || add["link"] != "https://instagram.com/brand" || add["runs"] != "2" {
		t.Fatalf("add form %v", add)
	}
	out = fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, exec, string(out.State), panelEnv, p.Client()))
	if out.Kind != fulfillment.Snooze {
		t.Fatalf("first poll: %v %s", out.Kind, out.Error)
	}
	out = fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, exec, string(out.State), panelEnv, p.Client()))
	if out.Kind != fulfillment.Complete || !strings.Contains(string(out.Result), `"status":"Completed"`) || p.adds.Load() != 1 {
		t.Fatalf("second poll: %v %s %s", out.Kind, out.Error, out.Result)
	}
}

func TestSMMPanelPartialAndCanceled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status string
		kind   fulfillment.OutcomeKind
		want   string
	}{
		{"Partial", fulfillment.Complete, `"status":"Partial"`},
		{"partially_completed", fulfillment.Complete, `"partial":true`},
		{"Cancelled", fulfillment.Fail, `"status":"Canceled"`},
		{"REFUNDED", fulfillment.Fail, `"status":"Canceled"`},
	} {
		p := newPanel(t, tc.status)
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(),
			job(t, smmExec(p.URL), `{"provider_order":"42"}`, panelEnv, p.Client()))
		if out.Kind != tc.kind || !strings.Contains(string(out.Result), tc.want) ||
			!strings.Contains(string(out.Result), `"remains":"157"`) || (tc.kind == fulfillment.Fail && !out.Permanent) {
			t.Errorf("%s: %v %s %s", tc.status, out.Kind, out.Error, out.Result)
		}
		if p.adds.Load() != 0 {
			t.Errorf("%s: add re-sent", tc.status)
		}
	}
}

func TestSMMPanelAddFailures(t *testing.T) {
	t.Parallel()
	t.Run("error reply with 200 is retried", func(t *testing.T) {
		p := newPanel(t, "Completed")
		p.addReply = func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, `{"error": "Not enough funds"}`)
		}
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, smmExec(p.URL), "", panelEnv, p.Client()))
		if out.Kind != fulfillment.Fail || out.Permanent || !strings.Contains(out.Error, "Not enough funds") || string(out.State) != `{}` {
			t.Fatalf("%v %s %s", out.Kind, out.Error, out.State)
		}
	})
	t.Run("malformed JSON is parked", func(t *testing.T) {
		p := newPanel(t, "Completed")
		p.addReply = func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `<html>oops`) }
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, smmExec(p.URL), "", panelEnv, p.Client()))
		if out.Kind != fulfillment.Park || !strings.Contains(string(out.State), "add_sent_at") {
			t.Fatalf("%v %s", out.Kind, out.Error)
		}
	})
	t.Run("connection refused before sending is retried", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, smmExec("http://"+addr+"/api/v2"), "", panelEnv, nil))
		if out.Kind != fulfillment.Fail || out.Permanent || string(out.State) != `{}` {
			t.Fatalf("%v %s %s", out.Kind, out.Error, out.State)
		}
	})
	t.Run("timeout after sending is parked", func(t *testing.T) {
		p := newPanel(t, "Completed")
		p.addReply = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
		exec := smmExec(p.URL)
		exec["timeout_seconds"] = 0.2
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(), job(t, exec, "", panelEnv, p.Client()))
		if out.Kind != fulfillment.Park || p.adds.Load() != 1 {
			t.Fatalf("%v %s adds %d", out.Kind, out.Error, p.adds.Load())
		}
	})
	t.Run("an add in flight when a worker died is parked, not re-sent", func(t *testing.T) {
		p := newPanel(t, "Completed")
		out := fulfillment.SMMPanelExecutor{}.Execute(context.Background(),
			job(t, smmExec(p.URL), `{"add_sent_at":"2030-01-01T00:00:00Z"}`, panelEnv, p.Client()))
		if out.Kind != fulfillment.Park || p.adds.Load() != 0 {
			t.Fatalf("%v %s adds %d", out.Kind, out.Error, p.adds.Load())
		}
	})
}

func TestNormalizeSMMStatus(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"Completed": "Completed", " COMPLETE ": "Completed",
		"Partial": "Partial", "Partially Completed": "Partial", "cancelled": "Canceled", "Canceled": "Canceled",
		"In progress": "In progress", "in_progress": "In progress", "InProgress": "In progress",
		"Pending": "Pending", "Processing": "Processing", "Weird": "Weird"} {
		got, terminal := fulfillment.NormalizeSMMStatus(in)
		if got != want || terminal != (want == "Completed" || want == "Partial" || want == "Canceled") {
			t.Errorf("%q → %q %v", in, got, terminal)
		}
	}
}

func TestSMMWorkerPollsWithoutSpendingRetries(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newPanel(t, "Pending", "In progress", "Completed")
	seedTasks(t, db, 1, 1, "smm_panel", smmExec(p.URL), 0, time.Now().Add(-time.Minute))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, HTTPClient: p.Client(),
		Env: func(k string) string { return panelEnv[k] }, OnEvent: ev.add}, quietLogger())
	startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "completion", func() bool { return ev.count(fulfillment.OutcomeCompleted) == 1 })
	tasks, _ := st.FindTasksByOrder(context.Background(), firstOrder(t, db))
	task := tasks[0]
	if task.Status != store.TaskCompleted || task.RetryCount != 0 || task.Attempt != 4 || p.adds.Load() != 1 ||
		!strings.Contains(string(task.Result), `"provider_order": "42"`) {
		t.Fatalf("task %s attempt %d retries %d adds %d result %s", task.Status, task.Attempt, task.RetryCount,
			p.adds.Load(), task.Result)
	}
}

func TestSMMWorkerParksLostAddAndNeverResends(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newPanel(t, "Completed")
	p.addReply = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	exec := smmExec(p.URL)
	exec["timeout_seconds"] = 0.2
	seedTasks(t, db, 1, 1, "smm_panel", exec, 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, RescueInterval: 10 * time.Millisecond,
		HTTPClient: p.Client(), Env: func(k string) string { return panelEnv[k] }, OnEvent: ev.add}, quietLogger())
	stop := startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "parked", func() bool { return ev.count(fulfillment.OutcomeParked) == 1 })
	// A later task is claimed and run while the parked one is left alone.
	sentinel := newProvider(t, nil)
	seedTasks(t, db, 1, 1, "http", map[string]any{"url": sentinel.URL}, 3, time.Now().Add(-time.Minute))
	ev.waitFor(t, 20*time.Second, "the sentinel task", func() bool { return ev.count(fulfillment.OutcomeCompleted) == 1 })
	stop()
	var status, orderStatus string
	_ = db.Get(&status, `SELECT status FROM fulfillment_tasks WHERE execution_kind = 'smm_panel'`)
	_ = db.Get(&orderStatus, `SELECT o.status FROM orders o JOIN order_items oi ON oi.order_id = o.id
		JOIN fulfillment_tasks t ON t.order_item_id = oi.id WHERE t.execution_kind = 'smm_panel'`)
	if p.adds.Load() != 1 || status != "parked" || orderStatus != "active" {
		t.Fatalf("adds %d task %s order %s", p.adds.Load(), status, orderStatus)
	}
}

func TestSMMWorkerRetriesRefusedConnection(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	seedTasks(t, db, 1, 1, "smm_panel", smmExec("http://"+addr+"/api/v2"), 3, time.Now().Add(-time.Minute))
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond,
		Env: func(k string) string { return panelEnv[k] }, OnEvent: ev.add}, quietLogger())
	startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "a retry", func() bool { return ev.count(fulfillment.OutcomeRetried) == 1 })
	var row struct {
		Status string     `db:"status"`
		Retry  int        `db:"retry_count"`
		State  store.JSON `db:"state"`
	}
	_ = db.Get(&row, `SELECT status, retry_count, state FROM fulfillment_tasks`)
	if row.Status != "pending" || row.Retry != 1 || strings.Contains(string(row.State), "add_sent_at") {
		t.Fatalf("task %+v %s", row, row.State)
	}
}
