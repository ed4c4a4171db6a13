package domain

// Document invariants:
//   - it is attached to one entity, a property, lease, tenant or transaction, which
//     exists and which its uploader may see (the command checks that: it needs the
//     entity's stream);
//   - its bytes are stored once per SHA-256: content_hash is 64 lowercase hex digits
//     and never changes; file_size is the true size, 1 byte to 2^31-1 bytes (INTEGER);
//   - file_type is the sniffed media type, present and at most 100 characters;
//   - name is present, at most 255 characters, and never a path; description is
//     optional text; neither holds NUL;
//   - confidential documents are seen only by admins and the entity's owner, so a
//     manager (who sees everything else) may not upload one;
//   - a deleted document is final: it is neither changed nor deleted again.

import (
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DocumentStreamType names document streams ("document-<uuid>").
const DocumentStreamType = "document"

// Limits of the documents table (seed schema, and migrations/000007).
const (
	MaxDocumentName     = 255
	MaxDocumentFileType = 100
	MaxDocumentSize     = math.MaxInt32 // file_size is an INTEGER
)

// DocumentEntityType is the kind of entity a document is attached to.
type DocumentEntityType struct{ name string }

var (
	DocumentOfProperty    = DocumentEntityType{"property"}
	DocumentOfLease       = DocumentEntityType{"lease"}
	DocumentOfTenant      = DocumentEntityType{"tenant"}
	DocumentOfTransaction = DocumentEntityType{"transaction"}
)

var documentEntityTypes = enumOf(DocumentOfProperty, DocumentOfLease, DocumentOfTenant, DocumentOfTransaction)

func (t DocumentEntityType) String() string               { return t.name }
func (t DocumentEntityType) MarshalText() ([]byte, error) { return []byte(t.name), nil }
func (t *DocumentEntityType) UnmarshalText(b []byte) error {
	return documentEntityTypes.parse(string(b), t)
}

// ParseDocumentEntityType returns the named entity type, or the zero type (refused
// by validation) for anything else, the empty string included.
func ParseDocumentEntityType(s string) DocumentEntityType {
	if s == "" {
		return DocumentEntityType{}
	}
	var t DocumentEntityType
	_ = documentEntityTypes.parse(s, &t)
	return t
}

// SeesConfidentialDocuments reports whether a role may see confidential documents
// of the entities it sees: admins see all of them, a user those of its own
// entities; a manager sees every entity but none of their confidential documents.
func SeesConfidentialDocuments(r Role) bool { return r == RoleAdmin || r == RoleUser }

// DocumentDetails are what a document's uploader may change later.
type DocumentDetails struct {
	Name        string  `json:"name"`
	Description *string `json:"description,omitempty"`
}

func (d DocumentDetails) validate(v *validator) {
	textField(v, "name", d.Name, true, MaxDocumentName)
	v.check(!strings.ContainsAny(d.Name, `/\`), "name", "must be a file name, not a path")
	v.check(d.Name != "." && d.Name != "..", "name", "must be a file name, not a path")
	if d.Description != nil {
		textField(v, "description", *d.Description, false, 0)
	}
}

// Document events.
type (
	DocumentUploaded struct {
		DocumentID     uuid.UUID          `json:"document_id"`
		ContentHash    string             `json:"content_hash"`
		FileSize       int64              `json:"file_size"`
		FileType       string             `json:"file_type"`
		Name           string             `json:"name"`
		Description    *string            `json:"description,omitempty"`
		EntityType     DocumentEntityType `json:"entity_type"`
		EntityID       uuid.UUID          `json:"entity_id"`
		UploaderID     uuid.UUID          `json:"uploader_id"`
		IsConfidential bool               `json:"is_confidential"`
	}
	DocumentDetailsChanged struct {
		Name        string  `json:"name"`
		Description *string `json:"description,omitempty"`
	}
	DocumentDeleted struct {
		ContentHash string `json:"content_hash"`
	}
)

func (DocumentUploaded) EventType() string       { return "DocumentUploaded" }
func (DocumentDetailsChanged) EventType() string { return "DocumentDetailsChanged" }
func (DocumentDeleted) EventType() string        { return "DocumentDeleted" }

var documentEvents = map[string]func() Event{
	"DocumentUploaded":       func() Event { return &DocumentUploaded{} },
	"DocumentDetailsChanged": func() Event { return &DocumentDetailsChanged{} },
	"DocumentDeleted":        func() Event { return &DocumentDeleted{} },
}

// ErrDocumentDeleted refuses a change to a deleted document.
var ErrDocumentDeleted = conflict("the document is deleted")

// NewDocument is what an upload records.
type NewDocument struct {
	ID          uuid.UUID
	ContentHash string
	FileSize    int64
	FileType    string
	Details     DocumentDetails
	EntityType  DocumentEntityType
	EntityID    uuid.UUID
	// EntityVisible: the entity exists and the uploader may see it. An entity the
	// uploader may not see is reported as missing, never as someone else's.
	EntityVisible bool
	// EntityErased: the entity is a tenant whose personal data was erased; its
	// files went with it, and none may be added.
	EntityErased bool
	Uploader     uuid.UUID
	UploaderRole Role
	Confidential bool
}

// UploadDocument validates an upload and records it.
func UploadDocument(in NewDocument) ([]Event, error) {
	var v validator
	v.check(in.ID != uuid.Nil, "id", "must not be the nil UUID")
	v.check(isContentHash(in.ContentHash), "file", "has no valid SHA-256 content hash")
	v.check(in.FileSize > 0, "file", "is empty")
	v.check(in.FileSize <= MaxDocumentSize, "file", "is larger than 2 GiB")
	textField(&v, "file_type", in.FileType, true, MaxDocumentFileType)
	in.Details.validate(&v)
	v.check(in.EntityType != DocumentEntityType{}, "entity_type", "must be one of "+documentEntityTypes.list())
	v.check(in.EntityID != uuid.Nil, "entity_id", "is required")
	if in.EntityType != (DocumentEntityType{}) && in.EntityID != uuid.Nil {
		v.check(in.EntityVisible, "entity_id", "no such "+in.EntityType.String())
	}
	v.check(in.Uploader != uuid.Nil, "uploader_id", "is required")
	if err := v.err(); err != nil {
		return nil, err
	}
	if in.Confidential && !SeesConfidentialDocuments(in.UploaderRole) {
		return nil, ErrConfidentialForbidden
	}
	if in.EntityErased {
		return nil, ErrTenantErased
	}
	return []Event{&DocumentUploaded{
		DocumentID: in.ID, ContentHash: in.ContentHash, FileSize: in.FileSize, FileType: in.FileType,
		Name: in.Details.Name, Description: in.Details.Description, EntityType: in.EntityType,
		EntityID: in.EntityID, UploaderID: in.Uploader, IsConfidential: in.Confidential,
	}}, nil
}

// ErrConfidentialForbidden refuses a confidential upload by a role that could not
// see the document afterwards.
var ErrConfidentialForbidden = forbidden("your role may not upload confidential documents")

func isContentHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// DocumentNameFromFilename turns the file name a client sent into a document
// name. A name that is a path (it holds a slash or a backslash, or is "." or "..")
// is refused: such a name is at best a client bug and at worst an attempt at path
// traversal. Otherwise invalid UTF-8, control and formatting characters (NUL,
// bidirectional overrides, zero-width characters) are dropped, runs of white space
// become one space, and the result is trimmed and cut to 255 characters, keeping
// the extension. The result may be empty: the caller then needs another name.
func DocumentNameFromFilename(filename string) (string, error) {
	if strings.ContainsAny(filename, `/\`) || filename == "." || filename == ".." {
		return "", &ValidationError{Fields: []FieldError{{Field: "file", Message: "the file name must be a name, not a path"}}}
	}
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(filename, "") {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	name := b.String()
	if name == "." || name == ".." {
		return "", &ValidationError{Fields: []FieldError{{Field: "file", Message: "the file name must be a name, not a path"}}}
	}
	if utf8.RuneCountInString(name) <= MaxDocumentName {
		return name, nil
	}
	runes := []rune(name)
	ext := []rune{}
	if i := strings.LastIndexByte(name, '.'); i > 0 && utf8.RuneCountInString(name[i:]) <= 16 {
		ext = []rune(name[i:])
	}
	return strings.TrimSpace(string(runes[:MaxDocumentName-len(ext)])) + string(ext), nil
}

// Document is the aggregate.
type Document struct {
	id           uuid.UUID
	version      int64
	contentHash  string
	entityType   DocumentEntityType
	entityID     uuid.UUID
	uploader     uuid.UUID
	confidential bool
	details      DocumentDetails
	deleted      bool
}

// Apply records a fact.
func (d *Document) Apply(e Event, version int64, _ time.Time) {
	switch e := e.(type) {
	case *DocumentUploaded:
		d.id, d.contentHash, d.entityType, d.entityID = e.DocumentID, e.ContentHash, e.EntityType, e.EntityID
		d.uploader, d.confidential = e.UploaderID, e.IsConfidential
		d.details = DocumentDetails{Name: e.Name, Description: e.Description}
	case *DocumentDetailsChanged:
		d.details = DocumentDetails{Name: e.Name, Description: e.Description}
	case *DocumentDeleted:
		d.deleted = true
	}
	d.version = version
}

// ChangeDetails renames or redescribes a live document; the same details change nothing.
func (d *Document) ChangeDetails(details DocumentDetails) ([]Event, error) {
	if d.deleted {
		return nil, ErrDocumentDeleted
	}
	var v validator
	details.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	if details.Name == d.details.Name && ptrEqual(details.Description, d.details.Description) {
		return nil, nil
	}
	return []Event{&DocumentDetailsChanged{Name: details.Name, Description: details.Description}}, nil
}

// Delete records the document's deletion; its content hash tells the store which
// bytes lost a reference.
func (d *Document) Delete() ([]Event, error) {
	if d.deleted {
		return nil, ErrDocumentDeleted
	}
	return []Event{&DocumentDeleted{ContentHash: d.contentHash}}, nil
}

func (d *Document) ID() uuid.UUID                  { return d.id }
func (d *Document) Version() int64                 { return d.version }
func (d *Document) Exists() bool                   { return d.version > 0 }
func (d *Document) Deleted() bool                  { return d.deleted }
func (d *Document) ContentHash() string            { return d.contentHash }
func (d *Document) EntityType() DocumentEntityType { return d.entityType }
func (d *Document) EntityID() uuid.UUID            { return d.entityID }
func (d *Document) UploaderID() uuid.UUID          { return d.uploader }
func (d *Document) Confidential() bool             { return d.confidential }
func (d *Document) Details() DocumentDetails       { return d.details }
