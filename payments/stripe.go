// Package payments is smplat's room for Stripe: Checkout Sessions created
// with stripe-go, the signed webhook verified and dispatched, and the REST
// handlers the router mounts under /api/v1/payments.
//
// Money crosses the Stripe boundary as integer cents; inside smplat it stays
// a decimal. No secret (API key, webhook secret) and no raw provider text
// ever reaches a log line, an error or a response.
package payments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/smplat/smplat/store"
)

// DefaultTolerance is how far a webhook's signed timestamp may be from now,
// in either direction.
const DefaultTolerance = 300 * time.Second

// Config is what the Stripe client needs; cmd/smplat fills it from
// STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET (comma list) and STRIPE_API_BASE.
type Config struct {
	// SecretKey is the Stripe API key. Empty: checkout answers UNAVAILABLE.
	SecretKey string
	// WebhookSecrets are the endpoint signing secrets; any one matching
	// passes (rotation). Empty: every webhook is refused.
	WebhookSecrets []string
	// APIBase is the Stripe API base URL; empty means Stripe's own. Tests and
	// local runs point it at stripe-mock.
	APIBase string
	// Tolerance bounds the signed timestamp's distance from now (300 s when
	// zero).
	Tolerance time.Duration
	// HTTPClient is used for API calls; a client with a 30 s timeout when nil.
	HTTPClient *http.Client
	// Logger receives provider error types and codes (never messages or
	// keys); slog.Default() when nil.
	Logger *slog.Logger
}

// Client talks to Stripe and checks webhook signatures.
type Client struct {
	sc        *stripe.Client
	hasKey    bool
	secrets   [][]byte
	tolerance time.Duration
	log       *slog.Logger
}

// NewClient builds a stripe-go client whose API backend is cfg.APIBase.
// stripe-go's own logger is silenced: it would log provider messages.
func NewClient(cfg Config) *Client {
	c := &Client{hasKey: cfg.SecretKey != "", tolerance: cfg.Tolerance, log: cfg.Logger}
	if c.tolerance <= 0 {
		c.tolerance = DefaultTolerance
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	for _, s := range cfg.WebhookSecrets {
		if s = strings.TrimSpace(s); s != "" {
			c.secrets = append(c.secrets, []byte(s))
		}
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        httpClient,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: stripe.Int64(2), // safe: every create carries an idempotency key
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(strings.TrimRight(cfg.APIBase, "/"))
	}
	backends := &stripe.Backends{
		API:         stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect:     stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads:     stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
		MeterEvents: stripe.GetBackendWithConfig(stripe.MeterEventsBackend, bc),
	}
	c.sc = stripe.NewClient(cfg.SecretKey, stripe.WithBackends(backends))
	return c
}

// LineItem is one Checkout line: a name, a unit price in cents and a
// quantity.
type LineItem struct {
	Name       string
	UnitAmount int64
	Quantity   int64
}

// CheckoutInput describes the session to create.
type CheckoutInput struct {
	OrderID       string
	OrderNumber   string
	Currency      string // any case; sent lowercased
	Lines         []LineItem
	CustomerEmail string // optional
	SuccessURL    string
	CancelURL     string
	// IdempotencyKey is the caller's key (may be empty). The key sent to
	// Stripe is derived from it, the order id and the amount, so a retried
	// call never makes a second session.
	IdempotencyKey string
}

// Session is what smplat keeps of a created Checkout Session.
type Session struct {
	ID          string
	URL         string
	AmountTotal int64  // cents; 0 when Stripe did not say (stripe-mock)
	Currency    string // lowercase; empty when Stripe did not say
}

// Total is the sum of the lines in cents.
func (in CheckoutInput) Total() int64 {
	var sum int64
	for _, l := range in.Lines {
		sum += l.UnitAmount * l.Quantity
	}
	return sum
}

// StripeIdempotencyKey is the Idempotency-Key sent to Stripe for a checkout:
// a digest of the order, its amount and currency, and the caller's key (if
// any). The same caller retrying the same order gets the same session from
// Stripe for 24 h.
func StripeIdempotencyKey(orderID string, cents int64, currency, callerKey string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("checkout\x00%s\x00%d\x00%s\x00%s",
		orderID, cents, strings.ToLower(currency), callerKey)))
	return "smplat-checkout-" + hex.EncodeToString(sum[:16])
}

// errProvider is what every Stripe failure becomes: 502 with no provider
// text.
func errProvider() error {
	return &store.Error{Code: store.CodePaymentProviderError, Message: "payment provider error"}
}

// CreateCheckoutSession creates a payment-mode Checkout Session with one line
// per item, metadata order_id/order_number on the session and on its
// PaymentIntent (so payment_intent.* events can be matched), and
// client_reference_id = order id. Errors: UNAVAILABLE when no secret key is
// configured; PAYMENT_PROVIDER_ERROR for anything Stripe or the network
// returns (the provider's error type and code are logged, nothing else).
func (c *Client) CreateCheckoutSession(ctx context.Context, in CheckoutInput) (*Session, error) {
	if !c.hasKey {
		return nil, &store.Error{Code: store.CodeUnavailable, Message: "payments are not configured"}
	}
	currency := strings.ToLower(in.Currency)
	meta := map[string]string{"order_id": in.OrderID, "order_number": in.OrderNumber}
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		SuccessURL:        stripe.String(in.SuccessURL),
		CancelURL:         stripe.String(in.CancelURL),
		ClientReferenceID: stripe.String(in.OrderID),
		Metadata:          meta,
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{
			Metadata: map[string]string{"order_id": in.OrderID, "order_number": in.OrderNumber},
		},
	}
	if in.CustomerEmail != "" {
		params.CustomerEmail = stripe.String(in.CustomerEmail)
	}
	for _, l := range in.Lines {
		params.LineItems = append(params.LineItems, &stripe.CheckoutSessionCreateLineItemParams{
			Quantity: stripe.Int64(l.Quantity),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(currency),
				UnitAmount:  stripe.Int64(l.UnitAmount),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(l.Name)},
			},
		})
	}
	params.SetIdempotencyKey(StripeIdempotencyKey(in.OrderID, in.Total(), currency, in.IdempotencyKey))

	sess, err := c.sc.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		c.logProviderError(ctx, "create checkout session", err)
		return nil, errProvider()
	}
	if sess.ID == "" || sess.URL == "" {
		c.log.WarnContext(ctx, "stripe returned a checkout session without id or url", "order_id", in.OrderID)
		return nil, errProvider()
	}
	return &Session{ID: sess.ID, URL: sess.URL, AmountTotal: sess.AmountTotal, Currency: strings.ToLower(string(sess.Currency))}, nil
}

// logProviderError logs what kind of failure Stripe reported — type, code,
// HTTP status and request id — and never its message, which may echo input.
func (c *Client) logProviderError(ctx context.Context, op string, err error) {
	var se *stripe.Error
	if errors.As(err, &se) {
		c.log.WarnContext(ctx, "stripe request failed", "op", op, "type", string(se.Type),
			"code", string(se.Code), "status", se.HTTPStatusCode, "request_id", se.RequestID)
		return
	}
	kind := "network"
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		kind = "canceled"
	}
	c.log.WarnContext(ctx, "stripe request failed", "op", op, "type", kind)
}
