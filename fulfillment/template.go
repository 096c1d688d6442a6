package fulfillment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Templates: strings of an execution block may hold {{ path }} placeholders
// over the task's context — order, item, product, task and env (SPEC §9).
//
//   - A path is dot-separated: {{ order.order_number }}, {{ item.attributes.customFields.0.value }}.
//     Keys are the snapshot's column names (snake_case); a camelCase segment
//     that is not found is retried in snake_case ({{ order.orderNumber }}).
//   - A string that is exactly one placeholder keeps the value's JSON type
//     ("{{ item.quantity }}" renders the number 2, "{{ item.attributes }}" an object).
//   - Placeholders inside a longer string are interpolated: strings as they
//     are, null as "", numbers and booleans as JSON text, objects and arrays as JSON.
//   - env holds only the variables listed in the block's environment_keys.
//
// An unknown path is a configuration error (permanent: retrying cannot help).

var placeholder = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// TemplateError is a rendering failure. Permanent errors come from the
// configuration (an unknown path, an env key not listed); the others (an
// environment variable listed but empty) may heal with a redeploy.
type TemplateError struct {
	Path      string
	Reason    string
	Permanent bool
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("template {{ %s }}: %s", e.Path, e.Reason)
}

// missingEnv marks a listed environment variable that is empty.
type missingEnv struct{}

// Render renders every string in v (recursively through objects and arrays;
// keys are left alone) against data.
func Render(v any, data map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return RenderString(x, data)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := Render(val, data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			r, err := Render(val, data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// RenderString renders one string: the value itself when s is exactly one
// placeholder, else the interpolated string.
func RenderString(s string, data map[string]any) (any, error) {
	locs := placeholder.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s, nil
	}
	if len(locs) == 1 && locs[0][0] == 0 && locs[0][1] == len(s) {
		return lookup(data, s[locs[0][2]:locs[0][3]])
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		b.WriteString(s[last:l[0]])
		v, err := lookup(data, s[l[2]:l[3]])
		if err != nil {
			return nil, err
		}
		b.WriteString(Stringify(v))
		last = l[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// Stringify is how a value is written inside a longer string (and as a
// header, query or form value).
func Stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		return strconv.Itoa(x)
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

func lookup(data map[string]any, path string) (any, error) {
	path = strings.TrimSpace(path)
	if path == "" {
		return nil, &TemplateError{Path: path, Reason: "empty path", Permanent: true}
	}
	parts := strings.Split(path, ".")
	var cur any = data
	for i, part := range parts {
		switch node := cur.(type) {
		case map[string]any:
			v, ok := node[part]
			if !ok {
				if snake := snakeCase(part); snake != part {
					v, ok = node[snake]
				}
			}
			if !ok {
				if i == 1 && parts[0] == "env" {
					return nil, &TemplateError{Path: path, Reason: "not listed in environment_keys", Permanent: true}
				}
				return nil, &TemplateError{Path: path, Reason: "unknown path", Permanent: true}
			}
			if _, empty := v.(missingEnv); empty {
				return nil, &TemplateError{Path: path, Reason: "environment variable is not set"}
			}
			cur = v
		case []any:
			idx, err := strconv.Atoi(part)
			if err != nil || idx < 0 || idx >= len(node) {
				return nil, &TemplateError{Path: path, Reason: "index out of range", Permanent: true}
			}
			cur = node[idx]
		default:
			return nil, &TemplateError{Path: path, Reason: "unknown path", Permanent: true}
		}
	}
	return cur, nil
}

// snakeCase turns orderNumber into order_number.
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeJSON decodes a document keeping numbers exact (json.Number), so
// money renders as written ("1277.40" stays 1277.40).
func decodeJSON(raw []byte) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// envData builds the env part of the template context from the listed keys
// only (SPEC §9 fix: never the whole environment).
func envData(keys []string, getenv func(string) string) map[string]any {
	env := make(map[string]any, len(keys))
	for _, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		v := ""
		if getenv != nil {
			v = getenv(k)
		}
		if v == "" {
			env[k] = missingEnv{}
		} else {
			env[k] = v
		}
	}
	return env
}

// isPermanent reports whether err is a configuration error retries cannot fix.
func isPermanent(err error) bool {
	var te *TemplateError
	if errors.As(err, &te) {
		return te.Permanent
	}
	var ce *configError
	return errors.As(err, &ce)
}

// configError is an invalid execution block.
type configError struct{ msg string }

func (e *configError) Error() string { return "invalid execution: " + e.msg }
