package rest

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/smplat/smplat/store"
)

// productJSON is the old backend's product shape (camelCase).
type productJSON struct {
	ID          string              `json:"id"`
	Slug        string              `json:"slug"`
	Title       string              `json:"title"`
	Description *string             `json:"description"`
	Category    string              `json:"category"`
	BasePrice   Money               `json:"basePrice"`
	Currency    store.Currency      `json:"currency"`
	Status      store.ProductStatus `json:"status"`
	CreatedAt   time.Time           `json:"createdAt"`
	UpdatedAt   time.Time           `json:"updatedAt"`
}

func productOut(p store.Product) productJSON {
	return productJSON{
		ID: p.ID, Slug: p.Slug, Title: p.Title, Description: p.Description, Category: p.Category,
		BasePrice: Money(p.BasePrice), Currency: p.Currency, Status: p.Status,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

type optionJSON struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Label        string     `json:"label"`
	Description  *string    `json:"description"`
	PriceDelta   Money      `json:"priceDelta"`
	MetadataJSON store.JSON `json:"metadataJson"`
	DisplayOrder int        `json:"displayOrder"`
}

type groupJSON struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Description  *string         `json:"description"`
	GroupType    store.GroupType `json:"groupType"`
	IsRequired   bool            `json:"isRequired"`
	DisplayOrder int             `json:"displayOrder"`
	MetadataJSON store.JSON      `json:"metadataJson"`
	Options      []optionJSON    `json:"options"`
}

type addOnJSON struct {
	ID            string  `json:"id"`
	Label         string  `json:"label"`
	Description   *string `json:"description"`
	PriceDelta    Money   `json:"priceDelta"`
	IsRecommended bool    `json:"isRecommended"`
	DisplayOrder  int     `json:"displayOrder"`
}

type fieldJSON struct {
	ID           string          `json:"id"`
	Label        string          `json:"label"`
	FieldType    store.FieldType `json:"fieldType"`
	Placeholder  *string         `json:"placeholder"`
	HelpText     *string         `json:"helpText"`
	IsRequired   bool            `json:"isRequired"`
	DisplayOrder int             `json:"displayOrder"`
}

type planJSON struct {
	ID              string             `json:"id"`
	Label           string             `json:"label"`
	Description     *string            `json:"description"`
	BillingCycle    store.BillingCycle `json:"billingCycle"`
	PriceMultiplier *Number            `json:"priceMultiplier"`
	PriceDelta      *Number            `json:"priceDelta"`
	IsDefault       bool               `json:"isDefault"`
	DisplayOrder    int                `json:"displayOrder"`
}

type productDetailJSON struct {
	productJSON
	OptionGroups      []groupJSON `json:"optionGroups"`
	AddOns            []addOnJSON `json:"addOns"`
	CustomFields      []fieldJSON `json:"customFields"`
	SubscriptionPlans []planJSON  `json:"subscriptionPlans"`
}

func productDetailOut(d *store.ProductDetail) productDetailJSON {
	out := productDetailJSON{
		productJSON:       productOut(d.Product),
		OptionGroups:      make([]groupJSON, 0, len(d.OptionGroups)),
		AddOns:            make([]addOnJSON, 0, len(d.AddOns)),
		CustomFields:      make([]fieldJSON, 0, len(d.CustomFields)),
		SubscriptionPlans: make([]planJSON, 0, len(d.SubscriptionPlans)),
	}
	for _, g := range d.OptionGroups {
		gj := groupJSON{ID: g.ID, Name: g.Name, Description: g.Description, GroupType: g.GroupType,
			IsRequired: g.IsRequired, DisplayOrder: g.DisplayOrder, MetadataJSON: g.MetadataJSON,
			Options: make([]optionJSON, 0, len(d.Options[g.ID]))}
		for _, o := range d.Options[g.ID] {
			gj.Options = append(gj.Options, optionJSON{ID: o.ID, Name: o.Name, Label: o.Name,
				Description: o.Description, PriceDelta: Money(o.PriceDelta), MetadataJSON: o.MetadataJSON,
				DisplayOrder: o.DisplayOrder})
		}
		out.OptionGroups = append(out.OptionGroups, gj)
	}
	for _, a := range d.AddOns {
		out.AddOns = append(out.AddOns, addOnJSON{ID: a.ID, Label: a.Label, Description: a.Description,
			PriceDelta: Money(a.PriceDelta), IsRecommended: a.IsRecommended, DisplayOrder: a.DisplayOrder})
	}
	for _, f := range d.CustomFields {
		out.CustomFields = append(out.CustomFields, fieldJSON{ID: f.ID, Label: f.Label, FieldType: f.FieldType,
			Placeholder: f.Placeholder, HelpText: f.HelpText, IsRequired: f.IsRequired, DisplayOrder: f.DisplayOrder})
	}
	for _, p := range d.SubscriptionPlans {
		out.SubscriptionPlans = append(out.SubscriptionPlans, planJSON{ID: p.ID, Label: p.Label,
			Description: p.Description, BillingCycle: p.BillingCycle, PriceMultiplier: optNumber(p.PriceMultiplier),
			PriceDelta: optNumber(p.PriceDelta), IsDefault: p.IsDefault, DisplayOrder: p.DisplayOrder})
	}
	return out
}

// ListProducts serves GET /api/v1/products: every product's base fields,
// oldest first (compat: the old backend returned a plain list).
func (a *API) ListProducts() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out []productJSON
		var after *store.Cursor
		for {
			page, err := a.Store.FindProducts(r.Context(), store.ProductFilter{}, store.MaxPageSize, after)
			if err != nil {
				WriteError(w, r, a.Logger, err)
				return
			}
			for _, p := range page.Products {
				out = append(out, productOut(p))
			}
			if !page.HasNextPage {
				break
			}
			last := page.Products[len(page.Products)-1]
			after = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		if out == nil {
			out = []productJSON{}
		}
		WriteJSON(w, http.StatusOK, out)
	})
}

// GetProduct serves GET /api/v1/products/{slug}: the product with its whole
// configuration; 404 "Product not found".
func (a *API) GetProduct() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := a.Store.ProductDetailBySlug(r.Context(), chi.URLParam(r, "slug"))
		if err != nil {
			WriteError(w, r, a.Logger, err)
			return
		}
		WriteJSON(w, http.StatusOK, productDetailOut(d))
	})
}
