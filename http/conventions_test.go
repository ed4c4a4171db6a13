package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/assetanchor/assetanchor/domain"
)

// problemDoc is a problem document as a client reads it.
type problemDoc struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Field   string `json:"field"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

// codes maps each field named in errors to its code.
func (p problemDoc) codes() map[string]string {
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Code
	}
	return out
}

// problemTypeStatus is the status of every problem type the server answers; the
// OpenAPI document lists exactly these (TestOpenAPIProblemTypes).
func problemTypeStatus() map[string]int {
	m := map[string]int{
		typeBadRequest: 400, typeUnauthorized: 401, typeForbidden: 403, typeNotFound: 404,
		typeMethodNotAllowed: 405, typeConflict: 409, typePreconditionFailed: 412,
		typePayloadTooLarge: 413, typeUnsupportedMediaType: 415, typeValidation: 422,
		typeRateLimited: 429, typeInternal: 500, typeUnavailable: 503, typeConstraintConflict: 409,
	}
	for _, c := range conflictReasons {
		m[typeConflict+"/"+c.reason] = http.StatusConflict
	}
	return m
}

// fields lists the fields named in errors, sorted.
func (p problemDoc) fields() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Field
	}
	slices.Sort(out)
	return out
}

// internalErrorText are fragments of server internals that must never reach a client.
var internalErrorText = []string{"SQLSTATE", "pgx", "sql:", "pq:", "runtime error", "goroutine", "panic", ".go:", "context deadline"}

// MustProblem checks that resp is a problem document with status want that
// follows the API's conventions, and returns it.
func MustProblem(tb testing.TB, resp *http.Response, want int) problemDoc {
	tb.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read problem body: %v", err)
	}
	where := resp.Request.Method + " " + resp.Request.URL.RequestURI()
	if resp.StatusCode != want {
		tb.Fatalf("%s: status %d, want %d: %s", where, resp.StatusCode, want, raw)
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		tb.Errorf("%s: Content-Type = %q, want application/problem+json", where, resp.Header.Get("Content-Type"))
	}
	for _, frag := range internalErrorText {
		if bytes.Contains(bytes.ToLower(raw), bytes.ToLower([]byte(frag))) {
			tb.Errorf("%s: problem body leaks internal text %q: %s", where, frag, raw)
		}
	}
	var p problemDoc
	if err := json.Unmarshal(raw, &p); err != nil {
		tb.Fatalf("%s: decode problem %s: %v", where, raw, err)
	}
	if got := p.Status; got != want {
		tb.Errorf("%s: problem status = %d, want %d (the HTTP status)", where, got, want)
	}
	if p.Title == "" {
		tb.Errorf("%s: problem has no title: %s", where, raw)
	}
	if got, ok := problemTypeStatus()[p.Type]; !ok || got != want {
		tb.Errorf("%s: problem type %q is not a documented type of status %d: %s", where, p.Type, want, raw)
	}
	if (want == http.StatusUnprocessableEntity) != (len(p.Errors) > 0) {
		tb.Errorf("%s: a %d with %d field errors; errors belong to every 422 and nothing else: %s", where, want, len(p.Errors), raw)
	}
	for _, e := range p.Errors {
		if e.Field == "" || e.Message == "" || !slices.Contains(domain.FieldCodes, e.Code) {
			tb.Errorf("%s: field error %+v wants a field, a message and one of the codes %v", where, e, domain.FieldCodes)
		}
	}
	if got, want := p.RequestID, resp.Header.Get("X-Request-Id"); got == "" || got != want {
		tb.Errorf("%s: problem request_id = %q, want the X-Request-Id header %q", where, got, want)
	}
	if got, want := p.Instance, resp.Request.URL.Path; got != want {
		tb.Errorf("%s: problem instance = %q, want %q", where, got, want)
	}
	if resp.Header.Get("ETag") != "" {
		tb.Errorf("%s: a refusal answers ETag %s", where, resp.Header.Get("ETag"))
	}
	return p
}

// writeCounts is everything a request could write.
type writeCounts struct {
	events, properties, users, sessions, idempotencyKeys int
}

// MustWriteCounts counts the rows of the event store and of the tables a
// property or auth request could write.
func (s *stack) MustWriteCounts(tb testing.TB) writeCounts {
	tb.Helper()
	var c writeCounts
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM events), (SELECT count(*) FROM properties), (SELECT count(*) FROM users),
		(SELECT count(*) FROM user_sessions), (SELECT count(*) FROM idempotency_keys)`).
		Scan(&c.events, &c.properties, &c.users, &c.sessions, &c.idempotencyKeys)
	if err != nil {
		tb.Fatal(err)
	}
	if got := s.MustEventCount(tb); got != c.events {
		tb.Fatalf("event counts disagree: %d and %d", got, c.events)
	}
	return c
}

// MustNothingWritten fails when anything was written since before was taken.
func (s *stack) MustNothingWritten(tb testing.TB, before writeCounts, what string) {
	tb.Helper()
	if got := s.MustWriteCounts(tb); got != before {
		tb.Errorf("%s wrote something: counts (events, properties, users, sessions, idempotency keys) went from %+v to %+v",
			what, before, got)
	}
}

// TestProblemConventions provokes every refusal the property and auth endpoints
// know and checks each answer is a well-formed problem document.
func TestProblemConventions(t *testing.T) {
	s := MustStack(t)
	_, tokenA := s.MustUser(t, domain.RoleUser)
	idB, tokenB := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, tokenA, propertyBody(nil))
	path := "/api/v1/properties/" + p.ID

	cases := []struct {
		name   string
		token  string
		method string
		path   string
		body   any
		header map[string]string
		want   int
	}{
		{"malformed JSON", tokenA, http.MethodPost, "/api/v1/properties", `{"name":`, nil, http.StatusBadRequest},
		{"unknown field", tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"nmae": "x"}), nil, http.StatusBadRequest},
		{"wrong JSON type", tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"owner_id": 7}), nil, http.StatusBadRequest},
		{"bad limit", tokenA, http.MethodGet, "/api/v1/properties?limit=0", nil, nil, http.StatusBadRequest},
		{"bad cursor", tokenA, http.MethodGet, "/api/v1/properties?cursor=%21%21", nil, nil, http.StatusBadRequest},
		{"no token", "", http.MethodGet, "/api/v1/properties", nil, nil, http.StatusUnauthorized},
		{"bad login", "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": "wrong password!"}, nil, http.StatusUnauthorized},
		{"role may not", tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"owner_id": idB}), nil, http.StatusForbidden},
		{"unknown route", tokenA, http.MethodGet, "/api/v1/no-such-thing", nil, nil, http.StatusNotFound},
		{"malformed id", tokenA, http.MethodGet, "/api/v1/properties/not-a-uuid", nil, nil, http.StatusNotFound},
		{"other owner's property", tokenB, http.MethodGet, path, nil, nil, http.StatusNotFound},
		{"method not allowed", tokenA, http.MethodDelete, path, nil, nil, http.StatusMethodNotAllowed},
		{"id taken", tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"id": p.ID, "name": "Other"}), nil, http.StatusConflict},
		{"stale If-Match", tokenA, http.MethodPatch, path, map[string]any{"city": "Shelbyville"}, map[string]string{"If-Match": `"7"`}, http.StatusPreconditionFailed},
		{"too large", tokenA, http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"description": strings.Repeat("x", 1<<20)}), nil, http.StatusRequestEntityTooLarge},
		{"wrong content type", tokenA, http.MethodPost, "/api/v1/properties", `{}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"invalid fields", tokenA, http.MethodPost, "/api/v1/properties", map[string]any{}, nil, http.StatusUnprocessableEntity},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, c.token, c.method, c.path, c.body, c.header)
			p := MustProblem(t, resp, c.want)
			if got, want := p.Title, http.StatusText(c.want); got != want {
				t.Errorf("title = %q, want %q", got, want)
			}
			if c.want == http.StatusUnprocessableEntity && len(p.Errors) == 0 {
				t.Errorf("422 without errors[]")
			}
			if c.want == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
}

// TestNoServerErrorForClientInput sends values that pass JSON decoding but not the
// database's column types: each must be refused as a client error, write
// nothing, and leave the service working.
func TestNoServerErrorForClientInput(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, token, propertyBody(nil))

	cases := []struct {
		name      string
		method    string
		path      string
		body      any
		wantField string
		wantCode  string
	}{
		{"NUL in name", http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"name": "Elm\u0000Court"}), "name", "invalid_format"},
		{"NUL in description", http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"description": "a\u0000b"}), "description", "invalid_format"},
		{"square_feet beyond INTEGER", http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"square_feet": 3_000_000_000}), "square_feet", "out_of_range"},
		{"bathrooms beyond NUMERIC(3,1)", http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"bathrooms": "100"}), "bathrooms", "out_of_range"},
		{"name longer than its column", http.MethodPost, "/api/v1/properties", propertyBody(map[string]any{"name": strings.Repeat("é", 256)}), "name", "too_long"},
		{"patch NUL in city", http.MethodPatch, "/api/v1/properties/" + p.ID, map[string]any{"city": "x\u0000"}, "city", "invalid_format"},
		{"patch square_feet beyond INTEGER", http.MethodPatch, "/api/v1/properties/" + p.ID, map[string]any{"square_feet": 2_147_483_648}, "square_feet", "out_of_range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, token, c.method, c.path, c.body, nil)
			if resp.StatusCode >= 500 {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d for client input: %s", resp.StatusCode, body)
			}
			prob := MustProblem(t, resp, http.StatusUnprocessableEntity)
			if got, want := prob.fields(), []string{c.wantField}; !slices.Equal(got, want) {
				t.Errorf("errors[].field = %v, want %v", got, want)
			}
			if got := prob.codes()[c.wantField]; got != c.wantCode {
				t.Errorf("errors[].code = %q, want %q", got, c.wantCode)
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
	// The service still works: the read model is not stuck behind a bad event.
	s.MustCreateProperty(t, token, propertyBody(nil))
}
