package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
)

// Keys the server is started with (production refuses to start without them).
const (
	checkoutKey = "bench-checkout-key"
	adminKey    = "bench-admin-key"
)

type options struct {
	server, dsn, workdir, driver string
	duration, warmup             time.Duration
	conns                        []int
	workloads, modes             []string
	sqlSamples, pgPID            int
}

// A mode is one way of starting the server: cold has every cache off, warm
// is the production default. The variables are -cold-env and -warm-env.
var modeEnv = map[string]string{"cold": "CATALOG_CACHE=false", "warm": "CATALOG_CACHE=true"}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var o options
	var conns, workloads, modes string
	fs.StringVar(&o.server, "server", "bin/smplat", "smplat binary")
	fs.StringVar(&o.dsn, "database-url", os.Getenv("DATABASE_URL"), "Postgres DSN the server uses (seeded)")
	fs.StringVar(&o.workdir, "workdir", "", "directory for request files, scripts and server logs (default: a temp dir)")
	fs.StringVar(&o.driver, "driver", "auto", "load generator: wrk, vegeta or auto")
	fs.DurationVar(&o.duration, "duration", 6*time.Second, "length of each measured run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measured run")
	fs.StringVar(&conns, "conns", "1,16,64", "connection counts")
	fs.StringVar(&workloads, "workloads", "W1,W2,quote,createOrder", "workloads")
	fs.StringVar(&modes, "modes", "auto", "cold, warm, or auto (both when the server knows CATALOG_CACHE, else cold)")
	fs.Func("cold-env", "server environment of the cold mode (default CATALOG_CACHE=false)", func(v string) error { modeEnv["cold"] = v; return nil })
	fs.Func("warm-env", "server environment of the warm mode (default CATALOG_CACHE=true)", func(v string) error { modeEnv["warm"] = v; return nil })
	fs.IntVar(&o.pgPID, "pg-pid", 0, "postmaster pid of a local cluster: adds Postgres CPU per request")
	fs.IntVar(&o.sqlSamples, "sql-samples", 20, "sequential requests per workload for SQL statements per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, c := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -conns %q", conns)
		}
		o.conns = append(o.conns, n)
	}
	o.workloads = strings.Split(workloads, ",")
	if modes == "auto" {
		o.modes = []string{"cold"}
		if b, err := os.ReadFile(o.server); err == nil && bytes.Contains(b, []byte("CATALOG_CACHE")) {
			o.modes = []string{"cold", "warm"}
		} else {
			fmt.Println("note: the server does not read CATALOG_CACHE; measuring one mode (cold)")
		}
	} else {
		o.modes = strings.Split(modes, ",")
	}
	for _, m := range o.modes {
		if _, ok := modeEnv[m]; !ok {
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	if o.workdir == "" {
		d, err := os.MkdirTemp("", "smplat-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		o.workdir = d
	}
	drv, err := pickDriver(o.driver, o.workdir)
	if err != nil {
		return err
	}
	stats := openStatements(ctx, o.dsn)
	if stats != nil {
		defer stats.db.Close()
	} else {
		fmt.Println("note: pg_stat_statements is not available; SQL/req is n/a")
	}
	fmt.Printf("load generator: %s; %v per run after %v warm-up; connections %v; modes %v\n",
		drv.name(), o.duration, o.warmup, o.conns, o.modes)

	var rows []row
	for _, mode := range o.modes {
		r, err := runMode(ctx, o, mode, drv, stats)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, rows)
			return fmt.Errorf("%s: %w", mode, err)
		}
	}
	printTable(os.Stdout, rows)
	return nil
}

func runMode(ctx context.Context, o options, mode string, drv driver, stats *statements) ([]row, error) {
	srv, err := startServer(ctx, o, mode)
	if err != nil {
		return nil, err
	}
	wls, err := buildWorkloads(ctx, srv.base, o.workloads)
	srv.stop()
	if err != nil {
		return nil, err
	}
	var rows []row
	for _, wl := range wls {
		// A fresh server per workload: its peak RSS is this workload's.
		srv, err := startServer(ctx, o, mode)
		if err != nil {
			return rows, err
		}
		fmt.Printf("[%s] %s: server pid %d on %s (%s)\n", mode, wl.name, srv.pid(), srv.base, modeEnv[mode])
		r, err := measure(ctx, o, mode, drv, stats, srv, wl)
		rows = append(rows, r...)
		if err == nil {
			err = srv.alive()
		}
		srv.stop()
		if err != nil {
			return rows, err
		}
	}
	return rows, nil
}

// measure checks every answer of a workload, counts its SQL statements,
// then runs it at each connection count after a warm-up.
func measure(ctx context.Context, o options, mode string, drv driver, stats *statements, srv *server, wl *workload) ([]row, error) {
	if err := wl.checkAll(ctx, srv.base); err != nil {
		return nil, fmt.Errorf("%s: incomplete answer: %w", wl.name, err)
	}
	sqlPerReq := "n/a"
	if stats != nil {
		if v, err := stats.perRequest(ctx, srv.base, wl, o.sqlSamples); err == nil {
			sqlPerReq = strconv.FormatFloat(v, 'f', 1, 64)
		} else {
			fmt.Printf("[%s] %s: SQL count: %v\n", mode, wl.name, err)
		}
	}
	bodies := filepath.Join(o.workdir, wl.name+".bodies")
	if err := wl.writeBodies(bodies); err != nil {
		return nil, err
	}
	var rows []row
	perReq := func(ticks, requests int64) time.Duration {
		if ticks < 0 || requests <= 0 {
			return 0
		}
		return time.Duration(float64(ticks) * float64(10*time.Millisecond) / float64(requests))
	}
	for _, c := range o.conns {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		resetPeakRSS(srv.pid())
		if _, err := drv.run(ctx, srv.base, bodies, wl, c, o.warmup); err != nil {
			return rows, fmt.Errorf("%s warm-up at %d: %w", wl.name, c, err)
		}
		cpu0, db0 := cpuTicks(srv.pid()), childTicks(o.pgPID)
		res, err := drv.run(ctx, srv.base, bodies, wl, c, o.duration)
		if err != nil {
			return rows, fmt.Errorf("%s at %d: %w", wl.name, c, err)
		}
		cpu, db := cpuTicks(srv.pid())-cpu0, childTicks(o.pgPID)-db0
		r := row{mode: mode, workload: wl.name, conns: c, res: res, rss: peakRSS(srv.pid()), sql: sqlPerReq,
			cpuPerReq: perReq(cpu, res.requests)}
		if o.pgPID > 0 {
			r.dbCPUPerReq = perReq(db, res.requests)
		}
		rows = append(rows, r)
		fmt.Println(r.line())
	}
	return rows, nil
}

// childTicks is the CPU ticks of the children of pid (the backends of a
// postmaster): those alive plus those that exited (its cutime+cstime), so
// a backend closing between two reads takes no time away. -1 without a pid.
func childTicks(pid int) int64 {
	if pid <= 0 {
		return -1
	}
	stat := func(path string) []string {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		if len(f) < 15 {
			return nil
		}
		return f
	}
	ticks := func(f []string, i, j int) int64 {
		a, _ := strconv.ParseInt(f[i], 10, 64)
		b, _ := strconv.ParseInt(f[j], 10, 64)
		return a + b
	}
	parent := stat(fmt.Sprintf("/proc/%d/stat", pid))
	if parent == nil {
		return -1
	}
	sum := ticks(parent, 13, 14) // cutime, cstime: children that exited
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		if f := stat(p); f != nil && f[1] == strconv.Itoa(pid) {
			sum += ticks(f, 11, 12) // utime, stime
		}
	}
	return sum
}

// server is a running `smplat serve`.
type server struct {
	cmd  *exec.Cmd
	base string
	done chan error
}

func startServer(ctx context.Context, o options, mode string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(o.workdir, "server-"+mode+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	bin, err := filepath.Abs(o.server)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--no-migrate")
	cmd.Dir = o.workdir // no .env of the repo is read
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"ENVIRONMENT=production",
		"DATABASE_URL=" + o.dsn,
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port),
		"CHECKOUT_API_KEY=" + checkoutKey,
		"ADMIN_API_KEY=" + adminKey,
		"STRIPE_SECRET_KEY=sk_test_bench",
		"STRIPE_WEBHOOK_SECRET=whsec_bench",
	}
	cmd.Env = append(cmd.Env, strings.Fields(modeEnv[mode])...)
	for _, k := range []string{"DATABASE_MAX_CONNS", "GOMAXPROCS", "GOGC", "GOMEMLIMIT"} {
		if v := os.Getenv(k); v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &server{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := s.alive(); err != nil {
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%w; log:\n%s", err, log[max(0, len(log)-2000):])
		}
		resp, err := http.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.stop()
			return nil, fmt.Errorf("server did not answer /healthz within 30s (log: %s)", logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) pid() int { return s.cmd.Process.Pid }

func (s *server) alive() error {
	select {
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("server exited: %v", err)
	default:
		return nil
	}
}

func (s *server) stop() {
	if s.alive() != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// resetPeakRSS resets VmHWM (Linux: "5" into clear_refs) so the next read is
// the peak of one run; without permission the peak is the process's.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// peakRSS reads VmHWM in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb * 1024
		}
	}
	return -1
}

// cpuTicks is the process's user+system time in clock ticks (USER_HZ, 100
// on Linux).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1 << 40
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(fields[11], 10, 64) // utime is field 14, fields[0] is field 3
	k, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + k
}

// statements measures SQL statements per request with pg_stat_statements.
type statements struct {
	db   *sqlx.DB
	dbid int64
}

func openStatements(ctx context.Context, dsn string) *statements {
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil
	}
	db.SetMaxOpenConns(1)
	var dbid int64
	if _, err := db.ExecContext(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err == nil {
		err = db.GetContext(ctx, &dbid, `SELECT oid FROM pg_database WHERE datname = current_database()`)
		if err == nil {
			var n int64
			if err = db.GetContext(ctx, &n, `SELECT count(*) FROM pg_stat_statements`); err == nil {
				return &statements{db: db, dbid: dbid}
			}
		}
	}
	db.Close()
	return nil
}

func (s *statements) calls(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.GetContext(ctx, &n, `SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements
		WHERE dbid = $1 AND query NOT ILIKE '%pg_stat_statements%'`, s.dbid)
	return n, err
}

// perRequest sends n requests one after another and divides the statements
// Postgres executed meanwhile (BEGIN and COMMIT included) by n.
func (s *statements) perRequest(ctx context.Context, base string, wl *workload, n int) (float64, error) {
	if _, err := s.db.ExecContext(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		return 0, err
	}
	before, err := s.calls(ctx)
	if err != nil {
		return 0, err
	}
	for i := range n {
		if _, err := wl.do(ctx, base, wl.bodies[i%len(wl.bodies)]); err != nil {
			return 0, err
		}
	}
	after, err := s.calls(ctx)
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(n), nil
}

// gqlResponse is the envelope of every GraphQL answer.
type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors json.RawMessage `json:"errors"`
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// postGraphQL sends one body and returns the raw answer, failing on a
// non-200 status.
func postGraphQL(ctx context.Context, base string, body []byte, apiKey string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("X-API-Key", apiKey)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return b, fmt.Errorf("HTTP %d: %.300s", resp.StatusCode, b)
	}
	return b, nil
}

// decodeData decodes a GraphQL answer's data into out; any error entry fails.
func decodeData(b []byte, out any) error {
	var r gqlResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if len(r.Errors) > 0 && string(r.Errors) != "null" {
		return fmt.Errorf("GraphQL errors: %.500s", r.Errors)
	}
	if len(r.Data) == 0 || string(r.Data) == "null" {
		return errors.New("no data")
	}
	return json.Unmarshal(r.Data, out)
}

func mustDecimal(s string) (decimal.Decimal, error) { return decimal.NewFromString(s) }
