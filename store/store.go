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
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver
)

// Store is the database handle every reader and writer hangs off.
type Store struct {
	db *sqlx.DB
	// now is the clock; tests may replace it.
	now func() time.Time
}

// New wraps an open database.
func New(db *sqlx.DB) *Store {
	return &Store{db: db, now: time.Now}
}

// Open connects to Postgres with the given DSN and pool size.
func Open(ctx context.Context, dsn string, maxConns int) (*sqlx.DB, error) {
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
