package fulfillment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxStoredResponse caps how much of a provider's reply is read and kept in
// a task's result: a provider answering with megabytes neither fills memory
// nor the database.
const MaxStoredResponse = 16 << 10

// DefaultHTTPTimeout applies when an http block names no timeout_seconds.
const DefaultHTTPTimeout = 30 * time.Second

// httpSpec is an http execution block after rendering (SPEC §9).
type httpSpec struct {
	Method           string          `json:"method"`
	URL              string          `json:"url"`
	Headers          map[string]any  `json:"headers"`
	Query            map[string]any  `json:"query"`
	Body             json.RawMessage `json:"body"`
	TimeoutSeconds   *float64        `json:"timeout_seconds"`
	SuccessStatuses  []int           `json:"success_statuses"`
	SuccessStatusMin *int            `json:"success_status_min"`
	SuccessStatusMax *int            `json:"success_status_max"`
}

func (s *httpSpec) success(code int) bool {
	if len(s.SuccessStatuses) > 0 {
		for _, c := range s.SuccessStatuses {
			if c == code {
				return true
			}
		}
		return false
	}
	lo, hi := 200, 299
	if s.SuccessStatusMin != nil {
		lo = *s.SuccessStatusMin
	}
	if s.SuccessStatusMax != nil {
		hi = *s.SuccessStatusMax
	}
	return code >= lo && code <= hi
}

// HTTPExecutor calls a provider's HTTP endpoint as the block describes:
// method (POST), url, headers, query, body (objects sent as JSON, strings
// as they are), timeout_seconds (30), success_statuses or
// success_status_min/max (default 2xx). The reply's status and up to
// MaxStoredResponse bytes of its body are stored in result.response. Any
// failure (network, timeout, unexpected status) is retried by the worker;
// a bad block or template is permanent.
type HTTPExecutor struct{}

// Execute implements Executor.
func (HTTPExecutor) Execute(ctx context.Context, job *Job) Outcome {
	var spec httpSpec
	if err := renderBlock(job, &spec); err != nil {
		return failed(err, nil)
	}
	req, timeout, err := spec.request(ctx)
	if err != nil {
		return failed(err, nil)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req = req.WithContext(ctx)
	start := time.Now()
	resp, err := job.Client.Do(req)
	if err != nil {
		return failed(callError(ctx, req.Method, spec.URL, timeout, err), nil)
	}
	defer resp.Body.Close()
	body, truncated, readErr := readCapped(resp.Body, MaxStoredResponse)
	response := map[string]any{"status": resp.StatusCode, "truncated": truncated,
		"duration_ms": time.Since(start).Milliseconds(), "body": storedBody(body, truncated)}
	result := mustJSON(map[string]any{"response": response})
	if readErr != nil && !truncated {
		return failed(callError(ctx, req.Method, spec.URL, timeout, readErr), result)
	}
	if !spec.success(resp.StatusCode) {
		return failed(fmt.Errorf("%s %s: unexpected status %d", req.Method, redactURL(spec.URL), resp.StatusCode), result)
	}
	return Outcome{Kind: Complete, Result: result}
}

func (s *httpSpec) request(ctx context.Context) (*http.Request, time.Duration, error) {
	method := strings.ToUpper(strings.TrimSpace(s.Method))
	if method == "" {
		method = http.MethodPost
	}
	u, err := url.Parse(strings.TrimSpace(s.URL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, 0, &configError{msg: fmt.Sprintf("url %q is not an absolute http(s) URL", redactURL(s.URL))}
	}
	if len(s.Query) > 0 {
		q := u.Query()
		for k, v := range s.Query {
			q.Set(k, Stringify(v))
		}
		u.RawQuery = q.Encode()
	}
	var body io.Reader
	contentType := ""
	if len(s.Body) > 0 && string(s.Body) != "null" {
		var str string
		if json.Unmarshal(s.Body, &str) == nil {
			body = strings.NewReader(str)
			contentType = "text/plain; charset=utf-8"
		} else {
			body = bytes.NewReader(s.Body)
			contentType = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, 0, &configError{msg: err.Error()}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range s.Headers {
		req.Header.Set(k, Stringify(v))
	}
	return req, timeoutOf(s.TimeoutSeconds, DefaultHTTPTimeout), nil
}

// callError describes a failed call without the URL's query or any header.
func callError(ctx context.Context, method, rawURL string, timeout time.Duration, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: timed out after %s", method, redactURL(rawURL), timeout)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("%s %s: %w", method, redactURL(rawURL), err)
}

// readCapped reads at most limit bytes; truncated reports that there was more.
func readCapped(r io.Reader, limit int) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		return b[:limit], true, err
	}
	return b, false, err
}

// storedBody keeps a JSON reply as JSON and anything else as (valid UTF-8) text.
func storedBody(b []byte, truncated bool) any {
	if !truncated {
		if v, err := decodeJSON(b); err == nil && v != nil {
			return v
		}
	}
	return strings.ToValidUTF8(string(b), string(utf8.RuneError))
}
