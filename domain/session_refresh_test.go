package domain

import (
	"errors"
	"testing"
	"time"
)

// rotation is the SessionRefreshed that hands out the n-th pair of tokens.
func rotation(n string) SessionRefreshed {
	return SessionRefreshed{TokenHash: "sha256:access-" + n, RefreshTokenHash: "sha256:refresh-" + n,
		ExpiresAt: t0.Add(2 * time.Hour)}
}

func TestSessionRefresh(t *testing.T) {
	started := sessionStarted() // recorded at t0 by MustGiven, refresh token "sha256:refresh"
	first, second, next := rotation("1"), rotation("2"), rotation("next")
	reused := &SessionRevoked{Reason: "refresh token reused"}
	tests := []struct {
		name      string
		given     []Event
		presented string
		now       time.Time
		want      []Event
		wantErr   []error
	}{
		{
			name:      "the live refresh token rotates both tokens",
			given:     []Event{&started},
			presented: "sha256:refresh", now: t0.Add(time.Hour),
			want: []Event{&next},
		},
		{
			name:      "the token handed out by the last refresh is the live one",
			given:     []Event{&started, &first},
			presented: first.RefreshTokenHash, now: t0.Add(time.Hour),
			want: []Event{&next},
		},
		{
			name:      "a live token refreshes at exactly SessionMaxAge",
			given:     []Event{&started},
			presented: "sha256:refresh", now: t0.Add(SessionMaxAge),
			want: []Event{&next},
		},
		{
			name:      "an expired access token does not stop a refresh",
			given:     []Event{&started},
			presented: "sha256:refresh", now: started.ExpiresAt.Add(24 * time.Hour),
			want: []Event{&next},
		},
		{
			name:      "a spent refresh token revokes the session",
			given:     []Event{&started, &first},
			presented: "sha256:refresh", now: t0.Add(time.Hour),
			want:    []Event{reused},
			wantErr: []error{ErrRefreshTokenReused, ErrUnauthenticated},
		},
		{
			name:      "a token spent two rotations ago revokes the session",
			given:     []Event{&started, &first, &second},
			presented: first.RefreshTokenHash, now: t0.Add(time.Hour),
			want:    []Event{reused},
			wantErr: []error{ErrRefreshTokenReused, ErrUnauthenticated},
		},
		{
			name:      "the access token presented as a refresh token revokes the session",
			given:     []Event{&started},
			presented: started.TokenHash, now: t0.Add(time.Hour),
			want:    []Event{reused},
			wantErr: []error{ErrRefreshTokenReused, ErrUnauthenticated},
		},
		{
			name:      "a revoked session refuses its live token",
			given:     []Event{&started, &SessionRevoked{Reason: "logout"}},
			presented: "sha256:refresh", now: t0.Add(time.Hour),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
		{
			name:      "a revoked session refuses a spent token without revoking again",
			given:     []Event{&started, &first, reused},
			presented: "sha256:refresh", now: t0.Add(time.Hour),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
		{
			name:      "a session revoked for reuse refuses the newest token too",
			given:     []Event{&started, &first, reused},
			presented: first.RefreshTokenHash, now: t0.Add(time.Hour),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
		{
			name:      "a session older than SessionMaxAge has ended",
			given:     []Event{&started},
			presented: "sha256:refresh", now: t0.Add(SessionMaxAge + time.Second),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
		{
			name:      "refreshing does not extend SessionMaxAge",
			given:     []Event{&started, &first},
			presented: first.RefreshTokenHash, now: t0.Add(SessionMaxAge + time.Minute + time.Second),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
		{
			name:      "a spent token after SessionMaxAge ends, it does not record a revocation",
			given:     []Event{&started, &first},
			presented: "sha256:refresh", now: t0.Add(SessionMaxAge + time.Hour),
			wantErr: []error{ErrSessionEnded, ErrUnauthenticated},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			s := MustGiven(t, &Session{}, tt.given...)
			// when
			got, err := s.Refresh(tt.presented, tt.now, next)
			// then
			MustEvents(t, got, tt.want)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("err = %v, want nil", err)
			}
			if len(tt.wantErr) != 0 && err == nil {
				t.Fatalf("err = nil, want %v", tt.wantErr)
			}
			for _, target := range tt.wantErr {
				if !errors.Is(err, target) {
					t.Errorf("err = %v, want errors.Is(err, %v)", err, target)
				}
			}
		})
	}
}

func TestSessionRefreshRotates(t *testing.T) {
	// given a started session that refreshed once, the refresh applied
	started := sessionStarted()
	s := MustGiven(t, &Session{}, &started)
	first := rotation("1")
	events, err := s.Refresh("sha256:refresh", t0.Add(time.Minute), first)
	if err != nil {
		t.Fatal(err)
	}
	MustEvents(t, events, []Event{&first})
	s.Apply(events[0], 2, t0.Add(time.Minute))

	// when the first refresh token is presented again
	events, err = s.Refresh("sha256:refresh", t0.Add(2*time.Minute), rotation("2"))

	// then the session is revoked, and once that is applied even the newest token is refused
	if !errors.Is(err, ErrRefreshTokenReused) {
		t.Fatalf("err = %v, want ErrRefreshTokenReused", err)
	}
	MustEvents(t, events, []Event{&SessionRevoked{Reason: "refresh token reused"}})
	s.Apply(events[0], 3, t0.Add(2*time.Minute))
	if !s.Revoked() {
		t.Error("Revoked() = false after the reuse was applied")
	}
	events, err = s.Refresh(first.RefreshTokenHash, t0.Add(3*time.Minute), rotation("3"))
	if !errors.Is(err, ErrSessionEnded) || len(events) != 0 {
		t.Errorf("refresh with the newest token after reuse = %d events, %v; want none, ErrSessionEnded", len(events), err)
	}
	if got, want := s.Version(), int64(3); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if got := s.UserID(); got != userID {
		t.Errorf("UserID() = %s, want %s", got, userID)
	}
}
