package fulfillment

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Health is the /api/v1/fulfillment/health body (SPEC §7).
type Health struct {
	Running             bool    `json:"running"`
	PollIntervalSeconds float64 `json:"poll_interval_seconds"`
	BatchSize           int     `json:"batch_size"`
	Concurrency         int     `json:"concurrency"`
	WorkerID            string  `json:"worker_id"`
	Metrics             Metrics `json:"metrics"`
}

// Health returns the worker's health: whether it is looping, its settings
// and its metrics.
func (w *Worker) Health() Health {
	return Health{Running: w.Running(), PollIntervalSeconds: w.cfg.PollInterval.Seconds(),
		BatchSize: w.cfg.BatchSize, Concurrency: w.cfg.Concurrency, WorkerID: w.cfg.WorkerID, Metrics: w.Metrics()}
}

// HealthHandler serves GET /api/v1/fulfillment/health. It always answers
// 200 (running: false when this process does not run the worker), so a
// probe can tell "disabled" from "down".
func HealthHandler(w *Worker) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { writeJSON(rw, w.Health()) })
}

// MetricsHandler serves GET /api/v1/fulfillment/metrics: the Metrics object.
func MetricsHandler(w *Worker) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { writeJSON(rw, w.Metrics()) })
}

// ObservabilityHandler serves GET /api/v1/fulfillment/observability:
// totals, per_task_type, events and the database queue.
func ObservabilityHandler(w *Worker) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		writeJSON(rw, w.Observability(ctx))
	})
}

// PrometheusHandler serves the worker's collectors alone in the Prometheus
// text format; a server with more metrics registers Collector in its own
// registry instead.
func PrometheusHandler(w *Worker) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(w.Collector())
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func writeJSON(rw http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(rw, `{"detail":"internal error","code":"INTERNAL"}`, http.StatusInternalServerError)
		return
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-store")
	_, _ = rw.Write(append(b, '\n'))
}
