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
			return mapError(err)
		}
		for oi, o := range g.Options {
			if _, err := tx.ExecContext(ctx, `INSERT INTO product_options
				(group_id, name, description, price_delta, metadata_json, display_order)
				VALUES ($1, $2, $3, $4, $5, $6)`,
				groupID, o.Name, o.Description, o.PriceDelta, o.MetadataJSON, oi); err != nil {
				return mapError(err)
			}
		}
	}
	for i, a := range spec.AddOns {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_add_ons
			(product_id, label, description, price_delta, is_recommended, display_order)
			VALUES ($1, $2, $3, $4, $5, $6)`,
			productID, a.Label, a.Description, a.PriceDelta, a.IsRecommended, i); err != nil {
			return mapError(err)
		}
	}
	for i, f := range spec.CustomFields {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_custom_fields
			(product_id, label, field_type, placeholder, help_text, is_required, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			productID, f.Label, f.FieldType, f.Placeholder, f.HelpText, f.IsRequired, i); err != nil {
			return mapError(err)
		}
	}
	for i, p := range spec.SubscriptionPlans {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_subscription_plans
			(product_id, label, description, billing_cycle, price_multiplier, price_delta, is_default, display_order)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			productID, p.Label, p.Description, p.BillingCycle, p.PriceMultiplier, p.PriceDelta, p.IsDefault, i); err != nil {
			return mapError(err)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE products SET updated_at = now() WHERE id = $1`, productID)
	return err
}
