package graph

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/payments"
	"github.com/smplat/smplat/store"
)

// ServerConfig is everything the HTTP surface needs; cmd/smplat builds it.
type ServerConfig struct {
	Store       *store.Store
	Logger      *slog.Logger
	Keys        *auth.Keys
	Environment string
	Version     string
	Payments    *payments.Service
	// Worker serves the fulfillment endpoints and metrics whether or not it
	// runs in this process (running: false when it does not).
	Worker *fulfillment.Worker
	// Cache, when set, answers repeated public catalog queries from memory
	// (see ResponseCache); the caller keeps it in sync with the database.
	Cache *ResponseCache

	Playground    bool
	Introspection bool
	CORSOrigins   []string

	// DisableFastPath sends every query through gqlgen's executor (tests
	// compare the two paths).
	DisableFastPath bool

	// Limits; zero values take the defaults below.
	ComplexityLimit  int
	DepthLimit       int
	MaxBodyBytes     int64
	ParserTokenLimit int
}

// Production limits (SPEC §3).
const (
	defaultComplexityLimit  = 50_000
	defaultDepthLimit       = 10
	defaultMaxBodyBytes     = 1 << 20
	defaultParserTokenLimit = 15_000
	// nestedListMultiplier is the size assumed for lists without a `first`
	// argument (option groups, options, add-ons, …) when computing complexity.
	nestedListMultiplier = 5
)

func (c *ServerConfig) defaults() {
	if c.ComplexityLimit == 0 {
		c.ComplexityLimit = defaultComplexityLimit
	}
	if c.DepthLimit == 0 {
		c.DepthLimit = defaultDepthLimit
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = defaultMaxBodyBytes
	}
	if c.ParserTokenLimit == 0 {
		c.ParserTokenLimit = defaultParserTokenLimit
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Keys == nil {
		c.Keys = auth.NewKeys(nil, nil)
	}
	if c.Worker == nil {
		c.Worker = fulfillment.New(c.Store, fulfillment.Config{}, c.Logger)
	}
	if c.Payments == nil { // unconfigured: checkout is UNAVAILABLE, webhooks refused
		c.Payments = payments.NewService(c.Store, payments.NewClient(payments.Config{Logger: c.Logger}), c.Logger)
	}
}

// complexityRoot gives list fields their multipliers: `first` for pages, a
// fixed size for nested lists.
func complexityRoot() ComplexityRoot {
	var c ComplexityRoot
	nested := func(child int) int { return 1 + nestedListMultiplier*child }
	c.Query.Products = func(child int, _ *store.ProductFilter, first *int, _ *string) int {
		n := 20
		if first != nil {
			n = min(max(*first, 1), store.MaxPageSize)
		}
		return 1 + n*child
	}
	c.Product.OptionGroups = nested
	c.Product.AddOns = nested
	c.Product.CustomFields = nested
	c.Product.SubscriptionPlans = nested
	c.OptionGroup.Options = nested
	return c
}

// NewGraphQLHandler builds the gqlgen server by hand (not the deprecated
// NewDefaultServer): POST and GET transports, a parsed-query cache, the
// complexity and depth limits, a parser token limit, introspection only when
// enabled, no field suggestions, and the error and panic presenters.
func NewGraphQLHandler(cfg ServerConfig) http.Handler {
	cfg.defaults()
	resolver := &Resolver{Store: cfg.Store, Payments: cfg.Payments}
	es := NewExecutableSchema(Config{
		Resolvers:  resolver,
		Directives: DirectiveRoot{HasRole: hasRole(cfg.Keys)},
		Complexity: complexityRoot(),
	})
	srv := handler.New(es)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(cfg.ParserTokenLimit)
	srv.SetDisableSuggestion(!cfg.Introspection)
	if cfg.Introspection {
		srv.Use(extension.Introspection{})
	}
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](100)})
	srv.Use(extension.FixedComplexityLimit(cfg.ComplexityLimit))
	srv.Use(depthLimit{Max: cfg.DepthLimit})
	srv.SetErrorPresenter(errorPresenter(cfg.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		cfg.Logger.ErrorContext(ctx, "graphql panic", "request_id", middleware.GetReqID(ctx), "panic", fmt.Sprint(p))
		return fmt.Errorf("panic: %v", p)
	})
	fast := newCatalogFastPath(cfg.Store, es, cfg.ComplexityLimit, cfg.DepthLimit)
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > cfg.MaxBodyBytes {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write([]byte(`{"errors":[{"message":"request body too large","extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes)
		if !cfg.DisableFastPath && fast.serve(w, r, cfg.MaxBodyBytes) {
			return
		}
		srv.ServeHTTP(w, r.WithContext(withLoaders(r.Context(), cfg.Store)))
	})
	if cfg.Cache != nil {
		srv.AroundResponses(markCacheable)
		h = cfg.Cache.middleware(cfg.MaxBodyBytes, h)
	}
	return h
}

// hasRole implements @hasRole: the field runs only for a caller whose key
// grants the role.
func hasRole(keys *auth.Keys) func(ctx context.Context, obj any, next graphql.Resolver, role model.Role) (any, error) {
	return func(ctx context.Context, obj any, next graphql.Resolver, role model.Role) (any, error) {
		if err := keys.Require(ctx, role); err != nil {
			return nil, err
		}
		return next(ctx)
	}
}

// requestLogger logs one line per request with its id; never headers or
// bodies (they carry keys).
func requestLogger(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
			start := time.Now()
			next.ServeHTTP(ww, r)
			logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("request_id", middleware.GetReqID(r.Context())),
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", ww.Status()), slog.Duration("duration", time.Since(start)))
		})
	}
}
