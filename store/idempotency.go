package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"
)

// Idempotency keys with Stripe's semantics (SPEC §5): the first request with
// a (scope, key) runs and its response is stored; a retry with the same
// request body replays that response; a retry with a different body is
// refused; a retry while the first still runs is refused as in flight.
//
// The flow of a handler:
//
//	replay, err := s.BeginIdempotent(ctx, scope, key, hash)
//	if err != nil { return err }              // IDEMPOTENCY_CONFLICT / _IN_FLIGHT
//	if replay != nil { write replay.Status, replay.Body; mark as a replay }
//	… run the request …
//	on success: s.CompleteIdempotent(ctx, scope, key, status, body)
//	on any error: s.AbandonIdempotent(ctx, scope, key)   // nothing stored
//
// The scope keeps keys of different clients apart (e.g. a hash of the API
// key); the request hash identifies the body (e.g. sha256 of method, path
// and body). Both are computed by the caller; the store only compares them.

// IdempotencyTTL is how long a key is kept. An older key is treated as
// absent: the next request with it runs afresh.
const IdempotencyTTL = 24 * time.Hour

// IdempotentResponse is the stored first response of a key.
type IdempotentResponse struct {
	Status      int
	Body        []byte
	CreatedAt   time.Time
	CompletedAt time.Time
}

// BeginIdempotent claims (scope, key) for a request whose body hashes to
// requestHash. It returns (nil, nil) when the caller owns the key and must
// run the request, then CompleteIdempotent or AbandonIdempotent it; or the
// stored response to replay when the same request already completed.
//
// Errors: IDEMPOTENCY_CONFLICT (422) when the key was used with a different
// request; IDEMPOTENCY_IN_FLIGHT (409) when the same request is still
// running. A key older than IdempotencyTTL is deleted and claimed afresh.
func (s *Store) BeginIdempotent(ctx context.Context, scope, key, requestHash string) (*IdempotentResponse, error) {
	ttl := ttlSeconds()
	// A concurrent Abandon can delete the row between the insert and the
	// read; then the key is free again and the next round claims it.
	for range 3 {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys
			WHERE scope = $1 AND key = $2 AND created_at < now() - make_interval(secs => $3)`,
			scope, key, ttl); err != nil {
			return nil, err
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, request_hash)
			VALUES ($1, $2, $3) ON CONFLICT (scope, key) DO NOTHING`, scope, key, requestHash)
		if err != nil {
			return nil, err
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, err
		} else if n == 1 {
			return nil, nil
		}
		var row struct {
			RequestHash    string        `db:"request_hash"`
			ResponseStatus sql.NullInt64 `db:"response_status"`
			ResponseBody   []byte        `db:"response_body"`
			CreatedAt      time.Time     `db:"created_at"`
			CompletedAt    sql.NullTime  `db:"completed_at"`
		}
		err = sqlx.GetContext(ctx, s.db, &row, `SELECT request_hash, response_status, response_body,
			created_at, completed_at FROM idempotency_keys WHERE scope = $1 AND key = $2`, scope, key)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if row.RequestHash != requestHash {
			return nil, &Error{Code: CodeIdempotencyConflict, Field: "idempotencyKey",
				Message: "This idempotency key was already used with a different request"}
		}
		if !row.CompletedAt.Valid {
			return nil, &Error{Code: CodeIdempotencyInFlight, Field: "idempotencyKey",
				Message: "A request with this idempotency key is still being processed; retry later"}
		}
		return &IdempotentResponse{
			Status: int(row.ResponseStatus.Int64), Body: row.ResponseBody,
			CreatedAt: row.CreatedAt, CompletedAt: row.CompletedAt.Time,
		}, nil
	}
	return nil, &Error{Code: CodeIdempotencyInFlight, Field: "idempotencyKey",
		Message: "A request with this idempotency key is still being processed; retry later"}
}

// ttlSeconds is IdempotencyTTL as the seconds Postgres' make_interval takes.
func ttlSeconds() float64 { return IdempotencyTTL.Seconds() }

// CompleteIdempotent stores the response of the request that owns (scope,
// key) so that retries replay it byte for byte. Storing twice keeps the
// first response.
func (s *Store) CompleteIdempotent(ctx context.Context, scope, key string, status int, body []byte) error {
	if body == nil {
		body = []byte{}
	}
	_, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys
		SET response_status = $3, response_body = $4, completed_at = now()
		WHERE scope = $1 AND key = $2 AND completed_at IS NULL`, scope, key, status, body)
	return err
}

// AbandonIdempotent releases an in-flight key whose request failed (bad
// input, or an internal error the client may retry), so a failed request
// stores nothing and the key can be used again. A completed key is kept.
func (s *Store) AbandonIdempotent(ctx context.Context, scope, key string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys
		WHERE scope = $1 AND key = $2 AND completed_at IS NULL`, scope, key)
	return err
}

// PurgeIdempotencyKeys deletes keys created before olderThan (run it
// periodically with now − IdempotencyTTL) and returns how many it deleted.
func (s *Store) PurgeIdempotencyKeys(ctx context.Context, olderThan time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, olderThan)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
