package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// applyDocument keeps the documents table. file_path is the blob store key (the
// content's SHA-256), never a path a client sent. A deleted document keeps its row
// with deleted_at set: queries skip it, its history and audit rows stay readable.
func applyDocument(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.DocumentUploaded); ok {
		d, err := en.create(documentsTable, e.RecordedAt)
		if err != nil {
			return err
		}
		d.set("name", ev.Name)
		d.set("description", ev.Description)
		d.set("file_path", ev.ContentHash)
		d.set("file_type", ev.FileType)
		d.set("file_size", ev.FileSize)
		d.set("entity_type", ev.EntityType.String())
		d.set("entity_id", ev.EntityID)
		d.set("uploader_id", ev.UploaderID)
		d.set("is_confidential", ev.IsConfidential)
		return nil
	}
	d, err := en.existing(documentsTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.DocumentDetailsChanged:
		d.set("name", ev.Name)
		d.set("description", ev.Description)
	case *domain.DocumentDeleted:
		d.set("deleted_at", e.RecordedAt)
	default:
		return errNoProjection
	}
	return nil
}
