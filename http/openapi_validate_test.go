package http

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Every answer a test receives through the stack's client is checked against
// openapi.json by kin-openapi (MustStack installs validatingTransport): status,
// the headers the document requires and their schemas, the Content-Type and the
// body's schema, problems included. Benchmarks skip it: they time the server.

// openAPIRouter is built once per test binary: loading the document costs far
// more than matching a request.
var openAPIRouter = sync.OnceValues(func() (*openAPIRoutes, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	doc.Servers = nil // match on the path alone: httptest listens on a random port
	closeResponseObjects(doc)
	// The legacy router, unlike gorillamux, names a miss: an unknown path or
	// a known path's unknown method, which the answers differ on (404, 405).
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route openapi.json: %w", err)
	}
	shared := func(name string, status int) *routers.Route {
		return &routers.Route{Spec: doc, Method: "any", Path: "any", Operation: &openapi3.Operation{
			Responses: openapi3.NewResponses(openapi3.WithStatus(status, doc.Components.Responses[name])),
		}}
	}
	return &openAPIRoutes{
		router:           router,
		notFound:         shared("NotFound", http.StatusNotFound),
		methodNotAllowed: shared("MethodNotAllowed", http.StatusMethodNotAllowed),
	}, nil
})

type openAPIRoutes struct {
	router routers.Router
	// An answer to a path or method the document does not list must be its
	// shared 404 or 405 answer.
	notFound, methodNotAllowed *routers.Route
}

// find names req's operation, or the shared answer to a path or a method the
// document does not list. The legacy router tells the two apart only for paths
// without parameters, so a miss is retried with the other methods.
func (r *openAPIRoutes) find(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := r.router.FindRoute(req)
	var routeErr *routers.RouteError
	if !errors.As(err, &routeErr) {
		return route, params, err
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := req.Clone(req.Context())
		other.Method = m
		if _, _, err := r.router.FindRoute(other); err == nil {
			return r.methodNotAllowed, nil, nil
		}
	}
	return r.notFound, nil, nil
}

// closeResponseObjects makes every object schema that names its properties and
// says nothing of others refuse others, in this test copy only. The document
// leaves answer objects open so that clients tolerate fields added later; the
// tests close them so that the server never answers a field the document does
// not name. No schema composes objects (allOf), so closing each is sound.
func closeResponseObjects(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			s.AdditionalProperties.Has = openapi3.Ptr(false)
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.OneOf, s.AnyOf, s.AllOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	for _, s := range doc.Components.Schemas {
		walk(s)
	}
}

// validatingTransport fails tb on any answer openapi.json does not allow.
type validatingTransport struct {
	base http.RoundTripper
	tb   testing.TB
}

func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if err := validateAnswer(req, resp); err != nil {
		v.tb.Errorf("%s %s answered %d, which openapi.json does not allow: %v", req.Method, req.URL.RequestURI(), resp.StatusCode, err)
	}
	return resp, nil
}

// validateAnswer checks resp against the operation req names. A JSON, CSV or
// plain-text body is read whole and put back for the test; other bodies
// (document bytes, which tests may stream or abandon) are left unread, and only
// their Content-Type is checked.
func validateAnswer(req *http.Request, resp *http.Response) error {
	routes, err := openAPIRouter()
	if err != nil {
		return err
	}
	route, params, err := routes.find(req)
	if err != nil {
		return err
	}
	// kin-openapi skips HEAD answers; their operations document headers and no
	// body, so check them as if they answered another method.
	checked := req
	if req.Method == http.MethodHead {
		checked = req.Clone(req.Context())
		checked.Method = "HEAD-as-validated"
	}
	status := resp.StatusCode
	if skipped(status) {
		// kin-openapi passes a 304 (and redirects) unchecked: check it as the
		// 200 of an operation whose 200 is the documented answer.
		documented := route.Operation.Responses.Status(status)
		if documented == nil {
			return fmt.Errorf("status %d is not documented", status)
		}
		route = &routers.Route{Spec: route.Spec, Method: route.Method, Path: route.Path, Operation: &openapi3.Operation{
			Responses: openapi3.NewResponses(openapi3.WithStatus(http.StatusOK, documented)),
		}}
		status = http.StatusOK
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, SchemaValidationOptions: stringFormats}
	// Say where and what, without the schema and value kin-openapi prints whole.
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		msg := fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
		if err.Origin != nil {
			msg += ": " + err.Origin.Error()
		}
		switch err.Value.(type) {
		case map[string]any, []any:
		default:
			msg += fmt.Sprintf(" (value %.100q)", fmt.Sprint(err.Value))
		}
		return msg
	})
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: checked, PathParams: params, Route: route},
		Status:                 status,
		Header:                 resp.Header,
		Options:                opts,
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case req.Method == http.MethodHead:
		// No body, though Content-Type names the GET's; the shared 404 and
		// 405 document one, which a HEAD answer leaves out.
		opts.ExcludeResponseBody = true
	case slices.Contains([]string{"application/json", "application/problem+json", "text/csv", "text/plain"}, mt):
		body, err := bufferBody(resp)
		if err != nil {
			return nil // the test sees the read error itself
		}
		input.SetBodyBytes(body)
	default:
		opts.ExcludeResponseBody = true
		if err := mustDocumentMediaType(route, resp); err != nil {
			return err
		}
	}
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// stringFormats checks the formats the document uses that kin-openapi leaves
// unchecked unless asked (it checks date, date-time and int64 by itself).
var stringFormats = []openapi3.SchemaValidationOption{
	// The layout only, as JSON Schema's uuid: an audit row's id is its event's
	// ULID, 128 bits with no UUID version.
	openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)),
	openapi3.WithStringFormatValidator("email", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForEmail)),
	openapi3.WithStringFormatValidator("uri", openapi3.NewCallbackValidator(func(v string) error {
		if u, err := url.Parse(v); err != nil || !u.IsAbs() {
			return fmt.Errorf("not an absolute URI")
		}
		return nil
	})),
	openapi3.WithStringFormatValidator("uri-reference", openapi3.NewCallbackValidator(func(v string) error {
		_, err := url.Parse(v)
		return err
	})),
}

// skipped reports the statuses openapi3filter.ValidateResponse does not check.
func skipped(status int) bool {
	switch status {
	case http.StatusNotModified, http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// bufferBody reads resp's body and puts it back, unchanged, for the test; it
// returns the body decompressed when the answer is gzipped.
func bufferBody(resp *http.Response) ([]byte, error) {
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), errReader{err}))
	if err != nil {
		return nil, err
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return raw, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return io.ReadAll(zr)
}

// errReader repeats the error the body's first reading met, if any.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// mustDocumentMediaType checks the Content-Type of an answer whose body is not
// validated: kin-openapi only checks it with the body.
func mustDocumentMediaType(route *routers.Route, resp *http.Response) error {
	response := route.Operation.Responses.Status(resp.StatusCode)
	if response == nil || response.Value == nil || len(response.Value.Content) == 0 {
		return nil // ValidateResponse reports an undocumented status
	}
	ct := resp.Header.Get("Content-Type")
	if response.Value.Content.Get(ct) == nil {
		return fmt.Errorf("%d answer with Content-Type %q, documented %v", resp.StatusCode, ct, slices.Sorted(maps.Keys(response.Value.Content)))
	}
	return nil
}

// TestOpenAPIValidatorRefuses: the validation every answer goes through refuses
// what the document does not allow, and passes what it does.
func TestOpenAPIValidatorRefuses(t *testing.T) {
	const (
		session = `{"id":"0b7f6a9e-5d1c-4b0e-9a53-3c1f2e8d7a61","ip_address":null,"user_agent":"go","expires_at":"2030-01-01T00:00:00Z","created_at":"2029-01-01T00:00:00Z","updated_at":"2029-01-01T00:00:00Z","current":true`
		problem = `{"type":"https://assetanchor.dev/problems/not-found","title":"Not Found","status":404,"detail":"no such thing","instance":"/x","request_id":"r1"`
	)
	gzipped := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = io.WriteString(zw, s)
		_ = zw.Close()
		return b.String()
	}
	id := "0b7f6a9e-5d1c-4b0e-9a53-3c1f2e8d7a61"
	for _, c := range []struct {
		name, method, path string
		status             int
		header             map[string]string
		body               string
		ok                 bool
	}{
		{"documented answer", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{"items":[` + session + `}],"next_cursor":null}`, true},
		{"gzipped documented answer", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json", "Content-Encoding": "gzip"}, gzipped(`{"items":[],"next_cursor":null}`), true},
		{"undocumented field", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{"items":[` + session + `,"secret":1}],"next_cursor":null}`, false},
		{"undocumented field, gzipped", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json", "Content-Encoding": "gzip"}, gzipped(`{"items":[],"next_cursor":null,"total":0}`), false},
		{"required field missing", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{"items":[]}`, false},
		{"field of the wrong type", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{"items":[` + session[:len(session)-4] + `"yes"}],"next_cursor":null}`, false},
		{"id that is no UUID", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{"items":[` + strings.Replace(session, "0b7f6a9e-", "0b7f6a9e", 1) + `}],"next_cursor":null}`, false},
		{"problem type that is no URI", "GET", "/api/v1/properties/" + id, 404, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, strings.Replace(problem, "https://", "", 1) + `}`, false},
		{"required header missing", "GET", "/api/v1/me/sessions", 200, map[string]string{"Content-Type": "application/json"}, `{"items":[],"next_cursor":null}`, false},
		{"header value off its schema", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json", "Content-Encoding": "br"}, `{"items":[],"next_cursor":null}`, false},
		{"undocumented media type", "GET", "/api/v1/me/sessions", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "text/html"}, `<p>hi</p>`, false},
		{"undocumented status", "GET", "/api/v1/me/sessions", 418, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem + `}`, false},
		{"problem as plain JSON", "GET", "/api/v1/me/sessions", 401, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json", "WWW-Authenticate": "Bearer"}, problem + `}`, false},
		{"problem without request_id", "GET", "/api/v1/properties/" + id, 404, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem[:strings.Index(problem, `,"request_id"`)] + `}`, false},
		{"documented problem", "GET", "/api/v1/properties/" + id, 404, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem + `}`, true},
		{"unknown path, 404 problem", "GET", "/api/v1/nowhere", 404, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem + `}`, true},
		{"unknown path, 200", "GET", "/api/v1/nowhere", 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, `{}`, false},
		{"unknown method, 405 problem", "DELETE", "/api/v1/properties/" + id, 405, map[string]string{"X-Request-Id": "r1", "Allow": "GET, HEAD, PATCH", "Content-Type": "application/problem+json"}, problem + `}`, true},
		{"unknown method, 405 without Allow", "DELETE", "/api/v1/properties/" + id, 405, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem + `}`, false},
		{"unknown method, 404", "DELETE", "/api/v1/properties/" + id, 404, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/problem+json"}, problem + `}`, false},
		{"304 with its headers", "GET", "/api/v1/properties/" + id, 304, map[string]string{"X-Request-Id": "r1", "ETag": `"1"`}, ``, true},
		{"304 without X-Request-Id", "GET", "/api/v1/properties/" + id, 304, map[string]string{"ETag": `"1"`}, ``, false},
		{"undocumented 304", "GET", "/api/v1/me/sessions", 304, map[string]string{"X-Request-Id": "r1"}, ``, false},
		{"HEAD with the GET's headers", "HEAD", "/api/v1/properties/" + id, 200, map[string]string{"X-Request-Id": "r1", "ETag": `"1"`, "Content-Type": "application/json"}, ``, true},
		{"HEAD without a required header", "HEAD", "/api/v1/properties/" + id, 200, map[string]string{"X-Request-Id": "r1", "Content-Type": "application/json"}, ``, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(c.method, "http://127.0.0.1:1"+c.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: c.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(c.body)), Request: req}
			for k, v := range c.header {
				resp.Header.Set(k, v)
			}
			err = validateAnswer(req, resp)
			if (err == nil) != c.ok {
				t.Errorf("validateAnswer = %v, want ok=%v", err, c.ok)
			}
			// The test still reads the body as the server sent it.
			if got, _ := io.ReadAll(resp.Body); string(got) != c.body {
				t.Errorf("body after validation = %q, want %q", got, c.body)
			}
		})
	}
}

// TestOpenAPIEveryAnswerCarriesRequestID: every answer the document describes
// requires X-Request-Id, which the server sets on every answer; the validation
// of each answer then holds the server to it.
func TestOpenAPIEveryAnswerCarriesRequestID(t *testing.T) {
	routes, err := openAPIRouter()
	if err != nil {
		t.Fatal(err)
	}
	doc := routes.notFound.Spec
	n := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, resp := range op.Responses.Map() {
				n++
				h := resp.Value.Headers["X-Request-Id"]
				if h == nil || h.Value == nil || !h.Value.Required {
					t.Errorf("%s %s %s: X-Request-Id is not a required header", method, path, status)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("walked %d answers, want hundreds; the walk is broken", n)
	}
}
