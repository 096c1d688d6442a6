package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
)

// actor is how webhook-driven order status changes are attributed in
// order_status_events.
const actor = "webhook"

// reuseWindow is how long an open (pending) Checkout Session is handed out
// again instead of creating a new one; Stripe expires sessions after 24 h.
const reuseWindow = 23 * time.Hour

// Service is checkout and webhook dispatch over the store and Stripe. One
// per process: its counters are per-process (Observability).
type Service struct {
	store  *store.Store
	client *Client
	log    *slog.Logger
	now    func() time.Time
	// enqueue creates an order's fulfillment tasks in the paying transaction.
	enqueue func(ctx context.Context, tx sqlx.ExtContext, orderID string, now time.Time) (int, error)
	m       *counters
	// locks runs checkouts of one order one at a time in this process.
	locks keyedLocks
}

// NewService wires the store and the Stripe client; log may be nil
// (slog.Default()).
func NewService(st *store.Store, client *Client, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{store: st, client: client, log: log, now: time.Now, enqueue: store.EnqueueTasksTx, m: newCounters()}
}

// CheckoutResult is the compat response of checkout (SPEC §6); Amount is the
// order total, a JSON number in REST.
type CheckoutResult struct {
	CheckoutSessionID string          `json:"checkout_session_id"`
	CheckoutURL       string          `json:"checkout_url"`
	PaymentID         string          `json:"payment_id"`
	Amount            decimal.Decimal `json:"amount"`
	Currency          store.Currency  `json:"currency"`
}

// MarshalJSON writes Amount as a JSON number (compat).
func (r CheckoutResult) MarshalJSON() ([]byte, error) {
	type plain CheckoutResult
	return json.Marshal(struct {
		plain
		Amount store.JSONMoney `json:"amount"`
	}{plain(r), store.JSONMoney(r.Amount)})
}

// StartCheckout opens a Stripe Checkout Session for a pending order and
// stores its payment row keyed by the session id; the charged sum is the
// order total. While a session for the order is still open (pending
// payment, < 23 h old, same amount) it is returned again instead of creating
// a second payable session. idempotencyKey (may be empty) feeds the key sent
// to Stripe.
//
// No transaction and no row lock is held while Stripe is called: a short
// transaction locks and checks the order (and hands out an open session),
// the session is created outside any transaction, and a second short
// transaction re-locks the order, re-checks it and stores the payment row.
// A slow Stripe therefore never pins a pool connection or holds up the
// order's webhooks. Calls for one order in this process still run one at a
// time (an in-process lock, no database resources held while waiting), so
// concurrent calls make one session; across processes the Stripe
// idempotency key, the unique provider reference and the open-session check
// in the second transaction keep it to one payable session per order.
//
// Errors: BAD_USER_INPUT (field successUrl, cancelUrl or customerEmail),
// NOT_FOUND "Order not found", CONFLICT (not pending — also when the order
// stopped being pending or changed while Stripe was called, in which case
// nothing is stored —, no items, total not matching its items or not
// positive), UNAVAILABLE (Stripe not configured), PAYMENT_PROVIDER_ERROR
// (Stripe failed).
func (s *Service) StartCheckout(ctx context.Context, orderID, successURL, cancelURL string, customerEmail *string, idempotencyKey string) (*CheckoutResult, error) {
	res, err := s.startCheckout(ctx, orderID, successURL, cancelURL, customerEmail, idempotencyKey)
	if err != nil {
		s.m.checkoutFailed.Add(1)
		return nil, err
	}
	s.m.checkoutSucceeded.Add(1)
	return res, nil
}

func (s *Service) startCheckout(ctx context.Context, orderID, successURL, cancelURL string, customerEmail *string, idempotencyKey string) (*CheckoutResult, error) {
	if err := checkURL("successUrl", successURL); err != nil {
		return nil, err
	}
	if err := checkURL("cancelUrl", cancelURL); err != nil {
		return nil, err
	}
	email := ""
	if customerEmail != nil && strings.TrimSpace(*customerEmail) != "" {
		a, err := mail.ParseAddress(strings.TrimSpace(*customerEmail))
		if err != nil {
			return nil, store.BadInput("customerEmail", "must be an email address")
		}
		email = a.Address
	}
	release, err := s.locks.lock(ctx, orderID)
	if err != nil {
		return nil, err
	}
	defer release()

	// 1. Lock and check the order; hand out an open session if there is one.
	var (
		res *CheckoutResult
		in  CheckoutInput
	)
	err = s.store.InTx(ctx, func(tx *sqlx.Tx) error {
		order, lines, err := payableOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		open, err := s.openSession(ctx, tx, order)
		if err != nil || open != nil {
			res = open
			return err
		}
		if email == "" && order.CustomerEmail != nil {
			email = *order.CustomerEmail
		}
		in = CheckoutInput{
			OrderID: order.ID, OrderNumber: order.OrderNumber, Currency: string(order.Currency),
			Lines: lines, CustomerEmail: email, SuccessURL: successURL, CancelURL: cancelURL,
			IdempotencyKey: idempotencyKey,
		}
		return nil
	})
	if err != nil || res != nil {
		return res, err
	}

	// 2. Create the session outside any transaction. The idempotency key
	// (order, amount, currency, caller's key) makes a repeated or concurrent
	// call get the same session from Stripe.
	sess, err := s.client.CreateCheckoutSession(ctx, in)
	if err != nil {
		return nil, err
	}
	// Stripe computes amount_total itself; if it disagrees with what we
	// sent, the URL is never handed out (stripe-mock reports none).
	if (sess.AmountTotal != 0 && sess.AmountTotal != in.Total()) ||
		(sess.Currency != "" && sess.Currency != strings.ToLower(in.Currency)) {
		s.log.ErrorContext(ctx, "stripe session total differs from the order total",
			"order_id", in.OrderID, "sent_cents", in.Total(), "stripe_cents", sess.AmountTotal)
		return nil, errProvider()
	}

	// 3. Re-lock the order, re-check it and store the payment row.
	err = s.store.InTx(ctx, func(tx *sqlx.Tx) error {
		order, lines, err := payableOrder(ctx, tx, in.OrderID)
		if err != nil {
			if e, ok := store.AsError(err); ok && e.Code == store.CodeConflict {
				s.log.WarnContext(ctx, "order changed during checkout; stripe session not stored",
					"order_id", in.OrderID, "session_id", sess.ID, "reason", e.Message)
			}
			return err
		}
		if got := (CheckoutInput{Lines: lines}).Total(); got != in.Total() || string(order.Currency) != in.Currency {
			s.log.WarnContext(ctx, "order total changed during checkout; stripe session not stored",
				"order_id", in.OrderID, "session_id", sess.ID, "sent_cents", in.Total(), "order_cents", got)
			return &store.Error{Code: store.CodeConflict, Message: "Order changed during checkout"}
		}
		// Another process may have stored an open session meanwhile (with a
		// different caller key, so a different Stripe session): hand out
		// that one, so the order never has two payable sessions.
		open, err := s.openSession(ctx, tx, order)
		if err != nil {
			return err
		}
		if open != nil && open.CheckoutSessionID != sess.ID {
			s.log.InfoContext(ctx, "another checkout stored an open session first; returning it",
				"order_id", order.ID, "session_id", open.CheckoutSessionID, "unused_session_id", sess.ID)
			res = open
			return nil
		}
		p, err := store.CreatePaymentTx(ctx, tx, store.NewPayment{
			OrderID: order.ID, Provider: store.ProviderStripe, ProviderReference: sess.ID,
			CheckoutURL: &sess.URL, Amount: order.Total, Currency: order.Currency,
		})
		if err != nil {
			return err
		}
		res = resultOf(p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// payableOrder locks an order (until the transaction ends) and checks that
// it can be paid: pending, with items, whose lines add up to its total.
func payableOrder(ctx context.Context, tx *sqlx.Tx, orderID string) (*store.PaymentOrder, []LineItem, error) {
	order, err := store.LockPaymentOrderTx(ctx, tx, orderID)
	if err != nil {
		return nil, nil, err
	}
	if order.Status != "pending" {
		return nil, nil, &store.Error{Code: store.CodeConflict, Message: "Order is not pending"}
	}
	if len(order.Items) == 0 {
		return nil, nil, &store.Error{Code: store.CodeConflict, Message: "Order has no items"}
	}
	lines, err := checkoutLines(order)
	if err != nil {
		return nil, nil, err
	}
	return order, lines, nil
}

// openSession returns the order's open Stripe session for its current
// amount (pending payment with a URL, < 23 h old), or nil.
func (s *Service) openSession(ctx context.Context, tx *sqlx.Tx, order *store.PaymentOrder) (*CheckoutResult, error) {
	open, err := store.FindOpenPaymentTx(ctx, tx, order.ID, store.ProviderStripe, s.now().Add(-reuseWindow))
	if err != nil {
		return nil, err
	}
	if open != nil && open.CheckoutURL != nil && open.Amount.Equal(order.Total) && open.Currency == order.Currency {
		return resultOf(open), nil
	}
	return nil, nil
}

// keyedLocks serializes work per key inside one process without holding
// any database resource; a waiter gives up when its context ends.
type keyedLocks struct {
	mu sync.Mutex
	m  map[string]*keyedLock
}

type keyedLock struct {
	ch   chan struct{} // holds one token while locked
	refs int           // holders and waiters
}

// lock takes the lock for key (an order id; the canonical UUID form when it
// parses, so spellings of one id share a lock) and returns its release.
func (k *keyedLocks) lock(ctx context.Context, key string) (func(), error) {
	if id, err := uuid.Parse(key); err == nil {
		key = id.String()
	}
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedLock{}
	}
	l := k.m[key]
	if l == nil {
		l = &keyedLock{ch: make(chan struct{}, 1)}
		k.m[key] = l
	}
	l.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

func resultOf(p *store.Payment) *CheckoutResult {
	r := &CheckoutResult{CheckoutSessionID: p.ProviderReference, PaymentID: p.ID, Amount: p.Amount, Currency: p.Currency}
	if p.CheckoutURL != nil {
		r.CheckoutURL = *p.CheckoutURL
	}
	return r
}

func checkURL(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return store.BadInput(field, "is required")
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return store.BadInput(field, "must be an absolute http(s) URL")
	}
	return nil
}

// checkoutLines turns the order's items (and its tax, when there is any)
// into Stripe lines in cents, and refuses an order whose lines do not add
// up to its total: the customer is charged exactly the order total.
func checkoutLines(o *store.PaymentOrder) ([]LineItem, error) {
	total, ok := toCents(o.Total)
	if !ok || total <= 0 {
		return nil, &store.Error{Code: store.CodeConflict, Message: "Order total must be a positive amount"}
	}
	lines := make([]LineItem, 0, len(o.Items)+1)
	var sum int64
	for _, it := range o.Items {
		unit, ok := toCents(it.UnitPrice)
		if !ok || unit <= 0 || it.Quantity <= 0 {
			return nil, &store.Error{Code: store.CodeConflict, Message: "Order has an item without a payable price"}
		}
		lines = append(lines, LineItem{Name: it.ProductTitle, UnitAmount: unit, Quantity: it.Quantity})
		sum += unit * it.Quantity
	}
	if tax, ok := toCents(o.Tax); ok && tax > 0 {
		lines = append(lines, LineItem{Name: "Tax", UnitAmount: tax, Quantity: 1})
		sum += tax
	}
	if sum != total {
		return nil, &store.Error{Code: store.CodeConflict, Message: "Order total does not match its items"}
	}
	return lines, nil
}

// toCents converts an amount with at most two decimals to integer cents.
func toCents(d decimal.Decimal) (int64, bool) {
	c := d.Shift(2)
	if !c.IsInteger() {
		return 0, false
	}
	return c.IntPart(), true
}

// HandleWebhook verifies a Stripe webhook and applies it. Nothing touches
// the database before the signature passes. The event id is recorded in
// webhook_events in the same transaction as its effects, so a duplicate
// (sequential or concurrent) is acknowledged and changes nothing; a failure
// rolls everything back and returns an error so Stripe retries.
//
// The message describes the outcome for the 200 response. Errors:
// ErrBadSignature and ErrBadPayload (400), anything else (500).
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, sigHeader string) (string, error) {
	now := s.now()
	ev, err := s.client.VerifyWebhook(payload, sigHeader, now)
	if err != nil {
		s.m.rejected.Add(1)
		return "", err
	}
	var outcome string
	err = s.store.InTx(ctx, func(tx *sqlx.Tx) error {
		fresh, err := store.RecordWebhookEventTx(ctx, tx, store.ProviderStripe, ev.ID, ev.Type, now)
		if err != nil {
			return fmt.Errorf("record webhook event: %w", err)
		}
		if !fresh {
			outcome = outcomeDuplicate
			return nil
		}
		outcome, err = s.apply(ctx, tx, ev, now)
		if err != nil {
			return err
		}
		return store.SetWebhookOutcomeTx(ctx, tx, store.ProviderStripe, ev.ID, outcome)
	})
	if err != nil {
		s.m.webhook(ev.Type, false)
		s.log.ErrorContext(ctx, "stripe webhook failed", "event_id", ev.ID, "event_type", ev.Type, "err", store.RedactError(err))
		return "", err
	}
	s.m.webhook(ev.Type, true)
	if outcome == outcomeDuplicate {
		s.m.duplicates.Add(1)
	}
	s.log.InfoContext(ctx, "stripe webhook handled", "event_id", ev.ID, "event_type", ev.Type, "outcome", outcome)
	return messages[outcome], nil
}

// Outcomes recorded in webhook_events.outcome.
const (
	outcomeProcessed      = "processed"       // the event changed state
	outcomeNoChange       = "no_change"       // already applied, or stale (state only moves forward)
	outcomeIgnored        = "ignored"         // an event type smplat does not act on
	outcomeUnknown        = "unknown_payment" // no payment or order matches the event
	outcomeAmountMismatch = "amount_mismatch" // amount or currency differs: never marked paid
	outcomeAwaiting       = "awaiting_payment"
	outcomePartialRefund  = "partial_refund"
	outcomeDuplicate      = "duplicate" // never stored: the first delivery's row stays
)

var messages = map[string]string{
	outcomeProcessed:      "Event processed",
	outcomeNoChange:       "Event processed; no change",
	outcomeIgnored:        "Event type ignored",
	outcomeUnknown:        "Event acknowledged; no matching payment",
	outcomeAmountMismatch: "Event acknowledged; amount mismatch recorded",
	outcomeAwaiting:       "Event acknowledged; payment not completed yet",
	outcomePartialRefund:  "Event acknowledged; partial refund",
	outcomeDuplicate:      "Event already processed",
}

// handledTypes are the event types the webhook acts on; Observability lists
// each with zero counts from the start.
var handledTypes = []string{
	"checkout.session.completed",
	"checkout.session.async_payment_succeeded",
	"checkout.session.async_payment_failed",
	"payment_intent.succeeded",
	"payment_intent.payment_failed",
	"charge.refunded",
	"checkout.session.expired",
}

func (s *Service) apply(ctx context.Context, tx *sqlx.Tx, ev *Event, now time.Time) (string, error) {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		if ev.PaymentStatus != "paid" {
			return outcomeAwaiting, nil
		}
		// The session id is authoritative: no fallback to the metadata order.
		return s.succeed(ctx, tx, ev, ev.CheckoutSessionID, "", now)
	case "payment_intent.succeeded":
		return s.succeed(ctx, tx, ev, "", ev.OrderID, now)
	case "checkout.session.async_payment_failed":
		return s.fail(ctx, tx, ev, ev.CheckoutSessionID, "", "asynchronous payment failed", now)
	case "payment_intent.payment_failed":
		reason := ev.FailureMessage
		if reason == "" {
			reason = "payment failed"
		}
		return s.fail(ctx, tx, ev, "", ev.OrderID, reason, now)
	case "charge.refunded":
		return s.refund(ctx, tx, ev, now)
	case "checkout.session.expired":
		return s.expire(ctx, tx, ev, now)
	default:
		return outcomeIgnored, nil
	}
}

// locate finds and locks the order, then the payment, an event is about:
// order first, payment second, the same lock order checkout uses.
func (s *Service) locate(ctx context.Context, tx *sqlx.Tx, ev *Event, reference, orderHint string) (*store.PaymentOrder, *store.Payment, error) {
	orderID, err := store.PaymentOrderIDTx(ctx, tx, reference, ev.PaymentIntentID)
	if err != nil {
		return nil, nil, err
	}
	if orderID == "" {
		orderID = orderHint
	}
	if orderID == "" {
		return nil, nil, nil
	}
	order, err := store.LockPaymentOrderTx(ctx, tx, orderID)
	if e, ok := store.AsError(err); ok && e.Code == store.CodeNotFound {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	p, err := store.FindPaymentForWebhookTx(ctx, tx, reference, ev.PaymentIntentID, orderHint)
	if err != nil || p == nil || p.OrderID != order.ID {
		return nil, nil, err
	}
	return order, p, nil
}

// succeed marks the payment paid and a pending order processing with its
// fulfillment tasks — unless the amount or currency differs from the
// payment and the order total, in which case only the reason is recorded.
func (s *Service) succeed(ctx context.Context, tx *sqlx.Tx, ev *Event, reference, orderHint string, now time.Time) (string, error) {
	order, p, err := s.locate(ctx, tx, ev, reference, orderHint)
	if err != nil || p == nil {
		return outcomeUnknown, err
	}
	if p.Status == store.PaymentSucceeded || p.Status == store.PaymentRefunded {
		return outcomeNoChange, nil
	}
	paid, okPaid := toCents(p.Amount)
	total, okTotal := toCents(order.Total)
	if !okPaid || !okTotal || ev.Amount != paid || ev.Amount != total ||
		!strings.EqualFold(ev.Currency, string(p.Currency)) || p.Currency != order.Currency {
		reason := fmt.Sprintf("amount mismatch: expected %d %s, received %d %s",
			total, strings.ToLower(string(order.Currency)), ev.Amount, ev.Currency)
		s.log.WarnContext(ctx, "stripe payment amount mismatch; not marked paid",
			"event_id", ev.ID, "payment_id", p.ID, "order_id", order.ID, "expected_cents", total, "received_cents", ev.Amount)
		return outcomeAmountMismatch, store.NotePaymentProblemTx(ctx, tx, p.ID, reason, now)
	}
	changed, err := store.MarkPaymentSucceededTx(ctx, tx, p.ID, ev.PaymentIntentID, now)
	if err != nil || !changed {
		return outcomeNoChange, err
	}
	from := order.Status
	switch from {
	case "pending":
	case "on_hold":
		held, err := store.HeldForPaymentTx(ctx, tx, order.ID)
		if err != nil {
			return "", err
		}
		if !held {
			return outcomeProcessed, nil
		}
	default:
		return outcomeProcessed, nil
	}
	moved, err := store.MovePaymentOrderTx(ctx, tx, order.ID, from, "processing", actor, "payment succeeded ("+ev.Type+")", now)
	if err != nil || !moved {
		return outcomeProcessed, err
	}
	if _, err := s.enqueue(ctx, tx, order.ID, now); err != nil {
		return "", fmt.Errorf("enqueue fulfillment tasks: %w", err)
	}
	return outcomeProcessed, nil
}

// fail marks a pending payment failed with the reason and puts a pending
// order on hold with a note. A payment that already succeeded, failed or was
// refunded is left alone.
func (s *Service) fail(ctx context.Context, tx *sqlx.Tx, ev *Event, reference, orderHint, reason string, now time.Time) (string, error) {
	order, p, err := s.locate(ctx, tx, ev, reference, orderHint)
	if err != nil || p == nil {
		return outcomeUnknown, err
	}
	changed, err := store.MarkPaymentFailedTx(ctx, tx, p.ID, ev.PaymentIntentID, reason, now)
	if err != nil || !changed {
		return outcomeNoChange, err
	}
	if order.Status == "pending" {
		if _, err := store.MovePaymentOrderTx(ctx, tx, order.ID, "pending", "on_hold", actor, "payment failed: "+reason, now); err != nil {
			return "", err
		}
	}
	return outcomeProcessed, nil
}

// expire marks the payment of an expired Checkout Session failed, so the
// next checkout opens a fresh session instead of handing this one out. The
// order stays as it is: the customer may simply start checkout again.
func (s *Service) expire(ctx context.Context, tx *sqlx.Tx, ev *Event, now time.Time) (string, error) {
	_, p, err := s.locate(ctx, tx, ev, ev.CheckoutSessionID, "")
	if err != nil || p == nil {
		return outcomeUnknown, err
	}
	if p.Status != store.PaymentPending {
		return outcomeNoChange, nil
	}
	changed, err := store.MarkPaymentFailedTx(ctx, tx, p.ID, ev.PaymentIntentID, "checkout session expired", now)
	if err != nil || !changed {
		return outcomeNoChange, err
	}
	return outcomeProcessed, nil
}

// refund marks a succeeded payment refunded when its charge is fully
// refunded; a partial refund is acknowledged without a state change. The
// order's status is left to an admin.
func (s *Service) refund(ctx context.Context, tx *sqlx.Tx, ev *Event, now time.Time) (string, error) {
	_, p, err := s.locate(ctx, tx, ev, "", ev.OrderID)
	if err != nil || p == nil {
		return outcomeUnknown, err
	}
	if !ev.Refunded && (ev.Amount == 0 || ev.AmountRefunded < ev.Amount) {
		return outcomePartialRefund, nil
	}
	changed, err := store.MarkPaymentRefundedTx(ctx, tx, p.ID, now)
	if err != nil || !changed {
		return outcomeNoChange, err
	}
	return outcomeProcessed, nil
}

// IsBadRequest reports whether a HandleWebhook error is the sender's fault
// (400) rather than smplat's (500).
func IsBadRequest(err error) bool {
	return errors.Is(err, ErrBadSignature) || errors.Is(err, ErrBadPayload)
}
