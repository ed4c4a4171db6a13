// Package console renders the audit console's pages (/console/): its
// html/template templates and its style sheet, embedded in the binary, the page
// models the templates read, the field-by-field diff of an event and the CSV
// export of a timeline. It renders only: the http package authenticates,
// applies visibility and reads what the pages show. It must not import http,
// commands, projections or eventstore: it knows nothing of where data comes from.
package console

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"

	"github.com/google/uuid"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Static is the console's style sheet and other files served under /console/static/.
func Static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded folder is there at build time
	}
	return sub
}

// Integrity is a stream's tamper evidence as the console shows it: OK is green,
// otherwise red with Reason. Chain says what the hash chain check found, Anchor
// what the latest signed anchor says of the stream.
type Integrity struct {
	OK     bool
	Chain  string
	Anchor string
	Reason string
}

// IntegrityFunc checks one stream; streamType and id name it (<type>-<uuid>).
type IntegrityFunc func(ctx context.Context, streamType string, id uuid.UUID) (Integrity, error)

// Pages are the parsed templates, one per page, each with the shared layout.
type Pages struct {
	pages map[string]*template.Template
}

// pageNames are the templates besides the layout.
var pageNames = []string{"login", "find", "entity", "error"}

// ParsePages parses the embedded templates.
func ParsePages() (*Pages, error) {
	p := &Pages{pages: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parse console template %s: %w", name, err)
		}
		p.pages[name] = t
	}
	return p, nil
}

// Render writes page name with data to w; a template error may leave part of
// the page written, so render into a buffer where that matters.
func (p *Pages) Render(w io.Writer, name string, data Page) error {
	t, ok := p.pages[name]
	if !ok {
		return fmt.Errorf("render console page %s: no such page", name)
	}
	if err := t.Execute(w, data); err != nil {
		return fmt.Errorf("render console page %s: %w", name, err)
	}
	return nil
}

// Page is what every page's template reads; each page fills its part.
type Page struct {
	Title  string
	User   string // the signed-in account, empty on the sign-in page
	CSRF   string // the session's token, for every form that posts
	Error  string // a refusal to show above the page's content
	Status int    // the HTTP status the page is answered with

	// Sign-in
	Email string
	Next  string // the console page to go to after signing in

	// Find
	Kinds     []Kind
	Kind      string
	ID        string
	Query     string
	Searched  bool
	Results   []Result
	Truncated bool

	// Entity
	Entity *Entity
}

// Kind is a kind of entity the console finds.
type Kind struct {
	Value, Label string
}

// Result is one entity found.
type Result struct {
	Kind, KindLabel, ID, Label, Detail string
}

// Entity is the entity page: its state (now or as of a moment), its integrity
// and its timeline.
type Entity struct {
	Kind, KindLabel, ID, Label string
	AsOf                       string // the moment asked for, as typed back into the form
	AsOfShown                  string // the moment the state is of, RFC 3339, when as of one
	NotYet                     bool   // as of a moment before the entity existed
	Fields                     []Field
	Integrity                  Integrity
	Events                     []Event
	Path                       string // /console/{kind}/{id}
}

// Field is one attribute of the entity's state.
type Field struct {
	Name, Value string
}

// Event is one row of the timeline.
type Event struct {
	Version   int64
	Type      string
	When      string // RFC 3339 to the millisecond, UTC
	At        string // RFC 3339 to the nanosecond, UTC: ?as_of= of the state right after it
	Actor     string // who: the account's email where the viewer may see it, else its id
	ActorID   string
	IP        string
	UserAgent string
	Command   string
	Changes   []Change
}

// Change is one field an event changed.
type Change struct {
	Field, Old, New string
}
