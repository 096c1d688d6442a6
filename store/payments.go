package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// PaymentStatus is a payment's state. It only moves forward:
// pending → failed → succeeded → refunded (a failed payment may still
// succeed when the customer retries inside the same Checkout Session;
// refunded is terminal).
type PaymentStatus string

// Payment statuses.
const (
	PaymentPending   PaymentStatus = "pending"
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
	PaymentRefunded  PaymentStatus = "refunded"
)

// PaymentStatuses lists every payment status.
var PaymentStatuses = []PaymentStatus{PaymentPending, PaymentSucceeded, PaymentFailed, PaymentRefunded}

func (e PaymentStatus) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *PaymentStatus) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "status", v, PaymentStatuses)
}

// PaymentProvider says who took the money.
type PaymentProvider string

// Payment providers.
const (
	ProviderStripe PaymentProvider = "stripe"
	ProviderManual PaymentProvider = "manual"
)

// PaymentProviders lists every payment provider.
var PaymentProviders = []PaymentProvider{ProviderStripe, ProviderManual}

func (e PaymentProvider) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *PaymentProvider) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "provider", v, PaymentProviders)
}

// Payment is one attempt to collect an order's total. A Stripe payment is
// keyed by its Checkout Session id (ProviderReference): Stripe returns no
// PaymentIntent when the session is created, so PaymentIntentID is filled in
// by the webhook.
type Payment struct {
	ID                string          `db:"id" json:"id"`
	OrderID           string          `db:"order_id" json:"order_id"`
	Provider          PaymentProvider `db:"provider" json:"provider"`
	ProviderReference string          `db:"provider_reference" json:"provider_reference"`
	PaymentIntentID   *string         `db:"payment_intent_id" json:"payment_intent_id"`
	CheckoutURL       *string         `db:"checkout_url" json:"checkout_url"`
	Status            PaymentStatus   `db:"status" json:"status"`
	Amount            decimal.Decimal `db:"amount" json:"amount"`
	Currency          Currency        `db:"currency" json:"currency"`
	FailureReason     *string         `db:"failure_reason" json:"failure_reason"`
	CapturedAt        *time.Time      `db:"captured_at" json:"captured_at"`
	CreatedAt         time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt         time.Time       `db:"updated_at" json:"updated_at"`
}

// MarshalJSON writes the REST shape: snake_case keys and the amount as a
// JSON number (compat), e.g. 1277.40.
func (p Payment) MarshalJSON() ([]byte, error) {
	type plain Payment
	return json.Marshal(struct {
		plain
		Amount JSONMoney `json:"amount"`
	}{plain(p), JSONMoney(p.Amount)})
}

const paymentColumns = `id, order_id, provider, provider_reference, payment_intent_id, checkout_url,
	status, amount, currency, failure_reason, captured_at, created_at, updated_at`

// NewPayment is what CreatePayment stores.
type NewPayment struct {
	OrderID           string
	Provider          PaymentProvider // stripe when empty
	ProviderReference string          // the Checkout Session id
	CheckoutURL       *string
	Amount            decimal.Decimal
	Currency          Currency
}

// CreatePaymentTx stores a pending payment keyed by its provider reference.
// Creating the same reference again returns the existing row unchanged (a
// retried checkout must not make a second payment); two concurrent callers
// storing one reference end with one row, the second waiting for the first
// to commit and getting its row. A reference that already
// belongs to another order is a CONFLICT; an unknown order is BAD_USER_INPUT.
func CreatePaymentTx(ctx context.Context, tx sqlx.ExtContext, in NewPayment) (*Payment, error) {
	if in.Provider == "" {
		in.Provider = ProviderStripe
	}
	var p Payment
	// DO UPDATE with a no-op so RETURNING yields the existing row on conflict.
	err := sqlx.GetContext(ctx, tx, &p, `
		INSERT INTO payments (order_id, provider, provider_reference, checkout_url, amount, currency)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (provider_reference) DO UPDATE SET provider_reference = EXCLUDED.provider_reference
		RETURNING `+paymentColumns,
		in.OrderID, in.Provider, in.ProviderReference, in.CheckoutURL, in.Amount, in.Currency)
	if err != nil {
		return nil, mapError(err)
	}
	if p.OrderID != in.OrderID {
		return nil, &Error{Code: CodeConflict, Message: "payment reference belongs to another order"}
	}
	return &p, nil
}

// CreatePayment is CreatePaymentTx in its own transaction.
func (s *Store) CreatePayment(ctx context.Context, in NewPayment) (*Payment, error) {
	var p *Payment
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		p, err = CreatePaymentTx(ctx, tx, in)
		return err
	})
	return p, err
}

// FindPayment returns one payment; NOT_FOUND ("Payment not found") when the
// id is unknown or not a UUID.
func (s *Store) FindPayment(ctx context.Context, id string) (*Payment, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, &Error{Code: CodeNotFound, Message: "Payment not found"}
	}
	var p Payment
	err := sqlx.GetContext(ctx, s.db, &p, `SELECT `+paymentColumns+` FROM payments WHERE id = $1`, id)
	if err != nil {
		return nil, notFound(err, "Payment not found")
	}
	return &p, nil
}

// FindPaymentsByOrder returns the payments of many orders in one query,
// oldest first per order, for a per-request GraphQL loader. Orders without
// payments are absent from the map; ids that are not UUIDs are ignored.
func (s *Store) FindPaymentsByOrder(ctx context.Context, orderIDs []string) (map[string][]Payment, error) {
	ids := make([]string, 0, len(orderIDs))
	for _, id := range orderIDs {
		if _, err := uuid.Parse(id); err == nil {
			ids = append(ids, id)
		}
	}
	out := make(map[string][]Payment, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var rows []Payment
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT `+paymentColumns+` FROM payments
		WHERE order_id = ANY($1::uuid[]) ORDER BY created_at, id`, pq.Array(ids))
	if err != nil {
		return nil, err
	}
	for _, p := range rows {
		out[p.OrderID] = append(out[p.OrderID], p)
	}
	return out, nil
}

// FindOpenPaymentTx returns the newest pending payment of an order by the
// given provider created after since, or nil. Checkout reuses it so one
// pending order never has two payable sessions open at once.
func FindOpenPaymentTx(ctx context.Context, tx sqlx.ExtContext, orderID string, provider PaymentProvider, since time.Time) (*Payment, error) {
	var p Payment
	err := sqlx.GetContext(ctx, tx, &p, `SELECT `+paymentColumns+` FROM payments
		WHERE order_id = $1 AND provider = $2 AND status = 'pending' AND created_at > $3
		ORDER BY created_at DESC, id DESC LIMIT 1`, orderID, provider, since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// FindPaymentForWebhookTx finds the payment a webhook event is about and
// locks it: by provider reference (the Checkout Session id), else by
// PaymentIntent id, else the newest payment of the order named in the event's
// metadata (preferring a pending one). Any of the keys may be empty. It
// returns nil when nothing matches. The caller must already hold the order's
// lock (LockPaymentOrderTx) when it knows the order, so locks are always
// taken order first, payment second.
func FindPaymentForWebhookTx(ctx context.Context, tx sqlx.ExtContext, reference, paymentIntentID, orderID string) (*Payment, error) {
	try := func(where string, arg string) (*Payment, error) {
		var p Payment
		err := sqlx.GetContext(ctx, tx, &p, `SELECT `+paymentColumns+` FROM payments WHERE `+where+` FOR UPDATE`, arg)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &p, nil
	}
	if reference != "" {
		if p, err := try(`provider_reference = $1`, reference); p != nil || err != nil {
			return p, err
		}
	}
	if paymentIntentID != "" {
		if p, err := try(`payment_intent_id = $1 ORDER BY created_at DESC LIMIT 1`, paymentIntentID); p != nil || err != nil {
			return p, err
		}
	}
	if _, err := uuid.Parse(orderID); err == nil {
		return try(`order_id = $1 AND provider = 'stripe'
			ORDER BY (status = 'pending') DESC, created_at DESC LIMIT 1`, orderID)
	}
	return nil, nil
}

// PaymentOrderIDTx returns the order a payment belongs to, without locking,
// so the webhook can lock the order before the payment. Empty when unknown.
func PaymentOrderIDTx(ctx context.Context, tx sqlx.ExtContext, reference, paymentIntentID string) (string, error) {
	var id string
	err := sqlx.GetContext(ctx, tx, &id, `SELECT order_id FROM payments
		WHERE ($1 <> '' AND provider_reference = $1) OR ($2 <> '' AND payment_intent_id = $2)
		ORDER BY (provider_reference = $1) DESC, created_at DESC LIMIT 1`, reference, paymentIntentID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// MarkPaymentSucceededTx moves a pending or failed payment to succeeded,
// storing the PaymentIntent and the capture time and clearing the failure
// reason. It reports false (and changes nothing) when the payment had
// already succeeded or been refunded: state only moves forward.
func MarkPaymentSucceededTx(ctx context.Context, tx sqlx.ExtContext, paymentID, paymentIntentID string, at time.Time) (bool, error) {
	return paymentExec(ctx, tx, `UPDATE payments SET status = 'succeeded', captured_at = $3,
		payment_intent_id = COALESCE(NULLIF($2, ''), payment_intent_id), failure_reason = NULL, updated_at = $3
		WHERE id = $1 AND status IN ('pending', 'failed')`, paymentID, paymentIntentID, at)
}

// MarkPaymentFailedTx moves a pending payment to failed with a reason. A
// payment that already failed, succeeded or was refunded is left alone
// (false).
func MarkPaymentFailedTx(ctx context.Context, tx sqlx.ExtContext, paymentID, paymentIntentID, reason string, at time.Time) (bool, error) {
	return paymentExec(ctx, tx, `UPDATE payments SET status = 'failed', failure_reason = $3,
		payment_intent_id = COALESCE(NULLIF($2, ''), payment_intent_id), updated_at = $4
		WHERE id = $1 AND status = 'pending'`, paymentID, paymentIntentID, reason, at)
}

// MarkPaymentRefundedTx moves a succeeded payment to refunded (terminal).
// Any other state is left alone (false).
func MarkPaymentRefundedTx(ctx context.Context, tx sqlx.ExtContext, paymentID string, at time.Time) (bool, error) {
	return paymentExec(ctx, tx, `UPDATE payments SET status = 'refunded', updated_at = $2
		WHERE id = $1 AND status = 'succeeded'`, paymentID, at)
}

// NotePaymentProblemTx records why an event could not be applied (e.g. an
// amount mismatch) without changing the payment's status. A payment that
// already succeeded or was refunded keeps its record clean.
func NotePaymentProblemTx(ctx context.Context, tx sqlx.ExtContext, paymentID, reason string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `UPDATE payments SET failure_reason = $2, updated_at = $3
		WHERE id = $1 AND status IN ('pending', 'failed')`, paymentID, reason, at)
	return err
}

func paymentExec(ctx context.Context, tx sqlx.ExtContext, q string, args ...any) (bool, error) {
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return false, mapError(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// PaymentOrder is the slice of an order that checkout and the webhook need.
// Status is the order_status label (pending, processing, …).
type PaymentOrder struct {
	ID            string          `db:"id"`
	OrderNumber   string          `db:"order_number"`
	Status        string          `db:"status"`
	Subtotal      decimal.Decimal `db:"subtotal"`
	Tax           decimal.Decimal `db:"tax"`
	Total         decimal.Decimal `db:"total"`
	Currency      Currency        `db:"currency"`
	CustomerEmail *string         `db:"customer_email"`
	Items         []PaymentOrderItem
}

// PaymentOrderItem is one line of a PaymentOrder.
type PaymentOrderItem struct {
	ID           string          `db:"id"`
	ProductTitle string          `db:"product_title"`
	Quantity     int64           `db:"quantity"`
	UnitPrice    decimal.Decimal `db:"unit_price"`
	TotalPrice   decimal.Decimal `db:"total_price"`
}

// LockPaymentOrderTx reads an order and its items, locking the order row
// until the transaction ends so a webhook and checkout's short check and
// store transactions for one order run one at a time (checkout never holds
// it across the Stripe call). NOT_FOUND ("Order not found") when the id is unknown or not a
// UUID.
func LockPaymentOrderTx(ctx context.Context, tx sqlx.ExtContext, orderID string) (*PaymentOrder, error) {
	if _, err := uuid.Parse(orderID); err != nil {
		return nil, &Error{Code: CodeNotFound, Message: "Order not found"}
	}
	var o PaymentOrder
	err := sqlx.GetContext(ctx, tx, &o, `SELECT id, order_number, status, subtotal, tax, total, currency, customer_email
		FROM orders WHERE id = $1 FOR UPDATE`, orderID)
	if err != nil {
		return nil, notFound(err, "Order not found")
	}
	err = sqlx.SelectContext(ctx, tx, &o.Items, `SELECT id, product_title, quantity, unit_price, total_price
		FROM order_items WHERE order_id = $1 ORDER BY created_at, id`, orderID)
	if err != nil {
		return nil, err
	}
	return &o, nil
}

// MovePaymentOrderTx changes an order's status from one label to another
// and records the change in order_status_events, all in the caller's
// transaction. It reports false when the order was no longer in from.
func MovePaymentOrderTx(ctx context.Context, tx sqlx.ExtContext, orderID, from, to, actor, note string, at time.Time) (bool, error) {
	changed, err := paymentExec(ctx, tx, `UPDATE orders SET status = $3::order_status, updated_at = $4
		WHERE id = $1 AND status = $2::order_status`, orderID, from, to, at)
	if err != nil || !changed {
		return changed, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO order_status_events (order_id, from_status, to_status, actor, note, created_at)
		VALUES ($1, $2::order_status, $3::order_status, $4, NULLIF($5, ''), $6)`, orderID, from, to, actor, note, at)
	return true, err
}

// HeldForPaymentTx reports whether an order's latest status change put it on
// hold for a failed payment (actor webhook), so a later successful payment
// may release it to processing; a hold set by an admin or by failed tasks is
// left to the admin.
func HeldForPaymentTx(ctx context.Context, tx sqlx.ExtContext, orderID string) (bool, error) {
	var ok bool
	err := sqlx.GetContext(ctx, tx, &ok, `SELECT COALESCE((
		SELECT to_status = 'on_hold' AND actor = 'webhook' FROM order_status_events
		WHERE order_id = $1 ORDER BY id DESC LIMIT 1), false)`, orderID)
	return ok, err
}

// WebhookEvent is one provider event smplat has handled.
type WebhookEvent struct {
	ID          int64           `db:"id" json:"-"`
	Provider    PaymentProvider `db:"provider" json:"provider"`
	ExternalID  string          `db:"external_id" json:"event_id"`
	EventType   string          `db:"event_type" json:"event_type"`
	Outcome     string          `db:"outcome" json:"outcome"`
	ProcessedAt time.Time       `db:"processed_at" json:"processed_at"`
}

// RecordWebhookEventTx claims a provider event id inside the transaction
// that applies its effects. It returns false when the event was already
// recorded (a duplicate delivery: acknowledge it and change nothing). A
// concurrent delivery of the same id waits here until the first commits or
// rolls back.
func RecordWebhookEventTx(ctx context.Context, tx sqlx.ExtContext, provider PaymentProvider, externalID, eventType string, at time.Time) (bool, error) {
	return paymentExec(ctx, tx, `INSERT INTO webhook_events (provider, external_id, event_type, processed_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT (provider, external_id) DO NOTHING`, provider, externalID, eventType, at)
}

// SetWebhookOutcomeTx records what handling an event did (processed,
// ignored, amount_mismatch, …).
func SetWebhookOutcomeTx(ctx context.Context, tx sqlx.ExtContext, provider PaymentProvider, externalID, outcome string) error {
	_, err := tx.ExecContext(ctx, `UPDATE webhook_events SET outcome = $3 WHERE provider = $1 AND external_id = $2`,
		provider, externalID, outcome)
	return err
}

// RecentWebhookEvents returns the newest handled events, newest first, at
// most limit (1..100; 20 when out of range).
func (s *Store) RecentWebhookEvents(ctx context.Context, limit int) ([]WebhookEvent, error) {
	if limit <= 0 || limit > 100 {
		limit = 20
	}
	out := []WebhookEvent{}
	err := sqlx.SelectContext(ctx, s.db, &out, `SELECT id, provider, external_id, event_type, outcome, processed_at
		FROM webhook_events ORDER BY processed_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent webhook events: %w", err)
	}
	return out, nil
}
