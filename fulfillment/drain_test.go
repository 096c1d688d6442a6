package fulfillment_test

import (
	"flag"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
	"github.com/smplat/smplat/store/storetest"
)

var drainTasks = flag.Int("drain", 0, "measure the drain rate of this many tasks (TestDrainRate)")

// TestDrainRate measures tasks/s for N due http tasks against an instant
// provider with 1 and 3 workers, each with its own connection pool (as
// separate processes would have). Run with:
//
//	go test ./fulfillment -run TestDrainRate -v -args -drain=10000
func TestDrainRate(t *testing.T) {
	if *drainTasks <= 0 {
		t.Skip("set -drain N to measure")
	}
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			dsn := storetest.URL(t)
			p := newProvider(t, func(w http.ResponseWriter, _ *http.Request, _ int) {})
			var pools []*sqlx.DB
			for i := 0; i < workers; i++ {
				db, err := sqlx.Open("postgres", dsn)
				if err != nil {
					t.Fatal(err)
				}
				db.SetMaxOpenConns(30)
				db.SetMaxIdleConns(30)
				t.Cleanup(func() { db.Close() })
				pools = append(pools, db)
			}
			seedTasks(t, pools[0], *drainTasks, 1, "http", taskExec(p.URL), 3, time.Now().Add(-time.Minute))
			n := *drainTasks
			ev := newEvents()
			start := time.Now()
			var stops []func()
			for i := 0; i < workers; i++ {
				w := fulfillment.New(store.New(pools[i]), fulfillment.Config{PollInterval: 100 * time.Millisecond,
					HTTPClient: p.Client(), OnEvent: ev.add}, quietLogger())
				stops = append(stops, startWorker(t, w))
			}
			ev.waitFor(t, 10*time.Minute, "drain", func() bool { return ev.count(fulfillment.OutcomeCompleted) >= n })
			elapsed := time.Since(start)
			for _, stop := range stops {
				stop()
			}
			t.Logf("%d tasks, %d worker(s) (batch 25, concurrency 25): %.2fs, %.0f tasks/s", n, workers,
				elapsed.Seconds(), float64(n)/elapsed.Seconds())
		})
	}
}
