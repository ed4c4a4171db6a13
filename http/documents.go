package http

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// DefaultMaxUploadBytes is the largest document accepted unless configured
// otherwise (API.md: 25 MiB).
const DefaultMaxUploadBytes = 25 << 20

// DefaultUploadTypes are the media types accepted unless configured otherwise:
// PDF, images, plain text and office documents. The type is sniffed from the
// content, never taken from the client.
var DefaultUploadTypes = []string{
	"application/pdf", "image/jpeg", "image/png", "image/gif", "image/webp", "text/plain",
	blobs.TypeDoc, blobs.TypeXls, blobs.TypePpt, blobs.TypeDocx, blobs.TypeXlsx, blobs.TypePptx,
}

const (
	// maxFormField bounds each form field other than the file.
	maxFormField = 64 << 10
	// formOverhead is what a multipart body may carry beyond its file: the other
	// fields and the part headers and boundaries.
	formOverhead = 1 << 20
)

// documentFormFields are the parts POST /documents accepts; any other is a 400.
var documentFormFields = []string{"file", "id", "entity_type", "entity_id", "name", "description", "is_confidential"}

// documentForm is a decoded upload: its fields, and the file staged on disk.
type documentForm struct {
	id           *uuid.UUID
	entityType   string
	entityID     *uuid.UUID
	name         *string
	description  *string
	confidential bool
	filename     string // the file part's file name, sanitised
	staged       blobs.Staged
	invalid      []domain.FieldError // values that do not parse (422)
	raw          map[string]string   // the fields as sent, for the idempotency fingerprint
}

// discard drops the staged file unless the upload's command stored it.
func (f *documentForm) discard() {
	if f.staged != nil {
		_ = f.staged.Discard()
	}
}

var (
	errNotMultipart = &clientError{status: http.StatusUnsupportedMediaType, detail: "Content-Type must be multipart/form-data with a boundary"}
	errMalformed    = badRequest("malformed multipart body")
)

func errUploadTooLarge(limit int64) error {
	return &clientError{status: http.StatusRequestEntityTooLarge,
		detail: "the file is larger than " + formatBytes(limit)}
}

func formatBytes(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// readDocumentForm reads a multipart upload part by part. The file is streamed
// into blobs as it arrives, never held in memory; the other fields are read up to
// maxFormField bytes each. A file name that is a path is refused before anything
// is written. The returned form is never nil: discard it when done.
func readDocumentForm(ctx context.Context, body io.Reader, boundary string, store blobs.Store, limit int64) (*documentForm, error) {
	form := &documentForm{raw: map[string]string{}}
	in := &recordingReader{r: body}
	mr := multipart.NewReader(in, boundary)
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return form, clientReadError(ctx, in, limit)
		}
		name := part.FormName()
		switch {
		case name == "":
			return form, badRequest("every form part needs a name (Content-Disposition: form-data; name=...)")
		case !slices.Contains(documentFormFields, name):
			return form, badRequest("unknown form field " + strconv.Quote(name))
		case seen[name]:
			return form, badRequest("form field " + strconv.Quote(name) + " appears more than once")
		}
		seen[name] = true
		if name == "file" {
			if err := form.readFile(ctx, in, part, store, limit); err != nil {
				return form, err
			}
			continue
		}
		value, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return form, clientReadError(ctx, in, limit)
		}
		if len(value) > maxFormField {
			return form, &clientError{status: http.StatusRequestEntityTooLarge, detail: "form field " + name + " is larger than 64 KiB"}
		}
		form.field(name, string(value))
	}
	return form, nil
}

// readFile checks the part's file name and stages its content.
func (f *documentForm) readFile(ctx context.Context, body *recordingReader, part *multipart.Part, store blobs.Store, limit int64) error {
	// Part.FileName would strip a path silently; the raw name is what the client
	// meant, and a path there is refused.
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil {
		return badRequest("malformed Content-Disposition of the file part")
	}
	if f.filename, err = domain.DocumentNameFromFilename(params["filename"]); err != nil {
		return err
	}
	f.raw["filename"] = params["filename"]
	in := &recordingReader{r: part}
	staged, err := store.Stage(ctx, in, limit)
	switch {
	case errors.Is(err, blobs.ErrTooLarge):
		return errUploadTooLarge(limit)
	case err != nil && (in.err != nil || ctx.Err() != nil):
		return clientReadError(ctx, body, limit)
	case err != nil:
		return err // the disk failed, not the client
	}
	f.staged = staged
	return nil
}

// recordingReader remembers the first error its reader gave other than io.EOF,
// so that a failed read can be blamed on the client's body or on the disk.
type recordingReader struct {
	r   io.Reader
	err error
}

func (t *recordingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && t.err == nil {
		t.err = err
	}
	return n, err
}

// clientReadError is the answer to a body that could not be read as a multipart
// form: 413 over the limit, 400 for malformed syntax or a body that ended early.
func clientReadError(ctx context.Context, body *recordingReader, limit int64) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(body.err, &tooLarge):
		return errUploadTooLarge(limit)
	case body.err != nil, ctx.Err() != nil:
		return badRequest("the body could not be read to its end")
	default:
		return errMalformed
	}
}

// field records one text field, noting values that do not parse.
func (f *documentForm) field(name, value string) {
	f.raw[name] = value
	if !utf8.ValidString(value) {
		f.invalid = append(f.invalid, domain.FieldError{Field: name, Message: "must be UTF-8 text"})
		return
	}
	parseID := func() *uuid.UUID {
		id, err := uuid.Parse(value)
		if err != nil {
			f.invalid = append(f.invalid, domain.FieldError{Field: name, Message: "must be a UUID"})
			return nil
		}
		return &id
	}
	switch name {
	case "id":
		f.id = parseID()
	case "entity_id":
		f.entityID = parseID()
	case "entity_type":
		f.entityType = value
	case "name":
		f.name = &value
	case "description":
		if value != "" {
			f.description = &value
		}
	case "is_confidential":
		b, err := strconv.ParseBool(value)
		if err != nil {
			f.invalid = append(f.invalid, domain.FieldError{Field: name, Message: "must be true or false"})
		}
		f.confidential = b
	}
}

// fingerprint identifies an upload for Idempotency-Key: its fields as sent and
// its content's hash.
func (f *documentForm) fingerprint(r *http.Request) []byte {
	h := sha256.New()
	io.WriteString(h, r.Method+" "+r.URL.Path+"\n")
	for _, name := range append([]string{"filename"}, documentFormFields...) {
		if v, ok := f.raw[name]; ok {
			io.WriteString(h, name+"="+strconv.Quote(v)+"\n")
		}
	}
	if f.staged != nil {
		io.WriteString(h, "content="+f.staged.Key()+"\n")
	}
	return h.Sum(nil)
}

// uploadTypeAllowed reports whether the sniffed type's media type is on the list.
func (s *Server) uploadTypeAllowed(fileType string) bool {
	mt, _, err := mime.ParseMediaType(fileType)
	return err == nil && slices.Contains(s.uploadTypes, mt)
}

// uploadDocument answers POST /documents (multipart/form-data).
func (s *Server) uploadDocument(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		Error(w, r, s.log, errNotMultipart)
		return
	}
	limit := s.MaxUploadBytes
	if r.ContentLength > limit+formOverhead {
		Error(w, r, s.log, errUploadTooLarge(limit))
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit+formOverhead)
	form, err := readDocumentForm(r.Context(), body, params["boundary"], s.Blobs, limit)
	defer form.discard()
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if len(form.invalid) > 0 {
		Error(w, r, s.log, &domain.ValidationError{Fields: form.invalid})
		return
	}
	name := form.filename
	if form.name != nil {
		name = *form.name
	}
	cmd := commands.UploadDocument{
		Actor: actorOf(r), ID: form.id, Name: name, Description: form.description,
		EntityType: form.entityType, EntityID: form.entityID, Confidential: form.confidential,
	}
	if form.staged != nil {
		cmd.Content = form.staged
		if form.staged.Size() > 0 { // an empty file is a 422, from the domain
			extFrom := form.filename
			if extFrom == "" {
				extFrom = name
			}
			cmd.FileType = blobs.SniffType(form.staged, form.staged.Size(), extFrom)
			if !s.uploadTypeAllowed(cmd.FileType) {
				Error(w, r, s.log, &clientError{status: http.StatusUnsupportedMediaType,
					detail: "files of type " + cmd.FileType + " are not accepted; accepted types: " + strings.Join(s.uploadTypes, ", ")})
				return
			}
		}
	}
	run := func(w http.ResponseWriter, r *http.Request) {
		res, err := s.Documents.Upload(r.Context(), cmd)
		s.documents().answer(w, r, res, err)
	}
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		s.idempotentUpload(w, r, key, form.fingerprint(r), run)
		return
	}
	run(w, r)
}

// idempotentUpload is the idempotent middleware's rule for an upload, whose body
// cannot be buffered to be hashed: the request is identified by its fields and
// its content's hash instead (documentForm.fingerprint). A repeat of a stored
// upload drops its staged file and writes nothing.
func (s *Server) idempotentUpload(w http.ResponseWriter, r *http.Request, key string, hash []byte, run func(http.ResponseWriter, *http.Request)) {
	if err := checkIdempotencyKey(key); err != nil {
		Error(w, r, s.log, err)
		return
	}
	s.replayOrRun(w, r, key, hash, run)
}

// documentPatchRequest is the body of PATCH /documents/{id}: a JSON merge patch.
type documentPatchRequest struct {
	Name        commands.Optional[string] `json:"name"`
	Description commands.Optional[string] `json:"description"`
}

func (s *Server) changeDocument(w http.ResponseWriter, r *http.Request) {
	var req documentPatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Documents.Change(r.Context(), commands.ChangeDocument{
			Target: t,
			Patch:  commands.DocumentPatch{Name: req.Name, Description: req.Description},
		})
	}, s.documents().answer)
}

// documents is the collection of documents for the generic handlers.
func (s *Server) documents() resource[readmodel.DocumentView] {
	return resource[readmodel.DocumentView]{s: s, collection: "documents", streamType: domain.DocumentStreamType,
		read: s.queries.Document, version: func(d readmodel.DocumentView) int64 { return d.Version }}
}

// documentHistory answers a document's events; a deleted document keeps its
// history for those who could see it.
func (s *Server) documentHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.DocumentStreamType, s.queries.DocumentEvenDeleted)
}

// documentFilter reads GET /documents' filters.
func documentFilter(q url.Values, p pageParams) (f readmodel.DocumentFilter, err error) {
	f = readmodel.DocumentFilter{Cursor: p.cursor, Limit: p.limit}
	if f.EntityType, err = queryEnum[domain.DocumentEntityType](q, "entity_type"); err != nil {
		return f, err
	}
	f.EntityID, err = queryUUID(q, "entity_id")
	return f, err
}

// documentContent streams a document's bytes from the blob store, with ranges
// (http.ServeContent reads them from the open file). The ETag is the content's
// SHA-256, so If-None-Match and If-Range work across documents sharing content.
func (s *Server) documentContent(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	d, err := s.queries.Document(r.Context(), viewerOf(r), id)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	blob, err := s.Blobs.Open(r.Context(), d.FilePath)
	if err != nil {
		// The read model names bytes the store lacks: never the client's doing.
		Error(w, r, s.log, fmt.Errorf("open document content %s: %w", d.FilePath, err))
		return
	}
	defer blob.Close()
	h := w.Header()
	h.Set("Content-Type", d.FileType)
	h.Set("ETag", `"`+d.FilePath+`"`)
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": d.Name})
	if disposition == "" {
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	http.ServeContent(w, r, "", time.Time(d.CreatedAt), blob)
}

// mediaTypes normalises a list of media types: lowercase, without parameters,
// each once.
func mediaTypes(list []string) []string {
	var out []string
	for _, t := range list {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(t))
		if err != nil || slices.Contains(out, mt) {
			continue
		}
		out = append(out, mt)
	}
	return out
}
