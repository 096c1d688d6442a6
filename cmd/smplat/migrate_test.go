package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// TestConcurrentMigrationsApplyOnce starts three "processes" migrating one
// empty database at once: the advisory lock lets one apply everything and
// the others find nothing to do.
func TestConcurrentMigrationsApplyOnce(t *testing.T) {
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		t.Fatal("TEST_DATABASE_URL is not set: run `make test`")
	}
	adb, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adb.Close()
	name := fmt.Sprintf("smplat_migrate_%d", time.Now().UnixNano())
	if _, err := adb.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adb.Exec(`DROP DATABASE ` + name + ` WITH (FORCE)`) })
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range applied {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := sql.Open("postgres", u.String())
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = migrateUp(context.Background(), db)
		}()
	}
	wg.Wait()
	total := 0
	for i := range applied {
		if errs[i] != nil {
			t.Fatalf("migration %d: %v", i, errs[i])
		}
		total += applied[i]
	}
	db, _ := sql.Open("postgres", u.String())
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM gorp_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if total != n || n == 0 {
		t.Fatalf("applied %v in all (%d), %d recorded", applied, total, n)
	}
}

func TestWorkerEnvHidesSmplatSecrets(t *testing.T) {
	env := map[string]string{"STRIPE_SECRET_KEY": "sk", "DATABASE_URL": "postgres://u:p@h/db", "FULFILLMENT_BASE_URL": "http://x"}
	w := workerConfig(config{}, func(k string) string { return env[k] })
	if w.Env("STRIPE_SECRET_KEY") != "" || w.Env("DATABASE_URL") != "" || w.Env("FULFILLMENT_BASE_URL") != "http://x" {
		t.Fatalf("task env: %q %q %q", w.Env("STRIPE_SECRET_KEY"), w.Env("DATABASE_URL"), w.Env("FULFILLMENT_BASE_URL"))
	}
}
