// Package store owns smplat's domain: its types, every line of SQL, and the
// pure pricing functions. It imports none of smplat's other packages.
//
// An exported method is one transaction; lowercase helpers take an
// sqlx.ExtContext so exported methods can compose them.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver
)

// Store is the database handle every reader and writer hangs off.
type Store struct {
	db *sqlx.DB
	// now is the clock; tests may replace it.
	now func() time.Time
	// stmts holds the prepared statements of the hot catalog reads, by SQL
	// text (see prepared).
	stmts sync.Map
}

// New wraps an open database.
func New(db *sqlx.DB) *Store {
	return &Store{db: db, now: time.Now}
}

// Open connects to Postgres with the given DSN and pool size.
//
// Sessions use generic plans for prepared statements (plan_cache_mode =
// force_generic_plan, unless the DSN sets it): the hot catalog reads take
// arrays of ids, for which Postgres would otherwise re-plan every execution
// (measured: 0.21 ms planning + 0.15 ms executing the configuration read,
// against 0.01 ms + 0.06 ms with the generic plan).
func Open(ctx context.Context, dsn string, maxConns int) (*sqlx.DB, error) {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		if q.Get("plan_cache_mode") == "" {
			q.Set("plan_cache_mode", "force_generic_plan") // lib/pq sends it as a session setting
			u.RawQuery = q.Encode()
			dsn = u.String()
		}
	}
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if maxConns <= 0 {
		maxConns = 20
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to database: %w", RedactError(err))
	}
	return db, nil
}

// prepared is a sqlx.QueryerContext whose queries run through statements
// prepared once per pool (database/sql re-prepares each lazily on every
// connection), so Postgres parses and plans the hot catalog reads once
// instead of on every request. Use it for fixed SQL texts only: each
// distinct text keeps a statement.
type prepared struct{ s *Store }

func (p prepared) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.s.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p prepared) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	st, err := p.s.prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryxContext(ctx, args...)
}

func (p prepared) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	st, err := p.s.prepare(ctx, query)
	if err != nil { // sqlx.Row cannot carry the error: run it unprepared
		return p.s.db.QueryRowxContext(ctx, query, args...)
	}
	return st.QueryRowxContext(ctx, args...)
}

func (s *Store) prepare(ctx context.Context, query string) (*sqlx.Stmt, error) {
	if st, ok := s.stmts.Load(query); ok {
		return st.(*sqlx.Stmt), nil
	}
	st, err := s.db.PreparexContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sqlx.Stmt), nil
	}
	return st, nil
}

// DB returns the underlying handle.
func (s *Store) DB() *sqlx.DB { return s.db }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// InTx runs fn in one transaction: committed when fn returns nil, rolled back
// otherwise. Packages that compose writes (payments, fulfillment) use it with
// the …Tx methods.
func (s *Store) InTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapError(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// notFound turns sql.ErrNoRows into a NOT_FOUND store.Error.
func notFound(err error, msg string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return &Error{Code: CodeNotFound, Message: msg}
	}
	return err
}
