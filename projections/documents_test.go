package projections_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// MustDocumentRow reads a documents row as text, or "" when there is none.
func MustDocumentRow(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, id uuid.UUID) string {
	tb.Helper()
	var row string
	err := pool.QueryRow(ctx, `SELECT format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s',
			name, description, file_path, file_type, file_size, entity_type, entity_id, uploader_id,
			is_confidential, created_at, updated_at, version, deleted_at)
		FROM documents WHERE id = $1`, id).Scan(&row)
	if errors.Is(err, pgx.ErrNoRows) {
		return ""
	}
	if err != nil {
		tb.Fatal(err)
	}
	return row
}

// A document's life in the read model: uploaded, renamed, deleted (the row stays,
// with deleted_at); timestamps from the events; a replay gives the same rows.
func TestDocumentProjection(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := inline(pool)
	uploader, property, id := uuid.New(), uuid.New(), uuid.New()
	hash := strings.Repeat("0f", 32)
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: uploader}, 0, &domain.UserRegistered{
		UserID: uploader, Email: "up-" + uploader.String()[:8] + "@example.com", PasswordHash: "h", Role: domain.RoleUser,
	})
	stream := eventstore.StreamID{Type: domain.DocumentStreamType, ID: id}
	MustAppend(t, ctx, store, stream, 0, &domain.DocumentUploaded{
		DocumentID: id, ContentHash: hash, FileSize: 2147483647,
		FileType: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
		Name:     "Lease 2025.pptx", Description: ptr("signed"), EntityType: domain.DocumentOfProperty, EntityID: property,
		UploaderID: uploader, IsConfidential: true,
	})
	events := MustReadLog(t, ctx, store, 2)
	at := func(v int) string { return events[v].RecordedAt.UTC().Format("2006-01-02 15:04:05.999999") }
	want := "Lease 2025.pptx|signed|" + hash + "|application/vnd.openxmlformats-officedocument.presentationml.presentation|" +
		"2147483647|property|" + property.String() + "|" + uploader.String() + "|t|" + at(1) + "|" + at(1) + "|1|"
	if got := MustDocumentRow(t, ctx, pool, id); got != want {
		t.Errorf("after the upload:\n got  %s\n want %s", got, want)
	}
	MustAppend(t, ctx, store, stream, 1, &domain.DocumentDetailsChanged{Name: "Lease.pptx"})
	MustAppend(t, ctx, store, stream, 2, &domain.DocumentDeleted{ContentHash: hash})
	events = MustReadLog(t, ctx, store, 4)
	want = "Lease.pptx||" + hash + "|application/vnd.openxmlformats-officedocument.presentationml.presentation|" +
		"2147483647|property|" + property.String() + "|" + uploader.String() + "|t|" + at(1) + "|" + at(3) + "|3|" + at(3)
	if got := MustDocumentRow(t, ctx, pool, id); got != want {
		t.Errorf("after the rename and the deletion:\n got  %s\n want %s", got, want)
	}
	var audit []string
	rows, err := pool.Query(ctx, `SELECT action || ' ' || coalesce(new_values::text, '') FROM audit_logs
		WHERE entity_type = 'document' AND entity_id = $1 ORDER BY created_at`, id)
	if err != nil {
		t.Fatal(err)
	}
	if audit, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(audit) != 3 || !strings.HasPrefix(audit[0], "DocumentUploaded ") ||
		audit[1] != `DocumentDetailsChanged {"name": "Lease.pptx", "description": null}` ||
		!strings.HasPrefix(audit[2], `DocumentDeleted {"deleted_at": "`) {
		t.Errorf("audit rows of the document = %q, want its three events with the changed fields", audit)
	}
	MustVerifyIdentical(t, ctx, pool, 1+1+4) // the user, the document, four audit rows
}

// Queries never answer a deleted document, but its history may still be authorised.
func TestDocumentQueriesSkipDeleted(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := inline(pool)
	admin := uuid.New()
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: admin}, 0, &domain.UserRegistered{
		UserID: admin, Email: "admin-" + admin.String()[:8] + "@example.com", PasswordHash: "h", Role: domain.RoleAdmin,
	})
	live, gone := uuid.New(), uuid.New()
	for _, id := range []uuid.UUID{live, gone} {
		MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.DocumentStreamType, ID: id}, 0, &domain.DocumentUploaded{
			DocumentID: id, ContentHash: strings.Repeat("ab", 32), FileSize: 3, FileType: "text/plain; charset=utf-8",
			Name: "a.txt", EntityType: domain.DocumentOfProperty, EntityID: uuid.New(), UploaderID: admin,
		})
	}
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.DocumentStreamType, ID: gone}, 1, &domain.DocumentDeleted{ContentHash: strings.Repeat("ab", 32)})

	q := readmodel.NewQueries(pool)
	v := readmodel.Viewer{UserID: admin, Role: domain.RoleAdmin}
	ctx = readmodel.WithViewer(ctx, v)
	page, err := q.Documents(ctx, v, readmodel.DocumentFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Items) != 1 || page.Items[0].ID != live {
		t.Errorf("documents = %+v, want only %s", page.Items, live)
	}
	if _, err := q.Document(ctx, v, gone); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Document(deleted) err = %v, want ErrNotFound", err)
	}
	d, err := q.DocumentEvenDeleted(ctx, v, gone)
	if err != nil || d.ID != gone || d.Version != 2 {
		t.Errorf("DocumentEvenDeleted(deleted) = %+v, %v; want it at version 2", d, err)
	}
}
