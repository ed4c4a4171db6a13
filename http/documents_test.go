package http

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
)

// documentBody is a document as the API answers it.
type documentBody struct {
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
	CreatedAt      string     `json:"created_at"`
	UpdatedAt      string     `json:"updated_at"`
	Version        int64      `json:"version"`
}

type documentPage struct {
	Items      []documentBody `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

func (p documentPage) ids() []uuid.UUID {
	ids := make([]uuid.UUID, len(p.Items))
	for i, d := range p.Items {
		ids[i] = d.ID
	}
	return ids
}

// docPart is one part of a multipart upload: a plain field, or a file when
// filename is set (filename "-" sends a file part without a file name).
type docPart struct {
	name, filename string
	content        []byte
}

func docField(name, value string) docPart { return docPart{name: name, content: []byte(value)} }

func docFile(filename string, content []byte) docPart {
	return docPart{name: "file", filename: filename, content: content}
}

// MustDocumentForm encodes parts as multipart/form-data.
func MustDocumentForm(tb testing.TB, parts ...docPart) (body []byte, contentType string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		switch p.filename {
		case "":
			h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.name}))
		case "-":
			h.Set("Content-Disposition", mime.FormatMediaType("form-data", map[string]string{"name": p.name}))
			h.Set("Content-Type", "application/octet-stream")
		default:
			// Written by hand, as a client would: mime.FormatMediaType would refuse
			// some of the file names the tests send.
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename="%s"`, p.name,
				strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(p.filename)))
			h.Set("Content-Type", "application/octet-stream")
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := pw.Write(p.content); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// UploadDocument sends POST /documents with a ready body.
func (s *stack) UploadDocument(tb testing.TB, token string, body []byte, contentType string, header map[string]string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/documents", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

// Upload sends the parts as a multipart upload.
func (s *stack) Upload(tb testing.TB, token string, parts ...docPart) *http.Response {
	tb.Helper()
	body, ct := MustDocumentForm(tb, parts...)
	return s.UploadDocument(tb, token, body, ct, nil)
}

// MustUploadDocument uploads content to an entity and expects a 201.
func (s *stack) MustUploadDocument(tb testing.TB, token, entityType string, entityID uuid.UUID, filename string,
	content []byte, more ...docPart) documentBody {
	tb.Helper()
	parts := append([]docPart{docField("entity_type", entityType), docField("entity_id", entityID.String()),
		docFile(filename, content)}, more...)
	resp := s.Upload(tb, token, parts...)
	MustStatus(tb, resp, http.StatusCreated)
	var d documentBody
	MustDecode(tb, resp, &d)
	if got, want := resp.Header.Get("Location"), "/api/v1/documents/"+d.ID.String(); got != want {
		tb.Errorf("Location = %q, want %q", got, want)
	}
	return d
}

// MustDocumentContent downloads a document's bytes and expects a 200.
func (s *stack) MustDocumentContent(tb testing.TB, token string, id uuid.UUID) (*http.Response, []byte) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/documents/"+id.String()+"/content", nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, body
}

// MustListDocuments reads GET /documents?query.
func (s *stack) MustListDocuments(tb testing.TB, token, query string) documentPage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/documents?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var p documentPage
	MustDecode(tb, resp, &p)
	return p
}

// MustBlobFiles lists every file of the document store (blobs and temporary
// files), relative to its directory.
func (s *stack) MustBlobFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir(s.blobs.Dir(), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(s.blobs.Dir(), path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

// blobPath is where the store keeps the bytes of hash, relative to its directory.
func blobPath(hash string) string { return "sha256/" + hash[:2] + "/" + hash }

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// documentWrites is what a refused upload must leave alone.
type documentWrites struct {
	events, rows int
	files        []string
}

func (s *stack) MustDocumentWrites(tb testing.TB) documentWrites {
	tb.Helper()
	var rows int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM documents`).Scan(&rows); err != nil {
		tb.Fatal(err)
	}
	return documentWrites{events: s.MustEventCount(tb), rows: rows, files: s.MustBlobFiles(tb)}
}

// MustNoDocumentWrites fails if any event, documents row or file appeared since before.
func (s *stack) MustNoDocumentWrites(tb testing.TB, before documentWrites) {
	tb.Helper()
	after := s.MustDocumentWrites(tb)
	if after.events != before.events || after.rows != before.rows || !slices.Equal(after.files, before.files) {
		tb.Errorf("a refused request wrote: events %d → %d, documents rows %d → %d, files %q → %q",
			before.events, after.events, before.rows, after.rows, before.files, after.files)
	}
}

// docWorld is a landlord (owner) with a property; MustCallers and MustEntities
// add the other kinds of caller and the owner's tenant, lease and rent charge.
type docWorld struct {
	s                                    *stack
	ownerID, otherID, managerID, adminID uuid.UUID
	owner, other, manager, admin         string    // their tokens
	property, tenant, lease, transaction uuid.UUID // the owner's
	otherProperty                        uuid.UUID // the other user's
	entityIDs                            map[string]uuid.UUID
}

func MustDocWorld(tb testing.TB, opts ...StackOption) *docWorld {
	tb.Helper()
	s := MustStack(tb, opts...)
	w := &docWorld{s: s}
	w.ownerID, w.owner = s.MustUser(tb, domain.RoleUser)
	w.property = s.MustProperty(tb, w.owner)
	return w
}

// MustCallers adds the other kinds of caller: another user with its own
// property, a manager and an admin.
func (w *docWorld) MustCallers(tb testing.TB) *docWorld {
	tb.Helper()
	w.otherID, w.other = w.s.MustUser(tb, domain.RoleUser)
	w.managerID, w.manager = w.s.MustUser(tb, domain.RoleManager)
	w.adminID, w.admin = w.s.MustUser(tb, domain.RoleAdmin)
	w.otherProperty = w.s.MustProperty(tb, w.other)
	return w
}

// MustEntities adds the owner's tenant, a lease of the property to it, and a rent charge.
func (w *docWorld) MustEntities(tb testing.TB) *docWorld {
	tb.Helper()
	w.tenant = w.mustCreate(tb, "/api/v1/tenants", map[string]any{
		"first_name": "Ada", "last_name": "Lovelace", "email": "ada-" + uuid.NewString()[:8] + "@example.com",
	})
	w.lease = w.mustCreate(tb, "/api/v1/leases", map[string]any{
		"property_id": w.property, "tenant_id": w.tenant, "start_date": "2025-01-01", "end_date": "2025-12-31",
		"rent_amount": "1250.00", "security_deposit": "0.00",
	})
	w.transaction = w.mustCreate(tb, "/api/v1/transactions", map[string]any{
		"lease_id": w.lease, "amount": "1250.00", "type": "rent", "due_date": "2025-02-01",
	})
	w.entityIDs = map[string]uuid.UUID{"property": w.property, "tenant": w.tenant, "lease": w.lease, "transaction": w.transaction}
	return w
}

func (w *docWorld) mustCreate(tb testing.TB, path string, body map[string]any) uuid.UUID {
	tb.Helper()
	resp := w.s.Do(tb, w.owner, http.MethodPost, path, body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	MustDecode(tb, resp, &created)
	return created.ID
}

// pdf is a small PDF-looking file: http.DetectContentType knows it by "%PDF-".
func pdf(text string) []byte { return []byte("%PDF-1.7\n% " + text + "\n%%EOF\n") }

func TestDocumentUploadRoundTrip(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	content := append(pdf("signed lease"), bytes.Repeat([]byte{0, 1, 2, 3, 0xff}, 20_000)...) // 100 kB, binary
	before := s.MustEventCount(t)

	d := s.MustUploadDocument(t, w.owner, "property", w.property, "  Lease\u202e 2025.pdf ", content,
		docField("description", "the signed copy"))

	want := documentBody{
		ID: d.ID, Name: "Lease 2025.pdf", Description: docPtr("the signed copy"), FilePath: sha256Hex(content),
		FileType: "application/pdf", FileSize: int64(len(content)), EntityType: "property", EntityID: w.property,
		UploaderID: &w.ownerID, IsConfidential: false, CreatedAt: d.CreatedAt, UpdatedAt: d.CreatedAt, Version: 1,
	}
	if got := fmt.Sprintf("%+v", derefDocument(d)); got != fmt.Sprintf("%+v", derefDocument(want)) {
		t.Errorf("uploaded document:\n got  %s\n want %s", got, fmt.Sprintf("%+v", derefDocument(want)))
	}
	if got := s.MustEventCount(t) - before; got != 1 {
		t.Errorf("events appended = %d, want 1 (DocumentUploaded)", got)
	}
	if got, want := s.MustBlobFiles(t), []string{blobPath(sha256Hex(content))}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want exactly the blob %q (no temporary file)", got, want)
	}

	resp, body := s.MustDocumentContent(t, w.owner, d.ID)
	if got, want := sha256Hex(body), sha256Hex(content); got != want {
		t.Errorf("downloaded SHA-256 = %s, want %s", got, want)
	}
	for header, want := range map[string]string{
		"Content-Type":        "application/pdf",
		"Content-Length":      strconv.Itoa(len(content)),
		"ETag":                `"` + sha256Hex(content) + `"`,
		"Content-Disposition": `attachment; filename="Lease 2025.pdf"`,
		"Accept-Ranges":       "bytes",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("content %s = %q, want %q", header, got, want)
		}
	}

	resp = s.Do(t, w.owner, http.MethodGet, "/api/v1/documents/"+d.ID.String(), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var got documentBody
	MustDecode(t, resp, &got)
	if fmt.Sprintf("%+v", derefDocument(got)) != fmt.Sprintf("%+v", derefDocument(d)) || resp.Header.Get("ETag") != `"1"` {
		t.Errorf("GET = %+v with ETag %s, want the upload's answer with ETag \"1\"", derefDocument(got), resp.Header.Get("ETag"))
	}

	var payload map[string]any
	if err := s.pool.QueryRow(context.Background(), `SELECT payload FROM events WHERE stream_id = $1`,
		"document-"+d.ID.String()).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if payload["content_hash"] != sha256Hex(content) || payload["uploader_id"] != w.ownerID.String() {
		t.Errorf("DocumentUploaded payload = %v, want content_hash %s and uploader_id %s", payload, sha256Hex(content), w.ownerID)
	}
}

// derefDocument renders the pointers of a document for comparison.
func derefDocument(d documentBody) map[string]any {
	m := map[string]any{}
	b, _ := json.Marshal(d)
	_ = json.Unmarshal(b, &m)
	return m
}

func docPtr[T any](v T) *T { return &v }

func TestDocumentUploadToEveryEntityType(t *testing.T) {
	w := MustDocWorld(t).MustCallers(t).MustEntities(t)
	for entityType, id := range w.entityIDs {
		t.Run(entityType, func(t *testing.T) {
			content := pdf("for the " + entityType)
			d := w.s.MustUploadDocument(t, w.owner, entityType, id, entityType+".pdf", content)
			if d.EntityType != entityType || d.EntityID != id {
				t.Errorf("document on %s %s, want %s %s", d.EntityType, d.EntityID, entityType, id)
			}
			page := w.s.MustListDocuments(t, w.owner, "entity_type="+entityType+"&entity_id="+id.String())
			if got := page.ids(); !slices.Equal(got, []uuid.UUID{d.ID}) {
				t.Errorf("documents of the %s = %v, want [%s]", entityType, got, d.ID)
			}
			if got := w.s.MustListDocuments(t, w.other, "entity_type="+entityType+"&entity_id="+id.String()).ids(); len(got) != 0 {
				t.Errorf("another user lists %v on the owner's %s, want nothing", got, entityType)
			}
		})
	}
}

func TestDocumentUploadRefusals(t *testing.T) {
	const limit = 4096
	w := MustDocWorld(t, WithDeps(func(d *Deps) { d.MaxUploadBytes = limit })).MustCallers(t)
	s := w.s
	property := w.property.String()
	entity := []docPart{docField("entity_type", "property"), docField("entity_id", property)}
	with := func(parts ...docPart) []docPart { return append(slices.Clone(entity), parts...) }
	zipped := MustZip(t, map[string]string{"[Content_Types].xml": "<Types/>", "readme.txt": "not a document"})

	tests := []struct {
		name   string
		token  string
		parts  []docPart
		status int
		field  string // for a 422: the field named first
	}{
		{name: "over the configured limit", parts: with(docFile("big.pdf", append(pdf("x"), make([]byte, limit)...))), status: http.StatusRequestEntityTooLarge},
		{name: "an HTML page", parts: with(docFile("page.pdf", []byte("<!DOCTYPE html><html><script>alert(1)</script></html>"))), status: http.StatusUnsupportedMediaType},
		{name: "an executable", parts: with(docFile("setup.pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 64)...))), status: http.StatusUnsupportedMediaType},
		{name: "an SVG image", parts: with(docFile("logo.png", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`))), status: http.StatusUnsupportedMediaType},
		{name: "a ZIP named .docx without a Word document inside", parts: with(docFile("lease.docx", zipped)), status: http.StatusUnsupportedMediaType},
		{name: "an OLE file named .pdf", parts: with(docFile("old.pdf", append(slices.Clone(oleMagic), make([]byte, 504)...))), status: http.StatusUnsupportedMediaType},
		{name: "an empty file", parts: with(docFile("empty.pdf", nil)), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "no file", parts: entity, status: http.StatusUnprocessableEntity, field: "file"},
		{name: "a relative path as file name", parts: with(docFile("../../etc/passwd", pdf("x"))), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "an absolute path as file name", parts: with(docFile("/etc/passwd", pdf("x"))), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "a Windows path as file name", parts: with(docFile(`..\..\boot.ini`, pdf("x"))), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "a directory in the file name", parts: with(docFile("scans/lease.pdf", pdf("x"))), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "dot-dot as file name", parts: with(docFile("..", pdf("x"))), status: http.StatusUnprocessableEntity, field: "file"},
		{name: "a path as name", parts: with(docFile("a.pdf", pdf("x")), docField("name", "../a.pdf")), status: http.StatusUnprocessableEntity, field: "name"},
		{name: "no usable name", parts: with(docFile("\u200b", pdf("x"))), status: http.StatusUnprocessableEntity, field: "name"},
		{name: "no entity type", parts: []docPart{docField("entity_id", property), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_type"},
		{name: "an unknown entity type", parts: []docPart{docField("entity_type", "maintenance_request"), docField("entity_id", property), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_type"},
		{name: "no entity id", parts: []docPart{docField("entity_type", "property"), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_id"},
		{name: "an entity id that is not a UUID", parts: []docPart{docField("entity_type", "property"), docField("entity_id", "42"), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_id"},
		{name: "an entity that does not exist", parts: []docPart{docField("entity_type", "lease"), docField("entity_id", uuid.NewString()), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_id"},
		{name: "another owner's property", parts: []docPart{docField("entity_type", "property"), docField("entity_id", w.otherProperty.String()), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_id"},
		{name: "a property id named as a lease", parts: []docPart{docField("entity_type", "lease"), docField("entity_id", property), docFile("a.pdf", pdf("x"))}, status: http.StatusUnprocessableEntity, field: "entity_id"},
		{name: "is_confidential that is not a boolean", parts: with(docFile("a.pdf", pdf("x")), docField("is_confidential", "maybe")), status: http.StatusUnprocessableEntity, field: "is_confidential"},
		{name: "an id that is not a UUID", parts: with(docFile("a.pdf", pdf("x")), docField("id", "7")), status: http.StatusUnprocessableEntity, field: "id"},
		{name: "a description with invalid UTF-8", parts: with(docFile("a.pdf", pdf("x")), docField("description", "\xff\xfe")), status: http.StatusUnprocessableEntity, field: "description"},
		{name: "a NUL in the name", parts: with(docFile("a.pdf", pdf("x")), docField("name", "a\x00.pdf")), status: http.StatusUnprocessableEntity, field: "name"},
		{name: "a confidential upload by a manager", token: w.manager, parts: with(docFile("a.pdf", pdf("x")), docField("is_confidential", "true")), status: http.StatusForbidden},
		{name: "an unknown form field", parts: with(docFile("a.pdf", pdf("x")), docField("folder", "x")), status: http.StatusBadRequest},
		{name: "a field sent twice", parts: with(docFile("a.pdf", pdf("x")), docField("entity_type", "lease")), status: http.StatusBadRequest},
		{name: "two files", parts: with(docFile("a.pdf", pdf("x")), docFile("b.pdf", pdf("y"))), status: http.StatusBadRequest},
		{name: "a field over 64 KiB", parts: with(docFile("a.pdf", pdf("x")), docField("description", strings.Repeat("d", maxFormField+1))), status: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := tt.token
			if token == "" {
				token = w.owner
			}
			before := s.MustDocumentWrites(t)
			resp := s.Upload(t, token, tt.parts...)
			p := MustProblem(t, resp, tt.status)
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Errorf("errors = %+v, want the first on %s", p.Errors, tt.field)
			}
			s.MustNoDocumentWrites(t, before)
		})
	}

	t.Run("a body that is not multipart", func(t *testing.T) {
		before := s.MustDocumentWrites(t)
		resp := s.Do(t, w.owner, http.MethodPost, "/api/v1/documents", map[string]string{"entity_type": "property"}, nil)
		MustProblem(t, resp, http.StatusUnsupportedMediaType)
		s.MustNoDocumentWrites(t, before)
	})
	t.Run("a malformed multipart body", func(t *testing.T) {
		before := s.MustDocumentWrites(t)
		resp := s.UploadDocument(t, w.owner, []byte("--b\r\nno headers end here"), "multipart/form-data; boundary=b", nil)
		MustProblem(t, resp, http.StatusBadRequest)
		s.MustNoDocumentWrites(t, before)
	})
	t.Run("a body announced over the limit", func(t *testing.T) {
		before := s.MustDocumentWrites(t)
		req, err := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/documents", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = limit + formOverhead + 1 // the server answers before reading
		req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
		req.Header.Set("Authorization", "Bearer "+w.owner)
		resp, err := s.http.Client().Do(req)
		if err == nil {
			defer resp.Body.Close()
			MustProblem(t, resp, http.StatusRequestEntityTooLarge)
		} else if !strings.Contains(err.Error(), "ContentLength") {
			t.Fatalf("request: %v", err)
		}
		s.MustNoDocumentWrites(t, before)
	})
	t.Run("exactly the limit is accepted", func(t *testing.T) {
		content := append(pdf("x"), make([]byte, limit-len(pdf("x")))...)
		d := s.MustUploadDocument(t, w.owner, "property", w.property, "exact.pdf", content)
		if d.FileSize != limit {
			t.Errorf("file_size = %d, want %d", d.FileSize, limit)
		}
	})
}

// The default limit is 25 MiB: one byte more is a 413, and nothing is kept.
func TestDocumentUploadDefaultLimit(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	before := s.MustDocumentWrites(t)
	content := append(pdf("big"), make([]byte, DefaultMaxUploadBytes+1-len(pdf("big")))...)
	resp := s.Upload(t, w.owner, docField("entity_type", "property"), docField("entity_id", w.property.String()),
		docFile("big.pdf", content))
	MustProblem(t, resp, http.StatusRequestEntityTooLarge)
	s.MustNoDocumentWrites(t, before)
}

// A client that goes away mid-upload leaves no file, no row and no event.
func TestDocumentUploadCutShortLeavesNothing(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	before := s.MustDocumentWrites(t)
	body, ct := MustDocumentForm(t, docField("entity_type", "property"), docField("entity_id", w.property.String()),
		docFile("cut.pdf", append(pdf("cut"), make([]byte, 200_000)...)))
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("POST /api/v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		w.owner, ct, len(body))
	if _, err := conn.Write(append([]byte(head), body[:len(body)/2]...)); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(conn) // the server answers (or not) once it sees the body end early
	conn.Close()
	if len(answer) > 0 && !bytes.HasPrefix(answer, []byte("HTTP/1.1 400")) {
		t.Errorf("answer to a cut-short body = %q, want a 400 or none", answer[:min(len(answer), 60)])
	}
	s.MustNoDocumentWrites(t, before)
}

// MustZip builds a ZIP archive of the given files.
func MustZip(tb testing.TB, files map[string]string) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		f, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := io.WriteString(f, files[name]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// oleMagic starts every OLE compound file (legacy .doc, .xls and .ppt).
var oleMagic = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

func TestDocumentTypesAreSniffed(t *testing.T) {
	w := MustDocWorld(t)
	ole := append(slices.Clone(oleMagic), make([]byte, 1024)...)
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	tests := []struct {
		filename string
		content  []byte
		want     string
	}{
		{"scan.pdf", pdf("x"), "application/pdf"},
		{"no-extension", pdf("x"), "application/pdf"},
		{"photo.jpg", png, "image/png"}, // the content decides, not the name
		{"notes.txt", []byte("Boiler serviced on 2025-03-01.\n"), "text/plain; charset=utf-8"},
		{"lease.docx", MustZip(t, map[string]string{"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}), blobs.TypeDocx},
		{"rent.xlsx", MustZip(t, map[string]string{"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}), blobs.TypeXlsx},
		{"deck.pptx", MustZip(t, map[string]string{"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p/>"}), blobs.TypePptx},
		{"old.doc", ole, blobs.TypeDoc},
		{"old.xls", ole, blobs.TypeXls},
		{"OLD.PPT", ole, blobs.TypePpt},
	}
	for _, tt := range tests {
		t.Run(tt.filename, func(t *testing.T) {
			d := w.s.MustUploadDocument(t, w.owner, "property", w.property, tt.filename, tt.content)
			if d.FileType != tt.want {
				t.Errorf("file_type = %q, want %q", d.FileType, tt.want)
			}
			resp, body := w.s.MustDocumentContent(t, w.owner, d.ID)
			if got := resp.Header.Get("Content-Type"); got != tt.want || !bytes.Equal(body, tt.content) {
				t.Errorf("content: Content-Type %q and %d bytes, want %q and the %d bytes uploaded", got, len(body), tt.want, len(tt.content))
			}
		})
	}
}

// A ZIP whose directory is too large to list is not sniffed as an office file,
// even when it holds one.
func TestDocumentCrowdedZipIsNotAnOfficeFile(t *testing.T) {
	w := MustDocWorld(t)
	crowded := map[string]string{"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}
	for i := range blobs.MaxZipEntries {
		crowded[fmt.Sprintf("x/%d", i)] = ""
	}
	before := w.s.MustDocumentWrites(t)
	resp := w.s.Upload(t, w.owner, docField("entity_type", "property"), docField("entity_id", w.property.String()),
		docFile("lease.docx", MustZip(t, crowded)))
	MustProblem(t, resp, http.StatusUnsupportedMediaType)
	w.s.MustNoDocumentWrites(t, before)
}

func TestDocumentUploadTypesAreConfigurable(t *testing.T) {
	w := MustDocWorld(t, WithDeps(func(d *Deps) { d.UploadTypes = []string{"image/png", " IMAGE/PNG "} }))
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
	w.s.MustUploadDocument(t, w.owner, "property", w.property, "photo.png", png)
	before := w.s.MustDocumentWrites(t)
	resp := w.s.Upload(t, w.owner, docField("entity_type", "property"), docField("entity_id", w.property.String()),
		docFile("scan.pdf", pdf("x")))
	p := MustProblem(t, resp, http.StatusUnsupportedMediaType)
	if !strings.Contains(p.Detail, "application/pdf") || !strings.Contains(p.Detail, "image/png") {
		t.Errorf("detail = %q, want it to name the refused type and the accepted ones", p.Detail)
	}
	w.s.MustNoDocumentWrites(t, before)
}

// TestDocumentAccessByRole: a document is seen with its entity; a confidential
// one by admins and the entity's owner only.
func TestDocumentAccessByRole(t *testing.T) {
	w := MustDocWorld(t).MustCallers(t).MustEntities(t)
	s := w.s
	public := s.MustUploadDocument(t, w.owner, "lease", w.lease, "public.pdf", pdf("public"))
	secret := s.MustUploadDocument(t, w.owner, "lease", w.lease, "secret.pdf", pdf("secret"), docField("is_confidential", "true"))
	byAdmin := s.MustUploadDocument(t, w.admin, "lease", w.lease, "admin.pdf", pdf("by admin"), docField("is_confidential", "1"))
	byManager := s.MustUploadDocument(t, w.manager, "lease", w.lease, "manager.pdf", pdf("by manager"))
	if !secret.IsConfidential || !byAdmin.IsConfidential || public.IsConfidential {
		t.Fatalf("is_confidential = %v %v %v, want false true true", public.IsConfidential, secret.IsConfidential, byAdmin.IsConfidential)
	}
	all := []uuid.UUID{public.ID, secret.ID, byAdmin.ID, byManager.ID}
	query := "entity_type=lease&entity_id=" + w.lease.String()

	for _, c := range []struct {
		name  string
		token string
		sees  []uuid.UUID
	}{
		{"the owner", w.owner, all},
		{"an admin", w.admin, all},
		{"a manager", w.manager, []uuid.UUID{public.ID, byManager.ID}},
		{"another user", w.other, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := s.MustListDocuments(t, c.token, query).ids()
			if !slices.Equal(got, c.sees) && !(len(got) == 0 && len(c.sees) == 0) {
				t.Errorf("lists %v, want %v", got, c.sees)
			}
			if got := s.MustListDocuments(t, c.token, "").ids(); !slices.Equal(got, c.sees) && !(len(got) == 0 && len(c.sees) == 0) {
				t.Errorf("lists %v without a filter, want %v", got, c.sees)
			}
			for _, id := range all {
				want := http.StatusNotFound
				if slices.Contains(c.sees, id) {
					want = http.StatusOK
				}
				path := "/api/v1/documents/" + id.String()
				for _, p := range []string{path, path + "/content", path + "/history"} {
					resp := s.Do(t, c.token, http.MethodGet, p, nil, nil)
					_, _ = io.Copy(io.Discard, resp.Body)
					if resp.StatusCode != want {
						t.Errorf("GET %s = %d, want %d", p, resp.StatusCode, want)
					}
				}
			}
		})
	}

	// Whoever cannot see a document can neither change nor delete it, and nothing is written.
	for _, c := range []struct {
		token string
		id    uuid.UUID
	}{{w.other, public.ID}, {w.manager, secret.ID}, {w.manager, byAdmin.ID}} {
		before := s.MustDocumentWrites(t)
		resp := s.Do(t, c.token, http.MethodPatch, "/api/v1/documents/"+c.id.String(), map[string]any{"name": "x.pdf"}, nil)
		MustProblem(t, resp, http.StatusNotFound)
		resp = s.Do(t, c.token, http.MethodDelete, "/api/v1/documents/"+c.id.String(), nil, nil)
		MustProblem(t, resp, http.StatusNotFound)
		s.MustNoDocumentWrites(t, before)
	}
	// A manager acts on what it sees.
	resp := s.Do(t, w.manager, http.MethodPatch, "/api/v1/documents/"+public.ID.String(), map[string]any{"name": "renamed.pdf"}, nil)
	MustStatus(t, resp, http.StatusOK)
	// The owner of the property sees confidential documents others uploaded to it.
	s.MustDocumentContent(t, w.owner, byAdmin.ID)
	// Ownership follows the property: once another user owns it, the old owner sees nothing.
	resp = s.Do(t, w.admin, http.MethodPatch, "/api/v1/properties/"+w.property.String(), map[string]any{"owner_id": w.otherID}, nil)
	MustStatus(t, resp, http.StatusOK)
	if got := s.MustListDocuments(t, w.owner, query).ids(); len(got) != 0 {
		t.Errorf("the former owner lists %v, want nothing", got)
	}
	if got := s.MustListDocuments(t, w.other, query).ids(); !slices.Equal(got, all) {
		t.Errorf("the new owner lists %v, want %v", got, all)
	}
}

// A tenant's documents are seen by the landlord who registered the tenant and by
// the owners of the properties it leases.
func TestDocumentOfATenantFollowsTheTenant(t *testing.T) {
	w := MustDocWorld(t).MustCallers(t).MustEntities(t)
	s := w.s
	d := s.MustUploadDocument(t, w.owner, "tenant", w.tenant, "id-card.pdf", pdf("id"), docField("is_confidential", "true"))
	path := "/api/v1/documents/" + d.ID.String()
	MustStatus(t, s.Do(t, w.other, http.MethodGet, path, nil, nil), http.StatusNotFound)
	MustStatus(t, s.Do(t, w.manager, http.MethodGet, path, nil, nil), http.StatusNotFound) // confidential
	MustStatus(t, s.Do(t, w.admin, http.MethodGet, path, nil, nil), http.StatusOK)
	// An admin signs a lease with the tenant on the other user's property: the
	// other user reaches the tenant now (its contact), but its documents stay the
	// owner's (API.md, Roles): still 404, and not deletable.
	resp := s.Do(t, w.admin, http.MethodPost, "/api/v1/leases", map[string]any{
		"property_id": w.otherProperty, "tenant_id": w.tenant, "start_date": "2026-01-01", "end_date": "2026-12-31",
		"rent_amount": "900.00", "security_deposit": "0.00",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	MustStatus(t, s.Do(t, w.other, http.MethodGet, "/api/v1/tenants/"+w.tenant.String(), nil, nil), http.StatusOK)
	MustStatus(t, s.Do(t, w.other, http.MethodGet, path, nil, nil), http.StatusNotFound)
	MustStatus(t, s.Do(t, w.other, http.MethodDelete, path, nil, nil), http.StatusNotFound)
	MustStatus(t, s.Do(t, w.owner, http.MethodGet, path, nil, nil), http.StatusOK)
}

func TestDocumentRangeRequests(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	content := pdf(strings.Repeat("0123456789", 100))
	d := s.MustUploadDocument(t, w.owner, "property", w.property, "r.pdf", content)
	path := "/api/v1/documents/" + d.ID.String() + "/content"
	etag := `"` + sha256Hex(content) + `"`
	n := len(content)
	tests := []struct {
		name   string
		header map[string]string
		status int
		body   []byte
		range_ string
	}{
		{"a middle range", map[string]string{"Range": "bytes=100-199"}, http.StatusPartialContent, content[100:200], fmt.Sprintf("bytes 100-199/%d", n)},
		{"the first byte", map[string]string{"Range": "bytes=0-0"}, http.StatusPartialContent, content[:1], fmt.Sprintf("bytes 0-0/%d", n)},
		{"the last ten bytes", map[string]string{"Range": "bytes=-10"}, http.StatusPartialContent, content[n-10:], fmt.Sprintf("bytes %d-%d/%d", n-10, n-1, n)},
		{"from an offset to the end", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n-5)}, http.StatusPartialContent, content[n-5:], fmt.Sprintf("bytes %d-%d/%d", n-5, n-1, n)},
		{"past the end", map[string]string{"Range": fmt.Sprintf("bytes=%d-", n+10)}, http.StatusRequestedRangeNotSatisfiable, nil, fmt.Sprintf("bytes */%d", n)},
		{"If-Range with the ETag", map[string]string{"Range": "bytes=0-3", "If-Range": etag}, http.StatusPartialContent, content[:4], fmt.Sprintf("bytes 0-3/%d", n)},
		{"If-Range with another ETag", map[string]string{"Range": "bytes=0-3", "If-Range": `"stale"`}, http.StatusOK, content, ""},
		{"If-None-Match with the ETag", map[string]string{"If-None-Match": etag}, http.StatusNotModified, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := s.Do(t, w.owner, http.MethodGet, path, nil, tt.header)
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.body != nil && !bytes.Equal(body, tt.body) {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
			if got := resp.Header.Get("Content-Range"); got != tt.range_ {
				t.Errorf("Content-Range = %q, want %q", got, tt.range_)
			}
			if tt.status == http.StatusPartialContent {
				if got, want := resp.Header.Get("Content-Length"), strconv.Itoa(len(tt.body)); got != want {
					t.Errorf("Content-Length = %s, want %s", got, want)
				}
			}
		})
	}
}

// Uploads of the same content racing each other store the bytes once.
func TestDocumentConcurrentUploadsOfTheSameContentStoreOneBlob(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	content := append(pdf("shared"), bytes.Repeat([]byte("same bytes "), 10_000)...)
	const n = 8
	bodies, types := make([][]byte, n), make([]string, n)
	for i := range n {
		bodies[i], types[i] = MustDocumentForm(t, docField("entity_type", "property"), docField("entity_id", w.property.String()),
			docFile(fmt.Sprintf("copy-%d.pdf", i), content))
	}
	type result struct {
		status int
		doc    documentBody
		raw    []byte
		err    error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			req, err := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/documents", bytes.NewReader(bodies[i]))
			if err != nil {
				results[i].err = err
				return
			}
			req.Header.Set("Content-Type", types[i])
			req.Header.Set("Authorization", "Bearer "+w.owner)
			resp, err := s.http.Client().Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			results[i].status = resp.StatusCode
			if results[i].raw, err = io.ReadAll(resp.Body); err != nil {
				results[i].err = err
				return
			}
			results[i].err = json.Unmarshal(results[i].raw, &results[i].doc)
		})
	}
	close(start)
	wg.Wait()
	ids := map[uuid.UUID]bool{}
	for i, r := range results {
		if r.err != nil || r.status != http.StatusCreated {
			t.Fatalf("upload %d: status %d, err %v; want 201: %s", i, r.status, r.err, r.raw)
		}
		if r.doc.FilePath != sha256Hex(content) {
			t.Errorf("upload %d: file_path %s, want %s", i, r.doc.FilePath, sha256Hex(content))
		}
		ids[r.doc.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct documents, want %d", len(ids), n)
	}
	if got, want := s.MustBlobFiles(t), []string{blobPath(sha256Hex(content))}; !slices.Equal(got, want) {
		t.Errorf("files = %q, want one blob %q", got, want)
	}
	for id := range ids {
		if _, body := s.MustDocumentContent(t, w.owner, id); !bytes.Equal(body, content) {
			t.Errorf("document %s serves %d bytes, want the %d uploaded", id, len(body), len(content))
		}
	}
}

// Deleting one of two documents that share their bytes keeps the other readable;
// deleting the last removes the bytes; the history stays.
func TestDocumentDeleteKeepsSharedBytes(t *testing.T) {
	w := MustDocWorld(t).MustCallers(t).MustEntities(t)
	s := w.s
	content := pdf("twice")
	first := s.MustUploadDocument(t, w.owner, "property", w.property, "first.pdf", content)
	second := s.MustUploadDocument(t, w.owner, "lease", w.lease, "second.pdf", content)
	blob := blobPath(sha256Hex(content))

	before := s.MustDocumentWrites(t)
	resp := s.Do(t, w.owner, http.MethodDelete, "/api/v1/documents/"+first.ID.String(), nil, map[string]string{"If-Match": `"7"`})
	MustProblem(t, resp, http.StatusPreconditionFailed)
	s.MustNoDocumentWrites(t, before)

	resp = s.Do(t, w.owner, http.MethodDelete, "/api/v1/documents/"+first.ID.String(), nil, map[string]string{"If-Match": `"1"`})
	MustStatus(t, resp, http.StatusNoContent)
	MustProblem(t, s.Do(t, w.owner, http.MethodGet, "/api/v1/documents/"+first.ID.String(), nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, w.owner, http.MethodGet, "/api/v1/documents/"+first.ID.String()+"/content", nil, nil), http.StatusNotFound)
	if got := s.MustListDocuments(t, w.owner, "").ids(); !slices.Equal(got, []uuid.UUID{second.ID}) {
		t.Errorf("documents after the delete = %v, want only %s", got, second.ID)
	}
	if _, body := s.MustDocumentContent(t, w.owner, second.ID); !bytes.Equal(body, content) {
		t.Errorf("the other document serves %q, want %q", body, content)
	}
	if got := s.MustBlobFiles(t); !slices.Equal(got, []string{blob}) {
		t.Errorf("files = %q, want the shared blob %q kept", got, blob)
	}
	MustProblem(t, s.Do(t, w.owner, http.MethodDelete, "/api/v1/documents/"+first.ID.String(), nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, w.owner, http.MethodPatch, "/api/v1/documents/"+first.ID.String(), map[string]any{"name": "x.pdf"}, nil), http.StatusNotFound)

	resp = s.Do(t, w.owner, http.MethodGet, "/api/v1/documents/"+first.ID.String()+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var history struct {
		Items []struct {
			Type    string          `json:"type"`
			Version int64           `json:"version"`
			ActorID *uuid.UUID      `json:"actor_id"`
			Data    json.RawMessage `json:"data"`
		} `json:"items"`
	}
	MustDecode(t, resp, &history)
	if len(history.Items) != 2 || history.Items[0].Type != "DocumentUploaded" || history.Items[1].Type != "DocumentDeleted" ||
		history.Items[1].ActorID == nil || *history.Items[1].ActorID != w.ownerID {
		t.Errorf("history = %+v, want DocumentUploaded then DocumentDeleted by the owner", history.Items)
	}
	MustStatus(t, s.Do(t, w.other, http.MethodGet, "/api/v1/documents/"+first.ID.String()+"/history", nil, nil), http.StatusNotFound)

	resp = s.Do(t, w.admin, http.MethodDelete, "/api/v1/documents/"+second.ID.String(), nil, nil)
	MustStatus(t, resp, http.StatusNoContent)
	if got := s.MustBlobFiles(t); len(got) != 0 {
		t.Errorf("files after deleting every document of the bytes = %q, want none", got)
	}
	// The same content uploaded again is stored again.
	third := s.MustUploadDocument(t, w.owner, "property", w.property, "third.pdf", content)
	if _, body := s.MustDocumentContent(t, w.owner, third.ID); !bytes.Equal(body, content) {
		t.Errorf("re-uploaded content serves %q, want %q", body, content)
	}
	var auditRows int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_logs WHERE entity_type = 'document'
		AND entity_id = $1`, first.ID).Scan(&auditRows); err != nil {
		t.Fatal(err)
	}
	if auditRows != 2 {
		t.Errorf("audit rows of the deleted document = %d, want 2", auditRows)
	}
}

func TestDocumentChangeDetails(t *testing.T) {
	w := MustDocWorld(t)
	s := w.s
	d := s.MustUploadDocument(t, w.owner, "property", w.property, "a.pdf", pdf("a"), docField("description", "first"))
	path := "/api/v1/documents/" + d.ID.String()

	resp := s.Do(t, w.owner, http.MethodPatch, path, map[string]any{"name": "Lease (signed).pdf"}, map[string]string{"If-Match": `"1"`})
	MustStatus(t, resp, http.StatusOK)
	var got documentBody
	MustDecode(t, resp, &got)
	if got.Name != "Lease (signed).pdf" || got.Description == nil || *got.Description != "first" || got.Version != 2 ||
		resp.Header.Get("ETag") != `"2"` {
		t.Errorf("after rename: %+v (ETag %s), want the new name, the old description, version 2", derefDocument(got), resp.Header.Get("ETag"))
	}
	resp = s.Do(t, w.owner, http.MethodPatch, path, map[string]any{"description": nil}, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &got)
	if got.Description != nil || got.Version != 3 {
		t.Errorf("after clearing the description: %+v, want no description, version 3", derefDocument(got))
	}
	resp = s.Do(t, w.owner, http.MethodPatch, path, map[string]any{"name": "Lease (signed).pdf"}, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &got)
	if got.Version != 3 {
		t.Errorf("the same name again: version %d, want 3 (nothing recorded)", got.Version)
	}
	_, body := s.MustDocumentContent(t, w.owner, d.ID)
	if !bytes.Equal(body, pdf("a")) {
		t.Errorf("content after renames = %q, want the upload's", body)
	}
	resp, _ = s.MustDocumentContent(t, w.owner, d.ID)
	if got, want := resp.Header.Get("Content-Disposition"), `attachment; filename="Lease (signed).pdf"`; got != want {
		t.Errorf("Content-Disposition = %q, want %q", got, want)
	}

	for _, c := range []struct {
		name   string
		body   any
		header map[string]string
		status int
	}{
		{"a stale If-Match", map[string]any{"name": "b.pdf"}, map[string]string{"If-Match": `"1"`}, http.StatusPreconditionFailed},
		{"no name", map[string]any{"name": nil}, nil, http.StatusUnprocessableEntity},
		{"a path as name", map[string]any{"name": "../b.pdf"}, nil, http.StatusUnprocessableEntity},
		{"a 256-character name", map[string]any{"name": strings.Repeat("n", 256)}, nil, http.StatusUnprocessableEntity},
		{"an unknown field", map[string]any{"file_path": "/etc/passwd"}, nil, http.StatusBadRequest},
		{"a number as name", map[string]any{"name": 7}, nil, http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustDocumentWrites(t)
			MustProblem(t, s.Do(t, w.owner, http.MethodPatch, path, c.body, c.header), c.status)
			s.MustNoDocumentWrites(t, before)
		})
	}
	// as_of shows the document as it stood.
	resp = s.Do(t, w.owner, http.MethodGet, path+"?as_of="+d.CreatedAt, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &got)
	if got.Name != "a.pdf" || got.Version != 1 {
		t.Errorf("as_of the upload: name %q version %d, want a.pdf and 1", got.Name, got.Version)
	}
}

func TestDocumentIdempotentUploads(t *testing.T) {
	w := MustDocWorld(t).MustCallers(t)
	s := w.s
	parts := func(id, content string) []docPart {
		p := []docPart{docField("entity_type", "property"), docField("entity_id", w.property.String()), docFile("a.pdf", pdf(content))}
		if id != "" {
			p = append(p, docField("id", id))
		}
		return p
	}
	upload := func(key string, p []docPart) *http.Response {
		body, ct := MustDocumentForm(t, p...)
		return s.UploadDocument(t, w.owner, body, ct, map[string]string{"Idempotency-Key": key})
	}

	t.Run("Idempotency-Key", func(t *testing.T) {
		first := upload("upload-1", parts("", "one"))
		MustStatus(t, first, http.StatusCreated)
		var d documentBody
		MustDecode(t, first, &d)
		before := s.MustDocumentWrites(t)
		again := upload("upload-1", parts("", "one"))
		MustStatus(t, again, http.StatusCreated)
		var replayed documentBody
		MustDecode(t, again, &replayed)
		if again.Header.Get("Idempotent-Replayed") != "true" || replayed.ID != d.ID {
			t.Errorf("repeat: Idempotent-Replayed %q, document %s; want true and %s", again.Header.Get("Idempotent-Replayed"), replayed.ID, d.ID)
		}
		MustProblem(t, upload("upload-1", parts("", "other content")), http.StatusUnprocessableEntity)
		s.MustNoDocumentWrites(t, before)
	})
	t.Run("client-supplied id", func(t *testing.T) {
		id := uuid.NewString()
		resp := s.Upload(t, w.owner, parts(id, "two")...)
		MustStatus(t, resp, http.StatusCreated)
		before := s.MustDocumentWrites(t)
		resp = s.Upload(t, w.owner, parts(id, "two")...)
		MustStatus(t, resp, http.StatusOK)
		var d documentBody
		MustDecode(t, resp, &d)
		if d.ID.String() != id || d.Version != 1 {
			t.Errorf("repeated create answered %s v%d, want %s v1", d.ID, d.Version, id)
		}
		// The same id with other bytes is a conflict, and those bytes are not kept.
		MustProblem(t, s.Upload(t, w.owner, parts(id, "three")...), http.StatusConflict)
		// Nor with another user's upload under that id.
		other := []docPart{docField("entity_type", "property"), docField("entity_id", w.otherProperty.String()),
			docFile("a.pdf", pdf("two")), docField("id", id)}
		MustProblem(t, s.Upload(t, w.other, other...), http.StatusConflict)
		s.MustNoDocumentWrites(t, before)
	})
}

func TestDocumentListQueries(t *testing.T) {
	w := MustDocWorld(t).MustEntities(t)
	s := w.s
	var ids []uuid.UUID
	for i := range 3 {
		ids = append(ids, s.MustUploadDocument(t, w.owner, "property", w.property, fmt.Sprintf("%d.pdf", i), pdf(strconv.Itoa(i))).ID)
	}
	onLease := s.MustUploadDocument(t, w.owner, "lease", w.lease, "lease.pdf", pdf("lease")).ID

	var got []uuid.UUID
	cursor := ""
	for range 10 {
		page := s.MustListDocuments(t, w.owner, "entity_type=property&limit=2&cursor="+cursor)
		got = append(got, page.ids()...)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged property documents = %v, want %v", got, ids)
	}
	if got := s.MustListDocuments(t, w.owner, "entity_id="+w.lease.String()).ids(); !slices.Equal(got, []uuid.UUID{onLease}) {
		t.Errorf("documents of the lease = %v, want [%s]", got, onLease)
	}
	for _, q := range []string{"entity_type=building", "entity_id=nope", "limit=0", "limit=201", "cursor=notacursor"} {
		MustProblem(t, s.Do(t, w.owner, http.MethodGet, "/api/v1/documents?"+q, nil, nil), http.StatusBadRequest)
	}
}

// The multipart request schema of the OpenAPI document names exactly the form
// fields the handler accepts, and requires the three it needs.
func TestOpenAPIDocumentUploadSchema(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var post struct {
		RequestBody struct {
			Content map[string]struct {
				Schema struct {
					Ref string `json:"$ref"`
				} `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
	}
	if err := json.Unmarshal(doc.Paths["/api/v1/documents"]["post"], &post); err != nil {
		t.Fatalf("POST /api/v1/documents: %v", err)
	}
	content := post.RequestBody.Content
	if got := content["multipart/form-data"].Schema.Ref; got != "#/components/schemas/DocumentUpload" || len(content) != 1 {
		t.Fatalf("POST /documents request body = %+v, want only multipart/form-data with DocumentUpload", content)
	}
	schema := schemaFields(t, MustOpenAPIDoc(t), "DocumentUpload")
	if got, want := sortedKeys(schema.Properties), slices.Sorted(slices.Values(documentFormFields)); !slices.Equal(got, want) {
		t.Errorf("DocumentUpload properties = %v, want the form fields %v", got, want)
	}
	if got, want := slices.Sorted(slices.Values(schema.Required)), []string{"entity_id", "entity_type", "file"}; !slices.Equal(got, want) {
		t.Errorf("DocumentUpload required = %v, want %v", got, want)
	}
	if schema.AdditionalProperties == nil || *schema.AdditionalProperties {
		t.Error("DocumentUpload: additionalProperties must be false (unknown fields are a 400)")
	}
}
