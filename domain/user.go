package domain

// User invariants:
//   - email is present, at most 255 characters, and unique regardless of case
//     (enforced across streams by the command with a claim);
//   - role is admin, manager or user;
//   - the password hash is argon2id; the password itself never enters an event;
//   - a deactivated user cannot log in.

import (
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
)

// UserStreamType names user streams.
const UserStreamType = "user"

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 12

// Role decides what a user may see and do.
type Role struct{ name string }

var (
	RoleAdmin   = Role{"admin"}
	RoleManager = Role{"manager"}
	RoleUser    = Role{"user"}
)

var roles = enumOf(RoleAdmin, RoleManager, RoleUser)

func (r Role) String() string                { return r.name }
func (r Role) MarshalText() ([]byte, error)  { return []byte(r.name), nil }
func (r *Role) UnmarshalText(b []byte) error { return roles.parse(string(b), r) }

// ParseRole returns the named role, or the zero role (refused by validation).
func ParseRole(s string) Role {
	var r Role
	_ = roles.parse(s, &r)
	return r
}

// SeesAllProperties reports whether the role sees every owner's portfolio.
func (r Role) SeesAllProperties() bool { return r == RoleAdmin || r == RoleManager }

// SeesAllAccounts reports whether the role sees the account trail of every user:
// sessions, and the audit rows of users and sessions (logins with their IP
// address and user agent, role changes). User administration is the admins';
// everyone else sees only its own.
func (r Role) SeesAllAccounts() bool { return r == RoleAdmin }

// User events.
type (
	UserRegistered struct {
		UserID       uuid.UUID `json:"user_id"`
		Email        string    `json:"email"`
		PasswordHash string    `json:"password_hash"`
		FirstName    string    `json:"first_name,omitempty"`
		LastName     string    `json:"last_name,omitempty"`
		Phone        string    `json:"phone,omitempty"`
		Role         Role      `json:"role"`
	}
	UserLoggedIn struct {
		SessionID uuid.UUID `json:"session_id"`
	}
	UserProfileChanged struct {
		Profile UserProfile `json:"profile"`
	}
	UserRoleChanged struct {
		From Role `json:"from"`
		To   Role `json:"to"`
	}
	UserDeactivated struct{}
	UserReactivated struct{}
)

func (UserRegistered) EventType() string     { return "UserRegistered" }
func (UserLoggedIn) EventType() string       { return "UserLoggedIn" }
func (UserProfileChanged) EventType() string { return "UserProfileChanged" }
func (UserRoleChanged) EventType() string    { return "UserRoleChanged" }
func (UserDeactivated) EventType() string    { return "UserDeactivated" }
func (UserReactivated) EventType() string    { return "UserReactivated" }

var userEvents = map[string]func() Event{
	"UserRegistered":     func() Event { return &UserRegistered{} },
	"UserLoggedIn":       func() Event { return &UserLoggedIn{} },
	"UserProfileChanged": func() Event { return &UserProfileChanged{} },
	"UserRoleChanged":    func() Event { return &UserRoleChanged{} },
	"UserDeactivated":    func() Event { return &UserDeactivated{} },
	"UserReactivated":    func() Event { return &UserReactivated{} },
}

// UserProfile is what a user's profile says about them.
type UserProfile struct {
	Email     string `json:"email"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
	Phone     string `json:"phone,omitempty"`
}

func (p UserProfile) validate(v *validator) {
	textField(v, "email", p.Email, true, 255)
	if p.Email != "" {
		addr, err := mail.ParseAddress(p.Email)
		v.check(err == nil && addr.Address == strings.TrimSpace(p.Email), "email", "must be a valid email address")
	}
	textField(v, "first_name", p.FirstName, false, 100)
	textField(v, "last_name", p.LastName, false, 100)
	textField(v, "phone", p.Phone, false, 20)
}

// User refusals.
var (
	ErrSelfLockout = conflict("administrators cannot deactivate or demote themselves")
)

// NewUserInput is what registering a user needs. PasswordHash is computed by the
// caller from a password that passed CheckPassword.
type NewUserInput struct {
	ID           uuid.UUID
	Email        string
	PasswordHash string
	FirstName    string
	LastName     string
	Phone        string
	Role         Role
}

// CheckPassword applies the password policy before hashing.
func CheckPassword(password string) error {
	var v validator
	v.check(len([]rune(password)) >= MinPasswordLength, "password", "must be at least 12 characters")
	v.check(len(password) <= 1024, "password", "must be at most 1024 bytes")
	return v.err()
}

// NormalizeEmail is the form under which emails are compared and claimed.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// RegisterUser validates and records a new user.
func RegisterUser(in NewUserInput) ([]Event, error) {
	var v validator
	v.check(in.ID != uuid.Nil, "id", "must not be the nil UUID")
	UserProfile{Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, Phone: in.Phone}.validate(&v)
	v.check(in.Role != Role{}, "role", "must be one of "+roles.list())
	v.check(in.PasswordHash != "", "password", "is required")
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&UserRegistered{
		UserID: in.ID, Email: strings.TrimSpace(in.Email), PasswordHash: in.PasswordHash,
		FirstName: in.FirstName, LastName: in.LastName, Phone: in.Phone, Role: in.Role,
	}}, nil
}

// User is the aggregate.
type User struct {
	id           uuid.UUID
	version      int64
	profile      UserProfile
	passwordHash string
	role         Role
	active       bool
	lastLogin    time.Time
}

// Apply records a fact.
func (u *User) Apply(e Event, version int64, at time.Time) {
	switch e := e.(type) {
	case *UserRegistered:
		u.id, u.passwordHash, u.role, u.active = e.UserID, e.PasswordHash, e.Role, true
		u.profile = UserProfile{Email: e.Email, FirstName: e.FirstName, LastName: e.LastName, Phone: e.Phone}
	case *UserLoggedIn:
		u.lastLogin = at
	case *UserProfileChanged:
		u.profile = e.Profile
	case *UserRoleChanged:
		u.role = e.To
	case *UserDeactivated:
		u.active = false
	case *UserReactivated:
		u.active = true
	}
	u.version = version
}

// ChangeProfile replaces the profile; the same profile records nothing. A new email
// must be claimed by the caller (it is unique across users).
func (u *User) ChangeProfile(p UserProfile) ([]Event, error) {
	var v validator
	p.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	p.Email = strings.TrimSpace(p.Email)
	if p == u.profile {
		return nil, nil
	}
	return []Event{&UserProfileChanged{Profile: p}}, nil
}

// ChangeRole gives the user another role; actor is who asks.
func (u *User) ChangeRole(to Role, actor uuid.UUID) ([]Event, error) {
	var v validator
	v.check(to != Role{}, "role", "must be one of "+roles.list())
	if err := v.err(); err != nil {
		return nil, err
	}
	if to == u.role {
		return nil, nil
	}
	if actor == u.id && u.role == RoleAdmin {
		return nil, ErrSelfLockout
	}
	return []Event{&UserRoleChanged{From: u.role, To: to}}, nil
}

// Deactivate stops the user from logging in; actor is who asks. Deactivating an
// inactive user records nothing.
func (u *User) Deactivate(actor uuid.UUID) ([]Event, error) {
	if actor == u.id {
		return nil, ErrSelfLockout
	}
	if !u.active {
		return nil, nil
	}
	return []Event{&UserDeactivated{}}, nil
}

// Reactivate lets a deactivated user log in again; an active user records nothing.
func (u *User) Reactivate() ([]Event, error) {
	if u.active {
		return nil, nil
	}
	return []Event{&UserReactivated{}}, nil
}

// LogIn records a login that opened the given session. The password was checked
// by the caller against PasswordHash.
func (u *User) LogIn(sessionID uuid.UUID) ([]Event, error) {
	if !u.active {
		return nil, ErrUserInactive
	}
	return []Event{&UserLoggedIn{SessionID: sessionID}}, nil
}

func (u *User) ID() uuid.UUID        { return u.id }
func (u *User) Version() int64       { return u.version }
func (u *User) Exists() bool         { return u.version > 0 }
func (u *User) Email() string        { return u.profile.Email }
func (u *User) Profile() UserProfile { return u.profile }
func (u *User) PasswordHash() string { return u.passwordHash }
func (u *User) Role() Role           { return u.role }
func (u *User) Active() bool         { return u.active }
