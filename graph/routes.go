package graph

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/cors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/graph/playground"
	"github.com/smplat/smplat/graph/rest"
)

// NewServer assembles smplat's whole HTTP surface on one screen.
func NewServer(cfg ServerConfig) http.Handler {
	cfg.defaults()
	api := &rest.API{Store: cfg.Store, Payments: cfg.Payments, Logger: cfg.Logger}
	checkout := rest.RequireRole(cfg.Keys, model.RoleCheckout, cfg.Logger)
	admin := rest.RequireRole(cfg.Keys, model.RoleAdmin, cfg.Logger)
	idempotent := rest.Idempotent(cfg.Store, cfg.Logger)

	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(requestLogger(cfg.Logger))
	r.Use(middleware.Recoverer)
	r.Use(middleware.StripSlashes) // every path works with and without a trailing slash
	r.Use(cors.Handler(cors.Options{
		AllowedOrigins: cfg.CORSOrigins,
		AllowedMethods: []string{"GET", "POST", "PATCH", "DELETE", "OPTIONS"},
		AllowedHeaders: []string{"Content-Type", "X-API-Key", "Authorization", "Idempotency-Key"},
		ExposedHeaders: []string{"Idempotent-Replayed", "X-Request-Id"},
		MaxAge:         300,
	}))
	r.Use(cfg.Keys.Middleware)

	gql := NewGraphQLHandler(cfg)
	r.Handle("/graphql", gql)
	if cfg.Playground {
		pg := playground.Handler("smplat GraphQL", "/graphql") // GraphiQL, assets embedded (no CDN)
		r.Handle("/playground", pg)
		r.Handle("/playground/assets/*", pg)
	}

	r.Get("/healthz", rest.Health(cfg.Environment, cfg.Version))
	r.Method("GET", "/metrics", metricsHandler(cfg.Worker))
	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/healthz", rest.HealthV1())
		r.Method("GET", "/products", api.ListProducts())
		r.Method("GET", "/products/{slug}", api.GetProduct())
		r.With(admin).Method("POST", "/products", api.CreateProduct())
		r.With(admin).Method("PATCH", "/products/{id}", api.UpdateProduct())
		r.With(admin).Method("DELETE", "/products/{id}", api.DeleteProduct())

		r.With(checkout, idempotent).Method("POST", "/orders", api.CreateOrder())
		r.With(admin).Method("GET", "/orders", api.ListOrders())
		r.With(checkout).Method("GET", "/orders/user/{user_id}", api.UserOrders())
		r.With(admin).Method("GET", "/orders/{id}", api.GetOrder())
		r.With(admin).Method("PATCH", "/orders/{id}/status", api.UpdateOrderStatus())
		r.With(checkout).Method("GET", "/orders/{id}/progress", api.OrderProgress())

		// The webhook is public: its Stripe-Signature is its authentication.
		r.Method("POST", "/payments/webhooks/stripe", api.StripeWebhook())
		r.With(checkout, idempotent).Method("POST", "/payments/checkout", api.StartCheckout())
		r.With(checkout).Method("GET", "/payments/status/{payment_id}", api.PaymentStatus())
		r.With(checkout).Method("GET", "/payments/observability", api.PaymentsObservability())

		r.Method("GET", "/fulfillment/health", fulfillment.HealthHandler(cfg.Worker))
		r.Method("GET", "/fulfillment/metrics", fulfillment.MetricsHandler(cfg.Worker))
		r.Method("GET", "/fulfillment/observability", fulfillment.ObservabilityHandler(cfg.Worker))
	})
	return r
}

// metricsHandler serves /metrics in the Prometheus text format: the Go
// runtime and process, plus the worker's counters and the task queue read
// from the database.
func metricsHandler(w *fulfillment.Worker) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), w.Collector())
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
