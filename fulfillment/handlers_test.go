package fulfillment_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
)

func getJSON(t *testing.T, h http.Handler) map[string]any {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func scrape(t *testing.T, w *fulfillment.Worker) string {
	t.Helper()
	rec := httptest.NewRecorder()
	fulfillment.PrometheusHandler(w).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

var metricKeys = []string{"tasks_processed", "tasks_failed", "tasks_retried", "tasks_dead_lettered", "loop_errors",
	"last_run_started_at", "last_run_finished_at", "last_run_duration_seconds", "last_error", "last_error_at"}

func TestOperatorEndpointsOnFreshAndBusyWorker(t *testing.T) {
	t.Parallel()
	db, st := newDB(t)
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(500)
		}
	})
	ev := newEvents()
	w := fulfillment.New(st, fulfillment.Config{PollInterval: 10 * time.Millisecond, BatchSize: 7,
		HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())

	// Fresh process: every key present, zeros and nulls.
	health := getJSON(t, fulfillment.HealthHandler(w))
	if health["running"] != false || health["poll_interval_seconds"] != 0.01 || health["batch_size"] != float64(7) {
		t.Fatalf("health %v", health)
	}
	for _, m := range []map[string]any{health["metrics"].(map[string]any), getJSON(t, fulfillment.MetricsHandler(w))} {
		for _, k := range metricKeys {
			v, ok := m[k]
			if !ok {
				t.Fatalf("metrics lack %s: %v", k, m)
			}
			if strings.HasPrefix(k, "last_") && v != nil || !strings.HasPrefix(k, "last_") && v != float64(0) {
				t.Fatalf("fresh %s = %v", k, v)
			}
		}
	}
	obs := getJSON(t, fulfillment.ObservabilityHandler(w))
	totals := obs["totals"].(map[string]any)
	for _, k := range []string{"processed", "failed", "retried", "dead_lettered"} {
		if totals[k] != float64(0) {
			t.Fatalf("totals %v", totals)
		}
	}
	perType := obs["per_task_type"].(map[string]any)
	if len(perType) != len(store.TaskTypes) || perType["follower_growth"].(map[string]any)["processed"] != float64(0) {
		t.Fatalf("per_task_type %v", perType)
	}
	if evs, ok := obs["events"].([]any); !ok || len(evs) != 0 {
		t.Fatalf("events %v", obs["events"])
	}
	text := scrape(t, w)
	for _, want := range []string{`smplat_fulfillment_tasks_processed_total{task_type="follower_growth"} 0`,
		`smplat_fulfillment_loop_errors_total 0`, `smplat_fulfillment_tasks{status="pending"} 0`,
		`smplat_fulfillment_oldest_due_task_age_seconds 0`, `smplat_fulfillment_worker_running 0`,
		`smplat_fulfillment_run_duration_seconds_count 0`} {
		if !strings.Contains(text, want) {
			t.Fatalf("fresh scrape lacks %q:\n%s", want, text)
		}
	}

	// After a run: 3 completed, 1 failed (retry scheduled).
	seedTasks(t, db, 1, 3, "http", map[string]any{"url": p.URL + "/ok"}, 3, time.Now().Add(-time.Minute))
	seedTasks(t, db, 1, 1, "http", map[string]any{"url": p.URL + "/fail"}, 3, time.Now().Add(-time.Minute))
	startWorker(t, w)
	ev.waitFor(t, 20*time.Second, "4 outcomes", func() bool {
		return ev.count(fulfillment.OutcomeCompleted) == 3 && ev.count(fulfillment.OutcomeRetried) == 1
	})
	health = getJSON(t, fulfillment.HealthHandler(w))
	m := health["metrics"].(map[string]any)
	if health["running"] != true || m["tasks_processed"] != float64(3) || m["tasks_failed"] != float64(1) ||
		m["tasks_retried"] != float64(1) || m["last_run_finished_at"] == nil || m["last_run_duration_seconds"] == nil ||
		m["last_error"] == nil {
		t.Fatalf("health after run %v", health)
	}
	obs = getJSON(t, fulfillment.ObservabilityHandler(w))
	totals = obs["totals"].(map[string]any)
	evs := obs["events"].([]any)
	queue := obs["queue"].(map[string]any)["by_status"].(map[string]any)
	if totals["processed"] != float64(3) || totals["retried"] != float64(1) || len(evs) != 4 ||
		obs["per_task_type"].(map[string]any)["follower_growth"].(map[string]any)["processed"] != float64(3) ||
		queue["completed"] != float64(3) || queue["pending"] != float64(1) {
		t.Fatalf("observability after run %v", obs)
	}
	text = scrape(t, w)
	for _, want := range []string{`smplat_fulfillment_tasks_processed_total{task_type="follower_growth"} 3`,
		`smplat_fulfillment_tasks_failed_total{task_type="follower_growth"} 1`,
		`smplat_fulfillment_tasks_retried_total{task_type="follower_growth"} 1`,
		`smplat_fulfillment_tasks{status="completed"} 3`, `smplat_fulfillment_worker_running 1`} {
		if !strings.Contains(text, want) {
			t.Fatalf("scrape after run lacks %q:\n%s", want, text)
		}
	}
}
