package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// result is one measured run.
type result struct {
	requests  int64
	rps       float64
	p50, p99  time.Duration
	non2xx    int64
	socket    int64
	gqlErrors int64 // -1: the driver cannot tell
}

func (r result) errors() int64 { return r.non2xx + r.socket + max(r.gqlErrors, 0) }

// driver is a load generator.
type driver interface {
	name() string
	run(ctx context.Context, base, bodies string, wl *workload, conns int, d time.Duration) (result, error)
}

func pickDriver(name, workdir string) (driver, error) {
	if name == "auto" || name == "wrk" {
		if path, err := exec.LookPath("wrk"); err == nil {
			script := filepath.Join(workdir, "bench.lua")
			if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
				return nil, err
			}
			return wrk{path: path, script: script}, nil
		}
		if name == "wrk" {
			return nil, errors.New("wrk is not installed (apt-get install wrk)")
		}
	}
	if path, err := exec.LookPath("vegeta"); err == nil {
		return vegeta{path: path, workdir: workdir}, nil
	}
	return nil, errors.New("no load generator: install wrk (apt-get install wrk) or vegeta (go install github.com/tsenart/vegeta/v12@latest)")
}

// wrkScript cycles through the bodies of a file (one per line), counts 200
// answers that carry GraphQL errors or are implausibly short, and prints
// one machine-readable line at the end.
const wrkScript = `
local threads = {}
function setup(thread) table.insert(threads, thread) end

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  if args[3] and args[3] ~= "" then headers["X-API-Key"] = args[3] end
  reqs = {}
  for line in io.lines(args[1]) do
    if #line > 0 then reqs[#reqs + 1] = wrk.format("POST", "/graphql", headers, line) end
  end
  minlen = tonumber(args[2]) or 0
  idx = 0
  gqlerr = 0
end

function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status == 200 and (#body < minlen or body:sub(1, 10) == '{"errors":') then
    gqlerr = gqlerr + 1
  end
end

function done(summary, latency, requests)
  local g = 0
  for _, t in ipairs(threads) do g = g + (t:get("gqlerr") or 0) end
  local e = summary.errors
  io.write(string.format(
    "BENCHJSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"status\":%d,\"socket\":%d,\"gql\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, g))
end
`

type wrk struct{ path, script string }

func (w wrk) name() string { return "wrk" }

func (w wrk) run(ctx context.Context, base, bodies string, wl *workload, conns int, d time.Duration) (result, error) {
	threads := min(conns, 2)
	cmd := exec.CommandContext(ctx, w.path, "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", max(1, int(d.Round(time.Second).Seconds()))), "--timeout", "10s", "-s", w.script,
		base+"/graphql", "--", bodies, strconv.Itoa(wl.minLen), wl.apiKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	i := bytes.Index(out, []byte("BENCHJSON "))
	if i < 0 {
		return result{}, fmt.Errorf("wrk printed no result: %s", out)
	}
	line := out[i+len("BENCHJSON "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	var r struct {
		Requests   int64 `json:"requests"`
		DurationUS int64 `json:"duration_us"`
		P50US      int64 `json:"p50_us"`
		P99US      int64 `json:"p99_us"`
		Status     int64 `json:"status"`
		Socket     int64 `json:"socket"`
		Gql        int64 `json:"gql"`
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return result{}, fmt.Errorf("wrk result %q: %v", line, err)
	}
	res := result{
		requests: r.Requests, p50: time.Duration(r.P50US) * time.Microsecond, p99: time.Duration(r.P99US) * time.Microsecond,
		non2xx: r.Status, socket: r.Socket, gqlErrors: r.Gql,
	}
	if r.DurationUS > 0 {
		res.rps = float64(r.Requests) / (float64(r.DurationUS) / 1e6)
	}
	return res, nil
}

// vegeta is the fallback: it cannot see bodies, so GraphQL errors are not
// counted (non-2xx and transport errors are).
type vegeta struct{ path, workdir string }

func (v vegeta) name() string { return "vegeta" }

func (v vegeta) run(ctx context.Context, base, bodies string, wl *workload, conns int, d time.Duration) (result, error) {
	targets := filepath.Join(v.workdir, wl.name+".targets")
	if _, err := os.Stat(targets); err != nil {
		var buf bytes.Buffer
		header := map[string][]string{"Content-Type": {"application/json"}}
		if wl.apiKey != "" {
			header["X-API-Key"] = []string{wl.apiKey}
		}
		for _, b := range wl.bodies {
			t, _ := json.Marshal(map[string]any{"method": "POST", "url": base + "/graphql",
				"body": base64.StdEncoding.EncodeToString(b), "header": header})
			buf.Write(t)
			buf.WriteByte('\n')
		}
		if err := os.WriteFile(targets, buf.Bytes(), 0o644); err != nil {
			return result{}, err
		}
		defer os.Remove(targets) // the URL changes with the server
	}
	c := strconv.Itoa(conns)
	cmd := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf(
		`"$0" attack -format=json -targets="$1" -rate=0 -workers=%s -max-workers=%s -connections=%s -duration=%s -timeout=10s | "$0" report -type=json`,
		c, c, c, d), v.path, targets)
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("vegeta: %v: %s", err, out)
	}
	var r struct {
		Latencies   map[string]int64 `json:"latencies"`
		Requests    int64            `json:"requests"`
		Throughput  float64          `json:"throughput"`
		Rate        float64          `json:"rate"`
		StatusCodes map[string]int64 `json:"status_codes"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return result{}, fmt.Errorf("vegeta report: %v: %s", err, out)
	}
	res := result{requests: r.Requests, rps: r.Rate, p50: time.Duration(r.Latencies["50th"]),
		p99: time.Duration(r.Latencies["99th"]), gqlErrors: -1}
	for code, n := range r.StatusCodes {
		switch {
		case code == "0":
			res.socket += n
		case !strings.HasPrefix(code, "2"):
			res.non2xx += n
		}
	}
	return res, nil
}
