package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/store"
)

// orderBody is the old backend's POST /api/v1/orders body. Other keys are
// ignored; the server prices every line (fix: it never trusts the client).
type orderBody struct {
	Items []struct {
		ProductID       *string          `json:"product_id"`
		ProductSlug     *string          `json:"product_slug"`
		Quantity        *int             `json:"quantity"`
		UnitPrice       *decimal.Decimal `json:"unit_price"`
		TotalPrice      *decimal.Decimal `json:"total_price"`
		SelectedOptions store.JSON       `json:"selected_options"`
		Attributes      store.JSON       `json:"attributes"`
	} `json:"items"`
	Notes         *string `json:"notes"`
	UserID        *string `json:"user_id"`
	CustomerEmail *string `json:"customer_email"`
}

// decodeJSON reads a JSON body; syntax and type errors are 422 with the
// field they concern.
func decodeJSON(r *http.Request, w http.ResponseWriter, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxIdempotentBody))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.As(err, &te):
			return store.BadInput(te.Field, "must be a %s", te.Type.String())
		case errors.Is(err, io.EOF):
			return store.BadInput("body", "a JSON body is required")
		default:
			return store.BadInput("body", "invalid JSON: %s", err.Error())
		}
	}
	return nil
}

func roleActor(r *http.Request, fallback string) string {
	if role := auth.FromContext(r.Context()).Role; role != "" {
		return strings.ToLower(string(role))
	}
	return fallback
}

// CreateOrder serves POST /api/v1/orders (checkout role): 201 with the
// order and its items; 422 PRICE_MISMATCH when a line's unit_price or
// total_price differs from the server's; 404 for an unknown product.
func (a *API) CreateOrder() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body orderBody
		if err := decodeJSON(r, w, &body); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		in := store.CreateOrderInput{
			UserID: body.UserID, CustomerEmail: body.CustomerEmail, Notes: body.Notes,
			Source: store.SourceCheckout, Actor: roleActor(r, "checkout"), CartPaths: true,
			Items: make([]store.OrderItemInput, len(body.Items)),
		}
		for i, it := range body.Items {
			cfg, err := store.ConfigurationFromCart(it.SelectedOptions, it.Attributes, fmt.Sprintf("items.%d", i))
			if err != nil {
				WriteError(w, r, a.Logger, err)
				return
			}
			qty := 1
			if it.Quantity != nil {
				qty = *it.Quantity
			}
			in.Items[i] = store.OrderItemInput{
				ProductID: it.ProductID, ProductSlug: it.ProductSlug, Quantity: qty, Configuration: cfg,
				SelectedOptions: it.SelectedOptions, Attributes: it.Attributes,
				UnitPrice: it.UnitPrice, TotalPrice: it.TotalPrice,
			}
		}
		order, items, err := a.Store.CreateOrder(r.Context(), in)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusCreated, store.OrderWithItems{Order: *order, Items: items})
	})
}

// maxListLimit caps REST listings.
const maxListLimit = 100

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo {
		return 0, store.BadInput(name, "must be an integer of at least %d", lo)
	}
	return min(n, hi), nil
}

// pageParams reads the listing's `skip` (default 0) and `limit` (default
// 50, capped at 100).
func pageParams(r *http.Request) (skip, limit int, err error) {
	if skip, err = intParam(r, "skip", 0, 0, 1<<31-1); err != nil {
		return 0, 0, err
	}
	limit, err = intParam(r, "limit", 50, 1, maxListLimit)
	return skip, limit, err
}

// writeOrders answers a listing with each order's items (one query for all).
func (a *API) writeOrders(w http.ResponseWriter, r *http.Request, orders []store.Order) {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	items, err := a.Store.ItemsByOrder(r.Context(), ids)
	if err != nil {
		WriteError(w, r, a.Logger, err)
		return
	}
	out := make([]store.OrderWithItems, len(orders))
	for i, o := range orders {
		out[i] = store.OrderWithItems{Order: o, Items: items[o.ID]}
	}
	WriteJSON(w, http.StatusOK, out)
}

// ListOrders serves GET /api/v1/orders (admin): newest first, `skip`,
// `limit` (default 50, capped at 100), `status_filter` (400 when invalid,
// compat).
func (a *API) ListOrders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		skip, limit, err := pageParams(r)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		var f store.OrderFilter
		if v := r.URL.Query().Get("status_filter"); v != "" {
			st, err := store.ParseOrderStatus("status_filter", v)
			if err != nil {
				e, _ := store.AsError(err)
				WriteJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid status filter: " + e.Message, Code: e.Code, Field: e.Field})
				return
			}
			f.Status = &st
		}
		orders, err := a.Store.ListOrders(r.Context(), f, skip, limit)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		a.writeOrders(w, r, orders)
	})
}

// UserOrders serves GET /api/v1/orders/user/{user_id} (checkout): the
// user's orders, newest first, with `skip` and `limit`.
func (a *API) UserOrders() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		skip, limit, err := pageParams(r)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		user := chi.URLParam(r, "user_id")
		orders, err := a.Store.ListOrders(r.Context(), store.OrderFilter{UserID: &user}, skip, limit)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		a.writeOrders(w, r, orders)
	})
}

// GetOrder serves GET /api/v1/orders/{id} (admin): 404 "Order not found".
func (a *API) GetOrder() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		order, err := a.Store.FindOrder(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		items, err := a.Store.ItemsByOrder(r.Context(), []string{order.ID})
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, store.OrderWithItems{Order: *order, Items: items[order.ID]})
	})
}

// UpdateOrderStatus serves PATCH /api/v1/orders/{id}/status (admin), body
// {status, notes?}; the change is recorded with the admin role.
func (a *API) UpdateOrderStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Status *string `json:"status"`
			Notes  *string `json:"notes"`
		}
		if err := decodeJSON(r, w, &body); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		if body.Status == nil {
			WriteError(w, r, a.Logger, store.BadInput("status", "is required"))
			return
		}
		status, err := store.ParseOrderStatus("status", *body.Status)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		note := ""
		if body.Notes != nil {
			note = *body.Notes
		}
		order, err := a.Store.UpdateOrderStatus(r.Context(), chi.URLParam(r, "id"), status, roleActor(r, "admin"), note)
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		items, err := a.Store.ItemsByOrder(r.Context(), []string{order.ID})
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, store.OrderWithItems{Order: *order, Items: items[order.ID]})
	})
}

// OrderProgress serves GET /api/v1/orders/{id}/progress (checkout).
func (a *API) OrderProgress() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Store.OrderProgress(r.Context(), chi.URLParam(r, "id"))
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, p)
	})
}
