package commands

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// refreshScope is the unique-claim scope of refresh-token hashes: every refresh
// token ever issued stays claimed by its session, so a spent one is recognised.
const refreshScope = "refresh_token"

// SessionLifetime is how long an access token lives.
const SessionLifetime = time.Hour

func sessionStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.SessionStreamType, ID: id}
}

// LogIn asks for a session.
type LogIn struct {
	Email     string
	Password  string
	IPAddress string
	UserAgent string
}

// Session is what a successful login or refresh hands out. The tokens are shown
// once; only their hashes are stored.
type Session struct {
	Result
	SessionID    uuid.UUID
	UserID       uuid.UUID
	Token        string
	RefreshToken string
	ExpiresAt    time.Time
}

// LogIn checks the password and opens a session. An unknown email, a wrong
// password and a deactivated user fail alike, after the same argon2id work.
func (h *Users) LogIn(ctx context.Context, cmd LogIn) (Session, error) {
	ctx = withCommand(ctx, "LogIn")
	userID, found, err := h.UserIDByEmail(ctx, cmd.Email)
	if err != nil {
		return Session{}, err
	}
	user := newUser()
	if found {
		if user, err = loadUser(ctx, h.store, userID); err != nil {
			return Session{}, err
		}
	}
	hash := dummyHash
	if user.Exists() {
		hash = user.PasswordHash()
	}
	ok, err := h.hasher.check(ctx, hash, cmd.Password)
	if err != nil {
		return Session{}, err
	}
	if !ok || !user.Exists() || !user.Active() {
		return Session{}, domain.ErrBadCredentials
	}

	s, err := h.newTokens(uuid.New(), userID)
	if err != nil {
		return Session{}, err
	}
	started := domain.StartSession(domain.SessionStarted{
		SessionID: s.SessionID, UserID: userID, TokenHash: HashToken(s.Token),
		RefreshTokenHash: HashToken(s.RefreshToken), IPAddress: cmd.IPAddress,
		UserAgent: cmd.UserAgent, ExpiresAt: s.ExpiresAt,
	})
	ctx = asActor(ctx, userID)
	// Logins of one user take turns (the lock), so that they never race each other
	// for the user's stream: any number of them at once all succeed. A race with
	// another change of the user (a deactivation) reruns the transaction on fresh
	// state, where LogIn refuses an inactive user.
	err = atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, loginLock(userID)); err != nil {
			return err
		}
		if err := store.Claim(ctx, refreshScope, HashToken(s.RefreshToken), sessionStream(s.SessionID)); err != nil {
			return err
		}
		if _, err := store.Append(ctx, sessionStream(s.SessionID), 0, toNew(started)...); err != nil {
			return err
		}
		res, err := update(ctx, store, userStream(userID), nil, newUser, allowAll[*domain.User],
			func(u *domain.User) ([]domain.Event, error) { return u.LogIn(s.SessionID) })
		s.Result = res
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("open session: %w", err)
	}
	return s, nil
}

// loginLock serialises the logins of one user.
func loginLock(userID uuid.UUID) string { return "login:" + userID.String() }

// Refresh trades a live refresh token for a new pair. A spent refresh token
// revokes its whole session, and so does a second refresh of one token racing
// the first: its loser finds the session moved on, decides again on the new
// state, where its token is spent, and revokes the session as a reuse would.
func (h *Users) Refresh(ctx context.Context, refreshToken string) (Session, error) {
	ctx = withCommand(ctx, "RefreshSession")
	for attempt := 1; ; attempt++ {
		s, err := h.refresh(ctx, refreshToken)
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return s, err
		}
		if attempt == maxRefreshAttempts {
			return Session{}, domain.ErrUnauthenticated
		}
	}
}

// maxRefreshAttempts bounds how often a refresh decides again after losing a
// race for its session; each race ends with one more event on the session, and
// after a revocation every decision is final.
const maxRefreshAttempts = 5

func (h *Users) refresh(ctx context.Context, refreshToken string) (Session, error) {
	presented := HashToken(refreshToken)
	stream, found, err := h.store.ClaimedBy(ctx, refreshScope, presented)
	if err != nil {
		return Session{}, err
	}
	if !found {
		return Session{}, domain.ErrUnauthenticated
	}
	var session domain.Session
	if err := load(ctx, h.store, stream, &session); err != nil {
		return Session{}, err
	}
	user, err := loadUser(ctx, h.store, session.UserID())
	if err != nil {
		return Session{}, err
	}
	if !user.Active() {
		return Session{}, domain.ErrSessionEnded
	}
	s, err := h.newTokens(stream.ID, session.UserID())
	if err != nil {
		return Session{}, err
	}
	ctx = asActor(ctx, session.UserID())
	events, decision := session.Refresh(presented, h.now(), domain.SessionRefreshed{
		TokenHash: HashToken(s.Token), RefreshTokenHash: HashToken(s.RefreshToken), ExpiresAt: s.ExpiresAt,
	})
	if decision != nil && !errors.Is(decision, domain.ErrRefreshTokenReused) {
		return Session{}, decision
	}
	err = h.store.Atomically(ctx, func(store eventstore.Store) error {
		if decision == nil {
			if err := store.Claim(ctx, refreshScope, HashToken(s.RefreshToken), stream); err != nil {
				return err
			}
		}
		appended, err := store.Append(ctx, stream, session.Version(), toNew(events)...)
		s.Result = Result{ID: stream.ID, Version: appended.Version, Checkpoint: appended.Checkpoint}
		return err
	})
	if err != nil {
		return Session{}, err // ErrConcurrency: another change of the session came first; Refresh decides again
	}
	if decision != nil {
		return s, decision // the session is revoked; the caller waits for that, then refuses
	}
	return s, nil
}

// LogOut revokes the caller's own session at once.
func (h *Users) LogOut(ctx context.Context, actor Actor, sessionID uuid.UUID) (Result, error) {
	return h.RevokeSession(withCommand(ctx, "LogOut"), actor, sessionID)
}

// RevokeSession ends one of the actor's own sessions; others' sessions are not found.
func (h *Users) RevokeSession(ctx context.Context, actor Actor, sessionID uuid.UUID) (Result, error) {
	ctx = withCommand(ctx, "RevokeSession")
	return update(ctx, h.store, sessionStream(sessionID), nil, newSession,
		func(s *domain.Session) error {
			if s.UserID() != actor.UserID {
				return domain.ErrNotFound
			}
			return nil
		},
		func(s *domain.Session) ([]domain.Event, error) { return s.Revoke("revoked by its user"), nil })
}

// revokeSession ends a session on the system's behalf (deactivation).
func revokeSession(ctx context.Context, store eventstore.Store, id uuid.UUID, reason string) (Result, error) {
	return update(ctx, store, sessionStream(id), nil, newSession,
		allowAll[*domain.Session],
		func(s *domain.Session) ([]domain.Event, error) { return s.Revoke(reason), nil })
}

func (h *Users) newTokens(sessionID, userID uuid.UUID) (Session, error) {
	s := Session{SessionID: sessionID, UserID: userID,
		ExpiresAt: h.now().UTC().Add(SessionLifetime).Truncate(time.Second)}
	var err error
	if s.Token, err = newToken(); err != nil {
		return Session{}, err
	}
	if s.RefreshToken, err = newToken(); err != nil {
		return Session{}, err
	}
	return s, nil
}

// asActor records userID as the actor of the events appended with ctx.
func asActor(ctx context.Context, userID uuid.UUID) context.Context {
	md := eventstore.MetadataFrom(ctx)
	md.ActorID = &userID
	return eventstore.WithMetadata(ctx, md)
}

// newToken returns 256 random bits, URL-safe.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is the form in which tokens are stored and looked up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newSession() *domain.Session { return &domain.Session{} }
