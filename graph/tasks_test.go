package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/store"
)

// TestOperatorTaskActions: an admin lists a paid order's tasks and completes
// the manual one, which completes the order; the checkout key may not.
func TestOperatorTaskActions(t *testing.T) {
	t.Parallel()
	c, st := seededClient(t)
	ctx := context.Background()
	mustExec(t, st, `UPDATE products SET fulfillment_config = NULL`) // one manual task per item
	ids := seedIDs(t, st)
	var o orderResp
	post(t, c, createOrderMutation, &o, client.AddHeader("X-API-Key", "checkout-key"),
		client.Var("input", map[string]any{"items": []any{map[string]any{"productSlug": "instagram-growth",
			"configuration": map[string]any{"customFields": fieldsCfg(ids)}}}}))
	err := st.InTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := store.SetOrderStatusTx(ctx, tx, o.CreateOrder.ID, store.OrderProcessing, "webhook", "paid"); err != nil {
			return err
		}
		_, err := store.EnqueueTasksTx(ctx, tx, o.CreateOrder.ID, time.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	const tasksQuery = `query($id: ID!) { order(id: $id) { status tasks { id title status executionKind history } } }`
	var got struct {
		Order struct {
			Status string
			Tasks  []struct{ ID, Title, Status, ExecutionKind string }
		}
	}
	post(t, c, tasksQuery, &got, client.Var("id", o.CreateOrder.ID), client.AddHeader("X-API-Key", "admin-key"))
	if len(got.Order.Tasks) != 1 || got.Order.Tasks[0].Title != "Deliver Instagram Growth Service" || got.Order.Tasks[0].ExecutionKind != "manual" {
		t.Fatalf("tasks: %+v", got.Order)
	}
	taskID := got.Order.Tasks[0].ID
	const complete = `mutation($id: ID!) { completeTask(id: $id, note: "delivered by hand") { status } }`
	if err := postErr(c, complete, &struct{}{}, client.Var("id", taskID), client.AddHeader("X-API-Key", "checkout-key")); err == nil ||
		!strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("checkout key completing a task: %v", err)
	}
	post(t, c, complete, &struct{}{}, client.Var("id", taskID), client.AddHeader("X-API-Key", "admin-key"))
	post(t, c, tasksQuery, &got, client.Var("id", o.CreateOrder.ID), client.AddHeader("X-API-Key", "admin-key"))
	if got.Order.Status != "COMPLETED" || got.Order.Tasks[0].Status != "COMPLETED" {
		t.Fatalf("after completing: %+v", got.Order)
	}
	err = postErr(c, `mutation($id: ID!) { retryTask(id: $id) { status } }`, &struct{}{}, client.Var("id", taskID),
		client.AddHeader("X-API-Key", "admin-key"))
	if err == nil || !strings.Contains(err.Error(), "CONFLICT") {
		t.Fatalf("retrying a completed task: %v", err)
	}
}
