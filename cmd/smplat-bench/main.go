// Command smplat-bench is the load harness behind `make bench`
// (scripts/bench.sh): it seeds a benchmark catalog, starts `smplat serve` in
// production settings, checks that every answer is complete, drives it with
// wrk (or vegeta) and prints one table.
//
//	smplat-bench seed -n 200                 seed N products (DATABASE_URL)
//	smplat-bench run -server bin/smplat      measure (DATABASE_URL)
//	smplat-bench freeport                    print a free TCP port
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/smplat/smplat/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "smplat-bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: smplat-bench seed|run|freeport [flags]")
	}
	switch args[0] {
	case "freeport":
		p, err := freePort()
		if err != nil {
			return err
		}
		fmt.Println(p)
		return nil
	case "seed":
		fs := flag.NewFlagSet("seed", flag.ContinueOnError)
		n := fs.Int("n", 200, "products to seed")
		dsn := fs.String("database-url", os.Getenv("DATABASE_URL"), "Postgres DSN")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		db, err := store.Open(ctx, *dsn, 4)
		if err != nil {
			return err
		}
		defer db.Close()
		active, err := seedCatalog(ctx, store.New(db), *n)
		if err != nil {
			return err
		}
		fmt.Printf("seeded %d products (%d active)\n", *n, active)
		return nil
	case "run":
		return runBench(ctx, args[1:])
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
