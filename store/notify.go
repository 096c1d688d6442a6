package store

import (
	"context"
	"time"

	"github.com/lib/pq"
)

// CatalogChannel is the channel the catalog tables' triggers notify on
// (migrations/0005_catalog_notify.sql) when a write commits.
const CatalogChannel = "smplat_catalog"

// ListenCatalog calls changed whenever a write to the catalog commits in any
// process, until ctx is done. connected reports the listening connection's
// state: while it is down notifications can be lost, so a cache must not be
// trusted (false); after every (re)connect changed is called too, since
// writes may have been missed. Both callbacks must be quick.
func ListenCatalog(ctx context.Context, dsn string, changed func(), connected func(bool)) error {
	l := pq.NewListener(dsn, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, _ error) {
		switch ev {
		case pq.ListenerEventConnected, pq.ListenerEventReconnected:
			changed()
			connected(true)
		case pq.ListenerEventDisconnected, pq.ListenerEventConnectionAttemptFailed:
			connected(false)
		}
	})
	defer l.Close()
	defer connected(false) // whatever ends the feed, caches must stop trusting it
	if err := l.Listen(CatalogChannel); err != nil {
		return RedactError(err)
	}
	// pq reports the first connection before Listen returns; make sure the
	// callback ran even if the event raced with it.
	changed()
	connected(true)
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.NotificationChannel():
			// A nil notification follows a reconnect; either way, drop caches.
			changed()
		case <-ping.C:
			if err := l.Ping(); err != nil {
				connected(false)
			}
		}
	}
}
