// Package rest keeps the old backend's /api/v1 contract: the same paths,
// JSON keys and status codes, over the same store calls as the GraphQL
// resolvers and the same error catalog.
package rest

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5/middleware"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// API holds what the REST handlers need.
type API struct {
	Store    *store.Store
	Payments *payments.Service
	Logger   *slog.Logger
}

// errorBody is the old backend's error shape plus the catalog code and, for
// bad input, the field path.
type errorBody struct {
	Detail string         `json:"detail"`
	Code   store.Code     `json:"code"`
	Field  string         `json:"field,omitempty"`
	Extra  map[string]any `json:"extra,omitempty"`
}

// WriteJSON writes v with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes err in the catalog's shape. A store.Error keeps its
// code, message and field; anything else is logged with the request id and
// answered 500 INTERNAL with no detail.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	if e, ok := store.AsError(err); ok {
		WriteJSON(w, e.Code.Status(), errorBody{Detail: e.Message, Code: e.Code, Field: e.Field, Extra: e.Extra})
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		WriteJSON(w, http.StatusRequestEntityTooLarge, errorBody{Detail: "Request body too large", Code: store.CodeBadUserInput})
		return
	}
	reqID := middleware.GetReqID(r.Context())
	logger.ErrorContext(r.Context(), "request failed", "request_id", reqID, "path", r.URL.Path,
		"error", store.RedactError(err))
	WriteJSON(w, http.StatusInternalServerError, errorBody{Detail: "Internal server error", Code: store.CodeInternal})
}

// Money is a decimal written as a JSON number with two decimals (compat:
// REST money is a number, e.g. 99.00): the store's one money encoding.
type Money = store.JSONMoney

// Number is a decimal written as a JSON number with its own precision.
type Number decimal.Decimal

// MarshalJSON writes the exact decimal as a number token.
func (n Number) MarshalJSON() ([]byte, error) { return []byte(decimal.Decimal(n).String()), nil }

func optNumber(d *decimal.Decimal) *Number {
	if d == nil {
		return nil
	}
	n := Number(*d)
	return &n
}
