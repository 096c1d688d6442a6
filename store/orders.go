package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// OrderStatus is an order's lifecycle state (SPEC §5).
type OrderStatus string

// Order statuses.
const (
	OrderPending    OrderStatus = "pending"
	OrderProcessing OrderStatus = "processing"
	OrderActive     OrderStatus = "active"
	OrderCompleted  OrderStatus = "completed"
	OrderOnHold     OrderStatus = "on_hold"
	OrderCanceled   OrderStatus = "canceled"
)

// OrderStatuses lists every order status.
var OrderStatuses = []OrderStatus{OrderPending, OrderProcessing, OrderActive, OrderCompleted, OrderOnHold, OrderCanceled}

// ParseOrderStatus accepts lower- or upper-case labels; anything else is
// BAD_USER_INPUT on field.
func ParseOrderStatus(field, v string) (OrderStatus, error) {
	return parseEnum(field, v, OrderStatuses)
}

func (e OrderStatus) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *OrderStatus) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "status", v, OrderStatuses)
}

// OrderSource says how an order was created.
type OrderSource string

// Order sources.
const (
	SourceCheckout OrderSource = "checkout"
	SourceManual   OrderSource = "manual"
)

// OrderSources lists every order source.
var OrderSources = []OrderSource{SourceCheckout, SourceManual}

func (e OrderSource) MarshalGQL(w io.Writer) { marshalEnumGQL(w, string(e)) }
func (e *OrderSource) UnmarshalGQL(v any) error {
	return unmarshalEnumGQL(e, "source", v, OrderSources)
}

// Order is one order. Its JSON is the old backend's REST order (snake_case,
// money as JSON numbers: compat); see MarshalJSON.
type Order struct {
	ID            string          `db:"id" json:"id"`
	OrderNumber   string          `db:"order_number" json:"order_number"`
	UserID        *string         `db:"user_id" json:"user_id"`
	Status        OrderStatus     `db:"status" json:"status"`
	Source        OrderSource     `db:"source" json:"source"`
	Subtotal      decimal.Decimal `db:"subtotal" json:"subtotal"`
	Tax           decimal.Decimal `db:"tax" json:"tax"`
	Total         decimal.Decimal `db:"total" json:"total"`
	Currency      Currency        `db:"currency" json:"currency"`
	Notes         *string         `db:"notes" json:"notes"`
	CustomerEmail *string         `db:"customer_email" json:"customer_email"`
	CreatedAt     time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at" json:"updated_at"`
}

// Cursor is the order's position in a newest-first listing (FindOrders).
func (o Order) Cursor() Cursor { return Cursor{CreatedAt: o.CreatedAt, ID: o.ID} }

// JSONMoney is a decimal written as a JSON number with two decimals, e.g.
// 1277.40 (REST compat: the old backend sent money as numbers). It is the
// one money encoding of every REST body (orders, payments, checkout,
// products); use it rather than shopspring's global
// MarshalJSONWithoutQuotes, which would change every decimal, GraphQL's
// included. Rounding is StringFixed's (half away from zero).
type JSONMoney decimal.Decimal

// MarshalJSON writes the amount as a number token with two decimals.
func (m JSONMoney) MarshalJSON() ([]byte, error) {
	return []byte(decimal.Decimal(m).StringFixed(2)), nil
}

// MarshalJSON writes the REST order: money as numbers ("total": 1277.40).
func (o Order) MarshalJSON() ([]byte, error) {
	type plain Order // drops this method, keeps the tags
	return json.Marshal(struct {
		plain
		Subtotal JSONMoney `json:"subtotal"`
		Tax      JSONMoney `json:"tax"`
		Total    JSONMoney `json:"total"`
	}{plain(o), JSONMoney(o.Subtotal), JSONMoney(o.Tax), JSONMoney(o.Total)})
}

// OrderItem is one line of an order. SelectedOptions and Attributes are the
// cart-shaped JSON the old clients read (kept as a REST client sent them);
// Configuration is the priced snapshot, a Quote (see Snapshot).
type OrderItem struct {
	ID              string          `db:"id" json:"id"`
	OrderID         string          `db:"order_id" json:"order_id"`
	ProductID       *string         `db:"product_id" json:"product_id"`
	ProductTitle    string          `db:"product_title" json:"product_title"`
	Quantity        int             `db:"quantity" json:"quantity"`
	UnitPrice       decimal.Decimal `db:"unit_price" json:"unit_price"`
	TotalPrice      decimal.Decimal `db:"total_price" json:"total_price"`
	SelectedOptions JSON            `db:"selected_options" json:"selected_options"`
	Attributes      JSON            `db:"attributes" json:"attributes"`
	Configuration   JSON            `db:"configuration" json:"configuration"`
	CreatedAt       time.Time       `db:"created_at" json:"created_at"`
	UpdatedAt       time.Time       `db:"updated_at" json:"updated_at"`
}

// MarshalJSON writes the REST item: money as numbers.
func (i OrderItem) MarshalJSON() ([]byte, error) {
	type plain OrderItem
	return json.Marshal(struct {
		plain
		UnitPrice  JSONMoney `json:"unit_price"`
		TotalPrice JSONMoney `json:"total_price"`
	}{plain(i), JSONMoney(i.UnitPrice), JSONMoney(i.TotalPrice)})
}

// Snapshot decodes the priced configuration stored with the item. Items
// written before snapshots existed decode to an empty Quote.
func (i OrderItem) Snapshot() (*Quote, error) {
	var q Quote
	if len(i.Configuration) == 0 {
		return &q, nil
	}
	if err := json.Unmarshal(i.Configuration, &q); err != nil {
		return nil, fmt.Errorf("order item %s: decode configuration: %w", i.ID, err)
	}
	return &q, nil
}

// OrderWithItems is the REST order body: the order's fields plus "items".
// Use it rather than embedding Order in an ad-hoc struct, whose promoted
// Order.MarshalJSON would silently drop the items.
type OrderWithItems struct {
	Order
	Items []OrderItem
}

// MarshalJSON writes {…order fields…, "items": […]}.
func (o OrderWithItems) MarshalJSON() ([]byte, error) {
	order, err := o.Order.MarshalJSON()
	if err != nil {
		return nil, err
	}
	items := o.Items
	if items == nil {
		items = []OrderItem{}
	}
	itemsJSON, err := json.Marshal(items)
	if err != nil {
		return nil, err
	}
	// order is a non-empty JSON object: splice "items" in before its brace.
	out := make([]byte, 0, len(order)+len(itemsJSON)+10)
	out = append(out, order[:len(order)-1]...)
	out = append(out, `,"items":`...)
	out = append(out, itemsJSON...)
	return append(out, '}'), nil
}

// OrderStatusEvent is one recorded status change: from (nil for the
// creation), to, when, by which role, with which note.
type OrderStatusEvent struct {
	ID         int64        `db:"id" json:"id"`
	OrderID    string       `db:"order_id" json:"order_id"`
	FromStatus *OrderStatus `db:"from_status" json:"from_status"`
	ToStatus   OrderStatus  `db:"to_status" json:"to_status"`
	Actor      string       `db:"actor" json:"actor"`
	Note       *string      `db:"note" json:"note"`
	CreatedAt  time.Time    `db:"created_at" json:"created_at"`
}

const orderColumns = `id, order_number, user_id, status, source, subtotal, tax, total, currency, notes,
	customer_email, created_at, updated_at`

const orderItemColumns = `id, order_id, product_id, product_title, quantity, unit_price, total_price,
	selected_options, attributes, configuration, created_at, updated_at`

// MaxOrderItems caps the lines of one order.
const MaxOrderItems = 100

// CreateOrderInput is a new order. Field paths of errors start with Prefix
// ("input" for GraphQL's createOrder(input:), "" for the REST body), then
// "items.<i>.…", "userId", "customerEmail".
type CreateOrderInput struct {
	Items         []OrderItemInput
	UserID        *string
	CustomerEmail *string
	Notes         *string
	// Source defaults to checkout.
	Source OrderSource
	// Actor is the role recorded on the initial status event ("checkout",
	// "admin"); it defaults to "system".
	Actor  string
	Prefix string
	// CartPaths reports field paths in the REST body's terms (CartPath):
	// set it when the items were read with ConfigurationFromCart.
	CartPaths bool
}

// OrderItemInput is one line: a product by id or slug (id wins when both
// are given), a quantity and a configuration.
type OrderItemInput struct {
	ProductID     *string
	ProductSlug   *string
	Quantity      int
	Configuration Configuration
	// SelectedOptions and Attributes are stored as given when set (REST
	// compat: other keys of the cart are kept); when nil they are built from
	// the priced configuration in the cart's shape.
	SelectedOptions JSON
	Attributes      JSON
	// UnitPrice and TotalPrice are what the client believes the line costs
	// (REST compat). When set and different from the server's price the
	// order is refused with PRICE_MISMATCH.
	UnitPrice  *decimal.Decimal
	TotalPrice *decimal.Decimal
}

// pricedItem is a validated, priced line ready to insert.
type pricedItem struct {
	product         *ProductDetail
	quote           *Quote
	selectedOptions JSON
	attributes      JSON
}

// CreateOrder prices every line on the server (Price), then writes the
// order, its items (each with its priced snapshot) and the initial status
// event (NULL → pending, by in.Actor) in one transaction: all or nothing.
// Products of all lines are read with one query per level, whatever the
// number of lines. subtotal = Σ line totals; tax is 0; total = subtotal.
//
// Errors: BAD_USER_INPUT (no items, too many, a line naming no product, a
// draft or archived product, mixed currencies, a bad userId or
// customerEmail, any Price error — all with the field path); NOT_FOUND
// "Product not found: <id or slug>" with the field; PRICE_MISMATCH with
// Extra expected_unit_price and expected_total_price (strings, two
// decimals) when the client's price differs.
func (s *Store) CreateOrder(ctx context.Context, in CreateOrderInput) (*Order, []OrderItem, error) {
	lines, currency, err := s.priceOrder(ctx, in)
	if err != nil {
		if e, ok := AsError(err); ok && in.CartPaths && e.Field != "" {
			e.Field = CartPath(e.Field)
		}
		return nil, nil, err
	}
	subtotal := decimal.Zero
	for _, l := range lines {
		subtotal = subtotal.Add(l.quote.Total)
	}
	source := in.Source
	if source == "" {
		source = SourceCheckout
	}
	actor := in.Actor
	if actor == "" {
		actor = "system"
	}
	var order Order
	var items []OrderItem
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		err := sqlx.GetContext(ctx, tx, &order, `INSERT INTO orders
			(user_id, status, source, subtotal, tax, total, currency, notes, customer_email)
			VALUES ($1, 'pending', $2, $3, 0, $3, $4, $5, $6) RETURNING `+orderColumns,
			in.UserID, source, subtotal, currency, in.Notes, in.CustomerEmail)
		if err != nil {
			return mapError(err)
		}
		items = make([]OrderItem, len(lines))
		for i, l := range lines {
			snapshot, err := json.Marshal(l.quote)
			if err != nil {
				return err
			}
			// UUIDv7 ids are time-ordered, so (created_at, id) keeps the
			// lines in the order the client sent them.
			id, err := uuid.NewV7()
			if err != nil {
				return err
			}
			err = sqlx.GetContext(ctx, tx, &items[i], `INSERT INTO order_items
				(id, order_id, product_id, product_title, quantity, unit_price, total_price,
				 selected_options, attributes, configuration)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING `+orderItemColumns,
				id.String(), order.ID, l.product.ID, l.product.Title, l.quote.Quantity, l.quote.UnitPrice,
				l.quote.Total, l.selectedOptions, l.attributes, JSON(snapshot))
			if err != nil {
				return mapError(err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO order_status_events (order_id, from_status, to_status, actor)
			VALUES ($1, NULL, 'pending', $2)`, order.ID, actor)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return &order, items, nil
}

// priceOrder validates the order input and prices every line; it reads but
// never writes.
func (s *Store) priceOrder(ctx context.Context, in CreateOrderInput) ([]pricedItem, Currency, error) {
	if len(in.Items) == 0 {
		return nil, "", BadInput(fieldPath(in.Prefix, "items"), "an order needs at least one item")
	}
	if len(in.Items) > MaxOrderItems {
		return nil, "", BadInput(fieldPath(in.Prefix, "items"), "an order has at most %d items", MaxOrderItems)
	}
	if in.UserID != nil && !validUUID(*in.UserID) {
		return nil, "", BadInput(fieldPath(in.Prefix, "userId"), "must be a UUID")
	}
	if in.CustomerEmail != nil {
		if _, err := mail.ParseAddress(*in.CustomerEmail); err != nil || !strings.Contains(*in.CustomerEmail, "@") {
			return nil, "", BadInput(fieldPath(in.Prefix, "customerEmail"), "must be an email address")
		}
	}
	var ids, slugs []string
	for i, it := range in.Items {
		switch {
		case it.ProductID != nil && *it.ProductID != "":
			ids = append(ids, *it.ProductID)
		case it.ProductSlug != nil && *it.ProductSlug != "":
			slugs = append(slugs, *it.ProductSlug)
		default:
			return nil, "", BadInput(fieldPath(in.Prefix, "items", i, "productId"), "give productId or productSlug")
		}
	}
	byID, bySlug, err := s.productDetails(ctx, ids, slugs)
	if err != nil {
		return nil, "", err
	}
	lines := make([]pricedItem, len(in.Items))
	var currency Currency
	for i, it := range in.Items {
		prefix := fieldPath(in.Prefix, "items", i)
		var p *ProductDetail
		var ref, refField string
		if it.ProductID != nil && *it.ProductID != "" {
			ref, refField = *it.ProductID, fieldPath(prefix, "productId")
			p = byID[ref]
		} else {
			ref, refField = *it.ProductSlug, fieldPath(prefix, "productSlug")
			p = bySlug[ref]
		}
		if p == nil {
			return nil, "", &Error{Code: CodeNotFound, Field: refField, Message: "Product not found: " + ref}
		}
		if p.Status != ProductActive {
			return nil, "", BadInput(refField, "product %s is %s and cannot be ordered", p.Slug, p.Status)
		}
		if currency == "" {
			currency = p.Currency
		} else if p.Currency != currency {
			return nil, "", BadInput(refField, "product %s is sold in %s; an order has one currency (%s)",
				p.Slug, p.Currency, currency)
		}
		q, err := Price(p, it.Configuration, it.Quantity, prefix)
		if err != nil {
			return nil, "", err
		}
		if err := checkClientPrice(it, q, prefix); err != nil {
			return nil, "", err
		}
		l := pricedItem{product: p, quote: q, selectedOptions: it.SelectedOptions, attributes: it.Attributes}
		if l.selectedOptions == nil {
			l.selectedOptions = cartSelectedOptions(q)
		}
		if l.attributes == nil {
			l.attributes = cartAttributes(q)
		}
		lines[i] = l
	}
	return lines, currency, nil
}

// checkClientPrice refuses a line whose client-sent price differs from the
// server's (the old backend trusted it).
func checkClientPrice(it OrderItemInput, q *Quote, prefix string) error {
	field := ""
	switch {
	case it.UnitPrice != nil && !it.UnitPrice.Equal(q.UnitPrice):
		field = fieldPath(prefix, "unitPrice")
	case it.TotalPrice != nil && !it.TotalPrice.Equal(q.Total):
		field = fieldPath(prefix, "totalPrice")
	default:
		return nil
	}
	return &Error{
		Code:  CodePriceMismatch,
		Field: field,
		Message: fmt.Sprintf("Price mismatch: expected unit price %s and total %s %s",
			q.UnitPrice.StringFixed(2), q.Total.StringFixed(2), q.Currency),
		Extra: map[string]any{
			"expected_unit_price":  q.UnitPrice.StringFixed(2),
			"expected_total_price": q.Total.StringFixed(2),
			"currency":             string(q.Currency),
		},
	}
}

// cartSelectedOptions builds the storefront cart's selected_options shape
// ({options:[{groupId, optionId}], addOns:[{id}], subscriptionPlan:{id}})
// from a quote, with labels and deltas for humans reading the order.
func cartSelectedOptions(q *Quote) JSON {
	type opt struct {
		GroupID    string          `json:"groupId"`
		GroupName  string          `json:"groupName"`
		OptionID   string          `json:"optionId"`
		Label      string          `json:"label"`
		PriceDelta decimal.Decimal `json:"priceDelta"`
	}
	type addOn struct {
		ID         string          `json:"id"`
		Label      string          `json:"label"`
		PriceDelta decimal.Decimal `json:"priceDelta"`
	}
	type plan struct {
		ID           string       `json:"id"`
		Label        string       `json:"label"`
		BillingCycle BillingCycle `json:"billingCycle"`
	}
	v := struct {
		Options          []opt   `json:"options"`
		AddOns           []addOn `json:"addOns"`
		SubscriptionPlan *plan   `json:"subscriptionPlan"`
	}{Options: []opt{}, AddOns: []addOn{}}
	for _, o := range q.Breakdown.Options {
		v.Options = append(v.Options, opt{o.GroupID, o.GroupName, o.OptionID, o.Name, o.PriceDelta})
	}
	for _, a := range q.Breakdown.AddOns {
		v.AddOns = append(v.AddOns, addOn(a))
	}
	if p := q.Breakdown.Plan; p != nil {
		v.SubscriptionPlan = &plan{p.ID, p.Label, p.BillingCycle}
	}
	b, _ := json.Marshal(v)
	return b
}

// cartAttributes builds the cart's attributes shape ({customFields:[{id,
// label, value}]}).
func cartAttributes(q *Quote) JSON {
	type field struct {
		ID    string `json:"id"`
		Label string `json:"label"`
		Value string `json:"value"`
	}
	v := struct {
		CustomFields []field `json:"customFields"`
	}{CustomFields: []field{}}
	for _, f := range q.CustomFields {
		v.CustomFields = append(v.CustomFields, field{f.FieldID, f.Label, f.Value})
	}
	b, _ := json.Marshal(v)
	return b
}

// productDetails loads the products named by ids and slugs with their whole
// configuration: one query per level (products, groups, options, add-ons,
// fields, plans) however many products. Unknown ids and slugs are absent
// from the maps.
func (s *Store) productDetails(ctx context.Context, ids, slugs []string) (byID, bySlug map[string]*ProductDetail, err error) {
	byID, bySlug = map[string]*ProductDetail{}, map[string]*ProductDetail{}
	var ps []Product
	err = sqlx.SelectContext(ctx, prepared{s}, &ps, `SELECT `+productColumns+` FROM products
		WHERE id = ANY($1) OR slug = ANY($2)`, pq.Array(validIDs(ids)), pq.Array(slugs))
	if err != nil || len(ps) == 0 {
		return byID, bySlug, err
	}
	pids := make([]string, len(ps))
	for i, p := range ps {
		pids[i] = p.ID
	}
	c, err := s.Configurations(ctx, pids, AllConfigurationLists)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range ps {
		d := &ProductDetail{
			Product: p, OptionGroups: c.Groups[p.ID], Options: map[string][]ProductOption{},
			AddOns: c.AddOns[p.ID], CustomFields: c.Fields[p.ID], SubscriptionPlans: c.Plans[p.ID],
		}
		for _, g := range d.OptionGroups {
			d.Options[g.ID] = c.Options[g.ID]
		}
		byID[p.ID], bySlug[p.Slug] = d, d
	}
	return byID, bySlug, nil
}

// FindOrder returns the order with the id. Errors: NOT_FOUND "Order not
// found" (also for an id that is not a UUID).
func (s *Store) FindOrder(ctx context.Context, id string) (*Order, error) {
	return findOrder(ctx, s.db, id, false)
}

func findOrder(ctx context.Context, q sqlx.QueryerContext, id string, forUpdate bool) (*Order, error) {
	if !validUUID(id) {
		return nil, &Error{Code: CodeNotFound, Message: "Order not found"}
	}
	query := `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var o Order
	if err := sqlx.GetContext(ctx, q, &o, query, id); err != nil {
		return nil, notFound(err, "Order not found")
	}
	return &o, nil
}

// ItemsByOrder returns the items of each order, in the order they were
// sent, with one query.
func (s *Store) ItemsByOrder(ctx context.Context, orderIDs []string) (map[string][]OrderItem, error) {
	var rows []OrderItem
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT `+orderItemColumns+` FROM order_items
		WHERE order_id = ANY($1) ORDER BY order_id, created_at, id`, pq.Array(validIDs(orderIDs)))
	return groupBy(rows, func(i OrderItem) string { return i.OrderID }), err
}

// StatusEventsByOrder returns each order's status history, oldest first,
// with one query.
func (s *Store) StatusEventsByOrder(ctx context.Context, orderIDs []string) (map[string][]OrderStatusEvent, error) {
	var rows []OrderStatusEvent
	err := sqlx.SelectContext(ctx, s.db, &rows, `SELECT id, order_id, from_status, to_status, actor, note, created_at
		FROM order_status_events WHERE order_id = ANY($1) ORDER BY order_id, id`, pq.Array(validIDs(orderIDs)))
	return groupBy(rows, func(e OrderStatusEvent) string { return e.OrderID }), err
}

// OrderFilter narrows an order listing. Nil fields do not filter.
type OrderFilter struct {
	Status *OrderStatus
	UserID *string
}

func (f OrderFilter) where() ([]string, []any, error) {
	var where []string
	var args []any
	if f.Status != nil {
		args = append(args, *f.Status)
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.UserID != nil {
		if !validUUID(*f.UserID) {
			return nil, nil, BadInput("userId", "must be a UUID")
		}
		args = append(args, *f.UserID)
		where = append(where, fmt.Sprintf("user_id = $%d", len(args)))
	}
	return where, args, nil
}

// OrderPage is one page of an order listing.
type OrderPage struct {
	Orders      []Order
	HasNextPage bool
}

// FindOrders returns up to first orders after the cursor, newest first
// (created_at DESC, id DESC), matching the filter. first is clamped to
// 1..MaxPageSize (0 means 20). Errors: BAD_USER_INPUT "userId" when the
// user filter is not a UUID.
func (s *Store) FindOrders(ctx context.Context, f OrderFilter, first int, after *Cursor) (OrderPage, error) {
	first = clampPage(first)
	where, args, err := f.where()
	if err != nil {
		return OrderPage{}, err
	}
	if after != nil {
		args = append(args, after.CreatedAt, after.ID)
		where = append(where, fmt.Sprintf("(created_at, id) < ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, first+1)
	var list []Order
	if err := sqlx.SelectContext(ctx, s.db, &list, orderListQuery(where)+fmt.Sprintf(" LIMIT $%d", len(args)), args...); err != nil {
		return OrderPage{}, err
	}
	page := OrderPage{Orders: list}
	if len(list) > first {
		page.Orders, page.HasNextPage = list[:first], true
	}
	return page, nil
}

func orderListQuery(where []string) string {
	q := `SELECT ` + orderColumns + ` FROM orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	return q + " ORDER BY created_at DESC, id DESC"
}

// CountOrders counts the orders matching the filter (a connection's
// totalCount). Errors as FindOrders.
func (s *Store) CountOrders(ctx context.Context, f OrderFilter) (int, error) {
	where, args, err := f.where()
	if err != nil {
		return 0, err
	}
	q := `SELECT count(*) FROM orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var n int
	err = sqlx.GetContext(ctx, s.db, &n, q, args...)
	return n, err
}

// ListOrders is the REST listing (compat: skip/limit), newest first. limit
// is capped at MaxPageSize; 0 or less means MaxPageSize. Errors:
// BAD_USER_INPUT "skip" when negative, "userId" as FindOrders.
func (s *Store) ListOrders(ctx context.Context, f OrderFilter, skip, limit int) ([]Order, error) {
	if skip < 0 {
		return nil, BadInput("skip", "must not be negative")
	}
	if limit <= 0 || limit > MaxPageSize {
		limit = MaxPageSize
	}
	where, args, err := f.where()
	if err != nil {
		return nil, err
	}
	args = append(args, limit, skip)
	list := []Order{}
	err = sqlx.SelectContext(ctx, s.db, &list, orderListQuery(where)+fmt.Sprintf(" LIMIT $%d OFFSET $%d", len(args)-1, len(args)), args...)
	return list, err
}

// UpdateOrderStatus sets an order's status by hand (admin) and records the
// change (from, to, actor, note) in the same transaction. Setting the
// status it already has is recorded too (the note may matter: "customer
// called"), but leaves updated_at alone. Any status may follow any other:
// admins repair what automation got wrong. Canceling an order cancels its
// tasks that have not started (see SetOrderStatusTx). Errors: NOT_FOUND
// "Order not found".
func (s *Store) UpdateOrderStatus(ctx context.Context, id string, to OrderStatus, actor, note string) (*Order, error) {
	var o *Order
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		o, err = SetOrderStatusTx(ctx, tx, id, to, actor, note)
		return err
	})
	return o, err
}

// SetOrderStatusTx is UpdateOrderStatus inside the caller's transaction, for
// packages that change the status together with other writes (payments:
// paid → processing + tasks; fulfillment: derived status). It locks the
// order row. Errors: NOT_FOUND "Order not found".
//
// Setting canceled (even again) also cancels the order's tasks that are
// pending or parked, in the same transaction, each with a history entry
// noting "order canceled", so the worker never calls a provider for them
// (ClaimTasks also skips tasks of canceled orders). Tasks already
// in_progress keep their lease and finish: the provider call may be under
// way, and its outcome is recorded on the task; the order stays canceled
// whatever they report. Failed and completed tasks are left as they are.
func SetOrderStatusTx(ctx context.Context, tx sqlx.ExtContext, id string, to OrderStatus, actor, note string) (*Order, error) {
	if to == OrderCanceled && validUUID(id) {
		// Lock the tasks before the order row: the worker and the operator
		// actions lock a task, then its order (deriveOrderStatusTx), and
		// taking the order first here could deadlock with them. A task a
		// worker is claiming right now is waited for and then skipped: it
		// is in_progress.
		if _, err := tx.ExecContext(ctx, `SELECT t.id FROM fulfillment_tasks t
			JOIN order_items oi ON oi.id = t.order_item_id
			WHERE oi.order_id = $1 AND t.status IN ('pending', 'parked')
			ORDER BY t.id FOR UPDATE OF t`, id); err != nil {
			return nil, fmt.Errorf("lock order tasks: %w", err)
		}
	}
	o, err := findOrder(ctx, tx, id, true)
	if err != nil {
		return nil, err
	}
	from := o.Status
	if from != to {
		o = &Order{}
		if err := sqlx.GetContext(ctx, tx, o, `UPDATE orders SET status = $2, updated_at = now()
			WHERE id = $1 RETURNING `+orderColumns, id, to); err != nil {
			return nil, err
		}
	}
	var notePtr *string
	if strings.TrimSpace(note) != "" {
		notePtr = &note
	}
	if actor == "" {
		actor = "system"
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO order_status_events (order_id, from_status, to_status, actor, note)
		VALUES ($1, $2, $3, $4, $5)`, id, from, to, actor, notePtr)
	if err != nil {
		return nil, err
	}
	if to == OrderCanceled {
		if err := cancelOpenTasksTx(ctx, tx, id, actor); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// cancelOpenTasksTx cancels the order's pending and parked tasks (history
// event "canceled", note "order canceled", by actor). The caller holds the
// locks (SetOrderStatusTx).
func cancelOpenTasksTx(ctx context.Context, tx sqlx.ExtContext, orderID, actor string) error {
	_, err := tx.ExecContext(ctx, `UPDATE fulfillment_tasks t SET status = 'canceled', completed_at = now(),
			updated_at = now(), lease_owner = NULL, lease_expires_at = NULL,
			history = t.history || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', 0,
				'event', 'canceled', 'worker', $2::text, 'note', 'order canceled'))
		FROM order_items oi
		WHERE oi.id = t.order_item_id AND oi.order_id = $1 AND t.status IN ('pending', 'parked')`, orderID, actor)
	if err != nil {
		return fmt.Errorf("cancel order tasks: %w", err)
	}
	return nil
}

// Progress is an order's fulfillment progress (SPEC §5; REST keys compat).
// Canceled tasks are not counted: they are work nobody will do, so an order
// whose other tasks are all completed is 100% done. Parked tasks (waiting
// for reconciliation) count as in progress.
type Progress struct {
	OrderID            string      `db:"order_id" json:"order_id"`
	OrderStatus        OrderStatus `db:"order_status" json:"order_status"`
	TotalTasks         int         `db:"total_tasks" json:"total_tasks"`
	CompletedTasks     int         `db:"completed_tasks" json:"completed_tasks"`
	FailedTasks        int         `db:"failed_tasks" json:"failed_tasks"`
	InProgressTasks    int         `db:"in_progress_tasks" json:"in_progress_tasks"`
	ProgressPercentage float64     `db:"-" json:"progress_percentage"`
	ItemsCount         int         `db:"items_count" json:"items_count"`
}

// OrderProgress counts the order's fulfillment tasks with one query.
// progress_percentage = completed / total × 100, rounded half-up to two
// decimals (exactly, then converted: it is a ratio, not money); 0 with no
// tasks. Errors: NOT_FOUND "Order not found".
func (s *Store) OrderProgress(ctx context.Context, id string) (*Progress, error) {
	if !validUUID(id) {
		return nil, &Error{Code: CodeNotFound, Message: "Order not found"}
	}
	var p Progress
	err := sqlx.GetContext(ctx, s.db, &p, `SELECT o.id AS order_id, o.status AS order_status,
		(SELECT count(*) FROM order_items i WHERE i.order_id = o.id) AS items_count,
		count(t.id) FILTER (WHERE t.status <> 'canceled') AS total_tasks,
		count(t.id) FILTER (WHERE t.status = 'completed') AS completed_tasks,
		count(t.id) FILTER (WHERE t.status = 'failed') AS failed_tasks,
		count(t.id) FILTER (WHERE t.status IN ('in_progress', 'parked')) AS in_progress_tasks
		FROM orders o
		LEFT JOIN order_items i ON i.order_id = o.id
		LEFT JOIN fulfillment_tasks t ON t.order_item_id = i.id
		WHERE o.id = $1
		GROUP BY o.id`, id)
	if err != nil {
		return nil, notFound(err, "Order not found")
	}
	if p.TotalTasks > 0 {
		pct := decimal.NewFromInt(int64(p.CompletedTasks)).Mul(decimal.NewFromInt(100)).
			DivRound(decimal.NewFromInt(int64(p.TotalTasks)), 2)
		p.ProgressPercentage = pct.InexactFloat64()
	}
	return &p, nil
}

// ConfigurationFromCart reads the storefront cart's shape that the REST
// body carries (SPEC §5, compat): selected_options {options:[{groupId,
// optionId}], addOns:[{id}], subscriptionPlan:{id}} and attributes
// {customFields:[{id, value}]}. Other keys are ignored here (CreateOrder
// stores both documents as given). Entries keep their order, so the i-th
// option of the cart is configuration.optionIds.i (see CartPaths).
// prefix is the item's path ("items.0"). Errors: BAD_USER_INPUT on the
// offending cart path when a document or an entry has the wrong shape.
func ConfigurationFromCart(selectedOptions, attributes JSON, prefix string) (Configuration, error) {
	var cfg Configuration
	if len(selectedOptions) > 0 && string(selectedOptions) != "null" {
		var sel struct {
			Options []struct {
				OptionID *string `json:"optionId"`
			} `json:"options"`
			AddOns []struct {
				ID *string `json:"id"`
			} `json:"addOns"`
			SubscriptionPlan *struct {
				ID *string `json:"id"`
			} `json:"subscriptionPlan"`
		}
		if err := json.Unmarshal(selectedOptions, &sel); err != nil {
			return cfg, BadInput(fieldPath(prefix, "selected_options"), "must be {options:[{groupId, optionId}], addOns:[{id}], subscriptionPlan:{id}}")
		}
		for i, o := range sel.Options {
			if o.OptionID == nil || *o.OptionID == "" {
				return cfg, BadInput(fieldPath(prefix, "selected_options", "options", i, "optionId"), "is required")
			}
			cfg.OptionIDs = append(cfg.OptionIDs, *o.OptionID)
		}
		for i, a := range sel.AddOns {
			if a.ID == nil || *a.ID == "" {
				return cfg, BadInput(fieldPath(prefix, "selected_options", "addOns", i, "id"), "is required")
			}
			cfg.AddOnIDs = append(cfg.AddOnIDs, *a.ID)
		}
		if sp := sel.SubscriptionPlan; sp != nil && sp.ID != nil && *sp.ID != "" {
			cfg.SubscriptionPlanID = sp.ID
		}
	}
	if len(attributes) > 0 && string(attributes) != "null" {
		var attrs struct {
			CustomFields []struct {
				ID    *string         `json:"id"`
				Value json.RawMessage `json:"value"`
			} `json:"customFields"`
		}
		if err := json.Unmarshal(attributes, &attrs); err != nil {
			return cfg, BadInput(fieldPath(prefix, "attributes"), "must be {customFields:[{id, value}]}")
		}
		for i, f := range attrs.CustomFields {
			if f.ID == nil || *f.ID == "" {
				return cfg, BadInput(fieldPath(prefix, "attributes", "customFields", i, "id"), "is required")
			}
			var value string
			switch {
			case len(f.Value) == 0 || string(f.Value) == "null":
			case f.Value[0] == '"':
				if err := json.Unmarshal(f.Value, &value); err != nil {
					return cfg, BadInput(fieldPath(prefix, "attributes", "customFields", i, "value"), "must be a string")
				}
			case f.Value[0] == '{' || f.Value[0] == '[':
				return cfg, BadInput(fieldPath(prefix, "attributes", "customFields", i, "value"), "must be a string")
			default: // a number or boolean, as the old form sometimes sent
				value = string(f.Value)
			}
			cfg.CustomFields = append(cfg.CustomFields, CustomFieldValue{FieldID: *f.ID, Value: value})
		}
	}
	return cfg, nil
}

// cartPaths maps CreateOrder's field path segments to the REST body's.
var cartPaths = []struct{ from, to string }{
	{".configuration.optionIds.", ".selected_options.options."},
	{".configuration.optionIds", ".selected_options.options"},
	{".configuration.addOnIds.", ".selected_options.addOns."},
	{".configuration.subscriptionPlanId", ".selected_options.subscriptionPlan.id"},
	{".configuration.customFields.", ".attributes.customFields."},
	{".configuration.customFields", ".attributes.customFields"},
	{".configuration", ".selected_options"},
	{".productId", ".product_id"},
	{".productSlug", ".product_slug"},
	{".unitPrice", ".unit_price"},
	{".totalPrice", ".total_price"},
}

// CartPath rewrites a CreateOrder field path into the REST body's terms
// ("items.0.configuration.optionIds.1" → "items.0.selected_options.options.1.optionId",
// "userId" → "user_id"), for input built with ConfigurationFromCart.
func CartPath(path string) string {
	switch path {
	case "userId":
		return "user_id"
	case "customerEmail":
		return "customer_email"
	}
	p := "." + path
	for _, m := range cartPaths {
		if i := strings.Index(p, m.from); i >= 0 {
			rest := p[i+len(m.from):]
			p = p[:i] + m.to + rest
			// an index of options/add-ons names the entry's id key
			if strings.HasSuffix(m.from, "optionIds.") && !strings.Contains(rest, ".") {
				p += ".optionId"
			} else if strings.HasSuffix(m.from, "addOnIds.") && !strings.Contains(rest, ".") {
				p += ".id"
			} else if strings.HasSuffix(m.from, "customFields.") && strings.HasSuffix(p, ".fieldId") {
				p = strings.TrimSuffix(p, ".fieldId") + ".id"
			}
			break
		}
	}
	return strings.TrimPrefix(p, ".")
}

// QuoteProduct prices a configuration of the product with the slug for the
// public quote query: the same Price the order uses, so preview and order
// agree to the cent, except that required custom fields may still be empty
// (PricePreview: the configurator quotes while the buyer types; createOrder
// enforces them). Paths are relative to the query's arguments
// ("configuration.optionIds.1", "quantity"). Errors: NOT_FOUND "Product not
// found" on productSlug; BAD_USER_INPUT on productSlug for a draft or
// archived product, and every Price error.
func (s *Store) QuoteProduct(ctx context.Context, slug string, cfg Configuration, quantity int) (*Quote, error) {
	_, bySlug, err := s.productDetails(ctx, nil, []string{slug})
	if err != nil {
		return nil, err
	}
	p := bySlug[slug]
	if p == nil {
		return nil, &Error{Code: CodeNotFound, Field: "productSlug", Message: "Product not found"}
	}
	if p.Status != ProductActive {
		return nil, BadInput("productSlug", "product %s is %s and cannot be ordered", p.Slug, p.Status)
	}
	return PricePreview(p, cfg, quantity, "")
}
