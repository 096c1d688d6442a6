package graph

import (
	"bytes"
	"container/list"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/smplat/smplat/graph/rest"
)

// ResponseCache keeps the exact bytes of answered public catalog queries
// (product, products, quote — no field behind @hasRole, no introspection,
// no errors), keyed by the request (method, URL query and body), so a
// repeated storefront query costs one map lookup.
//
// Correctness: every catalog write, in any process, notifies Postgres
// channel smplat_catalog when it commits (a trigger); each process listens
// (store.ListenCatalog) and calls Invalidate, which drops every entry. An
// answer computed while an invalidation happened is not stored. While the
// listening connection is down the cache is bypassed (SetLive(false)), since
// notifications could be missed. Only public answers are stored, so nothing
// private is ever cached.
type ResponseCache struct {
	live    atomic.Bool
	version atomic.Uint64

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry, most recent at the front
	items    map[[32]byte]*list.Element
	size     int
	maxBytes int
}

type cacheEntry struct {
	key         [32]byte
	contentType string
	body        []byte
}

// NewResponseCache returns a cache holding at most maxBytes of answers. It
// is bypassed until SetLive(true).
func NewResponseCache(maxBytes int) *ResponseCache {
	return &ResponseCache{lru: list.New(), items: map[[32]byte]*list.Element{}, maxBytes: maxBytes}
}

// Invalidate drops every cached answer (a catalog write committed).
func (c *ResponseCache) Invalidate() {
	c.mu.Lock()
	c.version.Add(1)
	c.lru.Init()
	clear(c.items)
	c.size = 0
	c.mu.Unlock()
}

// SetLive turns the cache on (the change feed is connected) or off.
func (c *ResponseCache) SetLive(live bool) {
	if !live {
		c.Invalidate()
	}
	c.live.Store(live)
}

func (c *ResponseCache) get(key [32]byte) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry), true
}

// put stores an answer computed at version; a later invalidation means it
// may be stale, so it is dropped.
func (c *ResponseCache) put(key [32]byte, contentType string, body []byte, version uint64) {
	if len(body) > c.maxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version.Load() != version || !c.live.Load() {
		return
	}
	if el, ok := c.items[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.items[key] = c.lru.PushFront(&cacheEntry{key: key, contentType: contentType, body: body})
	c.size += len(body)
	for c.size > c.maxBytes {
		last := c.lru.Back()
		e := last.Value.(*cacheEntry)
		c.lru.Remove(last)
		delete(c.items, e.key)
		c.size -= len(e.body)
	}
}

// cacheSlot travels with a request that missed the cache; the response
// hook marks it when the answer may be stored.
type cacheSlot struct{ cacheable bool }

type cacheSlotKey struct{}

// middleware answers repeated cacheable requests from the cache and stores
// the answers of new ones. Requests carrying more than maxBody bytes pass
// through untouched.
func (c *ResponseCache) middleware(maxBody int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.live.Load() || (r.Method != http.MethodGet && r.Method != http.MethodPost) || r.ContentLength > maxBody {
			next.ServeHTTP(w, r)
			return
		}
		version := c.version.Load()
		var body []byte
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			if err != nil || int64(len(b)) > maxBody {
				r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
				next.ServeHTTP(w, r)
				return
			}
			body = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h := sha256.New()
		// The Accept header picks the response's content type.
		io.WriteString(h, r.Method+"\n"+r.URL.RawQuery+"\n"+r.Header.Get("Accept")+"\n")
		h.Write(body)
		var key [32]byte
		h.Sum(key[:0])
		if e, ok := c.get(key); ok {
			w.Header().Set("Content-Type", e.contentType)
			w.Header().Set("X-Cache", "hit")
			_, _ = w.Write(e.body)
			return
		}
		slot := &cacheSlot{}
		rec := rest.NewRecorder(w)
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), cacheSlotKey{}, slot)))
		if slot.cacheable && rec.Status == http.StatusOK {
			c.put(key, w.Header().Get("Content-Type"), rec.Body.Bytes(), version)
		}
	})
}

// markCacheable is a gqlgen response hook: it marks the request's slot
// when the operation is a query of public fields only and its answer has
// no errors or extensions.
func markCacheable(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	slot, ok := ctx.Value(cacheSlotKey{}).(*cacheSlot)
	if !ok || resp == nil || len(resp.Errors) > 0 || len(resp.Extensions) > 0 {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation != nil && oc.Operation.Operation == ast.Query && publicOnly(oc.Operation.SelectionSet) {
		slot.cacheable = true
	}
	return resp
}

// publicOnly reports whether a selection reads only public schema fields:
// none behind @hasRole and no introspection (besides __typename).
func publicOnly(set ast.SelectionSet) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") && s.Name != "__typename" {
				return false
			}
			if s.Definition == nil || s.Definition.Directives.ForName("hasRole") != nil {
				return false
			}
			if !publicOnly(s.SelectionSet) {
				return false
			}
		case *ast.InlineFragment:
			if !publicOnly(s.SelectionSet) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || !publicOnly(s.Definition.SelectionSet) {
				return false
			}
		}
	}
	return true
}
