package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// TODO(issue 3): project maintenance events.
func applyMaintenance(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event) error {
	return errNoProjection
}
