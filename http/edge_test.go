package http

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// MustHeader fails unless resp's header name is want.
func MustHeader(tb testing.TB, resp *http.Response, name, want string) {
	tb.Helper()
	if got := resp.Header.Get(name); got != want {
		tb.Errorf("%s %s: %s = %q, want %q", resp.Request.Method, resp.Request.URL.RequestURI(), name, got, want)
	}
}

// MustEmptyBody fails unless resp has no body.
func MustEmptyBody(tb testing.TB, resp *http.Response) {
	tb.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if len(body) != 0 {
		tb.Errorf("%s %s: %d body bytes, want none: %.200s", resp.Request.Method, resp.Request.URL.Path, len(body), body)
	}
}

// doRaw sends a request with headers set as given (the client adds no
// Accept-Encoding of its own, so a gzip answer arrives compressed).
func (s *stack) doRaw(tb testing.TB, token, method, path string, header map[string]string) *http.Response {
	tb.Helper()
	req, err := http.NewRequest(method, s.http.URL+path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if req.Header.Get("Accept-Encoding") == "" {
		req.Header.Set("Accept-Encoding", "identity")
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestMethodNotAllowedNamesAllowedMethods(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	id := s.MustProperty(t, token)
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/api/v1/properties", "GET, HEAD, POST"},
		{http.MethodPost, "/api/v1/properties/" + id.String(), "GET, HEAD, PATCH"},
		{http.MethodGet, "/api/v1/auth/login", "POST"},
		{http.MethodHead, "/api/v1/auth/login", "POST"},
		{http.MethodDelete, "/api/v1/properties/" + id.String() + "/late-fee-policy", "GET, HEAD, PUT"},
		{http.MethodPut, "/healthz", "GET, HEAD"},
	} {
		resp := s.Do(t, token, c.method, c.path, nil, nil)
		if c.method == http.MethodHead {
			MustStatus(t, resp, http.StatusMethodNotAllowed)
		} else {
			MustProblem(t, resp, http.StatusMethodNotAllowed)
		}
		MustHeader(t, resp, "Allow", c.allow)
	}
}

func TestHeadAnswersAsGetWithoutBody(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	id := s.MustProperty(t, token)
	for _, path := range []string{"/api/v1/properties/" + id.String(), "/api/v1/properties", "/healthz", "/api/v1/me"} {
		get := s.doRaw(t, token, http.MethodGet, path, nil)
		MustStatus(t, get, http.StatusOK)
		head := s.doRaw(t, token, http.MethodHead, path, nil)
		MustStatus(t, head, http.StatusOK)
		MustEmptyBody(t, head)
		for _, h := range []string{"Content-Type", "ETag"} {
			MustHeader(t, head, h, get.Header.Get(h))
		}
	}
	// HEAD needs the same token GET does.
	MustStatus(t, s.doRaw(t, "", http.MethodHead, "/api/v1/properties/"+id.String(), nil), http.StatusUnauthorized)
}

func TestIfNoneMatchAnswersNotModified(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	id := s.MustProperty(t, token)
	path := "/api/v1/properties/" + id.String()
	get := s.Do(t, token, http.MethodGet, path, nil, nil)
	MustStatus(t, get, http.StatusOK)
	etag := get.Header.Get("ETag")
	if etag != `"1"` {
		t.Fatalf("ETag = %q, want \"1\"", etag)
	}
	for _, inm := range []string{etag, "W/" + etag, `"7", ` + etag, "*"} {
		resp := s.Do(t, token, http.MethodGet, path, nil, map[string]string{"If-None-Match": inm})
		MustStatus(t, resp, http.StatusNotModified)
		MustHeader(t, resp, "ETag", etag)
		MustEmptyBody(t, resp)
	}
	MustStatus(t, s.Do(t, token, http.MethodHead, path, nil, map[string]string{"If-None-Match": etag}), http.StatusNotModified)
	MustStatus(t, s.Do(t, token, http.MethodGet, path, nil, map[string]string{"If-None-Match": `"2"`}), http.StatusOK)

	// Once it changes, the old version is modified.
	MustStatus(t, s.Do(t, token, http.MethodPatch, path, map[string]any{"name": "Renamed"}, nil), http.StatusOK)
	resp := s.Do(t, token, http.MethodGet, path, nil, map[string]string{"If-None-Match": etag})
	MustStatus(t, resp, http.StatusOK)
	MustHeader(t, resp, "ETag", `"2"`)
	// A caller who may not see it learns nothing from a match: 404 as ever.
	_, other := s.MustUser(t, domain.RoleUser)
	MustProblem(t, s.Do(t, other, http.MethodGet, path, nil, map[string]string{"If-None-Match": "*"}), http.StatusNotFound)
}

func TestPatchTakesMergePatchJSON(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	id := s.MustProperty(t, token)
	path := "/api/v1/properties/" + id.String()
	resp := s.Do(t, token, http.MethodPatch, path, map[string]any{"name": "Merged"},
		map[string]string{"Content-Type": "application/merge-patch+json"})
	MustStatus(t, resp, http.StatusOK)
	var p struct {
		Name string `json:"name"`
	}
	MustDecode(t, resp, &p)
	if p.Name != "Merged" {
		t.Errorf("name = %q after a merge patch, want Merged", p.Name)
	}

	before := s.MustWriteCounts(t)
	resp = s.Do(t, token, http.MethodPatch, path, `name=x`, map[string]string{"Content-Type": "text/plain"})
	MustProblem(t, resp, http.StatusUnsupportedMediaType)
	MustHeader(t, resp, "Accept-Patch", "application/merge-patch+json, application/json")
	// A merge patch is no body for a POST.
	MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/properties", map[string]any{"name": "x"},
		map[string]string{"Content-Type": "application/merge-patch+json"}), http.StatusUnsupportedMediaType)
	s.MustNothingWritten(t, before, "refused media types")
}

var (
	policyField = regexp.MustCompile(`^"ip";q=60;w=60, "(email|token)";q=10;w=60$`)
	limitField  = regexp.MustCompile(`^"ip";r=(\d+);t=(\d+)(?:, "(?:email|token)";r=(\d+);t=(\d+))?$`)
)

// TestRateLimitFields: login and refresh say their policies and what is left of
// them, as the IETF ratelimit-headers draft spells it, refused or not.
func TestRateLimitFields(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	var lastEmailR = 10
	for i := range 12 {
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong " + strconv.Itoa(i)}, nil)
		if got := resp.Header.Get("RateLimit-Policy"); !policyField.MatchString(got) || !strings.Contains(got, `"email"`) {
			t.Fatalf("attempt %d: RateLimit-Policy = %q", i, got)
		}
		m := limitField.FindStringSubmatch(resp.Header.Get("RateLimit"))
		if m == nil || m[3] == "" {
			t.Fatalf("attempt %d: RateLimit = %q", i, resp.Header.Get("RateLimit"))
		}
		r, _ := strconv.Atoi(m[3])
		tReset, _ := strconv.Atoi(m[4])
		if resp.StatusCode == http.StatusTooManyRequests {
			MustRetryAfter(t, resp)
			if r != 0 {
				t.Errorf("refused with r=%d left", r)
			}
			if tReset < 1 || tReset > 60 {
				t.Errorf("t=%d, want 1..60", tReset)
			}
			return
		}
		MustProblem(t, resp, http.StatusUnauthorized)
		if r >= lastEmailR && i > 0 {
			t.Errorf("attempt %d: r=%d did not fall from %d", i, r, lastEmailR)
		}
		lastEmailR = r
	}
	t.Fatal("12 wrong passwords were never refused")
}

func TestRefreshAnswersRateLimitFields(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	l := s.MustLogIn(t, email, testPassword)
	resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": l.RefreshToken}, nil)
	MustStatus(t, resp, http.StatusOK)
	MustHeader(t, resp, "RateLimit-Policy", `"ip";q=60;w=60, "token";q=10;w=60`)
	if m := limitField.FindStringSubmatch(resp.Header.Get("RateLimit")); m == nil || m[3] != "9" {
		t.Errorf("RateLimit = %q, want 9 left of the token's 10", resp.Header.Get("RateLimit"))
	}
}

// TestLoginLimitsCannotLockOutTheOwner: guessing someone's password from one
// address until refused does not stop the owner logging in from theirs.
func TestLoginLimitsCannotLockOutTheOwner(t *testing.T) {
	s := MustStack(t, WithDeps(func(d *Deps) { d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }))
	_, email := s.MustAccount(t, domain.RoleUser)
	attacker := map[string]string{"X-Forwarded-For": "203.0.113.66"}
	owner := map[string]string{"X-Forwarded-For": "198.51.100.7"}
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": "guess " + strconv.Itoa(i)}, attacker)
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("15 wrong passwords from one address were never refused")
	}
	// The attacker stays refused, even with the right password ...
	MustRetryAfter(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, attacker))
	// ... and the owner, elsewhere, is let in.
	resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, owner)
	MustStatus(t, resp, http.StatusOK)
}

// TestConcurrentRefreshesRevokeTheSession: two refreshes of one token at once
// are a reuse, whatever their order: one may win, but the session dies, and
// with it the winner's new tokens.
func TestConcurrentRefreshesRevokeTheSession(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	for round := range 4 {
		l := s.MustLogIn(t, email, testPassword)
		const racers = 3
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results [racers]struct {
				status int
				doc    loginDoc
			}
		)
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/auth/refresh",
					strings.NewReader(`{"refresh_token":"`+l.RefreshToken+`"}`))
				req.Header.Set("Content-Type", "application/json")
				<-start
				resp, err := s.http.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				results[i].status = resp.StatusCode
				if resp.StatusCode == http.StatusOK {
					_ = json.NewDecoder(resp.Body).Decode(&results[i].doc)
				}
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for _, r := range results {
			switch r.status {
			case http.StatusOK:
				won++
				s.MustDeadToken(t, r.doc.Token, fmt.Sprintf("round %d: the winner's access token", round))
				s.MustRefreshRefused(t, r.doc.RefreshToken, fmt.Sprintf("round %d: the winner's refresh token", round))
			case http.StatusUnauthorized:
			default:
				t.Fatalf("round %d: a racing refresh answered %d, want 200 or 401", round, r.status)
			}
		}
		if won > 1 {
			t.Fatalf("round %d: %d racing refreshes of one token succeeded", round, won)
		}
		s.MustDeadToken(t, l.Token, fmt.Sprintf("round %d: the session's first access token", round))
	}
}

func TestCORS(t *testing.T) {
	t.Run("off by default", func(t *testing.T) {
		s := MustStack(t)
		resp := s.Do(t, "", http.MethodGet, "/healthz", nil, map[string]string{"Origin": "https://app.example.com"})
		MustStatus(t, resp, http.StatusOK)
		MustHeader(t, resp, "Access-Control-Allow-Origin", "")
		pre := s.Do(t, "", http.MethodOptions, "/api/v1/properties", nil, map[string]string{
			"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
		MustProblem(t, pre, http.StatusMethodNotAllowed)
		MustHeader(t, pre, "Access-Control-Allow-Origin", "")
	})
	t.Run("listed origins", func(t *testing.T) {
		const origin = "https://app.example.com"
		s := MustStack(t, WithDeps(func(d *Deps) { d.CORSOrigins = []string{origin, "http://localhost:5173"} }))
		_, token := s.MustUser(t, domain.RoleUser)
		pre := s.Do(t, "", http.MethodOptions, "/api/v1/properties", nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type, idempotency-key"})
		MustStatus(t, pre, http.StatusNoContent)
		MustHeader(t, pre, "Access-Control-Allow-Origin", origin)
		for _, h := range []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"} {
			if !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), h) {
				t.Errorf("Access-Control-Allow-Headers = %q lacks %s", pre.Header.Get("Access-Control-Allow-Headers"), h)
			}
		}
		for _, m := range []string{"GET", "POST", "PATCH", "PUT", "DELETE"} {
			if !strings.Contains(pre.Header.Get("Access-Control-Allow-Methods"), m) {
				t.Errorf("Access-Control-Allow-Methods = %q lacks %s", pre.Header.Get("Access-Control-Allow-Methods"), m)
			}
		}
		if !strings.Contains(strings.Join(pre.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("preflight Vary = %q, want Origin", pre.Header.Values("Vary"))
		}

		resp := s.Do(t, token, http.MethodGet, "/api/v1/me", nil, map[string]string{"Origin": origin})
		MustStatus(t, resp, http.StatusOK)
		MustHeader(t, resp, "Access-Control-Allow-Origin", origin)
		for _, h := range []string{"ETag", "Location", "X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"} {
			if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), h) {
				t.Errorf("Access-Control-Expose-Headers = %q lacks %s", resp.Header.Get("Access-Control-Expose-Headers"), h)
			}
		}
		MustHeader(t, resp, "Access-Control-Allow-Credentials", "")
		// Refusals are readable too.
		refused := s.Do(t, "", http.MethodGet, "/api/v1/me", nil, map[string]string{"Origin": origin})
		MustProblem(t, refused, http.StatusUnauthorized)
		MustHeader(t, refused, "Access-Control-Allow-Origin", origin)

		// Another origin gets nothing, preflight or not.
		for _, method := range []string{http.MethodGet, http.MethodOptions} {
			resp := s.Do(t, token, method, "/api/v1/me", nil, map[string]string{
				"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"})
			MustHeader(t, resp, "Access-Control-Allow-Origin", "")
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("%s from another origin: Vary = %q, want Origin", method, resp.Header.Values("Vary"))
			}
		}
	})
	t.Run("malformed origin", func(t *testing.T) {
		for _, o := range []string{"app.example.com", "https://app.example.com/", "*", "https://app.example.com/path"} {
			if err := checkOrigin(o); err == nil {
				t.Errorf("checkOrigin(%q) accepted it", o)
			}
		}
	})
}

func TestGzipForListsReportsAndCSVNotEntities(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	var id uuid.UUID
	for range 8 {
		id = s.MustProperty(t, token)
	}
	gz := map[string]string{"Accept-Encoding": "gzip, deflate;q=0.5"}
	for _, path := range []string{"/api/v1/properties", "/api/v1/reports/rent-roll", "/api/v1/reports/rent-roll?format=csv", "/openapi.json"} {
		resp := s.doRaw(t, token, http.MethodGet, path, gz)
		MustStatus(t, resp, http.StatusOK)
		MustHeader(t, resp, "Content-Encoding", "gzip")
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("%s: Vary = %q, want Accept-Encoding", path, resp.Header.Values("Vary"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if strings.Contains(path, "csv") {
			if _, err := csv.NewReader(strings.NewReader(string(raw))).ReadAll(); err != nil || !strings.Contains(string(raw), id.String()) {
				t.Errorf("%s: the gunzipped CSV does not hold the properties (%v): %.200s", path, err, raw)
			}
		} else if !json.Valid(raw) {
			t.Errorf("%s: the gunzipped answer is not JSON: %.200s", path, raw)
		}

		// Without gzip in Accept-Encoding (or with q=0) the answer is as it was.
		for _, ae := range []string{"identity", "gzip;q=0, br"} {
			plain := s.doRaw(t, token, http.MethodGet, path, map[string]string{"Accept-Encoding": ae})
			MustStatus(t, plain, http.StatusOK)
			MustHeader(t, plain, "Content-Encoding", "")
		}
	}
	// An entity keeps its strong ETag and its bytes.
	resp := s.doRaw(t, token, http.MethodGet, "/api/v1/properties/"+id.String(), gz)
	MustStatus(t, resp, http.StatusOK)
	MustHeader(t, resp, "Content-Encoding", "")
	MustHeader(t, resp, "ETag", `"1"`)
	var p map[string]any
	MustDecode(t, resp, &p)
	// Short answers are not worth it.
	short := s.doRaw(t, "", http.MethodGet, "/healthz", gz)
	MustHeader(t, short, "Content-Encoding", "")
}

// TestInputThatIsNotUTF8IsRefused: query parameters and headers that are not
// UTF-8 or hold NUL are 400 everywhere, and write nothing.
func TestInputThatIsNotUTF8IsRefused(t *testing.T) {
	s := MustStack(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	before := s.MustWriteCounts(t)
	for _, path := range []string{
		"/api/v1/properties?city=%FF", "/api/v1/properties?city=a%00b", "/api/v1/properties?state=%C3%28",
		"/api/v1/audit-logs?action=%FF", "/api/v1/audit-logs?entity_type=%00", "/api/v1/users?email=%FF",
		"/api/v1/users?role=%00", "/api/v1/tenants?last_name=%FE", "/api/v1/properties?%FF=1",
		"/api/v1/properties?city=%zz",
	} {
		MustProblem(t, s.Do(t, admin, http.MethodGet, path, nil, nil), http.StatusBadRequest)
	}
	// (Its problem's instance cannot repeat the path: JSON holds no invalid UTF-8.)
	MustStatus(t, s.Do(t, admin, http.MethodGet, "/api/v1/properties/%FF", nil, nil), http.StatusBadRequest)
	// A key that is not UTF-8: refused before any idempotency record is looked up.
	resp := s.Do(t, admin, http.MethodPost, "/api/v1/properties", map[string]any{
		"name": "P", "address": "1 Main St", "city": "Springfield", "state": "IL", "zip_code": "62701", "property_type": "residential",
	}, map[string]string{"Idempotency-Key": "key-\xff\xfe"})
	MustProblem(t, resp, http.StatusBadRequest)
	MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]any{"email": "a@example.com", "password": "x"},
		map[string]string{"User-Agent": "agent \xc3\x28"}), http.StatusBadRequest)
	s.MustNothingWritten(t, before, "input that is not UTF-8")

	// NUL in a header never reaches a handler: net/http refuses it with a 400.
	conn, err := net.Dial("tcp", s.http.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00abc\r\n\r\n")
	raw, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Body.Close()
	if raw.StatusCode != http.StatusBadRequest {
		t.Errorf("NUL in a header: status %d, want 400", raw.StatusCode)
	}
}

func TestClientAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	for _, c := range []struct {
		name, remote string
		trusted      []netip.Prefix
		xff          []string
		want         string
	}{
		{"no proxies trusted: the peer", "10.1.2.3:5000", nil, []string{"203.0.113.9"}, "10.1.2.3"},
		{"untrusted peer: its header is ignored", "198.51.100.1:5000", proxies, []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer: its entry", "10.1.2.3:5000", proxies, []string{"203.0.113.9"}, "203.0.113.9"},
		{"forged entries left of the proxy's are ignored", "10.1.2.3:5000", proxies, []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies", "10.1.2.3:5000", proxies, []string{"203.0.113.9, 10.9.9.9", "10.4.4.4"}, "203.0.113.9"},
		{"all trusted: the leftmost", "10.1.2.3:5000", proxies, []string{"10.5.5.5, 10.6.6.6"}, "10.5.5.5"},
		{"garbage stops the walk", "10.1.2.3:5000", proxies, []string{"203.0.113.9, not-an-ip"}, "10.1.2.3"},
		{"trusted peer without a header", "10.1.2.3:5000", proxies, nil, "10.1.2.3"},
		{"IPv6 with a port and a zone", "[2001:db8::1]:443", proxies, []string{"[2001:db8:1::5]:1234, [2a00::7]:80"}, "2a00::7"},
		{"IPv4 mapped in IPv6", "[::ffff:10.1.2.3]:5000", proxies, []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Server{Deps: Deps{TrustedProxies: c.trusted}}
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientAddress(r); got != c.want {
				t.Errorf("clientAddress = %q, want %q", got, c.want)
			}
		})
	}
}

// logLine is a request's log line as an operator reads it.
type logLine struct {
	Level     string  `json:"level"`
	Msg       string  `json:"msg"`
	RequestID string  `json:"request_id"`
	Status    int     `json:"status"`
	ClientIP  string  `json:"client_ip"`
	UserID    *string `json:"user_id"`
}

func MustRequestLine(tb testing.TB, logs *syncBuffer, requestID string) logLine {
	tb.Helper()
	for _, raw := range strings.Split(logs.String(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) == nil && l.Msg == "request" && l.RequestID == requestID {
			return l
		}
	}
	tb.Fatalf("no request line for %s in the logs", requestID)
	return logLine{}
}

// TestRequestLogLines: every request line names the client and the acting user;
// failed authentication and rate limits are warnings; the same client address
// keys the limits and goes into the events' metadata.
func TestRequestLogLines(t *testing.T) {
	var logs syncBuffer
	s := MustStack(t, WithLogs(&logs), WithDeps(func(d *Deps) {
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		d.LoginLimitPerEmail = RateLimit{Burst: 2, PerSecond: 0.001}
	}))
	userID, email := s.MustAccount(t, domain.RoleUser)
	from := map[string]string{"X-Forwarded-For": "192.0.2.55"}
	call := func(token, method, path string, body any) (*http.Response, logLine) {
		t.Helper()
		header := map[string]string{"X-Request-Id": "req-" + uuid.NewString()}
		for k, v := range from {
			header[k] = v
		}
		resp := s.Do(t, token, method, path, body, header)
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp, MustRequestLine(t, &logs, header["X-Request-Id"])
	}

	resp, line := call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword})
	MustStatus(t, resp, http.StatusOK)
	if line.Level != "INFO" || line.ClientIP != "192.0.2.55" || line.UserID == nil || *line.UserID != userID.String() {
		t.Errorf("login line = %+v, want INFO from 192.0.2.55 by %s", line, userID)
	}
	var ip string
	if err := s.pool.QueryRow(context.Background(),
		`SELECT metadata->>'ip_address' FROM events WHERE stream_type = $1 ORDER BY position DESC LIMIT 1`,
		domain.SessionStreamType).Scan(&ip); err != nil {
		t.Fatal(err)
	}
	if ip != "192.0.2.55" {
		t.Errorf("the session's event metadata ip_address = %q, want 192.0.2.55", ip)
	}

	_, token := s.MustUser(t, domain.RoleUser)
	_, line = call(token, http.MethodGet, "/api/v1/me", nil)
	if line.Level != "INFO" || line.UserID == nil || *line.UserID == "" {
		t.Errorf("GET /me line = %+v, want INFO with the user", line)
	}
	_, line = call("", http.MethodGet, "/healthz", nil)
	if line.Level != "INFO" || line.UserID != nil || line.ClientIP != "192.0.2.55" {
		t.Errorf("anonymous line = %+v, want INFO, user_id null", line)
	}
	resp, line = call("not-a-token", http.MethodGet, "/api/v1/me", nil)
	MustStatus(t, resp, http.StatusUnauthorized)
	if line.Level != "WARN" || line.Status != 401 {
		t.Errorf("401 line = %+v, want WARN", line)
	}
	_, line = call(token, http.MethodGet, "/api/v1/properties/"+uuid.NewString(), nil)
	if line.Level != "INFO" || line.Status != 404 {
		t.Errorf("404 line = %+v, want INFO", line)
	}
	limited := false
	for i := 0; i < 4 && !limited; i++ {
		resp, line = call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": "wrong"})
		limited = resp.StatusCode == http.StatusTooManyRequests
	}
	if !limited || line.Level != "WARN" || line.ClientIP != "192.0.2.55" {
		t.Errorf("429 line = %+v (limited %v), want WARN from 192.0.2.55", line, limited)
	}
	// The limit is the client's, not the proxy's: another client behind it logs in.
	from = map[string]string{"X-Forwarded-For": "192.0.2.56"}
	resp, _ = call("", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword})
	MustStatus(t, resp, http.StatusOK)

	for status, want := range map[int]string{500: "ERROR", 503: "ERROR", 429: "WARN", 401: "WARN", 403: "INFO", 200: "INFO"} {
		if got := logLevel(status).String(); got != want {
			t.Errorf("logLevel(%d) = %s, want %s", status, got, want)
		}
	}
}

func TestMetricsNeedAnAdminOrTheirOwnAddress(t *testing.T) {
	t.Run("on the API", func(t *testing.T) {
		s := MustStack(t)
		_, admin := s.MustUser(t, domain.RoleAdmin)
		_, manager := s.MustUser(t, domain.RoleManager)
		MustProblem(t, s.Do(t, "", http.MethodGet, "/metrics", nil, nil), http.StatusUnauthorized)
		MustProblem(t, s.Do(t, manager, http.MethodGet, "/metrics", nil, nil), http.StatusForbidden)
		resp := s.Do(t, admin, http.MethodGet, "/metrics", nil, nil)
		MustStatus(t, resp, http.StatusOK)
		MustBuildInfo(t, resp)
	})
	t.Run("own address", func(t *testing.T) {
		s := MustStack(t, WithDeps(func(d *Deps) { d.MetricsAddr = "127.0.0.1:0"; d.Version = "v1.2.3"; d.Revision = "abc123" }))
		_, admin := s.MustUser(t, domain.RoleAdmin)
		MustProblem(t, s.Do(t, admin, http.MethodGet, "/metrics", nil, nil), http.StatusNotFound)

		api, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		metricsLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.server.serve(ctx, api, metricsLn, nil) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		resp, err := http.Get("http://" + metricsLn.Addr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		MustStatus(t, resp, http.StatusOK)
		body := MustBuildInfo(t, resp)
		if !strings.Contains(body, `version="v1.2.3"`) || !strings.Contains(body, `revision="abc123"`) {
			t.Errorf("assetanchor_build_info lacks the configured version and revision")
		}
		// Both lag gauges, measured (a failed measurement reads -1).
		for _, gauge := range []string{"assetanchor_projection_lag_events", "assetanchor_projection_lag_seconds"} {
			if !regexp.MustCompile(`(?m)^` + gauge + ` [0-9]`).MatchString(body) {
				t.Errorf("the metrics lack a measured %s", gauge)
			}
		}
		// Only /metrics is there; the API is on its own address.
		other, err := http.Get("http://" + metricsLn.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		other.Body.Close()
		if other.StatusCode != http.StatusNotFound {
			t.Errorf("GET /healthz on the metrics address: %d, want 404", other.StatusCode)
		}
		health, err := http.Get("http://" + api.Addr().String() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		health.Body.Close()
		if health.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz on the API address: %d, want 200", health.StatusCode)
		}
	})
}

var buildInfoLine = regexp.MustCompile(`(?m)^assetanchor_build_info\{goversion="go[^"]+",revision="[^"]+",version="[^"]+"\} 1$`)

// MustBuildInfo fails unless the metrics in resp hold assetanchor_build_info; it
// returns them.
func MustBuildInfo(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if !buildInfoLine.Match(raw) {
		tb.Errorf("no assetanchor_build_info{goversion,revision,version} 1 in the metrics")
	}
	return string(raw)
}
