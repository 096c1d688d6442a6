package graph

import (
	"log/slog"

	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// Resolver holds what the resolvers need; one is shared by all requests.
type Resolver struct {
	Store    *store.Store
	Logger   *slog.Logger
	Payments *payments.Service
}
