package payments_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// gate is a proxy in front of stripe-mock that holds every session-create
// request until the test opens it, so a test can look at the database while
// checkout is waiting for Stripe.
type gate struct {
	srv     *httptest.Server
	entered chan struct{} // one send per session-create request that arrived
	release chan struct{} // closed by open
	once    sync.Once
	creates atomic.Int32
}

func newGate(t *testing.T, upstream string) *gate {
	t.Helper()
	target, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{entered: make(chan struct{}, 16), release: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/checkout/sessions" {
			g.creates.Add(1)
			g.entered <- struct{}{}
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Second):
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { g.open(); g.srv.Close() })
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// waitEntered waits until n session-create requests are being held.
func (g *gate) waitEntered(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.entered:
		case <-time.After(15 * time.Second):
			t.Fatal("checkout never called stripe")
		}
	}
}

type checkoutOutcome struct {
	res *payments.CheckoutResult
	err error
}

func startCheckoutAsync(svc *payments.Service, orderID, key string) <-chan checkoutOutcome {
	done := make(chan checkoutOutcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := svc.StartCheckout(ctx, orderID, "https://a.example/s", "https://a.example/c", nil, key)
		done <- checkoutOutcome{res, err}
	}()
	return done
}

func waitOutcome(t *testing.T, done <-chan checkoutOutcome) checkoutOutcome {
	t.Helper()
	select {
	case out := <-done:
		return out
	case <-time.After(30 * time.Second):
		t.Fatal("checkout did not return")
		return checkoutOutcome{}
	}
}

// While Stripe is being called, checkout holds no transaction and no lock
// on the order: another connection can lock the order row with NOWAIT (as a
// webhook would), and no connection of the test database sits idle in a
// transaction.
func TestCheckoutHoldsNoLockDuringStripeCall(t *testing.T) {
	t.Parallel()
	g := newGate(t, stripeMock(t))
	e := newEnv(t, g.srv.URL)
	o := e.insertOrder("pending", "EUR", twoItems)
	done := startCheckoutAsync(e.svc, o.id, "k")
	g.waitEntered(t, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n := e.count(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'`); n != 0 {
		t.Errorf("%d connections idle in a transaction while stripe is called", n)
	}
	tx, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	lockErr := tx.GetContext(ctx, &id, `SELECT id FROM orders WHERE id = $1 FOR UPDATE NOWAIT`, o.id)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if lockErr != nil {
		t.Fatalf("order row is locked while stripe is called: %v", lockErr)
	}
	g.open()

	out := waitOutcome(t, done)
	if out.err != nil {
		t.Fatal(out.err)
	}
	if !strings.HasPrefix(out.res.CheckoutSessionID, "cs_") || out.res.CheckoutURL == "" || !out.res.Amount.Equal(o.total) {
		t.Fatalf("result %+v", out.res)
	}
	p, err := e.st.FindPayment(context.Background(), out.res.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProviderReference != out.res.CheckoutSessionID || p.OrderID != o.id || p.Status != store.PaymentPending {
		t.Fatalf("payment %+v", p)
	}
	if n := g.creates.Load(); n != 1 {
		t.Fatalf("%d session creates", n)
	}
}

// An order that stops being payable while Stripe is called (paid by a
// webhook, changed by an admin) gets no payment row: CONFLICT, nothing
// stored.
func TestCheckoutOrderChangedDuringStripeCallStoresNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		change  []string // statements run on the order ($1) while stripe is held
		message string
	}{
		{"no longer pending", []string{`UPDATE orders SET status = 'processing' WHERE id = $1`}, "Order is not pending"},
		{"canceled", []string{`UPDATE orders SET status = 'canceled' WHERE id = $1`}, "Order is not pending"},
		{"total changed", []string{
			`UPDATE order_items SET unit_price = 13.00, total_price = 26.00 WHERE order_id = $1 AND quantity = 2`,
			`UPDATE orders SET subtotal = 125.00, total = 125.00 WHERE id = $1`,
		}, "Order changed during checkout"},
	}
	mock := stripeMock(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := newGate(t, mock)
			e := newEnv(t, g.srv.URL)
			o := e.insertOrder("pending", "EUR", twoItems)
			done := startCheckoutAsync(e.svc, o.id, "")
			g.waitEntered(t, 1)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, q := range c.change {
				if _, err := e.db.ExecContext(ctx, q, o.id); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			g.open()

			out := waitOutcome(t, done)
			se, ok := store.AsError(out.err)
			if !ok || se.Code != store.CodeConflict || se.Message != c.message {
				t.Fatalf("want CONFLICT %q, got %v (%+v)", c.message, out.err, out.res)
			}
			if n := e.count(`SELECT count(*) FROM payments`); n != 0 {
				t.Fatalf("%d payments stored", n)
			}
			if tot := e.svc.Observability(context.Background()).Checkout.Totals; tot.Failed != 1 || tot.Succeeded != 0 {
				t.Fatalf("checkout totals %+v", tot)
			}
			if logs := e.log.String(); !strings.Contains(logs, "stripe session not stored") || strings.Contains(logs, testKey) {
				t.Fatalf("logs %s", logs)
			}
		})
	}
}

// Two processes (two services over one database) checking out one order at
// the same time, with different caller keys so Stripe makes two sessions:
// both hand out the session stored first, and the order has one payment.
func TestCheckoutConcurrentProcessesHandOutOneSession(t *testing.T) {
	t.Parallel()
	g := newGate(t, stripeMock(t))
	db := storetest.New(t)
	e1 := newEnvWithDB(t, db, g.srv.URL)
	e2 := newEnvWithDB(t, db, g.srv.URL)
	o := e1.insertOrder("pending", "USD", []item{{title: "Solo", qty: 3, unit: "10.01"}})
	d1 := startCheckoutAsync(e1.svc, o.id, "key-1")
	d2 := startCheckoutAsync(e2.svc, o.id, "key-2")
	g.waitEntered(t, 2) // both are calling stripe at once: neither holds the order
	g.open()

	r1, r2 := waitOutcome(t, d1), waitOutcome(t, d2)
	if r1.err != nil || r2.err != nil {
		t.Fatalf("errors %v, %v", r1.err, r2.err)
	}
	if r1.res.CheckoutSessionID != r2.res.CheckoutSessionID || r1.res.PaymentID != r2.res.PaymentID {
		t.Fatalf("two sessions handed out: %+v vs %+v", r1.res, r2.res)
	}
	if n := e1.count(`SELECT count(*) FROM payments WHERE order_id = $1`, o.id); n != 1 {
		t.Fatalf("payments %d", n)
	}
	if s := e1.scalar(`SELECT provider_reference FROM payments WHERE order_id = $1`, o.id); s != r1.res.CheckoutSessionID {
		t.Fatalf("stored %s, handed out %s", s, r1.res.CheckoutSessionID)
	}
}
