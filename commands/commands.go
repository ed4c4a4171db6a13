// Package commands carries out what clients ask: it loads an aggregate from its
// stream, lets the domain decide, and appends the resulting events through an
// eventstore.Store, with the guards (claims, periods, keys) in the same
// transaction. It must not import projections or http.
package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Actor is the authenticated user a command runs for.
type Actor = domain.Viewer

// Result tells the caller what a command changed and where its events landed;
// the read model already holds its rows (they are written inline).
type Result struct {
	ID         uuid.UUID
	Version    int64
	Created    bool
	Checkpoint eventstore.Checkpoint // zero when nothing was appended
}

// aggregate is what every domain aggregate offers for rehydration.
type aggregate interface {
	Apply(e domain.Event, version int64, at time.Time)
	Version() int64
}

// load replays a stream into agg.
func load(ctx context.Context, store eventstore.Store, stream eventstore.StreamID, agg aggregate) error {
	events, err := store.ReadStream(ctx, stream, time.Time{})
	if err != nil {
		return err
	}
	_, err = replay(stream, events, agg)
	return err
}

// loadNew replays a stream into a fresh aggregate from newAgg; the stream may be
// empty (the aggregate's Version is then 0).
func loadNew[A aggregate](ctx context.Context, store eventstore.Store, stream eventstore.StreamID, newAgg func() A) (A, error) {
	agg := newAgg()
	return agg, load(ctx, store, stream, agg)
}

// replay applies a stream's events to agg and returns the first of them, decoded
// (nil for an empty stream).
func replay(stream eventstore.StreamID, events []eventstore.Event, agg aggregate) (domain.Event, error) {
	var first domain.Event
	for i, e := range events {
		de, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", stream, err)
		}
		if i == 0 {
			first = de
		}
		agg.Apply(de, e.Version, e.RecordedAt)
	}
	return first, nil
}

func toNew(events []domain.Event) []eventstore.NewEvent {
	out := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		out[i] = eventstore.NewEvent{Type: e.EventType(), SchemaVersion: 1, Data: e}
	}
	return out
}

// withCommand names the command in the metadata of the events it appends.
func withCommand(ctx context.Context, name string) context.Context {
	md := eventstore.MetadataFrom(ctx)
	md.Command = name
	return eventstore.WithMetadata(ctx, md)
}

// maxAttempts bounds retries of commands that lost an append race without the
// client asking for a particular version.
const maxAttempts = 5

// ErrLostRace is an append race that an update lost inside a transaction. The
// transaction cannot retry on its own: the failed append aborted it, and even
// behind a savepoint the retried events would carry its transaction id, older
// than the winner's, and consumers, which read the log in transaction order,
// would see the stream's later version before the earlier one. Whoever began
// the transaction runs it again from the start (atomically, or the HTTP layer's
// unit of work); should the error escape, it is a 412, like a race lost too often.
var ErrLostRace = fmt.Errorf("%w (lost a race to change it)", domain.ErrPreconditionFailed)

// atomically runs fn in one transaction (store.Atomically) and, when an update in
// it lost an append race, again in a fresh transaction on fresh state, up to
// maxAttempts times. fn must set its results anew on every run. Inside a
// transaction that it did not begin, it leaves the rerun to whoever began it.
func atomically(ctx context.Context, store eventstore.Store, fn func(eventstore.Store) error) error {
	if store.InTransaction(ctx) {
		return store.Atomically(ctx, fn)
	}
	for attempt := 1; ; attempt++ {
		err := store.Atomically(ctx, fn)
		if !errors.Is(err, ErrLostRace) || attempt == maxAttempts {
			return err
		}
	}
}

// update loads the aggregate of stream, lets authorize refuse (ErrNotFound for what
// the actor may not see), checks the caller's expected version (If-Match), lets
// decide produce events and appends them. A lost race is retried on fresh state
// unless the caller pinned a version: here, or inside a transaction by running the
// whole transaction again (ErrLostRace, atomically).
func update[A aggregate](ctx context.Context, store eventstore.Store, stream eventstore.StreamID,
	ifMatch *int64, newAgg func() A, authorize func(A) error, decide func(A) ([]domain.Event, error)) (Result, error) {
	for attempt := 1; ; attempt++ {
		agg, err := loadNew(ctx, store, stream, newAgg)
		if err != nil {
			return Result{}, err
		}
		if agg.Version() == 0 {
			return Result{}, domain.ErrNotFound
		}
		if err := authorize(agg); err != nil {
			return Result{}, err
		}
		if ifMatch != nil && *ifMatch != agg.Version() {
			return Result{}, domain.ErrPreconditionFailed
		}
		events, err := decide(agg)
		if err != nil {
			return Result{}, err
		}
		res := Result{ID: stream.ID, Version: agg.Version()}
		if len(events) == 0 {
			return res, nil
		}
		appended, err := store.Append(ctx, stream, agg.Version(), toNew(events)...)
		if errors.Is(err, eventstore.ErrConcurrency) && ifMatch == nil && store.InTransaction(ctx) {
			return Result{}, ErrLostRace
		}
		if errors.Is(err, eventstore.ErrConcurrency) && ifMatch == nil && attempt < maxAttempts {
			continue
		}
		if errors.Is(err, eventstore.ErrConcurrency) {
			return Result{}, domain.ErrPreconditionFailed
		}
		if err != nil {
			return Result{}, err
		}
		res.Version, res.Checkpoint = appended.Version, appended.Checkpoint
		return res, nil
	}
}

// Target is where every command on an existing entity starts: who acts, on which
// entity, and the version the caller last read (If-Match; nil for any).
type Target struct {
	Actor   Actor
	ID      uuid.UUID
	IfMatch *int64
}

// Transition is the input of a status change that takes nothing but an optional
// reason: failing, refunding, waiving or writing off a charge, cancelling a
// maintenance request. A status change with no input at all takes the Target.
type Transition struct {
	Target
	Reason string
}
