// Package projections keeps the seed's relational tables up to date from the
// event log, and answers queries from them.
package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// RelationalName is the projector that writes the seed tables. The tables are
// linked by foreign keys, so one projector applies their events in global order.
const RelationalName = "relational"

// Relational projects events into the seed tables, and one audit_logs row per
// event. Every read-model timestamp and id comes from the event, so replaying the
// log gives identical rows.
type Relational struct {
	// Keyring opens the sealed personal fields of tenant events (sealed.go).
	// serve, rebuilds and tests set it; without it a sealed event is an error,
	// never a silently blank row.
	Keyring *eventstore.Keyring
}

// Apply applies one event and advances the checkpoint in tx. An event at or before
// the checkpoint was applied already and changes nothing: redelivery is harmless.
func (r Relational) Apply(ctx context.Context, tx pgx.Tx, e eventstore.Event) error {
	tag, err := tx.Exec(ctx, `UPDATE projector_checkpoints
		SET transaction_id = $2::text::xid8, position = $3, events_applied = events_applied + 1,
		    last_event_at = $4, updated_at = now()
		WHERE projector = $1 AND (transaction_id, position) < ($2::text::xid8, $3)`,
		RelationalName, strconv.FormatUint(e.TransactionID, 10), e.Position, e.RecordedAt)
	if err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // already applied
	}
	de, err := r.decode(ctx, tx, e)
	if err != nil {
		return err
	}
	before, err := entityRow(ctx, tx, e.Stream.Type, e.Stream.ID)
	if err != nil {
		return err
	}
	if err := applyRelational(ctx, tx, e, de); err != nil {
		return fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
	}
	return writeAudit(ctx, tx, e, de, before)
}

// execer is where the per-stream projections write: the projector's
// transaction, or a rebuild's pipeline (rebuild_pipeline.go), which sends many
// events' statements in one round trip. They only write, and read nothing back.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// applyRelational hands the event to the projection of its stream type.
func applyRelational(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	apply, ok := relationalByStream[e.Stream.Type]
	if !ok {
		return errNoProjection
	}
	return apply(ctx, tx, e, de)
}

// relationalByStream is the projection of each stream type, one file each.
var relationalByStream = map[string]func(context.Context, execer, eventstore.Event, domain.Event) error{
	domain.UserStreamType:        applyUser,
	domain.SessionStreamType:     applySession,
	domain.PropertyStreamType:    applyProperty,
	domain.TenantStreamType:      applyTenant,
	domain.LeaseStreamType:       applyLease,
	domain.TransactionStreamType: applyTransaction,
	domain.MaintenanceStreamType: applyMaintenance,
	domain.DocumentStreamType:    applyDocument,
}

var errNoProjection = errors.New("no projection for this event type")
