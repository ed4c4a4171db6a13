package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// applyDocument keeps the documents table. file_path is the blob store key (the
// content's SHA-256), never a path a client sent. A deleted document keeps its row
// with deleted_at set: queries skip it, its history and audit rows stay readable.
func applyDocument(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.DocumentUploaded:
		_, err = tx.Exec(ctx, `INSERT INTO documents (id, name, description, file_path, file_type, file_size,
			entity_type, entity_id, uploader_id, is_confidential, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)`,
			id, ev.Name, ev.Description, ev.ContentHash, ev.FileType, ev.FileSize, ev.EntityType.String(),
			ev.EntityID, ev.UploaderID, ev.IsConfidential, at, v)
	case *domain.DocumentDetailsChanged:
		_, err = tx.Exec(ctx, `UPDATE documents SET name = $2, description = $3, updated_at = $4, version = $5
			WHERE id = $1`, id, ev.Name, ev.Description, at, v)
	case *domain.DocumentDeleted:
		_, err = tx.Exec(ctx, `UPDATE documents SET deleted_at = $2, updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	default:
		return errNoProjection
	}
	return err
}
