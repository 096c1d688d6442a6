package payments

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/smplat/smplat/store"
)

// counters are per-process (reset on restart); the webhook_events table is
// the durable record.
type counters struct {
	checkoutSucceeded atomic.Int64
	checkoutFailed    atomic.Int64
	processed         atomic.Int64
	failed            atomic.Int64
	duplicates        atomic.Int64
	rejected          atomic.Int64

	mu     sync.Mutex
	byType map[string]*WebhookCounts
}

func newCounters() *counters {
	c := &counters{byType: map[string]*WebhookCounts{}}
	for _, t := range handledTypes {
		c.byType[t] = &WebhookCounts{}
	}
	return c
}

func (c *counters) webhook(eventType string, ok bool) {
	if ok {
		c.processed.Add(1)
	} else {
		c.failed.Add(1)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Unknown types share one bucket so a sender cannot grow the map.
	if _, known := c.byType[eventType]; !known {
		eventType = "other"
	}
	wc := c.byType[eventType]
	if wc == nil {
		wc = &WebhookCounts{}
		c.byType[eventType] = wc
	}
	if ok {
		wc.Processed++
	} else {
		wc.Failed++
	}
}

// CheckoutTotals counts checkout calls of this process.
type CheckoutTotals struct {
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
}

// WebhookCounts counts webhook deliveries of one event type.
type WebhookCounts struct {
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
}

// WebhookTotals counts every webhook delivery of this process: processed
// (acknowledged with 200, duplicates included), failed (500), duplicates,
// and rejected (bad signature or payload, 400).
type WebhookTotals struct {
	Processed  int64 `json:"processed"`
	Failed     int64 `json:"failed"`
	Duplicates int64 `json:"duplicates"`
	Rejected   int64 `json:"rejected"`
}

// Observability is the GET /api/v1/payments/observability body. Every total
// is present (0 when nothing happened yet) — fix: the old backend answered {}.
type Observability struct {
	Checkout struct {
		Totals CheckoutTotals `json:"totals"`
	} `json:"checkout"`
	Webhooks struct {
		Totals      WebhookTotals            `json:"totals"`
		ByEventType map[string]WebhookCounts `json:"by_event_type"`
		LastEvents  []store.WebhookEvent     `json:"last_events"`
	} `json:"webhooks"`
}

// Observability snapshots the counters and reads the last 20 handled events.
// When the database cannot be read, the counters are still returned (with
// no last events) and the error is logged: the endpoint should work when
// something is wrong.
func (s *Service) Observability(ctx context.Context) *Observability {
	o := &Observability{}
	o.Checkout.Totals = CheckoutTotals{Succeeded: s.m.checkoutSucceeded.Load(), Failed: s.m.checkoutFailed.Load()}
	o.Webhooks.Totals = WebhookTotals{
		Processed: s.m.processed.Load(), Failed: s.m.failed.Load(),
		Duplicates: s.m.duplicates.Load(), Rejected: s.m.rejected.Load(),
	}
	s.m.mu.Lock()
	o.Webhooks.ByEventType = make(map[string]WebhookCounts, len(s.m.byType))
	for t, c := range s.m.byType {
		o.Webhooks.ByEventType[t] = *c
	}
	s.m.mu.Unlock()
	events, err := s.store.RecentWebhookEvents(ctx, 20)
	if err != nil {
		s.log.ErrorContext(ctx, "payments observability: reading webhook events", "err", store.RedactError(err))
		events = []store.WebhookEvent{}
	}
	o.Webhooks.LastEvents = events
	return o
}
