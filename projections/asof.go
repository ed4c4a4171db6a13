package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
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
	// Every table the projector writes (rebuild.go), with its keys: upserts need them.
	for _, table := range readModelTables {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+table+` (LIKE public.`+table+` INCLUDING DEFAULTS INCLUDING INDEXES) ON COMMIT DROP`); err != nil {
			return zero, fmt.Errorf("prepare replay of %s: %w", table, err)
		}
	}
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_temp, public`); err != nil {
		return zero, err
	}
	if len(events) > 0 {
		en := newEntity(events[0].Stream.ID)
		for _, e := range events {
			de, err := domain.DecodeEvent(e.Type, e.Data)
			if err != nil {
				return zero, err
			}
			if _, err := project(en, e, de, nil); err != nil {
				return zero, err
			}
		}
		batch := &pgx.Batch{}
		en.queueWrites(batch)
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return zero, err
		}
	}
	return read(context.WithValue(ctx, replayKey{}, tx))
}
