// Package graphtest holds helpers shared by the HTTP-level tests.
package graphtest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Normalize replaces the values that change per run (ids, timestamps) so
// the rest of a JSON document can be pinned byte for byte against a golden
// file; numbers keep their exact text (99.00 stays 99.00) and keys are
// sorted.
func Normalize(t testing.TB, body []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, body)
	}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "id":
					x[k] = "ID"
				case "createdAt", "updatedAt":
					if s, ok := val.(string); !ok || len(s) < 20 {
						t.Errorf("%s is not an ISO timestamp: %v", k, val)
					}
					x[k] = "TIMESTAMP"
				default:
					walk(val)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}
