package blobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// MustBlobs opens a LocalBlobs under a fresh directory.
func MustBlobs(t *testing.T) *Local {
	t.Helper()
	b, err := NewLocal(filepath.Join(t.TempDir(), "documents"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MustFiles lists the regular files under dir, relative to it.
func MustFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestLocalBlobsRoundTrip(t *testing.T) {
	ctx := context.Background()
	blobs := MustBlobs(t)
	content := bytes.Repeat([]byte("lease agreement "), 5000) // 80 000 bytes, several copy buffers

	staged, err := blobs.Stage(ctx, bytes.NewReader(content), int64(len(content)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := staged.Key(), sha(content); got != want {
		t.Errorf("staged key = %s, want the SHA-256 %s", got, want)
	}
	if got, want := staged.Size(), int64(len(content)); got != want {
		t.Errorf("staged size = %d, want %d", got, want)
	}
	head := make([]byte, 5)
	if _, err := staged.ReadAt(head, 0); err != nil || string(head) != "lease" {
		t.Errorf("ReadAt of the staged bytes = %q, %v; want lease", head, err)
	}
	if got := MustFiles(t, blobs.Dir()); len(got) != 1 || !strings.HasPrefix(got[0], "tmp/") {
		t.Errorf("files after Stage = %q, want one temporary file", got)
	}
	if err := blobs.Commit(ctx, staged); err != nil {
		t.Fatal(err)
	}
	key := sha(content)
	if got, want := MustFiles(t, blobs.Dir()), []string{"sha256/" + key[:2] + "/" + key}; !slices.Equal(got, want) {
		t.Errorf("files after Commit = %q, want %q", got, want)
	}
	if err := staged.Discard(); err != nil {
		t.Errorf("Discard after Commit: %v, want nil", err)
	}
	blob, err := blobs.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	got, err := io.ReadAll(blob)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) || blob.Size() != int64(len(content)) {
		t.Errorf("read back %d bytes (size %d), want the %d bytes stored", len(got), blob.Size(), len(content))
	}
	if _, err := blob.Seek(6, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 9)
	if _, err := io.ReadFull(blob, part); err != nil || string(part) != "agreement" {
		t.Errorf("read at offset 6 = %q, %v; want agreement", part, err)
	}
	keys, err := blobs.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{key}) {
		t.Errorf("Keys = %q, want [%s]", keys, key)
	}
}

func TestLocalBlobsStoreEqualContentOnce(t *testing.T) {
	ctx := context.Background()
	blobs := MustBlobs(t)
	content := []byte("%PDF-1.7 the same bytes twice")
	for range 2 {
		staged, err := blobs.Stage(ctx, bytes.NewReader(content), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := blobs.Commit(ctx, staged); err != nil {
			t.Fatal(err)
		}
	}
	key := sha(content)
	if got, want := MustFiles(t, blobs.Dir()), []string{"sha256/" + key[:2] + "/" + key}; !slices.Equal(got, want) {
		t.Errorf("files after storing equal content twice = %q, want one blob and no temporary file: %q", got, want)
	}
}

func TestLocalBlobsStageRefusesOversizeAndKeepsNothing(t *testing.T) {
	ctx := context.Background()
	blobs := MustBlobs(t)
	for _, size := range []int{11, 100_000} {
		_, err := blobs.Stage(ctx, bytes.NewReader(make([]byte, size)), 10)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("Stage of %d bytes with limit 10: err = %v, want ErrBlobTooLarge", size, err)
		}
	}
	staged, err := blobs.Stage(ctx, bytes.NewReader(make([]byte, 10)), 10)
	if err != nil {
		t.Fatalf("Stage of exactly the limit: %v", err)
	}
	if err := staged.Discard(); err != nil {
		t.Fatal(err)
	}
	if got := MustFiles(t, blobs.Dir()); len(got) != 0 {
		t.Errorf("files after refused and discarded stages = %q, want none", got)
	}
}

func TestLocalBlobsStageStopsWithItsContext(t *testing.T) {
	blobs := MustBlobs(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := blobs.Stage(ctx, bytes.NewReader([]byte("x")), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("Stage with an ended context: err = %v, want context.Canceled", err)
	}
	if got := MustFiles(t, blobs.Dir()); len(got) != 0 {
		t.Errorf("files after a cancelled stage = %q, want none", got)
	}
}

func TestLocalBlobsRemoveAndMissingKeys(t *testing.T) {
	ctx := context.Background()
	blobs := MustBlobs(t)
	staged, err := blobs.Stage(ctx, strings.NewReader("bytes"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Commit(ctx, staged); err != nil {
		t.Fatal(err)
	}
	key := staged.Key()
	if err := blobs.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := blobs.Remove(ctx, key); err != nil {
		t.Errorf("Remove of a missing key: %v, want nil", err)
	}
	if _, err := blobs.Open(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Remove: err = %v, want ErrBlobNotFound", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", strings.Repeat("A", 64), strings.Repeat("a", 63), "tmp"} {
		if _, err := blobs.Open(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q): err = %v, want ErrBlobNotFound", bad, err)
		}
	}
}

func TestNewLocalBlobsRemovesStaleStagingOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "documents")
	blobs, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "tmp", "upload-stale")
	fresh := filepath.Join(dir, "tmp", "upload-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("half an upload"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	staged, err := blobs.Stage(context.Background(), strings.NewReader("kept"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := blobs.Commit(context.Background(), staged); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	key := sha([]byte("kept"))
	want := []string{"sha256/" + key[:2] + "/" + key, "tmp/upload-fresh"}
	if got := MustFiles(t, dir); !slices.Equal(got, want) {
		t.Errorf("files after reopening = %q, want %q (the stale temporary file gone, the fresh one and the blob kept)", got, want)
	}
}

// Claimed sees any claim of a scope, and only while it is held.
func TestPostgresStoreClaimed(t *testing.T) {
	ctx := context.Background()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	scope := Scope(sha([]byte("x")))
	a := eventstore.StreamID{Type: "document", ID: uuid.New()}
	b := eventstore.StreamID{Type: "document", ID: uuid.New()}
	MustClaimed(t, store, scope, false)
	for _, s := range []eventstore.StreamID{a, b} {
		if err := store.Claim(ctx, scope, s.ID.String(), s); err != nil {
			t.Fatal(err)
		}
	}
	MustClaimed(t, store, scope, true)
	MustClaimed(t, store, Scope(sha([]byte("y"))), false)
	if err := store.Unclaim(ctx, scope, a.ID.String(), a); err != nil {
		t.Fatal(err)
	}
	MustClaimed(t, store, scope, true)
	if err := store.Unclaim(ctx, scope, b.ID.String(), b); err != nil {
		t.Fatal(err)
	}
	MustClaimed(t, store, scope, false)
}

func MustClaimed(t *testing.T, store eventstore.Store, scope string, want bool) {
	t.Helper()
	got, err := store.Claimed(context.Background(), scope)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("Claimed(%s) = %v, want %v", scope, got, want)
	}
}
