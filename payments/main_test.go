package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/graph/rest"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// stripe-mock: STRIPE_MOCK_URL when set, else a stripe-mock binary (PATH or
// $(go env GOPATH)/bin) started once on a free port for the whole run. A test
// that needs it and cannot have it fails with instructions; it never skips.
var (
	mockOnce sync.Once
	mockURL  string
	mockErr  error
	mockCmd  *exec.Cmd
)

func TestMain(m *testing.M) {
	code := m.Run()
	if mockCmd != nil && mockCmd.Process != nil {
		_ = mockCmd.Process.Kill()
		_ = mockCmd.Wait()
	}
	os.Exit(code)
}

func stripeMock(t testing.TB) string {
	t.Helper()
	mockOnce.Do(func() { mockURL, mockErr = startStripeMock() })
	if mockErr != nil {
		t.Fatalf("stripe-mock is required: %v\n(install it with `go install github.com/stripe/stripe-mock@v0.203.0`, or set STRIPE_MOCK_URL to a running one)", mockErr)
	}
	return mockURL
}

func startStripeMock() (string, error) {
	if u := os.Getenv("STRIPE_MOCK_URL"); u != "" {
		return strings.TrimRight(u, "/"), waitForStripeMock(u)
	}
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		out, gerr := exec.Command("go", "env", "GOPATH").Output()
		if gerr != nil {
			return "", fmt.Errorf("stripe-mock not on PATH and `go env GOPATH` failed: %v", gerr)
		}
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			cand := filepath.Join(dir, "bin", "stripe-mock")
			if _, err := os.Stat(cand); err == nil {
				bin = cand
				break
			}
		}
		if bin == "" {
			return "", fmt.Errorf("stripe-mock not found on PATH or in $(go env GOPATH)/bin")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-http-addr", addr)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start %s: %w", bin, err)
	}
	mockCmd = cmd
	u := "http://" + addr
	return u, waitForStripeMock(u)
}

func waitForStripeMock(u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest("GET", strings.TrimRight(u, "/")+"/v1/balance", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stripe-mock at %s did not answer: %v", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const (
	testKey    = "sk_test_smplatSecretKeyDoNotLog"
	testSecret = "whsec_test_primary_secret"
	oldSecret  = "whsec_test_previous_secret"
)

// env is one test's world: a fresh database, a store and a service.
type env struct {
	t   *testing.T
	db  *sqlx.DB
	st  *store.Store
	svc *payments.Service
	log *bytes.Buffer
	h   http.Handler // the webhook handler
}

type envOpt func(*payments.Config)

func newEnv(t *testing.T, apiBase string, opts ...envOpt) *env {
	t.Helper()
	db := storetest.New(t)
	return newEnvWithDB(t, db, apiBase, opts...)
}

func newEnvWithDB(t *testing.T, db *sqlx.DB, apiBase string, opts ...envOpt) *env {
	t.Helper()
	buf := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := payments.Config{SecretKey: testKey, WebhookSecrets: []string{testSecret}, APIBase: apiBase, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	st := store.New(db)
	svc := payments.NewService(st, payments.NewClient(cfg), log)
	return &env{t: t, db: db, st: st, svc: svc, log: &buf.Buffer, h: (&rest.API{Store: st, Payments: svc, Logger: log}).StripeWebhook()}
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

// fixtures ------------------------------------------------------------------

type item struct {
	title    string
	qty      int
	unit     string
	configTs string // product fulfillment_config; "" = none
}

type order struct {
	id, number string
	total      decimal.Decimal
	itemIDs    []string
}

// insertOrder writes products, an order and its items with plain SQL. The
// total is the sum of the lines unless total is given.
func (e *env) insertOrder(status, currency string, items []item, total ...string) order {
	e.t.Helper()
	ctx := context.Background()
	var o order
	sum := decimal.Zero
	for _, it := range items {
		sum = sum.Add(decimal.RequireFromString(it.unit).Mul(decimal.NewFromInt(int64(it.qty))))
	}
	o.total = sum
	if len(total) > 0 {
		o.total = decimal.RequireFromString(total[0])
	}
	err := e.db.QueryRowxContext(ctx, `INSERT INTO orders (status, subtotal, total, currency, customer_email)
		VALUES ($1, $2, $2, $3, 'buyer@example.com') RETURNING id, order_number`, status, o.total, currency).Scan(&o.id, &o.number)
	if err != nil {
		e.t.Fatal(err)
	}
	for i, it := range items {
		var cfg any
		if it.configTs != "" {
			cfg = it.configTs
		}
		var pid string
		err := e.db.QueryRowxContext(ctx, `INSERT INTO products (slug, title, category, base_price, currency, status, fulfillment_config)
			VALUES ($1, $2, 'social_media', $3, $4, 'active', $5::jsonb) RETURNING id`,
			fmt.Sprintf("p-%s-%d", o.id[:8], i), it.title, it.unit, currency, cfg).Scan(&pid)
		if err != nil {
			e.t.Fatal(err)
		}
		unit := decimal.RequireFromString(it.unit)
		var iid string
		err = e.db.QueryRowxContext(ctx, `INSERT INTO order_items (order_id, product_id, product_title, quantity, unit_price, total_price, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7)) RETURNING id`,
			o.id, pid, it.title, it.qty, unit, unit.Mul(decimal.NewFromInt(int64(it.qty))), i).Scan(&iid)
		if err != nil {
			e.t.Fatal(err)
		}
		o.itemIDs = append(o.itemIDs, iid)
	}
	return o
}

// insertPayment stores a pending Stripe payment for the order's total under
// a made-up session id, as checkout would.
func (e *env) insertPayment(o order, currency string) *store.Payment {
	e.t.Helper()
	url := "https://checkout.stripe.com/c/pay/x"
	p, err := e.st.CreatePayment(context.Background(), store.NewPayment{
		OrderID: o.id, ProviderReference: "cs_test_" + o.id[:8], CheckoutURL: &url,
		Amount: o.total, Currency: store.Currency(currency),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) scalar(q string, args ...any) string {
	e.t.Helper()
	var s *string
	if err := e.db.GetContext(context.Background(), &s, q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	if s == nil {
		return "<nil>"
	}
	return *s
}

func (e *env) count(q string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.GetContext(context.Background(), &n, q, args...); err != nil {
		e.t.Fatalf("%s: %v", q, err)
	}
	return n
}

func (e *env) tasks(o order) int {
	return e.count(`SELECT count(*) FROM fulfillment_tasks t JOIN order_items i ON i.id = t.order_item_id WHERE i.order_id = $1`, o.id)
}

// events ----------------------------------------------------------------------

// stripeEvent builds an event body shaped like Stripe's.
func stripeEvent(id, typ string, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2025-06-30.basil", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data":    map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func sessionObject(sessionID string, o order, cents int64, currency, paymentStatus string) map[string]any {
	return map[string]any{
		"id": sessionID, "object": "checkout.session", "mode": "payment", "status": "complete",
		"payment_status": paymentStatus, "amount_total": cents, "amount_subtotal": cents,
		"currency": currency, "payment_intent": "pi_" + o.id[:8], "client_reference_id": o.id,
		"metadata": map[string]string{"order_id": o.id, "order_number": o.number},
	}
}

func intentObject(o order, cents int64, currency, status string, lastError string) map[string]any {
	obj := map[string]any{
		"id": "pi_" + o.id[:8], "object": "payment_intent", "amount": cents, "currency": currency,
		"status":   status,
		"metadata": map[string]string{"order_id": o.id, "order_number": o.number},
	}
	if status == "succeeded" {
		obj["amount_received"] = cents
	} else {
		obj["amount_received"] = 0
	}
	if lastError != "" {
		obj["last_payment_error"] = map[string]any{"message": lastError, "code": "card_declined"}
	}
	return obj
}

// sign returns a Stripe-Signature header the way Stripe builds it: t, v1 =
// HMAC-SHA256("t.payload") in hex, plus a v0 entry that must be ignored.
func sign(payload []byte, secret string, at time.Time) string {
	return payments.SignPayload(payload, secret, at) + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
}

// deliver POSTs a webhook to the handler and returns status and body.
func (e *env) deliver(payload []byte, sig string) (int, map[string]any) {
	e.t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/payments/webhooks/stripe", bytes.NewReader(payload))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func (e *env) deliverOK(payload []byte) map[string]any {
	e.t.Helper()
	code, body := e.deliver(payload, sign(payload, testSecret, time.Now()))
	if code != 200 || body["success"] != true {
		e.t.Fatalf("webhook: %d %v", code, body)
	}
	return body
}
