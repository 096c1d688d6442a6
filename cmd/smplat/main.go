// Command smplat is the commerce backend of the storefront: the GraphQL API
// and its REST shims (serve), the fulfillment worker (worker), migrations,
// seed data and smoke tests. See README.md.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	migrate "github.com/rubenv/sql-migrate"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/rest"
	"github.com/smplat/smplat/migrations"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smplat:", err)
		os.Exit(1)
	}
}

const usage = `usage: smplat <command> [flags]

commands:
  serve                       run the API (and the fulfillment worker when FULFILLMENT_WORKER_ENABLED=true)
  worker                      run the fulfillment worker alone (health and metrics on HTTP_ADDR)
  migrate up|down|status      apply, roll back one, or list migrations
  seed --slug instagram-growth
                              write a seed product and its configuration
  smoke fulfillment|checkout  check a deployment (--base-url URL [--api-key KEY]) or the app in process (--in-process)
  version                     print the version
`

// run is the whole program; main only calls it. getenv is the environment
// (merged over a .env file in the working directory).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	dotenv, err := readDotEnv(".env")
	if err != nil {
		return fmt.Errorf("read .env: %w", err)
	}
	env := func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return dotenv[k]
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version":
		fmt.Fprintln(stdout, "smplat", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "smoke": // before loadConfig: the checks need no server settings
		return smokeCmd(ctx, rest, env, stdout, stderr)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		warnings, err := cfg.apiKeys()
		if err != nil {
			return err
		}
		return serve(ctx, cfg, warnings, rest, env, logger)
	case "worker":
		return workerCmd(ctx, cfg, env, logger)
	case "migrate":
		return migrateCmd(ctx, cfg, rest, stdout)
	case "seed":
		return seedCmd(ctx, cfg, rest, stdout)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	if cfg.production() {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func openStore(ctx context.Context, cfg config) (*store.Store, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	return store.New(db), nil
}

func migrateCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: smplat migrate up|down|status")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	src := migrations.Source()
	db := st.DB().DB
	switch args[0] {
	case "up":
		n, err := migrateUp(ctx, db)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		fmt.Fprintf(stdout, "applied %d migrations\n", n)
	case "down":
		n, err := withMigrationLock(ctx, db, func() (int, error) {
			return migrate.ExecMaxContext(ctx, db, "postgres", src, migrate.Down, 1)
		})
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		fmt.Fprintf(stdout, "rolled back %d migration(s)\n", n)
	case "status":
		all, err := src.FindMigrations()
		if err != nil {
			return err
		}
		records, err := migrate.GetMigrationRecords(db, "postgres")
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		applied := map[string]time.Time{}
		for _, r := range records {
			applied[r.Id] = r.AppliedAt
		}
		for _, m := range all {
			if at, ok := applied[m.Id]; ok {
				fmt.Fprintf(stdout, "%-28s applied %s\n", m.Id, at.UTC().Format(time.RFC3339))
			} else {
				fmt.Fprintf(stdout, "%-28s pending\n", m.Id)
			}
		}
	default:
		return fmt.Errorf("unknown migrate command %q (up, down or status)", args[0])
	}
	return nil
}

// migrationLockKey is the Postgres advisory lock that serializes migrations
// of processes starting together (sql-migrate takes no lock of its own).
const migrationLockKey = 0x736d706c6174 // "smplat"

// migrateUp applies pending migrations under the migration lock.
func migrateUp(ctx context.Context, db *sql.DB) (int, error) {
	return withMigrationLock(ctx, db, func() (int, error) {
		return migrate.ExecContext(ctx, db, "postgres", migrations.Source(), migrate.Up)
	})
}

// withMigrationLock runs fn while holding the migration lock on a
// connection of its own; other processes wait for it, then find nothing
// left to apply.
func withMigrationLock(ctx context.Context, db *sql.DB, fn func() (int, error)) (int, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return 0, fmt.Errorf("take the migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey) //nolint:errcheck // released with the session anyway
	return fn()
}

func seedCmd(ctx context.Context, cfg config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	slug := fs.String("slug", "instagram-growth", "seed product to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	if _, err := migrateUp(ctx, st.DB().DB); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	id, err := st.Seed(ctx, *slug)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %s (%s)\n", *slug, id)
	return nil
}

// serve runs the API until ctx is canceled. On shutdown the worker stops
// claiming at once, HTTP drains, the worker's running tasks finish or are
// released, and the database closes last. The bound address is logged
// ("listening addr=…"; tests listen on :0).
func serve(ctx context.Context, cfg config, warnings, args []string, env func(string) string, logger *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	noMigrate := fs.Bool("no-migrate", !cfg.AutoMigrate, "do not apply pending migrations at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, w := range warnings {
		logger.Warn(w)
	}
	tuneGC(env)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	if !*noMigrate {
		n, err := migrateUp(ctx, st.DB().DB)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if n > 0 {
			logger.Info("applied migrations", "count", n)
		}
	}
	paymentsClient := payments.NewClient(payments.Config{
		SecretKey:      cfg.StripeSecretKey,
		WebhookSecrets: cfg.StripeWebhookSecrets,
		APIBase:        cfg.StripeAPIBase,
		Logger:         logger,
	})
	var cache *graph.ResponseCache
	if cfg.CatalogCache {
		cache = graph.NewResponseCache(cfg.CatalogCacheBytes)
		go func() {
			if err := store.ListenCatalog(ctx, cfg.DatabaseURL, cache.Invalidate, cache.SetLive); err != nil {
				logger.Error("catalog change feed stopped; the response cache stays off", "error", err)
			}
		}()
	}
	worker := fulfillment.New(st, workerConfig(cfg, env), logger)
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	workerDone := make(chan error, 1)
	if cfg.WorkerEnabled {
		go func() { workerDone <- worker.Run(workerCtx) }()
	} else {
		workerDone <- nil
	}
	go purgeIdempotencyKeys(ctx, st, logger)
	handler := graph.NewServer(graph.ServerConfig{
		Worker:        worker,
		Cache:         cache,
		Store:         st,
		Payments:      payments.NewService(st, paymentsClient, logger),
		Logger:        logger,
		Keys:          auth.NewKeys(cfg.CheckoutAPIKeys, cfg.AdminAPIKeys),
		Environment:   cfg.Environment,
		Version:       version,
		Playground:    cfg.Playground,
		Introspection: cfg.Introspection,
		CORSOrigins:   cfg.CORSOrigins,
	})
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "environment", cfg.Environment, "version", version,
		"playground", cfg.Playground)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	// The worker stops claiming at once and finishes (or releases) its
	// running tasks while HTTP drains; then the database closes.
	stopWorker()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("http shutdown: %w", err)
	}
	if err := <-workerDone; err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	return nil
}

// tuneGC trades a little memory for less collection work, within a soft
// memory limit, unless GOGC or GOMEMLIMIT are set: rendering catalog pages
// allocates a lot of short-lived garbage.
func tuneGC(env func(string) string) {
	if env("GOGC") == "" {
		debug.SetGCPercent(300)
	}
	if env("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
}

// workerConfig builds the worker's settings. Tasks read variables only
// through their environment_keys, and never smplat's own secrets (the
// config validator refuses them too).
func workerConfig(cfg config, env func(string) string) fulfillment.Config {
	taskEnv := func(k string) string {
		if store.ReservedEnvKey(k) {
			return ""
		}
		return env(k)
	}
	return fulfillment.Config{PollInterval: cfg.PollInterval, BatchSize: cfg.BatchSize, Env: taskEnv}
}

// purgeIdempotencyKeys deletes idempotency keys past their 24 h every hour.
func purgeIdempotencyKeys(ctx context.Context, st *store.Store, logger *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PurgeIdempotencyKeys(ctx, time.Now().Add(-store.IdempotencyTTL)); err != nil && ctx.Err() == nil {
			logger.Warn("purging idempotency keys failed", "error", err)
		} else if n > 0 {
			logger.Info("purged idempotency keys", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// workerCmd runs the fulfillment worker alone, serving its health, metrics
// and Prometheus endpoints on HTTP_ADDR, until ctx is canceled.
func workerCmd(ctx context.Context, cfg config, env func(string) string, logger *slog.Logger) error {
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.DB().Close()
	worker := fulfillment.New(st, workerConfig(cfg, env), logger)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", rest.Health(cfg.Environment, version))
	mux.Handle("GET /api/v1/fulfillment/health", fulfillment.HealthHandler(worker))
	mux.Handle("GET /api/v1/fulfillment/metrics", fulfillment.MetricsHandler(worker))
	mux.Handle("GET /api/v1/fulfillment/observability", fulfillment.ObservabilityHandler(worker))
	mux.Handle("GET /metrics", fulfillment.PrometheusHandler(worker))
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	logger.Info("worker running", "metrics_addr", ln.Addr().String(), "poll_interval", cfg.PollInterval, "batch_size", cfg.BatchSize)
	runErr := worker.Run(ctx)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return runErr
}
