package commands

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// emailScope is the unique-claim scope of user emails (lower-cased).
const emailScope = "user_email"

// LiveSessions lists a user's sessions that are neither revoked nor expired.
type LiveSessions interface {
	LiveSessionIDs(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error)
}

// Users handles accounts and sessions.
type Users struct {
	store    eventstore.Store
	sessions LiveSessions
	hasher   *hasher
	now      func() time.Time
}

// NewUsers refuses nil dependencies.
func NewUsers(store eventstore.Store, sessions LiveSessions) (*Users, error) {
	if store == nil || sessions == nil {
		return nil, errors.New("commands: NewUsers needs a store and a session lister")
	}
	return &Users{store: store, sessions: sessions, hasher: newHasher(), now: time.Now}, nil
}

func userStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.UserStreamType, ID: id}
}

// requireAdmin refuses everyone but those who administer users.
func requireAdmin(actor Actor) error {
	if !domain.ChangesUsers(actor) {
		return domain.ErrRoleForbidden
	}
	return nil
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

// Create handles CreateUser for operators (bootstrap, create-admin). The email is
// claimed in the same transaction as the append, so two racing registrations of
// one email cannot both succeed.
func (h *Users) Create(ctx context.Context, cmd CreateUser) (Result, error) {
	ctx = withCommand(ctx, "CreateUser")
	if err := domain.CheckPassword(cmd.Password); err != nil {
		return Result{}, err
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	// Validate before paying for the hash; the hash itself is checked again below.
	if _, err := domain.RegisterUser(h.newUserInput(id, cmd, "-")); err != nil {
		return Result{}, err
	}
	hash, err := h.hasher.hash(ctx, cmd.Password)
	if err != nil {
		return Result{}, err
	}
	events, err := domain.RegisterUser(h.newUserInput(id, cmd, hash))
	if err != nil {
		return Result{}, err
	}
	stream := userStream(id)
	// Operators and admins create accounts and see every one: only sameness decides.
	// The same account is the same profile, role and password (the hash is salted).
	created := once[*domain.User]{newAgg: func() *domain.User { return &domain.User{} },
		same: func(u *domain.User, _ domain.Event) (bool, error) {
			want := domain.UserProfile{Email: strings.TrimSpace(cmd.Email), FirstName: cmd.FirstName, LastName: cmd.LastName, Phone: cmd.Phone}
			if u.Profile() != want || u.Role() != domain.ParseRole(cmd.Role) {
				return false, nil
			}
			return h.hasher.check(ctx, u.PasswordHash(), cmd.Password)
		}}
	return createOnce(ctx, h.store, stream, created, func() (Result, error) {
		var res Result
		err := h.store.Atomically(ctx, func(store eventstore.Store) error {
			if err := store.Claim(ctx, emailScope, domain.NormalizeEmail(cmd.Email), stream); err != nil {
				return err
			}
			var err error
			res, err = appendCreated(ctx, store, stream, events)
			return err
		})
		if errors.Is(err, eventstore.ErrClaimTaken) {
			return Result{}, domain.ErrEmailTaken
		}
		return res, err
	})
}

func (h *Users) newUserInput(id uuid.UUID, cmd CreateUser, hash string) domain.NewUserInput {
	return domain.NewUserInput{ID: id, Email: cmd.Email, PasswordHash: hash, FirstName: cmd.FirstName,
		LastName: cmd.LastName, Phone: cmd.Phone, Role: domain.ParseRole(cmd.Role)}
}

// CreateAsAdmin is POST /users: only administrators create accounts of any role.
func (h *Users) CreateAsAdmin(ctx context.Context, actor Actor, cmd CreateUser) (Result, error) {
	if err := requireAdmin(actor); err != nil {
		return Result{}, err
	}
	return h.Create(ctx, cmd)
}

// SignUp is self-service registration: the account gets role user (a landlord).
func (h *Users) SignUp(ctx context.Context, cmd CreateUser) (Result, error) {
	cmd.Role = domain.RoleUser.String()
	return h.Create(withCommand(ctx, "SignUp"), cmd)
}

// UserIDByEmail finds an account on the write side.
func (h *Users) UserIDByEmail(ctx context.Context, email string) (uuid.UUID, bool, error) {
	stream, found, err := h.store.ClaimedBy(ctx, emailScope, domain.NormalizeEmail(email))
	return stream.ID, found, err
}

// ChangeUserProfile changes a user's email, names or phone (admin only).
type ChangeUserProfile struct {
	Target
	Email, FirstName, LastName, Phone Optional[string]
}

// ChangeProfile handles ChangeUserProfile; a new email moves the user's claim.
func (h *Users) ChangeProfile(ctx context.Context, cmd ChangeUserProfile) (Result, error) {
	ctx = withCommand(ctx, "ChangeUserProfile")
	if err := requireAdmin(cmd.Actor); err != nil {
		return Result{}, err
	}
	var res Result
	err := atomically(ctx, h.store, func(store eventstore.Store) error {
		var err error
		res, err = update(ctx, store, userStream(cmd.ID), cmd.IfMatch, newUser, allowAll[*domain.User],
			func(u *domain.User) ([]domain.Event, error) {
				p := u.Profile()
				cmd.Email.applyRequired(&p.Email)
				cmd.FirstName.applyRequired(&p.FirstName)
				cmd.LastName.applyRequired(&p.LastName)
				cmd.Phone.applyRequired(&p.Phone)
				events, err := u.ChangeProfile(p)
				if err != nil || len(events) == 0 {
					return events, err
				}
				if old, next := domain.NormalizeEmail(u.Email()), domain.NormalizeEmail(p.Email); old != next {
					if err := store.Claim(ctx, emailScope, next, userStream(cmd.ID)); err != nil {
						return nil, err
					}
					if err := store.Unclaim(ctx, emailScope, old, userStream(cmd.ID)); err != nil {
						return nil, err
					}
				}
				return events, nil
			})
		return err
	})
	if errors.Is(err, eventstore.ErrClaimTaken) {
		return Result{}, domain.ErrEmailTaken
	}
	return res, err
}

// ChangeRole gives a user another role (admin only).
func (h *Users) ChangeRole(ctx context.Context, t Target, role string) (Result, error) {
	ctx = withCommand(ctx, "ChangeUserRole")
	if err := requireAdmin(t.Actor); err != nil {
		return Result{}, err
	}
	return update(ctx, h.store, userStream(t.ID), t.IfMatch, newUser, allowAll[*domain.User],
		func(u *domain.User) ([]domain.Event, error) {
			return u.ChangeRole(domain.ParseRole(role), t.Actor.UserID)
		})
}

// Deactivate stops a user from logging in and revokes their live sessions in the
// same transaction, so their tokens die at once (admin only).
func (h *Users) Deactivate(ctx context.Context, t Target) (Result, error) {
	ctx = withCommand(ctx, "DeactivateUser")
	if err := requireAdmin(t.Actor); err != nil {
		return Result{}, err
	}
	// The sessions are listed before the transaction: holding its connection while
	// waiting for another from the pool could deadlock a busy pool. A session
	// opened meanwhile dies all the same, since a token authenticates only while
	// its user is active.
	live, err := h.sessions.LiveSessionIDs(ctx, t.ID)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = atomically(ctx, h.store, func(store eventstore.Store) error {
		var err error
		res, err = update(ctx, store, userStream(t.ID), t.IfMatch, newUser, allowAll[*domain.User],
			func(u *domain.User) ([]domain.Event, error) { return u.Deactivate(t.Actor.UserID) })
		if err != nil || res.Checkpoint == (eventstore.Checkpoint{}) {
			return err
		}
		for _, sid := range live {
			revoked, err := revokeSession(ctx, store, sid, "user deactivated")
			if err != nil {
				return err
			}
			res.Checkpoint = later(res.Checkpoint, revoked.Checkpoint)
		}
		return nil
	})
	return res, err
}

// Reactivate lets a deactivated user log in again (admin only).
func (h *Users) Reactivate(ctx context.Context, t Target) (Result, error) {
	ctx = withCommand(ctx, "ReactivateUser")
	if err := requireAdmin(t.Actor); err != nil {
		return Result{}, err
	}
	return update(ctx, h.store, userStream(t.ID), t.IfMatch, newUser, allowAll[*domain.User],
		func(u *domain.User) ([]domain.Event, error) { return u.Reactivate() })
}

func newUser() *domain.User { return &domain.User{} }

// allowAll is the authorize step of commands whose caller was checked up front.
func allowAll[A any](A) error { return nil }

// later returns the later of two checkpoints.
func later(a, b eventstore.Checkpoint) eventstore.Checkpoint {
	if a.Reached(b) {
		return a
	}
	return b
}
