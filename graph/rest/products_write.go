package rest

import (
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
)

// productBody is the old admin form's product body (camelCase).
type productBody struct {
	Slug        *string          `json:"slug"`
	Title       *string          `json:"title"`
	Description *string          `json:"description"`
	Category    *string          `json:"category"`
	BasePrice   *decimal.Decimal `json:"basePrice"`
	Currency    *string          `json:"currency"`
	Status      *string          `json:"status"`
}

// enums parses currency and status in either letter case (the old admin
// form sends "ACTIVE").
func (b productBody) enums() (*store.Currency, *store.ProductStatus, error) {
	var cur *store.Currency
	var st *store.ProductStatus
	if b.Currency != nil {
		c, err := store.ParseCurrency("currency", *b.Currency)
		if err != nil {
			return nil, nil, err
		}
		cur = &c
	}
	if b.Status != nil {
		s, err := store.ParseProductStatus("status", *b.Status)
		if err != nil {
			return nil, nil, err
		}
		st = &s
	}
	return cur, st, nil
}

// writeProductError keeps the old backend's status for a taken slug
// (400 "Product with this slug already exists"); other codes map as usual.
func (a *API) writeProductError(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := store.AsError(err); ok && e.Code == store.CodeConflict && e.Field == "slug" {
		WriteJSON(w, http.StatusBadRequest, errorBody{Detail: e.Message, Code: e.Code, Field: e.Field})
		return
	}
	WriteError(w, r, a.Logger, err)
}

func required[T any](field string, v *T) (T, error) {
	if v == nil {
		var zero T
		return zero, store.BadInput(field, "field required")
	}
	return *v, nil
}

// CreateProduct serves POST /api/v1/products (admin): 201 with the
// product; 400 for a taken slug (compat); 422 with the field otherwise.
func (a *API) CreateProduct() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b productBody
		if err := decodeJSON(r, w, &b); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		in := store.ProductInput{Description: b.Description}
		var err error
		if in.Slug, err = required("slug", b.Slug); err == nil {
			if in.Title, err = required("title", b.Title); err == nil {
				if in.Category, err = required("category", b.Category); err == nil {
					in.BasePrice, err = required("basePrice", b.BasePrice)
				}
			}
		}
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		cur, st, err := b.enums()
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		if cur != nil {
			in.Currency = *cur
		}
		if st != nil {
			in.Status = *st
		}
		p, err := a.Store.CreateProduct(r.Context(), in)
		if err != nil {
			a.writeProductError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusCreated, productOut(*p))
	})
}

// UpdateProduct serves PATCH /api/v1/products/{id} (admin): absent fields
// stay as they are; "description": null clears it; 404 for an unknown id.
func (a *API) UpdateProduct() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var raw map[string]json.RawMessage
		if err := decodeJSON(r, w, &raw); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		var b productBody
		enc, _ := json.Marshal(raw)
		if err := json.Unmarshal(enc, &b); err != nil {
			WriteError(w, r, a.Logger, store.BadInput("body", "invalid field types: %s", err.Error()))
			return
		}
		cur, st, err := b.enums()
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		u := store.ProductUpdate{Slug: b.Slug, Title: b.Title, Category: b.Category, BasePrice: b.BasePrice, Currency: cur, Status: st}
		if _, ok := raw["description"]; ok {
			u.Description = store.Nullable[string]{Set: true, Value: b.Description}
		}
		p, err := a.Store.UpdateProduct(r.Context(), chi.URLParam(r, "id"), u)
		if err != nil {
			a.writeProductError(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, productOut(*p))
	})
}

// DeleteProduct serves DELETE /api/v1/products/{id} (admin): 204; 404 for
// an unknown id. Past orders keep their items' title snapshots.
func (a *API) DeleteProduct() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.Store.DeleteProduct(r.Context(), chi.URLParam(r, "id")); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}
