package main

import (
	"bufio"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// config is every setting smplat reads, built once from the environment
// (and a .env file) by loadConfig; constructors take the parts they need.
type config struct {
	DatabaseURL string
	HTTPAddr    string
	Environment string

	CheckoutAPIKeys []string
	AdminAPIKeys    []string

	StripeSecretKey      string
	StripeWebhookSecrets []string
	StripeAPIBase        string

	WorkerEnabled bool
	PollInterval  time.Duration
	BatchSize     int

	Playground    bool
	Introspection bool
	CORSOrigins   []string

	DBMaxConns  int
	AutoMigrate bool

	CatalogCache      bool
	CatalogCacheBytes int
}

const defaultDatabaseURL = "postgres://smplat:smplat@localhost:5432/smplat?sslmode=disable"

func (c config) production() bool { return c.Environment == "production" }

// loadConfig reads the settings of SPEC §1 through getenv.
func loadConfig(getenv func(string) string) (config, error) {
	get := func(k, def string) string {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			return v
		}
		return def
	}
	c := config{
		Environment:     strings.ToLower(get("ENVIRONMENT", "development")),
		CheckoutAPIKeys: splitList(getenv("CHECKOUT_API_KEY")),
		AdminAPIKeys:    splitList(getenv("ADMIN_API_KEY")),
		StripeSecretKey: get("STRIPE_SECRET_KEY", ""),
		StripeAPIBase:   get("STRIPE_API_BASE", ""),
	}
	c.StripeWebhookSecrets = splitList(getenv("STRIPE_WEBHOOK_SECRET"))
	switch c.Environment {
	case "development", "staging", "production":
	default:
		return c, fmt.Errorf("ENVIRONMENT must be development, staging or production, not %q", c.Environment)
	}
	dsn, err := normalizeDSN(get("DATABASE_URL", defaultDatabaseURL))
	if err != nil {
		return c, err
	}
	c.DatabaseURL = dsn
	c.HTTPAddr = get("HTTP_ADDR", "")
	if c.HTTPAddr == "" {
		if port := get("PORT", ""); port != "" {
			c.HTTPAddr = ":" + port
		} else {
			c.HTTPAddr = ":8000"
		}
	}
	var errs []string
	boolean := func(k string, def bool) bool {
		v := get(k, "")
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s must be true or false", k))
		}
		return b
	}
	integer := func(k string, def int) int {
		v := get(k, "")
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be a positive integer", k))
		}
		return n
	}
	dev := c.Environment == "development"
	c.WorkerEnabled = boolean("FULFILLMENT_WORKER_ENABLED", false)
	c.PollInterval = time.Duration(integer("FULFILLMENT_POLL_INTERVAL_SECONDS", 30)) * time.Second
	c.BatchSize = integer("FULFILLMENT_BATCH_SIZE", 25)
	c.Playground = boolean("GRAPHQL_PLAYGROUND", dev)
	c.Introspection = boolean("GRAPHQL_INTROSPECTION", dev)
	c.DBMaxConns = integer("DATABASE_MAX_CONNS", 20)
	c.AutoMigrate = boolean("AUTO_MIGRATE", true)
	c.CatalogCache = boolean("CATALOG_CACHE", true)
	c.CatalogCacheBytes = integer("CATALOG_CACHE_MAX_MB", 16) << 20
	if v := getenv("CORS_ALLOWED_ORIGINS"); v != "" {
		c.CORSOrigins = splitList(v)
	} else if dev {
		c.CORSOrigins = []string{"http://localhost:3000"}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}

// apiKeys checks the keys the API needs: in production a missing one is an
// error naming it; elsewhere it leaves its role open and is returned as a
// warning. Only `serve` needs them (the worker, migrate and seed do not).
func (c config) apiKeys() (warnings []string, err error) {
	required := []struct {
		name string
		set  bool
		role string
	}{
		{"CHECKOUT_API_KEY", len(c.CheckoutAPIKeys) > 0, "checkout calls (orders, checkout sessions) are open to anyone"},
		{"ADMIN_API_KEY", len(c.AdminAPIKeys) > 0, "admin calls (catalog writes, order administration) are open to anyone"},
		{"STRIPE_SECRET_KEY", c.StripeSecretKey != "", "checkout sessions cannot be created"},
		{"STRIPE_WEBHOOK_SECRET", len(c.StripeWebhookSecrets) > 0, "Stripe webhooks are refused"},
	}
	for _, r := range required {
		if r.set {
			continue
		}
		if c.production() {
			return nil, fmt.Errorf("%s must be set in production", r.name)
		}
		warnings = append(warnings, fmt.Sprintf("%s is not set: %s", r.name, r.role))
	}
	return warnings, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// normalizeDSN accepts the old backend's forms (compat):
// postgresql+asyncpg://…, postgresql://… and postgres://…. A local server
// without an sslmode gets sslmode=disable, as the old driver connected.
func normalizeDSN(dsn string) (string, error) {
	for _, old := range []string{"postgresql+asyncpg://", "postgresql+psycopg://", "postgresql+psycopg2://", "postgresql://"} {
		if strings.HasPrefix(dsn, old) {
			dsn = "postgres://" + strings.TrimPrefix(dsn, old)
		}
	}
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" {
		return "", fmt.Errorf("DATABASE_URL must be a postgres:// URL")
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1", "", "postgres", "db":
			q.Set("sslmode", "disable")
			u.RawQuery = q.Encode()
		}
	}
	return u.String(), nil
}

// readDotEnv returns the variables of a .env file (compat); a missing file
// is no error. Lines are KEY=VALUE, optionally quoted; # starts a comment.
func readDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[strings.TrimSpace(k)] = v
	}
	return vars, sc.Err()
}
