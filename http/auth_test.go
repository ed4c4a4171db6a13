package http

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// loginDoc is the answer to a login.
type loginDoc struct {
	Token        string `json:"token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresAt    string `json:"expires_at"`
	User         struct {
		ID        string  `json:"id"`
		Email     string  `json:"email"`
		Role      string  `json:"role"`
		LastLogin *string `json:"last_login"`
		IsActive  bool    `json:"is_active"`
	} `json:"user"`
}

// MustAccount registers an account with testPassword and returns its id and email.
func (s *stack) MustAccount(tb testing.TB, role domain.Role) (uuid.UUID, string) {
	tb.Helper()
	email := "login-" + uuid.NewString()[:8] + "@example.com"
	res, err := s.users.Create(context.Background(), commands.CreateUser{Email: email, Password: testPassword, Role: role.String()})
	if err != nil {
		tb.Fatal(err)
	}
	return res.ID, email
}

// MustLogIn logs in through the API and returns the answer.
func (s *stack) MustLogIn(tb testing.TB, email, password string) loginDoc {
	tb.Helper()
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, nil)
	MustStatus(tb, resp, http.StatusOK)
	var l loginDoc
	MustDecode(tb, resp, &l)
	return l
}

// MustNotStoredInClear fails when secret appears anywhere the service keeps data.
func (s *stack) MustNotStoredInClear(tb testing.TB, what, secret string) {
	tb.Helper()
	var n int
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0 OR strpos(metadata::text, $1) > 0) +
		(SELECT count(*) FROM user_sessions WHERE token = $1 OR refresh_token = $1) +
		(SELECT count(*) FROM users WHERE password_hash = $1) +
		(SELECT count(*) FROM idempotency_keys WHERE strpos(encode(coalesce(body, ''), 'escape'), $1) > 0)`,
		secret).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	if n != 0 {
		tb.Errorf("the %s is stored in clear in %d rows", what, n)
	}
}

func TestLogin(t *testing.T) {
	s := MustStack(t)
	userID, email := s.MustAccount(t, domain.RoleUser)

	for _, c := range []struct{ name, email string }{
		{"as registered", email},
		{"email in another case", strings.ToUpper(email)},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			start := time.Now()
			resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": c.email, "password": testPassword}, nil)
			MustStatus(t, resp, http.StatusOK)
			if got, want := resp.Header.Get("Content-Type"), "application/json"; got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			lower := bytes.ToLower(raw)
			for _, leak := range []string{"password", "$argon2", "$2a$", "$2b$", "hash"} {
				if bytes.Contains(lower, []byte(leak)) {
					t.Errorf("login answer contains %q: %s", leak, raw)
				}
			}
			var l loginDoc
			if err := json.Unmarshal(raw, &l); err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"token": l.Token, "refresh_token": l.RefreshToken} {
				if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) < 32 {
					t.Errorf("%s = %q, want at least 256 random bits", name, tok)
				}
			}
			if l.Token == l.RefreshToken {
				t.Errorf("token and refresh_token are the same")
			}
			exp, err := time.Parse(time.RFC3339, l.ExpiresAt)
			if err != nil || exp.Location() != time.UTC || !exp.After(start) {
				t.Errorf("expires_at = %q, want an RFC 3339 UTC time in the future", l.ExpiresAt)
			}
			if l.User.ID != userID.String() || l.User.Email != email || l.User.Role != "user" || !l.User.IsActive {
				t.Errorf("user = %+v, want id %s, email %s, role user, active", l.User, userID, email)
			}
			if l.User.LastLogin == nil {
				t.Errorf("user.last_login is null after a login")
			} else if at, err := time.Parse(time.RFC3339Nano, *l.User.LastLogin); err != nil || at.Before(start.Add(-time.Second)) {
				t.Errorf("user.last_login = %q, want the time of this login", *l.User.LastLogin)
			}
			after := s.MustWriteCounts(t)
			if got, want := after.sessions-before.sessions, 1; got != want {
				t.Errorf("user_sessions rows added = %d, want %d", got, want)
			}
			s.MustNotStoredInClear(t, "token", l.Token)
			s.MustNotStoredInClear(t, "refresh token", l.RefreshToken)
			s.MustNotStoredInClear(t, "password", testPassword)

			MustStatus(t, s.Do(t, l.Token, http.MethodGet, "/api/v1/properties", nil, nil), http.StatusOK)
		})
	}
}

func TestLoginRefusedAlike(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	cases := []struct{ name, email, password string }{
		{"wrong password", email, "not the right password"},
		{"unknown email", "nobody-" + uuid.NewString()[:8] + "@example.com", "not the right password"},
		{"unknown email, the right password", "nobody@example.com", testPassword},
		{"empty password", email, ""},
		{"empty email", "", testPassword},
		{"password in another case", email, strings.ToUpper(testPassword)},
	}
	var first problemDoc
	var firstAuth string
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": c.email, "password": c.password}, nil)
			p := MustProblem(t, resp, http.StatusUnauthorized)
			s.MustNothingWritten(t, before, c.name)
			p.RequestID, p.Instance = "", ""
			got, _ := json.Marshal(p)
			if i == 0 {
				first, firstAuth = p, resp.Header.Get("WWW-Authenticate")
				return
			}
			if want, _ := json.Marshal(first); string(got) != string(want) {
				t.Errorf("problem = %s, want the same as for %q: %s", got, cases[0].name, want)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != firstAuth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, firstAuth)
			}
		})
	}
}

func TestLoginBadRequests(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	valid, err := json.Marshal(map[string]string{"email": email, "password": testPassword})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		body   any
		header map[string]string
		want   int
	}{
		{"malformed JSON", `{"email":`, nil, http.StatusBadRequest},
		{"empty body", ``, nil, http.StatusBadRequest},
		{"unknown field", map[string]string{"email": email, "password": testPassword, "remember": "yes"}, nil, http.StatusBadRequest},
		{"two JSON values", string(valid) + string(valid), nil, http.StatusBadRequest},
		{"password not a string", map[string]any{"email": email, "password": 12}, nil, http.StatusBadRequest},
		{"text/plain", string(valid), map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
		{"form", "email=x&password=y", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType},
		{"body over 1 MiB", map[string]string{"email": email, "password": strings.Repeat("x", 1<<20)}, nil, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/login", c.body, c.header), c.want)
			s.MustNothingWritten(t, before, c.name)
		})
	}
}

// TestLoginIdempotencyKeyKeepsTokensSecret: a login that carries an
// Idempotency-Key must not leave its tokens in clear in the idempotency store.
func TestLoginIdempotencyKeyKeepsTokensSecret(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	body := map[string]string{"email": email, "password": testPassword}
	key := map[string]string{"Idempotency-Key": "login-1"}
	for i := range 2 {
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", body, key)
		MustStatus(t, resp, http.StatusOK)
		var l loginDoc
		MustDecode(t, resp, &l)
		s.MustNotStoredInClear(t, "token", l.Token)
		s.MustNotStoredInClear(t, "refresh token", l.RefreshToken)
		if got := s.Do(t, l.Token, http.MethodGet, "/api/v1/properties", nil, nil).StatusCode; got != http.StatusOK {
			t.Errorf("login %d: its token answers %d, want 200", i, got)
		}
	}
	// Anonymous clients do not share one key space: another account's login with
	// the same key is its own request.
	_, other := s.MustAccount(t, domain.RoleUser)
	resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": other, "password": testPassword}, key)
	MustStatus(t, resp, http.StatusOK)
	var l loginDoc
	MustDecode(t, resp, &l)
	if got, want := l.User.Email, other; got != want {
		t.Errorf("login as %s answered user %s", want, got)
	}
}

func TestAuthenticationRequired(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	l := s.MustLogIn(t, email, testPassword)
	p := s.MustCreateProperty(t, l.Token, propertyBody(nil))

	credentials := []struct{ name, authorization string }{
		{"no Authorization", ""},
		{"scheme only", "Bearer"},
		{"empty token", "Bearer "},
		{"garbage token", "Bearer garbage"},
		{"well-formed unknown token", "Bearer " + base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))},
		{"token without scheme", l.Token},
		{"Basic", "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+testPassword))},
		{"refresh token as bearer", "Bearer " + l.RefreshToken},
		{"token hash as bearer", "Bearer " + commands.HashToken(l.Token)},
		{"token with a trailing character", "Bearer " + l.Token + "x"},
	}
	requests := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/v1/properties", nil},
		{http.MethodPost, "/api/v1/properties", propertyBody(nil)},
		{http.MethodGet, "/api/v1/properties/" + p.ID, nil},
		{http.MethodPatch, "/api/v1/properties/" + p.ID, map[string]any{"city": "Shelbyville"}},
		{http.MethodPost, "/api/v1/properties/" + p.ID + "/status", map[string]any{"status": "inactive"}},
		{http.MethodGet, "/api/v1/properties/" + p.ID + "/history", nil},
		{http.MethodPost, "/api/v1/auth/logout", nil},
	}
	for _, c := range credentials {
		for _, r := range requests {
			t.Run(c.name+"/"+r.method+" "+r.path, func(t *testing.T) {
				header := map[string]string{}
				if c.authorization != "" {
					header["Authorization"] = c.authorization
				}
				before := s.MustWriteCounts(t)
				resp := s.Do(t, "", r.method, r.path, r.body, header)
				MustProblem(t, resp, http.StatusUnauthorized)
				if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
				s.MustNothingWritten(t, before, c.name)
			})
		}
	}
	// The real token still works, so the refusals were about the credentials.
	MustStatus(t, s.Do(t, l.Token, http.MethodGet, "/api/v1/properties/"+p.ID, nil, nil), http.StatusOK)
}

func TestLogout(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	first := s.MustLogIn(t, email, testPassword)
	second := s.MustLogIn(t, email, testPassword)

	before := s.MustWriteCounts(t)
	resp := s.Do(t, first.Token, http.MethodPost, "/api/v1/auth/logout", nil, nil)
	MustStatus(t, resp, http.StatusNoContent)
	if body, _ := io.ReadAll(resp.Body); len(body) != 0 {
		t.Errorf("204 with a body: %s", body)
	}
	if after := s.MustWriteCounts(t); after.events <= before.events {
		t.Errorf("logout recorded no event")
	}

	// Dead at once: no retry loop.
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/properties"},
		{http.MethodPost, "/api/v1/auth/logout"},
	} {
		before := s.MustWriteCounts(t)
		MustProblem(t, s.Do(t, first.Token, r.method, r.path, nil, nil), http.StatusUnauthorized)
		s.MustNothingWritten(t, before, "request with a logged-out token")
	}

	// Only that session ends.
	MustStatus(t, s.Do(t, second.Token, http.MethodGet, "/api/v1/properties", nil, nil), http.StatusOK)
	third := s.MustLogIn(t, email, testPassword)
	MustStatus(t, s.Do(t, third.Token, http.MethodGet, "/api/v1/properties", nil, nil), http.StatusOK)

	MustStatus(t, s.Do(t, second.Token, http.MethodPost, "/api/v1/auth/logout", nil, nil), http.StatusNoContent)
	MustProblem(t, s.Do(t, second.Token, http.MethodGet, "/api/v1/properties", nil, nil), http.StatusUnauthorized)
	MustStatus(t, s.Do(t, third.Token, http.MethodGet, "/api/v1/properties", nil, nil), http.StatusOK)
}

// TestLoginRateLimited: API.md answers 429 to a client that keeps guessing passwords.
func TestLoginRateLimited(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	before := s.MustWriteCounts(t)
	const attempts = 30
	limited := 0
	for i := range attempts {
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": "guess " + uuid.NewString()}, nil)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			MustProblem(t, resp, http.StatusUnauthorized)
		case http.StatusTooManyRequests:
			MustProblem(t, resp, http.StatusTooManyRequests)
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("attempt %d: 429 without Retry-After", i)
			}
			limited++
		default:
			body, _ := io.ReadAll(resp.Body)
			t.Fatalf("attempt %d: status %d, want 401 or 429: %s", i, resp.StatusCode, body)
		}
	}
	if limited == 0 {
		t.Errorf("%d wrong passwords for one account from one client in a row were all answered 401; "+
			"API.md: login is rate limited (429) — no rate limiter exists in http/", attempts)
	}
	s.MustNothingWritten(t, before, "refused logins")
}
