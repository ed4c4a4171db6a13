package domain

// Session invariants:
//   - only hashes of the access and refresh tokens are recorded, never the tokens;
//   - a refresh token works once: refreshing rotates both tokens, and presenting a
//     spent refresh token revokes the whole session (it was stolen or replayed);
//   - a session refreshes for at most SessionMaxAge after it started;
//   - a revoked session stays revoked.

import (
	"crypto/subtle"
	"time"

	"github.com/google/uuid"
)

// SessionStreamType names session streams.
const SessionStreamType = "session"

// Session events.
type (
	SessionStarted struct {
		SessionID        uuid.UUID `json:"session_id"`
		UserID           uuid.UUID `json:"user_id"`
		TokenHash        string    `json:"token_hash"`
		RefreshTokenHash string    `json:"refresh_token_hash"`
		IPAddress        string    `json:"ip_address,omitempty"`
		UserAgent        string    `json:"user_agent,omitempty"`
		ExpiresAt        time.Time `json:"expires_at"`
	}
	SessionRefreshed struct {
		TokenHash        string    `json:"token_hash"`
		RefreshTokenHash string    `json:"refresh_token_hash"`
		ExpiresAt        time.Time `json:"expires_at"`
	}
	SessionRevoked struct {
		Reason string `json:"reason"`
	}
)

func (SessionStarted) EventType() string   { return "SessionStarted" }
func (SessionRefreshed) EventType() string { return "SessionRefreshed" }
func (SessionRevoked) EventType() string   { return "SessionRevoked" }

var sessionEvents = map[string]func() Event{
	"SessionStarted":   func() Event { return &SessionStarted{} },
	"SessionRefreshed": func() Event { return &SessionRefreshed{} },
	"SessionRevoked":   func() Event { return &SessionRevoked{} },
}

// SessionMaxAge bounds how long refreshing keeps a session alive.
const SessionMaxAge = 30 * 24 * time.Hour

// Session refusals; both are unauthenticated.
var (
	ErrSessionEnded       = &kindError{kind: ErrUnauthenticated, msg: "the session has ended"}
	ErrRefreshTokenReused = &kindError{kind: ErrUnauthenticated, msg: "the refresh token was already used; the session is revoked"}
)

// StartSession records a new session for a user who proved who they are.
func StartSession(s SessionStarted) []Event { return []Event{&s} }

// Session is the aggregate.
type Session struct {
	version          int64
	userID           uuid.UUID
	refreshTokenHash string
	startedAt        time.Time
	revoked          bool
}

// Apply records a fact.
func (s *Session) Apply(e Event, version int64, at time.Time) {
	switch e := e.(type) {
	case *SessionStarted:
		s.userID, s.refreshTokenHash, s.startedAt = e.UserID, e.RefreshTokenHash, at
	case *SessionRefreshed:
		s.refreshTokenHash = e.RefreshTokenHash
	case *SessionRevoked:
		s.revoked = true
	}
	s.version = version
}

// Refresh rotates the tokens when presentedHash is the live refresh token. A spent
// one revokes the session: the events to record come back with ErrRefreshTokenReused.
func (s *Session) Refresh(presentedHash string, now time.Time, next SessionRefreshed) ([]Event, error) {
	if s.revoked || now.After(s.startedAt.Add(SessionMaxAge)) {
		return nil, ErrSessionEnded
	}
	if subtle.ConstantTimeCompare([]byte(presentedHash), []byte(s.refreshTokenHash)) != 1 {
		return []Event{&SessionRevoked{Reason: "refresh token reused"}}, ErrRefreshTokenReused
	}
	return []Event{&next}, nil
}

// Revoke ends the session; revoking an ended session records nothing.
func (s *Session) Revoke(reason string) []Event {
	if s.revoked {
		return nil
	}
	return []Event{&SessionRevoked{Reason: reason}}
}

func (s *Session) Version() int64    { return s.version }
func (s *Session) UserID() uuid.UUID { return s.userID }
func (s *Session) Revoked() bool     { return s.revoked }
