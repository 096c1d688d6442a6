package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the table.
type row struct {
	mode, workload string
	conns          int
	res            result
	rss            int64
	sql            string
	cpuPerReq      time.Duration
	dbCPUPerReq    time.Duration
}

func (r row) cells() []string {
	errs := fmt.Sprint(r.res.errors())
	if r.res.errors() > 0 {
		gql := "n/a"
		if r.res.gqlErrors >= 0 {
			gql = fmt.Sprint(r.res.gqlErrors)
		}
		errs += fmt.Sprintf(" (http %d, socket %d, gql %s)", r.res.non2xx, r.res.socket, gql)
	} else if r.res.gqlErrors < 0 {
		errs += " (gql n/a)"
	}
	rss := "n/a"
	if r.rss >= 0 {
		rss = fmt.Sprintf("%.1f MiB", float64(r.rss)/(1<<20))
	}
	cpu := "n/a"
	if r.cpuPerReq > 0 {
		cpu = fmtDur(r.cpuPerReq)
	}
	dbCPU := "n/a"
	if r.dbCPUPerReq > 0 {
		dbCPU = fmtDur(r.dbCPUPerReq)
	}
	return []string{r.mode, r.workload, fmt.Sprint(r.conns), fmt.Sprintf("%.0f", r.res.rps),
		fmtDur(r.res.p50), fmtDur(r.res.p99), errs, rss, r.sql, cpu, dbCPU}
}

func (r row) line() string { return "  " + strings.Join(r.cells(), "  ") }

var header = []string{"mode", "workload", "conns", "req/s", "p50", "p99", "errors", "peak RSS", "SQL/req", "server CPU/req", "Postgres CPU/req"}

// printTable prints every row in one aligned table.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells(), "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "peak RSS: VmHWM of the server (one process per workload) during warm-up and run; SQL/req: statements Postgres")
	fmt.Fprintln(w, "executed per request (BEGIN/COMMIT included) over sequential requests (pg_stat_statements); CPU/req: user+system")
	fmt.Fprintln(w, "time of the server (Postgres backends) during the run / requests. The load generator runs on the same cores.")
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
}
