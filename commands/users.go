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

// emailScope is the unique-claim scope of user emails (lower-cased).
const emailScope = "user_email"

// SessionLifetime is how long an access token lives.
const SessionLifetime = 12 * time.Hour

// Users handles accounts and sessions.
type Users struct {
	store eventstore.Store
	now   func() time.Time
}

// NewUsers refuses nil dependencies.
func NewUsers(store eventstore.Store) (*Users, error) {
	if store == nil {
		return nil, errors.New("commands: NewUsers needs a store")
	}
	return &Users{store: store, now: time.Now}, nil
}

func userStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.UserStreamType, ID: id}
}

func sessionStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.SessionStreamType, ID: id}
}

// CreateUser registers an account with a password.
type CreateUser struct {
	ID        *uuid.UUID
	Email     string
	Password  string
	FirstName string
	LastName  string
	Phone     string
	Role      string
}

// Create handles CreateUser. The email is claimed in the same transaction as the
// append, so two racing registrations of one email cannot both succeed.
func (h *Users) Create(ctx context.Context, cmd CreateUser) (Result, error) {
	ctx = withCommand(ctx, "CreateUser")
	if err := domain.CheckPassword(cmd.Password); err != nil {
		return Result{}, err
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	hash, err := HashPassword(cmd.Password)
	if err != nil {
		return Result{}, err
	}
	events, err := domain.RegisterUser(domain.NewUserInput{
		ID: id, Email: cmd.Email, PasswordHash: hash, FirstName: cmd.FirstName,
		LastName: cmd.LastName, Phone: cmd.Phone, Role: domain.ParseRole(cmd.Role),
	})
	if err != nil {
		return Result{}, err
	}
	stream := userStream(id)
	var res Result
	err = h.store.Atomically(ctx, func(store eventstore.Store) error {
		if err := store.Claim(ctx, emailScope, domain.NormalizeEmail(cmd.Email), stream); err != nil {
			return err
		}
		appended, err := store.Append(ctx, stream, 0, toNew(events)...)
		res = Result{ID: id, Version: appended.Version, Created: true, Checkpoint: appended.Checkpoint}
		return err
	})
	switch {
	case errors.Is(err, eventstore.ErrClaimTaken):
		return Result{}, domain.ErrEmailTaken
	case errors.Is(err, eventstore.ErrConcurrency):
		return Result{}, domain.ErrAlreadyExists
	case err != nil:
		return Result{}, err
	}
	return res, nil
}

// UserIDByEmail finds an account on the write side.
func (h *Users) UserIDByEmail(ctx context.Context, email string) (uuid.UUID, bool, error) {
	stream, found, err := h.store.ClaimedBy(ctx, emailScope, domain.NormalizeEmail(email))
	return stream.ID, found, err
}

// LogIn asks for a session.
type LogIn struct {
	Email     string
	Password  string
	IPAddress string
	UserAgent string
}

// Session is what a successful login hands out. The tokens are shown once; only
// their hashes are stored.
type Session struct {
	Result
	SessionID    uuid.UUID
	UserID       uuid.UUID
	Token        string
	RefreshToken string
	ExpiresAt    time.Time
}

// LogIn checks the password and opens a session. An unknown email and a wrong
// password fail alike, after the same argon2id work.
func (h *Users) LogIn(ctx context.Context, cmd LogIn) (Session, error) {
	ctx = withCommand(ctx, "LogIn")
	userID, found, err := h.UserIDByEmail(ctx, cmd.Email)
	if err != nil {
		return Session{}, err
	}
	var user domain.User
	if found {
		if err := load(ctx, h.store, userStream(userID), &user); err != nil {
			return Session{}, err
		}
	}
	hash := dummyHash
	if user.Exists() {
		hash = user.PasswordHash()
	}
	ok, err := checkPassword(hash, cmd.Password)
	if err != nil {
		return Session{}, err
	}
	if !ok || !user.Exists() {
		return Session{}, domain.ErrBadCredentials
	}
	if !user.Active() {
		return Session{}, domain.ErrBadCredentials
	}

	s := Session{SessionID: uuid.New(), UserID: userID, ExpiresAt: h.now().UTC().Add(SessionLifetime).Truncate(time.Second)}
	if s.Token, err = newToken(); err != nil {
		return Session{}, err
	}
	if s.RefreshToken, err = newToken(); err != nil {
		return Session{}, err
	}
	started := domain.StartSession(domain.SessionStarted{
		SessionID: s.SessionID, UserID: userID, TokenHash: HashToken(s.Token),
		RefreshTokenHash: HashToken(s.RefreshToken), IPAddress: cmd.IPAddress,
		UserAgent: cmd.UserAgent, ExpiresAt: s.ExpiresAt,
	})
	md := eventstore.MetadataFrom(ctx)
	md.ActorID = &userID
	ctx = eventstore.WithMetadata(ctx, md)
	err = h.store.Atomically(ctx, func(store eventstore.Store) error {
		if _, err := store.Append(ctx, sessionStream(s.SessionID), 0, toNew(started)...); err != nil {
			return err
		}
		res, err := update(ctx, store, userStream(userID), nil, newUser,
			func(*domain.User) error { return nil },
			func(u *domain.User) ([]domain.Event, error) { return u.LogIn(s.SessionID) })
		s.Result = res
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("open session: %w", err)
	}
	return s, nil
}

// LogOut revokes a session at once.
func (h *Users) LogOut(ctx context.Context, actor Actor, sessionID uuid.UUID) (Result, error) {
	ctx = withCommand(ctx, "LogOut")
	return update(ctx, h.store, sessionStream(sessionID), nil, func() *domain.Session { return &domain.Session{} },
		func(s *domain.Session) error {
			if s.UserID() != actor.UserID {
				return domain.ErrNotFound
			}
			return nil
		},
		func(s *domain.Session) ([]domain.Event, error) { return s.Revoke("logout"), nil })
}

func newUser() *domain.User { return &domain.User{} }

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
