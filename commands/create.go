package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// once says how a create recognises itself when its client-supplied id exists
// already (API.md): the same create again answers the existing entity (200) and
// writes nothing; anything else is a conflict (409).
type once[A aggregate] struct {
	newAgg func() A
	// visible refuses with domain.ErrNotFound an entity the actor may not see; the
	// id is then taken by something else, a conflict. nil: every actor sees it.
	visible func(A) error
	// same reports whether the existing entity is what this create asked for,
	// given the entity and its stream's first (creation) event.
	same func(existing A, first domain.Event) (bool, error)
}

// sameFirst is the usual sameness: the stream's first event is the one this
// create would have appended, byte for byte as JSON.
func sameFirst[A aggregate](want domain.Event) func(A, domain.Event) (bool, error) {
	return func(_ A, first domain.Event) (bool, error) { return sameJSON(first, want) }
}

// createOnce runs create, which appends an entity's first events to stream at
// version 0; when the stream exists already (eventstore.ErrConcurrency) the
// create is a repeat and is answered by repeatedCreate.
func createOnce[A aggregate](ctx context.Context, store eventstore.Store, stream eventstore.StreamID,
	o once[A], create func() (Result, error)) (Result, error) {
	res, err := create()
	if errors.Is(err, eventstore.ErrConcurrency) {
		return repeatedCreate(ctx, store, stream, o)
	}
	return res, err
}

// appendCreated appends a new entity's events as the first of stream.
func appendCreated(ctx context.Context, store eventstore.Store, stream eventstore.StreamID, events []domain.Event) (Result, error) {
	appended, err := store.Append(ctx, stream, 0, toNew(events)...)
	if err != nil {
		return Result{}, err
	}
	return Result{ID: stream.ID, Version: appended.Version, Created: true, Checkpoint: appended.Checkpoint}, nil
}

// repeatedCreate answers a create whose id exists: the same create is the same
// entity again, anything else (another body, or an entity the actor may not see)
// is domain.ErrAlreadyExists. The answer has the entity's version and, as
// nothing was appended, no checkpoint (Result).
func repeatedCreate[A aggregate](ctx context.Context, store eventstore.Store, stream eventstore.StreamID, o once[A]) (Result, error) {
	events, err := store.ReadStream(ctx, stream, time.Time{})
	if err != nil {
		return Result{}, err
	}
	if len(events) == 0 {
		return Result{}, domain.ErrAlreadyExists
	}
	agg := o.newAgg()
	first, err := replay(stream, events, agg)
	if err != nil {
		return Result{}, err
	}
	if o.visible != nil {
		if err := o.visible(agg); errors.Is(err, domain.ErrNotFound) {
			return Result{}, domain.ErrAlreadyExists // the id is taken, by something the actor may not see
		} else if err != nil {
			return Result{}, err
		}
	}
	same, err := o.same(agg, first)
	if err != nil {
		return Result{}, err
	}
	if !same {
		return Result{}, domain.ErrAlreadyExists
	}
	return Result{ID: stream.ID, Version: events[len(events)-1].Version}, nil
}

// sameJSON compares two events by their JSON form.
func sameJSON(a, b domain.Event) (bool, error) {
	ja, err := json.Marshal(a)
	if err != nil {
		return false, fmt.Errorf("encode event: %w", err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		return false, fmt.Errorf("encode event: %w", err)
	}
	return string(ja) == string(jb), nil
}
