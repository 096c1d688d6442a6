package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"
	"golang.org/x/sync/errgroup"

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
type productSelection struct {
	groups, options, addOns, fields, plans bool
}

func (s productSelection) any() bool {
	return s.groups || s.addOns || s.fields || s.plans
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
			switch f.Name {
			case "optionGroups":
				sel.groups = true
				for _, g := range graphql.CollectFields(octx, f.Selections, nil) {
					if g.Name == "options" {
						sel.options = true
					}
				}
			case "addOns":
				sel.addOns = true
			case "customFields":
				sel.fields = true
			case "subscriptionPlans":
				sel.plans = true
			}
		}
	}
	fc := graphql.GetFieldContext(ctx)
	for _, p := range paths {
		visit(fc.Field.Selections, p)
	}
	return sel
}

// preloadProducts runs, for the products a root resolver returns, the
// nested reads the query asks for — one statement per level, the
// independent levels concurrently — and primes the loaders with the results,
// so the field resolvers that follow find everything without waiting.
func preloadProducts(ctx context.Context, st *store.Store, products []store.Product, sel productSelection) error {
	if len(products) == 0 || !sel.any() {
		return nil
	}
	l := loadersFrom(ctx)
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = p.ID
	}
	g, gctx := errgroup.WithContext(ctx)
	// Groups and their options load side by side: options are read by
	// product id, then primed under every group (empty lists included).
	var groups map[string][]store.OptionGroup
	var options map[string][]store.ProductOption
	if sel.groups {
		g.Go(func() (err error) {
			groups, err = st.OptionGroupsByProduct(gctx, ids)
			return err
		})
		if sel.options {
			g.Go(func() (err error) {
				options, err = st.OptionsOfProducts(gctx, ids)
				return err
			})
		}
	}
	if sel.addOns {
		g.Go(func() error { return primeFrom(gctx, l.addOns, st.AddOnsByProduct, ids) })
	}
	if sel.fields {
		g.Go(func() error { return primeFrom(gctx, l.fields, st.CustomFieldsByProduct, ids) })
	}
	if sel.plans {
		g.Go(func() error { return primeFrom(gctx, l.plans, st.PlansByProduct, ids) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if sel.groups {
		primeAll(l.groups, fillMissing(groups, ids))
	}
	if sel.options {
		var groupIDs []string
		for _, gs := range groups {
			for _, g := range gs {
				groupIDs = append(groupIDs, g.ID)
			}
		}
		primeAll(l.options, fillMissing(options, groupIDs))
	}
	return nil
}

func primeFrom[V any](ctx context.Context, l *dataloadgen.Loader[string, []V], fetch func(context.Context, []string) (map[string][]V, error), ids []string) error {
	m, err := fetch(ctx, ids)
	if err != nil {
		return err
	}
	primeAll(l, fillMissing(m, ids))
	return nil
}

func primeAll[V any](l *dataloadgen.Loader[string, []V], m map[string][]V) {
	for k, v := range m {
		l.Prime(k, v)
	}
}
