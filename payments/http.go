package payments

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/smplat/smplat/store"
)

// MaxWebhookBody caps a webhook body; Stripe events are far smaller.
const MaxWebhookBody = 1 << 20

// maxCheckoutBody caps a checkout request body.
const maxCheckoutBody = 64 << 10

// errorBody is the REST error shape shared with graph/rest.
type errorBody struct {
	Detail string     `json:"detail"`
	Code   store.Code `json:"code"`
	Field  string     `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers a store.Error with its code's status, message and
// field (renamed through fields when given); anything else is logged and
// answered 500 INTERNAL with no detail.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error, fields map[string]string) {
	if e, ok := store.AsError(err); ok {
		field := e.Field
		if f, ok := fields[field]; ok {
			field = f
		}
		writeJSON(w, e.Code.Status(), errorBody{Detail: e.Message, Code: e.Code, Field: field})
		return
	}
	log.ErrorContext(r.Context(), "payments request failed", "request_id", middleware.GetReqID(r.Context()),
		"path", r.URL.Path, "err", store.RedactError(err))
	writeJSON(w, http.StatusInternalServerError, errorBody{Detail: "Internal server error", Code: store.CodeInternal})
}

// WebhookHandler serves POST /api/v1/payments/webhooks/stripe. It is public:
// the Stripe-Signature over the raw body (read whole, at most 1 MiB) is its
// authentication. 200 {"success":true,"message":…} once the effects are
// committed; 400 BAD_USER_INPUT for a bad signature or payload; 413 for an
// oversized body; 500 INTERNAL on failure so Stripe retries.
func WebhookHandler(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Detail: "Payload too large", Code: store.CodeBadUserInput})
				return
			}
			writeJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid payload", Code: store.CodeBadUserInput})
			return
		}
		msg, err := svc.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
		switch {
		case errors.Is(err, ErrBadSignature):
			svc.log.WarnContext(r.Context(), "stripe webhook rejected: invalid signature",
				"request_id", middleware.GetReqID(r.Context()))
			writeJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid signature", Code: store.CodeBadUserInput})
		case errors.Is(err, ErrBadPayload):
			writeJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid payload", Code: store.CodeBadUserInput})
		case err != nil:
			// HandleWebhook logged the cause.
			writeJSON(w, http.StatusInternalServerError, errorBody{Detail: "Internal server error", Code: store.CodeInternal})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": msg})
		}
	})
}

// checkoutFields renames service field names to the REST body's keys.
var checkoutFields = map[string]string{
	"orderId": "order_id", "successUrl": "success_url", "cancelUrl": "cancel_url", "customerEmail": "customer_email",
}

// CheckoutHandler serves POST /api/v1/payments/checkout (checkout role):
// body {order_id, success_url, cancel_url, customer_email?}; the
// Idempotency-Key header feeds the key sent to Stripe. 200 with
// {checkout_session_id, checkout_url, payment_id, amount, currency}; 422
// with the field for bad input; 404, 409, 502, 503 per the catalog.
func CheckoutHandler(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			OrderID       string  `json:"order_id"`
			SuccessURL    string  `json:"success_url"`
			CancelURL     string  `json:"cancel_url"`
			CustomerEmail *string `json:"customer_email"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckoutBody))
		if err := dec.Decode(&body); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Detail: "Request body too large", Code: store.CodeBadUserInput})
				return
			}
			writeError(w, r, svc.log, store.BadInput("body", "must be a JSON object"), nil)
			return
		}
		for _, f := range []struct{ name, v string }{
			{"order_id", body.OrderID}, {"success_url", body.SuccessURL}, {"cancel_url", body.CancelURL},
		} {
			if strings.TrimSpace(f.v) == "" {
				writeError(w, r, svc.log, store.BadInput(f.name, "field required"), nil)
				return
			}
		}
		res, err := svc.StartCheckout(r.Context(), strings.TrimSpace(body.OrderID), body.SuccessURL, body.CancelURL,
			body.CustomerEmail, r.Header.Get("Idempotency-Key"))
		if err != nil {
			writeError(w, r, svc.log, err, checkoutFields)
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// StatusHandler serves GET /api/v1/payments/status/{payment_id} (checkout
// role): the payment's fields in snake_case; 404 "Payment not found".
func StatusHandler(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := svc.store.FindPayment(r.Context(), chi.URLParam(r, "payment_id"))
		if err != nil {
			writeError(w, r, svc.log, err, nil)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

// ObservabilityHandler serves GET /api/v1/payments/observability (checkout
// role): this process's checkout and webhook counters (every total present,
// 0 when none) and the last handled webhook events.
func ObservabilityHandler(svc *Service) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, svc.Observability(r.Context()))
	})
}
