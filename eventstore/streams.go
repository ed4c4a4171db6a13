package eventstore

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// StreamIDs lists the ids of every stream of one type, in id order, from the first
// event of each (index events_stream_starts_idx, migrations/000008). The rent
// schedule walks every lease with it.
func (s *PostgresStore) StreamIDs(ctx context.Context, streamType string) ([]uuid.UUID, error) {
	rows, err := s.conn(ctx).Query(ctx, `SELECT substr(stream_id, length($1) + 2)::uuid FROM events
		WHERE stream_type = $1 AND version = 1 ORDER BY stream_id`, streamType)
	if err != nil {
		return nil, fmt.Errorf("list %s streams: %w", streamType, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list %s streams: %w", streamType, err)
	}
	return ids, nil
}
