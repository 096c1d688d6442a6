package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// smokeEnv is a getenv for run(): the given variables and nothing else.
func smokeEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func runSmoke(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errw bytes.Buffer
	err = run(context.Background(), append([]string{"smoke"}, args...), smokeEnv(env), &out, &errw)
	return out.String(), errw.String(), err
}

func testDatabaseURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run `make test`, or point it at a Postgres server where the user may create databases")
	}
	return u
}

func TestSmokeInProcessFulfillment(t *testing.T) {
	t.Parallel()
	out, errOut, err := runSmoke(t, map[string]string{"DATABASE_URL": testDatabaseURL(t)}, "fulfillment", "--in-process")
	if err != nil {
		t.Fatalf("smoke fulfillment --in-process: %v\nstderr: %s", err, errOut)
	}
	if !strings.HasPrefix(out, "smoke fulfillment ok: ") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "worker running: true") {
		t.Errorf("stdout = %q, want one ok line with the worker running", out)
	}
}

func TestSmokeInProcessCheckout(t *testing.T) {
	t.Parallel()
	const key = "throwaway-key-4f1c"
	out, errOut, err := runSmoke(t, map[string]string{"DATABASE_URL": testDatabaseURL(t)}, "checkout", "--in-process", "--api-key", key)
	if err != nil {
		t.Fatalf("smoke checkout --in-process: %v\nstderr: %s", err, errOut)
	}
	// The seed's defaults (Essentials, one-time sprint) price at the base.
	if !strings.HasPrefix(out, "smoke checkout ok: ") || strings.Count(out, "\n") != 1 ||
		!strings.Contains(out, "(order SM") || !strings.Contains(out, "99.00 EUR)") {
		t.Errorf("stdout = %q, want one ok line naming the order and its price", out)
	}
	if strings.Contains(out+errOut, key) {
		t.Error("the API key was printed")
	}
}

// TestSmokeInProcessOwnCluster runs --in-process without DATABASE_URL: a
// throwaway cluster from the machine's PostgreSQL binaries.
func TestSmokeInProcessOwnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Postgres cluster")
	}
	if _, err := findPostgresBin(); err != nil {
		t.Skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
	}
	t.Parallel()
	out, errOut, err := runSmoke(t, map[string]string{"CHECKOUT_API_KEY": "x"}, "checkout", "--in-process")
	if err != nil {
		t.Fatalf("smoke checkout --in-process (own cluster): %v\nstderr: %s", err, errOut)
	}
	if !strings.HasPrefix(out, "smoke checkout ok: ") {
		t.Errorf("stdout = %q", out)
	}
}

// fakeDeployment serves the shapes a healthy deployment answers, with
// per-route overrides.
func fakeDeployment(t *testing.T, overrides map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	js := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	metrics := `{"tasks_processed":3,"tasks_failed":0,"tasks_retried":1,"tasks_dead_lettered":0,"loop_errors":0,
		"last_run_started_at":"2026-01-01T00:00:00Z","last_run_finished_at":"2026-01-01T00:00:01Z",
		"last_run_duration_seconds":0.5,"last_error":null,"last_error_at":null}`
	routes := map[string]http.HandlerFunc{
		"GET /healthz":                    js(200, `{"status":"ok","environment":"staging","version":"1"}`),
		"GET /api/v1/fulfillment/health":  js(200, `{"running":true,"poll_interval_seconds":30,"batch_size":25,"metrics":`+metrics+`}`),
		"GET /api/v1/fulfillment/metrics": js(200, metrics),
		"GET /api/v1/fulfillment/observability": js(200, `{"totals":{"processed":3,"failed":0,"retried":1,"dead_lettered":0},
			"per_task_type":{},"events":[]}`),
		"GET /api/v1/products": js(200, `[{"id":"p0","slug":"old","status":"archived"},{"id":"p1","slug":"instagram-growth","status":"active"}]`),
		"GET /api/v1/products/instagram-growth": js(200, `{"id":"p1","slug":"instagram-growth","title":"Instagram Growth Service",
			"status":"active","currency":"EUR","optionGroups":[],"addOns":[],"subscriptionPlans":[],
			"customFields":[{"id":"f1","fieldType":"text","isRequired":true},{"id":"f2","fieldType":"url","isRequired":false}]}`),
		"POST /graphql": func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Variables struct {
					Slug          string `json:"slug"`
					Configuration struct {
						CustomFields []struct{ FieldID, Value string } `json:"customFields"`
					} `json:"configuration"`
				} `json:"variables"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			cf := body.Variables.Configuration.CustomFields
			if body.Variables.Slug != "instagram-growth" || len(cf) != 1 || cf[0].FieldID != "f1" || cf[0].Value == "" {
				js(200, `{"errors":[{"message":"bad quote request","extensions":{"code":"BAD_USER_INPUT"}}]}`)(w, r)
				return
			}
			js(200, `{"data":{"quote":{"productId":"p1","unitPrice":"1277.40","total":"1277.40","currency":"EUR"}}}`)(w, r)
		},
		"POST /api/v1/orders": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-API-Key") != "k-secret" {
				js(401, `{"detail":"Missing or invalid API key","code":"UNAUTHENTICATED"}`)(w, r)
				return
			}
			var body struct {
				Items []struct {
					UnitPrice  json.Number `json:"unit_price"`
					TotalPrice json.Number `json:"total_price"`
				} `json:"items"`
				Notes string `json:"notes"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			if len(body.Items) != 1 || body.Items[0].UnitPrice != "1277.40" || !strings.Contains(body.Notes, "smoke-test") {
				js(422, `{"detail":"bad order","code":"BAD_USER_INPUT"}`)(w, r)
				return
			}
			js(201, `{"id":"o1","order_number":"SM000123","status":"pending","total":1277.40,"currency":"EUR","items":[{}]}`)(w, r)
		},
		"GET /api/v1/payments/observability": js(200, `{"checkout":{"totals":{"succeeded":0,"failed":0}},
			"webhooks":{"totals":{"processed":0,"failed":0}}}`),
	}
	for k, h := range overrides {
		if h == nil {
			delete(routes, k)
		} else {
			routes[k] = h
		}
	}
	mux := http.NewServeMux()
	for pattern, h := range routes {
		mux.Handle(pattern, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestSmokeAgainstAHealthyDeployment(t *testing.T) {
	srv := fakeDeployment(t, nil)
	out, _, err := runSmoke(t, nil, "fulfillment", "--base-url", srv.URL+"/")
	if err != nil || out != "smoke fulfillment ok: "+srv.URL+" (worker running: true, 3 processed, 0 failed, 0 loop errors)\n" {
		t.Errorf("fulfillment: %q, %v", out, err)
	}
	// The key comes from CHECKOUT_API_KEY when --api-key is not given.
	out, errOut, err := runSmoke(t, map[string]string{"CHECKOUT_API_KEY": "k-secret"}, "checkout", "--base-url", srv.URL)
	if err != nil || out != "smoke checkout ok: "+srv.URL+" (order SM000123, 1277.40 EUR)\n" {
		t.Errorf("checkout: %q, %v", out, err)
	}
	if strings.Contains(out+errOut, "k-secret") {
		t.Error("the API key was printed")
	}
}

func TestSmokeFailures(t *testing.T) {
	text := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	jsonBody := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	cases := []struct {
		name      string
		runner    string
		overrides map[string]http.HandlerFunc
		want      []string // every one must be in the error
	}{
		{"fulfillment endpoint missing", "fulfillment",
			map[string]http.HandlerFunc{"GET /api/v1/fulfillment/observability": nil},
			[]string{`step "fulfillment observability"`, "/api/v1/fulfillment/observability", "status 404, want 200"}},
		{"health lacks a key", "fulfillment",
			map[string]http.HandlerFunc{"GET /api/v1/fulfillment/health": jsonBody(200, `{"running":true,"poll_interval_seconds":30,"metrics":{}}`)},
			[]string{`step "fulfillment health"`, "missing keys: batch_size, metrics.last_error", "metrics.tasks_processed"}},
		{"metrics not JSON", "fulfillment",
			map[string]http.HandlerFunc{"GET /api/v1/fulfillment/metrics": text(200, "<html>hello</html>")},
			[]string{`step "fulfillment metrics"`, "/api/v1/fulfillment/metrics", "not JSON", "<html>hello</html>"}},
		{"metrics wrong type", "fulfillment",
			map[string]http.HandlerFunc{"GET /api/v1/fulfillment/metrics": jsonBody(200, `{"tasks_processed":"3","tasks_failed":0,
				"tasks_retried":0,"tasks_dead_lettered":0,"loop_errors":0,"last_run_started_at":null,"last_run_finished_at":null,
				"last_run_duration_seconds":null,"last_error":null,"last_error_at":null}`)},
			[]string{"tasks_processed is string, want number"}},
		{"observability totals missing", "fulfillment",
			map[string]http.HandlerFunc{"GET /api/v1/fulfillment/observability": jsonBody(200, `{"totals":{},"per_task_type":{},"events":[]}`)},
			[]string{"missing keys: totals.dead_lettered, totals.failed, totals.processed, totals.retried"}},
		{"healthz 500", "fulfillment",
			map[string]http.HandlerFunc{"GET /healthz": jsonBody(500, `{"detail":"Internal server error","code":"INTERNAL"}`)},
			[]string{`step "health"`, "/healthz", "status 500, want 200: INTERNAL Internal server error"}},
		{"healthz not ok", "fulfillment",
			map[string]http.HandlerFunc{"GET /healthz": jsonBody(200, `{"status":"degraded"}`)},
			[]string{`status is "degraded"`}},
		{"products missing", "checkout",
			map[string]http.HandlerFunc{"GET /api/v1/products": nil},
			[]string{`step "list products"`, "/api/v1/products", "status 404"}},
		{"no products", "checkout",
			map[string]http.HandlerFunc{"GET /api/v1/products": jsonBody(200, `[]`)},
			[]string{`step "list products"`, "no products"}},
		{"products not a list", "checkout",
			map[string]http.HandlerFunc{"GET /api/v1/products": jsonBody(200, `{"items":[]}`)},
			[]string{"body is a JSON object, want an array"}},
		{"detail lacks customFields", "checkout",
			map[string]http.HandlerFunc{"GET /api/v1/products/instagram-growth": jsonBody(200, `{"id":"p1","slug":"instagram-growth",
				"title":"x","status":"active","currency":"EUR","optionGroups":[],"addOns":[],"subscriptionPlans":[]}`)},
			[]string{`step "product detail"`, "/api/v1/products/instagram-growth", "missing keys: customFields"}},
		{"quote errors", "checkout",
			map[string]http.HandlerFunc{"POST /graphql": jsonBody(200, `{"errors":[{"message":"boom"}],"data":null}`)},
			[]string{`step "quote"`, "/graphql", "GraphQL errors", "boom"}},
		{"price mismatch", "checkout",
			map[string]http.HandlerFunc{"POST /api/v1/orders": jsonBody(422, `{"detail":"items.0.unit_price: expected 99.00","code":"PRICE_MISMATCH"}`)},
			[]string{`step "create order"`, "POST", "/api/v1/orders", "status 422, want 201: PRICE_MISMATCH items.0.unit_price: expected 99.00"}},
		{"order echoes the key", "checkout",
			map[string]http.HandlerFunc{"POST /api/v1/orders": jsonBody(401, `{"detail":"bad key k-secret","code":"UNAUTHENTICATED"}`)},
			[]string{"status 401", "bad key [api key]"}},
		{"payments observability lacks webhooks", "checkout",
			map[string]http.HandlerFunc{"GET /api/v1/payments/observability": jsonBody(200, `{"checkout":{"totals":{"succeeded":0,"failed":0}}}`)},
			[]string{`step "payments observability"`, "missing keys: webhooks.totals.failed, webhooks.totals.processed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := fakeDeployment(t, c.overrides)
			args := []string{c.runner, "--base-url", srv.URL}
			if c.runner == "checkout" {
				args = append(args, "--api-key", "k-secret")
			}
			out, errOut, err := runSmoke(t, nil, args...)
			if err == nil {
				t.Fatalf("smoke %s passed: %q", c.runner, out)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing on failure", out)
			}
			msg := err.Error()
			for _, w := range append([]string{"smoke " + c.runner + " failed", srv.URL}, c.want...) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg+errOut, "k-secret") {
				t.Errorf("the API key was printed: %q", msg)
			}
		})
	}
}

func TestSmokeUsageErrors(t *testing.T) {
	srv := fakeDeployment(t, nil)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "name a runner"},
		{[]string{"payments"}, `unknown runner "payments"`},
		{[]string{"fulfillment"}, "--base-url (or --in-process) is required"},
		{[]string{"fulfillment", "--base-url", "localhost:8000"}, "not an http(s) URL"},
		{[]string{"fulfillment", "--base-url", srv.URL, "--in-process"}, "not both"},
		{[]string{"checkout", "--base-url", srv.URL}, "--api-key (or CHECKOUT_API_KEY) is required"},
		{[]string{"fulfillment", "--base-url", srv.URL, "--require-running=true", "extra"}, `unexpected argument "extra"`},
	}
	for _, c := range cases {
		_, _, err := runSmoke(t, nil, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("smoke %q: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	// A server that cannot be reached names the step and the URL.
	_, _, err := runSmoke(t, nil, "fulfillment", "--base-url", "http://127.0.0.1:1", "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), `step "health": GET http://127.0.0.1:1/healthz: request failed`) {
		t.Errorf("unreachable: %v", err)
	}
	// --require-running fails on a deployment whose worker is off.
	off := fakeDeployment(t, map[string]http.HandlerFunc{"GET /api/v1/fulfillment/health": func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"running":false,"poll_interval_seconds":30,"batch_size":25,"metrics":{"tasks_processed":0,
			"tasks_failed":0,"tasks_retried":0,"tasks_dead_lettered":0,"loop_errors":0,"last_run_started_at":null,
			"last_run_finished_at":null,"last_run_duration_seconds":null,"last_error":null,"last_error_at":null}}`)
	}})
	if _, _, err := runSmoke(t, nil, "fulfillment", "--base-url", off.URL); err != nil {
		t.Errorf("worker off without --require-running: %v", err)
	}
	if _, _, err := runSmoke(t, nil, "fulfillment", "--base-url", off.URL, "--require-running"); err == nil ||
		!strings.Contains(err.Error(), "running is false") {
		t.Errorf("worker off with --require-running: %v", err)
	}
}
