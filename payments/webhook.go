package payments

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// ErrBadSignature is returned by VerifyWebhook for a missing, malformed,
// wrong or out-of-tolerance Stripe-Signature. The webhook handler answers
// it with 400 so Stripe (or an attacker) learns nothing more.
var ErrBadSignature = errors.New("payments: invalid webhook signature")

// ErrBadPayload is returned for a correctly signed body that is not a Stripe
// event (400).
var ErrBadPayload = errors.New("payments: invalid webhook payload")

// Event is the normalised part of a Stripe event that smplat acts on. Amounts
// are in cents; Currency is lowercase as Stripe sends it.
type Event struct {
	ID      string
	Type    string
	Created time.Time

	ObjectID   string // data.object.id
	ObjectType string // data.object.object ("checkout.session", "payment_intent", "charge")

	CheckoutSessionID string // for checkout.session.* events
	PaymentIntentID   string // the PaymentIntent, whichever object carries it
	PaymentStatus     string // checkout.session payment_status (paid, unpaid, no_payment_required)

	Amount   int64 // session amount_total, PaymentIntent amount_received (else amount), charge amount
	Currency string

	OrderID        string // metadata.order_id, else client_reference_id
	FailureMessage string // PaymentIntent last_payment_error.message or charge failure_message

	AmountRefunded int64 // charge.amount_refunded
	Refunded       bool  // charge.refunded: fully refunded
}

// VerifyWebhook checks a Stripe-Signature header ("t=…,v1=…[,v1=…]") over
// the raw payload: HMAC-SHA256 of "t.payload" under any configured secret
// (rotation), compared in constant time, with t within ±tolerance of now —
// in both directions, which stripe-go's webhook package does not check (it
// rejects only old timestamps). Only then is the payload parsed. Errors:
// ErrBadSignature, ErrBadPayload.
func (c *Client) VerifyWebhook(payload []byte, sigHeader string, now time.Time) (*Event, error) {
	if len(c.secrets) == 0 {
		return nil, ErrBadSignature
	}
	ts, sigs, ok := parseSignatureHeader(sigHeader)
	if !ok {
		return nil, ErrBadSignature
	}
	skew := now.Sub(time.Unix(ts, 0))
	if skew > c.tolerance || skew < -c.tolerance {
		return nil, ErrBadSignature
	}
	if !c.signatureMatches(ts, payload, sigs) {
		return nil, ErrBadSignature
	}
	ev, err := parseEvent(payload)
	if err != nil {
		return nil, ErrBadPayload
	}
	return ev, nil
}

func (c *Client) signatureMatches(ts int64, payload []byte, sigs [][]byte) bool {
	prefix := strconv.FormatInt(ts, 10) + "."
	matched := false
	for _, secret := range c.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(prefix))
		mac.Write(payload)
		want := mac.Sum(nil)
		for _, sig := range sigs {
			// No early return: every secret and signature is compared.
			if hmac.Equal(want, sig) {
				matched = true
			}
		}
	}
	return matched
}

// parseSignatureHeader reads the one timestamp and the v1 signatures;
// other schemes (v0) are ignored. A header without exactly one valid t or
// without any v1 is malformed.
func parseSignatureHeader(h string) (ts int64, sigs [][]byte, ok bool) {
	if h == "" || len(h) > 4096 {
		return 0, nil, false
	}
	seenT := false
	for _, part := range strings.Split(h, ",") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			return 0, nil, false
		}
		switch k {
		case "t":
			if seenT {
				return 0, nil, false
			}
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				return 0, nil, false
			}
			ts, seenT = n, true
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue
			}
			sigs = append(sigs, sig)
		}
	}
	return ts, sigs, seenT && len(sigs) > 0
}

// SignPayload builds a Stripe-Signature header for payload the way Stripe
// does (v1 = hex HMAC-SHA256 of "t.payload"). Used by tests, the smoke
// command and local tooling that plays Stripe.
func SignPayload(payload []byte, secret string, at time.Time) string {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

func parseEvent(payload []byte) (*Event, error) {
	var raw struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Type    string `json:"type"`
		Created int64  `json:"created"`
		Data    struct {
			Object json.RawMessage `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, err
	}
	if raw.ID == "" || raw.Type == "" || (raw.Object != "" && raw.Object != "event") {
		return nil, errors.New("not an event")
	}
	ev := &Event{ID: raw.ID, Type: raw.Type, Created: time.Unix(raw.Created, 0).UTC()}
	if len(raw.Data.Object) == 0 || string(raw.Data.Object) == "null" {
		return ev, nil
	}
	var obj struct {
		ID                string            `json:"id"`
		Object            string            `json:"object"`
		PaymentIntent     json.RawMessage   `json:"payment_intent"`
		PaymentStatus     string            `json:"payment_status"`
		AmountTotal       *int64            `json:"amount_total"`
		Amount            *int64            `json:"amount"`
		AmountReceived    *int64            `json:"amount_received"`
		AmountRefunded    int64             `json:"amount_refunded"`
		Refunded          bool              `json:"refunded"`
		Currency          string            `json:"currency"`
		Metadata          map[string]string `json:"metadata"`
		ClientReferenceID string            `json:"client_reference_id"`
		FailureMessage    string            `json:"failure_message"`
		LastPaymentError  *struct {
			Message string `json:"message"`
			Code    string `json:"code"`
		} `json:"last_payment_error"`
	}
	if err := json.Unmarshal(raw.Data.Object, &obj); err != nil {
		return nil, err
	}
	ev.ObjectID, ev.ObjectType = obj.ID, obj.Object
	ev.Currency = strings.ToLower(obj.Currency)
	ev.PaymentStatus = obj.PaymentStatus
	ev.OrderID = obj.Metadata["order_id"]
	if ev.OrderID == "" {
		ev.OrderID = obj.ClientReferenceID
	}
	ev.PaymentIntentID = expandableID(obj.PaymentIntent)
	ev.AmountRefunded, ev.Refunded = obj.AmountRefunded, obj.Refunded
	switch obj.Object {
	case "checkout.session":
		ev.CheckoutSessionID = obj.ID
		ev.Amount = deref(obj.AmountTotal)
	case "payment_intent":
		ev.PaymentIntentID = obj.ID
		ev.Amount = deref(obj.AmountReceived)
		if ev.Amount == 0 {
			ev.Amount = deref(obj.Amount)
		}
		if obj.LastPaymentError != nil {
			ev.FailureMessage = obj.LastPaymentError.Message
			if ev.FailureMessage == "" {
				ev.FailureMessage = obj.LastPaymentError.Code
			}
		}
	default: // charge and anything else carrying an amount
		ev.Amount = deref(obj.Amount)
		ev.FailureMessage = obj.FailureMessage
	}
	return ev, nil
}

// expandableID reads a Stripe expandable field: an id string or an object
// with an id.
func expandableID(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.ID
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
