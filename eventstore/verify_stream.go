package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// VerifyStream is Verify for one stream: it recomputes the stream's hash chain
// and answers its first broken link, or nil when the chain is intact. A stream
// with no events is intact (nothing to break). The audit console asks it for the
// one entity it shows, where scanning every stream would be wasted work.
func (s *PostgresStore) VerifyStream(ctx context.Context, id StreamID) (*BrokenLink, error) {
	var b BrokenLink
	err := s.conn(ctx).QueryRow(ctx, `
		WITH chain AS (
			SELECT stream_id, version, hash,
			       row_number() OVER w AS expected_version,
			       event_hash(lag(hash) OVER w, event_id, stream_id, version, event_type,
			                  schema_version, payload, metadata, recorded_at) AS expected_hash
			  FROM events WHERE stream_id = $1 WINDOW w AS (ORDER BY version))
		SELECT stream_id, version,
		       CASE WHEN version <> expected_version THEN 'version gap: expected version ' || expected_version
		            ELSE 'hash mismatch: content or predecessor was changed' END
		  FROM chain
		 WHERE version <> expected_version OR hash <> expected_hash
		 ORDER BY version LIMIT 1`, id.String()).Scan(&b.Stream, &b.Version, &b.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify hash chain of %s: %w", id, err)
	}
	return &b, nil
}
