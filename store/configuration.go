package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/shopspring/decimal"
)

// ConfigurationSpec is a product's whole configuration as one value, in
// display order (each list's index is its display_order). It is what
// ReplaceConfiguration writes and what the seed is made of.
type ConfigurationSpec struct {
	OptionGroups      []OptionGroupSpec
	AddOns            []AddOnSpec
	CustomFields      []CustomFieldSpec
	SubscriptionPlans []PlanSpec
}

// OptionGroupSpec is an option group with its options.
type OptionGroupSpec struct {
	Name         string
	Description  *string
	GroupType    GroupType
	IsRequired   bool
	MetadataJSON JSON
	Options      []OptionSpec
}

// OptionSpec is one option of a group.
type OptionSpec struct {
	Name         string
	Description  *string
	PriceDelta   decimal.Decimal
	MetadataJSON JSON
}

// AddOnSpec is one add-on.
type AddOnSpec struct {
	Label         string
	Description   *string
	PriceDelta    decimal.Decimal
	IsRecommended bool
}

// CustomFieldSpec is one custom field.
type CustomFieldSpec struct {
	Label       string
	FieldType   FieldType
	Placeholder *string
	HelpText    *string
	IsRequired  bool
}

// PlanSpec is one subscription plan.
type PlanSpec struct {
	Label           string
	Description     *string
	BillingCycle    BillingCycle
	PriceMultiplier *decimal.Decimal
	PriceDelta      *decimal.Decimal
	IsDefault       bool
}

// maxConfigurationItems bounds each list of a configuration (and the options
// of each group): far above any real product, low enough that one request
// cannot write an unbounded number of rows.
const maxConfigurationItems = 100

// configurationField is the input field a configuration arrives in; error
// paths start with it (configuration.optionGroups.1.options.0.priceDelta).
const configurationField = "configuration"

// validate checks and normalises the whole spec (trimmed texts, enum case,
// defaults for empty enums: group single, field text, cycle one_time) and
// returns the normalised copy; spec itself is not modified. The rules are
// the single-entity ones (see admin.go), plus: at most one default plan —
// the second default is BAD_USER_INPUT on its isDefault.
func (spec ConfigurationSpec) validate() (ConfigurationSpec, error) {
	out := ConfigurationSpec{
		OptionGroups:      make([]OptionGroupSpec, len(spec.OptionGroups)),
		AddOns:            append([]AddOnSpec(nil), spec.AddOns...),
		CustomFields:      append([]CustomFieldSpec(nil), spec.CustomFields...),
		SubscriptionPlans: append([]PlanSpec(nil), spec.SubscriptionPlans...),
	}
	tooMany := func(list string, n int) error {
		if n > maxConfigurationItems {
			return BadInput(configurationField+"."+list, "must have at most %d entries", maxConfigurationItems)
		}
		return nil
	}
	for list, n := range map[string]int{"optionGroups": len(spec.OptionGroups), "addOns": len(spec.AddOns),
		"customFields": len(spec.CustomFields), "subscriptionPlans": len(spec.SubscriptionPlans)} {
		if err := tooMany(list, n); err != nil {
			return out, err
		}
	}
	for i, g := range spec.OptionGroups {
		prefix := fmt.Sprintf("%s.optionGroups.%d", configurationField, i)
		g.Options = append([]OptionSpec(nil), g.Options...)
		if err := g.normalize(prefix); err != nil {
			return out, err
		}
		if len(g.Options) > maxConfigurationItems {
			return out, BadInput(prefix+".options", "must have at most %d entries", maxConfigurationItems)
		}
		for j := range g.Options {
			if err := g.Options[j].normalize(fmt.Sprintf("%s.options.%d", prefix, j)); err != nil {
				return out, err
			}
		}
		out.OptionGroups[i] = g
	}
	for i := range out.AddOns {
		if err := out.AddOns[i].normalize(fmt.Sprintf("%s.addOns.%d", configurationField, i)); err != nil {
			return out, err
		}
	}
	for i := range out.CustomFields {
		if err := out.CustomFields[i].normalize(fmt.Sprintf("%s.customFields.%d", configurationField, i)); err != nil {
			return out, err
		}
	}
	defaultAt := -1
	for i := range out.SubscriptionPlans {
		prefix := fmt.Sprintf("%s.subscriptionPlans.%d", configurationField, i)
		if err := out.SubscriptionPlans[i].normalize(prefix); err != nil {
			return out, err
		}
		if out.SubscriptionPlans[i].IsDefault {
			if defaultAt >= 0 {
				return out, BadInput(prefix+".isDefault", "only one plan may be the default (plan %d already is)", defaultAt)
			}
			defaultAt = i
		}
	}
	return out, nil
}

// ReplaceConfiguration replaces a product's whole configuration (option
// groups with their options, add-ons, custom fields, plans) with spec, in
// one transaction: the spec is validated first, and any failure — bad input
// or a database error on the last row — leaves the old configuration
// untouched. Each list's order is its display order. Entity ids change
// (everything is rewritten). BAD_USER_INPUT with the path
// (configuration.optionGroups.1.options.0.priceDelta,
// configuration.subscriptionPlans.2.isDefault, …); NOT_FOUND "Product not
// found". Returns the product with its new configuration.
func (s *Store) ReplaceConfiguration(ctx context.Context, productID string, spec ConfigurationSpec) (*ProductDetail, error) {
	norm, err := spec.validate()
	if err != nil {
		return nil, err
	}
	var d *ProductDetail
	err = s.InTx(ctx, func(tx *sqlx.Tx) error {
		if err := touchProduct(ctx, tx, productID); err != nil {
			return err
		}
		if err := replaceConfigurationTx(ctx, tx, productID, norm); err != nil {
			return err
		}
		p, err := findProduct(ctx, tx, productID)
		if err != nil {
			return err
		}
		d, err = productDetail(ctx, tx, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// replaceConfigurationTx deletes the product's whole configuration and
// writes spec in its place. Callers run it inside their transaction so a
// failure leaves the old configuration untouched.
func replaceConfigurationTx(ctx context.Context, tx sqlx.ExtContext, productID string, spec ConfigurationSpec) error {
	for _, table := range []string{"product_option_groups", "product_add_ons", "product_custom_fields", "product_subscription_plans"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE product_id = $1`, productID); err != nil {
			return fmt.Errorf("clear %s: %w", table, err)
		}
	}
	for gi, g := range spec.OptionGroups {
		var groupID string
		err := sqlx.GetContext(ctx, tx, &groupID, `INSERT INTO product_option_groups
			(product_id, name, description, group_type, is_required, display_order, metadata_json)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			productID, g.Name, g.Description, g.GroupType, g.IsRequired, gi, g.MetadataJSON)
		if err != nil {
			return atPath(mapError(err), fmt.Sprintf("%s.optionGroups.%d", configurationField, gi))
		}
		for oi, o := range g.Options {
			if _, err := tx.ExecContext(ctx, `INSERT INTO product_options
				(group_id, name, description, price_delta, metadata_json, display_order)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				groupID, o.Name, o.Description, o.PriceDelta, o.MetadataJSON, oi); err != nil {
				return atPath(mapError(err), fmt.Sprintf("%s.optionGroups.%d.options.%d", configurationField, gi, oi))
			}
		}
	}
	for i, a := range spec.AddOns {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_add_ons
			(product_id, label, description, price_delta, is_recommended, display_order)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			productID, a.Label, a.Description, a.PriceDelta, a.IsRecommended, i); err != nil {
			return atPath(mapError(err), fmt.Sprintf("%s.addOns.%d", configurationField, i))
		}
	}
	for i, f := range spec.CustomFields {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_custom_fields
			(product_id, label, field_type, placeholder, help_text, is_required, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			productID, f.Label, f.FieldType, f.Placeholder, f.HelpText, f.IsRequired, i); err != nil {
			return atPath(mapError(err), fmt.Sprintf("%s.customFields.%d", configurationField, i))
		}
	}
	for i, p := range spec.SubscriptionPlans {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_subscription_plans
			(product_id, label, description, billing_cycle, price_multiplier, price_delta, is_default, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			productID, p.Label, p.Description, p.BillingCycle, p.PriceMultiplier, p.PriceDelta, p.IsDefault, i); err != nil {
			return atPath(mapError(err), fmt.Sprintf("%s.subscriptionPlans.%d", configurationField, i))
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE products SET updated_at = now() WHERE id = $1`, productID)
	return err
}

// atPath puts a row's path in front of a store.Error's field (a constraint
// violation on row i names configuration.<list>.i.<field>); other errors
// pass through.
func atPath(err error, prefix string) error {
	e, ok := AsError(err)
	if !ok {
		return err
	}
	c := *e
	c.Field = prefix
	if e.Field != "" {
		c.Field = prefix + "." + e.Field
	}
	return &c
}
