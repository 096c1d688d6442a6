// Package graph is smplat's GraphQL layer: thin resolvers over the store,
// the @hasRole directive, per-request loaders, the error presenter, and the
// assembly of the whole HTTP surface (server.go, routes.go).
package graph

//go:generate sh -c "cd .. && go tool gqlgen generate"
