package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

// paymentOrder inserts an order (and one item) with plain SQL.
func paymentOrder(t *testing.T, db *sqlx.DB, total string) string {
	t.Helper()
	var id string
	if err := db.Get(&id, `INSERT INTO orders (total, subtotal, currency) VALUES ($1, $1, 'EUR') RETURNING id`, total); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO order_items (order_id, product_title, quantity, unit_price, total_price)
		VALUES ($1, 'Thing', 1, $2, $2)`, id, total); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCreatePaymentIsKeyedByReference(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	a, b := paymentOrder(t, db, "10.00"), paymentOrder(t, db, "20.00")
	in := store.NewPayment{OrderID: a, ProviderReference: "cs_1", Amount: decimal.RequireFromString("10.00"), Currency: store.EUR}
	p1, err := s.CreatePayment(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := s.CreatePayment(ctx, in)
	if err != nil || p2.ID != p1.ID {
		t.Fatalf("second create: %v %v", p2, err)
	}
	if p1.Status != store.PaymentPending || p1.Provider != store.ProviderStripe {
		t.Fatalf("%+v", p1)
	}
	_, err = s.CreatePayment(ctx, store.NewPayment{OrderID: b, ProviderReference: "cs_1", Amount: decimal.NewFromInt(20), Currency: store.EUR})
	if e, ok := store.AsError(err); !ok || e.Code != store.CodeConflict {
		t.Fatalf("reference of another order: %v", err)
	}
	_, err = s.CreatePayment(ctx, store.NewPayment{OrderID: "3f1c1d1e-0000-4000-8000-000000000000", ProviderReference: "cs_2", Amount: decimal.NewFromInt(1), Currency: store.EUR})
	if e, ok := store.AsError(err); !ok || e.Code != store.CodeBadUserInput {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestFindPayments(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	a, b, c := paymentOrder(t, db, "10.00"), paymentOrder(t, db, "20.00"), paymentOrder(t, db, "30.00")
	var ids []string
	for i, o := range []string{a, a, b} {
		p, err := s.CreatePayment(ctx, store.NewPayment{OrderID: o, ProviderReference: "cs_" + string(rune('a'+i)),
			Amount: decimal.RequireFromString("10.00"), Currency: store.EUR})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	got, err := s.FindPaymentsByOrder(ctx, []string{a, b, c, "junk"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[a]) != 2 || got[a][0].ID != ids[0] || got[a][1].ID != ids[1] || len(got[b]) != 1 || len(got[c]) != 0 {
		t.Fatalf("%+v", got)
	}
	for _, id := range []string{"3f1c1d1e-0000-4000-8000-000000000000", "not-a-uuid"} {
		_, err := s.FindPayment(ctx, id)
		if e, ok := store.AsError(err); !ok || e.Code != store.CodeNotFound || e.Message != "Payment not found" {
			t.Fatalf("%s: %v", id, err)
		}
	}
	p, err := s.FindPayment(ctx, ids[2])
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(p)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	for _, k := range []string{"id", "order_id", "provider", "provider_reference", "status", "amount", "currency",
		"failure_reason", "captured_at", "created_at", "updated_at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, raw)
		}
	}
	if m["amount"] != 10.0 || m["status"] != "pending" || m["currency"] != "EUR" {
		t.Fatalf("%s", raw)
	}
}

func TestPaymentStatusOnlyMovesForward(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s := store.New(db)
	ctx := context.Background()
	o := paymentOrder(t, db, "10.00")
	p, err := s.CreatePayment(ctx, store.NewPayment{OrderID: o, ProviderReference: "cs_x", Amount: decimal.NewFromInt(10), Currency: store.EUR})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	step := func(name string, want bool, f func(tx *sqlx.Tx) (bool, error)) {
		t.Helper()
		var got bool
		if err := s.InTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			got, err = f(tx)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("%s: changed=%v, want %v", name, got, want)
		}
	}
	refund := func(tx *sqlx.Tx) (bool, error) { return store.MarkPaymentRefundedTx(ctx, tx, p.ID, now) }
	fail := func(tx *sqlx.Tx) (bool, error) { return store.MarkPaymentFailedTx(ctx, tx, p.ID, "", "declined", now) }
	succeed := func(tx *sqlx.Tx) (bool, error) { return store.MarkPaymentSucceededTx(ctx, tx, p.ID, "pi_1", now) }
	step("refund pending", false, refund)
	step("fail pending", true, fail)
	step("fail failed", false, fail)
	step("succeed failed", true, succeed)
	step("fail succeeded", false, fail)
	step("succeed succeeded", false, succeed)
	step("refund succeeded", true, refund)
	step("succeed refunded", false, succeed)
	got, _ := s.FindPayment(ctx, p.ID)
	if got.Status != store.PaymentRefunded || got.PaymentIntentID == nil || *got.PaymentIntentID != "pi_1" || got.FailureReason != nil {
		t.Fatalf("%+v", got)
	}
}

func TestRecordWebhookEvent(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		var fresh bool
		err := s.InTx(ctx, func(tx *sqlx.Tx) error {
			var err error
			fresh, err = store.RecordWebhookEventTx(ctx, tx, store.ProviderStripe, "evt_1", "charge.refunded", time.Now())
			return err
		})
		if err != nil || fresh != want {
			t.Fatalf("delivery %d: fresh=%v err=%v", i, fresh, err)
		}
	}
	evs, err := s.RecentWebhookEvents(ctx, 0)
	if err != nil || len(evs) != 1 || evs[0].ExternalID != "evt_1" || evs[0].Outcome != "processed" {
		t.Fatalf("%+v %v", evs, err)
	}
}
