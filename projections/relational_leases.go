package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// TODO(issue 3): project lease events.
func applyLease(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event) error {
	return errNoProjection
}
