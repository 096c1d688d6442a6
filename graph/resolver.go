package graph

import (
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// Resolver holds what the resolvers need; one is shared by all requests.
type Resolver struct {
	Store    *store.Store
	Payments *payments.Service
}
