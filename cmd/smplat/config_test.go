package main

import (
	"os"
	"strings"
	"testing"
)

func TestLoadConfig(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": "postgresql+asyncpg://smplat:secret@localhost:5432/smplat", "PORT": "9000",
		"CHECKOUT_API_KEY": "a, b", "FULFILLMENT_WORKER_ENABLED": "true", "FULFILLMENT_BATCH_SIZE": "5",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://smplat:secret@localhost:5432/smplat?sslmode=disable" || cfg.HTTPAddr != ":9000" ||
		len(cfg.CheckoutAPIKeys) != 2 || !cfg.WorkerEnabled || cfg.BatchSize != 5 || !cfg.Playground ||
		cfg.CORSOrigins[0] != "http://localhost:3000" {
		t.Fatalf("config: %+v", cfg)
	}
	warnings, err := cfg.apiKeys()
	if err != nil || len(warnings) != 3 {
		t.Fatalf("development: %v %v", warnings, err)
	}
	env["ENVIRONMENT"] = "production"
	cfg, err = loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Playground || cfg.Introspection {
		t.Error("playground and introspection must be off in production")
	}
	if _, err := cfg.apiKeys(); err == nil || !strings.Contains(err.Error(), "ADMIN_API_KEY") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("production without ADMIN_API_KEY: %v", err)
	}
	env["FULFILLMENT_BATCH_SIZE"] = "zero"
	if _, err := loadConfig(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "FULFILLMENT_BATCH_SIZE") {
		t.Fatalf("bad batch size: %v", err)
	}
}

func TestReadDotEnv(t *testing.T) {
	path := t.TempDir() + "/.env"
	body := "# comment\nDATABASE_URL=postgresql+asyncpg://smplat:smplat@localhost:5432/smplat\nexport CHECKOUT_API_KEY=\"quoted\"\nBROKEN\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, err := readDotEnv(path)
	if err != nil || vars["CHECKOUT_API_KEY"] != "quoted" || !strings.HasPrefix(vars["DATABASE_URL"], "postgresql+asyncpg://") || len(vars) != 2 {
		t.Fatalf("%v %v", vars, err)
	}
	if vars, err := readDotEnv(t.TempDir() + "/missing"); err != nil || vars != nil {
		t.Fatalf("missing file: %v %v", vars, err)
	}
}
