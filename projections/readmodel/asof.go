package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections"
)

// AsOf answers a query as the read model stood after events: it folds them with
// the projector's own code, writes the rows into empty temporary copies of the
// seed tables, inside a transaction that is rolled back, and runs read with a
// context whose queries go to those copies. events are one entity's stream up
// to a moment; read should not depend on other entities' rows.
func AsOf[T any](ctx context.Context, q *Queries, events []eventstore.Event, read func(context.Context) (T, error)) (T, error) {
	var zero T
	tx, err := q.dbase.Begin(ctx)
	if err != nil {
		return zero, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // nothing of the replay may persist
	if err := projections.Replay(ctx, tx, events); err != nil {
		return zero, err
	}
	return read(context.WithValue(ctx, replayKey{}, tx))
}

// EntityState is the read-model row of the entity whose stream's events are
// given, as those events leave it, as a JSON object without secrets (password
// and token hashes). It is nil when the events leave no row. The replay is
// AsOf's: nothing of it persists.
func EntityState(ctx context.Context, q *Queries, streamType string, events []eventstore.Event) (json.RawMessage, error) {
	table, ok := projections.EntityTable(streamType)
	if !ok {
		return nil, fmt.Errorf("no read-model table for stream type %q", streamType)
	}
	if len(events) == 0 {
		return nil, nil
	}
	id := events[0].Stream.ID
	return AsOf(ctx, q, events, func(ctx context.Context) (json.RawMessage, error) {
		var raw []byte
		err := q.pool.QueryRow(ctx, `SELECT to_jsonb(t) - $2::text[] FROM `+table+` t WHERE id = $1`,
			id, []string{"password_hash", "token", "refresh_token"}).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s as of its events: %w", table, err)
		}
		return raw, nil
	})
}
