package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// securityHeaders are set on every answer, whatever its status (middleware.go).
var securityHeaders = map[string]string{
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "no-referrer",
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"Cache-Control":           "no-store",
}

func TestSecurityHeadersOnEveryAnswer(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	for _, c := range []struct {
		name, token, method, path string
		body                      any
		want                      int
	}{
		{"health", "", http.MethodGet, "/healthz", nil, http.StatusOK},
		{"the document", "", http.MethodGet, "/openapi.json", nil, http.StatusOK},
		{"a list", token, http.MethodGet, "/api/v1/tenants", nil, http.StatusOK},
		{"no token", "", http.MethodGet, "/api/v1/me", nil, http.StatusUnauthorized},
		{"no such route", token, http.MethodGet, "/api/v1/nowhere", nil, http.StatusNotFound},
		{"malformed JSON", token, http.MethodPost, "/api/v1/tenants", "{", http.StatusBadRequest},
		{"a bad login", "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": "x@example.com", "password": "wrong password"}, http.StatusUnauthorized},
	} {
		resp := s.Do(t, c.token, c.method, c.path, c.body, nil)
		MustStatus(t, resp, c.want)
		for name, want := range securityHeaders {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", c.name, name, got, want)
			}
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", c.name)
		}
	}
}

// Every request has a deadline: RequestTimeout, or for the routes that carry a
// document's bytes the server's transfer bound, since a slow link is not a slow
// server.
func TestRequestDeadlineOfEachRoute(t *testing.T) {
	s := MustStack(t)
	routes, ok := s.server.handler.(chi.Routes)
	if !ok {
		t.Fatalf("the handler is a %T, not a chi router", s.server.handler)
	}
	id := uuid.NewString()
	for _, c := range []struct {
		method, path string
		want         time.Duration
	}{
		{http.MethodGet, "/api/v1/properties", DefaultRequestTimeout},
		{http.MethodGet, "/api/v1/reports/rent-roll", DefaultRequestTimeout},
		{http.MethodPost, "/api/v1/auth/login", DefaultRequestTimeout},
		{http.MethodGet, "/api/v1/documents/" + id, DefaultRequestTimeout},
		{http.MethodDelete, "/api/v1/documents/" + id, DefaultRequestTimeout},
		{http.MethodGet, "/api/v1/nowhere", DefaultRequestTimeout},
		{http.MethodPost, "/api/v1/documents", transferTimeout},
		{http.MethodGet, "/api/v1/documents/" + id + "/content", transferTimeout},
	} {
		r := httptest.NewRequest(c.method, c.path, nil)
		rctx := chi.NewRouteContext()
		rctx.Routes = routes // as the router sets it before its middleware runs
		r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		if got := s.server.bound(r); got != c.want {
			t.Errorf("%s %s may take %s, want %s", c.method, c.path, got, c.want)
		}
	}
}

// A request that outlasts its deadline is stopped and answered with a 503
// problem: a query by the server's statement_timeout, a command waiting for a
// lock by the context, before its commit, so that it writes nothing.
func TestRequestOutlastingItsDeadline(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	// A second server on the same database and read model, with a short deadline.
	deps := s.server.Deps
	deps.RequestTimeout = time.Second
	short, err := NewServer(deps)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(short.Handler())
	defer ts.Close()
	ts.Client().Transport = validatingTransport{base: ts.Client().Transport, tb: t}
	do := func(method, path string, body any) *http.Response {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			r = bytes.NewReader(b)
		}
		req, err := http.NewRequest(method, ts.URL+path, r)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		client := ts.Client()
		client.Timeout = time.Minute // the test's guard, far beyond the deadline
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	// hold runs fn in a transaction that stays open until the returned func is called.
	hold := func(fn func(ctx context.Context, tx pgx.Tx) error) (release func()) {
		t.Helper()
		ctx := context.Background()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(ctx, tx); err != nil {
			t.Fatal(err)
		}
		return func() { _ = tx.Rollback(ctx) }
	}

	t.Run("a query", func(t *testing.T) {
		release := hold(func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `LOCK TABLE properties IN ACCESS EXCLUSIVE MODE`)
			return err
		})
		resp := do(http.MethodGet, "/api/v1/properties/"+property.String(), nil)
		release()
		p := MustProblem(t, resp, http.StatusServiceUnavailable)
		if resp.Header.Get("Retry-After") == "" || p.Status != http.StatusServiceUnavailable {
			t.Errorf("the stopped query's answer: Retry-After %q, problem %+v", resp.Header.Get("Retry-After"), p)
		}
		// The server is fine afterwards.
		MustStatus(t, do(http.MethodGet, "/api/v1/properties/"+property.String(), nil), http.StatusOK)
	})

	t.Run("a command", func(t *testing.T) {
		before := s.MustEventCount(t)
		release := hold(func(ctx context.Context, tx pgx.Tx) error {
			return eventstore.NewPostgresStore(tx).Lock(ctx, "property:"+property.String())
		})
		resp := do(http.MethodPost, "/api/v1/properties/"+property.String()+"/status", map[string]any{"status": "inactive"})
		release()
		MustProblem(t, resp, http.StatusServiceUnavailable)
		if after := s.MustEventCount(t); after != before {
			t.Errorf("the stopped command wrote %d events", after-before)
		}
		var got struct {
			Status string `json:"status"`
		}
		resp = do(http.MethodGet, "/api/v1/properties/"+property.String(), nil)
		MustStatus(t, resp, http.StatusOK)
		MustDecode(t, resp, &got)
		if got.Status != "active" {
			t.Errorf("after the stopped command the property is %s, want active", got.Status)
		}
	})
}
