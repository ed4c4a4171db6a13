package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// propertyDoc is a property as a client reads it.
type propertyDoc struct {
	ID           string  `json:"id"`
	Name         string  `json:"name"`
	Address      string  `json:"address"`
	City         string  `json:"city"`
	State        string  `json:"state"`
	ZipCode      string  `json:"zip_code"`
	OwnerID      *string `json:"owner_id"`
	PropertyType string  `json:"property_type"`
	Status       string  `json:"status"`
	Bedrooms     *int    `json:"bedrooms"`
	Bathrooms    any     `json:"bathrooms"`
	SquareFeet   *int    `json:"square_feet"`
	YearBuilt    *int    `json:"year_built"`
	Description  *string `json:"description"`
	CreatedAt    string  `json:"created_at"`
	UpdatedAt    string  `json:"updated_at"`
	Version      int64   `json:"version"`
}

type propertyPage struct {
	Items      []propertyDoc `json:"items"`
	NextCursor *string       `json:"next_cursor"`
}

func (p propertyPage) ids() []string {
	out := make([]string, len(p.Items))
	for i, item := range p.Items {
		out[i] = item.ID
	}
	return out
}

// propertyBody is a valid create body with overrides applied.
func propertyBody(overrides map[string]any) map[string]any {
	b := map[string]any{
		"name": "Elm Court", "address": "1 Elm St", "city": "Springfield", "state": "IL",
		"zip_code": "62701", "property_type": "residential",
	}
	maps.Copy(b, overrides)
	return b
}

// MustCreateProperty posts body and expects a 201.
func (s *stack) MustCreateProperty(tb testing.TB, token string, body any) propertyDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/properties", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var p propertyDoc
	MustDecode(tb, resp, &p)
	return p
}

// MustGetProperty reads one property and its ETag.
func (s *stack) MustGetProperty(tb testing.TB, token, id string) (propertyDoc, string) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/properties/"+id, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var p propertyDoc
	MustDecode(tb, resp, &p)
	return p, resp.Header.Get("ETag")
}

// MustListProperties reads one page of GET /properties?query.
func (s *stack) MustListProperties(tb testing.TB, token, query string) propertyPage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/properties?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page propertyPage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("GET /properties?%s: items is null or missing, want an array", query)
	}
	return page
}

func sortedIDs(ps ...propertyDoc) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	slices.Sort(out)
	return out
}

func etag(version int64) string { return fmt.Sprintf(`"%d"`, version) }

func TestPropertyRoundTrip(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)

	resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", map[string]any{
		"name": "Elm Court", "address": "1 Elm St", "city": "Springfield", "state": "IL",
		"zip_code": "62701", "property_type": "residential", "bathrooms": "2.5",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	var created map[string]any
	MustDecode(t, resp, &created)
	if got, want := created["owner_id"], ownerID.String(); got != want {
		t.Errorf("owner_id = %v, want %v", got, want)
	}
	if got, want := created["bathrooms"], "2.5"; got != want {
		t.Errorf("bathrooms = %v, want %v", got, want)
	}

	resp = s.Do(t, token, http.MethodGet, "/api/v1/properties/"+created["id"].(string), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
}

func TestCreateProperty(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	before := s.MustWriteCounts(t)

	resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{
		"bedrooms": 3, "bathrooms": "2.5", "square_feet": 1200, "year_built": 1990, "description": "Quiet street",
	}), nil)
	MustStatus(t, resp, http.StatusCreated)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var p propertyDoc
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(p.ID); err != nil {
		t.Fatalf("id %q is not a UUID", p.ID)
	}
	if got, want := resp.Header.Get("Location"), "/api/v1/properties/"+p.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type = %q, want %q", got, want)
	}
	three, twelve, y1990, desc, owner := 3, 1200, 1990, "Quiet street", ownerID.String()
	want := propertyDoc{
		ID: p.ID, Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL", ZipCode: "62701",
		OwnerID: &owner, PropertyType: "residential", Status: "active", Bedrooms: &three, Bathrooms: "2.5",
		SquareFeet: &twelve, YearBuilt: &y1990, Description: &desc, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Version: 1,
	}
	if diff := diffProperty(p, want); diff != "" {
		t.Errorf("created property: %s", diff)
	}
	for name, ts := range map[string]string{"created_at": p.CreatedAt, "updated_at": p.UpdatedAt} {
		if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Location() != time.UTC {
			t.Errorf("%s = %q, want an RFC 3339 UTC timestamp", name, ts)
		}
	}
	after := s.MustWriteCounts(t)
	if got, want := after.events-before.events, 1; got != want {
		t.Errorf("events appended = %d, want %d", got, want)
	}
	if got, want := after.properties-before.properties, 1; got != want {
		t.Errorf("properties rows added = %d, want %d", got, want)
	}

	// The Location answers the same representation.
	resp = s.Do(t, token, http.MethodGet, resp.Header.Get("Location"), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(raw) {
		t.Errorf("GET Location = %s, want the create answer %s", got, raw)
	}
}

// diffProperty describes how got differs from want, or returns "".
func diffProperty(got, want propertyDoc) string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) == string(w) {
		return ""
	}
	return fmt.Sprintf("got %s, want %s", g, w)
}

func TestCreatePropertyBathrooms(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	cases := []struct {
		name string
		in   any
		want string // "" for a 422
	}{
		{"string", "2.5", "2.5"},
		{"number", 2.5, "2.5"},
		{"string with trailing zero", "2.50", "2.5"},
		{"two places, string", "2.55", ""},
		{"two places, number", json.Number("2.55"), ""},
		{"negative", "-0.5", ""},
		{"beyond NUMERIC(3,1)", "100.0", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"bathrooms": c.in}), nil)
			if c.want == "" {
				p := MustProblem(t, resp, http.StatusUnprocessableEntity)
				if got, want := p.fields(), []string{"bathrooms"}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
				s.MustNothingWritten(t, before, "refused bathrooms")
				return
			}
			MustStatus(t, resp, http.StatusCreated)
			var p propertyDoc
			MustDecode(t, resp, &p)
			if got := p.Bathrooms; got != c.want {
				t.Errorf("bathrooms = %#v, want the string %q", got, c.want)
			}
			read, _ := s.MustGetProperty(t, token, p.ID)
			if got := read.Bathrooms; got != c.want {
				t.Errorf("GET bathrooms = %#v, want the string %q", got, c.want)
			}
		})
	}
}

func TestCreatePropertyOwner(t *testing.T) {
	s := MustStack(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	_, manager := s.MustUser(t, domain.RoleManager)
	userID, user := s.MustUser(t, domain.RoleUser)
	otherID, other := s.MustUser(t, domain.RoleUser)
	ghost := uuid.New()

	cases := []struct {
		name       string
		token      string
		owner      any // nil: not sent
		wantStatus int
		wantOwner  *uuid.UUID
		wantField  string
	}{
		{"user without owner_id owns it", user, nil, http.StatusCreated, &userID, ""},
		{"user naming itself", user, userID, http.StatusCreated, &userID, ""},
		{"user naming someone else", user, otherID, http.StatusForbidden, nil, ""},
		{"admin naming a user", admin, otherID, http.StatusCreated, &otherID, ""},
		{"manager naming a user", manager, otherID, http.StatusCreated, &otherID, ""},
		{"admin naming no one", admin, nil, http.StatusCreated, nil, ""},
		{"admin naming a nonexistent user", admin, ghost, http.StatusUnprocessableEntity, nil, "owner_id"},
		{"manager naming a nonexistent user", manager, ghost, http.StatusUnprocessableEntity, nil, "owner_id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := propertyBody(nil)
			if c.owner != nil {
				body["owner_id"] = c.owner
			}
			before := s.MustWriteCounts(t)
			resp := s.Do(t, c.token, http.MethodPost, "/api/v1/properties", body, nil)
			if c.wantStatus != http.StatusCreated {
				p := MustProblem(t, resp, c.wantStatus)
				if c.wantField != "" {
					if got, want := p.fields(), []string{c.wantField}; !slices.Equal(got, want) {
						t.Errorf("errors[].field = %v, want %v", got, want)
					}
				}
				s.MustNothingWritten(t, before, c.name)
				return
			}
			MustStatus(t, resp, http.StatusCreated)
			var p propertyDoc
			MustDecode(t, resp, &p)
			switch {
			case c.wantOwner == nil && p.OwnerID != nil:
				t.Errorf("owner_id = %s, want null", *p.OwnerID)
			case c.wantOwner != nil && (p.OwnerID == nil || *p.OwnerID != c.wantOwner.String()):
				t.Errorf("owner_id = %v, want %s", p.OwnerID, c.wantOwner)
			}
			if c.wantOwner != nil && *c.wantOwner == otherID {
				s.MustGetProperty(t, other, p.ID) // the owner sees it
			}
		})
	}

	t.Run("a user may not hand its property to another", func(t *testing.T) {
		p := s.MustCreateProperty(t, user, propertyBody(nil))
		before := s.MustWriteCounts(t)
		resp := s.Do(t, user, http.MethodPatch, "/api/v1/properties/"+p.ID, map[string]any{"owner_id": otherID}, nil)
		MustProblem(t, resp, http.StatusForbidden)
		s.MustNothingWritten(t, before, "refused owner change")
	})
	t.Run("admin may not hand a property to a nonexistent user", func(t *testing.T) {
		p := s.MustCreateProperty(t, user, propertyBody(nil))
		before := s.MustWriteCounts(t)
		resp := s.Do(t, admin, http.MethodPatch, "/api/v1/properties/"+p.ID, map[string]any{"owner_id": ghost}, nil)
		prob := MustProblem(t, resp, http.StatusUnprocessableEntity)
		if got, want := prob.fields(), []string{"owner_id"}; !slices.Equal(got, want) {
			t.Errorf("errors[].field = %v, want %v", got, want)
		}
		s.MustNothingWritten(t, before, "refused owner change")
	})
}

func TestCreatePropertyRefusals(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	valid, err := json.Marshal(propertyBody(nil))
	if err != nil {
		t.Fatal(err)
	}
	huge := propertyBody(map[string]any{"description": strings.Repeat("x", 1<<20)})

	cases := []struct {
		name       string
		body       any
		header     map[string]string
		wantStatus int
		wantFields []string
	}{
		{"malformed JSON", `{"name": "Elm Court",`, nil, http.StatusBadRequest, nil},
		{"not JSON", `hello`, nil, http.StatusBadRequest, nil},
		{"empty body", ``, nil, http.StatusBadRequest, nil},
		{"JSON array", `[]`, nil, http.StatusBadRequest, nil},
		{"unknown field", propertyBody(map[string]any{"zipcode": "62701"}), nil, http.StatusBadRequest, nil},
		{"two JSON values", string(valid) + string(valid), nil, http.StatusBadRequest, nil},
		{"trailing garbage", string(valid) + ` x`, nil, http.StatusBadRequest, nil},
		{"wrong JSON type", propertyBody(map[string]any{"bedrooms": "three"}), nil, http.StatusBadRequest, nil},
		{"malformed id", propertyBody(map[string]any{"id": "not-a-uuid"}), nil, http.StatusBadRequest, nil},
		{"body over 1 MiB", huge, nil, http.StatusRequestEntityTooLarge, nil},
		{"body over 1 MiB with Idempotency-Key", huge, map[string]string{"Idempotency-Key": "big"}, http.StatusRequestEntityTooLarge, nil},
		{"text/plain", string(valid), map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, nil},
		{"no Content-Type", string(valid), map[string]string{"Content-Type": ""}, http.StatusUnsupportedMediaType, nil},
		{"application/xml", string(valid), map[string]string{"Content-Type": "application/xml"}, http.StatusUnsupportedMediaType, nil},
		{"missing required fields", map[string]any{}, nil, http.StatusUnprocessableEntity,
			[]string{"address", "city", "name", "property_type", "state", "zip_code"}},
		{"bad property_type", propertyBody(map[string]any{"property_type": "castle"}), nil, http.StatusUnprocessableEntity,
			[]string{"property_type"}},
		{"several bad fields", propertyBody(map[string]any{"name": "  ", "property_type": "castle", "bedrooms": -1}), nil,
			http.StatusUnprocessableEntity, []string{"bedrooms", "name", "property_type"}},
		{"bathrooms with two places", propertyBody(map[string]any{"bathrooms": "2.55"}), nil, http.StatusUnprocessableEntity,
			[]string{"bathrooms"}},
		{"nil id", propertyBody(map[string]any{"id": uuid.Nil}), nil, http.StatusUnprocessableEntity, []string{"id"}},
		{"validation refused with Idempotency-Key", map[string]any{"name": "x"}, map[string]string{"Idempotency-Key": "k"},
			http.StatusUnprocessableEntity, []string{"address", "city", "property_type", "state", "zip_code"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", c.body, c.header)
			p := MustProblem(t, resp, c.wantStatus)
			if c.wantFields != nil {
				if got := p.fields(); !slices.Equal(got, c.wantFields) {
					t.Errorf("errors[].field = %v, want %v", got, c.wantFields)
				}
				for _, e := range p.Errors {
					if e.Message == "" {
						t.Errorf("errors[] entry for %s has no message", e.Field)
					}
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
}

func TestListPropertiesBadQuery(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	s.MustCreateProperty(t, token, propertyBody(nil))
	noID := base64.RawURLEncoding.EncodeToString([]byte(`{"c":"2020-01-01T00:00:00Z"}`))

	for _, q := range []string{
		"limit=0", "limit=201", "limit=x", "limit=-1", "limit=1.5", "limit=%201",
		"cursor=" + url.QueryEscape("!!!"), "cursor=Zm9v", "cursor=" + noID, "owner_id=nope",
		"status=closed", "status=Active", "property_type=castle", "property_type=mixed-use",
	} {
		t.Run(q, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, token, http.MethodGet, "/api/v1/properties?"+q, nil, nil)
			MustProblem(t, resp, http.StatusBadRequest)
			s.MustNothingWritten(t, before, "GET ?"+q)
		})
	}
	for _, q := range []string{"limit=1", "limit=200", "limit="} {
		t.Run(q, func(t *testing.T) {
			if got, want := len(s.MustListProperties(t, token, q).Items), 1; got != want {
				t.Errorf("items = %d, want %d", got, want)
			}
		})
	}
}

func TestPropertyIfMatch(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, token, propertyBody(nil))
	path := "/api/v1/properties/" + p.ID

	resp := s.Do(t, token, http.MethodPatch, path, map[string]any{"city": "Shelbyville"}, map[string]string{"If-Match": `"1"`})
	MustStatus(t, resp, http.StatusOK)
	if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
		t.Errorf("PATCH ETag = %s, want %s", got, want)
	}
	var patched propertyDoc
	MustDecode(t, resp, &patched)
	if got, want := patched.Version, int64(2); got != want {
		t.Errorf("version = %d, want %d", got, want)
	}

	refusals := []struct {
		name, method, path string
		body               any
		ifMatch            string
	}{
		{"PATCH with a stale version", http.MethodPatch, path, map[string]any{"city": "Capital City"}, `"1"`},
		{"PATCH with a future version", http.MethodPatch, path, map[string]any{"city": "Capital City"}, `"3"`},
		{"PATCH with a malformed If-Match", http.MethodPatch, path, map[string]any{"city": "Capital City"}, `abc`},
		{"status with a stale version", http.MethodPost, path + "/status", map[string]any{"status": "inactive"}, `"1"`},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, token, c.method, c.path, c.body, map[string]string{"If-Match": c.ifMatch})
			MustProblem(t, resp, http.StatusPreconditionFailed)
			s.MustNothingWritten(t, before, c.name)
		})
	}

	got, tag := s.MustGetProperty(t, token, p.ID)
	if got.City != "Shelbyville" || got.Status != "active" || tag != `"2"` {
		t.Errorf("after refusals: city %q, status %q, ETag %s; want Shelbyville, active, \"2\"", got.City, got.Status, tag)
	}

	resp = s.Do(t, token, http.MethodPost, path+"/status", map[string]any{"status": "inactive"}, map[string]string{"If-Match": `"2"`})
	MustStatus(t, resp, http.StatusOK)
	if got, want := resp.Header.Get("ETag"), `"3"`; got != want {
		t.Errorf("status ETag = %s, want %s", got, want)
	}
	if _, tag := s.MustGetProperty(t, token, p.ID); tag != `"3"` {
		t.Errorf("GET ETag = %s, want \"3\"", tag)
	}
}

func TestCreatePropertyClientID(t *testing.T) {
	s := MustStack(t)
	_, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	id := uuid.New()
	body := propertyBody(map[string]any{"id": id, "bathrooms": "1.5"})

	resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", body, nil)
	MustStatus(t, resp, http.StatusCreated)
	var first propertyDoc
	MustDecode(t, resp, &first)
	if got, want := first.ID, id.String(); got != want {
		t.Fatalf("id = %s, want the client's %s", got, want)
	}
	if got, want := resp.Header.Get("Location"), "/api/v1/properties/"+id.String(); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}

	t.Run("same id and body again", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", body, nil)
		MustStatus(t, resp, http.StatusOK)
		var again propertyDoc
		MustDecode(t, resp, &again)
		if diff := diffProperty(again, first); diff != "" {
			t.Errorf("repeated create: %s", diff)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		s.MustNothingWritten(t, before, "repeated create")
	})
	t.Run("same id, another body", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"id": id, "name": "Oak Court"}), nil)
		if p := MustProblem(t, resp, http.StatusConflict); p.Type != problemBase+"conflict/already-exists" {
			t.Errorf("type = %q, want conflict/already-exists", p.Type)
		}
		s.MustNothingWritten(t, before, "conflicting create")
	})
	t.Run("same id and body from another owner", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenB, http.MethodPost, "/api/v1/properties", body, nil)
		p := MustProblem(t, resp, http.StatusConflict)
		if strings.Contains(p.Detail, "Elm Court") {
			t.Errorf("conflict leaks the other owner's property: %s", p.Detail)
		}
		s.MustNothingWritten(t, before, "another owner's create")
	})
	if got, _ := s.MustGetProperty(t, tokenA, id.String()); got.Name != "Elm Court" || got.Version != 1 {
		t.Errorf("property is now %q version %d, want Elm Court version 1", got.Name, got.Version)
	}
}

func TestIdempotencyKey(t *testing.T) {
	s := MustStack(t)
	_, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	body := propertyBody(map[string]any{"name": "Keyed Court"})
	key := map[string]string{"Idempotency-Key": "create-keyed-court"}

	first := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", body, key)
	MustStatus(t, first, http.StatusCreated)
	firstBody, err := io.ReadAll(first.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := first.Header.Get("Idempotent-Replayed"); got != "" {
		t.Errorf("first answer has Idempotent-Replayed: %s", got)
	}
	var created propertyDoc
	if err := json.Unmarshal(firstBody, &created); err != nil {
		t.Fatal(err)
	}

	t.Run("same key and body replays", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", body, key)
		MustStatus(t, resp, http.StatusCreated)
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(firstBody) {
			t.Errorf("replayed body = %s, want %s", got, firstBody)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		for _, h := range []string{"Location", "ETag", "Content-Type"} {
			if got, want := resp.Header.Get(h), first.Header.Get(h); got != want {
				t.Errorf("replayed %s = %q, want %q", h, got, want)
			}
		}
		s.MustNothingWritten(t, before, "replay")
	})
	t.Run("same key, another body", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"name": "Other Court"}), key)
		MustProblem(t, resp, http.StatusUnprocessableEntity)
		s.MustNothingWritten(t, before, "reused key")
	})
	t.Run("same key from another user is another request", func(t *testing.T) {
		resp := s.Do(t, tokenB, http.MethodPost, "/api/v1/properties", body, key)
		MustStatus(t, resp, http.StatusCreated)
		if got := resp.Header.Get("Idempotent-Replayed"); got != "" {
			t.Errorf("another user's request was replayed")
		}
		var p propertyDoc
		MustDecode(t, resp, &p)
		if p.ID == created.ID {
			t.Errorf("another user got the first user's property %s", p.ID)
		}
	})
	t.Run("a refused request does not burn its key", func(t *testing.T) {
		retry := map[string]string{"Idempotency-Key": "retry-after-fix"}
		before := s.MustWriteCounts(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"property_type": "castle"}), retry)
		MustProblem(t, resp, http.StatusUnprocessableEntity)
		s.MustNothingWritten(t, before, "refused keyed request")

		fixed := propertyBody(map[string]any{"name": "Fixed Court"})
		resp = s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", fixed, retry)
		MustStatus(t, resp, http.StatusCreated)
		if got := resp.Header.Get("Idempotent-Replayed"); got != "" {
			t.Errorf("corrected request was replayed")
		}
		var p propertyDoc
		MustDecode(t, resp, &p)
		if got, want := p.Name, "Fixed Court"; got != want {
			t.Errorf("name = %q, want %q", got, want)
		}
		before = s.MustWriteCounts(t)
		resp = s.Do(t, tokenA, http.MethodPost, "/api/v1/properties", fixed, retry)
		MustStatus(t, resp, http.StatusCreated)
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		s.MustNothingWritten(t, before, "replay of the corrected request")
	})
	t.Run("status command replays", func(t *testing.T) {
		path := "/api/v1/properties/" + created.ID + "/status"
		statusKey := map[string]string{"Idempotency-Key": "deactivate"}
		resp := s.Do(t, tokenA, http.MethodPost, path, map[string]any{"status": "inactive"}, statusKey)
		MustStatus(t, resp, http.StatusOK)
		want, _ := io.ReadAll(resp.Body)
		before := s.MustWriteCounts(t)
		resp = s.Do(t, tokenA, http.MethodPost, path, map[string]any{"status": "inactive"}, statusKey)
		MustStatus(t, resp, http.StatusOK)
		got, _ := io.ReadAll(resp.Body)
		if string(got) != string(want) {
			t.Errorf("replayed body = %s, want %s", got, want)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		s.MustNothingWritten(t, before, "status replay")
	})
}

func TestPropertyOwnerIsolation(t *testing.T) {
	s := MustStack(t)
	idA, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	_, manager := s.MustUser(t, domain.RoleManager)
	pa := s.MustCreateProperty(t, tokenA, propertyBody(map[string]any{"name": "A's"}))
	pb := s.MustCreateProperty(t, tokenB, propertyBody(map[string]any{"name": "B's"}))
	pathA := "/api/v1/properties/" + pa.ID
	nowhere := "/api/v1/properties/" + uuid.NewString()

	cases := []struct {
		name, method, suffix string
		body                 any
		header               map[string]string
	}{
		{"GET", http.MethodGet, "", nil, nil},
		{"PATCH", http.MethodPatch, "", map[string]any{"name": "Mine now"}, nil},
		{"PATCH with If-Match", http.MethodPatch, "", map[string]any{"name": "Mine now"}, map[string]string{"If-Match": `"9"`}},
		{"status", http.MethodPost, "/status", map[string]any{"status": "archived"}, nil},
		{"status with Idempotency-Key", http.MethodPost, "/status", map[string]any{"status": "archived"}, map[string]string{"Idempotency-Key": "x"}},
		{"history", http.MethodGet, "/history", nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			got := MustProblem(t, s.Do(t, tokenB, c.method, pathA+c.suffix, c.body, c.header), http.StatusNotFound)
			s.MustNothingWritten(t, before, "B's "+c.name+" of A's property")
			// The answer is the one for a property that does not exist at all.
			want := MustProblem(t, s.Do(t, tokenB, c.method, nowhere+c.suffix, c.body, c.header), http.StatusNotFound)
			if got.Title != want.Title || got.Detail != want.Detail || got.Type != want.Type {
				t.Errorf("404 for A's property %+v differs from 404 for no property %+v", got, want)
			}
		})
	}

	if got, tag := s.MustGetProperty(t, tokenA, pa.ID); got.Name != "A's" || got.Status != "active" || tag != `"1"` {
		t.Errorf("A's property became %q %q ETag %s", got.Name, got.Status, tag)
	}
	if got, want := s.MustListProperties(t, tokenB, "").ids(), []string{pb.ID}; !slices.Equal(got, want) {
		t.Errorf("B's list = %v, want only B's %v", got, want)
	}
	if got := s.MustListProperties(t, tokenB, "owner_id="+idA.String()).ids(); len(got) != 0 {
		t.Errorf("B's list filtered by A = %v, want empty", got)
	}
	if got, want := s.MustListProperties(t, tokenA, "").ids(), []string{pa.ID}; !slices.Equal(got, want) {
		t.Errorf("A's list = %v, want only A's %v", got, want)
	}
	for name, token := range map[string]string{"admin": admin, "manager": manager} {
		t.Run(name+" sees both", func(t *testing.T) {
			s.MustGetProperty(t, token, pa.ID)
			s.MustGetProperty(t, token, pb.ID)
			got := s.MustListProperties(t, token, "").ids()
			slices.Sort(got)
			if want := sortedIDs(pa, pb); !slices.Equal(got, want) {
				t.Errorf("list = %v, want %v", got, want)
			}
			resp := s.Do(t, token, http.MethodGet, pathA+"/history", nil, nil)
			MustStatus(t, resp, http.StatusOK)
		})
	}
}

func TestPatchPropertyMergeSemantics(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, token, propertyBody(map[string]any{
		"bedrooms": 3, "bathrooms": "2.5", "square_feet": 1200, "year_built": 1990, "description": "Quiet street",
	}))
	path := "/api/v1/properties/" + p.ID

	patch := func(t *testing.T, body any) propertyDoc {
		t.Helper()
		resp := s.Do(t, token, http.MethodPatch, path, body, nil)
		MustStatus(t, resp, http.StatusOK)
		var got propertyDoc
		MustDecode(t, resp, &got)
		if got, want := resp.Header.Get("ETag"), etag(got.Version); got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		return got
	}

	got := patch(t, map[string]any{"city": "Shelbyville", "bedrooms": 4})
	want := p
	want.City, want.Bedrooms, want.Version, want.UpdatedAt = "Shelbyville", got.Bedrooms, 2, got.UpdatedAt
	if got.Bedrooms == nil || *got.Bedrooms != 4 {
		t.Errorf("bedrooms = %v, want 4", got.Bedrooms)
	}
	if diff := diffProperty(got, want); diff != "" {
		t.Errorf("only city and bedrooms should change: %s", diff)
	}

	got = patch(t, map[string]any{"description": nil})
	want.Description, want.Version, want.UpdatedAt = nil, 3, got.UpdatedAt
	if diff := diffProperty(got, want); diff != "" {
		t.Errorf("description: null should clear it and nothing else: %s", diff)
	}

	t.Run("an empty patch writes nothing", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		got := patch(t, map[string]any{})
		if diff := diffProperty(got, want); diff != "" {
			t.Errorf("empty patch: %s", diff)
		}
		s.MustNothingWritten(t, before, "empty patch")
	})

	refusals := []struct {
		name       string
		body       any
		wantStatus int
		wantField  string
	}{
		{"name: null", map[string]any{"name": nil}, http.StatusUnprocessableEntity, "name"},
		{"property_type: null", map[string]any{"property_type": nil}, http.StatusUnprocessableEntity, "property_type"},
		{"bad property_type", map[string]any{"property_type": "castle"}, http.StatusUnprocessableEntity, "property_type"},
		{"bathrooms with two places", map[string]any{"bathrooms": "2.55"}, http.StatusUnprocessableEntity, "bathrooms"},
		{"unknown field", map[string]any{"nmae": "x"}, http.StatusBadRequest, ""},
		{"status is not a detail", map[string]any{"status": "archived"}, http.StatusBadRequest, ""},
		{"malformed JSON", `{"city":`, http.StatusBadRequest, ""},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			prob := MustProblem(t, s.Do(t, token, http.MethodPatch, path, c.body, nil), c.wantStatus)
			if c.wantField != "" {
				if got, want := prob.fields(), []string{c.wantField}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
	if got, _ := s.MustGetProperty(t, token, p.ID); diffProperty(got, want) != "" {
		t.Errorf("after refusals: %s", diffProperty(got, want))
	}
}

func TestPropertyStatus(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, token, propertyBody(nil))
	path := "/api/v1/properties/" + p.ID + "/status"

	steps := []struct {
		to          string
		wantVersion int64
	}{
		{"inactive", 2}, {"archived", 3}, {"active", 4}, {"archived", 5}, {"inactive", 6}, {"active", 7},
	}
	for _, step := range steps {
		resp := s.Do(t, token, http.MethodPost, path, map[string]any{"status": step.to}, nil)
		MustStatus(t, resp, http.StatusOK)
		var got propertyDoc
		MustDecode(t, resp, &got)
		if got.Status != step.to || got.Version != step.wantVersion {
			t.Errorf("to %s: status %q version %d, want %q version %d", step.to, got.Status, got.Version, step.to, step.wantVersion)
		}
		if got, want := resp.Header.Get("ETag"), etag(step.wantVersion); got != want {
			t.Errorf("to %s: ETag = %s, want %s", step.to, got, want)
		}
	}

	t.Run("same status again", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, token, http.MethodPost, path, map[string]any{"status": "active"}, nil)
		MustStatus(t, resp, http.StatusOK)
		var got propertyDoc
		MustDecode(t, resp, &got)
		if got.Status != "active" || got.Version != 7 {
			t.Errorf("status %q version %d, want active version 7", got.Status, got.Version)
		}
		if got, want := resp.Header.Get("ETag"), `"7"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		s.MustNothingWritten(t, before, "same status")
	})

	refusals := []struct {
		name       string
		body       any
		wantStatus int
	}{
		{"unknown status", map[string]any{"status": "deleted"}, http.StatusUnprocessableEntity},
		{"upper-case status", map[string]any{"status": "ACTIVE"}, http.StatusUnprocessableEntity},
		{"no status", map[string]any{}, http.StatusUnprocessableEntity},
		{"unknown field", map[string]any{"status": "inactive", "reason": "x"}, http.StatusBadRequest},
		{"status not a string", map[string]any{"status": 1}, http.StatusBadRequest},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			prob := MustProblem(t, s.Do(t, token, http.MethodPost, path, c.body, nil), c.wantStatus)
			if c.wantStatus == http.StatusUnprocessableEntity {
				if got, want := prob.fields(), []string{"status"}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
}

func TestListPropertiesFilters(t *testing.T) {
	s := MustStack(t)
	idA, tokenA := s.MustUser(t, domain.RoleUser)
	idB, _ := s.MustUser(t, domain.RoleUser)
	_, admin := s.MustUser(t, domain.RoleAdmin)

	create := func(owner uuid.UUID, city, state, typ, status string) propertyDoc {
		t.Helper()
		p := s.MustCreateProperty(t, admin, propertyBody(map[string]any{
			"owner_id": owner, "city": city, "state": state, "property_type": typ,
		}))
		if status != "active" {
			resp := s.Do(t, admin, http.MethodPost, "/api/v1/properties/"+p.ID+"/status", map[string]any{"status": status}, nil)
			MustStatus(t, resp, http.StatusOK)
		}
		return p
	}
	p1 := create(idA, "Springfield", "IL", "residential", "active")
	p2 := create(idA, "Chicago", "IL", "commercial", "active")
	p3 := create(idB, "Springfield", "MO", "land", "active")
	p4 := create(idB, "Austin", "TX", "residential", "inactive")
	p5 := create(idA, "Peoria", "IL", "mixed_use", "archived")

	cases := []struct {
		token, query string
		want         []propertyDoc
	}{
		{admin, "", []propertyDoc{p1, p2, p3, p4, p5}},
		{admin, "status=active", []propertyDoc{p1, p2, p3}},
		{admin, "status=inactive", []propertyDoc{p4}},
		{admin, "status=archived", []propertyDoc{p5}},
		{admin, "city=Springfield", []propertyDoc{p1, p3}},
		{admin, "city=Nowhere", nil},
		{admin, "state=IL", []propertyDoc{p1, p2, p5}},
		{admin, "state=TX", []propertyDoc{p4}},
		{admin, "property_type=residential", []propertyDoc{p1, p4}},
		{admin, "property_type=land", []propertyDoc{p3}},
		{admin, "owner_id=" + idA.String(), []propertyDoc{p1, p2, p5}},
		{admin, "owner_id=" + idB.String(), []propertyDoc{p3, p4}},
		{admin, "city=Springfield&state=IL", []propertyDoc{p1}},
		{admin, "owner_id=" + idA.String() + "&status=active&property_type=commercial", []propertyDoc{p2}},
		{tokenA, "", []propertyDoc{p1, p2, p5}},
		{tokenA, "city=Springfield", []propertyDoc{p1}},
		{tokenA, "state=IL&status=archived", []propertyDoc{p5}},
		{tokenA, "owner_id=" + idB.String(), nil},
	}
	for _, c := range cases {
		who := "admin"
		if c.token == tokenA {
			who = "owner A"
		}
		t.Run(who+"?"+c.query, func(t *testing.T) {
			page := s.MustListProperties(t, c.token, c.query)
			got := page.ids()
			slices.Sort(got)
			if want := sortedIDs(c.want...); !slices.Equal(got, want) {
				t.Errorf("ids = %v, want %v", got, want)
			}
			if page.NextCursor != nil {
				t.Errorf("next_cursor = %q, want null", *page.NextCursor)
			}
		})
	}
}

func TestListPropertiesPagination(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	var created []string
	for i := range 5 {
		created = append(created, s.MustCreateProperty(t, token, propertyBody(map[string]any{"name": fmt.Sprintf("P%d", i)})).ID)
	}

	all := s.MustListProperties(t, token, "limit=200")
	if got := all.ids(); !slices.Equal(got, created) {
		t.Fatalf("full list = %v, want creation order %v", got, created)
	}

	walk := func(t *testing.T, limit int, between func(page int)) ([]string, []int) {
		t.Helper()
		var ids []string
		var sizes []int
		cursor := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatalf("pagination does not end")
			}
			q := fmt.Sprintf("limit=%d", limit)
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := s.MustListProperties(t, token, q)
			ids = append(ids, p.ids()...)
			sizes = append(sizes, len(p.Items))
			if p.NextCursor == nil {
				return ids, sizes
			}
			if *p.NextCursor == "" {
				t.Fatalf("next_cursor is an empty string, want null or a cursor")
			}
			cursor = *p.NextCursor
			if between != nil {
				between(page)
			}
		}
	}

	ids, sizes := walk(t, 2, nil)
	if !slices.Equal(ids, created) {
		t.Errorf("pages of 2 = %v, want each of %v exactly once in order", ids, created)
	}
	if want := []int{2, 2, 1}; !slices.Equal(sizes, want) {
		t.Errorf("page sizes = %v, want %v", sizes, want)
	}

	ids, sizes = walk(t, 5, nil)
	if !slices.Equal(ids, created) || !slices.Equal(sizes, []int{5}) {
		t.Errorf("limit=5 over 5: ids %v sizes %v, want one full page and next_cursor null", ids, sizes)
	}

	// A property created while a client pages is neither repeated nor displaces others.
	var late string
	ids, _ = walk(t, 2, func(page int) {
		if page == 0 {
			late = s.MustCreateProperty(t, token, propertyBody(map[string]any{"name": "Late"})).ID
		}
	})
	if want := append(slices.Clone(created), late); !slices.Equal(ids, want) {
		t.Errorf("paging during a create = %v, want %v", ids, want)
	}
}

// compactJSON is raw without insignificant space, or raw itself when it is not JSON.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

var ulidPattern = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

func TestPropertyHistory(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)
	adminID, admin := s.MustUser(t, domain.RoleAdmin)
	p := s.MustCreateProperty(t, token, propertyBody(nil))
	path := "/api/v1/properties/" + p.ID
	MustStatus(t, s.Do(t, token, http.MethodPatch, path, map[string]any{"city": "Shelbyville"}, nil), http.StatusOK)
	MustStatus(t, s.Do(t, admin, http.MethodPost, path+"/status", map[string]any{"status": "inactive"}, nil), http.StatusOK)

	before := s.MustWriteCounts(t)
	resp := s.Do(t, token, http.MethodGet, path+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var history struct {
		Items []struct {
			EventID    string          `json:"event_id"`
			Type       string          `json:"type"`
			Version    int64           `json:"version"`
			RecordedAt string          `json:"recorded_at"`
			ActorID    *string         `json:"actor_id"`
			Data       json.RawMessage `json:"data"`
		} `json:"items"`
	}
	MustDecode(t, resp, &history)
	s.MustNothingWritten(t, before, "GET history")

	want := []struct {
		typ   string
		actor uuid.UUID
		data  string // a fragment of data
	}{
		{"PropertyRegistered", userID, `"property_id":"` + p.ID + `"`},
		{"PropertyDetailsChanged", userID, `"city":"Shelbyville"`},
		{"PropertyStatusChanged", adminID, `"to":"inactive"`},
	}
	if got := len(history.Items); got != len(want) {
		t.Fatalf("history has %d items, want %d: %+v", got, len(want), history.Items)
	}
	seen := map[string]bool{}
	var last time.Time
	for i, item := range history.Items {
		w := want[i]
		if got, want := item.Version, int64(i+1); got != want {
			t.Errorf("item %d: version = %d, want %d", i, got, want)
		}
		if got := item.Type; got != w.typ {
			t.Errorf("item %d: type = %q, want %q", i, got, w.typ)
		}
		if !ulidPattern.MatchString(item.EventID) || seen[item.EventID] {
			t.Errorf("item %d: event_id = %q, want a fresh 26-character ULID", i, item.EventID)
		}
		seen[item.EventID] = true
		at, err := time.Parse(time.RFC3339Nano, item.RecordedAt)
		if err != nil || at.Location() != time.UTC {
			t.Errorf("item %d: recorded_at = %q, want RFC 3339 UTC", i, item.RecordedAt)
		}
		if at.Before(last) {
			t.Errorf("item %d: recorded_at %s before the previous %s", i, at, last)
		}
		last = at
		if item.ActorID == nil || *item.ActorID != w.actor.String() {
			t.Errorf("item %d: actor_id = %v, want %s", i, item.ActorID, w.actor)
		}
		if !json.Valid(item.Data) || !strings.HasPrefix(string(item.Data), "{") {
			t.Errorf("item %d: data = %s, want a JSON object", i, item.Data)
		}
		if !strings.Contains(compactJSON(item.Data), w.data) {
			t.Errorf("item %d: data = %s, want it to hold %s", i, item.Data, w.data)
		}
	}
	if !strings.Contains(compactJSON(history.Items[0].Data), `"owner_id":"`+userID.String()+`"`) {
		t.Errorf("registration data = %s, want owner_id %s", history.Items[0].Data, userID)
	}

	MustProblem(t, s.Do(t, token, http.MethodGet, "/api/v1/properties/"+uuid.NewString()+"/history", nil, nil), http.StatusNotFound)
}

func TestPropertyReadYourWrites(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, token, propertyBody(nil))
	path := "/api/v1/properties/" + p.ID

	for i := range 10 {
		city := fmt.Sprintf("City %d", i)
		resp := s.Do(t, token, http.MethodPatch, path, map[string]any{"city": city}, map[string]string{"If-Match": etag(int64(i + 1))})
		MustStatus(t, resp, http.StatusOK)

		got, tag := s.MustGetProperty(t, token, p.ID)
		if got.City != city || tag != etag(int64(i+2)) {
			t.Fatalf("GET right after PATCH %d: city %q ETag %s, want %q %s", i, got.City, tag, city, etag(int64(i+2)))
		}
		page := s.MustListProperties(t, token, "city="+url.QueryEscape(city))
		if ids := page.ids(); !slices.Equal(ids, []string{p.ID}) {
			t.Fatalf("list ?city=%s right after PATCH %d = %v, want [%s]", city, i, ids, p.ID)
		}
		if v := page.Items[0].Version; v != int64(i+2) {
			t.Fatalf("list right after PATCH %d: version %d, want %d", i, v, i+2)
		}
	}

	MustStatus(t, s.Do(t, token, http.MethodPost, path+"/status", map[string]any{"status": "archived"}, nil), http.StatusOK)
	if ids := s.MustListProperties(t, token, "status=archived").ids(); !slices.Equal(ids, []string{p.ID}) {
		t.Errorf("list ?status=archived right after the status change = %v, want [%s]", ids, p.ID)
	}
	q := s.MustCreateProperty(t, token, propertyBody(map[string]any{"name": "Fresh"}))
	if ids := s.MustListProperties(t, token, "status=active").ids(); !slices.Equal(ids, []string{q.ID}) {
		t.Errorf("list ?status=active right after a create = %v, want [%s]", ids, q.ID)
	}
}

func TestUnknownRouteAndMalformedID(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	cases := []struct{ method, path string }{
		{http.MethodGet, "/api/v1/no-such-thing"},
		{http.MethodGet, "/api/v2/properties"},
		{http.MethodGet, "/nowhere"},
		{http.MethodGet, "/api/v1/properties/not-a-uuid"},
		{http.MethodGet, "/api/v1/properties/123"},
		{http.MethodPatch, "/api/v1/properties/not-a-uuid"},
		{http.MethodPost, "/api/v1/properties/not-a-uuid/status"},
		{http.MethodGet, "/api/v1/properties/not-a-uuid/history"},
		{http.MethodGet, "/api/v1/properties/" + uuid.NewString()},
		{http.MethodPatch, "/api/v1/properties/" + uuid.NewString()},
		{http.MethodPost, "/api/v1/properties/" + uuid.NewString() + "/status"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			var body any
			switch c.method {
			case http.MethodPatch:
				body = map[string]any{"city": "Shelbyville"}
			case http.MethodPost:
				body = map[string]any{"status": "inactive"}
			}
			before := s.MustWriteCounts(t)
			MustProblem(t, s.Do(t, token, c.method, c.path, body, nil), http.StatusNotFound)
			s.MustNothingWritten(t, before, c.method+" "+c.path)
		})
	}
}

// TestIdempotencyKeyRacingRepeats sends one keyed create many times at once: the
// repeats wait for the first at the key's row, so the command runs once and
// every answer is the first one, byte for byte.
func TestIdempotencyKeyRacingRepeats(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	body := propertyBody(map[string]any{"name": "Raced Court"})
	key := map[string]string{"Idempotency-Key": "create-raced-court"}
	before := s.MustEventCount(t)

	const repeats = 8
	var wg sync.WaitGroup
	statuses := make([]int, repeats)
	bodies := make([]string, repeats)
	for i := range repeats {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", body, key)
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
			}
			statuses[i], bodies[i] = resp.StatusCode, string(got)
		}()
	}
	wg.Wait()
	for i := range repeats {
		if statuses[i] != http.StatusCreated || bodies[i] != bodies[0] {
			t.Errorf("answer %d = %d %s, want 201 %s", i, statuses[i], bodies[i], bodies[0])
		}
	}
	if got := s.MustEventCount(t) - before; got != 1 {
		t.Errorf("%d racing repeats of one keyed create appended %d events, want 1", repeats, got)
	}
}

// TestIdempotencyKeyFreedByARequestCutShort stops a keyed create mid-way (its
// client goes away while the command waits for a lock): its unit of work rolls
// back, key included, so the retry runs the command, once, instead of finding
// the key "in progress".
func TestIdempotencyKeyFreedByARequestCutShort(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	body := propertyBody(map[string]any{"name": "Interrupted Court"})
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	before := s.MustEventCount(t)

	// Hold the properties table so that the command blocks inside its unit.
	ctx := context.Background()
	blocker, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blocker.Exec(ctx, `LOCK TABLE properties IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	cut, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(cut, http.MethodPost, s.http.URL+"/api/v1/properties", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "cut-short")
	done := make(chan error, 1)
	go func() {
		resp, err := s.http.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Wait until the request holds its key and waits on the table.
	for {
		var waiting bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%properties%')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cut-short request answered")
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", body, map[string]string{"Idempotency-Key": "cut-short"})
	MustStatus(t, resp, http.StatusCreated)
	if got := resp.Header.Get("Idempotent-Replayed"); got != "" {
		t.Errorf("the retry was a replay (%s): the cut-short request left an answer", got)
	}
	if got := s.MustEventCount(t) - before; got != 1 {
		t.Errorf("cut-short request and its retry appended %d events, want 1", got)
	}
}
