// Package scalar holds the GraphQL scalars smplat binds to Go types.
package scalar

import (
	"fmt"
	"io"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/shopspring/decimal"
)

// MarshalDecimal writes an exact decimal as a string. Values with at most
// two decimals (money) are written with exactly two ("99.00"); finer ones
// (multipliers such as "2.6125") keep their digits.
func MarshalDecimal(d decimal.Decimal) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(FormatDecimal(d)))
	})
}

// FormatDecimal is the string form used by GraphQL.
func FormatDecimal(d decimal.Decimal) string {
	// Money read from numeric(…,2) columns has exponent -2 already: the
	// cheap path. Otherwise compare with its rounding (multipliers).
	if d.Exponent() >= -2 || d.Equal(d.Round(2)) {
		return d.StringFixed(2)
	}
	return d.String()
}

// UnmarshalDecimal accepts a string or a number ("12.50", 12.5, 12).
func UnmarshalDecimal(v any) (decimal.Decimal, error) {
	switch x := v.(type) {
	case string:
		return decimal.NewFromString(x)
	case int:
		return decimal.NewFromInt(int64(x)), nil
	case int64:
		return decimal.NewFromInt(x), nil
	case float64:
		return decimal.NewFromFloat(x), nil
	case interface{ String() string }: // json.Number
		return decimal.NewFromString(x.String())
	default:
		return decimal.Decimal{}, fmt.Errorf("must be a decimal string such as \"12.50\"")
	}
}
