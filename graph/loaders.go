package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"

	"github.com/smplat/smplat/store"
)

// Loaders batch the nested reads of one request: one SQL statement per
// nesting level, never one per row. They live for one request only, so
// nothing is shared between callers.
type Loaders struct {
	groups   *dataloadgen.Loader[string, []store.OptionGroup]
	options  *dataloadgen.Loader[string, []store.ProductOption]
	addOns   *dataloadgen.Loader[string, []store.AddOn]
	fields   *dataloadgen.Loader[string, []store.CustomField]
	plans    *dataloadgen.Loader[string, []store.SubscriptionPlan]
	items    *dataloadgen.Loader[string, []store.OrderItem]
	events   *dataloadgen.Loader[string, []store.OrderStatusEvent]
	payments *dataloadgen.Loader[string, []store.Payment]
	tasks    *dataloadgen.Loader[string, []store.Task]
}

// loaderWait is how long a loader collects keys before it queries. Root
// resolvers preload what they know will be asked (see preloadProducts), so
// this only matters on paths that were not preloaded.
const loaderWait = time.Millisecond

func newLoaders(st *store.Store) *Loaders {
	return &Loaders{
		groups:   newListLoader(st.OptionGroupsByProduct),
		options:  newListLoader(st.OptionsByGroup),
		addOns:   newListLoader(st.AddOnsByProduct),
		fields:   newListLoader(st.CustomFieldsByProduct),
		plans:    newListLoader(st.PlansByProduct),
		items:    newListLoader(st.ItemsByOrder),
		events:   newListLoader(st.StatusEventsByOrder),
		payments: newListLoader(st.FindPaymentsByOrder),
		tasks:    newListLoader(st.TasksByOrders),
	}
}

// newListLoader wraps a batched store reader; a key with no rows gets an
// empty list rather than dataloadgen.ErrNotFound.
func newListLoader[V any](fetch func(context.Context, []string) (map[string][]V, error)) *dataloadgen.Loader[string, []V] {
	return dataloadgen.NewMappedLoader(func(ctx context.Context, keys []string) (map[string][]V, error) {
		m, err := fetch(ctx, keys)
		if err != nil {
			return nil, err
		}
		return fillMissing(m, keys), nil
	}, dataloadgen.WithWait(loaderWait))
}

func fillMissing[V any](m map[string][]V, keys []string) map[string][]V {
	if m == nil {
		m = make(map[string][]V, len(keys))
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			m[k] = []V{}
		}
	}
	return m
}

type loadersKey struct{}

// withLoaders attaches fresh loaders to a request's context.
func withLoaders(ctx context.Context, st *store.Store) context.Context {
	return context.WithValue(ctx, loadersKey{}, newLoaders(st))
}

func loadersFrom(ctx context.Context) *Loaders {
	return ctx.Value(loadersKey{}).(*Loaders)
}

// productSelection says which nested lists of Product a query asks for.
type productSelection = store.ConfigurationLists

// selectList notes the configuration list a Product field reads; has tells
// whether the field selects a child (optionGroups → options).
func selectList(sel *productSelection, field string, has func(child string) bool) {
	switch field {
	case "optionGroups":
		sel.Groups = true
		sel.Options = sel.Options || has("options")
	case "addOns":
		sel.AddOns = true
	case "customFields":
		sel.CustomFields = true
	case "subscriptionPlans":
		sel.Plans = true
	}
}

// selectedProductFields reads the Product selection set below the current
// field. path names the fields between it and the Product (e.g. "nodes", or
// "edges", "node"); every branch of the path is merged.
func selectedProductFields(ctx context.Context, paths ...[]string) productSelection {
	octx := graphql.GetOperationContext(ctx)
	var sel productSelection
	var visit func(set ast.SelectionSet, path []string)
	visit = func(set ast.SelectionSet, path []string) {
		for _, f := range graphql.CollectFields(octx, set, nil) {
			if len(path) > 0 {
				if f.Name == path[0] {
					visit(f.Selections, path[1:])
				}
				continue
			}
			selectList(&sel, f.Name, func(child string) bool {
				for _, g := range graphql.CollectFields(octx, f.Selections, nil) {
					if g.Name == child {
						return true
					}
				}
				return false
			})
		}
	}
	fc := graphql.GetFieldContext(ctx)
	for _, p := range paths {
		visit(fc.Field.Selections, p)
	}
	return sel
}

// preloadProducts fetches, for the products a root resolver returns, the
// nested lists the query asks for — one statement for all of them
// (store.Configurations) — and primes the loaders
// with them — empty lists included — so the field resolvers that follow
// find everything without waiting or querying.
func preloadProducts(ctx context.Context, st *store.Store, products []store.Product, sel productSelection) error {
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = p.ID
	}
	n, err := st.Configurations(ctx, ids, sel)
	if err != nil {
		return err
	}
	l := loadersFrom(ctx)
	if sel.Groups {
		primeAll(l.groups, fillMissing(n.Groups, ids))
	}
	if sel.Options {
		var groupIDs []string
		for _, gs := range n.Groups {
			for _, g := range gs {
				groupIDs = append(groupIDs, g.ID)
			}
		}
		primeAll(l.options, fillMissing(n.Options, groupIDs))
	}
	if sel.AddOns {
		primeAll(l.addOns, fillMissing(n.AddOns, ids))
	}
	if sel.CustomFields {
		primeAll(l.fields, fillMissing(n.Fields, ids))
	}
	if sel.Plans {
		primeAll(l.plans, fillMissing(n.Plans, ids))
	}
	return nil
}

func primeAll[V any](l *dataloadgen.Loader[string, []V], m map[string][]V) {
	for k, v := range m {
		l.Prime(k, v)
	}
}
