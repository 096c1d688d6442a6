// Package auth resolves the caller's role from its API key and decides
// whether a role may use a field or route. Keys are compared as SHA-256
// digests in constant time; they never appear in logs, errors or responses.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/store"
)

// Keys holds the digests of the accepted keys of each role. A role with no
// key configured is open (development only; cmd/smplat refuses to start in
// production without both keys).
type Keys struct {
	checkout [][sha256.Size]byte
	admin    [][sha256.Size]byte
}

// NewKeys takes the raw key lists (each may hold several keys during
// rotation) and keeps only their digests.
func NewKeys(checkout, admin []string) *Keys {
	return &Keys{checkout: digests(checkout), admin: digests(admin)}
}

func digests(keys []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, sha256.Sum256([]byte(k)))
		}
	}
	return out
}

// Open reports whether the role is open because no key is configured.
func (k *Keys) Open(r model.Role) bool {
	if r == model.RoleAdmin {
		return len(k.admin) == 0
	}
	return len(k.checkout) == 0
}

// match compares the digest with every key of the list, without stopping
// early, so timing does not tell which key (or whether any) matched.
func match(d [sha256.Size]byte, list [][sha256.Size]byte) bool {
	ok := 0
	for _, k := range list {
		ok |= subtle.ConstantTimeCompare(d[:], k[:])
	}
	return ok == 1
}

// Principal is who is calling: the role its key grants ("" for none), and
// a scope that identifies the key without revealing it (for idempotency).
type Principal struct {
	Role         model.Role
	KeyPresented bool
	Scope        string
}

type principalKey struct{}

// FromContext returns the caller of the request.
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// WithPrincipal attaches a caller to a context (used by the middleware and
// by in-process callers such as the smoke runner).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Resolve maps a presented key to its principal.
func (k *Keys) Resolve(key string) Principal {
	if key == "" {
		return Principal{}
	}
	d := sha256.Sum256([]byte(key))
	p := Principal{KeyPresented: true, Scope: hex.EncodeToString(d[:8])}
	switch {
	case match(d, k.admin):
		p.Role = model.RoleAdmin
	case match(d, k.checkout):
		p.Role = model.RoleCheckout
	}
	return p
}

// KeyFromRequest reads X-API-Key, else an Authorization: Bearer token.
func KeyFromRequest(r *http.Request) string {
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// Middleware attaches the caller's principal to every request. It refuses
// nothing itself: public routes stay public; protected fields and routes
// call Require.
func (k *Keys) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := k.Resolve(KeyFromRequest(r))
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require returns nil when the caller may act with the role: UNAUTHENTICATED
// for a missing or unknown key, FORBIDDEN for a key of a lesser role. An
// open role (no key configured) admits everyone.
func (k *Keys) Require(ctx context.Context, want model.Role) error {
	p := FromContext(ctx)
	if p.Role != "" && p.Role.Allows(want) {
		return nil
	}
	if k.Open(want) {
		return nil
	}
	if p.Role == "" {
		return &store.Error{Code: store.CodeUnauthenticated, Message: "Missing or invalid API key"}
	}
	return &store.Error{Code: store.CodeForbidden, Message: "This API key may not perform this action"}
}

// Scope identifies the caller for idempotency keys: the key's digest prefix,
// or the role name when the role is open.
func Scope(ctx context.Context) string {
	p := FromContext(ctx)
	if p.Scope != "" {
		return p.Scope
	}
	return "open"
}
