package eventstore

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Counted wraps a store so that committed appends are counted by event type.
type Counted struct {
	Store
	appended *prometheus.CounterVec
}

// NewCounted counts the appends of store; register Collector() with Prometheus.
func NewCounted(store Store) *Counted {
	return &Counted{Store: store, appended: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assetanchor_events_appended_total",
		Help: "Events appended to the event store, by event type.",
	}, []string{"type"})}
}

// Collector exposes the counter.
func (c *Counted) Collector() prometheus.Collector { return c.appended }

func (c *Counted) Append(ctx context.Context, stream StreamID, expectedVersion int64, events ...NewEvent) (AppendResult, error) {
	res, err := c.Store.Append(ctx, stream, expectedVersion, events...)
	if err == nil {
		c.count(events)
	}
	return res, err
}

// Atomically counts the appends of fn only once they have committed.
func (c *Counted) Atomically(ctx context.Context, fn func(Store) error) error {
	var pending []NewEvent
	err := c.Store.Atomically(ctx, func(tx Store) error {
		return fn(&pendingCounter{Store: tx, pending: &pending})
	})
	if err == nil {
		c.count(pending)
	}
	return err
}

func (c *Counted) count(events []NewEvent) {
	for _, e := range events {
		c.appended.WithLabelValues(e.Type).Inc()
	}
}

// pendingCounter notes the appends made inside a transaction.
type pendingCounter struct {
	Store
	pending *[]NewEvent
}

func (p *pendingCounter) Append(ctx context.Context, stream StreamID, expectedVersion int64, events ...NewEvent) (AppendResult, error) {
	res, err := p.Store.Append(ctx, stream, expectedVersion, events...)
	if err == nil {
		*p.pending = append(*p.pending, events...)
	}
	return res, err
}
