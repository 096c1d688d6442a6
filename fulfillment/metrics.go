package fulfillment

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smplat/smplat/store"
)

// Metrics are one process's worker counters (SPEC §7): every key is present
// from the start, counters at 0 and times null (fix: the old backend's
// counters started as {}).
//
//   - tasks_processed: tasks completed by this process;
//   - tasks_failed: failed attempts (each one, retried or not);
//   - tasks_retried: failed attempts that were rescheduled;
//   - tasks_dead_lettered: tasks that failed for good;
//   - tasks_parked: tasks set aside for an operator;
//   - loop_errors: poll cycles that hit an error (database down, …);
//   - last_run_*: the last poll cycle (rescue + claim + dispatch). A stale
//     last_run_finished_at means the loop is stuck or dead.
type Metrics struct {
	TasksProcessed         int64      `json:"tasks_processed"`
	TasksFailed            int64      `json:"tasks_failed"`
	TasksRetried           int64      `json:"tasks_retried"`
	TasksDeadLettered      int64      `json:"tasks_dead_lettered"`
	TasksParked            int64      `json:"tasks_parked"`
	LoopErrors             int64      `json:"loop_errors"`
	LastRunStartedAt       *time.Time `json:"last_run_started_at"`
	LastRunFinishedAt      *time.Time `json:"last_run_finished_at"`
	LastRunDurationSeconds *float64   `json:"last_run_duration_seconds"`
	LastError              *string    `json:"last_error"`
	LastErrorAt            *time.Time `json:"last_error_at"`
}

// Totals are the observability totals (SPEC §7), zeros present.
type Totals struct {
	Processed    int64 `json:"processed"`
	Failed       int64 `json:"failed"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"dead_lettered"`
	Parked       int64 `json:"parked"`
}

// Event is one thing that happened to a task in this process.
type Event struct {
	At       time.Time `json:"at"`
	TaskID   string    `json:"task_id"`
	TaskType string    `json:"task_type"`
	OrderID  string    `json:"order_id"`
	// Outcome: completed, retried, dead_lettered, parked, snoozed, released,
	// lease_lost.
	Outcome         string  `json:"outcome"`
	Attempt         int     `json:"attempt"`
	Error           string  `json:"error,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// Event outcomes.
const (
	OutcomeCompleted    = "completed"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeParked       = "parked"
	OutcomeSnoozed      = "snoozed"
	OutcomeReleased     = "released"
	OutcomeLeaseLost    = "lease_lost"
)

// maxEvents is how many recent events a process keeps.
const maxEvents = 100

// metrics holds the counters behind Metrics, the observability view and the
// Prometheus collectors.
type metrics struct {
	mu      sync.Mutex
	m       Metrics
	perType map[string]*Totals
	events  []Event // ring, newest last
	onEvent func(Event)

	processed, failed, retried, deadLettered, parked *prometheus.CounterVec
	loopErrors                                       prometheus.Counter
	runDuration                                      prometheus.Histogram
	own                                              []prometheus.Collector
}

func newMetrics(running func() bool, onEvent func(Event)) *metrics {
	vec := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "smplat", Subsystem: "fulfillment",
			Name: name, Help: help}, []string{"task_type"})
	}
	m := &metrics{
		perType:      map[string]*Totals{},
		onEvent:      onEvent,
		processed:    vec("tasks_processed_total", "Tasks completed by this process."),
		failed:       vec("tasks_failed_total", "Failed task attempts in this process (retried or not)."),
		retried:      vec("tasks_retried_total", "Failed task attempts rescheduled for a retry."),
		deadLettered: vec("tasks_dead_lettered_total", "Tasks that failed for good (result.dead_letter)."),
		parked:       vec("tasks_parked_total", "Tasks parked for an operator to reconcile."),
		loopErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smplat", Subsystem: "fulfillment",
			Name: "loop_errors_total", Help: "Worker poll cycles that hit an error."}),
		runDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "smplat", Subsystem: "fulfillment",
			Name: "run_duration_seconds", Help: "Duration of a worker poll cycle (rescue, claim, dispatch).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
	}
	for _, t := range store.TaskTypes {
		m.perType[string(t)] = &Totals{}
		for _, v := range []*prometheus.CounterVec{m.processed, m.failed, m.retried, m.deadLettered, m.parked} {
			v.WithLabelValues(string(t)) // present at 0 from the start
		}
	}
	lastFinished := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "smplat", Subsystem: "fulfillment",
		Name: "last_run_finished_timestamp_seconds", Help: "Unix time the last poll cycle finished (0 before the first)."},
		func() float64 {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.m.LastRunFinishedAt == nil {
				return 0
			}
			return float64(m.m.LastRunFinishedAt.UnixNano()) / 1e9
		})
	up := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "smplat", Subsystem: "fulfillment",
		Name: "worker_running", Help: "1 while this process runs the worker loop."},
		func() float64 {
			if running() {
				return 1
			}
			return 0
		})
	m.own = []prometheus.Collector{m.processed, m.failed, m.retried, m.deadLettered, m.parked, m.loopErrors,
		m.runDuration, lastFinished, up}
	return m
}

func (m *metrics) snapshot() Metrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m
}

func (m *metrics) runStarted(at time.Time) {
	m.mu.Lock()
	m.m.LastRunStartedAt = &at
	m.mu.Unlock()
}

func (m *metrics) runFinished(at time.Time, d time.Duration) {
	secs := d.Seconds()
	m.mu.Lock()
	m.m.LastRunFinishedAt = &at
	m.m.LastRunDurationSeconds = &secs
	m.mu.Unlock()
	m.runDuration.Observe(secs)
}

func (m *metrics) loopError(at time.Time, msg string) {
	m.mu.Lock()
	m.m.LoopErrors++
	m.m.LastError = &msg
	m.m.LastErrorAt = &at
	m.mu.Unlock()
	m.loopErrors.Inc()
}

// record counts one task event and keeps it in the recent events.
func (m *metrics) record(e Event) {
	m.mu.Lock()
	t := m.perType[e.TaskType]
	if t == nil {
		t = &Totals{}
		m.perType[e.TaskType] = t
	}
	switch e.Outcome {
	case OutcomeCompleted:
		m.m.TasksProcessed++
		t.Processed++
		m.processed.WithLabelValues(e.TaskType).Inc()
	case OutcomeRetried, OutcomeDeadLettered:
		m.m.TasksFailed++
		t.Failed++
		m.failed.WithLabelValues(e.TaskType).Inc()
		if e.Outcome == OutcomeRetried {
			m.m.TasksRetried++
			t.Retried++
			m.retried.WithLabelValues(e.TaskType).Inc()
		} else {
			m.m.TasksDeadLettered++
			t.DeadLettered++
			m.deadLettered.WithLabelValues(e.TaskType).Inc()
		}
	case OutcomeParked:
		m.m.TasksParked++
		t.Parked++
		m.parked.WithLabelValues(e.TaskType).Inc()
	}
	if e.Error != "" && (e.Outcome == OutcomeRetried || e.Outcome == OutcomeDeadLettered || e.Outcome == OutcomeParked) {
		msg := e.Error
		at := e.At
		m.m.LastError, m.m.LastErrorAt = &msg, &at
	}
	if len(m.events) >= maxEvents {
		m.events = append(m.events[:0], m.events[1:]...)
	}
	m.events = append(m.events, e)
	hook := m.onEvent
	m.mu.Unlock()
	if hook != nil {
		hook(e)
	}
}

// Observability is the /api/v1/fulfillment/observability body.
type Observability struct {
	Totals      Totals            `json:"totals"`
	PerTaskType map[string]Totals `json:"per_task_type"`
	// Events are the most recent task events of this process, newest first.
	Events []Event `json:"events"`
	// Queue is read from the database (all processes); null if it could not be read.
	Queue *Queue `json:"queue"`
}

// Queue is the task queue as the database sees it.
type Queue struct {
	ByStatus            map[store.TaskStatus]int `json:"by_status"`
	OldestDueAgeSeconds float64                  `json:"oldest_due_age_seconds"`
}

func (m *metrics) observability() Observability {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := Observability{PerTaskType: make(map[string]Totals, len(m.perType)), Events: make([]Event, 0, len(m.events))}
	for k, t := range m.perType {
		o.PerTaskType[k] = *t
		o.Totals.Processed += t.Processed
		o.Totals.Failed += t.Failed
		o.Totals.Retried += t.Retried
		o.Totals.DeadLettered += t.DeadLettered
		o.Totals.Parked += t.Parked
	}
	for i := len(m.events) - 1; i >= 0; i-- {
		o.Events = append(o.Events, m.events[i])
	}
	return o
}

// queueCollector reports the queue from the database at scrape time, so
// alerts see a backlog even when no worker process is alive.
type queueCollector struct {
	st       *store.Store
	now      func() time.Time
	log      *slog.Logger
	byStatus *prometheus.Desc
	oldest   *prometheus.Desc
	errors   prometheus.Counter
}

// newQueueCollector reports smplat_fulfillment_tasks{status} and
// smplat_fulfillment_oldest_due_task_age_seconds, read from the database at
// each scrape (with a 5 s timeout; on error the gauges are skipped and
// smplat_fulfillment_queue_scrape_errors_total counts it). The worker's
// Collector includes it, whether or not the worker runs in this process.
func newQueueCollector(st *store.Store, now func() time.Time, logger *slog.Logger) *queueCollector {
	return &queueCollector{st: st, now: now, log: logger,
		byStatus: prometheus.NewDesc("smplat_fulfillment_tasks", "Fulfillment tasks by status (database).",
			[]string{"status"}, nil),
		oldest: prometheus.NewDesc("smplat_fulfillment_oldest_due_task_age_seconds",
			"How long the oldest due, unclaimed task has waited past its scheduled time (database).", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "smplat", Subsystem: "fulfillment",
			Name: "queue_scrape_errors_total", Help: "Scrapes that could not read the task queue."}),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.byStatus
	ch <- c.oldest
	c.errors.Describe(ch)
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.st.TaskStatusCounts(ctx)
	var age time.Duration
	if err == nil {
		age, err = c.st.OldestDueTaskAge(ctx, c.now())
	}
	if err != nil {
		c.errors.Inc()
		c.log.Warn("fulfillment: reading the task queue for metrics failed", "err", err)
	} else {
		for st, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(n), string(st))
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age.Seconds())
	}
	c.errors.Collect(ch)
}

// collectors is several collectors as one.
type collectors []prometheus.Collector

func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}
