package payments

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// SetEnqueue replaces the task enqueuer, so tests can make the paying
// transaction fail.
func SetEnqueue(s *Service, f func(ctx context.Context, tx sqlx.ExtContext, orderID string, now time.Time) (int, error)) {
	s.enqueue = f
}
