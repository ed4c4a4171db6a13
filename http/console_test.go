package http

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
)

// MustConsoleClient is a browser-like client of the stack: a cookie jar, no
// automatic redirects (the test follows them), and an Origin on every POST.
func (s *stack) MustConsoleClient(tb testing.TB) *http.Client {
	tb.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *stack) consolePost(tb testing.TB, c *http.Client, path string, form url.Values, origin string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, s.http.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (s *stack) consoleGet(tb testing.TB, c *http.Client, path string) (*http.Response, string) {
	tb.Helper()
	resp, err := c.Get(s.http.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The console's session: signing in sets an HttpOnly, SameSite=Strict cookie
// (not Secure over plain HTTP); a post from another origin or without the
// session's token is refused and changes nothing; signing out ends the session.
func TestConsoleSession(t *testing.T) {
	s := MustStack(t)
	email := "auditor-" + uuid.NewString()[:8] + "@example.com"
	if _, err := s.users.Create(context.Background(), commands.CreateUser{Email: email, Password: testPassword, Role: "user"}); err != nil {
		t.Fatal(err)
	}
	c := s.MustConsoleClient(t)
	origin := s.http.URL

	resp, _ := s.consoleGet(t, c, "/console/find")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/console/login") {
		t.Fatalf("signed out GET /console/find = %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	loginPath := resp.Header.Get("Location") // back to the page asked for, after signing in
	if loginPath != "/console/login?next=%2Fconsole%2Ffind" {
		t.Errorf("sign-in path = %q, want it to carry the page asked for", loginPath)
	}
	login := url.Values{"email": {email}, "password": {testPassword}}
	if resp := s.consolePost(t, c, "/console/login", login, "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in posted from another origin = %d, want 403", resp.StatusCode)
	}
	if resp := s.consolePost(t, c, "/console/login", url.Values{"email": {email}, "password": {"wrong password!"}}, origin); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password = %d, want 401", resp.StatusCode)
	}
	// Only a console page of this server is a place to go back to.
	evil := s.consolePost(t, s.MustConsoleClient(t), "/console/login?next=%2F%2Fevil.example%2F", login, origin)
	if got := evil.Header.Get("Location"); got != "/console/find" {
		t.Errorf("sign-in with next=//evil.example/ went to %q, want /console/find", got)
	}
	resp = s.consolePost(t, c, loginPath, login, origin)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/console/find" {
		t.Fatalf("sign-in = %d to %q, want 303 to /console/find", resp.StatusCode, resp.Header.Get("Location"))
	}
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == consoleCookie {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Secure || cookie.Path != "/console/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, not Secure over HTTP, path /console/", cookie)
	}
	resp, page := s.consoleGet(t, c, "/console/find")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, email) {
		t.Fatalf("signed in GET /console/find = %d, want 200 naming %s", resp.StatusCode, email)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "script-src") {
		t.Errorf("console CSP = %q, want its own style sheet and no script", csp)
	}
	csrf := csrfToken(cookie.Value)
	if !strings.Contains(page, `name="csrf" value="`+csrf+`"`) {
		t.Errorf("the sign-out form lacks the session's token")
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		origin string
	}{
		{"no token", url.Values{}, origin},
		{"wrong token", url.Values{"csrf": {"0123"}}, origin},
		{"other origin", url.Values{"csrf": {csrf}}, "http://evil.example"},
		{"no origin", url.Values{"csrf": {csrf}}, ""},
	} {
		if resp := s.consolePost(t, c, "/console/logout", tc.form, tc.origin); resp.StatusCode != http.StatusForbidden {
			t.Errorf("sign-out with %s = %d, want 403", tc.name, resp.StatusCode)
		}
	}
	if resp, _ := s.consoleGet(t, c, "/console/find"); resp.StatusCode != http.StatusOK {
		t.Fatalf("refused sign-outs ended the session: %d", resp.StatusCode)
	}
	if resp := s.consolePost(t, c, "/console/logout", url.Values{"csrf": {csrf}}, origin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out = %d, want 303", resp.StatusCode)
	}
	// The old cookie no longer signs in, even if a client kept it.
	if _, err := s.server.queries.Authenticate(context.Background(), commands.HashToken(cookie.Value)); err == nil {
		t.Errorf("the session outlived sign-out")
	}
}
