package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/http/console"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// consoleKind is a kind of entity the console shows: its stream, and how to
// read one as a viewer may see it (read: for its page, which shows its history
// too, so a tenant is read only where the viewer sees it in full, as its
// history endpoint has it), and as it stood at a moment (from its events).
type consoleKind struct {
	slug, label, stream string
	read                func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error)
}

// consoleKinds, in the order the find form lists them.
var consoleKinds = []consoleKind{
	{"property", "Property", domain.PropertyStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		p, err := s.queries.Property(ctx, v, id)
		return p, p.Name, err
	}},
	{"tenant", "Tenant", domain.TenantStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		t, err := s.queries.TenantInFull(ctx, v, id)
		if err == nil {
			err = s.openTenant(ctx, &t)
		}
		return t, t.FirstName + " " + t.LastName, err
	}},
	{"lease", "Lease", domain.LeaseStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		l, err := s.queries.Lease(ctx, v, id)
		return l, l.StartDate.String() + " to " + l.EndDate.String(), err
	}},
	{"transaction", "Transaction", domain.TransactionStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		t, err := s.queries.Transaction(ctx, v, id)
		return t, t.Type + " " + t.Amount.String(), err
	}},
	{"maintenance_request", "Maintenance request", domain.MaintenanceStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		m, err := s.queries.MaintenanceRequest(ctx, v, id)
		return m, m.Title, err
	}},
	{"document", "Document", domain.DocumentStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		d, err := s.queries.DocumentEvenDeleted(ctx, v, id)
		return d, d.Name, err
	}},
	{"user", "User", domain.UserStreamType, func(s *Server, ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, string, error) {
		// A user's page shows its account trail: the admins' and the user's own.
		if !domain.SeesAccountTrail(v, id) {
			return nil, "", domain.ErrNotFound
		}
		u, err := s.queries.UserFor(ctx, v, id)
		return u, u.Email, err
	}},
}

func consoleKindOf(slug string) (consoleKind, bool) {
	for _, k := range consoleKinds {
		if k.slug == slug {
			return k, true
		}
	}
	return consoleKind{}, false
}

func consoleKindList() []console.Kind {
	out := make([]console.Kind, len(consoleKinds))
	for i, k := range consoleKinds {
		out[i] = console.Kind{Value: k.slug, Label: k.label}
	}
	return out
}

// consoleFind finds by kind and id (straight to its page) or by text.
func (s *Server) consoleFind(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := console.Page{Title: "Find", Kinds: consoleKindList(), Kind: q.Get("kind"), ID: strings.TrimSpace(q.Get("id")),
		Query: strings.TrimSpace(q.Get("q"))}
	if page.ID != "" {
		k, okKind := consoleKindOf(page.Kind)
		id, err := uuid.Parse(page.ID)
		if okKind && err == nil {
			http.Redirect(w, r, "/console/"+k.slug+"/"+id.String(), http.StatusSeeOther)
			return
		}
		page.Status, page.Error = http.StatusBadRequest, "Pick a kind and give its id, a UUID such as 0b6f1c2e-3d4a-4b5c-8d9e-0f1a2b3c4d5e."
	}
	if page.Query != "" {
		if len(page.Query) > 200 { // cut at a character boundary: the query stays UTF-8
			n := 200
			for n > 0 && !utf8.RuneStart(page.Query[n]) {
				n--
			}
			page.Query = page.Query[:n]
		}
		results, truncated, err := s.consoleSearch(r.Context(), viewerOf(r), page.Query)
		if err != nil {
			s.consoleError(w, r, err)
			return
		}
		page.Searched, page.Results, page.Truncated = true, results, truncated
	}
	s.consoleRender(w, r, "find", page)
}

const (
	consoleSearchPages   = 5   // pages of a list searched per kind
	consoleSearchResults = 100 // results shown at most
)

// consoleSearch matches text against the names, addresses and emails of what
// the viewer may see, through the API's own list queries (and so their
// visibility): it reads at most consoleSearchPages pages of each list.
func (s *Server) consoleSearch(ctx context.Context, v readmodel.Viewer, text string) ([]console.Result, bool, error) {
	needle := strings.ToLower(text)
	match := func(fields ...string) bool {
		for _, f := range fields {
			if strings.Contains(strings.ToLower(f), needle) {
				return true
			}
		}
		return false
	}
	var out []console.Result
	truncated := false
	add := func(r console.Result) {
		if len(out) < consoleSearchResults {
			out = append(out, r)
		} else {
			truncated = true
		}
	}
	if err := eachPage(func(cursor string) (readmodel.Page[readmodel.PropertyView], error) {
		return s.queries.Properties(ctx, v, readmodel.PropertyFilter{Cursor: cursor, Limit: 200})
	}, &truncated, func(p readmodel.PropertyView) {
		if match(p.Name, p.Address, p.City) {
			add(console.Result{Kind: "property", KindLabel: "Property", ID: p.ID.String(), Label: p.Name,
				Detail: p.Address + ", " + p.City + " " + p.State})
		}
	}); err != nil {
		return nil, false, err
	}
	if err := eachPage(func(cursor string) (readmodel.Page[readmodel.TenantView], error) {
		return s.queries.Tenants(ctx, v, readmodel.TenantFilter{Cursor: cursor, Limit: 200})
	}, &truncated, func(t readmodel.TenantView) {
		if t.Access == domain.AccessFull && match(t.FirstName+" "+t.LastName, t.Email) {
			add(console.Result{Kind: "tenant", KindLabel: "Tenant", ID: t.ID.String(), Label: t.FirstName + " " + t.LastName, Detail: t.Email})
		}
	}); err != nil {
		return nil, false, err
	}
	if err := eachPage(func(cursor string) (readmodel.Page[readmodel.MaintenanceView], error) {
		return s.queries.MaintenanceRequests(ctx, v, readmodel.MaintenanceFilter{Cursor: cursor, Limit: 200})
	}, &truncated, func(m readmodel.MaintenanceView) {
		if match(m.Title) {
			add(console.Result{Kind: "maintenance_request", KindLabel: "Maintenance request", ID: m.ID.String(), Label: m.Title, Detail: m.Status})
		}
	}); err != nil {
		return nil, false, err
	}
	if err := eachPage(func(cursor string) (readmodel.Page[readmodel.DocumentView], error) {
		return s.queries.Documents(ctx, v, readmodel.DocumentFilter{Cursor: cursor, Limit: 200})
	}, &truncated, func(d readmodel.DocumentView) {
		if match(d.Name) {
			add(console.Result{Kind: "document", KindLabel: "Document", ID: d.ID.String(), Label: d.Name, Detail: d.EntityType})
		}
	}); err != nil {
		return nil, false, err
	}
	if domain.ReadsUsers(v) {
		if err := eachPage(func(cursor string) (readmodel.Page[readmodel.UserView], error) {
			return s.queries.Users(ctx, readmodel.UserFilter{Cursor: cursor, Limit: 200})
		}, &truncated, func(u readmodel.UserView) {
			if domain.SeesAccountTrail(v, u.ID) && match(u.Email, deref(u.FirstName)+" "+deref(u.LastName)) {
				add(console.Result{Kind: "user", KindLabel: "User", ID: u.ID.String(), Label: u.Email, Detail: u.Role})
			}
		}); err != nil {
			return nil, false, err
		}
	}
	return out, truncated, nil
}

// eachPage calls each on the items of up to consoleSearchPages pages of a list;
// truncated is set when more pages were left.
func eachPage[T any](list func(cursor string) (readmodel.Page[T], error), truncated *bool, each func(T)) error {
	cursor := ""
	for range consoleSearchPages {
		page, err := list(cursor)
		if err != nil {
			return err
		}
		for _, item := range page.Items {
			each(item)
		}
		if page.NextCursor == nil {
			return nil
		}
		cursor = *page.NextCursor
	}
	*truncated = true
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// consoleEntity is an entity's page: state (now, or ?as_of=), integrity, timeline.
func (s *Server) consoleEntity(w http.ResponseWriter, r *http.Request) {
	e, err := s.consoleEntityOf(r, true)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	s.consoleRender(w, r, "entity", console.Page{Title: e.KindLabel + " " + e.Label, Entity: e})
}

// consoleCSV answers the entity's timeline as CSV.
func (s *Server) consoleCSV(w http.ResponseWriter, r *http.Request) {
	e, err := s.consoleEntityOf(r, false)
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s-timeline.csv"`, e.Kind, e.ID))
	if err := console.WriteCSV(w, e); err != nil {
		s.log.WarnContext(r.Context(), "write console csv", "request_id", requestID(r.Context()), "err", err)
	}
}

// consoleEntityOf reads the entity of the path, as the viewer may see it, with
// its timeline; full adds its state (as of ?as_of= when asked) and integrity.
func (s *Server) consoleEntityOf(r *http.Request, full bool) (*console.Entity, error) {
	ctx, v := r.Context(), viewerOf(r)
	k, ok := consoleKindOf(chi.URLParam(r, "kind"))
	if !ok {
		return nil, domain.ErrNotFound
	}
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	entity, label, err := k.read(s, ctx, v, id)
	if err != nil {
		return nil, err
	}
	stream := eventstore.StreamID{Type: k.stream, ID: id}
	events, err := s.readStream(ctx, stream)
	if err != nil {
		return nil, err
	}
	e := &console.Entity{Kind: k.slug, KindLabel: k.label, ID: id.String(), Label: label,
		Path: "/console/" + k.slug + "/" + id.String()}
	if e.Events, err = s.consoleTimeline(ctx, v, stream, events); err != nil {
		return nil, err
	}
	if !full {
		return e, nil
	}
	if raw := strings.TrimSpace(r.URL.Query().Get("as_of")); raw != "" {
		asOf, err := consoleTime(raw)
		if err != nil {
			return nil, err
		}
		e.AsOf, e.AsOfShown = asOf.UTC().Format("2006-01-02T15:04:05.000"), asOf.UTC().Format(time.RFC3339Nano)
		if entity, err = s.consoleAsOf(ctx, v, k, id, recordedBy(events, asOf)); err != nil {
			return nil, err
		}
		e.NotYet = entity == nil
	}
	if entity != nil {
		raw, err := json.Marshal(entity)
		if err != nil {
			return nil, fmt.Errorf("render %s %s: %w", k.slug, id, err)
		}
		e.Fields = console.FieldsOf(raw)
	}
	if e.Integrity, err = s.integrity(ctx, k.stream, id); err != nil {
		return nil, err
	}
	return e, nil
}

// consoleTime reads the as-of field: what a datetime-local input sends (UTC, as
// the form says, with or without seconds) or RFC 3339.
func consoleTime(raw string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04"} {
		if t, err := time.ParseInLocation(layout, raw, time.UTC); err == nil {
			return t, timeInRange("as_of", t)
		}
	}
	return queryTime("as_of", raw)
}

// consoleAsOf is the entity as it stood after events (nil before it existed),
// replayed as the API's ?as_of= replays it (entityAsOf, tenantAsOf). The viewer
// may see it now, which entitles it to its past.
func (s *Server) consoleAsOf(ctx context.Context, v readmodel.Viewer, k consoleKind, id uuid.UUID, events []eventstore.Event) (any, error) {
	if len(events) == 0 {
		return nil, nil
	}
	if k.stream != domain.TenantStreamType {
		return replayAs(ctx, s, v, id, events, func(ctx context.Context, v readmodel.Viewer, id uuid.UUID) (any, error) {
			entity, _, err := k.read(s, ctx, v, id)
			return entity, err
		})
	}
	return s.replayTenant(ctx, v, id, events)
}

// consoleTimeline is one row per event, with who and from where (the event's
// metadata) and what changed (its audit row's old and new values, which an
// erasure has redacted).
func (s *Server) consoleTimeline(ctx context.Context, v readmodel.Viewer, stream eventstore.StreamID, events []eventstore.Event) ([]console.Event, error) {
	audit := map[uuid.UUID]readmodel.AuditLogView{}
	cursor := ""
	for {
		page, err := s.queries.AuditLogs(ctx, v, readmodel.AuditFilter{EntityType: stream.Type, EntityID: &stream.ID,
			Cursor: cursor, Limit: 200})
		if err != nil {
			return nil, err
		}
		for _, a := range page.Items {
			audit[a.ID] = a
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	actors := map[uuid.UUID]string{}
	out := make([]console.Event, len(events))
	for i, e := range events {
		md := e.Metadata
		row := console.Event{Version: e.Version, Type: e.Type, When: e.RecordedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
			At: e.RecordedAt.UTC().Format(time.RFC3339Nano),
			IP: md.IPAddress, UserAgent: md.UserAgent, Command: md.Command}
		if md.ActorID != nil {
			row.ActorID = md.ActorID.String()
			name, ok := actors[*md.ActorID]
			if !ok {
				name = row.ActorID
				if u, err := s.queries.UserFor(ctx, v, *md.ActorID); err == nil {
					name = u.Email
				}
				actors[*md.ActorID] = name
			}
			row.Actor = name
		}
		if a, ok := audit[uuid.UUID(e.EventID)]; ok {
			row.Changes = console.Changes(a.OldValues, a.NewValues)
		}
		out[i] = row
	}
	return out, nil
}

// defaultIntegrity checks a stream's hash chain; there is no anchor to check yet.
func (s *Server) defaultIntegrity(ctx context.Context, streamType string, id uuid.UUID) (console.Integrity, error) {
	broken, err := eventstore.NewPostgresStore(s.Pool).VerifyStream(ctx, eventstore.StreamID{Type: streamType, ID: id})
	if err != nil {
		return console.Integrity{}, err
	}
	const noAnchor = "no anchor yet"
	if broken != nil {
		return console.Integrity{Chain: fmt.Sprintf("broken at version %d", broken.Version), Anchor: noAnchor,
			Reason: fmt.Sprintf("version %d: %s", broken.Version, broken.Reason)}, nil
	}
	return console.Integrity{OK: true, Chain: "intact: every event's hash recomputed and chained", Anchor: noAnchor}, nil
}
