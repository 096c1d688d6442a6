// Package storetest gives each test its own Postgres database, cloned by
// pgtestdb from a template migrated with the same embedded migrations that
// production runs. Set TEST_DATABASE_URL to a server where the user may
// create databases and roles (`make test` starts a throwaway one).
package storetest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"net/url"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/peterldowns/pgtestdb"
	"github.com/peterldowns/pgtestdb/migrators/sqlmigrator"

	"github.com/smplat/smplat/migrations"
	"github.com/smplat/smplat/store"
)

func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run `make test`, or point it at a Postgres server where the user may create databases")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	pw, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	db := u.Path
	if len(db) > 0 && db[0] == '/' {
		db = db[1:]
	}
	if db == "" {
		db = "postgres"
	}
	opts := u.RawQuery
	if opts == "" {
		opts = "sslmode=disable"
	}
	return pgtestdb.Config{
		DriverName: "postgres",
		Host:       u.Hostname(),
		Port:       port,
		User:       u.User.Username(),
		Password:   pw,
		Database:   db,
		Options:    opts,
	}
}

var migrator = sqlmigrator.New(migrations.Source(), nil)

// URL creates a fresh migrated database for the test and returns its DSN.
// It is dropped when the test passes.
func URL(t testing.TB) string {
	t.Helper()
	return pgtestdb.Custom(t, config(t), migrator).URL()
}

// New returns a connection pool to a fresh migrated database.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	db, err := sqlx.Open("postgres", URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// NewStore returns a store over a fresh migrated database.
func NewStore(t testing.TB) *store.Store {
	t.Helper()
	return store.New(New(t))
}

// Counter counts the SQL statements sent through a counting pool.
type Counter struct{ n atomic.Int64 }

// Load returns the statements counted so far.
func (c *Counter) Load() int64 { return c.n.Load() }

// Reset sets the count to zero.
func (c *Counter) Reset() { c.n.Store(0) }

// NewCounting returns a pool over a fresh migrated database that counts
// every statement (query or exec) it sends, for tests that pin how many
// statements an operation costs.
func NewCounting(t testing.TB) (*sqlx.DB, *Counter) {
	t.Helper()
	dsn := URL(t)
	c := &Counter{}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := sqlx.NewDb(sql.OpenDB(countingConnector{inner: connector, c: c}), "postgres")
	t.Cleanup(func() { db.Close() })
	return db, c
}

type countingConnector struct {
	inner driver.Connector
	c     *Counter
}

func (cc countingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := cc.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: cc.c}, nil
}

func (cc countingConnector) Driver() driver.Driver { return cc.inner.Driver() }

// countingConn forwards to lib/pq's connection, counting statements.
type countingConn struct {
	driver.Conn
	c *Counter
}

func (cc *countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	cc.c.n.Add(1)
	return cc.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (cc *countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	cc.c.n.Add(1)
	return cc.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (cc *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return cc.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

// PrepareContext counts each execution of a prepared statement, not its
// preparation.
func (cc *countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := cc.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, c: cc.c}, nil
}

type countingStmt struct {
	driver.Stmt
	c *Counter
}

func (cs *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	cs.c.n.Add(1)
	return cs.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

func (cs *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	cs.c.n.Add(1)
	return cs.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (cc *countingConn) ResetSession(ctx context.Context) error {
	return cc.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (cc *countingConn) IsValid() bool { return cc.Conn.(driver.Validator).IsValid() }
