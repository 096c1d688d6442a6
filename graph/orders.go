package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// actor names the caller's role for status histories ("checkout", "admin").
// When a role is open (development without keys) it is the role required.
func actor(ctx context.Context, required model.Role) string {
	if r := auth.FromContext(ctx).Role; r != "" {
		return strings.ToLower(string(r))
	}
	return strings.ToLower(string(required))
}

func orderInput(ctx context.Context, in model.CreateOrderInput) store.CreateOrderInput {
	out := store.CreateOrderInput{
		UserID: in.UserID, CustomerEmail: in.CustomerEmail, Notes: in.Notes,
		Source: store.SourceCheckout, Actor: actor(ctx, model.RoleCheckout), Prefix: "input",
		Items: make([]store.OrderItemInput, len(in.Items)),
	}
	for i, it := range in.Items {
		qty := 1
		if it.Quantity != nil {
			qty = *it.Quantity
		}
		var cfg store.Configuration
		if it.Configuration != nil {
			cfg = *it.Configuration
		}
		out.Items[i] = store.OrderItemInput{ProductID: it.ProductID, ProductSlug: it.ProductSlug, Quantity: qty, Configuration: cfg}
	}
	return out
}

// idempotent runs create at most once per (API key, operation, key): a
// retry with the same arguments gets what the first call returned (an id,
// or a JSON document) and the response is marked with
// extensions.idempotentReplayed; different arguments are
// IDEMPOTENCY_CONFLICT; a call still running is IDEMPOTENCY_IN_FLIGHT. A
// failed call stores nothing.
func (r *Resolver) idempotent(ctx context.Context, op string, key *string, args any, create func() (string, error)) (string, error) {
	if key == nil {
		return create()
	}
	if strings.TrimSpace(*key) == "" || len(*key) > 255 {
		return "", store.BadInput("idempotencyKey", "must be 1 to 255 characters")
	}
	body, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append([]byte(op+"\n"), body...))
	scope, k := auth.Scope(ctx), "graphql:"+op+":"+*key
	replay, err := r.Store.BeginIdempotent(ctx, scope, k, hex.EncodeToString(sum[:]))
	if err != nil {
		return "", err
	}
	if replay != nil {
		graphql.RegisterExtension(ctx, "idempotentReplayed", true)
		return string(replay.Body), nil
	}
	id, err := create()
	if err != nil {
		// Release the key with a context that outlives a canceled request.
		_ = r.Store.AbandonIdempotent(context.WithoutCancel(ctx), scope, k)
		return "", err
	}
	if err := r.Store.CompleteIdempotent(context.WithoutCancel(ctx), scope, k, 200, []byte(id)); err != nil {
		return "", err
	}
	return id, nil
}

func decodeAfter(after *string) (*store.Cursor, error) {
	if after == nil || *after == "" {
		return nil, nil
	}
	return store.DecodeCursor("after", *after)
}

func pageSize(first *int) (int, error) {
	if first == nil {
		return 20, nil
	}
	if *first < 0 {
		return 0, store.BadInput("first", "must not be negative")
	}
	return min(*first, store.MaxPageSize), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// startCheckout is createCheckoutSession: the payments service behind an
// idempotency key whose replay is the first session (stored as JSON).
func (r *Resolver) startCheckout(ctx context.Context, orderID, successURL, cancelURL string, customerEmail, key *string) (*payments.CheckoutResult, error) {
	args := map[string]any{"orderId": orderID, "successUrl": successURL, "cancelUrl": cancelURL, "customerEmail": customerEmail}
	stored, err := r.idempotent(ctx, "createCheckoutSession", key, args, func() (string, error) {
		res, err := r.Payments.StartCheckout(ctx, orderID, successURL, cancelURL, customerEmail, deref(key))
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(res)
		return string(b), err
	})
	if err != nil {
		return nil, err
	}
	var res payments.CheckoutResult
	if err := json.Unmarshal([]byte(stored), &res); err != nil {
		return nil, err
	}
	return &res, nil
}
