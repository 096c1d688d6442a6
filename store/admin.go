package store

// Catalog administration (issue 3): create, update, delete and reorder of
// products and every nested configuration entity.
//
// Conventions of every method here:
//   - one transaction; on any error nothing is written;
//   - errors are store.Errors: BAD_USER_INPUT with the GraphQL input field
//     (camelCase: "slug", "priceDelta", "ids.2", …), NOT_FOUND for an unknown
//     id (ids that are not UUIDs cannot exist and are NOT_FOUND too),
//     CONFLICT for a duplicate slug;
//   - a write to a nested entity locks its product row (FOR NO KEY UPDATE,
//     which does not block order items referencing the product) and bumps
//     the product's updated_at, so concurrent admin edits of one product
//     are serialised and caches keyed on updated_at see the change;
//   - DisplayOrder on create/update is a 0-based position among siblings:
//     nil appends at the end (max+1); a position places the entity there and
//     renumbers the siblings 0..n-1 (a position past the end appends);
//   - text inputs (titles, names, labels, category) are trimmed before they
//     are checked and stored.
//
// The nested entities share one implementation of each write (lock the
// parent, insert / update / delete / reorder, read back): childTable in
// admin_children.go; the methods here validate their input and name the
// columns.

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/shopspring/decimal"
)

// Nullable is an update of a nullable column: !Set leaves the column as it
// is; Set with a nil Value clears it (NULL); Set with a Value writes it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// SetTo is a Nullable that writes v.
func SetTo[T any](v T) Nullable[T] { return Nullable[T]{Set: true, Value: &v} }

// SetNull is a Nullable that clears the column.
func SetNull[T any]() Nullable[T] { return Nullable[T]{Set: true} }

// ---------------------------------------------------------------------------
// Validation helpers, shared by the single-entity methods and
// ReplaceConfiguration. Each takes the field path it reports.

// Input limits.
const (
	maxSlugLen     = 100
	maxTitleLen    = 200 // titles, names, labels
	maxCategoryLen = 100
	maxTextLen     = 5000 // descriptions, placeholders, help texts
)

// maxMoney bounds numeric(10,2) columns: 8 integer digits.
var maxMoney = decimal.New(1, 8)

// maxMultiplier bounds numeric(10,4): 6 integer digits.
var maxMultiplier = decimal.New(1, 6)

var slugPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func joinField(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func validateSlug(field, slug string) error {
	if slug == "" {
		return BadInput(field, "is required")
	}
	if len(slug) > maxSlugLen {
		return BadInput(field, "must be at most %d characters", maxSlugLen)
	}
	if !slugPattern.MatchString(slug) {
		return BadInput(field, "must be lowercase letters and digits separated by single dashes")
	}
	return nil
}

// requiredText trims s and refuses it when blank or longer than max.
func requiredText(field, s string, max int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", BadInput(field, "must not be blank")
	}
	if len([]rune(s)) > max {
		return "", BadInput(field, "must be at most %d characters", max)
	}
	return s, nil
}

// requiredTextIfSet is requiredText for an update: nil stays nil, else the
// trimmed text.
func requiredTextIfSet(field string, s *string, max int) (*string, error) {
	if s == nil {
		return nil, nil
	}
	t, err := requiredText(field, *s, max)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// optionalText refuses an over-long optional text; nil stays nil.
func optionalText(field string, s *string) error {
	if s != nil && len([]rune(*s)) > maxTextLen {
		return BadInput(field, "must be at most %d characters", maxTextLen)
	}
	return nil
}

func validateBasePrice(field string, d decimal.Decimal) error {
	if d.IsNegative() {
		return BadInput(field, "must not be negative")
	}
	return validateMoney(field, d)
}

// validateMoney checks a numeric(10,2) amount: at most 2 decimals and
// below 100,000,000 in absolute value.
func validateMoney(field string, d decimal.Decimal) error {
	if !d.Equal(d.Round(2)) {
		return BadInput(field, "must have at most 2 decimal places")
	}
	if d.Abs().GreaterThanOrEqual(maxMoney) {
		return BadInput(field, "must be below %s", maxMoney.String())
	}
	return nil
}

func validateMultiplier(field string, d decimal.Decimal) error {
	if !d.IsPositive() {
		return BadInput(field, "must be greater than zero")
	}
	if !d.Equal(d.Round(4)) {
		return BadInput(field, "must have at most 4 decimal places")
	}
	if d.GreaterThanOrEqual(maxMultiplier) {
		return BadInput(field, "must be below %s", maxMultiplier.String())
	}
	return nil
}

// normalizeEnum parses an enum input in either case; empty takes def.
func normalizeEnum[T enum](field string, v T, def T, allowed []T) (T, error) {
	if strings.TrimSpace(string(v)) == "" {
		return def, nil
	}
	return parseEnum(field, string(v), allowed)
}

// parseObject checks that a metadata document is a JSON object (or empty /
// null, which store as NULL) and returns it decoded.
func parseObject(field string, j JSON) (map[string]any, JSON, error) {
	if len(strings.TrimSpace(string(j))) == 0 || strings.TrimSpace(string(j)) == "null" {
		return nil, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil || m == nil {
		return nil, nil, BadInput(field, "must be a JSON object")
	}
	return m, j, nil
}

// allowsSeveral reports whether option-group metadata says the group takes
// several options. Kept simple on purpose: {"max_selections"|"maxSelections":
// n > 1} or {"allowMultiple"|"allow_multiple"|"multiple": true}.
func allowsSeveral(meta map[string]any) bool {
	for _, k := range []string{"max_selections", "maxSelections"} {
		if n, ok := meta[k].(float64); ok && n > 1 {
			return true
		}
	}
	for _, k := range []string{"allowMultiple", "allow_multiple", "multiple"} {
		if b, ok := meta[k].(bool); ok && b {
			return true
		}
	}
	return false
}

// validateGroupShape refuses a single group whose metadata allows several
// options; the error is on groupType (the client asked for two contradicting
// things and the type is the one the configurator obeys).
func validateGroupShape(prefix string, t GroupType, meta JSON) error {
	m, _, err := parseObject(joinField(prefix, "metadataJson"), meta)
	if err != nil {
		return err
	}
	if t == GroupSingle && allowsSeveral(m) {
		return BadInput(joinField(prefix, "groupType"), "a single group cannot allow several options (metadata says it does)")
	}
	return nil
}

func validatePosition(field string, pos *int) error {
	if pos != nil && *pos < 0 {
		return BadInput(field, "must not be negative")
	}
	return nil
}

// ---------------------------------------------------------------------------
// Products

// ProductInput creates a product. Status "" means draft and Currency ""
// means EUR (the column defaults); both accept either letter case.
// FulfillmentConfig nil means none (one manual task per item).
type ProductInput struct {
	Slug              string
	Title             string
	Description       *string
	Category          string
	BasePrice         decimal.Decimal
	Currency          Currency
	Status            ProductStatus
	FulfillmentConfig JSON
}

// ProductUpdate changes the fields that are set; nil / !Set leaves a field
// as it is. Description and FulfillmentConfig may be cleared with
// SetNull.
type ProductUpdate struct {
	Slug              *string
	Title             *string
	Category          *string
	Description       Nullable[string]
	BasePrice         *decimal.Decimal
	Currency          *Currency
	Status            *ProductStatus
	FulfillmentConfig Nullable[JSON]
}

func (in *ProductInput) normalize() error {
	var err error
	if err = validateSlug("slug", in.Slug); err != nil {
		return err
	}
	if in.Title, err = requiredText("title", in.Title, maxTitleLen); err != nil {
		return err
	}
	if err = optionalText("description", in.Description); err != nil {
		return err
	}
	if in.Category, err = requiredText("category", in.Category, maxCategoryLen); err != nil {
		return err
	}
	if err = validateBasePrice("basePrice", in.BasePrice); err != nil {
		return err
	}
	if in.Currency, err = normalizeEnum("currency", in.Currency, EUR, Currencies); err != nil {
		return err
	}
	if in.Status, err = normalizeEnum("status", in.Status, ProductDraft, ProductStatuses); err != nil {
		return err
	}
	in.FulfillmentConfig = nullIfJSONNull(in.FulfillmentConfig)
	return ValidateFulfillmentConfig(in.FulfillmentConfig)
}

// nullIfJSONNull maps a JSON null document to SQL NULL.
func nullIfJSONNull(j JSON) JSON {
	if t := strings.TrimSpace(string(j)); t == "" || t == "null" {
		return nil
	}
	return j
}

// CreateProduct creates a product without configuration (add it with the
// nested methods or ReplaceConfiguration). BAD_USER_INPUT names the invalid
// field (slug, title, description, category, basePrice, currency, status,
// fulfillmentConfig.…); a taken slug is CONFLICT "Product with this slug
// already exists" on slug.
func (s *Store) CreateProduct(ctx context.Context, in ProductInput) (*Product, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*Product, error) {
		var p Product
		if err := sqlx.GetContext(ctx, tx, &p, `INSERT INTO products
			(slug, title, description, category, base_price, currency, status, fulfillment_config)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+productColumns,
			in.Slug, in.Title, in.Description, in.Category, in.BasePrice, in.Currency, in.Status, in.FulfillmentConfig); err != nil {
			return nil, mapError(err)
		}
		return &p, nil
	})
}

// UpdateProduct changes the given fields of a product and bumps updated_at;
// an update with no field set returns the product unchanged. Codes as
// CreateProduct, plus NOT_FOUND "Product not found" for an unknown id.
func (s *Store) UpdateProduct(ctx context.Context, id string, u ProductUpdate) (*Product, error) {
	var sc setClause
	set := sc.set
	if u.Slug != nil {
		if err := validateSlug("slug", *u.Slug); err != nil {
			return nil, err
		}
		set("slug", *u.Slug)
	}
	if u.Title != nil {
		t, err := requiredText("title", *u.Title, maxTitleLen)
		if err != nil {
			return nil, err
		}
		set("title", t)
	}
	if u.Category != nil {
		c, err := requiredText("category", *u.Category, maxCategoryLen)
		if err != nil {
			return nil, err
		}
		set("category", c)
	}
	if u.Description.Set {
		if err := optionalText("description", u.Description.Value); err != nil {
			return nil, err
		}
		set("description", u.Description.Value)
	}
	if u.BasePrice != nil {
		if err := validateBasePrice("basePrice", *u.BasePrice); err != nil {
			return nil, err
		}
		set("base_price", *u.BasePrice)
	}
	if u.Currency != nil {
		c, err := ParseCurrency("currency", string(*u.Currency))
		if err != nil {
			return nil, err
		}
		set("currency", c)
	}
	if u.Status != nil {
		st, err := ParseProductStatus("status", string(*u.Status))
		if err != nil {
			return nil, err
		}
		set("status", st)
	}
	if u.FulfillmentConfig.Set {
		var cfg JSON
		if u.FulfillmentConfig.Value != nil {
			cfg = nullIfJSONNull(*u.FulfillmentConfig.Value)
		}
		if err := ValidateFulfillmentConfig(cfg); err != nil {
			return nil, err
		}
		set("fulfillment_config", cfg)
	}
	if !validUUID(id) {
		return nil, &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	if sc.empty() {
		return s.FindProduct(ctx, id)
	}
	q, args := sc.update("products", id)
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*Product, error) {
		var p Product
		if err := sqlx.GetContext(ctx, tx, &p, q+` RETURNING `+productColumns, args...); err != nil {
			return nil, notFound(mapError(err), "Product not found")
		}
		return &p, nil
	})
}

// UpdateFulfillmentConfig replaces a product's fulfillment_config after
// ValidateFulfillmentConfig; nil or JSON null clears it. BAD_USER_INPUT with
// the path (fulfillmentConfig.tasks.0.execution.url, …); NOT_FOUND.
func (s *Store) UpdateFulfillmentConfig(ctx context.Context, productID string, cfg JSON) (*Product, error) {
	return s.UpdateProduct(ctx, productID, ProductUpdate{FulfillmentConfig: Nullable[JSON]{Set: true, Value: &cfg}})
}

// DeleteProduct deletes a product and (by cascade) its configuration. Past
// orders stay intact: their items keep the product_title snapshot and their
// product_id becomes NULL (ON DELETE SET NULL). NOT_FOUND when absent.
func (s *Store) DeleteProduct(ctx context.Context, id string) error {
	if !validUUID(id) {
		return &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	return s.InTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM products WHERE id = $1`, id)
		if err != nil {
			return mapError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return &Error{Code: CodeNotFound, Message: "Product not found"}
		}
		return nil
	})
}

// touchProduct locks a product row against concurrent admin writes and bumps
// its updated_at; NOT_FOUND when absent.
func touchProduct(ctx context.Context, tx sqlx.ExtContext, productID string) error {
	if !validUUID(productID) {
		return &Error{Code: CodeNotFound, Message: "Product not found"}
	}
	var id string
	err := sqlx.GetContext(ctx, tx, &id, `UPDATE products SET updated_at = now() WHERE id = $1 RETURNING id`, productID)
	return notFound(err, "Product not found")
}

// ---------------------------------------------------------------------------
// Display order

// sibling describes one nested table for ordering: its parent column.
type sibling struct {
	table     string // e.g. product_add_ons
	parentCol string // product_id or group_id
	what      string // for messages: "option group"
}

// siblingIDs lists the parent's children in display order.
func (sb sibling) ids(ctx context.Context, tx sqlx.QueryerContext, parentID string) ([]string, error) {
	var ids []string
	err := sqlx.SelectContext(ctx, tx, &ids, `SELECT id FROM `+sb.table+` WHERE `+sb.parentCol+
		` = $1 ORDER BY display_order, created_at, id`, parentID)
	return ids, err
}

// nextPosition is where an appended child goes: max(display_order)+1.
func (sb sibling) nextPosition(ctx context.Context, tx sqlx.QueryerContext, parentID string) (int, error) {
	var n int
	err := sqlx.GetContext(ctx, tx, &n, `SELECT COALESCE(max(display_order) + 1, 0) FROM `+sb.table+
		` WHERE `+sb.parentCol+` = $1`, parentID)
	return n, err
}

// renumber writes display_order = index for ids, in one statement.
func (sb sibling) renumber(ctx context.Context, tx sqlx.ExtContext, parentID string, ids []string) error {
	orders := make([]int64, len(ids))
	for i := range ids {
		orders[i] = int64(i)
	}
	_, err := tx.ExecContext(ctx, `UPDATE `+sb.table+` t SET display_order = v.ord
		FROM unnest($1::uuid[], $2::int[]) AS v(id, ord)
		WHERE t.id = v.id AND t.`+sb.parentCol+` = $3 AND t.display_order IS DISTINCT FROM v.ord`,
		pq.Array(ids), pq.Array(orders), parentID)
	return err
}

// placeAt moves id to position pos among its siblings (past the end →
// last) and renumbers them 0..n-1.
func (sb sibling) placeAt(ctx context.Context, tx sqlx.ExtContext, parentID, id string, pos int) error {
	all, err := sb.ids(ctx, tx, parentID)
	if err != nil {
		return err
	}
	rest := make([]string, 0, len(all))
	for _, x := range all {
		if x != id {
			rest = append(rest, x)
		}
	}
	if pos > len(rest) {
		pos = len(rest)
	}
	ordered := append(append(append(make([]string, 0, len(all)), rest[:pos]...), id), rest[pos:]...)
	return sb.renumber(ctx, tx, parentID, ordered)
}

// reorder sets the children's order to ids, which must be exactly the
// parent's children: BAD_USER_INPUT on "ids.N" for an unknown or repeated
// id, on "ids" when some are missing.
func (sb sibling) reorder(ctx context.Context, tx sqlx.ExtContext, parentID string, ids []string) error {
	current, err := sb.ids(ctx, tx, parentID)
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(current))
	for _, id := range current {
		have[id] = true
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		field := fmt.Sprintf("ids.%d", i)
		if !have[id] {
			return BadInput(field, "is not a %s of this %s", sb.what, map[string]string{"product_id": "product", "group_id": "option group"}[sb.parentCol])
		}
		if seen[id] {
			return BadInput(field, "is listed twice")
		}
		seen[id] = true
	}
	if len(ids) != len(current) {
		return BadInput("ids", "must list every %s exactly once (%d given, %d exist)", sb.what, len(ids), len(current))
	}
	return sb.renumber(ctx, tx, parentID, ids)
}

// insertPosition is the display_order a new child is inserted with: the
// append position when pos is nil; else pos is applied by placeAt after
// the insert.
func (sb sibling) insertPosition(ctx context.Context, tx sqlx.QueryerContext, parentID string, pos *int) (int, error) {
	if pos == nil {
		return sb.nextPosition(ctx, tx, parentID)
	}
	return *pos, nil
}

// ---------------------------------------------------------------------------
// Option groups

// OptionGroupInput creates an option group. GroupType "" means single.
// DisplayOrder nil appends.
type OptionGroupInput struct {
	Name         string
	Description  *string
	GroupType    GroupType
	IsRequired   bool
	MetadataJSON JSON
	DisplayOrder *int
}

// OptionGroupUpdate changes the fields that are set.
type OptionGroupUpdate struct {
	Name         *string
	Description  Nullable[string]
	GroupType    *GroupType
	IsRequired   *bool
	MetadataJSON Nullable[JSON]
	DisplayOrder *int
}

const optionGroupColumns = `id, product_id, name, description, group_type, is_required,
	display_order, metadata_json, created_at, updated_at`

// groupTable: option groups belong to a product.
var groupTable = childTable[OptionGroup]{
	sb:         sibling{"product_option_groups", "product_id", "option group"},
	columns:    optionGroupColumns,
	notFound:   "Option group not found",
	lockParent: touchProduct,
	byParent:   optionGroupsByProduct,
}

// normalize validates a group (not its options) under prefix.
func (g *OptionGroupSpec) normalize(prefix string) error {
	var err error
	if g.Name, err = requiredText(joinField(prefix, "name"), g.Name, maxTitleLen); err != nil {
		return err
	}
	if err = optionalText(joinField(prefix, "description"), g.Description); err != nil {
		return err
	}
	if g.GroupType, err = normalizeEnum(joinField(prefix, "groupType"), g.GroupType, GroupSingle, GroupTypes); err != nil {
		return err
	}
	if _, g.MetadataJSON, err = parseObject(joinField(prefix, "metadataJson"), g.MetadataJSON); err != nil {
		return err
	}
	return validateGroupShape(prefix, g.GroupType, g.MetadataJSON)
}

// CreateOptionGroup adds an option group (without options) to a product.
// BAD_USER_INPUT on name, description, groupType (also when a single group's
// metadata allows several options), metadataJson, displayOrder; NOT_FOUND
// for an unknown product.
func (s *Store) CreateOptionGroup(ctx context.Context, productID string, in OptionGroupInput) (*OptionGroup, error) {
	spec := OptionGroupSpec{Name: in.Name, Description: in.Description, GroupType: in.GroupType,
		IsRequired: in.IsRequired, MetadataJSON: in.MetadataJSON}
	if err := spec.normalize(""); err != nil {
		return nil, err
	}
	if err := validatePosition("displayOrder", in.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*OptionGroup, error) {
		if err := groupTable.lockParent(ctx, tx, productID); err != nil {
			return nil, err
		}
		return groupTable.insert(ctx, tx, productID, in.DisplayOrder, `INSERT INTO product_option_groups
			(product_id, name, description, group_type, is_required, metadata_json, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			spec.Name, spec.Description, spec.GroupType, spec.IsRequired, spec.MetadataJSON)
	})
}

// UpdateOptionGroup changes the given fields of an option group. The
// single-vs-metadata rule is checked on the result (BAD_USER_INPUT on
// groupType). Codes as CreateOptionGroup; NOT_FOUND "Option group not
// found".
func (s *Store) UpdateOptionGroup(ctx context.Context, id string, u OptionGroupUpdate) (*OptionGroup, error) {
	if u.Name != nil {
		if _, err := requiredText("name", *u.Name, maxTitleLen); err != nil {
			return nil, err
		}
	}
	if u.Description.Set {
		if err := optionalText("description", u.Description.Value); err != nil {
			return nil, err
		}
	}
	if u.GroupType != nil {
		if _, err := parseEnum("groupType", string(*u.GroupType), GroupTypes); err != nil {
			return nil, err
		}
	}
	if u.MetadataJSON.Set && u.MetadataJSON.Value != nil {
		if _, _, err := parseObject("metadataJson", *u.MetadataJSON.Value); err != nil {
			return nil, err
		}
	}
	if err := validatePosition("displayOrder", u.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*OptionGroup, error) {
		return groupTable.update(ctx, tx, id, u.DisplayOrder, func(cur *OptionGroup, sc *setClause) error {
			spec := OptionGroupSpec{Name: cur.Name, Description: cur.Description, GroupType: cur.GroupType,
				IsRequired: cur.IsRequired, MetadataJSON: cur.MetadataJSON}
			if u.Name != nil {
				spec.Name = *u.Name
			}
			if u.Description.Set {
				spec.Description = u.Description.Value
			}
			if u.GroupType != nil {
				spec.GroupType = *u.GroupType
			}
			if u.IsRequired != nil {
				spec.IsRequired = *u.IsRequired
			}
			if u.MetadataJSON.Set {
				spec.MetadataJSON = nil
				if u.MetadataJSON.Value != nil {
					spec.MetadataJSON = *u.MetadataJSON.Value
				}
			}
			// Only the changed fields were checked above; normalise the result
			// (trims, enum case) and check the cross-field rule.
			spec.Name = strings.TrimSpace(spec.Name)
			var err error
			if spec.GroupType, err = normalizeEnum("groupType", spec.GroupType, GroupSingle, GroupTypes); err != nil {
				return err
			}
			spec.MetadataJSON = nullIfJSONNull(spec.MetadataJSON)
			if err := validateGroupShape("", spec.GroupType, spec.MetadataJSON); err != nil {
				return err
			}
			sc.set("name", spec.Name)
			sc.set("description", spec.Description)
			sc.set("group_type", spec.GroupType)
			sc.set("is_required", spec.IsRequired)
			sc.set("metadata_json", spec.MetadataJSON)
			return nil
		})
	})
}

// DeleteOptionGroup deletes an option group and its options, returning the
// group as it was (ProductID tells which product changed). NOT_FOUND.
func (s *Store) DeleteOptionGroup(ctx context.Context, id string) (*OptionGroup, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*OptionGroup, error) {
		return groupTable.delete(ctx, tx, id)
	})
}

// ReorderOptionGroups sets the display order of a product's option groups
// to the order of ids (display_order = index). ids must be exactly the
// product's groups: BAD_USER_INPUT on "ids.N" (another product's, unknown or
// repeated id) or "ids" (some missing); NOT_FOUND for an unknown product.
// Returns the groups in their new order.
func (s *Store) ReorderOptionGroups(ctx context.Context, productID string, ids []string) ([]OptionGroup, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) ([]OptionGroup, error) {
		return groupTable.reorder(ctx, tx, productID, ids)
	})
}

// ---------------------------------------------------------------------------
// Options

// OptionInput creates an option in a group. DisplayOrder nil appends.
// MetadataJSON {"recommended": true} marks the group's default.
type OptionInput struct {
	Name         string
	Description  *string
	PriceDelta   decimal.Decimal
	MetadataJSON JSON
	DisplayOrder *int
}

// OptionUpdate changes the fields that are set. An option cannot move to
// another group (delete and create it there).
type OptionUpdate struct {
	Name         *string
	Description  Nullable[string]
	PriceDelta   *decimal.Decimal
	MetadataJSON Nullable[JSON]
	DisplayOrder *int
}

const optionColumns = `id, group_id, name, description, price_delta, metadata_json,
	display_order, created_at, updated_at`

// optionTable: options belong to an option group, which is locked (with
// its product) as their parent.
var optionTable = childTable[ProductOption]{
	sb:       sibling{"product_options", "group_id", "option"},
	columns:  optionColumns,
	notFound: "Option not found",
	lockParent: func(ctx context.Context, tx sqlx.ExtContext, groupID string) error {
		_, _, err := groupTable.lock(ctx, tx, groupID)
		return err
	},
	byParent: optionsByGroup,
}

func (o *OptionSpec) normalize(prefix string) error {
	var err error
	if o.Name, err = requiredText(joinField(prefix, "name"), o.Name, maxTitleLen); err != nil {
		return err
	}
	if err = optionalText(joinField(prefix, "description"), o.Description); err != nil {
		return err
	}
	if err = validateMoney(joinField(prefix, "priceDelta"), o.PriceDelta); err != nil {
		return err
	}
	_, o.MetadataJSON, err = parseObject(joinField(prefix, "metadataJson"), o.MetadataJSON)
	return err
}

// CreateOption adds an option to an option group. BAD_USER_INPUT on name,
// description, priceDelta (≤ 2 decimals), metadataJson (an object),
// displayOrder; NOT_FOUND "Option group not found".
func (s *Store) CreateOption(ctx context.Context, groupID string, in OptionInput) (*ProductOption, error) {
	spec := OptionSpec{Name: in.Name, Description: in.Description, PriceDelta: in.PriceDelta, MetadataJSON: in.MetadataJSON}
	if err := spec.normalize(""); err != nil {
		return nil, err
	}
	if err := validatePosition("displayOrder", in.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*ProductOption, error) {
		if err := optionTable.lockParent(ctx, tx, groupID); err != nil {
			return nil, err
		}
		return optionTable.insert(ctx, tx, groupID, in.DisplayOrder, `INSERT INTO product_options
			(group_id, name, description, price_delta, metadata_json, display_order)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			spec.Name, spec.Description, spec.PriceDelta, spec.MetadataJSON)
	})
}

// UpdateOption changes the given fields of an option. Codes as
// CreateOption; NOT_FOUND "Option not found".
func (s *Store) UpdateOption(ctx context.Context, id string, u OptionUpdate) (*ProductOption, error) {
	var err error
	if u.Name, err = requiredTextIfSet("name", u.Name, maxTitleLen); err != nil {
		return nil, err
	}
	if u.Description.Set {
		if err := optionalText("description", u.Description.Value); err != nil {
			return nil, err
		}
	}
	if u.PriceDelta != nil {
		if err := validateMoney("priceDelta", *u.PriceDelta); err != nil {
			return nil, err
		}
	}
	var meta JSON
	if u.MetadataJSON.Set && u.MetadataJSON.Value != nil {
		if _, meta, err = parseObject("metadataJson", *u.MetadataJSON.Value); err != nil {
			return nil, err
		}
	}
	if err := validatePosition("displayOrder", u.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*ProductOption, error) {
		return optionTable.update(ctx, tx, id, u.DisplayOrder, func(o *ProductOption, sc *setClause) error {
			setOr(sc, "name", &o.Name, u.Name)
			setOrNullable(sc, "description", &o.Description, u.Description)
			setOr(sc, "price_delta", &o.PriceDelta, u.PriceDelta)
			if u.MetadataJSON.Set {
				o.MetadataJSON = meta
			}
			sc.set("metadata_json", o.MetadataJSON)
			return nil
		})
	})
}

// DeleteOption deletes an option, returning it as it was (GroupID tells
// which group changed). NOT_FOUND "Option not found".
func (s *Store) DeleteOption(ctx context.Context, id string) (*ProductOption, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*ProductOption, error) {
		return optionTable.delete(ctx, tx, id)
	})
}

// ReorderOptions sets the display order of a group's options to the order
// of ids; ids must be exactly the group's options (BAD_USER_INPUT on "ids.N"
// or "ids"); NOT_FOUND "Option group not found". Returns the options in
// their new order.
func (s *Store) ReorderOptions(ctx context.Context, groupID string, ids []string) ([]ProductOption, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) ([]ProductOption, error) {
		return optionTable.reorder(ctx, tx, groupID, ids)
	})
}

// ---------------------------------------------------------------------------
// Add-ons

// AddOnInput creates an add-on. DisplayOrder nil appends.
type AddOnInput struct {
	Label         string
	Description   *string
	PriceDelta    decimal.Decimal
	IsRecommended bool
	DisplayOrder  *int
}

// AddOnUpdate changes the fields that are set.
type AddOnUpdate struct {
	Label         *string
	Description   Nullable[string]
	PriceDelta    *decimal.Decimal
	IsRecommended *bool
	DisplayOrder  *int
}

const addOnColumns = `id, product_id, label, description, price_delta, is_recommended,
	display_order, created_at, updated_at`

// addOnTable: add-ons belong to a product.
var addOnTable = childTable[AddOn]{
	sb:         sibling{"product_add_ons", "product_id", "add-on"},
	columns:    addOnColumns,
	notFound:   "Add-on not found",
	lockParent: touchProduct,
	byParent:   addOnsByProduct,
}

func (a *AddOnSpec) normalize(prefix string) error {
	var err error
	if a.Label, err = requiredText(joinField(prefix, "label"), a.Label, maxTitleLen); err != nil {
		return err
	}
	if err = optionalText(joinField(prefix, "description"), a.Description); err != nil {
		return err
	}
	return validateMoney(joinField(prefix, "priceDelta"), a.PriceDelta)
}

// CreateAddOn adds an add-on to a product. BAD_USER_INPUT on label,
// description, priceDelta, displayOrder; NOT_FOUND "Product not found".
func (s *Store) CreateAddOn(ctx context.Context, productID string, in AddOnInput) (*AddOn, error) {
	spec := AddOnSpec{Label: in.Label, Description: in.Description, PriceDelta: in.PriceDelta, IsRecommended: in.IsRecommended}
	if err := spec.normalize(""); err != nil {
		return nil, err
	}
	if err := validatePosition("displayOrder", in.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*AddOn, error) {
		if err := addOnTable.lockParent(ctx, tx, productID); err != nil {
			return nil, err
		}
		return addOnTable.insert(ctx, tx, productID, in.DisplayOrder, `INSERT INTO product_add_ons
			(product_id, label, description, price_delta, is_recommended, display_order)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
			spec.Label, spec.Description, spec.PriceDelta, spec.IsRecommended)
	})
}

// UpdateAddOn changes the given fields of an add-on. Codes as CreateAddOn;
// NOT_FOUND "Add-on not found".
func (s *Store) UpdateAddOn(ctx context.Context, id string, u AddOnUpdate) (*AddOn, error) {
	var err error
	if u.Label, err = requiredTextIfSet("label", u.Label, maxTitleLen); err != nil {
		return nil, err
	}
	if u.Description.Set {
		if err := optionalText("description", u.Description.Value); err != nil {
			return nil, err
		}
	}
	if u.PriceDelta != nil {
		if err := validateMoney("priceDelta", *u.PriceDelta); err != nil {
			return nil, err
		}
	}
	if err := validatePosition("displayOrder", u.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*AddOn, error) {
		return addOnTable.update(ctx, tx, id, u.DisplayOrder, func(a *AddOn, sc *setClause) error {
			setOr(sc, "label", &a.Label, u.Label)
			setOrNullable(sc, "description", &a.Description, u.Description)
			setOr(sc, "price_delta", &a.PriceDelta, u.PriceDelta)
			setOr(sc, "is_recommended", &a.IsRecommended, u.IsRecommended)
			return nil
		})
	})
}

// DeleteAddOn deletes an add-on, returning it as it was. NOT_FOUND
// "Add-on not found".
func (s *Store) DeleteAddOn(ctx context.Context, id string) (*AddOn, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*AddOn, error) {
		return addOnTable.delete(ctx, tx, id)
	})
}

// ReorderAddOns sets the display order of a product's add-ons to the order
// of ids (exactly the product's add-ons; BAD_USER_INPUT on "ids.N"/"ids");
// NOT_FOUND "Product not found". Returns them in their new order.
func (s *Store) ReorderAddOns(ctx context.Context, productID string, ids []string) ([]AddOn, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) ([]AddOn, error) {
		return addOnTable.reorder(ctx, tx, productID, ids)
	})
}

// ---------------------------------------------------------------------------
// Custom fields

// CustomFieldInput creates a custom field. FieldType "" means text.
// DisplayOrder nil appends.
type CustomFieldInput struct {
	Label        string
	FieldType    FieldType
	Placeholder  *string
	HelpText     *string
	IsRequired   bool
	DisplayOrder *int
}

// CustomFieldUpdate changes the fields that are set.
type CustomFieldUpdate struct {
	Label        *string
	FieldType    *FieldType
	Placeholder  Nullable[string]
	HelpText     Nullable[string]
	IsRequired   *bool
	DisplayOrder *int
}

const customFieldColumns = `id, product_id, label, field_type, placeholder, help_text, is_required,
	display_order, created_at, updated_at`

// fieldTable: custom fields belong to a product.
var fieldTable = childTable[CustomField]{
	sb:         sibling{"product_custom_fields", "product_id", "custom field"},
	columns:    customFieldColumns,
	notFound:   "Custom field not found",
	lockParent: touchProduct,
	byParent:   customFieldsByProduct,
}

func (f *CustomFieldSpec) normalize(prefix string) error {
	var err error
	if f.Label, err = requiredText(joinField(prefix, "label"), f.Label, maxTitleLen); err != nil {
		return err
	}
	if f.FieldType, err = normalizeEnum(joinField(prefix, "fieldType"), f.FieldType, FieldText, FieldTypes); err != nil {
		return err
	}
	if err = optionalText(joinField(prefix, "placeholder"), f.Placeholder); err != nil {
		return err
	}
	return optionalText(joinField(prefix, "helpText"), f.HelpText)
}

// CreateCustomField adds a custom field to a product. BAD_USER_INPUT on
// label, fieldType, placeholder, helpText, displayOrder; NOT_FOUND
// "Product not found".
func (s *Store) CreateCustomField(ctx context.Context, productID string, in CustomFieldInput) (*CustomField, error) {
	spec := CustomFieldSpec{Label: in.Label, FieldType: in.FieldType, Placeholder: in.Placeholder,
		HelpText: in.HelpText, IsRequired: in.IsRequired}
	if err := spec.normalize(""); err != nil {
		return nil, err
	}
	if err := validatePosition("displayOrder", in.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*CustomField, error) {
		if err := fieldTable.lockParent(ctx, tx, productID); err != nil {
			return nil, err
		}
		return fieldTable.insert(ctx, tx, productID, in.DisplayOrder, `INSERT INTO product_custom_fields
			(product_id, label, field_type, placeholder, help_text, is_required, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			spec.Label, spec.FieldType, spec.Placeholder, spec.HelpText, spec.IsRequired)
	})
}

// UpdateCustomField changes the given fields of a custom field. Codes as
// CreateCustomField; NOT_FOUND "Custom field not found".
func (s *Store) UpdateCustomField(ctx context.Context, id string, u CustomFieldUpdate) (*CustomField, error) {
	var err error
	if u.Label, err = requiredTextIfSet("label", u.Label, maxTitleLen); err != nil {
		return nil, err
	}
	if u.FieldType != nil {
		ft, err := parseEnum("fieldType", string(*u.FieldType), FieldTypes)
		if err != nil {
			return nil, err
		}
		u.FieldType = &ft
	}
	if u.Placeholder.Set {
		if err := optionalText("placeholder", u.Placeholder.Value); err != nil {
			return nil, err
		}
	}
	if u.HelpText.Set {
		if err := optionalText("helpText", u.HelpText.Value); err != nil {
			return nil, err
		}
	}
	if err := validatePosition("displayOrder", u.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*CustomField, error) {
		return fieldTable.update(ctx, tx, id, u.DisplayOrder, func(f *CustomField, sc *setClause) error {
			setOr(sc, "label", &f.Label, u.Label)
			setOr(sc, "field_type", &f.FieldType, u.FieldType)
			setOrNullable(sc, "placeholder", &f.Placeholder, u.Placeholder)
			setOrNullable(sc, "help_text", &f.HelpText, u.HelpText)
			setOr(sc, "is_required", &f.IsRequired, u.IsRequired)
			return nil
		})
	})
}

// DeleteCustomField deletes a custom field, returning it as it was.
// NOT_FOUND "Custom field not found".
func (s *Store) DeleteCustomField(ctx context.Context, id string) (*CustomField, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*CustomField, error) {
		return fieldTable.delete(ctx, tx, id)
	})
}

// ReorderCustomFields sets the display order of a product's custom fields
// to the order of ids (exactly the product's fields; BAD_USER_INPUT on
// "ids.N"/"ids"); NOT_FOUND "Product not found".
func (s *Store) ReorderCustomFields(ctx context.Context, productID string, ids []string) ([]CustomField, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) ([]CustomField, error) {
		return fieldTable.reorder(ctx, tx, productID, ids)
	})
}

// ---------------------------------------------------------------------------
// Subscription plans

// PlanInput creates a subscription plan. BillingCycle "" means one_time.
// IsDefault true makes it the product's only default plan (the previous
// default is unset in the same transaction). DisplayOrder nil appends.
type PlanInput struct {
	Label           string
	Description     *string
	BillingCycle    BillingCycle
	PriceMultiplier *decimal.Decimal
	PriceDelta      *decimal.Decimal
	IsDefault       bool
	DisplayOrder    *int
}

// PlanUpdate changes the fields that are set. IsDefault true moves the
// product's default to this plan; false just unsets it here.
type PlanUpdate struct {
	Label           *string
	Description     Nullable[string]
	BillingCycle    *BillingCycle
	PriceMultiplier Nullable[decimal.Decimal]
	PriceDelta      Nullable[decimal.Decimal]
	IsDefault       *bool
	DisplayOrder    *int
}

const planColumns = `id, product_id, label, description, billing_cycle, price_multiplier, price_delta,
	is_default, display_order, created_at, updated_at`

// planTable: subscription plans belong to a product.
var planTable = childTable[SubscriptionPlan]{
	sb:         sibling{"product_subscription_plans", "product_id", "subscription plan"},
	columns:    planColumns,
	notFound:   "Subscription plan not found",
	lockParent: touchProduct,
	byParent:   plansByProduct,
}

func (p *PlanSpec) normalize(prefix string) error {
	var err error
	if p.Label, err = requiredText(joinField(prefix, "label"), p.Label, maxTitleLen); err != nil {
		return err
	}
	if err = optionalText(joinField(prefix, "description"), p.Description); err != nil {
		return err
	}
	if p.BillingCycle, err = normalizeEnum(joinField(prefix, "billingCycle"), p.BillingCycle, OneTime, BillingCycles); err != nil {
		return err
	}
	if p.PriceMultiplier != nil {
		if err = validateMultiplier(joinField(prefix, "priceMultiplier"), *p.PriceMultiplier); err != nil {
			return err
		}
	}
	if p.PriceDelta != nil {
		if err = validateMoney(joinField(prefix, "priceDelta"), *p.PriceDelta); err != nil {
			return err
		}
	}
	return nil
}

// clearDefaultPlan unsets the product's default plan (except keep), so a
// new default can be written without tripping the one-default index.
func clearDefaultPlan(ctx context.Context, tx sqlx.ExtContext, productID, keep string) error {
	_, err := tx.ExecContext(ctx, `UPDATE product_subscription_plans SET is_default = false, updated_at = now()
		WHERE product_id = $1 AND is_default AND id::text <> $2`, productID, keep)
	return err
}

// CreateSubscriptionPlan adds a plan to a product; with IsDefault the
// product's previous default plan stops being the default (SPEC §2: at most
// one default per product). BAD_USER_INPUT on label, description,
// billingCycle, priceMultiplier (> 0, ≤ 4 decimals), priceDelta,
// displayOrder; NOT_FOUND "Product not found".
func (s *Store) CreateSubscriptionPlan(ctx context.Context, productID string, in PlanInput) (*SubscriptionPlan, error) {
	spec := PlanSpec{Label: in.Label, Description: in.Description, BillingCycle: in.BillingCycle,
		PriceMultiplier: in.PriceMultiplier, PriceDelta: in.PriceDelta, IsDefault: in.IsDefault}
	if err := spec.normalize(""); err != nil {
		return nil, err
	}
	if err := validatePosition("displayOrder", in.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*SubscriptionPlan, error) {
		if err := planTable.lockParent(ctx, tx, productID); err != nil {
			return nil, err
		}
		if spec.IsDefault {
			if err := clearDefaultPlan(ctx, tx, productID, ""); err != nil {
				return nil, err
			}
		}
		return planTable.insert(ctx, tx, productID, in.DisplayOrder, `INSERT INTO product_subscription_plans
			(product_id, label, description, billing_cycle, price_multiplier, price_delta, is_default, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
			spec.Label, spec.Description, spec.BillingCycle, spec.PriceMultiplier, spec.PriceDelta, spec.IsDefault)
	})
}

// UpdateSubscriptionPlan changes the given fields of a plan; IsDefault true
// moves the product's default here in the same transaction. Codes as
// CreateSubscriptionPlan; NOT_FOUND "Subscription plan not found".
func (s *Store) UpdateSubscriptionPlan(ctx context.Context, id string, u PlanUpdate) (*SubscriptionPlan, error) {
	var err error
	if u.Label, err = requiredTextIfSet("label", u.Label, maxTitleLen); err != nil {
		return nil, err
	}
	if u.Description.Set {
		if err := optionalText("description", u.Description.Value); err != nil {
			return nil, err
		}
	}
	if u.BillingCycle != nil {
		cycle, err := parseEnum("billingCycle", string(*u.BillingCycle), BillingCycles)
		if err != nil {
			return nil, err
		}
		u.BillingCycle = &cycle
	}
	if u.PriceMultiplier.Set && u.PriceMultiplier.Value != nil {
		if err := validateMultiplier("priceMultiplier", *u.PriceMultiplier.Value); err != nil {
			return nil, err
		}
	}
	if u.PriceDelta.Set && u.PriceDelta.Value != nil {
		if err := validateMoney("priceDelta", *u.PriceDelta.Value); err != nil {
			return nil, err
		}
	}
	if err := validatePosition("displayOrder", u.DisplayOrder); err != nil {
		return nil, err
	}
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*SubscriptionPlan, error) {
		return planTable.update(ctx, tx, id, u.DisplayOrder, func(p *SubscriptionPlan, sc *setClause) error {
			setOr(sc, "label", &p.Label, u.Label)
			setOrNullable(sc, "description", &p.Description, u.Description)
			setOr(sc, "billing_cycle", &p.BillingCycle, u.BillingCycle)
			setOrNullable(sc, "price_multiplier", &p.PriceMultiplier, u.PriceMultiplier)
			setOrNullable(sc, "price_delta", &p.PriceDelta, u.PriceDelta)
			setOr(sc, "is_default", &p.IsDefault, u.IsDefault)
			if p.IsDefault {
				return clearDefaultPlan(ctx, tx, p.ProductID, id)
			}
			return nil
		})
	})
}

// DeleteSubscriptionPlan deletes a plan, returning it as it was. Deleting
// the default plan leaves the product without one (pricing then falls back
// to the first plan). NOT_FOUND "Subscription plan not found".
func (s *Store) DeleteSubscriptionPlan(ctx context.Context, id string) (*SubscriptionPlan, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) (*SubscriptionPlan, error) {
		return planTable.delete(ctx, tx, id)
	})
}

// ReorderSubscriptionPlans sets the display order of a product's plans to
// the order of ids (exactly the product's plans; BAD_USER_INPUT on
// "ids.N"/"ids"); NOT_FOUND "Product not found".
func (s *Store) ReorderSubscriptionPlans(ctx context.Context, productID string, ids []string) ([]SubscriptionPlan, error) {
	return inTxResult(ctx, s, func(tx *sqlx.Tx) ([]SubscriptionPlan, error) {
		return planTable.reorder(ctx, tx, productID, ids)
	})
}
