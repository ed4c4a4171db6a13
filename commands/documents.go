package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// Documents handles the document commands and keeps their bytes in a BlobStore.
//
// Who may act: whoever may see the document, which is whoever sees the entity it
// is attached to (admins and managers every entity, a user its own), except that
// confidential documents are hidden from managers. What an actor may not see is
// ErrNotFound.
//
// The bytes are shared by content: each live document claims its content hash
// (blobs.Scope) in the transaction that appends its upload, and gives the
// claim up in the transaction that appends its deletion. The bytes are removed
// after a deletion commits, under the hash's lock, once no claim is left; see
// eventstore/blobs.go for why a crash at any point is harmless.
type Documents struct {
	store      eventstore.Store
	blobs      blobs.Store
	visibility TenantVisibility
	log        *slog.Logger
}

// NewDocuments refuses nil dependencies. log receives the failures of removing
// bytes after a deletion has committed: those leave an orphan for SweepBlobs,
// never a failed request.
func NewDocuments(store eventstore.Store, blobs blobs.Store, visibility TenantVisibility, log *slog.Logger) (*Documents, error) {
	if store == nil || blobs == nil || visibility == nil || log == nil {
		return nil, errors.New("commands: NewDocuments needs a store, a blob store, a visibility check and a logger")
	}
	return &Documents{store: store, blobs: blobs, visibility: visibility, log: log}, nil
}

func documentStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.DocumentStreamType, ID: id}
}

// documentLock serialises the commands on one document, so that a deletion and a
// change never race inside a transaction.
func documentLock(id uuid.UUID) string { return "document:" + id.String() }

func newDocument() *domain.Document { return &domain.Document{} }

// UploadDocument records a staged upload as a document. The HTTP layer has
// streamed the bytes into Content and sniffed FileType; Name is the client's
// name field or, without one, its sanitised file name.
type UploadDocument struct {
	Actor        Actor
	ID           *uuid.UUID // client-supplied id, optional
	Content      blobs.Staged
	FileType     string
	Name         string
	Description  *string
	EntityType   string
	EntityID     *uuid.UUID
	Confidential bool
}

// Upload handles UploadDocument. The entity must exist and be visible to the
// actor; one it may not see is reported exactly like one that does not exist (422
// on entity_id). The bytes are stored and claimed and the event appended in one
// transaction. Repeating an upload with the same id and body answers the
// existing document and writes nothing; another body is a conflict. The caller
// discards Content whatever happens; after a successful Commit that does nothing.
func (h *Documents) Upload(ctx context.Context, cmd UploadDocument) (Result, error) {
	ctx = withCommand(ctx, "UploadDocument")
	if cmd.Content == nil {
		return Result{}, &domain.ValidationError{Fields: []domain.FieldError{{Field: "file", Message: "is required"}}}
	}
	entityType := domain.ParseDocumentEntityType(cmd.EntityType)
	var entityID uuid.UUID
	if cmd.EntityID != nil {
		entityID = *cmd.EntityID
	}
	visible, erased := false, false
	if entityType != (domain.DocumentEntityType{}) && entityID != uuid.Nil {
		access, err := h.entityAccess(ctx, h.store, cmd.Actor, entityType, entityID)
		if err != nil {
			return Result{}, err
		}
		if access == domain.AccessContact {
			return Result{}, domain.ErrRoleForbidden // it sees the tenant's contact, not its papers
		}
		visible = access == domain.AccessFull
		if visible && entityType == domain.DocumentOfTenant {
			tenant, err := loadTenant(ctx, h.store, entityID)
			if err != nil {
				return Result{}, err
			}
			erased = tenant.Erased()
		}
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	key := cmd.Content.Key()
	events, err := domain.UploadDocument(domain.NewDocument{
		ID: id, ContentHash: key, FileSize: cmd.Content.Size(), FileType: cmd.FileType,
		Details:    domain.DocumentDetails{Name: cmd.Name, Description: cmd.Description},
		EntityType: entityType, EntityID: entityID, EntityVisible: visible, EntityErased: erased,
		Uploader: cmd.Actor.UserID, UploaderRole: cmd.Actor.Role, Confidential: cmd.Confidential,
	})
	if err != nil {
		return Result{}, err
	}
	stream := documentStream(id)
	uploaded := once[*domain.Document]{newAgg: newDocument,
		visible: func(d *domain.Document) error { return h.authorize(ctx, h.store, cmd.Actor, d) },
		same:    sameFirst[*domain.Document](events[0])}
	return createOnce(ctx, h.store, stream, uploaded, func() (Result, error) { return h.upload(ctx, cmd, stream, events) })
}

// upload stores the bytes of a new document and appends its events, in one transaction.
func (h *Documents) upload(ctx context.Context, cmd UploadDocument, stream eventstore.StreamID, events []domain.Event) (Result, error) {
	key := cmd.Content.Key()
	var res Result
	stored := false
	err := h.store.Atomically(ctx, func(store eventstore.Store) error {
		if err := store.Lock(ctx, blobs.LockKey(key)); err != nil {
			return err
		}
		if err := h.blobs.Commit(ctx, cmd.Content); err != nil {
			return err
		}
		stored = true
		if err := store.Claim(ctx, blobs.Scope(key), stream.ID.String(), stream); err != nil {
			return err
		}
		var err error
		res, err = appendCreated(ctx, store, stream, events)
		return err
	})
	if err != nil && stored {
		// The bytes may now be claimed by nothing (a repeated id with other content,
		// a failed commit): remove them unless another document holds them.
		h.collect(context.WithoutCancel(ctx), key)
	}
	return res, err
}

// DocumentPatch changes a document's name or description; an unset field stays as it is.
type DocumentPatch struct {
	Name, Description Optional[string]
}

// ChangeDocument applies a merge patch to a document's details.
type ChangeDocument struct {
	Target
	Patch DocumentPatch
}

// Change handles ChangeDocument.
func (h *Documents) Change(ctx context.Context, cmd ChangeDocument) (Result, error) {
	ctx = withCommand(ctx, "ChangeDocument")
	return h.update(ctx, cmd.Target, func(_ eventstore.Store, d *domain.Document) ([]domain.Event, error) {
		details := d.Details()
		cmd.Patch.Name.applyRequired(&details.Name)
		cmd.Patch.Description.applyTo(&details.Description)
		return d.ChangeDetails(details)
	})
}

// Delete deletes a document: DocumentDeleted is appended and the document's
// claim on its bytes given up in one transaction; once that has committed, the
// bytes are removed if no other live document holds them. The history stays.
func (h *Documents) Delete(ctx context.Context, target Target) (Result, error) {
	ctx = withCommand(ctx, "DeleteDocument")
	var key string
	res, err := h.update(ctx, target, func(store eventstore.Store, d *domain.Document) ([]domain.Event, error) {
		events, err := d.Delete()
		if err != nil {
			return nil, err
		}
		key = d.ContentHash()
		if err := store.Unclaim(ctx, blobs.Scope(key), d.ID().String(), documentStream(d.ID())); err != nil {
			return nil, err
		}
		return events, nil
	})
	if err == nil {
		h.collect(context.WithoutCancel(ctx), key)
	}
	return res, err
}

// update runs a command on one document under its lock, in one transaction.
func (h *Documents) update(ctx context.Context, t Target,
	decide func(eventstore.Store, *domain.Document) ([]domain.Event, error)) (Result, error) {
	var res Result
	err := atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, documentLock(t.ID)); err != nil {
			return err
		}
		var err error
		res, err = update(ctx, store, documentStream(t.ID), t.IfMatch, newDocument,
			func(d *domain.Document) error { return h.authorize(ctx, store, t.Actor, d) },
			func(d *domain.Document) ([]domain.Event, error) { return decide(store, d) })
		return err
	})
	return res, err
}

// authorize is the isolation rule for one document: it must be live, not
// confidential unless the actor's role sees confidential documents, and attached
// to an entity the actor sees. Anything else is ErrNotFound.
func (h *Documents) authorize(ctx context.Context, store eventstore.Store, actor Actor, d *domain.Document) error {
	if d.Deleted() {
		return domain.ErrNotFound
	}
	entity, err := h.entityAccess(ctx, store, actor, d.EntityType(), d.EntityID())
	if err != nil {
		return err
	}
	return domain.DocumentAccess(actor, entity, d.Confidential()).Read()
}

// entityAccess is the actor's access to the entity a document is attached to
// (AccessNone when it does not exist).
func (h *Documents) entityAccess(ctx context.Context, store eventstore.Store, actor Actor, t domain.DocumentEntityType, id uuid.UUID) (domain.Access, error) {
	var err error
	switch t {
	case domain.DocumentOfProperty:
		_, err = visibleProperty(ctx, store, actor, id)
	case domain.DocumentOfLease:
		_, err = visibleLease(ctx, store, actor, id)
	case domain.DocumentOfTransaction:
		var tx domain.Transaction
		if err := load(ctx, store, transactionStream(id), &tx); err != nil {
			return domain.AccessNone, err
		}
		if tx.Version() == 0 {
			return domain.AccessNone, nil
		}
		_, err = visibleLease(ctx, store, actor, tx.LeaseID())
	case domain.DocumentOfTenant:
		tenant, err := loadTenant(ctx, store, id)
		if err != nil {
			return domain.AccessNone, err
		}
		return tenantAccess(ctx, h.visibility, actor, id, tenant)
	default:
		return domain.AccessNone, nil
	}
	if errors.Is(err, domain.ErrNotFound) {
		return domain.AccessNone, nil
	}
	if err != nil {
		return domain.AccessNone, err
	}
	return domain.AccessFull, nil
}

// collect removes the bytes of key if no live document claims them. It runs after
// the transaction that may have released the last claim; a failure leaves an
// orphan for SweepBlobs, so it is logged, not returned.
func (h *Documents) collect(ctx context.Context, key string) {
	if _, err := h.collectBlob(ctx, key); err != nil {
		h.log.ErrorContext(ctx, "remove unreferenced document bytes", "hash", key, "err", err)
	}
}

func (h *Documents) collectBlob(ctx context.Context, key string) (bool, error) {
	removed := false
	err := h.store.Atomically(ctx, func(store eventstore.Store) error {
		if err := store.Lock(ctx, blobs.LockKey(key)); err != nil {
			return err
		}
		claimed, err := store.Claimed(ctx, blobs.Scope(key))
		if err != nil || claimed {
			return err
		}
		removed = true
		return h.blobs.Remove(ctx, key)
	})
	return removed && err == nil, err
}

// SweepBlobs removes the stored bytes that no live document claims: orphans of
// uploads that stopped between storing their bytes and committing, and bytes whose
// removal after a deletion did not happen. It is safe while uploads run: each hash
// is checked under its lock. It returns how many it removed.
func (h *Documents) SweepBlobs(ctx context.Context) (int, error) {
	keys, err := h.blobs.Keys(ctx)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	for _, key := range keys {
		done, err := h.collectBlob(ctx, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("sweep blob %s: %w", key, err))
			continue
		}
		if done {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}
