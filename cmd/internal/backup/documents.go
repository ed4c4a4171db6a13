package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// Document bytes live outside PostgreSQL, so WAL cannot bring them back. Each
// blob is copied into B/documents/<sha256> when it is stored, before the
// upload's transaction commits: no committed upload, and so no moment a restore
// can reach, names bytes the archive lacks. Copies are never removed on a
// document's deletion (an older moment still has it); only an erasure purges
// them. An upload whose transaction then fails leaves an unused copy: space
// only.

// DocumentsDir is where archived document bytes live.
func (r *Repo) DocumentsDir() string { return filepath.Join(r.Dir, "documents") }

func (r *Repo) documentPath(key string) string { return filepath.Join(r.DocumentsDir(), key) }

// HasDocument reports whether the archive holds the bytes of key.
func (r *Repo) HasDocument(key string) bool {
	_, err := os.Stat(r.documentPath(key))
	return err == nil
}

// ArchiveDocument copies the bytes of key from blobs into the archive unless it
// holds them already.
func (r *Repo) ArchiveDocument(ctx context.Context, store blobs.Store, key string) error {
	if !blobs.ValidKey(key) || r.HasDocument(key) {
		return nil
	}
	b, err := store.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("archive document bytes %s: %w", key, err)
	}
	defer b.Close()
	if err := os.MkdirAll(r.DocumentsDir(), 0o700); err != nil {
		return fmt.Errorf("archive document bytes: %w", err)
	}
	f, err := os.CreateTemp(r.DocumentsDir(), ".partial-*")
	if err != nil {
		return fmt.Errorf("archive document bytes: %w", err)
	}
	defer os.Remove(f.Name()) //nolint:errcheck // gone after the rename
	_, cerr := io.Copy(f, b)
	serr := f.Sync()
	if err := errors.Join(cerr, serr, f.Close()); err != nil {
		return fmt.Errorf("archive document bytes %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), r.documentPath(key)); err != nil {
		return fmt.Errorf("archive document bytes %s: %w", key, err)
	}
	return syncDir(r.DocumentsDir())
}

// ArchiveDocuments copies every blob the archive lacks (a sweep catching any
// the upload path missed); it returns how many it copied.
func (r *Repo) ArchiveDocuments(ctx context.Context, store blobs.Store) (int, error) {
	keys, err := store.Keys(ctx)
	if err != nil {
		return 0, err
	}
	copied := 0
	var errs []error
	for _, key := range keys {
		if r.HasDocument(key) {
			continue
		}
		if err := r.ArchiveDocument(ctx, store, key); err != nil {
			if !errors.Is(err, blobs.ErrNotFound) { // removed meanwhile
				errs = append(errs, err)
			}
			continue
		}
		copied++
	}
	return copied, errors.Join(errs...)
}

// RestoreDocuments puts back into blobs the bytes of every key it lacks, from
// the archive, checking each copy's SHA-256 on the way. It returns how many it
// restored, and the keys the archive lacks too.
func (r *Repo) RestoreDocuments(ctx context.Context, store blobs.Store, keys []string) (restored int, missing []string, err error) {
	for _, key := range keys {
		if b, err := store.Open(ctx, key); err == nil {
			b.Close()
			continue
		}
		f, err := os.Open(r.documentPath(key))
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, key)
			continue
		}
		if err != nil {
			return restored, missing, fmt.Errorf("restore document bytes %s: %w", key, err)
		}
		staged, err := store.Stage(ctx, f, 1<<62)
		f.Close()
		if err != nil {
			return restored, missing, fmt.Errorf("restore document bytes %s: %w", key, err)
		}
		if staged.Key() != key {
			_ = staged.Discard()
			return restored, missing, fmt.Errorf("restore document bytes %s: the archived copy hashes to %s", key, staged.Key())
		}
		// Nothing else runs during a restore: no lock is needed to commit.
		if err := store.Commit(ctx, staged); err != nil {
			_ = staged.Discard()
			return restored, missing, err
		}
		restored++
	}
	return restored, missing, nil
}

// PurgeDocuments removes the archived bytes of keys (an erased tenant's files).
func (r *Repo) PurgeDocuments(keys []string) (int, error) {
	purged := 0
	for _, key := range keys {
		if !blobs.ValidKey(key) {
			continue
		}
		err := os.Remove(r.documentPath(key))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return purged, fmt.Errorf("purge archived document bytes: %w", err)
		}
		purged++
	}
	if purged > 0 {
		return purged, syncDir(r.DocumentsDir())
	}
	return 0, nil
}

// ArchivingBlobs is a BlobStore that archives each blob as it is stored.
type ArchivingBlobs struct {
	blobs.Store
	Repo *Repo
	Log  *slog.Logger
}

// Commit stores the blob, then archives it. A failed copy is logged, not
// returned: the upload stands, and the sweep before the next backup copies it.
func (a ArchivingBlobs) Commit(ctx context.Context, staged blobs.Staged) error {
	if err := a.Store.Commit(ctx, staged); err != nil {
		return err
	}
	if err := a.Repo.ArchiveDocument(ctx, a.Store, staged.Key()); err != nil {
		a.Log.ErrorContext(ctx, "archive document bytes (the next sweep retries)", "hash", staged.Key(), "err", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
