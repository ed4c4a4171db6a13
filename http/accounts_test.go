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
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// accountDoc is a user as a client reads it.
type accountDoc struct {
	ID            string  `json:"id"`
	Email         string  `json:"email"`
	FirstName     *string `json:"first_name"`
	LastName      *string `json:"last_name"`
	Role          string  `json:"role"`
	Phone         *string `json:"phone"`
	LastLogin     *string `json:"last_login"`
	IsActive      bool    `json:"is_active"`
	EmailVerified bool    `json:"email_verified"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	Version       int64   `json:"version"`
}

// accountFields are the keys of a user document: never a password or its hash.
var accountFields = []string{"created_at", "email", "email_verified", "first_name", "id", "is_active",
	"last_login", "last_name", "phone", "role", "updated_at", "version"}

type accountPage struct {
	Items      []accountDoc `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

// sessionDoc is one entry of GET /me/sessions.
type sessionDoc struct {
	ID        string  `json:"id"`
	IPAddress *string `json:"ip_address"`
	UserAgent *string `json:"user_agent"`
	ExpiresAt string  `json:"expires_at"`
	CreatedAt string  `json:"created_at"`
	UpdatedAt string  `json:"updated_at"`
	Current   bool    `json:"current"`
}

// argon2idPrefix is how every stored password hash starts (OWASP's minimum parameters).
const argon2idPrefix = "$argon2id$v=19$m=19456,t=2,p=1$"

// signupBody is a complete signup with a unique email.
func signupBody(email, password string) map[string]any {
	return map[string]any{"email": email, "password": password, "first_name": "Alice", "last_name": "Lindqvist"}
}

// uniqueEmail is a fresh address under prefix.
func uniqueEmail(prefix string) string { return prefix + "-" + uuid.NewString()[:8] + "@example.com" }

// MustSignUp posts a signup and expects a 201.
func (s *stack) MustSignUp(tb testing.TB, body any) accountDoc {
	tb.Helper()
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/signup", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var u accountDoc
	MustDecode(tb, resp, &u)
	return u
}

// MustRefresh trades a refresh token for a new pair and expects a 200.
func (s *stack) MustRefresh(tb testing.TB, refreshToken string) loginDoc {
	tb.Helper()
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": refreshToken}, nil)
	MustStatus(tb, resp, http.StatusOK)
	var l loginDoc
	MustDecode(tb, resp, &l)
	return l
}

// MustMe reads GET /me with token, expects a 200 for user id and returns the raw
// document too.
func (s *stack) MustMe(tb testing.TB, token string, id uuid.UUID) (accountDoc, []byte) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/me", nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var u accountDoc
	if err := json.Unmarshal(raw, &u); err != nil {
		tb.Fatalf("decode /me %s: %v", raw, err)
	}
	if got, want := u.ID, id.String(); got != want {
		tb.Fatalf("GET /me answered user %s, want %s", got, want)
	}
	return u, raw
}

// MustDeadToken fails unless token is refused (401) at once, writing nothing.
func (s *stack) MustDeadToken(tb testing.TB, token, what string) {
	tb.Helper()
	before := s.MustWriteCounts(tb)
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/me", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		body, _ := io.ReadAll(resp.Body)
		tb.Errorf("%s: GET /me answered %d, want 401 at once: %s", what, resp.StatusCode, body)
		return
	}
	MustProblem(tb, resp, http.StatusUnauthorized)
	s.MustNothingWritten(tb, before, what)
}

// MustRefreshRefused fails unless refreshing with refreshToken is a 401.
func (s *stack) MustRefreshRefused(tb testing.TB, refreshToken, what string) {
	tb.Helper()
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": refreshToken}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		body, _ := io.ReadAll(resp.Body)
		tb.Errorf("%s: refresh answered %d, want 401: %s", what, resp.StatusCode, body)
		return
	}
	MustProblem(tb, resp, http.StatusUnauthorized)
}

// MustMySessions lists the sessions of token's user.
func (s *stack) MustMySessions(tb testing.TB, token string) []sessionDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/me/sessions", nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if bytes.Contains(bytes.ToLower(raw), []byte("token")) {
		tb.Errorf("GET /me/sessions shows a token: %s", raw)
	}
	var page struct {
		Items []sessionDoc `json:"items"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		tb.Fatalf("decode /me/sessions %s: %v", raw, err)
	}
	if page.Items == nil {
		tb.Fatalf("GET /me/sessions: items is null or missing: %s", raw)
	}
	return page.Items
}

// MustEventTypeCount counts the stored events of one type.
func (s *stack) MustEventTypeCount(tb testing.TB, eventType string) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = $1`, eventType).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// MustPasswordHash reads a user's stored password hash.
func (s *stack) MustPasswordHash(tb testing.TB, id string) string {
	tb.Helper()
	var hash string
	if err := s.pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE id = $1`, id).Scan(&hash); err != nil {
		tb.Fatal(err)
	}
	return hash
}

// MustUserCommand sends a command that answers a user, expects status want and
// checks the ETag against the answered version.
func (s *stack) MustUserCommand(tb testing.TB, token, method, path string, body any, header map[string]string, want int) accountDoc {
	tb.Helper()
	resp := s.Do(tb, token, method, path, body, header)
	MustStatus(tb, resp, want)
	var u accountDoc
	MustDecode(tb, resp, &u)
	if got, wantTag := resp.Header.Get("ETag"), etag(u.Version); got != wantTag {
		tb.Errorf("%s %s: ETag = %q, want %q", method, path, got, wantTag)
	}
	return u
}

// MustLoginRefused fails unless logging in is a 401 that writes nothing; it returns
// the problem without its per-request fields, for comparison.
func (s *stack) MustLoginRefused(tb testing.TB, email, password, what string) problemDoc {
	tb.Helper()
	before := s.MustWriteCounts(tb)
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": password}, nil)
	p := MustProblem(tb, resp, http.StatusUnauthorized)
	if got, want := resp.Header.Get("WWW-Authenticate"), `Bearer realm="assetanchor"`; got != want {
		tb.Errorf("%s: WWW-Authenticate = %q, want %q", what, got, want)
	}
	s.MustNothingWritten(tb, before, what)
	p.RequestID, p.Instance = "", ""
	return p
}

// MustKeys fails unless the JSON object raw has exactly the keys want.
func MustKeys(tb testing.TB, what string, raw []byte, want []string) {
	tb.Helper()
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		tb.Fatalf("%s: decode %s: %v", what, raw, err)
	}
	got := slices.Sorted(maps.Keys(doc))
	if !slices.Equal(got, want) {
		tb.Errorf("%s: keys = %q, want %q", what, got, want)
	}
	lower := bytes.ToLower(raw)
	for _, leak := range []string{"password", "$argon2", "hash"} {
		if bytes.Contains(lower, []byte(leak)) {
			tb.Errorf("%s: answer contains %q: %s", what, leak, raw)
		}
	}
}

func TestSignUp(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	password := "signup password " + uuid.NewString()[:8]
	email := uniqueEmail("Alice")

	before := s.MustWriteCounts(t)
	body := signupBody(email, password)
	body["phone"] = "+1 503 555 0100"
	resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/signup", body, nil)
	MustStatus(t, resp, http.StatusCreated)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	MustKeys(t, "signup answer", raw, accountFields)
	var u accountDoc
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatal(err)
	}
	id, err := uuid.Parse(u.ID)
	if err != nil {
		t.Fatalf("id = %q, want a UUID", u.ID)
	}
	if got, want := resp.Header.Get("Location"), "/api/v1/users/"+u.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
	if u.Email != email || u.Role != "user" || !u.IsActive || u.EmailVerified || u.LastLogin != nil || u.Version != 1 {
		t.Errorf("user = %+v, want email %s, role user, active, unverified, never logged in, version 1", u, email)
	}
	if u.FirstName == nil || *u.FirstName != "Alice" || u.LastName == nil || *u.LastName != "Lindqvist" ||
		u.Phone == nil || *u.Phone != "+1 503 555 0100" {
		t.Errorf("names and phone = %v %v %v, want Alice Lindqvist +1 503 555 0100", u.FirstName, u.LastName, u.Phone)
	}
	after := s.MustWriteCounts(t)
	if got, want := after.events-before.events, 1; got != want {
		t.Errorf("events written = %d, want %d (UserRegistered)", got, want)
	}
	if got, want := after.users-before.users, 1; got != want {
		t.Errorf("users rows written = %d, want %d", got, want)
	}
	s.MustNotStoredInClear(t, "password", password)

	// The admin reads the same user; the new account logs in and is a plain user.
	resp = s.Do(t, adminToken, http.MethodGet, "/api/v1/users/"+u.ID, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var got accountDoc
	MustDecode(t, resp, &got)
	if !reflect.DeepEqual(got, u) {
		t.Errorf("GET /users/%s = %+v, want the signup answer %+v", u.ID, got, u)
	}
	l := s.MustLogIn(t, email, password)
	if l.User.ID != u.ID || l.User.Role != "user" {
		t.Errorf("login as the new account = user %s role %s, want %s role user", l.User.ID, l.User.Role, u.ID)
	}
	s.MustMe(t, l.Token, id)
	MustProblem(t, s.Do(t, l.Token, http.MethodGet, "/api/v1/users", nil, nil), http.StatusForbidden)

	refusals := []struct {
		name      string
		body      any
		want      int
		wantField string
	}{
		{"password of 11 characters", signupBody(uniqueEmail("short"), "abcdefghijk"), http.StatusUnprocessableEntity, "password"},
		{"empty password", signupBody(uniqueEmail("empty"), ""), http.StatusUnprocessableEntity, "password"},
		{"invalid email", signupBody("not-an-email", password), http.StatusUnprocessableEntity, "email"},
		{"the same email in another case", signupBody(strings.ToLower(email), password), http.StatusConflict, ""},
		{"the same email in upper case with spaces", signupBody("  "+strings.ToUpper(email)+" ", "another password 123"), http.StatusConflict, ""},
		{"the same email exactly", signupBody(email, password), http.StatusConflict, ""},
		{"asking for a role", map[string]any{"email": uniqueEmail("role"), "password": password, "first_name": "Eve",
			"last_name": "Admin", "role": "admin"}, http.StatusBadRequest, ""},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			p := MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/signup", c.body, nil), c.want)
			if c.wantField != "" {
				if got, want := p.fields(), []string{c.wantField}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
	// The refused duplicates did not take over the account: its password still works.
	s.MustLogIn(t, strings.ToUpper(email), password)
	s.MustLoginRefused(t, email, "another password 123", "the refused duplicate's password")
}

// TestSignUpConcurrentSameEmail: one email, however it is spelled, is one account
// even when the signups race.
func TestSignUpConcurrentSameEmail(t *testing.T) {
	s := MustStack(t)
	local := "racer" + uuid.NewString()[:4]
	const n = 20
	variants := make([]string, n)
	for i := range variants {
		var b strings.Builder
		for j, r := range local {
			if j < 5 && i&(1<<j) != 0 {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
		}
		variants[i] = b.String() + "@Example.com"
		if i%2 == 1 {
			variants[i] = b.String() + "@example.COM"
		}
	}
	password := "race password " + uuid.NewString()[:8]
	before := s.MustWriteCounts(t)
	registeredBefore := s.MustEventTypeCount(t, "UserRegistered")

	statuses := make([]int, n)
	bodies := make([]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			j, err := json.Marshal(signupBody(variants[i], password))
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := s.http.Client().Post(s.http.URL+"/api/v1/auth/signup", "application/json", bytes.NewReader(j))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			statuses[i], bodies[i], errs[i] = resp.StatusCode, string(raw), err
		})
	}
	close(start)
	wg.Wait()

	created, conflicts := 0, 0
	var winner accountDoc
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("signup %d (%s): %v", i, variants[i], errs[i])
		}
		switch statuses[i] {
		case http.StatusCreated:
			created++
			if err := json.Unmarshal([]byte(bodies[i]), &winner); err != nil {
				t.Fatal(err)
			}
			if winner.Email != variants[i] {
				t.Errorf("the created account has email %q, want the winner's spelling %q", winner.Email, variants[i])
			}
		case http.StatusConflict:
			conflicts++
			if !strings.Contains(bodies[i], `"status":409`) {
				t.Errorf("signup %d: 409 is not a problem document: %s", i, bodies[i])
			}
		default:
			t.Errorf("signup %d (%s): status %d, want 201 or 409: %s", i, variants[i], statuses[i], bodies[i])
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("%d concurrent signups of one email: %d created and %d conflicts, want 1 and %d", n, created, conflicts, n-1)
	}
	if got, want := s.MustEventTypeCount(t, "UserRegistered")-registeredBefore, 1; got != want {
		t.Errorf("UserRegistered events = %d, want %d", got, want)
	}
	after := s.MustWriteCounts(t)
	if got, want := after.events-before.events, 1; got != want {
		t.Errorf("events written = %d, want %d", got, want)
	}
	var rows int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM users WHERE lower(email) = $1`,
		strings.ToLower(variants[0])).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("users rows with the email = %d, want 1", rows)
	}

	// Any spelling logs in to the one account.
	for _, email := range []string{strings.ToLower(variants[0]), strings.ToUpper(variants[0]), variants[n-1], variants[7]} {
		l := s.MustLogIn(t, email, password)
		if got, want := l.User.ID, winner.ID; got != want {
			t.Errorf("login as %s = user %s, want %s", email, got, want)
		}
	}
}

// TestPasswordsStoredAsArgon2id: passwords are kept as salted argon2id hashes only.
func TestPasswordsStoredAsArgon2id(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	password := "one shared password " + uuid.NewString()[:8]

	signedUp := s.MustSignUp(t, signupBody(uniqueEmail("argon"), password))
	resp := s.Do(t, adminToken, http.MethodPost, "/api/v1/users", map[string]any{
		"email": uniqueEmail("argon-admin-made"), "password": password, "role": "manager",
	}, map[string]string{"Idempotency-Key": "create-" + uuid.NewString()})
	MustStatus(t, resp, http.StatusCreated)
	var created accountDoc
	MustDecode(t, resp, &created)

	hashes := map[string]string{}
	for _, id := range []string{signedUp.ID, created.ID} {
		hash := s.MustPasswordHash(t, id)
		hashes[id] = hash
		if !strings.HasPrefix(hash, argon2idPrefix) {
			t.Errorf("password_hash of %s = %q, want it to start with %q", id, hash, argon2idPrefix)
			continue
		}
		parts := strings.Split(strings.TrimPrefix(hash, argon2idPrefix), "$")
		if len(parts) != 2 {
			t.Errorf("password_hash of %s = %q, want salt$key after the parameters", id, hash)
			continue
		}
		salt, errSalt := base64.RawStdEncoding.DecodeString(parts[0])
		key, errKey := base64.RawStdEncoding.DecodeString(parts[1])
		if errSalt != nil || errKey != nil || len(salt) < 16 || len(key) != 32 {
			t.Errorf("password_hash of %s = %q, want a salt of at least 16 bytes and a 32-byte key", id, hash)
		}
		// The event holds the same hash, never the password.
		var inEvent string
		if err := s.pool.QueryRow(context.Background(), `SELECT payload->>'password_hash' FROM events
			WHERE event_type = 'UserRegistered' AND stream_id LIKE '%' || $1`, id).Scan(&inEvent); err != nil {
			t.Fatal(err)
		}
		if inEvent != hash {
			t.Errorf("UserRegistered of %s carries password_hash %q, want the stored %q", id, inEvent, hash)
		}
	}
	if hashes[signedUp.ID] == hashes[created.ID] {
		t.Errorf("two accounts with one password have the same hash %q: no salt", hashes[created.ID])
	}
	s.MustNotStoredInClear(t, "password", password)
	var inEvents int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE strpos(payload::text, $1) > 0`,
		password).Scan(&inEvents); err != nil {
		t.Fatal(err)
	}
	if inEvents != 0 {
		t.Errorf("%d event payloads hold the password in clear", inEvents)
	}
	// Both hashes verify: each account logs in with the password.
	s.MustLogIn(t, signedUp.Email, password)
	s.MustLogIn(t, created.Email, password)
}

func TestRefresh(t *testing.T) {
	s := MustStack(t)
	userID, email := s.MustAccount(t, domain.RoleUser)
	first := s.MustLogIn(t, email, testPassword)

	before := s.MustWriteCounts(t)
	second := s.MustRefresh(t, first.RefreshToken)
	if second.Token == first.Token || second.RefreshToken == first.RefreshToken || second.Token == second.RefreshToken {
		t.Fatalf("refresh answered tokens (%q, %q) after (%q, %q), want two new, distinct ones",
			second.Token, second.RefreshToken, first.Token, first.RefreshToken)
	}
	for name, tok := range map[string]string{"token": second.Token, "refresh_token": second.RefreshToken} {
		if b, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(b) < 32 {
			t.Errorf("refreshed %s = %q, want at least 256 random bits", name, tok)
		}
	}
	if second.User.ID != userID.String() || second.User.Email != email {
		t.Errorf("refresh answered user %s %s, want %s %s", second.User.ID, second.User.Email, userID, email)
	}
	if exp, err := time.Parse(time.RFC3339, second.ExpiresAt); err != nil || !exp.After(time.Now()) {
		t.Errorf("expires_at = %q, want an RFC 3339 time in the future", second.ExpiresAt)
	}
	after := s.MustWriteCounts(t)
	if got, want := after.events-before.events, 1; got != want {
		t.Errorf("a refresh wrote %d events, want %d (SessionRefreshed)", got, want)
	}
	if got := after.sessions - before.sessions; got != 0 {
		t.Errorf("a refresh opened %d sessions, want 0 (it rotates the tokens of the same session)", got)
	}
	s.MustNotStoredInClear(t, "refreshed token", second.Token)
	s.MustNotStoredInClear(t, "refreshed refresh token", second.RefreshToken)

	// The old access token is dead at once; the new one works.
	s.MustDeadToken(t, first.Token, "the access token replaced by a refresh")
	s.MustMe(t, second.Token, userID)

	// The new refresh token rotates again.
	third := s.MustRefresh(t, second.RefreshToken)
	s.MustDeadToken(t, second.Token, "the access token replaced by a second refresh")
	s.MustMe(t, third.Token, userID)

	// Presenting a spent refresh token revokes the whole session.
	revokedBefore := s.MustEventTypeCount(t, "SessionRevoked")
	s.MustRefreshRefused(t, first.RefreshToken, "the first, spent refresh token")
	if got, want := s.MustEventTypeCount(t, "SessionRevoked")-revokedBefore, 1; got != want {
		t.Errorf("reusing a refresh token recorded %d SessionRevoked, want %d", got, want)
	}
	s.MustDeadToken(t, third.Token, "the newest access token of a session whose refresh token was reused")
	before = s.MustWriteCounts(t)
	s.MustRefreshRefused(t, third.RefreshToken, "the newest refresh token of a revoked session")
	s.MustRefreshRefused(t, second.RefreshToken, "a spent refresh token of a revoked session")
	s.MustNothingWritten(t, before, "refreshing a revoked session")
	if got := s.MustMySessions(t, s.MustLogIn(t, email, testPassword).Token); len(got) != 1 {
		t.Errorf("live sessions after the reuse = %d, want only the fresh login's", len(got))
	}

	// Other sessions of the user are not touched by the reuse.
	other := s.MustLogIn(t, email, testPassword)
	renewed := s.MustRefresh(t, other.RefreshToken)
	s.MustMe(t, renewed.Token, userID)
}

func TestRefreshRefusals(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	l := s.MustLogIn(t, email, testPassword)
	cases := []struct {
		name string
		body any
		want int
	}{
		{"unknown refresh token", map[string]string{"refresh_token": base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))}, http.StatusUnauthorized},
		{"empty refresh token", map[string]string{"refresh_token": ""}, http.StatusUnauthorized},
		{"the access token as a refresh token", map[string]string{"refresh_token": l.Token}, http.StatusUnauthorized},
		{"the refresh token with a character more", map[string]string{"refresh_token": l.RefreshToken + "A"}, http.StatusUnauthorized},
		{"unknown field", map[string]string{"refresh_token": l.RefreshToken, "token": l.Token}, http.StatusBadRequest},
		{"malformed JSON", `{"refresh_token":`, http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/refresh", c.body, nil), c.want)
			s.MustNothingWritten(t, before, c.name)
		})
	}
	// None of that harmed the session: the real refresh token still works once.
	next := s.MustRefresh(t, l.RefreshToken)
	if next.Token == l.Token {
		t.Error("refresh answered the old access token")
	}
}

// TestRefreshConcurrent: a refresh token works once even when presented twice at once.
func TestRefreshConcurrent(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	l := s.MustLogIn(t, email, testPassword)
	const n = 8
	statuses := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			body := `{"refresh_token":"` + l.RefreshToken + `"}`
			resp, err := s.http.Client().Post(s.http.URL+"/api/v1/auth/refresh", "application/json", strings.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		switch statuses[i] {
		case http.StatusOK:
			ok++
		case http.StatusUnauthorized:
		default:
			t.Errorf("refresh %d: status %d, want 200 or 401", i, statuses[i])
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent refreshes with one token: %d answered 200, want exactly 1", n, ok)
	}
	s.MustDeadToken(t, l.Token, "the access token after a refresh")
}

func TestMySessions(t *testing.T) {
	s := MustStack(t)
	userID, email := s.MustAccount(t, domain.RoleUser)
	otherID, otherToken := s.MustUser(t, domain.RoleUser)
	login := func(agent string) loginDoc {
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword},
			map[string]string{"User-Agent": agent})
		MustStatus(t, resp, http.StatusOK)
		var l loginDoc
		MustDecode(t, resp, &l)
		return l
	}
	start := time.Now()
	a, b := login("laptop/1.0"), login("phone/2.0")

	listA, listB := s.MustMySessions(t, a.Token), s.MustMySessions(t, b.Token)
	if len(listA) != 2 || len(listB) != 2 {
		t.Fatalf("sessions listed = %d and %d, want 2 and 2", len(listA), len(listB))
	}
	current := func(list []sessionDoc) (sessionDoc, sessionDoc) {
		t.Helper()
		var cur, other []sessionDoc
		for _, item := range list {
			if item.Current {
				cur = append(cur, item)
			} else {
				other = append(other, item)
			}
		}
		if len(cur) != 1 || len(other) != 1 {
			t.Fatalf("sessions %+v: %d marked current, want exactly 1", list, len(cur))
		}
		return cur[0], other[0]
	}
	curA, otherA := current(listA)
	curB, otherB := current(listB)
	if curA.ID != otherB.ID || curB.ID != otherA.ID || curA.ID == curB.ID {
		t.Errorf("session ids: A sees current %s other %s, B sees current %s other %s; want the two lists to agree",
			curA.ID, otherA.ID, curB.ID, otherB.ID)
	}
	for agent, item := range map[string]sessionDoc{"laptop/1.0": curA, "phone/2.0": curB} {
		if item.UserAgent == nil || *item.UserAgent != agent {
			t.Errorf("session %s: user_agent = %v, want %q", item.ID, item.UserAgent, agent)
		}
		if item.IPAddress == nil || *item.IPAddress != "127.0.0.1" {
			t.Errorf("session %s: ip_address = %v, want 127.0.0.1", item.ID, item.IPAddress)
		}
		for name, ts := range map[string]string{"expires_at": item.ExpiresAt, "created_at": item.CreatedAt, "updated_at": item.UpdatedAt} {
			at, err := time.Parse(time.RFC3339, ts)
			if err != nil || at.Location() != time.UTC {
				t.Errorf("session %s: %s = %q, want an RFC 3339 UTC time", item.ID, name, ts)
				continue
			}
			if name == "expires_at" && !at.After(start) {
				t.Errorf("session %s: expires_at = %s, want in the future", item.ID, ts)
			}
		}
	}

	// Another user's session is not found, nor is an unknown one; nothing is written.
	otherSessions := s.MustMySessions(t, otherToken)
	if len(otherSessions) != 1 {
		t.Fatalf("the other user has %d sessions, want 1", len(otherSessions))
	}
	for _, c := range []struct{ name, id string }{
		{"another user's session", otherSessions[0].ID},
		{"an unknown session", uuid.NewString()},
		{"a malformed id", "not-a-uuid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			MustProblem(t, s.Do(t, a.Token, http.MethodDelete, "/api/v1/me/sessions/"+c.id, nil, nil), http.StatusNotFound)
			s.MustNothingWritten(t, before, c.name)
		})
	}
	s.MustMe(t, otherToken, otherID)

	// Deleting the other session ends it at once; the caller's goes on.
	resp := s.Do(t, a.Token, http.MethodDelete, "/api/v1/me/sessions/"+otherA.ID, nil, nil)
	MustStatus(t, resp, http.StatusNoContent)
	if body, _ := io.ReadAll(resp.Body); len(body) != 0 {
		t.Errorf("204 with a body: %s", body)
	}
	s.MustDeadToken(t, b.Token, "the token of a deleted session")
	s.MustRefreshRefused(t, b.RefreshToken, "the refresh token of a deleted session")
	s.MustMe(t, a.Token, userID)
	if got := s.MustMySessions(t, a.Token); len(got) != 1 || got[0].ID != curA.ID || !got[0].Current {
		t.Errorf("sessions after the delete = %+v, want only the caller's %s, current", got, curA.ID)
	}

	// Logging out ends the caller's own session.
	MustStatus(t, s.Do(t, a.Token, http.MethodPost, "/api/v1/auth/logout", nil, nil), http.StatusNoContent)
	s.MustDeadToken(t, a.Token, "a logged-out token")
	s.MustRefreshRefused(t, a.RefreshToken, "the refresh token of a logged-out session")
	s.MustMe(t, otherToken, otherID)
}

func TestMe(t *testing.T) {
	s := MustStack(t)
	userID, email := s.MustAccount(t, domain.RoleManager)
	l := s.MustLogIn(t, email, testPassword)
	resp := s.Do(t, l.Token, http.MethodGet, "/api/v1/me", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	MustKeys(t, "GET /me", raw, accountFields)
	var me accountDoc
	if err := json.Unmarshal(raw, &me); err != nil {
		t.Fatal(err)
	}
	if me.ID != userID.String() || me.Email != email || me.Role != "manager" || !me.IsActive || me.LastLogin == nil {
		t.Errorf("GET /me = %+v, want %s %s, manager, active, with last_login", me, userID, email)
	}
	if got, want := resp.Header.Get("ETag"), etag(me.Version); got != want {
		t.Errorf("ETag = %q, want %q", got, want)
	}
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/me", nil, nil), http.StatusUnauthorized)
}

// TestDeactivateUser: a deactivated user's tokens die at once and it cannot log
// in; reactivation lets it log in again, but the old tokens stay dead.
func TestDeactivateUser(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	userID, email := s.MustAccount(t, domain.RoleUser)
	bystanderID, bystanderToken := s.MustUser(t, domain.RoleUser)
	first, second := s.MustLogIn(t, email, testPassword), s.MustLogIn(t, email, testPassword)
	wrongPassword := s.MustLoginRefused(t, email, "not the password at all", "a wrong password")
	path := "/api/v1/users/" + userID.String()

	revokedBefore := s.MustEventTypeCount(t, "SessionRevoked")
	u := s.MustUserCommand(t, adminToken, http.MethodPost, path+"/deactivate", nil, nil, http.StatusOK)
	if u.ID != userID.String() || u.IsActive {
		t.Errorf("deactivate answered %+v, want user %s inactive", u, userID)
	}
	if got, want := s.MustEventTypeCount(t, "SessionRevoked")-revokedBefore, 2; got != want {
		t.Errorf("deactivation revoked %d sessions, want %d", got, want)
	}
	// Dead at once: no retry loop.
	s.MustDeadToken(t, first.Token, "a deactivated user's first token")
	s.MustDeadToken(t, second.Token, "a deactivated user's second token")
	before := s.MustWriteCounts(t)
	s.MustRefreshRefused(t, first.RefreshToken, "a deactivated user's refresh token")
	s.MustNothingWritten(t, before, "a deactivated user's refresh")
	s.MustMe(t, bystanderToken, bystanderID)

	// It cannot log in, and the answer is that of a wrong password.
	if got := s.MustLoginRefused(t, email, testPassword, "a deactivated user's login"); !equalProblems(got, wrongPassword) {
		t.Errorf("login of a deactivated user = %+v, want the same as a wrong password: %+v", got, wrongPassword)
	}
	if got := s.MustLoginRefused(t, strings.ToUpper(email), testPassword, "a deactivated user's login in upper case"); !equalProblems(got, wrongPassword) {
		t.Errorf("login of a deactivated user = %+v, want the same as a wrong password: %+v", got, wrongPassword)
	}

	// Deactivating again writes nothing.
	before = s.MustWriteCounts(t)
	again := s.MustUserCommand(t, adminToken, http.MethodPost, path+"/deactivate", nil, nil, http.StatusOK)
	if again.IsActive || again.Version != u.Version {
		t.Errorf("deactivating again = active %v version %d, want inactive at version %d", again.IsActive, again.Version, u.Version)
	}
	s.MustNothingWritten(t, before, "deactivating an inactive user")

	// Reactivated, it logs in again; the old tokens stay dead.
	back := s.MustUserCommand(t, adminToken, http.MethodPost, path+"/activate", nil, nil, http.StatusOK)
	if !back.IsActive || back.Version != u.Version+1 {
		t.Errorf("activate answered active %v version %d, want active at version %d", back.IsActive, back.Version, u.Version+1)
	}
	s.MustDeadToken(t, first.Token, "an old token after reactivation")
	s.MustDeadToken(t, second.Token, "another old token after reactivation")
	s.MustRefreshRefused(t, second.RefreshToken, "an old refresh token after reactivation")
	fresh := s.MustLogIn(t, email, testPassword)
	s.MustMe(t, fresh.Token, userID)
	before = s.MustWriteCounts(t)
	s.MustUserCommand(t, adminToken, http.MethodPost, path+"/activate", nil, nil, http.StatusOK)
	s.MustNothingWritten(t, before, "activating an active user")

	// A stale If-Match is refused and writes nothing; the current one works.
	before = s.MustWriteCounts(t)
	resp := s.Do(t, adminToken, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	tag := resp.Header.Get("ETag")
	MustProblem(t, s.Do(t, adminToken, http.MethodPost, path+"/deactivate", nil, map[string]string{"If-Match": etag(u.Version)}),
		http.StatusPreconditionFailed)
	s.MustNothingWritten(t, before, "deactivate with a stale If-Match")
	s.MustMe(t, fresh.Token, userID)
	s.MustUserCommand(t, adminToken, http.MethodPost, path+"/deactivate", nil, map[string]string{"If-Match": tag}, http.StatusOK)
	s.MustDeadToken(t, fresh.Token, "the new token after a second deactivation")

	// An unknown user is not found.
	before = s.MustWriteCounts(t)
	MustProblem(t, s.Do(t, adminToken, http.MethodPost, "/api/v1/users/"+uuid.NewString()+"/deactivate", nil, nil), http.StatusNotFound)
	s.MustNothingWritten(t, before, "deactivating an unknown user")
}

func equalProblems(a, b problemDoc) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestAdminSelfLockout: an administrator can neither deactivate nor demote itself.
func TestAdminSelfLockout(t *testing.T) {
	s := MustStack(t)
	adminID, adminToken := s.MustUser(t, domain.RoleAdmin)
	path := "/api/v1/users/" + adminID.String()
	for _, c := range []struct {
		name, suffix string
		body         any
	}{
		{"deactivate itself", "/deactivate", nil},
		{"demote itself to manager", "/role", map[string]string{"role": "manager"}},
		{"demote itself to user", "/role", map[string]string{"role": "user"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			MustProblem(t, s.Do(t, adminToken, http.MethodPost, path+c.suffix, c.body, nil), http.StatusConflict)
			s.MustNothingWritten(t, before, c.name)
		})
	}
	me, _ := s.MustMe(t, adminToken, adminID)
	if me.Role != "admin" || !me.IsActive {
		t.Errorf("after the refusals the admin is %s, active %v; want admin, active", me.Role, me.IsActive)
	}
	// Keeping its own role is no change.
	before := s.MustWriteCounts(t)
	same := s.MustUserCommand(t, adminToken, http.MethodPost, path+"/role", map[string]string{"role": "admin"}, nil, http.StatusOK)
	if same.Role != "admin" {
		t.Errorf("role = %s, want admin", same.Role)
	}
	s.MustNothingWritten(t, before, "an admin keeping its role")
	// Another admin may demote it.
	_, otherAdmin := s.MustUser(t, domain.RoleAdmin)
	demoted := s.MustUserCommand(t, otherAdmin, http.MethodPost, path+"/role", map[string]string{"role": "manager"}, nil, http.StatusOK)
	if demoted.Role != "manager" {
		t.Errorf("role = %s, want manager", demoted.Role)
	}
	MustProblem(t, s.Do(t, adminToken, http.MethodPost, "/api/v1/users", map[string]any{
		"email": uniqueEmail("x"), "password": testPassword, "role": "user"}, nil), http.StatusForbidden)
}

// TestUserAdministrationRoles: only admins change users; managers read them; users
// have no access to /users at all.
func TestUserAdministrationRoles(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	managerID, managerToken := s.MustUser(t, domain.RoleManager)
	targetID, targetEmail := s.MustAccount(t, domain.RoleUser)
	plainID, plainToken := s.MustUser(t, domain.RoleUser)
	target := "/api/v1/users/" + targetID.String()
	resp := s.Do(t, adminToken, http.MethodGet, target, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	tag := resp.Header.Get("ETag")

	writes := []struct {
		name, method, path string
		body               any
		header             map[string]string
	}{
		{"deactivate", http.MethodPost, target + "/deactivate", nil, nil},
		{"activate", http.MethodPost, target + "/activate", nil, nil},
		{"change role", http.MethodPost, target + "/role", map[string]string{"role": "admin"}, nil},
		{"promote itself", http.MethodPost, "/api/v1/users/{self}/role", map[string]string{"role": "admin"}, nil},
		{"create", http.MethodPost, "/api/v1/users", map[string]any{"email": uniqueEmail("made"), "password": testPassword, "role": "admin"}, nil},
		{"patch", http.MethodPatch, target, map[string]any{"first_name": "Mallory"}, nil},
		{"patch with If-Match", http.MethodPatch, target, map[string]any{"email": uniqueEmail("stolen")}, map[string]string{"If-Match": tag}},
	}
	for _, who := range []struct {
		role, token string
		self        uuid.UUID
	}{{"manager", managerToken, managerID}, {"user", plainToken, plainID}} {
		for _, w := range writes {
			t.Run(who.role+" may not "+w.name, func(t *testing.T) {
				before := s.MustWriteCounts(t)
				path := strings.Replace(w.path, "{self}", who.self.String(), 1)
				MustProblem(t, s.Do(t, who.token, w.method, path, w.body, w.header), http.StatusForbidden)
				s.MustNothingWritten(t, before, who.role+" "+w.name)
			})
		}
	}

	// Managers read users.
	resp = s.Do(t, managerToken, http.MethodGet, "/api/v1/users", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var page accountPage
	MustDecode(t, resp, &page)
	ids := make([]string, len(page.Items))
	for i, u := range page.Items {
		ids[i] = u.ID
	}
	for _, want := range []uuid.UUID{targetID, plainID, managerID} {
		if !slices.Contains(ids, want.String()) {
			t.Errorf("GET /users as manager = %v, want it to list %s", ids, want)
		}
	}
	resp = s.Do(t, managerToken, http.MethodGet, "/api/v1/users?email="+strings.ToUpper(targetEmail), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	page = accountPage{}
	MustDecode(t, resp, &page)
	if len(page.Items) != 1 || page.Items[0].ID != targetID.String() {
		t.Errorf("GET /users?email=<upper case> = %+v, want only %s", page.Items, targetID)
	}
	resp = s.Do(t, managerToken, http.MethodGet, "/api/v1/users?role=manager", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	page = accountPage{}
	MustDecode(t, resp, &page)
	for _, u := range page.Items {
		if u.Role != "manager" {
			t.Errorf("GET /users?role=manager lists %s with role %s", u.ID, u.Role)
		}
	}
	if len(page.Items) != 1 || page.Items[0].ID != managerID.String() {
		t.Errorf("GET /users?role=manager = %+v, want only %s", page.Items, managerID)
	}
	resp = s.Do(t, managerToken, http.MethodGet, target, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	MustKeys(t, "GET /users/{id} as manager", raw, accountFields)
	if got := resp.Header.Get("ETag"); got != tag {
		t.Errorf("ETag = %q, want %q", got, tag)
	}
	// A manager reads the user, not its account trail (domain.SeesAccountTrail):
	// the admin does.
	MustProblem(t, s.Do(t, managerToken, http.MethodGet, target+"/history", nil, nil), http.StatusForbidden)
	MustProblem(t, s.Do(t, plainToken, http.MethodGet, target+"/history", nil, nil), http.StatusForbidden)
	MustStatus(t, s.Do(t, plainToken, http.MethodGet, "/api/v1/users/"+plainID.String()+"/history", nil, nil), http.StatusOK)
	resp = s.Do(t, adminToken, http.MethodGet, target+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	raw, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(`"UserRegistered"`)) || !bytes.Contains(raw, []byte(`"email":"`+targetEmail+`"`)) {
		t.Errorf("user history lacks UserRegistered with the email %s: %s", targetEmail, raw)
	}
	// API.md: password_hash never appears in any response.
	for _, leak := range []string{"password_hash", "$argon2"} {
		if bytes.Contains(raw, []byte(leak)) {
			t.Errorf("GET /users/{id}/history shows %q to an admin (API.md: password_hash never appears in any response): %.300s",
				leak, raw)
		}
	}
	MustProblem(t, s.Do(t, managerToken, http.MethodGet, "/api/v1/users?role=owner", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, managerToken, http.MethodGet, "/api/v1/users/"+uuid.NewString(), nil, nil), http.StatusNotFound)

	// A user gets 403 on every /users route, even about itself, but for its own
	// account trail (above).
	for _, path := range []string{"/api/v1/users", "/api/v1/users?email=" + targetEmail, target, target + "/history",
		"/api/v1/users/" + plainID.String()} {
		t.Run("user may not read "+path, func(t *testing.T) {
			MustProblem(t, s.Do(t, plainToken, http.MethodGet, path, nil, nil), http.StatusForbidden)
		})
	}
}

// TestRoleChangeAppliesAtOnce: roles are read per request, so a promotion or
// demotion changes what an existing token sees.
func TestRoleChangeAppliesAtOnce(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	_, ownerToken := s.MustUser(t, domain.RoleUser)
	userID, userToken := s.MustUser(t, domain.RoleUser)
	p := s.MustCreateProperty(t, ownerToken, propertyBody(nil))
	propertyPath := "/api/v1/properties/" + p.ID
	rolePath := "/api/v1/users/" + userID.String() + "/role"

	MustProblem(t, s.Do(t, userToken, http.MethodGet, propertyPath, nil, nil), http.StatusNotFound)

	before := s.MustWriteCounts(t)
	u := s.MustUserCommand(t, adminToken, http.MethodPost, rolePath, map[string]string{"role": "manager"}, nil, http.StatusOK)
	if u.Role != "manager" {
		t.Errorf("role = %s, want manager", u.Role)
	}
	if got, want := s.MustWriteCounts(t).events-before.events, 1; got != want {
		t.Errorf("a role change wrote %d events, want %d", got, want)
	}
	MustStatus(t, s.Do(t, userToken, http.MethodGet, propertyPath, nil, nil), http.StatusOK)
	if ids := s.MustListProperties(t, userToken, "").ids(); !slices.Contains(ids, p.ID) {
		t.Errorf("a promoted manager lists %v, want it to include %s", ids, p.ID)
	}
	MustStatus(t, s.Do(t, userToken, http.MethodGet, "/api/v1/users", nil, nil), http.StatusOK)
	if me, _ := s.MustMe(t, userToken, userID); me.Role != "manager" {
		t.Errorf("GET /me role = %s, want manager", me.Role)
	}

	// The same role again writes nothing; a bad role is a 422.
	before = s.MustWriteCounts(t)
	s.MustUserCommand(t, adminToken, http.MethodPost, rolePath, map[string]string{"role": "manager"}, nil, http.StatusOK)
	s.MustNothingWritten(t, before, "the same role again")
	for _, bad := range []string{"owner", "Admin", ""} {
		t.Run("role "+strconv.Quote(bad), func(t *testing.T) {
			before := s.MustWriteCounts(t)
			p := MustProblem(t, s.Do(t, adminToken, http.MethodPost, rolePath, map[string]string{"role": bad}, nil),
				http.StatusUnprocessableEntity)
			if got, want := p.fields(), []string{"role"}; !slices.Equal(got, want) {
				t.Errorf("errors[].field = %v, want %v", got, want)
			}
			s.MustNothingWritten(t, before, "role "+bad)
		})
	}

	// Demoted again, the same token no longer sees the property.
	s.MustUserCommand(t, adminToken, http.MethodPost, rolePath, map[string]string{"role": "user"}, nil, http.StatusOK)
	MustProblem(t, s.Do(t, userToken, http.MethodGet, propertyPath, nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, userToken, http.MethodGet, "/api/v1/users", nil, nil), http.StatusForbidden)

	// Promoted to admin, it administers users with the same token.
	s.MustUserCommand(t, adminToken, http.MethodPost, rolePath, map[string]string{"role": "admin"}, nil, http.StatusOK)
	resp := s.Do(t, userToken, http.MethodPost, "/api/v1/users", map[string]any{
		"email": uniqueEmail("made-by-promoted"), "password": testPassword, "role": "user"}, nil)
	MustStatus(t, resp, http.StatusCreated)
}

// TestChangeUserProfile: PATCH /users/{id} moves the email's claim with it.
func TestChangeUserProfile(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	userID, oldEmail := s.MustAccount(t, domain.RoleUser)
	_, otherEmail := s.MustAccount(t, domain.RoleUser)
	path := "/api/v1/users/" + userID.String()
	resp := s.Do(t, adminToken, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var was accountDoc
	MustDecode(t, resp, &was)

	newEmail := uniqueEmail("Renamed")
	u := s.MustUserCommand(t, adminToken, http.MethodPatch, path, map[string]any{"email": newEmail, "first_name": "Ann"},
		map[string]string{"If-Match": etag(was.Version)}, http.StatusOK)
	if u.Email != newEmail || u.FirstName == nil || *u.FirstName != "Ann" || u.Version != was.Version+1 || u.Role != "user" {
		t.Errorf("PATCH answered %+v, want email %s, first_name Ann, role user, version %d", u, newEmail, was.Version+1)
	}

	// The new email logs in, in any case; the old one no longer does.
	if l := s.MustLogIn(t, strings.ToLower(newEmail), testPassword); l.User.ID != userID.String() {
		t.Errorf("login with the new email = user %s, want %s", l.User.ID, userID)
	}
	s.MustLogIn(t, newEmail, testPassword)
	s.MustLoginRefused(t, oldEmail, testPassword, "login with the old email")

	// The old email is free again: a signup takes it.
	newcomer := s.MustSignUp(t, signupBody(strings.ToUpper(oldEmail), "newcomer password 1"))
	if newcomer.ID == userID.String() {
		t.Errorf("the signup with the released email answered the renamed user")
	}
	if l := s.MustLogIn(t, oldEmail, "newcomer password 1"); l.User.ID != newcomer.ID {
		t.Errorf("login with the old email = user %s, want the newcomer %s", l.User.ID, newcomer.ID)
	}
	s.MustLoginRefused(t, oldEmail, testPassword, "the renamed user's password on its old email")

	refusals := []struct {
		name      string
		body      any
		header    map[string]string
		want      int
		wantField string
	}{
		{"another user's email", map[string]any{"email": otherEmail}, nil, http.StatusConflict, ""},
		{"another user's email in upper case", map[string]any{"email": strings.ToUpper(otherEmail)}, nil, http.StatusConflict, ""},
		{"the newcomer's email in lower case", map[string]any{"email": strings.ToLower(oldEmail)}, nil, http.StatusConflict, ""},
		{"a stale If-Match", map[string]any{"last_name": "Stale"}, map[string]string{"If-Match": etag(was.Version)}, http.StatusPreconditionFailed, ""},
		{"a malformed If-Match", map[string]any{"last_name": "Stale"}, map[string]string{"If-Match": `"v1"`}, http.StatusPreconditionFailed, ""},
		{"an invalid email", map[string]any{"email": "nobody at example.com"}, nil, http.StatusUnprocessableEntity, "email"},
		{"a null email", map[string]any{"email": nil}, nil, http.StatusUnprocessableEntity, "email"},
		{"an unknown field", map[string]any{"role": "admin"}, nil, http.StatusBadRequest, ""},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			p := MustProblem(t, s.Do(t, adminToken, http.MethodPatch, path, c.body, c.header), c.want)
			if c.wantField != "" {
				if got, want := p.fields(), []string{c.wantField}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
	// None of the refusals moved a claim: every account still logs in as before.
	s.MustLogIn(t, newEmail, testPassword)
	s.MustLogIn(t, otherEmail, testPassword)

	// Only the case of one's own email changes: no conflict with itself.
	upper := s.MustUserCommand(t, adminToken, http.MethodPatch, path, map[string]any{"email": strings.ToUpper(newEmail)}, nil, http.StatusOK)
	if upper.Email != strings.ToUpper(newEmail) {
		t.Errorf("email = %s, want %s", upper.Email, strings.ToUpper(newEmail))
	}
	s.MustLogIn(t, newEmail, testPassword)
	// The same profile again writes nothing.
	before := s.MustWriteCounts(t)
	s.MustUserCommand(t, adminToken, http.MethodPatch, path, map[string]any{"email": strings.ToUpper(newEmail)}, nil, http.StatusOK)
	s.MustNothingWritten(t, before, "the same profile again")
	MustProblem(t, s.Do(t, adminToken, http.MethodPatch, "/api/v1/users/"+uuid.NewString(), map[string]any{"first_name": "X"}, nil),
		http.StatusNotFound)
}

// Changes of one user racing each other without If-Match: each runs in a
// transaction (a profile change moves the email's claim, a deactivation revokes
// the sessions), and one that loses the append to the user's stream runs again
// in a fresh transaction on fresh state. Each answers 200, or 412 if it lost
// every attempt; never a 500. Afterwards the read model holds every change that
// answered 200, in the stream's order, and exactly the final email is claimed.
func TestConcurrentChangesOfOneUser(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	userID, email := s.MustAccount(t, domain.RoleUser)
	s.MustLogIn(t, email, testPassword) // a live session for the deactivation to revoke
	path := "/api/v1/users/" + userID.String()
	resp := s.Do(t, adminToken, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var was accountDoc
	MustDecode(t, resp, &was)

	const changes = 6
	emails := make([]string, changes)
	type outcome struct {
		what   string
		status int
		body   []byte
	}
	outcomes := make(chan outcome, changes+1)
	var wg sync.WaitGroup
	start := make(chan struct{})
	send := func(what, method, path string, body any) {
		defer wg.Done()
		<-start
		resp := s.Do(t, adminToken, method, path, body, nil)
		b, _ := io.ReadAll(resp.Body)
		outcomes <- outcome{what, resp.StatusCode, b}
	}
	for i := range changes {
		emails[i] = uniqueEmail(fmt.Sprintf("racer%d", i))
		wg.Add(1)
		go send(fmt.Sprintf("PATCH #%d", i), http.MethodPatch, path,
			map[string]any{"email": emails[i], "phone": fmt.Sprintf("555-01%02d", i)})
	}
	wg.Add(1)
	go send("deactivate", http.MethodPost, path+"/deactivate", nil)
	close(start)
	wg.Wait()
	close(outcomes)
	succeeded, deactivated := int64(0), false
	for o := range outcomes {
		switch o.status {
		case http.StatusOK:
			succeeded++
			deactivated = deactivated || o.what == "deactivate"
		case http.StatusPreconditionFailed:
		default:
			t.Errorf("%s racing the others: status %d, want 200 (or 412): %s", o.what, o.status, o.body)
		}
	}
	if succeeded < 2 {
		t.Errorf("%d of the racing changes succeeded, want most of them", succeeded)
	}

	resp = s.Do(t, adminToken, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var now accountDoc
	MustDecode(t, resp, &now)
	if want := was.Version + succeeded; now.Version != want || now.IsActive == deactivated {
		t.Errorf("after the race: version %d, is_active %v; want version %d (every change), is_active %v",
			now.Version, now.IsActive, want, !deactivated)
	}
	// The read model shows the stream's last profile, not one applied out of order.
	events, err := s.store.ReadStream(context.Background(), eventstore.StreamID{Type: domain.UserStreamType, ID: userID}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var last struct {
		Profile struct {
			Email string `json:"email"`
			Phone string `json:"phone"`
		} `json:"profile"`
	}
	for _, e := range events {
		if e.Type == "UserProfileChanged" {
			if err := json.Unmarshal(e.Data, &last); err != nil {
				t.Fatal(err)
			}
		}
	}
	if now.Email != last.Profile.Email || now.Phone == nil || *now.Phone != last.Profile.Phone {
		t.Errorf("read model: email %s, phone %v; the stream's last profile: %+v", now.Email, now.Phone, last.Profile)
	}
	for _, e := range append(emails, email) {
		holder, claimed, err := s.users.UserIDByEmail(context.Background(), e)
		if err != nil {
			t.Fatal(err)
		}
		if want := e == now.Email; claimed != want || (claimed && holder != userID) {
			t.Errorf("claim of %s: held %v by %s, want held %v by the user", e, claimed, holder, want)
		}
	}
	if live := s.MustLiveSessions(t, userID); deactivated && live != 0 {
		t.Errorf("%d live sessions after the deactivation, want none", live)
	}
}

// MustLiveSessions counts a user's sessions that are not revoked.
func (s *stack) MustLiveSessions(tb testing.TB, userID uuid.UUID) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM user_sessions
		WHERE user_id = $1 AND revoked_at IS NULL`, userID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestAdminCreatesUser: POST /users makes accounts of any role.
func TestAdminCreatesUser(t *testing.T) {
	s := MustStack(t)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	id := uuid.New()
	email := uniqueEmail("Made")
	body := map[string]any{"id": id, "email": email, "password": "made by an admin 1", "role": "manager",
		"first_name": "Mona", "last_name": "Gerente", "phone": "555"}

	resp := s.Do(t, adminToken, http.MethodPost, "/api/v1/users", body, nil)
	MustStatus(t, resp, http.StatusCreated)
	var u accountDoc
	MustDecode(t, resp, &u)
	if u.ID != id.String() || u.Email != email || u.Role != "manager" || !u.IsActive || u.Version != 1 {
		t.Errorf("POST /users = %+v, want id %s, email %s, manager, active, version 1", u, id, email)
	}
	if got, want := resp.Header.Get("Location"), "/api/v1/users/"+id.String(); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if l := s.MustLogIn(t, email, "made by an admin 1"); l.User.Role != "manager" {
		t.Errorf("the created account logs in as %s, want manager", l.User.Role)
	}
	noRole := s.MustUserCommand(t, adminToken, http.MethodPost, "/api/v1/users",
		map[string]any{"email": uniqueEmail("norole"), "password": testPassword}, nil, http.StatusCreated)
	if noRole.Role != "user" {
		t.Errorf("POST /users without a role made a %s, want user", noRole.Role)
	}

	// API.md: the same create with the same id and body answers the same resource
	// again (200) and writes nothing.
	t.Run("the same create again", func(t *testing.T) {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, adminToken, http.MethodPost, "/api/v1/users", body, nil)
		if resp.StatusCode != http.StatusOK {
			raw, _ := io.ReadAll(resp.Body)
			t.Errorf("repeating POST /users with the same id and body: status %d, want 200 (API.md conventions): %s",
				resp.StatusCode, raw)
		} else {
			var again accountDoc
			MustDecode(t, resp, &again)
			if again.ID != id.String() {
				t.Errorf("the repeated create answered %s, want %s", again.ID, id)
			}
		}
		s.MustNothingWritten(t, before, "the same create again")
	})

	otherEmail := uniqueEmail("other")
	refusals := []struct {
		name      string
		body      map[string]any
		want      int
		wantField string
	}{
		{"the same id with another email", map[string]any{"id": id, "email": otherEmail, "password": "made by an admin 1", "role": "manager"}, http.StatusConflict, ""},
		{"the same email in another case", map[string]any{"email": strings.ToLower(email), "password": testPassword, "role": "user"}, http.StatusConflict, ""},
		{"an unknown role", map[string]any{"email": uniqueEmail("r"), "password": testPassword, "role": "owner"}, http.StatusUnprocessableEntity, "role"},
		{"a short password", map[string]any{"email": uniqueEmail("p"), "password": "short", "role": "user"}, http.StatusUnprocessableEntity, "password"},
		{"the nil id", map[string]any{"id": uuid.Nil, "email": uniqueEmail("nil"), "password": testPassword, "role": "user"}, http.StatusUnprocessableEntity, "id"},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			p := MustProblem(t, s.Do(t, adminToken, http.MethodPost, "/api/v1/users", c.body, nil), c.want)
			if c.wantField != "" {
				if got, want := p.fields(), []string{c.wantField}; !slices.Equal(got, want) {
					t.Errorf("errors[].field = %v, want %v", got, want)
				}
			}
			s.MustNothingWritten(t, before, c.name)
		})
	}
	// The refused create with the same id did not claim its email.
	s.MustSignUp(t, signupBody(otherEmail, testPassword))
}

// MustRetryAfter fails unless resp is a 429 problem with Retry-After in whole seconds ≥ 1.
func MustRetryAfter(tb testing.TB, resp *http.Response) {
	tb.Helper()
	retry := resp.Header.Get("Retry-After")
	MustProblem(tb, resp, http.StatusTooManyRequests)
	secs, err := strconv.Atoi(retry)
	if err != nil || secs < 1 {
		tb.Errorf("Retry-After = %q, want an integer number of seconds ≥ 1", retry)
	}
}

// TestLoginRateLimitedPerEmail: after ten wrong passwords for one email (however
// spelled) the next login is a 429, even with the right password; the service
// answers everything else.
func TestLoginRateLimitedPerEmail(t *testing.T) {
	s := MustStack(t)
	_, email := s.MustAccount(t, domain.RoleUser)
	_, otherEmail := s.MustAccount(t, domain.RoleUser)
	session := s.MustLogIn(t, otherEmail, testPassword)
	spellings := []string{email, strings.ToUpper(email), " " + email + " "}

	start := time.Now()
	for i := range 10 {
		s.MustLoginRefused(t, spellings[i%len(spellings)], fmt.Sprintf("guess number %d", i), "a wrong password")
	}
	// The bucket refills one attempt per 6 s, so the 11th is refused unless the ten
	// took that long; allow for the refill rather than flake.
	allowed := 11 + int(time.Since(start)/(6*time.Second))
	var limited *http.Response
	for attempt := 11; attempt <= allowed && limited == nil; attempt++ {
		before := s.MustWriteCounts(t)
		resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login",
			map[string]string{"email": spellings[attempt%len(spellings)], "password": "yet another guess"}, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
		}
		s.MustNothingWritten(t, before, "a refused login")
	}
	if limited == nil {
		t.Fatalf("%d wrong passwords for one email were never answered 429", allowed)
	}
	MustRetryAfter(t, limited)

	// Even the right password is refused while limited, and nothing is written.
	before := s.MustWriteCounts(t)
	resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, nil)
	MustRetryAfter(t, resp)
	s.MustNothingWritten(t, before, "a rate-limited login")

	// Everything else is still served.
	MustStatus(t, s.Do(t, "", http.MethodGet, "/healthz", nil, nil), http.StatusOK)
	s.MustMe(t, session.Token, uuid.MustParse(session.User.ID))
	s.MustLogIn(t, otherEmail, testPassword)
}

// TestRefreshRateLimited: refresh is throttled per token and per client.
func TestRefreshRateLimited(t *testing.T) {
	t.Run("one token presented again and again", func(t *testing.T) {
		s := MustStack(t)
		_, email := s.MustAccount(t, domain.RoleUser)
		l := s.MustLogIn(t, email, testPassword)
		unknown := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
		before := s.MustWriteCounts(t)
		var limited *http.Response
		for attempt := 1; attempt <= 12 && limited == nil; attempt++ {
			resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": unknown}, nil)
			switch resp.StatusCode {
			case http.StatusUnauthorized:
				MustProblem(t, resp, http.StatusUnauthorized)
			case http.StatusTooManyRequests:
				if attempt <= 10 {
					t.Errorf("refresh attempt %d was already limited", attempt)
				}
				limited = resp
			default:
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("attempt %d: status %d, want 401 or 429: %s", attempt, resp.StatusCode, body)
			}
		}
		if limited == nil {
			t.Fatal("12 refreshes with one unknown token were never answered 429")
		}
		MustRetryAfter(t, limited)
		s.MustNothingWritten(t, before, "refused refreshes")
		// Another token is its own bucket, and the service still answers.
		s.MustRefresh(t, l.RefreshToken)
		MustStatus(t, s.Do(t, "", http.MethodGet, "/healthz", nil, nil), http.StatusOK)
	})
	t.Run("many tokens from one client", func(t *testing.T) {
		s := MustStack(t)
		_, token := s.MustUser(t, domain.RoleUser)
		before := s.MustWriteCounts(t)
		var limited *http.Response
		const most = 150
		attempt := 1
		for ; attempt <= most && limited == nil; attempt++ {
			resp := s.Do(t, "", http.MethodPost, "/api/v1/auth/refresh", map[string]string{"refresh_token": uuid.NewString()}, nil)
			switch resp.StatusCode {
			case http.StatusUnauthorized:
			case http.StatusTooManyRequests:
				limited = resp
			default:
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("attempt %d: status %d, want 401 or 429: %s", attempt, resp.StatusCode, body)
			}
		}
		if limited == nil {
			t.Fatalf("%d refreshes with guessed tokens from one client were never answered 429", most)
		}
		if attempt < 20 {
			t.Errorf("guessed refresh tokens were limited after %d attempts, want a burst of at least 20", attempt)
		}
		MustRetryAfter(t, limited)
		s.MustNothingWritten(t, before, "guessed refreshes")
		// Authenticated requests are not throttled.
		MustStatus(t, s.Do(t, token, http.MethodGet, "/api/v1/me", nil, nil), http.StatusOK)
	})
}
