package main

import (
	"context"

	"github.com/smplat/smplat/graph/graphtest"
	"github.com/smplat/smplat/store"
)

// seedCatalog writes products 0..n-1 (idempotent: a second run replaces
// their configurations) and returns how many are active.
func seedCatalog(ctx context.Context, st *store.Store, n int) (active int, err error) {
	for i := range n {
		p := graphtest.CatalogProduct(i)
		if _, err := st.SeedProduct(ctx, p); err != nil {
			return active, err
		}
		if p.Status == store.ProductActive {
			active++
		}
	}
	return active, nil
}
