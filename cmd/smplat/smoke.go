package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"time"

	migrate "github.com/rubenv/sql-migrate"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/migrations"
	"github.com/smplat/smplat/store"
)

const smokeUsage = `usage: smplat smoke fulfillment|checkout [flags]

  smplat smoke fulfillment --base-url URL [--timeout 10s] [--require-running]
  smplat smoke checkout    --base-url URL --api-key KEY [--timeout 10s]
  smplat smoke fulfillment|checkout --in-process [--api-key KEY]

--api-key defaults to $CHECKOUT_API_KEY. --in-process runs the whole app in
this process on a private database (a fresh database in $DATABASE_URL's server
when set, else a throwaway cluster from the machine's PostgreSQL binaries),
seeds instagram-growth and runs the same checks without binding a port.
`

// smokeCmd runs `smplat smoke fulfillment|checkout`: the deployment checks
// of the old smoke_fulfillment.py / smoke_checkout.py scripts. It prints one
// line on success; on failure the error names the step, the URL and what was
// wrong. The API key is never printed.
func smokeCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, smokeUsage)
		return errors.New("smoke: name a runner: fulfillment or checkout")
	}
	kind := args[0]
	if kind != "fulfillment" && kind != "checkout" {
		fmt.Fprint(stderr, smokeUsage)
		return fmt.Errorf("smoke: unknown runner %q (fulfillment or checkout)", kind)
	}
	fs := flag.NewFlagSet("smoke "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, smokeUsage) }
	baseURL := fs.String("base-url", "", "base URL of the deployment, e.g. https://api.example.com")
	apiKey := fs.String("api-key", "", "checkout API key (default $CHECKOUT_API_KEY)")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each request")
	inProcess := fs.Bool("in-process", false, "run the app in this process on a private database")
	requireRunning := fs.Bool("require-running", false, "fulfillment: fail unless the worker reports running: true")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("smoke %s: %w", kind, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("smoke %s: unexpected argument %q", kind, fs.Arg(0))
	}
	if *timeout <= 0 {
		return fmt.Errorf("smoke %s: --timeout must be positive", kind)
	}
	key := strings.TrimSpace(*apiKey)
	if key == "" {
		// CHECKOUT_API_KEY may be a rotation list; the first key is current.
		if keys := splitList(getenv("CHECKOUT_API_KEY")); len(keys) > 0 {
			key = keys[0]
		}
	}

	var t *smokeTarget
	switch {
	case *inProcess && *baseURL != "":
		return fmt.Errorf("smoke %s: give --base-url or --in-process, not both", kind)
	case *inProcess:
		if kind == "checkout" && key == "" {
			key = "smoke-" + randomHex(12) // a throwaway key: the app is ours
		}
		app, err := startInProcess(ctx, getenv, key)
		if err != nil {
			return fmt.Errorf("smoke %s --in-process: %w", kind, err)
		}
		defer app.Close()
		t = &smokeTarget{client: app.Client(*timeout), base: app.BaseURL, apiKey: key}
	case *baseURL != "":
		base, err := parseBaseURL(*baseURL)
		if err != nil {
			return fmt.Errorf("smoke %s: --base-url: %w", kind, err)
		}
		t = &smokeTarget{client: &http.Client{Timeout: *timeout}, base: base, apiKey: key}
	default:
		fmt.Fprint(stderr, smokeUsage)
		return fmt.Errorf("smoke %s: --base-url (or --in-process) is required", kind)
	}

	var summary string
	var err error
	if kind == "fulfillment" {
		summary, err = smokeFulfillment(ctx, t, *requireRunning)
	} else {
		if key == "" {
			return errors.New("smoke checkout: --api-key (or CHECKOUT_API_KEY) is required")
		}
		summary, err = smokeCheckout(ctx, t)
	}
	if err != nil {
		return t.redact(fmt.Errorf("smoke %s failed: %w", kind, err))
	}
	fmt.Fprintf(stdout, "smoke %s ok: %s (%s)\n", kind, t.base, summary)
	return nil
}

func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL such as http://localhost:8000", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: give the base URL without a query or fragment", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// smokeTarget is what the checks talk to: a client and a base URL. In URL
// mode the client is a real one; in-process its transport calls the handler.
type smokeTarget struct {
	client *http.Client
	base   string
	apiKey string
}

// stepError is a failed check: the step, the request and what was wrong.
type stepError struct {
	Step, Method, URL, Problem string
}

func (e *stepError) Error() string {
	return fmt.Sprintf("step %q: %s %s: %s", e.Step, e.Method, e.URL, e.Problem)
}

// redact removes the API key from an error, whatever a server echoed.
func (t *smokeTarget) redact(err error) error {
	if t.apiKey == "" || !strings.Contains(err.Error(), t.apiKey) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), t.apiKey, "[api key]"))
}

// request is one call of a check.
type request struct {
	step, method, path string
	body               any  // JSON-encoded when not nil
	withKey            bool // send X-API-Key
	idempotencyKey     string
	wantStatus         int
}

// call sends the request and decodes a JSON reply (numbers as json.Number,
// so money keeps its digits). A transport error, an unexpected status, or a
// body that is not JSON is a stepError.
func (t *smokeTarget) call(ctx context.Context, r request) (any, error) {
	u := t.base + r.path
	fail := func(format string, args ...any) error {
		return &stepError{Step: r.step, Method: r.method, URL: u, Problem: fmt.Sprintf(format, args...)}
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fail("encode request: %v", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, fail("%v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "smplat-smoke/"+version)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.withKey {
		req.Header.Set("X-API-Key", t.apiKey)
	}
	if r.idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.idempotencyKey)
	}
	resp, err := t.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in the message already
		}
		return nil, fail("request failed: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fail("read response: %v", err)
	}
	if resp.StatusCode != r.wantStatus {
		return nil, fail("status %d, want %d%s", resp.StatusCode, r.wantStatus, describeError(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, fail("response is not JSON (Content-Type %q): %s", resp.Header.Get("Content-Type"), excerpt(raw))
	}
	return v, nil
}

// describeError renders the server's {"detail","code"} error, or an excerpt.
func describeError(raw []byte) string {
	var e struct {
		Detail any    `json:"detail"`
		Code   string `json:"code"`
	}
	if json.Unmarshal(raw, &e) == nil && (e.Detail != nil || e.Code != "") {
		s := ": "
		if e.Code != "" {
			s += e.Code + " "
		}
		d, _ := json.Marshal(e.Detail)
		if str, ok := e.Detail.(string); ok {
			d = []byte(str)
		}
		return s + string(d)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return " (empty body)"
	}
	return ": " + excerpt(raw)
}

func excerpt(raw []byte) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// kinds of JSON values a shape check accepts.
const (
	jNumber  = "number"
	jBool    = "boolean"
	jString  = "string"
	jObject  = "object"
	jArray   = "array"
	jNull    = "null"
	jAnyKind = "any"
)

// shape maps dotted key paths to the kinds they may hold, e.g.
// "totals.processed": "number", "last_error": "string|null".
type shape map[string]string

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return jNull
	case json.Number:
		return jNumber
	case bool:
		return jBool
	case string:
		return jString
	case map[string]any:
		return jObject
	case []any:
		return jArray
	}
	return fmt.Sprintf("%T", v)
}

// lookup follows a dotted path through objects.
func lookup(v any, path string) (any, bool) {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// check reports every key of s that v lacks or holds with the wrong kind.
func (s shape) check(v any) []string {
	if kindOf(v) != jObject {
		return []string{fmt.Sprintf("body is a JSON %s, want an object", kindOf(v))}
	}
	paths := make([]string, 0, len(s))
	for p := range s {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var missing, wrong []string
	for _, p := range paths {
		got, ok := lookup(v, p)
		if !ok {
			missing = append(missing, p)
			continue
		}
		want := s[p]
		if want == jAnyKind {
			continue
		}
		k := kindOf(got)
		if !strings.Contains("|"+want+"|", "|"+k+"|") {
			wrong = append(wrong, fmt.Sprintf("%s is %s, want %s", p, k, strings.ReplaceAll(want, "|", " or ")))
		}
	}
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, "missing keys: "+strings.Join(missing, ", "))
	}
	return append(problems, wrong...)
}

// getShaped is a GET whose JSON reply must have the shape.
func (t *smokeTarget) getShaped(ctx context.Context, step, path string, s shape, withKey bool) (map[string]any, error) {
	v, err := t.call(ctx, request{step: step, method: http.MethodGet, path: path, withKey: withKey, wantStatus: http.StatusOK})
	if err != nil {
		return nil, err
	}
	if problems := s.check(v); len(problems) > 0 {
		return nil, &stepError{Step: step, Method: http.MethodGet, URL: t.base + path, Problem: strings.Join(problems, "; ")}
	}
	return v.(map[string]any), nil
}

// The fulfillment shapes of SPEC §7.
var (
	fulfillmentMetricsShape = shape{
		"tasks_processed":           jNumber,
		"tasks_failed":              jNumber,
		"tasks_retried":             jNumber,
		"tasks_dead_lettered":       jNumber,
		"loop_errors":               jNumber,
		"last_run_started_at":       "string|null",
		"last_run_finished_at":      "string|null",
		"last_run_duration_seconds": "number|null",
		"last_error":                "string|null",
		"last_error_at":             "string|null",
	}
	fulfillmentHealthShape = func() shape {
		s := shape{"running": jBool, "poll_interval_seconds": jNumber, "batch_size": jNumber, "metrics": jObject}
		for k, v := range fulfillmentMetricsShape {
			s["metrics."+k] = v
		}
		return s
	}()
	fulfillmentObservabilityShape = shape{
		"totals":               jObject,
		"totals.processed":     jNumber,
		"totals.failed":        jNumber,
		"totals.retried":       jNumber,
		"totals.dead_lettered": jNumber,
		"per_task_type":        jObject,
		"events":               jArray,
	}
	healthzShape          = shape{"status": jString}
	paymentsObservability = shape{"checkout.totals.succeeded": jNumber, "checkout.totals.failed": jNumber, "webhooks.totals.processed": jNumber, "webhooks.totals.failed": jNumber}
	productDetailShape    = shape{"id": jString, "slug": jString, "title": jString, "status": jString, "currency": jString, "optionGroups": jArray, "addOns": jArray, "customFields": jArray, "subscriptionPlans": jArray}
	orderShape            = shape{"id": jString, "order_number": jString, "status": jString, "total": jNumber, "currency": jString, "items": jArray}
	quoteShape            = shape{"data.quote.productId": jString, "data.quote.unitPrice": jString, "data.quote.total": jString, "data.quote.currency": jString}
	healthzOK             = "ok"
)

// smokeFulfillment checks /healthz and the three fulfillment endpoints.
func smokeFulfillment(ctx context.Context, t *smokeTarget, requireRunning bool) (string, error) {
	if err := t.healthz(ctx); err != nil {
		return "", err
	}
	health, err := t.getShaped(ctx, "fulfillment health", "/api/v1/fulfillment/health", fulfillmentHealthShape, false)
	if err != nil {
		return "", err
	}
	running := health["running"].(bool)
	if requireRunning && !running {
		return "", &stepError{Step: "fulfillment health", Method: http.MethodGet, URL: t.base + "/api/v1/fulfillment/health",
			Problem: "running is false: the worker is not running (set FULFILLMENT_WORKER_ENABLED=true or run `smplat worker`)"}
	}
	metrics, err := t.getShaped(ctx, "fulfillment metrics", "/api/v1/fulfillment/metrics", fulfillmentMetricsShape, false)
	if err != nil {
		return "", err
	}
	if _, err := t.getShaped(ctx, "fulfillment observability", "/api/v1/fulfillment/observability", fulfillmentObservabilityShape, false); err != nil {
		return "", err
	}
	return fmt.Sprintf("worker running: %t, %s processed, %s failed, %s loop errors",
		running, metrics["tasks_processed"], metrics["tasks_failed"], metrics["loop_errors"]), nil
}

func (t *smokeTarget) healthz(ctx context.Context) error {
	h, err := t.getShaped(ctx, "health", "/healthz", healthzShape, false)
	if err != nil {
		return err
	}
	if h["status"] != healthzOK {
		return &stepError{Step: "health", Method: http.MethodGet, URL: t.base + "/healthz", Problem: fmt.Sprintf("status is %q, want \"ok\"", h["status"])}
	}
	return nil
}

// smokeNote marks the orders a smoke run creates, so operators can tell
// them apart (and filter them out of reports).
const smokeNote = "smoke-test: created by smplat smoke checkout"

// smokeValue is what the checkout runner enters in a custom field.
func smokeValue(fieldType string) string {
	switch strings.ToLower(fieldType) {
	case "url":
		return "https://example.com/smoke-test"
	case "number":
		return "1"
	}
	return "smoke-test"
}

// smokeCheckout lists products, reads an active one, quotes it, orders it
// with the key at the quoted price, and reads payments observability.
func smokeCheckout(ctx context.Context, t *smokeTarget) (string, error) {
	const listPath = "/api/v1/products"
	v, err := t.call(ctx, request{step: "list products", method: http.MethodGet, path: listPath, wantStatus: http.StatusOK})
	if err != nil {
		return "", err
	}
	listFail := func(format string, args ...any) error {
		return &stepError{Step: "list products", Method: http.MethodGet, URL: t.base + listPath, Problem: fmt.Sprintf(format, args...)}
	}
	list, ok := v.([]any)
	if !ok {
		return "", listFail("body is a JSON %s, want an array of products", kindOf(v))
	}
	if len(list) == 0 {
		return "", listFail("no products: seed one (smplat seed --slug instagram-growth)")
	}
	slug := ""
	for _, p := range list {
		m, _ := p.(map[string]any)
		s, _ := m["slug"].(string)
		st, _ := m["status"].(string)
		if s != "" && strings.EqualFold(st, "active") {
			slug = s
			break
		}
	}
	if slug == "" {
		return "", listFail("none of the %d products is active (each needs a slug and status \"active\")", len(list))
	}

	detailPath := "/api/v1/products/" + url.PathEscape(slug)
	detail, err := t.getShaped(ctx, "product detail", detailPath, productDetailShape, false)
	if err != nil {
		return "", err
	}
	productID := detail["id"].(string)

	// The configuration: values for required custom fields, and the first
	// option of any required multiple-choice group (the server picks
	// defaults for single-choice groups and plans).
	type fieldValue struct {
		ID    string `json:"id"`
		Value string `json:"value"`
	}
	var fields []fieldValue
	var gqlFields []map[string]string
	for _, f := range detail["customFields"].([]any) {
		m, _ := f.(map[string]any)
		id, _ := m["id"].(string)
		if req, _ := m["isRequired"].(bool); !req || id == "" {
			continue
		}
		ft, _ := m["fieldType"].(string)
		val := smokeValue(ft)
		fields = append(fields, fieldValue{ID: id, Value: val})
		gqlFields = append(gqlFields, map[string]string{"fieldId": id, "value": val})
	}
	type groupOption struct {
		GroupID  string `json:"groupId"`
		OptionID string `json:"optionId"`
	}
	var picked []groupOption
	var optionIDs []string
	for _, g := range detail["optionGroups"].([]any) {
		m, _ := g.(map[string]any)
		gt, _ := m["groupType"].(string)
		req, _ := m["isRequired"].(bool)
		opts, _ := m["options"].([]any)
		if !req || !strings.EqualFold(gt, "multiple") || len(opts) == 0 {
			continue
		}
		gid, _ := m["id"].(string)
		o, _ := opts[0].(map[string]any)
		oid, _ := o["id"].(string)
		picked = append(picked, groupOption{GroupID: gid, OptionID: oid})
		optionIDs = append(optionIDs, oid)
	}

	configuration := map[string]any{}
	if len(gqlFields) > 0 {
		configuration["customFields"] = gqlFields
	}
	if len(optionIDs) > 0 {
		configuration["optionIds"] = optionIDs
	}
	gql := map[string]any{
		"query": `query SmokeQuote($slug: String!, $configuration: ConfigurationInput) {
  quote(productSlug: $slug, quantity: 1, configuration: $configuration) { productId unitPrice total currency }
}`,
		"variables": map[string]any{"slug": slug, "configuration": configuration},
	}
	qv, err := t.call(ctx, request{step: "quote", method: http.MethodPost, path: "/graphql", body: gql, wantStatus: http.StatusOK})
	if err != nil {
		return "", err
	}
	quoteFail := func(format string, args ...any) error {
		return &stepError{Step: "quote", Method: http.MethodPost, URL: t.base + "/graphql", Problem: fmt.Sprintf(format, args...)}
	}
	if errs, ok := lookup(qv, "errors"); ok && errs != nil {
		b, _ := json.Marshal(errs)
		return "", quoteFail("GraphQL errors: %s", excerpt(b))
	}
	if problems := quoteShape.check(qv); len(problems) > 0 {
		return "", quoteFail("%s", strings.Join(problems, "; "))
	}
	quote, _ := lookup(qv, "data.quote")
	q := quote.(map[string]any)
	unit, err1 := decimal.NewFromString(q["unitPrice"].(string))
	total, err2 := decimal.NewFromString(q["total"].(string))
	if err1 != nil || err2 != nil {
		return "", quoteFail("unitPrice %q / total %q are not decimals", q["unitPrice"], q["total"])
	}
	if q["productId"] != productID {
		return "", quoteFail("quote is for product %v, the detail says %s", q["productId"], productID)
	}

	item := map[string]any{
		"product_id":  productID,
		"quantity":    1,
		"unit_price":  json.Number(unit.StringFixed(2)),
		"total_price": json.Number(total.StringFixed(2)),
		"attributes":  map[string]any{"customFields": fields},
	}
	if fields == nil {
		item["attributes"] = map[string]any{"customFields": []fieldValue{}}
	}
	if len(picked) > 0 {
		item["selected_options"] = map[string]any{"options": picked}
	}
	const orderPath = "/api/v1/orders"
	ov, err := t.call(ctx, request{
		step: "create order", method: http.MethodPost, path: orderPath, withKey: true,
		idempotencyKey: "smoke-" + randomHex(16), wantStatus: http.StatusCreated,
		body: map[string]any{"items": []any{item}, "notes": smokeNote},
	})
	if err != nil {
		return "", err
	}
	orderFail := func(format string, args ...any) error {
		return &stepError{Step: "create order", Method: http.MethodPost, URL: t.base + orderPath, Problem: fmt.Sprintf(format, args...)}
	}
	if problems := orderShape.check(ov); len(problems) > 0 {
		return "", orderFail("%s", strings.Join(problems, "; "))
	}
	order := ov.(map[string]any)
	orderTotal, err := decimal.NewFromString(order["total"].(json.Number).String())
	if err != nil || !orderTotal.Equal(total) {
		return "", orderFail("order total %s differs from the quoted %s", order["total"], total.StringFixed(2))
	}
	if n := len(order["items"].([]any)); n != 1 {
		return "", orderFail("order has %d items, want 1", n)
	}

	if _, err := t.getShaped(ctx, "payments observability", "/api/v1/payments/observability", paymentsObservability, true); err != nil {
		return "", err
	}
	return fmt.Sprintf("order %s, %s %s", order["order_number"], orderTotal.StringFixed(2), order["currency"]), nil
}

// inProcessApp is the whole app in this process: a private database, the
// store migrated and seeded, graph.NewServer's handler and a running
// fulfillment worker. Requests reach the handler through the client's
// transport; no port is bound.
type inProcessApp struct {
	BaseURL string
	handler http.Handler
	cleanup []func() // run in reverse order by Close
}

// inProcessBase is the base URL the in-process checks print and send; it
// never resolves, since the transport calls the handler directly.
const inProcessBase = "http://smplat.in-process"

func startInProcess(ctx context.Context, getenv func(string) string, checkoutKey string) (app *inProcessApp, err error) {
	app = &inProcessApp{BaseURL: inProcessBase}
	defer func() {
		if err != nil {
			app.Close()
			app = nil
		}
	}()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	dsn, err := app.privateDatabase(ctx, getenv("DATABASE_URL"))
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, dsn, 10)
	if err != nil {
		return nil, fmt.Errorf("connect to the private database: %w", err)
	}
	app.cleanup = append(app.cleanup, func() { db.Close() })
	if _, err := migrate.ExecContext(ctx, db.DB, "postgres", migrations.Source(), migrate.Up); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	st := store.New(db)
	if _, err := st.SeedProduct(ctx, store.Seeds["instagram-growth"]); err != nil {
		return nil, err
	}

	var checkout []string
	if checkoutKey != "" {
		checkout = []string{checkoutKey}
	}
	worker := fulfillment.New(st, fulfillment.Config{PollInterval: time.Second}, logger)
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		_ = worker.Run(workerCtx)
	}()
	app.cleanup = append(app.cleanup, func() { stopWorker(); <-workerDone })

	app.handler = graph.NewServer(graph.ServerConfig{
		Store:       st,
		Logger:      logger,
		Keys:        auth.NewKeys(checkout, []string{"smoke-admin-" + randomHex(16)}),
		Environment: "development",
		Version:     version,
		Worker:      worker,
	})

	// Wait (briefly) for the worker to report running, as a deployment with
	// FULFILLMENT_WORKER_ENABLED=true would.
	for deadline := time.Now().Add(5 * time.Second); !worker.Running() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	return app, nil
}

// privateDatabase creates the database the run uses: a fresh
// smplat_smoke_<random> in DATABASE_URL's server when given (dropped by
// Close), else a throwaway cluster (stopped and removed by Close).
func (app *inProcessApp) privateDatabase(ctx context.Context, databaseURL string) (string, error) {
	if strings.TrimSpace(databaseURL) == "" {
		c, err := startPGCluster(ctx)
		if err != nil {
			return "", fmt.Errorf("throwaway Postgres cluster: %w", err)
		}
		app.cleanup = append(app.cleanup, c.Stop)
		databaseURL = c.URL("postgres")
	}
	dsn, err := normalizeDSN(databaseURL)
	if err != nil {
		return "", err
	}
	admin, err := sql.Open("postgres", dsn)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	name := "smplat_smoke_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s in DATABASE_URL's server (the user must be allowed to create databases): %w", name, err)
	}
	app.cleanup = append(app.cleanup, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name) // before Postgres 13
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// Client returns a client whose transport serves each request with the
// app's handler.
func (app *inProcessApp) Client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: handlerTransport{app.handler}}
}

// Close stops the worker, closes the pool and drops the private database
// (or stops the cluster), in the reverse order of their start.
func (app *inProcessApp) Close() {
	for i := len(app.cleanup) - 1; i >= 0; i-- {
		app.cleanup[i]()
	}
	app.cleanup = nil
}

// handlerTransport is an http.RoundTripper that calls a handler in
// process, turning the client request into a server request.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:0"
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sreq)
	if req.Body != nil {
		req.Body.Close()
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
