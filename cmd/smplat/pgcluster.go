package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgCluster is a throwaway PostgreSQL cluster started from the machine's
// binaries — the Go port of scripts/pg.sh for `smoke --in-process`. It
// listens on a Unix socket in its data directory only (no TCP port), trusts
// local connections, and runs as `postgres` when we are root (Postgres
// refuses to run as root).
type pgCluster struct {
	bindir, dir string
	cred        *syscall.Credential // nil unless running as root
}

// noPostgresHelp is pg.sh's advice when no server binaries are found.
const noPostgresHelp = `no PostgreSQL server binaries were found (pg_ctl, initdb).
Get a database one of two ways:
  1. install PostgreSQL:   apt-get install postgresql   (then run this again)
  2. point DATABASE_URL at a server where the user may create databases
     (e.g. docker compose up postgres -d; DATABASE_URL=postgres://smplat:smplat@localhost:5432/smplat)`

// findPostgresBin returns the directory of pg_ctl and initdb: the newest
// /usr/lib/postgresql/<major>/bin, else the directory of pg_ctl on PATH.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	major := func(d string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "pg_ctl")) && isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		d := filepath.Dir(p)
		if isExecutable(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errors.New(noPostgresHelp)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startPGCluster runs initdb in a new temporary directory and starts the
// server. The caller must Stop it.
func startPGCluster(ctx context.Context) (*pgCluster, error) {
	bindir, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	c := &pgCluster{bindir: bindir}
	dir, err := os.MkdirTemp("", "smplat-smoke-pg-")
	if err != nil {
		return nil, err
	}
	c.dir = dir
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, errors.New("running as root, a throwaway cluster runs as the `postgres` user, and there is none: " +
				"create it, or set DATABASE_URL")
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	fail := func(err error) (*pgCluster, error) {
		c.Stop()
		return nil, err
	}
	if err := c.run(ctx, "initdb", "-D", dir, "-U", "smplat", "--auth-local=trust", "--auth-host=reject",
		"-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		return fail(err)
	}
	conf := fmt.Sprintf(`
listen_addresses = ''
unix_socket_directories = '%s'
max_connections = 50
fsync = off
synchronous_commit = off
full_page_writes = off
`, dir)
	f, err := os.OpenFile(filepath.Join(dir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fail(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	if err := c.run(ctx, "pg_ctl", "-D", dir, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		if log, rerr := os.ReadFile(filepath.Join(dir, "server.log")); rerr == nil && len(log) > 0 {
			err = fmt.Errorf("%w\nserver.log:\n%s", err, tail(log, 1500))
		}
		return fail(err)
	}
	return c, nil
}

// URL is a DSN for a database of the cluster, over its Unix socket.
func (c *pgCluster) URL(db string) string {
	q := url.Values{"host": {c.dir}, "sslmode": {"disable"}}
	return "postgres://smplat@/" + url.PathEscape(db) + "?" + q.Encode()
}

// Stop stops the server (immediately: it holds nothing worth keeping) and
// removes the directory.
func (c *pgCluster) Stop() {
	if c.dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = c.run(ctx, "pg_ctl", "-D", c.dir, "-m", "immediate", "-w", "stop")
		cancel()
	}
	os.RemoveAll(c.dir)
	c.dir = ""
}

// run runs one of the cluster's binaries (as postgres when we are root).
func (c *pgCluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bindir, name), args...)
	cmd.Dir = os.TempDir() // a directory postgres may enter
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(tail(out.Bytes(), 1500)))
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
