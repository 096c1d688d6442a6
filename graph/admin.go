package graph

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/store"
)

// inputPath rewrites a store error's field into the mutation's argument
// path: "slug" becomes "input.slug"; a leading `from` segment is replaced by
// `to` (e.g. "fulfillmentConfig.tasks.0" → "config.tasks.0").
func inputPath(err error, from, to string) error {
	e, ok := store.AsError(err)
	if !ok || e.Field == "" || e.Code != store.CodeBadUserInput && e.Code != store.CodeConflict {
		return err
	}
	switch {
	case from == "":
		e.Field = to + "." + e.Field
	case e.Field == from || strings.HasPrefix(e.Field, from+"."):
		e.Field = to + strings.TrimPrefix(e.Field, from)
	}
	return err
}

// nullable maps an omittable GraphQL input (absent vs null) to the store's.
func nullable[T any](o graphql.Omittable[*T]) store.Nullable[T] {
	v, set := o.ValueOK()
	if !set {
		return store.Nullable[T]{}
	}
	return store.Nullable[T]{Set: true, Value: v}
}

func nullableJSON(o graphql.Omittable[store.JSON]) store.Nullable[store.JSON] {
	v, set := o.ValueOK()
	if !set {
		return store.Nullable[store.JSON]{}
	}
	if len(v) == 0 || string(v) == "null" {
		return store.SetNull[store.JSON]()
	}
	return store.SetTo(v)
}

func productUpdate(in model.UpdateProductInput) store.ProductUpdate {
	return store.ProductUpdate{
		Slug: in.Slug, Title: in.Title, Category: in.Category, Description: nullable(in.Description),
		BasePrice: in.BasePrice, Currency: in.Currency, Status: in.Status,
		FulfillmentConfig: nullableJSON(in.FulfillmentConfig),
	}
}

func optionGroupUpdate(in model.UpdateOptionGroupInput) store.OptionGroupUpdate {
	return store.OptionGroupUpdate{
		Name: in.Name, Description: nullable(in.Description), GroupType: in.GroupType, IsRequired: in.IsRequired,
		MetadataJSON: nullableJSON(in.MetadataJSON), DisplayOrder: in.DisplayOrder,
	}
}

func optionUpdate(in model.UpdateOptionInput) store.OptionUpdate {
	return store.OptionUpdate{
		Name: in.Name, Description: nullable(in.Description), PriceDelta: in.PriceDelta,
		MetadataJSON: nullableJSON(in.MetadataJSON), DisplayOrder: in.DisplayOrder,
	}
}

func addOnUpdate(in model.UpdateAddOnInput) store.AddOnUpdate {
	return store.AddOnUpdate{
		Label: in.Label, Description: nullable(in.Description), PriceDelta: in.PriceDelta,
		IsRecommended: in.IsRecommended, DisplayOrder: in.DisplayOrder,
	}
}

func customFieldUpdate(in model.UpdateCustomFieldInput) store.CustomFieldUpdate {
	return store.CustomFieldUpdate{
		Label: in.Label, FieldType: in.FieldType, Placeholder: nullable(in.Placeholder), HelpText: nullable(in.HelpText),
		IsRequired: in.IsRequired, DisplayOrder: in.DisplayOrder,
	}
}

func planUpdate(in model.UpdateSubscriptionPlanInput) store.PlanUpdate {
	return store.PlanUpdate{
		Label: in.Label, Description: nullable(in.Description), BillingCycle: in.BillingCycle,
		PriceMultiplier: nullable(in.PriceMultiplier), PriceDelta: nullable(in.PriceDelta),
		IsDefault: in.IsDefault, DisplayOrder: in.DisplayOrder,
	}
}

// deleted returns the id of a deleted entity.
func deleted[T any](v *T, err error, id string) (string, error) {
	if err != nil {
		return "", err
	}
	return id, nil
}
