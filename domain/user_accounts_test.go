package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// adminID is an administrator other than the user the tests act on.
var adminID = uuid.MustParse("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")

// profileOf is the profile validUser registers.
func profileOf(in NewUserInput) UserProfile {
	return UserProfile{Email: in.Email, FirstName: in.FirstName, LastName: in.LastName, Phone: in.Phone}
}

// profile returns the registered profile changed by edit.
func profile(edit func(*UserProfile)) UserProfile {
	p := profileOf(validUser())
	edit(&p)
	return p
}

// asRole is validUser registered with another role.
func asRole(r Role) *UserRegistered {
	return userRegistered(user(func(in *NewUserInput) { in.Role = r }))
}

func TestUserChangeProfile(t *testing.T) {
	registered := userRegistered(validUser())
	tests := []struct {
		name    string
		given   []Event
		when    UserProfile
		want    []Event
		wantErr wantError
	}{
		{
			name:  "the same profile records nothing",
			given: []Event{registered},
			when:  profileOf(validUser()),
		},
		{
			name:  "the same email with surrounding spaces records nothing",
			given: []Event{registered},
			when:  profile(func(p *UserProfile) { p.Email = "  " + p.Email + "\t" }),
		},
		{
			name:  "the profile as last changed records nothing",
			given: []Event{registered, &UserProfileChanged{Profile: profile(func(p *UserProfile) { p.Phone = "" })}},
			when:  profile(func(p *UserProfile) { p.Phone = "" }),
		},
		{
			name:  "a new email",
			given: []Event{registered},
			when:  profile(func(p *UserProfile) { p.Email = "alice.l@example.org" }),
			want:  []Event{&UserProfileChanged{Profile: profile(func(p *UserProfile) { p.Email = "alice.l@example.org" })}},
		},
		{
			name:  "the email in another case is a change, and its case is kept",
			given: []Event{registered},
			when:  profile(func(p *UserProfile) { p.Email = " Alice@Example.COM " }),
			want:  []Event{&UserProfileChanged{Profile: profile(func(p *UserProfile) { p.Email = "Alice@Example.COM" })}},
		},
		{
			name:  "names and phone cleared",
			given: []Event{registered},
			when:  UserProfile{Email: validUser().Email},
			want:  []Event{&UserProfileChanged{Profile: UserProfile{Email: validUser().Email}}},
		},
		{
			name:  "a new last name, after an earlier change",
			given: []Event{registered, &UserProfileChanged{Profile: profile(func(p *UserProfile) { p.Phone = "" })}},
			when:  profile(func(p *UserProfile) { p.Phone, p.LastName = "", "Berg" }),
			want:  []Event{&UserProfileChanged{Profile: profile(func(p *UserProfile) { p.Phone, p.LastName = "", "Berg" })}},
		},
		{
			name:    "an email without @",
			given:   []Event{registered},
			when:    profile(func(p *UserProfile) { p.Email = "alice.example.com" }),
			wantErr: invalid("email"),
		},
		{
			name:    "an email with a display name",
			given:   []Event{registered},
			when:    profile(func(p *UserProfile) { p.Email = "Alice <alice@example.com>" }),
			wantErr: invalid("email"),
		},
		{
			name:    "no email",
			given:   []Event{registered},
			when:    profile(func(p *UserProfile) { p.Email = "" }),
			wantErr: invalid("email"),
		},
		{
			name:    "an invalid email is refused even beside an otherwise unchanged profile",
			given:   []Event{registered},
			when:    profile(func(p *UserProfile) { p.Email = "alice@" }),
			wantErr: invalid("email"),
		},
		{
			name:  "every field wrong at once lists every field",
			given: []Event{registered},
			when: UserProfile{Email: "nope", FirstName: strings.Repeat("x", 101), LastName: strings.Repeat("y", 101),
				Phone: strings.Repeat("5", 21)},
			wantErr: invalid("email", "first_name", "last_name", "phone"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.ChangeProfile(tt.when)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestUserChangeProfileApplied(t *testing.T) {
	// given a registered user whose profile changed
	next := profile(func(p *UserProfile) { p.Email, p.FirstName = "alice.l@example.org", "Alicia" })
	u := MustGiven(t, &User{}, userRegistered(validUser()), &UserProfileChanged{Profile: next})
	// then the user reads as changed, and its other state is kept
	if got, want := u.Profile(), next; got != want {
		t.Errorf("Profile() = %+v, want %+v", got, want)
	}
	if got, want := u.Email(), "alice.l@example.org"; got != want {
		t.Errorf("Email() = %q, want %q", got, want)
	}
	if u.Role() != RoleUser || !u.Active() || u.PasswordHash() != argonHash || u.Version() != 2 {
		t.Errorf("role %s, active %v, hash %q, version %d; want user, true, the registered hash, 2",
			u.Role(), u.Active(), u.PasswordHash(), u.Version())
	}
}

func TestUserChangeRole(t *testing.T) {
	tests := []struct {
		name    string
		given   []Event
		role    Role
		actor   uuid.UUID
		want    []Event
		wantErr wantError
	}{
		{
			name:  "an admin makes a user a manager",
			given: []Event{asRole(RoleUser)},
			role:  RoleManager, actor: adminID,
			want: []Event{&UserRoleChanged{From: RoleUser, To: RoleManager}},
		},
		{
			name:  "an admin makes a manager an admin",
			given: []Event{asRole(RoleManager)},
			role:  RoleAdmin, actor: adminID,
			want: []Event{&UserRoleChanged{From: RoleManager, To: RoleAdmin}},
		},
		{
			name:  "an admin demotes another admin",
			given: []Event{asRole(RoleAdmin)},
			role:  RoleUser, actor: adminID,
			want: []Event{&UserRoleChanged{From: RoleAdmin, To: RoleUser}},
		},
		{
			name:  "the role as last changed is From",
			given: []Event{asRole(RoleUser), &UserRoleChanged{From: RoleUser, To: RoleManager}},
			role:  RoleUser, actor: adminID,
			want: []Event{&UserRoleChanged{From: RoleManager, To: RoleUser}},
		},
		{
			name:  "the same role records nothing",
			given: []Event{asRole(RoleManager)},
			role:  RoleManager, actor: adminID,
		},
		{
			name:  "the same role as last changed records nothing",
			given: []Event{asRole(RoleUser), &UserRoleChanged{From: RoleUser, To: RoleManager}},
			role:  RoleManager, actor: adminID,
		},
		{
			name:  "an admin keeping its own role records nothing",
			given: []Event{asRole(RoleAdmin)},
			role:  RoleAdmin, actor: userID,
		},
		{
			name:  "an admin demoting itself to manager is a self-lockout",
			given: []Event{asRole(RoleAdmin)},
			role:  RoleManager, actor: userID,
			wantErr: isErr(ErrSelfLockout, ErrConflict),
		},
		{
			name:  "an admin demoting itself to user is a self-lockout",
			given: []Event{asRole(RoleAdmin)},
			role:  RoleUser, actor: userID,
			wantErr: isErr(ErrSelfLockout, ErrConflict),
		},
		{
			name:  "an admin by a role change demoting itself is a self-lockout",
			given: []Event{asRole(RoleUser), &UserRoleChanged{From: RoleUser, To: RoleAdmin}},
			role:  RoleUser, actor: userID,
			wantErr: isErr(ErrSelfLockout, ErrConflict),
		},
		{
			name:  "the zero role",
			given: []Event{asRole(RoleUser)},
			role:  Role{}, actor: adminID,
			wantErr: invalid("role"),
		},
		{
			name:  "an unknown role",
			given: []Event{asRole(RoleUser)},
			role:  ParseRole("owner"), actor: adminID,
			wantErr: invalid("role"),
		},
		{
			name:  "a role in the wrong case",
			given: []Event{asRole(RoleUser)},
			role:  ParseRole("Manager"), actor: adminID,
			wantErr: invalid("role"),
		},
		{
			name:  "an invalid role for an admin itself is a validation error, not a lockout",
			given: []Event{asRole(RoleAdmin)},
			role:  ParseRole("root"), actor: userID,
			wantErr: invalid("role"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.ChangeRole(tt.role, tt.actor)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestUserDeactivate(t *testing.T) {
	tests := []struct {
		name    string
		given   []Event
		actor   uuid.UUID
		want    []Event
		wantErr wantError
	}{
		{
			name:  "an admin deactivates an active user",
			given: []Event{asRole(RoleUser)},
			actor: adminID,
			want:  []Event{&UserDeactivated{}},
		},
		{
			name:  "an admin deactivates another admin",
			given: []Event{asRole(RoleAdmin)},
			actor: adminID,
			want:  []Event{&UserDeactivated{}},
		},
		{
			name:  "a reactivated user is deactivated again",
			given: []Event{asRole(RoleUser), &UserDeactivated{}, &UserReactivated{}},
			actor: adminID,
			want:  []Event{&UserDeactivated{}},
		},
		{
			name:  "an inactive user records nothing",
			given: []Event{asRole(RoleUser), &UserDeactivated{}},
			actor: adminID,
		},
		{
			name:    "an admin deactivating itself is a self-lockout",
			given:   []Event{asRole(RoleAdmin)},
			actor:   userID,
			wantErr: isErr(ErrSelfLockout, ErrConflict),
		},
		{
			name:    "deactivating oneself is a self-lockout whatever the role",
			given:   []Event{asRole(RoleManager)},
			actor:   userID,
			wantErr: isErr(ErrSelfLockout, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.Deactivate(tt.actor)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestUserReactivate(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		want  []Event
	}{
		{
			name:  "a deactivated user is reactivated",
			given: []Event{asRole(RoleUser), &UserDeactivated{}},
			want:  []Event{&UserReactivated{}},
		},
		{
			name:  "a user deactivated twice over is reactivated",
			given: []Event{asRole(RoleUser), &UserDeactivated{}, &UserReactivated{}, &UserDeactivated{}},
			want:  []Event{&UserReactivated{}},
		},
		{
			name:  "an active user records nothing",
			given: []Event{asRole(RoleUser)},
		},
		{
			name:  "a reactivated user records nothing",
			given: []Event{asRole(RoleUser), &UserDeactivated{}, &UserReactivated{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.Reactivate()
			MustOutcome(t, got, err, tt.want, wantError{})
		})
	}
}

func TestUserLogInAfterDeactivation(t *testing.T) {
	tests := []struct {
		name    string
		given   []Event
		want    []Event
		wantErr wantError
	}{
		{
			name:    "a deactivated user cannot log in",
			given:   []Event{asRole(RoleUser), &UserDeactivated{}},
			wantErr: isErr(ErrUserInactive, ErrUnauthenticated),
		},
		{
			name:  "a reactivated user logs in",
			given: []Event{asRole(RoleUser), &UserDeactivated{}, &UserReactivated{}},
			want:  []Event{&UserLoggedIn{SessionID: sessionID}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.LogIn(sessionID)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestUserStateAfterAdministration(t *testing.T) {
	// given a user promoted, deactivated and reactivated
	u := MustGiven(t, &User{}, asRole(RoleUser), &UserRoleChanged{From: RoleUser, To: RoleManager}, &UserDeactivated{})
	if got, want := u.Role(), RoleManager; got != want {
		t.Errorf("Role() = %s, want %s", got, want)
	}
	if u.Active() {
		t.Error("Active() = true after UserDeactivated, want false")
	}
	u.Apply(&UserReactivated{}, 4, t0.Add(3*time.Minute))
	if !u.Active() || u.Version() != 4 {
		t.Errorf("Active() = %v, Version() = %d after UserReactivated; want true, 4", u.Active(), u.Version())
	}
	if !errors.Is(ErrSelfLockout, ErrConflict) {
		t.Error("ErrSelfLockout must be a conflict (HTTP 409)")
	}
}
