package domain

import (
	"testing"
	"time"
)

func sessionStarted() SessionStarted {
	return SessionStarted{
		SessionID: sessionID, UserID: userID, TokenHash: "sha256:access", RefreshTokenHash: "sha256:refresh",
		IPAddress: "203.0.113.7", UserAgent: "curl/8.5", ExpiresAt: t0.Add(time.Hour),
	}
}

func TestStartSession(t *testing.T) {
	s := sessionStarted()
	MustEvents(t, StartSession(s), []Event{&SessionStarted{
		SessionID: sessionID, UserID: userID, TokenHash: "sha256:access", RefreshTokenHash: "sha256:refresh",
		IPAddress: "203.0.113.7", UserAgent: "curl/8.5", ExpiresAt: t0.Add(time.Hour),
	}})
}

func TestSessionRevoke(t *testing.T) {
	started := sessionStarted()
	tests := []struct {
		name   string
		given  []Event
		reason string
		want   []Event
	}{
		{
			name:   "a started session is revoked",
			given:  []Event{&started},
			reason: "logout",
			want:   []Event{&SessionRevoked{Reason: "logout"}},
		},
		{
			name:   "a revoked session records nothing",
			given:  []Event{&started, &SessionRevoked{Reason: "logout"}},
			reason: "logout",
		},
		{
			name:   "a revoked session records nothing for another reason either",
			given:  []Event{&started, &SessionRevoked{Reason: "logout"}},
			reason: "password changed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := MustGiven(t, &Session{}, tt.given...)
			MustEvents(t, s.Revoke(tt.reason), tt.want)
		})
	}
}

func TestSessionRevokeTwice(t *testing.T) {
	// given a started session
	started := sessionStarted()
	s := MustGiven(t, &Session{}, &started)
	// when it is revoked, and the revocation is applied
	first := s.Revoke("logout")
	MustEvents(t, first, []Event{&SessionRevoked{Reason: "logout"}})
	for _, e := range first {
		s.Apply(e, s.Version()+1, t0.Add(time.Minute))
	}
	// then revoking again records nothing
	MustEvents(t, s.Revoke("logout"), nil)
	if got, want := s.Version(), int64(2); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if got := s.UserID(); got != userID {
		t.Errorf("UserID() = %s, want %s", got, userID)
	}
}
