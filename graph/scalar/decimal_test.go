package scalar

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestFormatDecimal(t *testing.T) {
	for in, want := range map[string]string{
		"99": "99.00", "99.00": "99.00", "0": "0.00", "-150": "-150.00", "2.6": "2.60",
		"1277.40": "1277.40", "2.6125": "2.6125", "9.5000": "9.50", "-0.005": "-0.005",
	} {
		if got := FormatDecimal(decimal.RequireFromString(in)); got != want {
			t.Errorf("FormatDecimal(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestUnmarshalDecimal(t *testing.T) {
	for _, v := range []any{"12.50", 12.5, int64(12), 12} {
		if _, err := UnmarshalDecimal(v); err != nil {
			t.Errorf("%v: %v", v, err)
		}
	}
	for _, v := range []any{"abc", true, nil} {
		if _, err := UnmarshalDecimal(v); err == nil {
			t.Errorf("%v accepted", v)
		}
	}
}
