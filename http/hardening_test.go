package http

import (
	"net/http"
	"testing"

	"github.com/assetanchor/assetanchor/domain"
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
