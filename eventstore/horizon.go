package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// ErrHorizonStalled means stored transaction ids lie at or beyond the cluster's
// next transaction id, as after a pg_dump restored into another cluster: readers
// that only take events below the transaction-id horizon would see nothing new
// until the cluster's counter passed them, and new events would sort before old
// checkpoints.
var ErrHorizonStalled = errors.New("the event log's transaction ids are ahead of this PostgreSQL cluster's " +
	"(restored from pg_dump into another cluster?): projectors would stall; re-stamp the log with " +
	"`assetanchor events export` and `events import` into a fresh database (see docs/operations.md)")

// HorizonStalled reports whether any stored transaction id (of an event, a
// projector checkpoint or a watermill offset) is at or beyond the next
// transaction id this cluster will assign. It assigns no transaction id itself.
func HorizonStalled(ctx context.Context, db DB) (bool, error) {
	var stalled bool
	err := db.QueryRow(ctx, `SELECT coalesce(greatest(
			(SELECT max(transaction_id) FROM events),
			(SELECT max(transaction_id) FROM projector_checkpoints),
			(SELECT max(last_processed_transaction_id) FROM watermill_offsets_events))
		>= pg_snapshot_xmax(pg_current_snapshot()), false)`).Scan(&stalled)
	if err != nil {
		return false, fmt.Errorf("compare stored transaction ids with the cluster's: %w", err)
	}
	return stalled, nil
}
