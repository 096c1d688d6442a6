package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// Product is a sellable product; its configuration hangs off it.
type Product struct {
	ID                string          `db:"id" json:"id"`
	Slug              string          `db:"slug" json:"slug"`
	Title             string          `db:"title" json:"title"`
	Description       *string         `db:"description" json:"description"`
	Category          string          `db:"category" json:"category"`
	BasePrice         decimal.Decimal `db:"base_price" json:"basePrice"`
	Currency          Currency        `db:"currency" json:"currency"`
	Status            ProductStatus   `db:"status" json:"status"`
	FulfillmentConfig JSON            `db:"fulfillment_config" json:"fulfillmentConfig"`
	CreatedAt         time.Time       `db:"created_at" json:"createdAt"`
	UpdatedAt         time.Time       `db:"updated_at" json:"updatedAt"`
}

// OptionGroup is a set of options of which the buyer picks one (single) or
// several (multiple).
type OptionGroup struct {
	ID           string    `db:"id"`
	ProductID    string    `db:"product_id"`
	Name         string    `db:"name"`
	Description  *string   `db:"description"`
	GroupType    GroupType `db:"group_type"`
	IsRequired   bool      `db:"is_required"`
	DisplayOrder int       `db:"display_order"`
	MetadataJSON JSON      `db:"metadata_json"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

// ProductOption is one choice of an option group.
type ProductOption struct {
	ID           string          `db:"id"`
	GroupID      string          `db:"group_id"`
	Name         string          `db:"name"`
	Description  *string         `db:"description"`
	PriceDelta   decimal.Decimal `db:"price_delta"`
	MetadataJSON JSON            `db:"metadata_json"`
	DisplayOrder int             `db:"display_order"`
	CreatedAt    time.Time       `db:"created_at"`
	UpdatedAt    time.Time       `db:"updated_at"`
}

// Label is the option's name under the storefront's field name (compat).
func (o ProductOption) Label() string { return o.Name }

// Recommended reports whether the option's metadata marks it as its group's
// default ({"recommended": true}).
func (o ProductOption) Recommended() bool {
	return strings.Contains(strings.ReplaceAll(string(o.MetadataJSON), " ", ""), `"recommended":true`)
}

// AddOn is an optional upsell.
type AddOn struct {
	ID            string          `db:"id"`
	ProductID     string          `db:"product_id"`
	Label         string          `db:"label"`
	Description   *string         `db:"description"`
	PriceDelta    decimal.Decimal `db:"price_delta"`
	IsRecommended bool            `db:"is_recommended"`
	DisplayOrder  int             `db:"display_order"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
}

// CustomField is an input the buyer fills in for fulfillment.
type CustomField struct {
	ID           string    `db:"id"`
	ProductID    string    `db:"product_id"`
	Label        string    `db:"label"`
	FieldType    FieldType `db:"field_type"`
	Placeholder  *string   `db:"placeholder"`
	HelpText     *string   `db:"help_text"`
	IsRequired   bool      `db:"is_required"`
	DisplayOrder int       `db:"display_order"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
}

// SubscriptionPlan adjusts the unit price by a multiplier and/or a delta.
type SubscriptionPlan struct {
	ID              string           `db:"id"`
	ProductID       string           `db:"product_id"`
	Label           string           `db:"label"`
	Description     *string          `db:"description"`
	BillingCycle    BillingCycle     `db:"billing_cycle"`
	PriceMultiplier *decimal.Decimal `db:"price_multiplier"`
	PriceDelta      *decimal.Decimal `db:"price_delta"`
	IsDefault       bool             `db:"is_default"`
	DisplayOrder    int              `db:"display_order"`
	CreatedAt       time.Time        `db:"created_at"`
	UpdatedAt       time.Time        `db:"updated_at"`
}

// ProductDetail is a product with its whole configuration, lists in display
// order. Options of each group are in Options[group.ID].
type ProductDetail struct {
	Product
	OptionGroups      []OptionGroup
	Options           map[string][]ProductOption
	AddOns            []AddOn
	CustomFields      []CustomField
	SubscriptionPlans []SubscriptionPlan
}

const productColumns = `id, slug, title, description, category, base_price, currency, status,
	fulfillment_config, created_at, updated_at`

// validUUID reports whether s is a UUID; ids that are not cannot exist.
func validUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil
}

// FindProductBySlug returns the product with the slug, or NOT_FOUND.
func (s *Store) FindProductBySlug(ctx context.Context, slug string) (*Product, error) {
	var p Product
	err := sqlx.GetContext(ctx, prepared{s}, &p, `SELECT `+productColumns+` FROM products WHERE slug = $1`, slug)
	if err != nil {
		return nil, notFound(err, "Product not found")
	}
	return &p, nil
}

// FindProduct returns the product with the id, or NOT_FOUND.
func (s *Store) FindProduct(ctx context.Context, id string) (*Product, error) {
	return findProduct(ctx, s.db, id)
}

func findProduct(ctx context.Context, q sqlx.QueryerContext, id string) (*Product, error) {
	if !validUUID(id) {
		return nil, &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	var p Product
	err := sqlx.GetContext(ctx, q, &p, `SELECT `+productColumns+` FROM products WHERE id = $1`, id)
	if err != nil {
		return nil, notFound(err, "Product not found")
	}
	return &p, nil
}

// ProductFilter narrows a catalog page. Nil fields do not filter.
type ProductFilter struct {
	Status   *ProductStatus
	Category *string
	// Search matches title or slug, case-insensitively.
	Search *string
}

// MaxPageSize caps every page of a list.
const MaxPageSize = 100

// ProductPage is one page of a catalog listing.
type ProductPage struct {
	Products    []Product
	HasNextPage bool
}

// Cursor is a position in a (created_at, id) ordered list.
type Cursor struct {
	CreatedAt time.Time
	ID        string
}

// Encode returns the opaque form of the cursor.
func (c Cursor) Encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(c.CreatedAt.UTC().Format(time.RFC3339Nano) + "|" + c.ID))
}

// DecodeCursor parses an opaque cursor; field names the argument for errors.
func DecodeCursor(field, s string) (*Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, BadInput(field, "invalid cursor")
	}
	ts, id, ok := strings.Cut(string(b), "|")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || !validUUID(id) {
		return nil, BadInput(field, "invalid cursor")
	}
	return &Cursor{CreatedAt: t, ID: id}, nil
}

func (f ProductFilter) where() ([]string, []any) {
	var where []string
	var args []any
	if f.Status != nil {
		args = append(args, *f.Status)
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if f.Category != nil {
		args = append(args, *f.Category)
		where = append(where, fmt.Sprintf("category = $%d", len(args)))
	}
	if f.Search != nil && strings.TrimSpace(*f.Search) != "" {
		args = append(args, "%"+escapeLike(strings.TrimSpace(*f.Search))+"%")
		where = append(where, fmt.Sprintf("(title ILIKE $%d OR slug ILIKE $%d)", len(args), len(args)))
	}
	return where, args
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// FindProducts returns up to first products after the cursor, oldest first,
// matching the filter. first is clamped to 1..MaxPageSize.
func (s *Store) FindProducts(ctx context.Context, f ProductFilter, first int, after *Cursor) (ProductPage, error) {
	first = clampPage(first)
	where, args := f.where()
	if after != nil {
		args = append(args, after.CreatedAt, after.ID)
		where = append(where, fmt.Sprintf("(created_at, id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	q := `SELECT ` + productColumns + ` FROM products`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, first+1)
	q += fmt.Sprintf(" ORDER BY created_at, id LIMIT $%d", len(args))
	var ps []Product
	if err := sqlx.SelectContext(ctx, prepared{s}, &ps, q, args...); err != nil {
		return ProductPage{}, err
	}
	page := ProductPage{Products: ps}
	if len(ps) > first {
		page.Products, page.HasNextPage = ps[:first], true
	}
	return page, nil
}

// CountProducts counts the products matching the filter.
func (s *Store) CountProducts(ctx context.Context, f ProductFilter) (int, error) {
	where, args := f.where()
	q := `SELECT count(*) FROM products`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var n int
	err := sqlx.GetContext(ctx, prepared{s}, &n, q, args...)
	return n, err
}

func clampPage(first int) int {
	if first <= 0 || first > MaxPageSize {
		if first <= 0 {
			return 20
		}
		return MaxPageSize
	}
	return first
}

// groupBy buckets rows by key, keeping their order.
func groupBy[T any](rows []T, key func(T) string) map[string][]T {
	m := make(map[string][]T)
	for _, r := range rows {
		k := key(r)
		m[k] = append(m[k], r)
	}
	return m
}

// validIDs drops ids that are not UUIDs (they cannot match a row).
func validIDs(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if validUUID(id) {
			out = append(out, id)
		}
	}
	return out
}

// OptionGroupsByProduct returns the option groups of each product, in
// display order, with one query.
func (s *Store) OptionGroupsByProduct(ctx context.Context, productIDs []string) (map[string][]OptionGroup, error) {
	return optionGroupsByProduct(ctx, prepared{s}, productIDs)
}

func optionGroupsByProduct(ctx context.Context, q sqlx.QueryerContext, productIDs []string) (map[string][]OptionGroup, error) {
	var rows []OptionGroup
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, product_id, name, description, group_type, is_required,
		display_order, metadata_json, created_at, updated_at
		FROM product_option_groups WHERE product_id = ANY($1) ORDER BY product_id, display_order, created_at, id`,
		pq.Array(validIDs(productIDs)))
	return groupBy(rows, func(g OptionGroup) string { return g.ProductID }), err
}

// OptionsByGroup returns the options of each group, in display order, with
// one query.
func (s *Store) OptionsByGroup(ctx context.Context, groupIDs []string) (map[string][]ProductOption, error) {
	return optionsByGroup(ctx, prepared{s}, groupIDs)
}

func optionsByGroup(ctx context.Context, q sqlx.QueryerContext, groupIDs []string) (map[string][]ProductOption, error) {
	var rows []ProductOption
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, group_id, name, description, price_delta, metadata_json,
		display_order, created_at, updated_at
		FROM product_options WHERE group_id = ANY($1) ORDER BY group_id, display_order, created_at, id`,
		pq.Array(validIDs(groupIDs)))
	return groupBy(rows, func(o ProductOption) string { return o.GroupID }), err
}

// AddOnsByProduct returns the add-ons of each product, in display order.
func (s *Store) AddOnsByProduct(ctx context.Context, productIDs []string) (map[string][]AddOn, error) {
	return addOnsByProduct(ctx, prepared{s}, productIDs)
}

func addOnsByProduct(ctx context.Context, q sqlx.QueryerContext, productIDs []string) (map[string][]AddOn, error) {
	var rows []AddOn
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, product_id, label, description, price_delta,
		is_recommended, display_order, created_at, updated_at
		FROM product_add_ons WHERE product_id = ANY($1) ORDER BY product_id, display_order, created_at, id`,
		pq.Array(validIDs(productIDs)))
	return groupBy(rows, func(a AddOn) string { return a.ProductID }), err
}

// CustomFieldsByProduct returns the custom fields of each product, in
// display order.
func (s *Store) CustomFieldsByProduct(ctx context.Context, productIDs []string) (map[string][]CustomField, error) {
	return customFieldsByProduct(ctx, prepared{s}, productIDs)
}

func customFieldsByProduct(ctx context.Context, q sqlx.QueryerContext, productIDs []string) (map[string][]CustomField, error) {
	var rows []CustomField
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, product_id, label, field_type, placeholder, help_text,
		is_required, display_order, created_at, updated_at
		FROM product_custom_fields WHERE product_id = ANY($1) ORDER BY product_id, display_order, created_at, id`,
		pq.Array(validIDs(productIDs)))
	return groupBy(rows, func(c CustomField) string { return c.ProductID }), err
}

// PlansByProduct returns the subscription plans of each product, in display
// order.
func (s *Store) PlansByProduct(ctx context.Context, productIDs []string) (map[string][]SubscriptionPlan, error) {
	return plansByProduct(ctx, prepared{s}, productIDs)
}

func plansByProduct(ctx context.Context, q sqlx.QueryerContext, productIDs []string) (map[string][]SubscriptionPlan, error) {
	var rows []SubscriptionPlan
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, product_id, label, description, billing_cycle,
		price_multiplier, price_delta, is_default, display_order, created_at, updated_at
		FROM product_subscription_plans WHERE product_id = ANY($1) ORDER BY product_id, display_order, created_at, id`,
		pq.Array(validIDs(productIDs)))
	return groupBy(rows, func(p SubscriptionPlan) string { return p.ProductID }), err
}

// ProductDetailBySlug returns a product with its whole configuration (two
// statements: the product, then every list), or NOT_FOUND.
func (s *Store) ProductDetailBySlug(ctx context.Context, slug string) (*ProductDetail, error) {
	_, bySlug, err := s.productDetails(ctx, nil, []string{slug})
	if err != nil {
		return nil, err
	}
	d, ok := bySlug[slug]
	if !ok {
		return nil, &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	return d, nil
}

// ProductDetail returns the product with the id and its whole configuration.
func (s *Store) ProductDetail(ctx context.Context, id string) (*ProductDetail, error) {
	byID, _, err := s.productDetails(ctx, []string{id}, nil)
	if err != nil {
		return nil, err
	}
	d, ok := byID[id]
	if !ok {
		return nil, &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	return d, nil
}

// productDetail reads a product's configuration level by level through q
// (a transaction that just rewrote it, say).
func productDetail(ctx context.Context, q sqlx.QueryerContext, p *Product) (*ProductDetail, error) {
	ids := []string{p.ID}
	d := &ProductDetail{Product: *p}
	groups, err := optionGroupsByProduct(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	d.OptionGroups = groups[p.ID]
	groupIDs := make([]string, len(d.OptionGroups))
	for i, g := range d.OptionGroups {
		groupIDs[i] = g.ID
	}
	if d.Options, err = optionsByGroup(ctx, q, groupIDs); err != nil {
		return nil, err
	}
	addOns, err := addOnsByProduct(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	fields, err := customFieldsByProduct(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	plans, err := plansByProduct(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	d.AddOns, d.CustomFields, d.SubscriptionPlans = addOns[p.ID], fields[p.ID], plans[p.ID]
	return d, nil
}

// ConfigurationLists says which configuration lists to read.
type ConfigurationLists struct {
	Groups, Options, AddOns, CustomFields, Plans bool
}

// AllConfigurationLists reads every list.
var AllConfigurationLists = ConfigurationLists{Groups: true, Options: true, AddOns: true, CustomFields: true, Plans: true}

// Configurations holds the configuration lists of a set of products, each
// in display order: groups, add-ons, fields and plans by product id,
// options by group id.
type Configurations struct {
	Groups  map[string][]OptionGroup
	Options map[string][]ProductOption
	AddOns  map[string][]AddOn
	Fields  map[string][]CustomField
	Plans   map[string][]SubscriptionPlan
}

// configurationsSQL reads every configuration list of the products in one
// statement: one UNION ALL branch per list, each switched on or off by its
// name in $2 (a one-time filter Postgres evaluates once), all with the
// same columns.
const configurationsSQL = `
SELECT 'group' AS kind, g.id, g.product_id AS parent_id, g.name, g.description, g.group_type::text AS sub_type,
	g.is_required AS flag, g.display_order, NULL::numeric AS price_delta, NULL::numeric AS price_multiplier,
	g.metadata_json AS metadata, NULL AS placeholder, NULL AS help_text, g.created_at, g.updated_at
FROM product_option_groups g WHERE g.product_id = ANY($1) AND 'group' = ANY($2)
UNION ALL
SELECT 'option', o.id, o.group_id, o.name, o.description, NULL, false, o.display_order, o.price_delta, NULL,
	o.metadata_json, NULL, NULL, o.created_at, o.updated_at
FROM product_options o JOIN product_option_groups g ON g.id = o.group_id
WHERE g.product_id = ANY($1) AND 'option' = ANY($2)
UNION ALL
SELECT 'add_on', a.id, a.product_id, a.label, a.description, NULL, a.is_recommended, a.display_order, a.price_delta,
	NULL, NULL, NULL, NULL, a.created_at, a.updated_at
FROM product_add_ons a WHERE a.product_id = ANY($1) AND 'add_on' = ANY($2)
UNION ALL
SELECT 'field', f.id, f.product_id, f.label, NULL, f.field_type::text, f.is_required, f.display_order, NULL, NULL,
	NULL, f.placeholder, f.help_text, f.created_at, f.updated_at
FROM product_custom_fields f WHERE f.product_id = ANY($1) AND 'field' = ANY($2)
UNION ALL
SELECT 'plan', p.id, p.product_id, p.label, p.description, p.billing_cycle::text, p.is_default, p.display_order,
	p.price_delta, p.price_multiplier, NULL, NULL, NULL, p.created_at, p.updated_at
FROM product_subscription_plans p WHERE p.product_id = ANY($1) AND 'plan' = ANY($2)
ORDER BY kind, parent_id, display_order, created_at, id`

// Configurations reads the chosen configuration lists of the products with
// one statement (configurationsSQL), scanning rows without reflection:
// the catalog's hot path.
func (s *Store) Configurations(ctx context.Context, productIDs []string, lists ConfigurationLists) (*Configurations, error) {
	c := &Configurations{Groups: map[string][]OptionGroup{}, Options: map[string][]ProductOption{},
		AddOns: map[string][]AddOn{}, Fields: map[string][]CustomField{}, Plans: map[string][]SubscriptionPlan{}}
	var kinds []string
	for kind, on := range map[string]bool{"group": lists.Groups, "option": lists.Options, "add_on": lists.AddOns,
		"field": lists.CustomFields, "plan": lists.Plans} {
		if on {
			kinds = append(kinds, kind)
		}
	}
	ids := validIDs(productIDs)
	if len(kinds) == 0 || len(ids) == 0 {
		return c, nil
	}
	rows, err := prepared{s}.QueryContext(ctx, configurationsSQL, pq.Array(ids), pq.Array(kinds))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			kind, id, parent, name string
			desc, subType          *string
			flag                   bool
			order                  int
			delta, mult            decimal.NullDecimal
			meta                   JSON
			placeholder, help      *string
			created, updated       time.Time
		)
		if err := rows.Scan(&kind, &id, &parent, &name, &desc, &subType, &flag, &order, &delta, &mult, &meta,
			&placeholder, &help, &created, &updated); err != nil {
			return nil, err
		}
		sub := ""
		if subType != nil {
			sub = *subType
		}
		switch kind {
		case "group":
			c.Groups[parent] = append(c.Groups[parent], OptionGroup{ID: id, ProductID: parent, Name: name, Description: desc,
				GroupType: GroupType(sub), IsRequired: flag, DisplayOrder: order, MetadataJSON: meta, CreatedAt: created, UpdatedAt: updated})
		case "option":
			c.Options[parent] = append(c.Options[parent], ProductOption{ID: id, GroupID: parent, Name: name, Description: desc,
				PriceDelta: delta.Decimal, MetadataJSON: meta, DisplayOrder: order, CreatedAt: created, UpdatedAt: updated})
		case "add_on":
			c.AddOns[parent] = append(c.AddOns[parent], AddOn{ID: id, ProductID: parent, Label: name, Description: desc,
				PriceDelta: delta.Decimal, IsRecommended: flag, DisplayOrder: order, CreatedAt: created, UpdatedAt: updated})
		case "field":
			c.Fields[parent] = append(c.Fields[parent], CustomField{ID: id, ProductID: parent, Label: name, FieldType: FieldType(sub),
				Placeholder: placeholder, HelpText: help, IsRequired: flag, DisplayOrder: order, CreatedAt: created, UpdatedAt: updated})
		case "plan":
			p := SubscriptionPlan{ID: id, ProductID: parent, Label: name, Description: desc, BillingCycle: BillingCycle(sub),
				IsDefault: flag, DisplayOrder: order, CreatedAt: created, UpdatedAt: updated}
			if delta.Valid {
				p.PriceDelta = &delta.Decimal
			}
			if mult.Valid {
				p.PriceMultiplier = &mult.Decimal
			}
			c.Plans[parent] = append(c.Plans[parent], p)
		}
	}
	return c, rows.Err()
}
