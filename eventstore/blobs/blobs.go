// Package blobs keeps document bytes beside the event store, under their content
// hash, and names their media type from the bytes. It must not import commands,
// projections or http.
package blobs

// Document bytes live beside the event store, not in it: events record a
// document's content hash, and a Store keeps the bytes under that hash. Each
// live document holds a claim on its bytes (Claim in scope Scope(hash), value
// the document's id, in unique_claims, which travels with event exports), so the
// bytes are referenced exactly while some claim in that scope exists. The order of
// the steps makes a crash harmless:
//
//  1. Stage streams the upload into a temporary file while hashing it, then
//     fsyncs it. Nothing is a blob yet: a crash leaves only a temporary file,
//     which NewLocal removes at a later start.
//  2. In one database transaction, under Lock(LockKey(hash)): Commit renames
//     the temporary file to its content address and fsyncs the directory (the
//     bytes are now durable), the document claims them, and DocumentUploaded is
//     appended. A crash before the commit leaves bytes that nothing claims, an
//     orphan: harmless, never served (no document names it), and removed by the
//     next sweep.
//  3. Deleting a document gives up its claim and appends DocumentDeleted in one
//     transaction. After that commits, under the blob's lock, the bytes are
//     removed if no claim in the scope is left (Claimed). A concurrent upload of
//     the same content either committed its claim first (the bytes stay), or waits
//     for the lock and then finds no file and stores its own copy again.
//
// The claims and the lock are the event store's (eventstore.Store); this package
// holds only the bytes.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// ErrTooLarge means a staged stream went past its size limit. Nothing is kept.
var ErrTooLarge = errors.New("blob is larger than the limit")

// ErrNotFound means the store holds no bytes under the key.
var ErrNotFound = errors.New("no such blob")

// Store keeps document bytes, addressed by the SHA-256 of their content: the
// key is the hash in lowercase hex, so equal content is stored once.
type Store interface {
	// Stage streams r into temporary storage, at most limit bytes (beyond that it is
	// ErrTooLarge and nothing is kept), hashing as it goes, and makes it durable.
	Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error)
	// Commit stores a staged blob under its key. When the key exists already, the
	// staged copy is dropped. Call it under Lock(LockKey(key)).
	Commit(ctx context.Context, staged Staged) error
	// Open returns the bytes under key, or ErrNotFound.
	Open(ctx context.Context, key string) (Blob, error)
	// Remove deletes the bytes under key; a missing key is not an error.
	Remove(ctx context.Context, key string) error
	// Keys lists every stored key, for sweeps.
	Keys(ctx context.Context) ([]string, error)
}

// Staged is an upload that is durable but not yet stored under its key.
type Staged interface {
	Key() string // the SHA-256 of the content, lowercase hex
	Size() int64 // the true size in bytes
	io.ReaderAt  // the staged bytes, for content sniffing before Commit
	// Discard removes the staged copy unless Commit took it; calling it again, or
	// after Commit, does nothing.
	Discard() error
}

// Blob is stored content opened for reading, with random access for ranges.
type Blob interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// LockKey is the Lock key that serialises storing, claiming and removing the
// bytes of one hash.
func LockKey(key string) string { return "blob:" + key }

// Scope is the claim scope of the documents that reference the bytes of key.
func Scope(key string) string { return "blob:" + key }

// ValidKey reports whether key is a SHA-256 in lowercase hex, the only keys a
// store ever builds a path from.
func ValidKey(key string) bool {
	if len(key) != sha256.Size*2 {
		return false
	}
	for _, c := range key {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Local is the default Store: files under a directory, normally
// <data dir>/documents. Blobs are <dir>/sha256/<first two hex digits>/<hash>;
// uploads are staged in <dir>/tmp on the same file system, so that storing one is
// an atomic rename.
type Local struct {
	dir string
}

var _ Store = (*Local)(nil)

// staleStaging is how old a temporary file must be before NewLocal removes it:
// older than any upload can run (the server's read timeout is 5 minutes).
const staleStaging = 15 * time.Minute

// NewLocal opens (and creates) a store under dir, and removes temporary files
// that crashed uploads left behind.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob store directory: %w", err)
	}
	b := &Local{dir: abs}
	for _, d := range []string{b.dir, b.tmpDir(), filepath.Join(b.dir, "sha256")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create blob store: %w", err)
		}
	}
	if err := b.removeStaleStaging(time.Now().Add(-staleStaging)); err != nil {
		return nil, err
	}
	return b, nil
}

// Dir is the store's directory.
func (b *Local) Dir() string { return b.dir }

func (b *Local) tmpDir() string { return filepath.Join(b.dir, "tmp") }

func (b *Local) path(key string) string {
	return filepath.Join(b.dir, "sha256", key[:2], key)
}

func (b *Local) removeStaleStaging(before time.Time) error {
	entries, err := os.ReadDir(b.tmpDir())
	if err != nil {
		return fmt.Errorf("read blob staging: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(b.tmpDir(), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale staged upload: %w", err)
		}
	}
	return nil
}

// copyBuffers keeps staging at one 32 KiB buffer per concurrent upload, whatever
// the upload's size.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Stage implements Store.
func (b *Local) Stage(ctx context.Context, r io.Reader, limit int64) (Staged, error) {
	f, err := os.CreateTemp(b.tmpDir(), "upload-*")
	if err != nil {
		return nil, fmt.Errorf("stage blob: %w", err)
	}
	s := &localStaged{f: f, tmp: f.Name()}
	hash := sha256.New()
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	n, err := io.CopyBuffer(io.MultiWriter(f, hash), ctxReader{ctx, io.LimitReader(r, limit+1)}, *buf)
	if err == nil && n > limit {
		err = ErrTooLarge
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		return nil, errors.Join(err, s.Discard())
	}
	s.key, s.size = hex.EncodeToString(hash.Sum(nil)), n
	return s, nil
}

// ctxReader stops a copy once its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Commit implements Store: rename, then fsync the directory, so the blob
// survives a crash once Commit returns.
func (b *Local) Commit(_ context.Context, staged Staged) error {
	s, ok := staged.(*localStaged)
	if !ok || s.f == nil || !ValidKey(s.key) {
		return errors.New("commit blob: not a staged upload of this store")
	}
	final := b.path(s.key)
	if err := b.mkdirSynced(filepath.Dir(final)); err != nil {
		return err
	}
	if _, err := os.Stat(final); err == nil {
		return s.Discard() // the same bytes are stored already
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("commit blob: %w", err)
	}
	s.f = nil
	if err := os.Rename(s.tmp, final); err != nil {
		_ = os.Remove(s.tmp)
		return fmt.Errorf("commit blob: %w", err)
	}
	s.committed = true
	return syncDir(filepath.Dir(final))
}

// mkdirSynced creates dir (one level below sha256/) and makes its entry durable.
func (b *Local) mkdirSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create blob directory: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync blob directory: %w", err)
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// Open implements Store.
func (b *Local) Open(_ context.Context, key string) (Blob, error) {
	if !ValidKey(key) {
		return nil, ErrNotFound
	}
	f, err := os.Open(b.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("open blob: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open blob: %w", err)
	}
	return localBlob{File: f, info: info}, nil
}

// localBlob is an open file: http.ServeContent reads ranges from it directly.
type localBlob struct {
	*os.File
	info fs.FileInfo
}

func (l localBlob) Size() int64        { return l.info.Size() }
func (l localBlob) ModTime() time.Time { return l.info.ModTime() }

// Remove implements Store.
func (b *Local) Remove(_ context.Context, key string) error {
	if !ValidKey(key) {
		return nil
	}
	p := b.path(key)
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove blob: %w", err)
	}
	return syncDir(filepath.Dir(p))
}

// Keys implements Store.
func (b *Local) Keys(_ context.Context) ([]string, error) {
	var keys []string
	root := filepath.Join(b.dir, "sha256")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && ValidKey(d.Name()) && strings.HasPrefix(d.Name(), filepath.Base(filepath.Dir(path))) {
			keys = append(keys, d.Name())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	return keys, nil
}

// localStaged is a temporary file holding an upload.
type localStaged struct {
	f         *os.File
	tmp       string
	key       string
	size      int64
	committed bool
}

func (s *localStaged) Key() string  { return s.key }
func (s *localStaged) Size() int64  { return s.size }
func (s *localStaged) Path() string { return s.tmp }

func (s *localStaged) ReadAt(p []byte, off int64) (int, error) {
	if s.f == nil {
		return 0, os.ErrClosed
	}
	return s.f.ReadAt(p, off)
}

func (s *localStaged) Discard() error {
	if s.committed {
		return nil
	}
	var err error
	if s.f != nil {
		err = s.f.Close()
		s.f = nil
	}
	if rmErr := os.Remove(s.tmp); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	s.committed = true // nothing is left to discard
	return err
}
