package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// DocumentView is a documents row. FilePath is the blob store key, the SHA-256
// of the content in hex; the content itself is served by GET /documents/{id}/content.
type DocumentView struct {
	ID             uuid.UUID  `json:"id"`
	Name           string     `json:"name"`
	Description    *string    `json:"description"`
	FilePath       string     `json:"file_path"`
	FileType       string     `json:"file_type"`
	FileSize       int64      `json:"file_size"`
	EntityType     string     `json:"entity_type"`
	EntityID       uuid.UUID  `json:"entity_id"`
	UploaderID     *uuid.UUID `json:"uploader_id"`
	IsConfidential bool       `json:"is_confidential"`
	CreatedAt      Timestamp  `json:"created_at"`
	UpdatedAt      Timestamp  `json:"updated_at"`
	Version        int64      `json:"version"`
}

const documentColumns = `d.id, d.name, d.description, d.file_path, d.file_type, d.file_size, d.entity_type,
	d.entity_id, d.uploader_id, coalesce(d.is_confidential, FALSE), d.created_at, d.updated_at, d.version`

func scanDocument(row pgx.CollectableRow) (DocumentView, error) {
	var d DocumentView
	err := row.Scan(&d.ID, &d.Name, &d.Description, &d.FilePath, &d.FileType, &d.FileSize, &d.EntityType,
		&d.EntityID, &d.UploaderID, &d.IsConfidential, &d.CreatedAt, &d.UpdatedAt, &d.Version)
	return d, err
}

// visibleDocument is the SQL condition "document d is visible to the viewer", with
// $1 = sees every entity, $2 = the viewer's user id and $3 = sees confidential
// documents: the viewer must see the document's entity in full by that entity's
// own rule (a tenant seen at contact level shows none of its documents), and a
// confidential document is hidden from managers (domain.DocumentAccess).
// It does not look at deleted_at.
const visibleDocument = `(NOT coalesce(d.is_confidential, FALSE) OR $3) AND ($1 OR CASE d.entity_type
	WHEN 'property' THEN EXISTS (SELECT 1 FROM properties p WHERE p.id = d.entity_id AND p.owner_id = $2)
	WHEN 'lease' THEN EXISTS (SELECT 1 FROM leases l JOIN properties p ON p.id = l.property_id
		WHERE l.id = d.entity_id AND p.owner_id = $2)
	WHEN 'transaction' THEN EXISTS (SELECT 1 FROM transactions x JOIN leases l ON l.id = x.lease_id
		JOIN properties p ON p.id = l.property_id WHERE x.id = d.entity_id AND p.owner_id = $2)
	WHEN 'tenant' THEN EXISTS (SELECT 1 FROM tenants t WHERE t.id = d.entity_id AND t.registered_by = $2)
	ELSE FALSE END)`

func documentArgs(v Viewer) []any {
	return []any{seesAll(v), v.UserID, domain.SeesConfidentialDocuments(v.Role)}
}

// Document returns one live document the viewer may see, or domain.ErrNotFound.
func (q *Queries) Document(ctx context.Context, v Viewer, id uuid.UUID) (DocumentView, error) {
	return q.document(ctx, v, id, false)
}

// DocumentEvenDeleted is Document, deleted documents included: it authorises a
// document's history, which outlives the document.
func (q *Queries) DocumentEvenDeleted(ctx context.Context, v Viewer, id uuid.UUID) (DocumentView, error) {
	return q.document(ctx, v, id, true)
}

func (q *Queries) document(ctx context.Context, v Viewer, id uuid.UUID, deletedToo bool) (DocumentView, error) {
	live := " AND d.deleted_at IS NULL"
	if deletedToo {
		live = ""
	}
	rows, err := q.pool.Query(ctx, `SELECT `+documentColumns+` FROM documents d
		WHERE `+visibleDocument+live+` AND d.id = $4`, append(documentArgs(v), id)...)
	return collectOne(rows, err, scanDocument, "read document")
}

// DocumentFilter narrows a document list; empty fields do not filter.
type DocumentFilter struct {
	EntityType string
	EntityID   *uuid.UUID
	Cursor     string
	Limit      int
}

// Documents lists the live documents the viewer may see, oldest first.
func (q *Queries) Documents(ctx context.Context, v Viewer, f DocumentFilter) (Page[DocumentView], error) {
	l := newList(visibleDocument, documentArgs(v)...)
	l.and("d.deleted_at IS NULL")
	if f.EntityType != "" {
		l.and("d.entity_type = %s", f.EntityType)
	}
	if f.EntityID != nil {
		l.and("d.entity_id = %s", *f.EntityID)
	}
	return listPage(ctx, q, l, `SELECT `+documentColumns+` FROM documents d`, byCreated("d."), f.Cursor, f.Limit, scanDocument,
		func(d DocumentView) (time.Time, uuid.UUID) { return time.Time(d.CreatedAt), d.ID }, "list documents")
}

// LiveDocumentsOf lists the documents attached to an entity that are not deleted,
// whoever may see them. Commands ask it to act for the system (a tenant's erasure
// deletes the tenant's files), so it reads as the system.
func (q *Queries) LiveDocumentsOf(ctx context.Context, entityType string, entityID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := q.pool.Query(AsSystem(ctx), `SELECT id FROM documents
		WHERE entity_type = $1 AND entity_id = $2 AND deleted_at IS NULL ORDER BY id`, entityType, entityID)
	if err != nil {
		return nil, fmt.Errorf("list live documents: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("list live documents: %w", err)
	}
	return ids, nil
}
