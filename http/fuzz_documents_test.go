package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// fuzzUploadLimit is the file size limit the upload fuzz target reads under:
// small, so that the 413 path is reachable with fuzz-sized inputs.
const fuzzUploadLimit = 64

// FuzzDocumentForm reads arbitrary bodies as POST /documents does and checks the
// contract of readDocumentForm: every refusal is a 400, a 413 or a 422 (a path as
// file name), never anything that would be a 500; what it accepts, the standard
// library's multipart reader reads the same (the staged file is the file part's
// bytes, hashed right, within the limit); the file name it keeps is never a path;
// the sniffed type fits file_type; and once the form is discarded, the store holds
// no file at all. The seed corpus is in testdata/fuzz/FuzzDocumentForm.
func FuzzDocumentForm(f *testing.F) {
	for _, seed := range []struct{ body, boundary string }{
		{"--b\r\nContent-Disposition: form-data; name=\"entity_type\"\r\n\r\nproperty\r\n--b\r\n" +
			"Content-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.7 x\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\nroot\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%2E%2E%2Fx\r\n\r\nx\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\r\n" +
			strings.Repeat("x", fuzzUploadLimit+1) + "\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"is_confidential\"\r\n\r\nmaybe\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"folder\"\r\n\r\nx\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", "b"},
		{"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.docx\"\r\n\r\nPK\x03\x04\r\n--b--\r\n", "b"},
		{"--b\r\nno end of headers", "b"},
		{"", "b"},
		{"--x\r\n\r\n--x--", "x"},
	} {
		f.Add([]byte(seed.body), seed.boundary)
	}
	dir := filepath.Join(f.TempDir(), "documents")
	store, err := blobs.NewLocal(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			t.Skip("no multipart body has such a boundary (RFC 2046: 1 to 70 characters)")
		}
		in := http.MaxBytesReader(httptest.NewRecorder(), noCloser{bytes.NewReader(body)}, fuzzUploadLimit+formOverhead)
		form, err := readDocumentForm(context.Background(), in, boundary, store, fuzzUploadLimit)
		if form == nil {
			t.Fatal("readDocumentForm returned no form")
		}
		if err == nil && form.staged != nil {
			MustFuzzStagedMatches(t, body, boundary, form)
			if got := blobs.SniffType(form.staged, form.staged.Size(), form.filename); got == "" || len(got) > domain.MaxDocumentFileType {
				t.Fatalf("sniffed type %q does not fit file_type", got)
			}
		}
		form.discard()
		if strings.ContainsAny(form.filename, `/\`) || form.filename == ".." || form.filename == "." {
			t.Fatalf("kept the file name %q, a path", form.filename)
		}
		if err != nil {
			MustUploadRefusal(t, err)
		}
		if files := MustFilesUnder(t, dir); len(files) != 0 {
			t.Fatalf("files left after discarding the form: %q", files)
		}
	})
}

// MustFuzzStagedMatches reads body with the standard library's multipart reader
// and checks that the staged file holds exactly the file part's bytes.
func MustFuzzStagedMatches(t *testing.T, body []byte, boundary string, form *documentForm) {
	t.Helper()
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("readDocumentForm accepted a body the standard reader refuses: %v", err)
		}
		if part.FormName() != "file" {
			continue
		}
		want, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read the file part: %v", err)
		}
		sum := sha256.Sum256(want)
		if got := form.staged.Key(); got != hex.EncodeToString(sum[:]) {
			t.Fatalf("staged key %s is not the SHA-256 of the %d-byte file part", got, len(want))
		}
		if form.staged.Size() != int64(len(want)) || form.staged.Size() > fuzzUploadLimit {
			t.Fatalf("staged size %d, file part %d bytes, limit %d", form.staged.Size(), len(want), fuzzUploadLimit)
		}
		got := make([]byte, len(want))
		if _, err := form.staged.ReadAt(got, 0); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("staged bytes %q, file part %q", got, want)
		}
		return
	}
}

// MustUploadRefusal checks that err is an answer to the client: 400, 413, or a 422
// naming a field, never an error that would become a 500.
func MustUploadRefusal(t *testing.T, err error) {
	t.Helper()
	var (
		ce *clientError
		ve *domain.ValidationError
	)
	switch {
	case errors.As(err, &ce):
		if ce.status != http.StatusBadRequest && ce.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("refusal status %d (%q), want 400 or 413", ce.status, ce.detail)
		}
		if ce.detail == "" {
			t.Fatalf("refusal with status %d has no detail", ce.status)
		}
	case errors.As(err, &ve):
		if len(ve.Fields) == 0 {
			t.Fatal("a validation error without fields")
		}
	default:
		t.Fatalf("error %T %q is neither a client error nor a validation error: it would be a 500", err, err)
	}
}

// MustFilesUnder lists the regular files under dir.
func MustFilesUnder(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}
