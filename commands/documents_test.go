package commands

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// documentWorld is a fresh database and blob store with the document commands
// over them, and a property of its owner to attach documents to.
type documentWorld struct {
	store     *eventstore.PostgresStore
	blobs     *blobs.Local
	documents *Documents
	owner     Actor
	property  uuid.UUID
}

// tenantsLeaseNothing answers the tenant visibility question for worlds without
// leases: no tenant leases from anyone.
type tenantsLeaseNothing struct{}

func (tenantsLeaseNothing) TenantLeasesFrom(context.Context, uuid.UUID, uuid.UUID) (bool, error) {
	return false, nil
}

func (tenantsLeaseNothing) LiveDocumentsOf(context.Context, string, uuid.UUID) ([]uuid.UUID, error) {
	return nil, nil
}

func MustDocumentWorld(t *testing.T) *documentWorld {
	t.Helper()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	blobs, err := blobs.NewLocal(filepath.Join(t.TempDir(), "documents"))
	if err != nil {
		t.Fatal(err)
	}
	documents, err := NewDocuments(store, blobs, tenantsLeaseNothing{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	properties, err := NewProperties(store)
	if err != nil {
		t.Fatal(err)
	}
	w := &documentWorld{store: store, blobs: blobs, documents: documents, owner: Actor{UserID: uuid.New(), Role: domain.RoleUser}}
	res, err := properties.Register(context.Background(), RegisterProperty{Actor: w.owner, Details: domain.PropertyDetails{
		Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL", ZipCode: "62701",
		PropertyType: domain.PropertyResidential,
	}})
	if err != nil {
		t.Fatal(err)
	}
	w.property = res.ID
	return w
}

// upload stages content and uploads it as a document of the world's property.
func (w *documentWorld) upload(ctx context.Context, content []byte) (Result, error) {
	staged, err := w.blobs.Stage(ctx, bytes.NewReader(content), 1<<20)
	if err != nil {
		return Result{}, err
	}
	defer staged.Discard()
	return w.documents.Upload(ctx, UploadDocument{
		Actor: w.owner, Content: staged, FileType: "application/pdf", Name: "a.pdf",
		EntityType: "property", EntityID: &w.property,
	})
}

func (w *documentWorld) MustUpload(t *testing.T, content []byte) uuid.UUID {
	t.Helper()
	res, err := w.upload(context.Background(), content)
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// MustKeys lists the keys the blob store holds.
func (w *documentWorld) MustKeys(t *testing.T) []string {
	t.Helper()
	keys, err := w.blobs.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	return keys
}

func TestNewDocumentsRefusesNilDependencies(t *testing.T) {
	store := eventstore.NewPostgresStore(nil)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := NewDocuments(store, nil, tenantsLeaseNothing{}, log); err == nil {
		t.Error("NewDocuments without a blob store: err = nil, want an error")
	}
	if _, err := NewDocuments(store, &blobs.Local{}, tenantsLeaseNothing{}, nil); err == nil {
		t.Error("NewDocuments without a logger: err = nil, want an error")
	}
}

// An orphan (bytes stored by an upload that never committed) is swept; bytes a
// live document claims are not.
func TestSweepBlobsRemovesOnlyUnclaimedBytes(t *testing.T) {
	ctx := context.Background()
	w := MustDocumentWorld(t)
	live := []byte("%PDF-1.7 claimed")
	w.MustUpload(t, live)
	orphan, err := w.blobs.Stage(ctx, bytes.NewReader([]byte("%PDF-1.7 orphan")), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.blobs.Commit(ctx, orphan); err != nil { // the crash: stored, never claimed
		t.Fatal(err)
	}
	liveKey := sha256Hex(live)
	if got, want := w.MustKeys(t), sortedOf(liveKey, orphan.Key()); !slices.Equal(got, want) {
		t.Fatalf("keys before the sweep = %q, want %q", got, want)
	}
	removed, err := w.documents.SweepBlobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("sweep removed %d, want 1", removed)
	}
	if got, want := w.MustKeys(t), []string{liveKey}; !slices.Equal(got, want) {
		t.Errorf("keys after the sweep = %q, want %q", got, want)
	}
}

// A deletion racing an upload of the same bytes never leaves the new document
// without its bytes: the removal and the upload serialise on the hash's lock.
func TestDeleteRacingUploadOfTheSameBytes(t *testing.T) {
	ctx := context.Background()
	w := MustDocumentWorld(t)
	for round := range 15 {
		content := fmt.Appendf(nil, "%%PDF-1.7 round %d", round)
		first := w.MustUpload(t, content)
		var (
			wg        sync.WaitGroup
			delErr    error
			second    Result
			uploadErr error
		)
		wg.Go(func() {
			_, delErr = w.documents.Delete(ctx, Target{Actor: w.owner, ID: first})
		})
		wg.Go(func() { second, uploadErr = w.upload(ctx, content) })
		wg.Wait()
		if delErr != nil || uploadErr != nil {
			t.Fatalf("round %d: delete err %v, upload err %v", round, delErr, uploadErr)
		}
		blob, err := w.blobs.Open(ctx, sha256Hex(content))
		if err != nil {
			t.Fatalf("round %d: the live document %s lost its bytes: %v", round, second.ID, err)
		}
		blob.Close()
		if _, err := w.documents.Delete(ctx, Target{Actor: w.owner, ID: second.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.blobs.Open(ctx, sha256Hex(content)); !errors.Is(err, blobs.ErrNotFound) {
			t.Fatalf("round %d: bytes of deleted documents still open: err = %v, want ErrBlobNotFound", round, err)
		}
	}
}

// A repeated upload id with other bytes is a conflict, and those bytes are removed.
func TestUploadRepeatedIDWithOtherBytesKeepsNothing(t *testing.T) {
	ctx := context.Background()
	w := MustDocumentWorld(t)
	id := uuid.New()
	upload := func(content string) error {
		staged, err := w.blobs.Stage(ctx, bytes.NewReader([]byte(content)), 1<<20)
		if err != nil {
			return err
		}
		defer staged.Discard()
		_, err = w.documents.Upload(ctx, UploadDocument{Actor: w.owner, ID: &id, Content: staged, FileType: "application/pdf",
			Name: "a.pdf", EntityType: "property", EntityID: &w.property})
		return err
	}
	if err := upload("%PDF first"); err != nil {
		t.Fatal(err)
	}
	if err := upload("%PDF second"); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Fatalf("upload with a taken id: err = %v, want ErrAlreadyExists", err)
	}
	if got, want := w.MustKeys(t), []string{sha256Hex([]byte("%PDF first"))}; !slices.Equal(got, want) {
		t.Errorf("keys = %q, want only the first upload's %q", got, want)
	}
}

func sortedOf(s ...string) []string {
	slices.Sort(s)
	return s
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
