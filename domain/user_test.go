package domain

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var (
	userID    = uuid.MustParse("3b2c1d0e-9f8a-4b7c-a6d5-e4f3a2b1c0d9")
	sessionID = uuid.MustParse("7d6c5b4a-3928-4716-b5a4-938271605f4e")
)

const argonHash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"

// validUser is a complete, valid registration.
func validUser() NewUserInput {
	return NewUserInput{
		ID: userID, Email: "alice@example.com", PasswordHash: argonHash,
		FirstName: "Alice", LastName: "Lindqvist", Phone: "+1 503 555 0100", Role: RoleUser,
	}
}

// user returns validUser changed by edit.
func user(edit func(*NewUserInput)) NewUserInput {
	in := validUser()
	edit(&in)
	return in
}

func userRegistered(in NewUserInput) *UserRegistered {
	return &UserRegistered{UserID: in.ID, Email: in.Email, PasswordHash: in.PasswordHash,
		FirstName: in.FirstName, LastName: in.LastName, Phone: in.Phone, Role: in.Role}
}

func TestRegisterUser(t *testing.T) {
	tests := []struct {
		name    string
		when    NewUserInput
		want    []Event
		wantErr wantError
	}{
		{name: "every field", when: validUser(), want: []Event{userRegistered(validUser())}},
		{
			name: "admin", when: user(func(in *NewUserInput) { in.Role = RoleAdmin }),
			want: []Event{userRegistered(user(func(in *NewUserInput) { in.Role = RoleAdmin }))},
		},
		{
			name: "manager", when: user(func(in *NewUserInput) { in.Role = ParseRole("manager") }),
			want: []Event{userRegistered(user(func(in *NewUserInput) { in.Role = RoleManager }))},
		},
		{
			name: "no names and no phone",
			when: NewUserInput{ID: userID, Email: "bob@example.com", PasswordHash: argonHash, Role: RoleUser},
			want: []Event{&UserRegistered{UserID: userID, Email: "bob@example.com", PasswordHash: argonHash, Role: RoleUser}},
		},
		{
			name: "surrounding spaces are trimmed from the email, its case is kept",
			when: user(func(in *NewUserInput) { in.Email = "  Alice@Example.com\t" }),
			want: []Event{userRegistered(user(func(in *NewUserInput) { in.Email = "Alice@Example.com" }))},
		},
		{
			name: "names of 100 runes",
			when: user(func(in *NewUserInput) {
				in.FirstName, in.LastName = strings.Repeat("ø", 100), strings.Repeat("名", 100)
			}),
			want: []Event{userRegistered(user(func(in *NewUserInput) {
				in.FirstName, in.LastName = strings.Repeat("ø", 100), strings.Repeat("名", 100)
			}))},
		},
		{name: "nil id", when: user(func(in *NewUserInput) { in.ID = uuid.Nil }), wantErr: invalid("id")},
		{name: "missing email", when: user(func(in *NewUserInput) { in.Email = "" }), wantErr: invalid("email")},
		{name: "email without @", when: user(func(in *NewUserInput) { in.Email = "alice.example.com" }), wantErr: invalid("email")},
		{name: "email without domain", when: user(func(in *NewUserInput) { in.Email = "alice@" }), wantErr: invalid("email")},
		{name: "email with a display name", when: user(func(in *NewUserInput) { in.Email = "Alice <alice@example.com>" }), wantErr: invalid("email")},
		{name: "two emails", when: user(func(in *NewUserInput) { in.Email = "alice@example.com, bob@example.com" }), wantErr: invalid("email")},
		{
			name:    "email of 256 characters",
			when:    user(func(in *NewUserInput) { in.Email = strings.Repeat("a", 256-len("@example.com")) + "@example.com" }),
			wantErr: invalid("email"),
		},
		{name: "missing role", when: user(func(in *NewUserInput) { in.Role = Role{} }), wantErr: invalid("role")},
		{name: "unknown role", when: user(func(in *NewUserInput) { in.Role = ParseRole("owner") }), wantErr: invalid("role")},
		{name: "role in the wrong case", when: user(func(in *NewUserInput) { in.Role = ParseRole("Admin") }), wantErr: invalid("role")},
		{name: "missing password hash", when: user(func(in *NewUserInput) { in.PasswordHash = "" }), wantErr: invalid("password")},
		{name: "first name of 101 runes", when: user(func(in *NewUserInput) { in.FirstName = strings.Repeat("ø", 101) }), wantErr: invalid("first_name")},
		{name: "last name of 101 runes", when: user(func(in *NewUserInput) { in.LastName = strings.Repeat("名", 101) }), wantErr: invalid("last_name")},
		{name: "phone of 21 characters", when: user(func(in *NewUserInput) { in.Phone = strings.Repeat("5", 21) }), wantErr: invalid("phone")},
		{
			name: "everything wrong at once lists every field",
			when: NewUserInput{Email: "nope", FirstName: strings.Repeat("x", 101),
				LastName: strings.Repeat("y", 101), Phone: strings.Repeat("5", 21)},
			wantErr: invalid("id", "email", "first_name", "last_name", "phone", "role", "password"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given no history; when
			got, err := RegisterUser(tt.when)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestCheckPassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		wantErr  bool
	}{
		{name: "empty", password: "", wantErr: true},
		{name: "11 ASCII characters", password: "abcdefghijk", wantErr: true},
		{name: "12 ASCII characters", password: "abcdefghijkl"},
		{name: "11 two-byte runes (22 bytes) are 11 characters", password: strings.Repeat("é", 11), wantErr: true},
		{name: "12 two-byte runes", password: strings.Repeat("é", 12)},
		{name: "3 four-byte runes (12 bytes) are 3 characters", password: strings.Repeat("🔑", 3), wantErr: true},
		{name: "12 four-byte runes", password: strings.Repeat("🔑", 12)},
		{name: "1024 bytes", password: strings.Repeat("p", 1024)},
		{name: "1025 bytes", password: strings.Repeat("p", 1025), wantErr: true},
		{name: "1026 bytes of two-byte runes", password: strings.Repeat("é", 513), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckPassword(tt.password)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("CheckPassword = %v, want nil", err)
				}
				return
			}
			MustInvalidFields(t, err, "password")
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@example.com", "alice@example.com"},
		{"Alice@Example.COM", "alice@example.com"},
		{"  alice@example.com\n", "alice@example.com"},
		{"\tÉLODIE@Exemple.fr ", "élodie@exemple.fr"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if NormalizeEmail("Alice@Example.com") != NormalizeEmail(" alice@EXAMPLE.com") {
		t.Error("two spellings of one address normalize differently")
	}
}

func TestUserLogIn(t *testing.T) {
	// A deactivated user cannot be reached yet: no event deactivates one.
	otherSession := uuid.MustParse("11111111-2222-4333-8444-555555555555")
	tests := []struct {
		name  string
		given []Event
		when  uuid.UUID
		want  []Event
	}{
		{
			name:  "an active user logs in",
			given: []Event{userRegistered(validUser())},
			when:  sessionID,
			want:  []Event{&UserLoggedIn{SessionID: sessionID}},
		},
		{
			name:  "an active user logs in again",
			given: []Event{userRegistered(validUser()), &UserLoggedIn{SessionID: sessionID}},
			when:  otherSession,
			want:  []Event{&UserLoggedIn{SessionID: otherSession}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := MustGiven(t, &User{}, tt.given...)
			got, err := u.LogIn(tt.when)
			MustOutcome(t, got, err, tt.want, wantError{})
		})
	}
}

func TestUserApplyRebuildsState(t *testing.T) {
	in := user(func(in *NewUserInput) { in.Role = RoleManager })
	u := MustGiven(t, &User{}, userRegistered(in), &UserLoggedIn{SessionID: sessionID})
	if !u.Exists() || !u.Active() {
		t.Errorf("Exists() = %v, Active() = %v, want true, true", u.Exists(), u.Active())
	}
	if got, want := u.Version(), int64(2); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if u.ID() != userID || u.Email() != in.Email || u.PasswordHash() != argonHash || u.Role() != RoleManager {
		t.Errorf("user = (%s, %s, %s, %s), want (%s, %s, %s, %s)", u.ID(), u.Email(), u.PasswordHash(), u.Role(),
			userID, in.Email, argonHash, RoleManager)
	}
	if fresh := (&User{}); fresh.Exists() || fresh.Active() {
		t.Errorf("fresh user: Exists() = %v, Active() = %v, want false, false", fresh.Exists(), fresh.Active())
	}
}

func TestRoles(t *testing.T) {
	tests := []struct {
		role    Role
		seesAll bool
	}{{RoleAdmin, true}, {RoleManager, true}, {RoleUser, false}, {Role{}, false}}
	for _, tt := range tests {
		if got := tt.role.SeesAllProperties(); got != tt.seesAll {
			t.Errorf("%q.SeesAllProperties() = %v, want %v", tt.role, got, tt.seesAll)
		}
		if tt.role != (Role{}) {
			if got := ParseRole(tt.role.String()); got != tt.role {
				t.Errorf("ParseRole(%q) = %q, want %q", tt.role, got, tt.role)
			}
		}
	}
	var r Role
	if err := r.UnmarshalText([]byte("superuser")); err == nil {
		t.Errorf("UnmarshalText(superuser) = nil with %q, want an error", r)
	}
	if !errors.Is(ErrUserInactive, ErrUnauthenticated) || !errors.Is(ErrBadCredentials, ErrUnauthenticated) {
		t.Error("ErrUserInactive and ErrBadCredentials must both be ErrUnauthenticated")
	}
}
