package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// JSON is a jsonb column kept as raw bytes; nil is SQL NULL.
type JSON json.RawMessage

// Scan implements sql.Scanner.
func (j *JSON) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*j = nil
	case []byte:
		*j = append(JSON(nil), v...)
	case string:
		*j = JSON(v)
	default:
		return fmt.Errorf("store.JSON: cannot scan %T", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (j JSON) Value() (driver.Value, error) {
	if len(j) == 0 {
		return nil, nil
	}
	return []byte(j), nil
}

// MarshalJSON writes the raw document (null when empty).
func (j JSON) MarshalJSON() ([]byte, error) {
	if len(j) == 0 {
		return []byte("null"), nil
	}
	return j, nil
}

// UnmarshalJSON keeps the raw document.
func (j *JSON) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = nil
		return nil
	}
	*j = append(JSON(nil), b...)
	return nil
}

// MarshalGQL writes the document as a GraphQL JSON scalar.
func (j JSON) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL accepts any JSON value.
func (j *JSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	*j = b
	return nil
}

// enum is the shared behaviour of smplat's enums: lowercase labels in
// Postgres and REST, UPPER_CASE in GraphQL, input accepted in either case.
type enum interface {
	~string
}

func parseEnum[T enum](field, v string, allowed []T) (T, error) {
	l := strings.ToLower(strings.TrimSpace(v))
	for _, a := range allowed {
		if strings.ToLower(string(a)) == l {
			return a, nil
		}
	}
	labels := make([]string, len(allowed))
	for i, a := range allowed {
		labels[i] = string(a)
	}
	var zero T
	return zero, BadInput(field, "must be one of %s", strings.Join(labels, ", "))
}

func marshalEnumGQL(w io.Writer, v string) {
	_, _ = io.WriteString(w, strconv.Quote(strings.ToUpper(v)))
}

func unmarshalEnumGQL[T enum](dst *T, field string, v any, allowed []T) error {
	s, ok := v.(string)
	if !ok {
		return BadInput(field, "must be a string")
	}
	parsed, err := parseEnum(field, s, allowed)
	if err != nil {
		return err
	}
	*dst = parsed
	return nil
}

// ProductStatus is a product's lifecycle state.
type ProductStatus string

// Product statuses.
const (
	ProductDraft    ProductStatus = "draft"
	ProductActive   ProductStatus = "active"
	ProductArchived ProductStatus = "archived"
)

// ProductStatuses lists every product status.
var ProductStatuses = []ProductStatus{ProductDraft, ProductActive, ProductArchived}

// ParseProductStatus accepts lower- or upper-case labels.
func ParseProductStatus(field, v string) (ProductStatus, error) {
	return parseEnum(field, v, ProductStatuses)
}

func (e ProductStatus) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *ProductStatus) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "status", v, ProductStatuses)
}

// Currency is an ISO currency code.
type Currency string

// Currencies smplat sells in.
const (
	EUR Currency = "EUR"
	USD Currency = "USD"
)

// Currencies lists every currency.
var Currencies = []Currency{EUR, USD}

// ParseCurrency accepts lower- or upper-case codes.
func ParseCurrency(field, v string) (Currency, error) { return parseEnum(field, v, Currencies) }

func (e Currency) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *Currency) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "currency", v, Currencies)
}

// GroupType says whether an option group takes one option or several.
type GroupType string

// Option group types.
const (
	GroupSingle   GroupType = "single"
	GroupMultiple GroupType = "multiple"
)

// GroupTypes lists every group type.
var GroupTypes = []GroupType{GroupSingle, GroupMultiple}

func (e GroupType) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *GroupType) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "groupType", v, GroupTypes)
}

// FieldType is the type of a custom field's value.
type FieldType string

// Custom field types.
const (
	FieldText   FieldType = "text"
	FieldURL    FieldType = "url"
	FieldNumber FieldType = "number"
)

// FieldTypes lists every custom field type.
var FieldTypes = []FieldType{FieldText, FieldURL, FieldNumber}

func (e FieldType) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *FieldType) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "fieldType", v, FieldTypes)
}

// BillingCycle is a subscription plan's cadence.
type BillingCycle string

// Billing cycles.
const (
	OneTime   BillingCycle = "one_time"
	Monthly   BillingCycle = "monthly"
	Quarterly BillingCycle = "quarterly"
	Annual    BillingCycle = "annual"
)

// BillingCycles lists every billing cycle.
var BillingCycles = []BillingCycle{OneTime, Monthly, Quarterly, Annual}

func (e BillingCycle) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *BillingCycle) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "billingCycle", v, BillingCycles)
}
