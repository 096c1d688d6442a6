package rest

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// MaxWebhookBody caps a webhook body; Stripe events are far smaller.
const MaxWebhookBody = 1 << 20

// maxCheckoutBody caps a checkout request body.
const maxCheckoutBody = 64 << 10

// StripeWebhook serves POST /api/v1/payments/webhooks/stripe. It is public:
// the Stripe-Signature over the raw body (read whole, at most 1 MiB) is its
// authentication, checked before anything is parsed or stored. 200
// {"success":true,"message":…} once the effects are committed; 400 for a
// bad signature or payload; 413 for an oversized body; 500 INTERNAL on
// failure so Stripe retries.
func (a *API) StripeWebhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				WriteJSON(w, http.StatusRequestEntityTooLarge, errorBody{Detail: "Payload too large", Code: store.CodeBadUserInput})
				return
			}
			WriteJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid payload", Code: store.CodeBadUserInput})
			return
		}
		msg, err := a.Payments.HandleWebhook(r.Context(), body, r.Header.Get("Stripe-Signature"))
		switch {
		case errors.Is(err, payments.ErrBadSignature):
			a.Logger.WarnContext(r.Context(), "stripe webhook rejected: invalid signature",
				"request_id", middleware.GetReqID(r.Context()))
			WriteJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid signature", Code: store.CodeBadUserInput})
		case errors.Is(err, payments.ErrBadPayload):
			WriteJSON(w, http.StatusBadRequest, errorBody{Detail: "Invalid payload", Code: store.CodeBadUserInput})
		case err != nil:
			// HandleWebhook logged the cause.
			WriteJSON(w, http.StatusInternalServerError, errorBody{Detail: "Internal server error", Code: store.CodeInternal})
		default:
			WriteJSON(w, http.StatusOK, map[string]any{"success": true, "message": msg})
		}
	})
}

// checkoutFields renames the service's field names to the REST body's keys.
var checkoutFields = map[string]string{
	"orderId": "order_id", "successUrl": "success_url", "cancelUrl": "cancel_url", "customerEmail": "customer_email",
}

// StartCheckout serves POST /api/v1/payments/checkout (checkout role): body
// {order_id, success_url, cancel_url, customer_email?}; the Idempotency-Key
// header also feeds the key sent to Stripe. 200 with {checkout_session_id,
// checkout_url, payment_id, amount, currency}; 422 with the field for bad
// input; 404, 409, 502, 503 per the catalog.
func (a *API) StartCheckout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			OrderID       string  `json:"order_id"`
			SuccessURL    string  `json:"success_url"`
			CancelURL     string  `json:"cancel_url"`
			CustomerEmail *string `json:"customer_email"`
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxCheckoutBody)
		if err := decodeJSON(r, w, &body); err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		for _, f := range []struct{ name, v string }{
			{"order_id", body.OrderID}, {"success_url", body.SuccessURL}, {"cancel_url", body.CancelURL},
		} {
			if strings.TrimSpace(f.v) == "" {
				WriteError(w, r, a.Logger, store.BadInput(f.name, "field required"))
				return
			}
		}
		res, err := a.Payments.StartCheckout(r.Context(), strings.TrimSpace(body.OrderID), body.SuccessURL, body.CancelURL,
			body.CustomerEmail, r.Header.Get("Idempotency-Key"))
		if err != nil {
			if e, ok := store.AsError(err); ok && checkoutFields[e.Field] != "" {
				e.Field = checkoutFields[e.Field]
			}
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, res)
	})
}

// PaymentStatus serves GET /api/v1/payments/status/{payment_id} (checkout
// role): the payment's fields in snake_case; 404 "Payment not found".
func (a *API) PaymentStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := a.Store.FindPayment(r.Context(), chi.URLParam(r, "payment_id"))
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, p)
	})
}

// PaymentsObservability serves GET /api/v1/payments/observability
// (checkout role): this process's checkout and webhook counters (every total
// present, 0 when none) and the last handled webhook events.
func (a *API) PaymentsObservability() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, a.Payments.Observability(r.Context()))
	})
}
