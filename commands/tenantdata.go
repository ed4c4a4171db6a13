package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
)

// tenantPersonal reports whether a payload member holds personal data, sealed
// field by field with the tenant's data key before it reaches the event store
// (DESIGN.md, Security).
func tenantPersonal(name string) bool { return slices.Contains(domain.TenantPersonalFields, name) }

// sealingStore is the tenant handler's view of the event store: the codec at the
// boundary between the domain, whose tenant events hold personal data in clear,
// and the store, which only ever receives it sealed.
//
//   - Appending the first events of a tenant stream creates the tenant's data key
//     in the same transaction; later appends use that key.
//   - Reading a tenant stream opens the sealed fields; without the key (erased)
//     they stay absent.
//
// Other streams pass through untouched.
type sealingStore struct {
	eventstore.Store
	keyring *tenantkeys.Keyring
}

func (s sealingStore) Atomically(ctx context.Context, fn func(eventstore.Store) error) error {
	return s.Store.Atomically(ctx, func(tx eventstore.Store) error {
		return fn(sealingStore{Store: tx, keyring: s.keyring})
	})
}

func (s sealingStore) Append(ctx context.Context, stream eventstore.StreamID, expectedVersion int64,
	events ...eventstore.NewEvent) (eventstore.AppendResult, error) {
	if stream.Type != domain.TenantStreamType {
		return s.Store.Append(ctx, stream, expectedVersion, events...)
	}
	var res eventstore.AppendResult
	err := s.Store.Atomically(ctx, func(tx eventstore.Store) error {
		sealed, err := s.seal(ctx, tx, stream, expectedVersion, events)
		if err != nil {
			return err
		}
		res, err = tx.Append(ctx, stream, expectedVersion, sealed...)
		return err
	})
	return res, err
}

// seal turns the events into their stored form inside tx.
func (s sealingStore) seal(ctx context.Context, tx eventstore.Store, stream eventstore.StreamID,
	expectedVersion int64, events []eventstore.NewEvent) ([]eventstore.NewEvent, error) {
	var key *tenantkeys.DataKey
	if expectedVersion == 0 {
		// A new stream: its key is born with it. A key already there means the
		// stream is there too, so this is the losing side of a race or a repeat.
		k, err := s.keyring.Create(ctx, tx, stream.ID)
		if errors.Is(err, tenantkeys.ErrKeyExists) {
			return nil, eventstore.ErrConcurrency
		}
		if err != nil {
			return nil, err
		}
		key = k
	}
	out := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		payload, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.Type, err)
		}
		if key == nil && needsSealing(payload) {
			k, err := s.keyring.Key(ctx, tx, stream.ID)
			if errors.Is(err, tenantkeys.ErrKeyShredded) {
				// A tenant registered before its data was sealed gets its key now.
				// (An erased tenant takes no personal data: if it was erased since
				// its stream was read, this append loses the version race and the
				// key goes with the rolled-back transaction.)
				k, err = s.keyring.Create(ctx, tx, stream.ID)
			}
			if errors.Is(err, tenantkeys.ErrKeyExists) {
				return nil, eventstore.ErrConcurrency // a racing append made it first
			}
			if err != nil {
				return nil, err
			}
			key = k
		}
		if key != nil {
			if payload, err = key.Seal(payload, tenantPersonal); err != nil {
				return nil, fmt.Errorf("seal %s: %w", e.Type, err)
			}
		}
		out[i] = eventstore.NewEvent{Type: e.Type, SchemaVersion: e.SchemaVersion, Data: json.RawMessage(payload)}
	}
	return out, nil
}

// needsSealing reports whether a payload holds a personal field with a value.
func needsSealing(payload []byte) bool {
	var walk func(raw json.RawMessage) bool
	walk = func(raw json.RawMessage) bool {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return false
		}
		for name, v := range obj {
			if tenantPersonal(name) && string(v) != "null" {
				return true
			}
			if len(v) > 0 && v[0] == '{' && walk(v) {
				return true
			}
		}
		return false
	}
	return walk(payload)
}

// ReadStream opens the sealed fields of a tenant stream's events. Without the
// tenant's key (erased) the fields stay absent, as the erased aggregate has them.
func (s sealingStore) ReadStream(ctx context.Context, stream eventstore.StreamID, until time.Time) ([]eventstore.Event, error) {
	events, err := s.Store.ReadStream(ctx, stream, until)
	if err != nil || stream.Type != domain.TenantStreamType {
		return events, err
	}
	return OpenTenantEvents(ctx, s.keyring, s.Store, events)
}

// OpenTenantEvents opens the sealed fields of tenant events, each with its
// tenant's data key read through keys; an erased tenant's events come back with
// their personal fields absent.
func OpenTenantEvents(ctx context.Context, keyring *tenantkeys.Keyring, keys tenantkeys.DataKeys,
	events []eventstore.Event) ([]eventstore.Event, error) {
	opener := keyring.Opener(keys)
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		out[i] = e
		var err error
		if out[i].Data, err = opener.Open(ctx, e.Stream.ID, e.Data); err != nil {
			return nil, fmt.Errorf("open %s v%d: %w", e.Stream, e.Version, err)
		}
	}
	return out, nil
}
