package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

var (
	documentID     = uuid.MustParse("d0c0e1a2-3b4c-4d5e-8f60-718293a4b5c6")
	documentEntity = uuid.MustParse("e1e2e3e4-f5f6-4a7b-8c9d-0e1f2a3b4c5d")
	documentHash   = strings.Repeat("ab", 32)
)

// newDocument is a valid upload by a user; edit changes it.
func newDocument(edit func(*NewDocument)) NewDocument {
	desc := "signed copy"
	in := NewDocument{
		ID: documentID, ContentHash: documentHash, FileSize: 1234, FileType: "application/pdf",
		Details:    DocumentDetails{Name: "lease.pdf", Description: &desc},
		EntityType: DocumentOfLease, EntityID: documentEntity, EntityVisible: true,
		Uploader: ownerA, UploaderRole: RoleUser,
	}
	if edit != nil {
		edit(&in)
	}
	return in
}

func uploaded(in NewDocument) *DocumentUploaded {
	return &DocumentUploaded{
		DocumentID: in.ID, ContentHash: in.ContentHash, FileSize: in.FileSize, FileType: in.FileType,
		Name: in.Details.Name, Description: in.Details.Description, EntityType: in.EntityType,
		EntityID: in.EntityID, UploaderID: in.Uploader, IsConfidential: in.Confidential,
	}
}

func TestUploadDocument(t *testing.T) {
	tests := []struct {
		name    string
		in      NewDocument
		wantErr wantError
	}{
		{name: "a lease document", in: newDocument(nil)},
		{name: "a property document without description", in: newDocument(func(in *NewDocument) {
			in.EntityType, in.Details.Description = DocumentOfProperty, nil
		})},
		{name: "a tenant document", in: newDocument(func(in *NewDocument) { in.EntityType = DocumentOfTenant })},
		{name: "a transaction document", in: newDocument(func(in *NewDocument) { in.EntityType = DocumentOfTransaction })},
		{name: "a confidential document by a user", in: newDocument(func(in *NewDocument) { in.Confidential = true })},
		{name: "a confidential document by an admin", in: newDocument(func(in *NewDocument) {
			in.Confidential, in.UploaderRole = true, RoleAdmin
		})},
		{name: "a manager's ordinary document", in: newDocument(func(in *NewDocument) { in.UploaderRole = RoleManager })},
		{name: "the largest size an INTEGER holds", in: newDocument(func(in *NewDocument) { in.FileSize = MaxDocumentSize })},
		{name: "a 255-rune name", in: newDocument(func(in *NewDocument) { in.Details.Name = strings.Repeat("é", 255) })},
		{name: "a 100-character file type", in: newDocument(func(in *NewDocument) { in.FileType = strings.Repeat("a", 100) })},

		{name: "a confidential document by a manager is forbidden", in: newDocument(func(in *NewDocument) {
			in.Confidential, in.UploaderRole = true, RoleManager
		}), wantErr: isErr(ErrForbidden, ErrConfidentialForbidden)},
		{name: "nil id", in: newDocument(func(in *NewDocument) { in.ID = uuid.Nil }), wantErr: invalid("id")},
		{name: "an empty file", in: newDocument(func(in *NewDocument) { in.FileSize = 0 }), wantErr: invalid("file")},
		{name: "a file over 2 GiB", in: newDocument(func(in *NewDocument) { in.FileSize = MaxDocumentSize + 1 }), wantErr: invalid("file")},
		{name: "an uppercase hash", in: newDocument(func(in *NewDocument) { in.ContentHash = strings.ToUpper(documentHash) }), wantErr: invalid("file")},
		{name: "a short hash", in: newDocument(func(in *NewDocument) { in.ContentHash = documentHash[:63] }), wantErr: invalid("file")},
		{name: "no file type", in: newDocument(func(in *NewDocument) { in.FileType = "" }), wantErr: invalid("file_type")},
		{name: "a 101-character file type", in: newDocument(func(in *NewDocument) { in.FileType = strings.Repeat("a", 101) }), wantErr: invalid("file_type")},
		{name: "no name", in: newDocument(func(in *NewDocument) { in.Details.Name = " " }), wantErr: invalid("name")},
		{name: "a 256-rune name", in: newDocument(func(in *NewDocument) { in.Details.Name = strings.Repeat("é", 256) }), wantErr: invalid("name")},
		{name: "a path as name", in: newDocument(func(in *NewDocument) { in.Details.Name = "../etc/passwd" }), wantErr: invalid("name")},
		{name: "a Windows path as name", in: newDocument(func(in *NewDocument) { in.Details.Name = `..\boot.ini` }), wantErr: invalid("name")},
		{name: "dot-dot as name", in: newDocument(func(in *NewDocument) { in.Details.Name = ".." }), wantErr: invalid("name")},
		{name: "NUL in the name", in: newDocument(func(in *NewDocument) { in.Details.Name = "a\x00.pdf" }), wantErr: invalid("name")},
		{name: "NUL in the description", in: newDocument(func(in *NewDocument) { in.Details.Description = ptr("a\x00b") }), wantErr: invalid("description")},
		{name: "no entity type", in: newDocument(func(in *NewDocument) { in.EntityType = DocumentEntityType{} }), wantErr: invalid("entity_type")},
		{name: "an unknown entity type", in: newDocument(func(in *NewDocument) {
			in.EntityType = ParseDocumentEntityType("maintenance_request")
		}), wantErr: invalid("entity_type")},
		{name: "no entity id", in: newDocument(func(in *NewDocument) { in.EntityID = uuid.Nil }), wantErr: invalid("entity_id")},
		{name: "an entity the uploader cannot see", in: newDocument(func(in *NewDocument) { in.EntityVisible = false }), wantErr: invalid("entity_id")},
		{name: "an erased tenant takes no more files", in: newDocument(func(in *NewDocument) {
			in.EntityType, in.EntityErased = DocumentOfTenant, true
		}), wantErr: isErr(ErrConflict, ErrTenantErased)},
		{name: "no uploader", in: newDocument(func(in *NewDocument) { in.Uploader = uuid.Nil }), wantErr: invalid("uploader_id")},
		{name: "everything wrong at once lists every field", in: NewDocument{Details: DocumentDetails{Name: "a/b"}},
			wantErr: invalid("id", "file", "file", "file_type", "name", "entity_type", "entity_id", "uploader_id")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// when
			got, err := UploadDocument(tt.in)
			// then
			var want []Event
			if tt.wantErr.none() {
				want = []Event{uploaded(tt.in)}
			}
			MustOutcome(t, got, err, want, tt.wantErr)
		})
	}
}

func TestDocumentChangeDetails(t *testing.T) {
	up := uploaded(newDocument(nil))
	tests := []struct {
		name    string
		given   []Event
		details DocumentDetails
		want    []Event
		wantErr wantError
	}{
		{name: "a new name", given: []Event{up}, details: DocumentDetails{Name: "renamed.pdf", Description: up.Description},
			want: []Event{&DocumentDetailsChanged{Name: "renamed.pdf", Description: up.Description}}},
		{name: "the description cleared", given: []Event{up}, details: DocumentDetails{Name: up.Name},
			want: []Event{&DocumentDetailsChanged{Name: up.Name}}},
		{name: "the same details change nothing", given: []Event{up}, details: DocumentDetails{Name: up.Name, Description: ptr("signed copy")}},
		{name: "after a change, the changed details change nothing", given: []Event{up, &DocumentDetailsChanged{Name: "b.pdf"}},
			details: DocumentDetails{Name: "b.pdf"}},
		{name: "an empty name", given: []Event{up}, details: DocumentDetails{Name: ""}, wantErr: invalid("name")},
		{name: "a path", given: []Event{up}, details: DocumentDetails{Name: "a/b.pdf"}, wantErr: invalid("name")},
		{name: "a deleted document", given: []Event{up, &DocumentDeleted{ContentHash: documentHash}},
			details: DocumentDetails{Name: "x.pdf"}, wantErr: isErr(ErrConflict, ErrDocumentDeleted)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustGiven(t, &Document{}, tt.given...)
			got, err := d.ChangeDetails(tt.details)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestDocumentDelete(t *testing.T) {
	up := uploaded(newDocument(nil))
	tests := []struct {
		name    string
		given   []Event
		want    []Event
		wantErr wantError
	}{
		{name: "a live document records its hash", given: []Event{up}, want: []Event{&DocumentDeleted{ContentHash: documentHash}}},
		{name: "a renamed document", given: []Event{up, &DocumentDetailsChanged{Name: "b.pdf"}},
			want: []Event{&DocumentDeleted{ContentHash: documentHash}}},
		{name: "a deleted document", given: []Event{up, &DocumentDeleted{ContentHash: documentHash}},
			wantErr: isErr(ErrConflict, ErrDocumentDeleted)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := MustGiven(t, &Document{}, tt.given...)
			got, err := d.Delete()
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestDocumentApplyRebuildsState(t *testing.T) {
	in := newDocument(func(in *NewDocument) { in.Confidential = true })
	d := MustGiven(t, &Document{}, uploaded(in))
	if got, want := d.ID(), documentID; got != want {
		t.Errorf("ID = %s, want %s", got, want)
	}
	if !d.Exists() || d.Deleted() || d.Version() != 1 {
		t.Errorf("after upload: exists %v, deleted %v, version %d; want true, false, 1", d.Exists(), d.Deleted(), d.Version())
	}
	if d.ContentHash() != documentHash || d.EntityType() != DocumentOfLease || d.EntityID() != documentEntity ||
		d.UploaderID() != ownerA || !d.Confidential() {
		t.Errorf("after upload: hash %s, entity %s %s, uploader %s, confidential %v",
			d.ContentHash(), d.EntityType(), d.EntityID(), d.UploaderID(), d.Confidential())
	}
	d.Apply(&DocumentDetailsChanged{Name: "b.pdf"}, 2, t0)
	if got := d.Details(); got.Name != "b.pdf" || got.Description != nil {
		t.Errorf("after change: details %+v, want name b.pdf and no description", got)
	}
	d.Apply(&DocumentDeleted{ContentHash: documentHash}, 3, t0)
	if !d.Deleted() || d.Version() != 3 {
		t.Errorf("after delete: deleted %v, version %d; want true, 3", d.Deleted(), d.Version())
	}
}

func TestDocumentNameFromFilename(t *testing.T) {
	long := strings.Repeat("n", 300)
	tests := []struct {
		name, filename, want string
		wantErr              bool
	}{
		{name: "a plain name", filename: "lease.pdf", want: "lease.pdf"},
		{name: "inner spaces collapse, outer ones go", filename: "  my \t lease\n.pdf  ", want: "my lease .pdf"},
		{name: "unicode stays", filename: "Mietvertrag für Müller.pdf", want: "Mietvertrag für Müller.pdf"},
		{name: "control characters go", filename: "a\x00b\x1fc\x7f.pdf", want: "abc.pdf"},
		{name: "a right-to-left override goes", filename: "invoice\u202Efdp.exe", want: "invoicefdp.exe"},
		{name: "zero-width characters go", filename: "in\u200Bvoice.pdf", want: "invoice.pdf"},
		{name: "invalid UTF-8 goes", filename: "a\xffb.pdf", want: "ab.pdf"},
		{name: "three dots are a name", filename: "...", want: "..."},
		{name: "a leading dot is a name", filename: ".profile", want: ".profile"},
		{name: "a long name keeps its extension", filename: long + ".pdf", want: long[:251] + ".pdf"},
		{name: "nothing usable is empty", filename: "\x00\u200B ", want: ""},
		{name: "a relative path", filename: "../../etc/passwd", wantErr: true},
		{name: "an absolute path", filename: "/etc/passwd", wantErr: true},
		{name: "a Windows path", filename: `C:\Windows\win.ini`, wantErr: true},
		{name: "a directory", filename: "docs/lease.pdf", wantErr: true},
		{name: "dot-dot", filename: "..", wantErr: true},
		{name: "dot", filename: ".", wantErr: true},
		{name: "dot-dot hidden by a control character", filename: ".\x00.", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DocumentNameFromFilename(tt.filename)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("DocumentNameFromFilename(%q) = %q, want an error", tt.filename, got)
				}
				MustInvalidFields(t, err, "file")
				return
			}
			if err != nil {
				t.Fatalf("DocumentNameFromFilename(%q): %v", tt.filename, err)
			}
			if got != tt.want {
				t.Errorf("DocumentNameFromFilename(%q) = %q, want %q", tt.filename, got, tt.want)
			}
			if len([]rune(got)) > MaxDocumentName {
				t.Errorf("name has %d runes, more than %d", len([]rune(got)), MaxDocumentName)
			}
		})
	}
}

func TestDocumentEntityTypes(t *testing.T) {
	for _, name := range []string{"property", "lease", "tenant", "transaction"} {
		if got := ParseDocumentEntityType(name).String(); got != name {
			t.Errorf("ParseDocumentEntityType(%q) = %q", name, got)
		}
	}
	for _, name := range []string{"", "Property", "user", "maintenance_request", "document"} {
		if got := ParseDocumentEntityType(name); got != (DocumentEntityType{}) {
			t.Errorf("ParseDocumentEntityType(%q) = %q, want the zero type", name, got)
		}
	}
	var e DocumentEntityType
	if err := e.UnmarshalText([]byte("building")); err == nil {
		t.Errorf("UnmarshalText(building) = %q, want an error", e)
	}
}

func TestSeesConfidentialDocuments(t *testing.T) {
	for role, want := range map[Role]bool{RoleAdmin: true, RoleUser: true, RoleManager: false, {}: false} {
		if got := SeesConfidentialDocuments(role); got != want {
			t.Errorf("SeesConfidentialDocuments(%q) = %v, want %v", role, got, want)
		}
	}
}

func TestDocumentEventsRoundTrip(t *testing.T) {
	for _, e := range []Event{
		uploaded(newDocument(func(in *NewDocument) { in.Confidential = true })),
		uploaded(newDocument(func(in *NewDocument) { in.Details.Description = nil })),
		&DocumentDetailsChanged{Name: "a.pdf", Description: ptr("x")},
		&DocumentDetailsChanged{Name: "a.pdf"},
		&DocumentDeleted{ContentHash: documentHash},
	} {
		MustRoundTrip(t, e.EventType(), e)
	}
	if _, err := DecodeEvent("DocumentUploaded", []byte(`{"entity_type":"building"}`)); err == nil {
		t.Error("DecodeEvent accepted a forged entity type")
	}
}
