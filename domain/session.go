package domain

// Session invariants:
//   - only hashes of the access and refresh tokens are recorded, never the tokens;
//   - a revoked session stays revoked.

import (
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
	SessionRevoked struct {
		Reason string `json:"reason"`
	}
)

func (SessionStarted) EventType() string { return "SessionStarted" }
func (SessionRevoked) EventType() string { return "SessionRevoked" }

var sessionEvents = map[string]func() Event{
	"SessionStarted": func() Event { return &SessionStarted{} },
	"SessionRevoked": func() Event { return &SessionRevoked{} },
}

// StartSession records a new session for a user who proved who they are.
func StartSession(s SessionStarted) []Event { return []Event{&s} }

// Session is the aggregate.
type Session struct {
	version int64
	userID  uuid.UUID
	revoked bool
}

// Apply records a fact.
func (s *Session) Apply(e Event, version int64, _ time.Time) {
	switch e := e.(type) {
	case *SessionStarted:
		s.userID = e.UserID
	case *SessionRevoked:
		s.revoked = true
	}
	s.version = version
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
