// Package fulfillment is smplat's fulfillment worker: it claims due tasks
// from Postgres under a lease, runs them with the http and smm_panel
// executors, retries with backoff, rescues tasks of dead workers, and shuts
// down gracefully. Any number of API processes and standalone workers may
// run it against one database; each task runs once per claim and every
// state change is guarded by the lease (see store/tasks.go).
//
// It reads no environment itself: cmd/smplat builds a Config (Env gives
// executors the variables their blocks list in environment_keys).
package fulfillment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smplat/smplat/store"
)

// Config tunes a Worker. Zero values take the defaults noted.
type Config struct {
	// PollInterval is the wait between polls when the queue is drained
	// (30 s; FULFILLMENT_POLL_INTERVAL_SECONDS), jittered by ±Jitter. A
	// poll that fills its batch polls again at once.
	PollInterval time.Duration
	// BatchSize is the most tasks claimed per poll (25; FULFILLMENT_BATCH_SIZE).
	BatchSize int
	// Concurrency is the most tasks run at once (BatchSize).
	Concurrency int
	// LeaseDuration is how long a claim holds without a heartbeat (2 min);
	// running tasks extend it every LeaseDuration/3.
	LeaseDuration time.Duration
	// Grace is how long shutdown waits for running tasks before cancelling
	// them and releasing their claims (25 s).
	Grace time.Duration
	// RescueInterval is how often expired leases are looked for (PollInterval).
	RescueInterval time.Duration
	// Jitter is the ± fraction applied to retry delays and poll waits (0.1).
	Jitter float64
	// Env reads an environment variable for a task's environment_keys.
	// nil means no variables at all.
	Env func(string) string
	// HTTPClient calls providers; per-call timeouts come from the task.
	HTTPClient *http.Client
	// Now is the clock for every time written to the database (time.Now).
	Now func() time.Time
	// WorkerID names this process in leases and logs (hostname-pid).
	WorkerID string
	// OnEvent, if set, is called after each task event (tests, logging).
	OnEvent func(Event)
	// Executors adds or replaces executors by execution kind.
	Executors map[string]Executor
}

func (c Config) withDefaults() Config {
	if c.PollInterval <= 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 25
	}
	if c.Concurrency <= 0 {
		c.Concurrency = c.BatchSize
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 2 * time.Minute
	}
	if c.Grace <= 0 {
		c.Grace = 25 * time.Second
	}
	if c.RescueInterval <= 0 {
		c.RescueInterval = c.PollInterval
	}
	if c.Jitter < 0 || c.Jitter >= 1 {
		c.Jitter = 0.1
	} else if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = c.Concurrency
		c.HTTPClient = &http.Client{Transport: tr}
	}
	if c.WorkerID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "worker"
		}
		c.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return c
}

// Worker claims and runs fulfillment tasks. Build one per process with New
// even when the loop is disabled, so health and metrics report it
// (running: false, zeros).
type Worker struct {
	st        *store.Store
	cfg       Config
	log       *slog.Logger
	running   atomic.Bool
	metrics   *metrics
	queue     *queueCollector
	executors map[string]Executor
}

// New builds a worker over the store.
func New(st *store.Store, cfg Config, logger *slog.Logger) *Worker {
	if logger == nil {
		logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	w := &Worker{st: st, cfg: cfg, log: logger.With("component", "fulfillment")}
	w.metrics = newMetrics(w.Running, cfg.OnEvent)
	w.queue = newQueueCollector(st, cfg.Now, w.log)
	w.executors = map[string]Executor{
		store.ExecutionHTTP:     HTTPExecutor{},
		store.ExecutionSMMPanel: SMMPanelExecutor{},
		store.ExecutionManual:   manualExecutor{},
	}
	for k, e := range cfg.Executors {
		w.executors[k] = e
	}
	return w
}

// Running reports whether Run is looping.
func (w *Worker) Running() bool { return w.running.Load() }

// Config returns the effective configuration (defaults applied).
func (w *Worker) Config() Config { return w.cfg }

// Metrics returns a snapshot of this process's counters.
func (w *Worker) Metrics() Metrics { return w.metrics.snapshot() }

// Observability returns totals, per-task-type counters and recent events of
// this process, plus the queue read from the database (nil on error).
func (w *Worker) Observability(ctx context.Context) Observability {
	o := w.metrics.observability()
	counts, err := w.st.TaskStatusCounts(ctx)
	if err == nil {
		var age time.Duration
		if age, err = w.st.OldestDueTaskAge(ctx, w.cfg.Now()); err == nil {
			o.Queue = &Queue{ByStatus: counts, OldestDueAgeSeconds: age.Seconds()}
		}
	}
	if err != nil {
		w.log.Warn("fulfillment: reading the task queue failed", "err", err)
	}
	return o
}

// Collector returns the worker's Prometheus collectors: counters by task
// type, loop errors, poll-cycle duration, last run time, running, and the
// queue gauges read from the database.
func (w *Worker) Collector() prometheus.Collector {
	return append(collectors{w.queue}, w.metrics.own...)
}

// RetryDelay is the wait before retry number retryCount+1:
// min(1800, 60 × 2^retryCount) seconds, scaled by 1 + jitter×(2u−1) for u in
// [0, 1) — so within ±jitter of the formula.
func RetryDelay(retryCount int, jitter, u float64) time.Duration {
	base := 1800.0
	if retryCount < 5 {
		base = math.Min(1800, 60*math.Pow(2, float64(max(retryCount, 0))))
	}
	return time.Duration(base * (1 + jitter*(2*u-1)) * float64(time.Second))
}

func (w *Worker) jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 + w.cfg.Jitter*(2*mrand.Float64()-1)))
}

// Run loops until ctx is cancelled, then shuts down: it stops claiming at
// once, lets running tasks finish for up to Grace, then cancels the rest and
// releases their claims without spending an attempt. It returns nil after
// the shutdown, or an error if the worker is already running.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("fulfillment: worker already running")
	}
	defer w.running.Store(false)
	defer w.cfg.HTTPClient.CloseIdleConnections()
	owner := w.cfg.WorkerID + "-" + randomHex(4)
	log := w.log.With("worker", owner)
	log.Info("fulfillment worker started", "poll_interval", w.cfg.PollInterval, "batch_size", w.cfg.BatchSize,
		"concurrency", w.cfg.Concurrency, "lease", w.cfg.LeaseDuration)

	// Two contexts: ctx stops claiming; workCtx, cancelled only after the
	// grace period, stops running tasks.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	slots := make(chan struct{}, w.cfg.Concurrency)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	var lastRescue time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()

loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-timer.C:
		}
		free := cap(slots) - len(slots)
		if free == 0 { // every slot busy: wait for one to free up
			select {
			case <-ctx.Done():
				break loop
			case <-freed:
			}
			free = cap(slots) - len(slots)
		}
		started := time.Now()
		w.metrics.runStarted(w.cfg.Now())
		var cycleErr error
		if time.Since(lastRescue) >= w.cfg.RescueInterval {
			lastRescue = time.Now()
			n, err := w.st.RescueExpiredTasks(ctx, w.cfg.Now())
			if err != nil {
				cycleErr = fmt.Errorf("rescue expired tasks: %w", err)
			} else if n > 0 {
				log.Warn("fulfillment: rescued tasks whose lease expired", "count", n)
			}
		}
		limit := min(w.cfg.BatchSize, free)
		tasks, err := w.st.ClaimTasks(ctx, owner, limit, w.cfg.LeaseDuration, w.cfg.Now())
		if err != nil {
			cycleErr = errors.Join(cycleErr, fmt.Errorf("claim tasks: %w", err))
		}
		for _, t := range tasks {
			slots <- struct{}{}
			wg.Add(1)
			go func(t store.Task) {
				defer wg.Done()
				defer func() {
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}()
				w.runTask(workCtx, t, log)
			}(t)
		}
		w.metrics.runFinished(w.cfg.Now(), time.Since(started))
		if cycleErr != nil && ctx.Err() == nil {
			w.metrics.loopError(w.cfg.Now(), store.RedactDSN(cycleErr.Error()))
			log.Error("fulfillment: poll failed", "err", store.RedactError(cycleErr))
		}
		next := w.jittered(w.cfg.PollInterval)
		if cycleErr == nil && len(tasks) == limit {
			next = 0 // a full batch: there may be more due right now
		}
		timer.Reset(next)
	}

	log.Info("fulfillment worker stopping", "grace", w.cfg.Grace)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	grace := time.NewTimer(w.cfg.Grace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		log.Warn("fulfillment: grace period over, cancelling running tasks", "running", len(slots))
		cancelWork()
		<-done
	}
	log.Info("fulfillment worker stopped")
	return nil
}

// runTask runs one claimed task and writes its outcome under the lease.
func (w *Worker) runTask(workCtx context.Context, t store.Task, log *slog.Logger) {
	start := time.Now()
	lease := t.Lease()
	taskCtx, cancel := context.WithCancel(workCtx)
	var lost atomic.Bool
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(taskCtx, lease, &lost, cancel)
	}()
	out := w.execute(taskCtx, &t, lease, log)
	cancel()
	<-hbDone

	ev := Event{TaskID: t.ID, TaskType: string(t.TaskType), OrderID: t.OrderID, Attempt: t.Attempt, Error: out.Error}
	// Results are written even during shutdown: a finished task must not be
	// run again.
	ctx, cancelDB := context.WithTimeout(context.WithoutCancel(workCtx), 15*time.Second)
	defer cancelDB()
	now := w.cfg.Now()
	var err error
	switch {
	case lost.Load():
		err = store.ErrLeaseLost
	case out.Kind == Fail && workCtx.Err() != nil:
		// Cancelled by shutdown: give the claim back, attempt unspent.
		ev.Outcome = OutcomeReleased
		err = w.st.ReleaseTask(ctx, lease, store.JSON(out.State), now)
	case out.Kind == Complete:
		ev.Outcome, ev.Error = OutcomeCompleted, ""
		result := out.Result
		if len(result) == 0 {
			result = json.RawMessage(`{}`)
		}
		err = w.st.CompleteTask(ctx, lease, store.JSON(result), store.JSON(out.State), now)
	case out.Kind == Park:
		ev.Outcome = OutcomeParked
		err = w.st.ParkTask(ctx, lease, out.Error, store.JSON(out.Result), store.JSON(out.State), now)
	case out.Kind == Snooze:
		ev.Outcome = OutcomeSnoozed
		err = w.st.SnoozeTask(ctx, lease, out.RunAt, store.JSON(out.State), out.Note, now)
	default:
		var dead bool
		dead, err = w.st.FailTask(ctx, lease, store.TaskFailure{Error: out.Error, Result: store.JSON(out.Result),
			State: store.JSON(out.State), Permanent: out.Permanent,
			RetryAt: now.Add(RetryDelay(t.RetryCount, w.cfg.Jitter, mrand.Float64()))}, now)
		ev.Outcome = OutcomeRetried
		if dead {
			ev.Outcome = OutcomeDeadLettered
		}
	}
	if errors.Is(err, store.ErrLeaseLost) {
		// Someone else owns the task now (rescued after our lease expired,
		// or cancelled by an operator): our result is dropped.
		ev.Outcome = OutcomeLeaseLost
		log.Warn("fulfillment: task lease lost, result dropped", "task_id", t.ID, "attempt", t.Attempt)
	} else if err != nil {
		// The claim stays until its lease expires; the rescuer returns it.
		w.metrics.loopError(now, store.RedactDSN("record task outcome: "+err.Error()))
		log.Error("fulfillment: recording task outcome failed", "task_id", t.ID, "err", store.RedactError(err))
		return
	}
	ev.At = w.cfg.Now()
	ev.DurationSeconds = time.Since(start).Seconds()
	switch ev.Outcome {
	case OutcomeRetried, OutcomeDeadLettered, OutcomeParked:
		log.Warn("fulfillment: task "+ev.Outcome, "task_id", t.ID, "task_type", t.TaskType, "attempt", t.Attempt,
			"error", ev.Error)
	default:
		log.Debug("fulfillment: task "+ev.Outcome, "task_id", t.ID, "task_type", t.TaskType)
	}
	w.metrics.record(ev)
}

// execute runs the executor of the task's kind; a panic fails the task.
func (w *Worker) execute(ctx context.Context, t *store.Task, lease store.TaskLease, log *slog.Logger) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			log.Error("fulfillment: task panicked", "task_id", t.ID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			out = Outcome{Kind: Fail, Error: fmt.Sprintf("executor panicked: %v", r)}
		}
	}()
	ex := w.executors[t.ExecutionKind]
	if ex == nil {
		return Outcome{Kind: Fail, Permanent: true, Error: fmt.Sprintf("no executor for kind %q", t.ExecutionKind)}
	}
	data, err := taskData(t)
	if err != nil {
		return Outcome{Kind: Fail, Permanent: true, Error: err.Error()}
	}
	job := &Job{Task: *t, Data: data, Getenv: w.cfg.Env, Client: w.cfg.HTTPClient, Now: w.cfg.Now,
		SaveState: func(ctx context.Context, state json.RawMessage) error {
			return w.st.SaveTaskState(ctx, lease, store.JSON(state), w.cfg.Now())
		}}
	return ex.Execute(ctx, job)
}

// heartbeat extends the lease while the task runs; if the lease is gone it
// cancels the task (its result could not be recorded anyway).
func (w *Worker) heartbeat(ctx context.Context, lease store.TaskLease, lost *atomic.Bool, cancel context.CancelFunc) {
	tick := time.NewTicker(max(w.cfg.LeaseDuration/3, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			err := w.st.ExtendLease(ctx, lease, w.cfg.Now().Add(w.cfg.LeaseDuration))
			if errors.Is(err, store.ErrLeaseLost) {
				lost.Store(true)
				cancel()
				return
			}
			if err != nil && ctx.Err() == nil {
				w.log.Warn("fulfillment: extending a lease failed", "task_id", lease.TaskID, "err", store.RedactError(err))
			}
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
