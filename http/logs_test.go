package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A full scenario, from sign-up to erasure and including refusals that carry
// secrets and personal values, leaves no password, token (nor its hash) or tenant
// personal value in any log line of the service (HTTP and projector).
func TestLogsHoldNoSecrets(t *testing.T) {
	var logs syncBuffer
	s := MustStack(t, WithLogs(&logs))
	tag := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	email, password := "logcheck-"+tag+"@example.com", "log-secret-"+tag+"-passphrase"
	wrongPassword := "wrong-secret-" + tag + "-passphrase"

	MustStatus(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/signup", map[string]any{
		"email": email, "password": password, "first_name": "Logan", "last_name": "Check",
	}, nil), http.StatusCreated)
	first := s.MustLogIn(t, email, password)
	MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/login",
		map[string]any{"email": email, "password": wrongPassword}, nil), http.StatusUnauthorized)
	MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/login",
		map[string]any{"email": "nobody-" + tag + "@example.com", "password": password}, nil), http.StatusUnauthorized)
	second := s.MustRefresh(t, first.RefreshToken)
	MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/auth/refresh",
		map[string]any{"refresh_token": first.RefreshToken}, nil), http.StatusUnauthorized) // dead: revokes the session
	third := s.MustLogIn(t, email, password)
	token := third.Token
	MustStatus(t, s.Do(t, token, http.MethodGet, "/api/v1/me", nil, nil), http.StatusOK)
	bogus := "bogus-token-" + tag
	MustProblem(t, s.Do(t, bogus, http.MethodGet, "/api/v1/me", nil, nil), http.StatusUnauthorized)

	p := s.MustPrivateTenant(t, token, map[string]string{"Idempotency-Key": "logs-" + tag})
	s.MustListTenants(t, token, "email="+url.QueryEscape(p.values[3])+"&last_name="+url.QueryEscape(p.values[2]))
	MustStatus(t, s.Do(t, token, http.MethodGet, "/api/v1/tenants/"+p.id+"/history", nil, nil), http.StatusOK)
	// Refusals whose bodies carry personal values.
	MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants", map[string]any{
		"first_name": p.values[0], "last_name": p.values[1], "email": "not-an-email " + p.values[3], "ssn_last_four": "84x7",
	}, nil), http.StatusUnprocessableEntity)
	MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants", map[string]any{
		"first_name": p.values[0], "last_name": p.values[1], "email": p.values[3], "ssn": "8437",
	}, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants", `{"first_name": "`+p.values[0]+`", `,
		nil), http.StatusBadRequest)
	MustStatus(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants/"+p.id+"/erase", nil, nil), http.StatusOK)
	MustStatus(t, s.Do(t, token, http.MethodPost, "/api/v1/auth/logout", nil, nil), http.StatusNoContent)

	var passwordHash string
	if err := s.pool.QueryRow(context.Background(), `SELECT password_hash FROM users WHERE email = $1`, email).Scan(&passwordHash); err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"password": password, "wrong password": wrongPassword, "password hash": passwordHash,
		"bogus token": bogus,
	}
	for i, l := range []loginDoc{first, second, third} {
		n := string(rune('1' + i))
		secrets["access token "+n] = l.Token
		secrets["refresh token "+n] = l.RefreshToken
		secrets["access token hash "+n] = commands.HashToken(l.Token)
		secrets["refresh token hash "+n] = commands.HashToken(l.RefreshToken)
	}

	out := logs.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	requests := 0
	for _, line := range lines {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if entry["msg"] == "request" {
			requests++
		}
		for what, secret := range secrets {
			if secret != "" && strings.Contains(line, secret) {
				t.Errorf("a log line holds the %s: %s", what, line)
			}
		}
		p.MustNotFind(t, "a log line", line)
	}
	// The capture works: each of the 19 requests above left its line.
	if requests != 19 {
		t.Errorf("captured %d request lines, want 19; logs:\n%s", requests, out)
	}
	if !strings.Contains(out, `"status":401`) || !strings.Contains(out, `"status":422`) {
		t.Errorf("the refusals left no log lines:\n%s", out)
	}
}
