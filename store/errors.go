package store

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"

	"github.com/lib/pq"
)

// Code is one entry of the error catalog shared by GraphQL (extensions.code)
// and the REST shims (code). Each code maps to one HTTP status; see Status.
type Code string

// The error catalog (SPEC §12). README.md lists it for clients.
const (
	CodeUnauthenticated      Code = "UNAUTHENTICATED"       // 401: missing or wrong API key
	CodeForbidden            Code = "FORBIDDEN"             // 403: right key, wrong role
	CodeNotFound             Code = "NOT_FOUND"             // 404
	CodeBadUserInput         Code = "BAD_USER_INPUT"        // 422, with the field path
	CodeConflict             Code = "CONFLICT"              // 409 (400 where compat requires)
	CodePriceMismatch        Code = "PRICE_MISMATCH"        // 422, with the expected price
	CodeIdempotencyConflict  Code = "IDEMPOTENCY_CONFLICT"  // 422: same key, different body
	CodeIdempotencyInFlight  Code = "IDEMPOTENCY_IN_FLIGHT" // 409: same key still running
	CodePaymentProviderError Code = "PAYMENT_PROVIDER_ERROR"
	CodeUnavailable          Code = "UNAVAILABLE" // 503
	CodeInternal             Code = "INTERNAL"    // 500, no detail
)

// Status is the HTTP status of a code.
func (c Code) Status() int {
	switch c {
	case CodeUnauthenticated:
		return 401
	case CodeForbidden:
		return 403
	case CodeNotFound:
		return 404
	case CodeBadUserInput, CodePriceMismatch, CodeIdempotencyConflict:
		return 422
	case CodeConflict, CodeIdempotencyInFlight:
		return 409
	case CodePaymentProviderError:
		return 502
	case CodeUnavailable:
		return 503
	default:
		return 500
	}
}

// Error is the one error vocabulary of smplat. Message is safe to show to a
// client; Field is the input path (e.g. "input.items.0.quantity") when the
// error is about one input; Extra carries code-specific details (e.g. the
// expected price of a PRICE_MISMATCH).
type Error struct {
	Code    Code
	Message string
	Field   string
	Extra   map[string]any
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf builds a store.Error.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// BadInput builds a BAD_USER_INPUT error for one field.
func BadInput(field, format string, args ...any) *Error {
	return Errorf(CodeBadUserInput, field, format, args...)
}

// AsError returns the store.Error inside err, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// constraintFields maps constraint names to the input field they guard, so a
// violation names the field the client sent.
var constraintFields = map[string]struct {
	code  Code
	field string
	msg   string
}{
	"products_slug_key":                                 {CodeConflict, "slug", "Product with this slug already exists"},
	"product_subscription_plans_one_default":            {CodeBadUserInput, "isDefault", "a product has at most one default plan"},
	"products_base_price_check":                         {CodeBadUserInput, "basePrice", "must not be negative"},
	"product_subscription_plans_price_multiplier_check": {CodeBadUserInput, "priceMultiplier", "must be greater than zero"},
	"order_items_quantity_check":                        {CodeBadUserInput, "quantity", "must be at least 1"},
}

// mapError turns Postgres constraint violations into store.Errors:
// unique (23505) → CONFLICT, foreign key (23503) and check (23514) →
// BAD_USER_INPUT, each with the field when the constraint is known.
func mapError(err error) error {
	if err == nil {
		return nil
	}
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return err
	}
	if m, ok := constraintFields[pqErr.Constraint]; ok {
		return &Error{Code: m.code, Field: m.field, Message: m.msg}
	}
	switch pqErr.Code {
	case "23505":
		return &Error{Code: CodeConflict, Message: "already exists"}
	case "23503":
		return &Error{Code: CodeBadUserInput, Message: "refers to a record that does not exist"}
	case "23514", "22P02", "22003":
		return &Error{Code: CodeBadUserInput, Message: "invalid value"}
	}
	return err
}

var dsnPassword = regexp.MustCompile(`(://[^:/@\s]+:)[^@\s]+@`)

// RedactError removes DSN passwords from an error's text.
func RedactError(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(RedactDSN(err.Error()))
}

// RedactDSN hides the password of every URL-form DSN in s.
func RedactDSN(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx@")
}
