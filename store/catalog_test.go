package store_test

import (
	"context"
	"testing"

	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

func TestFindProductBySlugNotFound(t *testing.T) {
	t.Parallel()
	s := storetest.NewStore(t)
	_, err := s.FindProductBySlug(context.Background(), "nope")
	e, ok := store.AsError(err)
	if !ok || e.Code != store.CodeNotFound {
		t.Fatalf("got %v, want NOT_FOUND", err)
	}
}
