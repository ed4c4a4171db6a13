package domain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	tenantTestID  = uuid.MustParse("3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b0a")
	tenantTestReg = uuid.MustParse("5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a")
	// tenantToday is the registration day the tests decide on.
	tenantToday = NewDate(2024, time.June, 15)
)

// tenantContact is a valid contact, changed by edit when edit is not nil.
func tenantContact(edit func(*TenantContact)) TenantContact {
	c := TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: ptr("555-0100")}
	if edit != nil {
		edit(&c)
	}
	return c
}

// tenantInput is valid input with every optional field set, changed by edit.
func tenantInput(edit func(*NewTenantInput)) NewTenantInput {
	in := NewTenantInput{
		ID: tenantTestID, RegisteredBy: tenantTestReg, Contact: tenantContact(nil),
		SSNLastFour: ptr("1234"), DateOfBirth: ptr(NewDate(1990, time.May, 1)),
		Screening: TenantScreening{CreditScore: ptr(720), Income: dec("50000.00"), BackgroundCheckStatus: ptr("clear")},
	}
	if edit != nil {
		edit(&in)
	}
	return in
}

// tenantRegistered is the event RegisterTenant records for in.
func tenantRegistered(in NewTenantInput) *TenantRegistered {
	return &TenantRegistered{
		TenantID: in.ID, RegisteredBy: in.RegisteredBy, Contact: in.Contact,
		SSNLastFour: in.SSNLastFour, DateOfBirth: in.DateOfBirth, Screening: in.Screening,
	}
}

func TestRegisterTenant(t *testing.T) {
	minimal := NewTenantInput{ID: tenantTestID, RegisteredBy: tenantTestReg,
		Contact: TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}}
	accepted := []struct {
		name string
		in   NewTenantInput
	}{
		{"every field", tenantInput(nil)},
		{"required fields only", minimal},
		{"lowest credit score", tenantInput(func(in *NewTenantInput) { in.Screening.CreditScore = ptr(300) })},
		{"highest credit score", tenantInput(func(in *NewTenantInput) { in.Screening.CreditScore = ptr(850) })},
		{"zero income", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("0") })},
		{"income of one cent", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("0.01") })},
		{"highest NUMERIC(12,2) income", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("9999999999.99") })},
		{"income written with trailing zeros", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("1250.5000") })},
		{"ssn of zeros", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("0000") })},
		{"born yesterday", tenantInput(func(in *NewTenantInput) { in.DateOfBirth = ptr(tenantToday.AddDays(-1)) })},
		{"born on the first day of 1900", tenantInput(func(in *NewTenantInput) { in.DateOfBirth = ptr(NewDate(1900, time.January, 1)) })},
		{"100-rune names and a 20-rune phone", tenantInput(func(in *NewTenantInput) {
			in.Contact.FirstName, in.Contact.LastName, in.Contact.Phone = strings.Repeat("é", 100), strings.Repeat("ß", 100), ptr(strings.Repeat("9", 20))
		})},
		{"an empty phone", tenantInput(func(in *NewTenantInput) { in.Contact.Phone = ptr("") })},
		{"mixed-case email", tenantInput(func(in *NewTenantInput) { in.Contact.Email = "Ada.Lovelace@Example.COM" })},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			// given no history; when
			got, err := RegisterTenant(tt.in, tenantToday)
			// then
			MustOutcome(t, got, err, []Event{tenantRegistered(tt.in)}, wantError{})
		})
	}

	refused := []struct {
		name    string
		in      NewTenantInput
		wantErr wantError
	}{
		{"nil id", tenantInput(func(in *NewTenantInput) { in.ID = uuid.Nil }), invalid("id")},
		{"missing first name", tenantInput(func(in *NewTenantInput) { in.Contact.FirstName = "" }), invalid("first_name")},
		{"blank last name", tenantInput(func(in *NewTenantInput) { in.Contact.LastName = " \t" }), invalid("last_name")},
		{"missing email", tenantInput(func(in *NewTenantInput) { in.Contact.Email = "" }), invalid("email")},
		{"email without @", tenantInput(func(in *NewTenantInput) { in.Contact.Email = "ada.example.com" }), invalid("email")},
		{"email with a display name", tenantInput(func(in *NewTenantInput) { in.Contact.Email = "Ada <ada@example.com>" }), invalid("email")},
		{"email with NUL", tenantInput(func(in *NewTenantInput) { in.Contact.Email = "ada\x00@example.com" }), invalid("email", "email")},
		{"email of 256 runes", tenantInput(func(in *NewTenantInput) { in.Contact.Email = strings.Repeat("a", 244) + "@example.com" }), invalid("email")},
		{"first name of 101 runes", tenantInput(func(in *NewTenantInput) { in.Contact.FirstName = strings.Repeat("é", 101) }), invalid("first_name")},
		{"phone of 21 runes", tenantInput(func(in *NewTenantInput) { in.Contact.Phone = ptr(strings.Repeat("9", 21)) }), invalid("phone")},
		{"ssn with a letter", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("12a4") }), invalid("ssn_last_four")},
		{"ssn of three digits", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("123") }), invalid("ssn_last_four")},
		{"ssn of five digits", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("12345") }), invalid("ssn_last_four")},
		{"empty ssn", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("") }), invalid("ssn_last_four")},
		{"ssn of non-ASCII digits", tenantInput(func(in *NewTenantInput) { in.SSNLastFour = ptr("١٢٣٤") }), invalid("ssn_last_four")},
		{"born today", tenantInput(func(in *NewTenantInput) { in.DateOfBirth = ptr(tenantToday) }), invalid("date_of_birth")},
		{"born tomorrow", tenantInput(func(in *NewTenantInput) { in.DateOfBirth = ptr(tenantToday.AddDays(1)) }), invalid("date_of_birth")},
		{"born before 1900", tenantInput(func(in *NewTenantInput) { in.DateOfBirth = ptr(NewDate(1899, time.December, 31)) }), invalid("date_of_birth")},
		{"credit score 299", tenantInput(func(in *NewTenantInput) { in.Screening.CreditScore = ptr(299) }), invalid("credit_score")},
		{"credit score 851", tenantInput(func(in *NewTenantInput) { in.Screening.CreditScore = ptr(851) }), invalid("credit_score")},
		{"negative income", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("-1") }), invalid("income")},
		{"income of minus one cent", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("-0.01") }), invalid("income")},
		{"income with three places", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("1.001") }), invalid("income")},
		{"income beyond NUMERIC(12,2)", tenantInput(func(in *NewTenantInput) { in.Screening.Income = dec("10000000000.00") }), invalid("income")},
		{"empty background check status", tenantInput(func(in *NewTenantInput) { in.Screening.BackgroundCheckStatus = ptr("") }), invalid("background_check_status")},
		{"background check status of 51 runes", tenantInput(func(in *NewTenantInput) { in.Screening.BackgroundCheckStatus = ptr(strings.Repeat("x", 51)) }), invalid("background_check_status")},
		{
			"every field wrong at once lists every field",
			NewTenantInput{
				Contact: TenantContact{Email: "nope", Phone: ptr(strings.Repeat("9", 21))}, SSNLastFour: ptr("12a4"),
				DateOfBirth: ptr(tenantToday.AddDays(1)),
				Screening:   TenantScreening{CreditScore: ptr(851), Income: dec("-1.001"), BackgroundCheckStatus: ptr(" ")},
			},
			invalid("id", "first_name", "last_name", "email", "phone", "ssn_last_four", "date_of_birth",
				"credit_score", "income", "income", "background_check_status"),
		},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RegisterTenant(tt.in, tenantToday)
			MustOutcome(t, got, err, nil, tt.wantErr)
		})
	}
}

func TestTenantApply(t *testing.T) {
	newContact := tenantContact(func(c *TenantContact) { c.Email, c.Phone = "ada@lovelace.example", nil })
	screened := TenantScreening{CreditScore: ptr(700), Income: dec("42000.50")}
	tests := []struct {
		name          string
		given         []Event
		wantVersion   int64
		wantContact   TenantContact
		wantScreening TenantScreening
		wantErased    bool
	}{
		{name: "no history", wantVersion: 0},
		{
			name: "registered", given: []Event{tenantRegistered(tenantInput(nil))}, wantVersion: 1,
			wantContact: tenantContact(nil), wantScreening: tenantInput(nil).Screening,
		},
		{
			name:        "contact changed and screening recorded",
			given:       []Event{tenantRegistered(tenantInput(nil)), &TenantContactChanged{Contact: newContact}, &TenantScreeningRecorded{Screening: screened}},
			wantVersion: 3, wantContact: newContact, wantScreening: screened,
		},
		{
			name:        "erased",
			given:       []Event{tenantRegistered(tenantInput(nil)), &TenantScreeningRecorded{Screening: screened}, &TenantPersonalDataErased{}},
			wantVersion: 3, wantErased: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := MustGiven(t, &Tenant{}, tt.given...)
			if got, want := tn.Version(), tt.wantVersion; got != want {
				t.Errorf("Version() = %d, want %d", got, want)
			}
			if got, want := tn.Exists(), tt.wantVersion > 0; got != want {
				t.Errorf("Exists() = %v, want %v", got, want)
			}
			if tt.wantVersion == 0 {
				return
			}
			if got, want := tn.ID(), tenantTestID; got != want {
				t.Errorf("ID() = %s, want %s", got, want)
			}
			if got, want := tn.RegisteredBy(), tenantTestReg; got != want {
				t.Errorf("RegisteredBy() = %s, want %s", got, want)
			}
			MustEvents(t, []Event{&TenantContactChanged{Contact: tn.Contact()}}, []Event{&TenantContactChanged{Contact: tt.wantContact}})
			MustEvents(t, []Event{&TenantScreeningRecorded{Screening: tn.Screening()}}, []Event{&TenantScreeningRecorded{Screening: tt.wantScreening}})
			if got, want := tn.Erased(), tt.wantErased; got != want {
				t.Errorf("Erased() = %v, want %v", got, want)
			}
		})
	}
}

func TestTenantChangeContact(t *testing.T) {
	registered := tenantRegistered(tenantInput(nil))
	moved := tenantContact(func(c *TenantContact) { c.Email = "ada@lovelace.example" })
	tests := []struct {
		name    string
		given   []Event
		when    TenantContact
		want    []Event
		wantErr wantError
	}{
		{
			name: "a new email records the whole contact", given: []Event{registered},
			when: moved, want: []Event{&TenantContactChanged{Contact: moved}},
		},
		{
			name: "clearing the phone records the contact without it", given: []Event{registered},
			when: tenantContact(func(c *TenantContact) { c.Phone = nil }),
			want: []Event{&TenantContactChanged{Contact: tenantContact(func(c *TenantContact) { c.Phone = nil })}},
		},
		{
			name: "an email in another case is a change", given: []Event{registered},
			when: tenantContact(func(c *TenantContact) { c.Email = "ADA@example.com" }),
			want: []Event{&TenantContactChanged{Contact: tenantContact(func(c *TenantContact) { c.Email = "ADA@example.com" })}},
		},
		{name: "the same contact records nothing", given: []Event{registered}, when: tenantContact(nil)},
		{
			name: "the contact of the last change records nothing", given: []Event{registered, &TenantContactChanged{Contact: moved}},
			when: moved,
		},
		{
			name: "going back to the registered contact records it", given: []Event{registered, &TenantContactChanged{Contact: moved}},
			when: tenantContact(nil), want: []Event{&TenantContactChanged{Contact: tenantContact(nil)}},
		},
		{
			name: "the same phone behind another pointer records nothing", given: []Event{registered},
			when: tenantContact(func(c *TenantContact) { c.Phone = ptr("555-0100") }),
		},
		{
			name: "missing names and a bad email are refused together", given: []Event{registered},
			when:    TenantContact{Email: "not an email"},
			wantErr: invalid("first_name", "last_name", "email"),
		},
		{
			name: "a phone of 21 runes is refused", given: []Event{registered},
			when: tenantContact(func(c *TenantContact) { c.Phone = ptr(strings.Repeat("1", 21)) }), wantErr: invalid("phone"),
		},
		{
			name: "an erased tenant's contact does not change", given: []Event{registered, &TenantPersonalDataErased{}},
			when: moved, wantErr: isErr(ErrTenantErased, ErrConflict),
		},
		{
			name: "an erased tenant refuses even a valid empty-looking contact", given: []Event{registered, &TenantPersonalDataErased{}},
			when: TenantContact{}, wantErr: isErr(ErrTenantErased, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := MustGiven(t, &Tenant{}, tt.given...)
			got, err := tn.ChangeContact(tt.when)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestTenantRecordScreening(t *testing.T) {
	bare := tenantRegistered(NewTenantInput{ID: tenantTestID, RegisteredBy: tenantTestReg, Contact: tenantContact(nil)})
	full := tenantRegistered(tenantInput(nil)) // credit 720, income 50000.00, clear
	tests := []struct {
		name    string
		given   []Event
		when    TenantScreening
		want    []Event
		wantErr wantError
	}{
		{
			name: "a credit score on a tenant never screened", given: []Event{bare},
			when: TenantScreening{CreditScore: ptr(680)},
			want: []Event{&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(680)}}},
		},
		{
			name: "an income after a credit score keeps the credit score", given: []Event{bare, &TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(680)}}},
			when: TenantScreening{Income: dec("61000.25")},
			want: []Event{&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(680), Income: dec("61000.25")}}},
		},
		{
			name: "a background check keeps the registered credit score and income", given: []Event{full},
			when: TenantScreening{BackgroundCheckStatus: ptr("flagged")},
			want: []Event{&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(720), Income: dec("50000.00"), BackgroundCheckStatus: ptr("flagged")}}},
		},
		{
			name: "every field replaces every field", given: []Event{full},
			when: TenantScreening{CreditScore: ptr(300), Income: dec("0"), BackgroundCheckStatus: ptr("pending")},
			want: []Event{&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(300), Income: dec("0"), BackgroundCheckStatus: ptr("pending")}}},
		},
		{
			name: "the highest credit score", given: []Event{bare}, when: TenantScreening{CreditScore: ptr(850)},
			want: []Event{&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(850)}}},
		},
		{name: "nothing given is refused", given: []Event{full}, when: TenantScreening{}, wantErr: invalid("credit_score")},
		{name: "credit score 299 is refused", given: []Event{full}, when: TenantScreening{CreditScore: ptr(299)}, wantErr: invalid("credit_score")},
		{name: "credit score 851 is refused", given: []Event{full}, when: TenantScreening{CreditScore: ptr(851)}, wantErr: invalid("credit_score")},
		{name: "a negative income is refused", given: []Event{full}, when: TenantScreening{Income: dec("-1")}, wantErr: invalid("income")},
		{name: "an income with three places is refused", given: []Event{full}, when: TenantScreening{Income: dec("1.001")}, wantErr: invalid("income")},
		{
			name: "every bad field is refused together", given: []Event{full},
			when:    TenantScreening{CreditScore: ptr(851), Income: dec("1.001"), BackgroundCheckStatus: ptr("")},
			wantErr: invalid("credit_score", "income", "background_check_status"),
		},
		{
			name: "an erased tenant is not screened", given: []Event{full, &TenantPersonalDataErased{}},
			when: TenantScreening{CreditScore: ptr(700)}, wantErr: isErr(ErrTenantErased, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := MustGiven(t, &Tenant{}, tt.given...)
			got, err := tn.RecordScreening(tt.when)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestTenantErasePersonalData(t *testing.T) {
	registered := tenantRegistered(tenantInput(nil))
	tests := []struct {
		name  string
		given []Event
		want  []Event
	}{
		{name: "a registered tenant is erased", given: []Event{registered}, want: []Event{&TenantPersonalDataErased{}}},
		{
			name:  "a changed and screened tenant is erased",
			given: []Event{registered, &TenantContactChanged{Contact: tenantContact(nil)}, &TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(700)}}},
			want:  []Event{&TenantPersonalDataErased{}},
		},
		{name: "erasing twice records nothing", given: []Event{registered, &TenantPersonalDataErased{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := MustGiven(t, &Tenant{}, tt.given...)
			MustEvents(t, tn.ErasePersonalData(), tt.want)
		})
	}
}

func TestTenantMayErase(t *testing.T) {
	registered := tenantRegistered(tenantInput(nil))
	other := uuid.New()
	tests := []struct {
		name   string
		userID uuid.UUID
		role   Role
		want   bool
	}{
		{"an administrator", other, RoleAdmin, true},
		{"the user who registered it", tenantTestReg, RoleUser, true},
		{"another user, though it may see the tenant through a lease", other, RoleUser, false},
		{"a manager", other, RoleManager, false},
		{"a manager who registered it", tenantTestReg, RoleManager, false},
		{"no role", tenantTestReg, Role{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tn := MustGiven(t, &Tenant{}, registered)
			if got := tn.MayErase(tt.userID, tt.role); got != tt.want {
				t.Errorf("MayErase(%s, %s) = %v, want %v", tt.userID, tt.role, got, tt.want)
			}
		})
	}
	if !errors.Is(ErrEraseForbidden, ErrForbidden) {
		t.Errorf("ErrEraseForbidden is not a refusal for the role (403)")
	}
}

func TestTenantErrorsAreConflicts(t *testing.T) {
	if !errors.Is(ErrTenantErased, ErrConflict) {
		t.Errorf("ErrTenantErased is not a conflict (409)")
	}
}

func TestTenantEventsRoundTrip(t *testing.T) {
	for _, e := range []Event{
		tenantRegistered(tenantInput(nil)),
		tenantRegistered(NewTenantInput{ID: tenantTestID, RegisteredBy: tenantTestReg, Contact: TenantContact{FirstName: "A", LastName: "B", Email: "a@b.example"}}),
		&TenantContactChanged{Contact: tenantContact(nil)},
		&TenantScreeningRecorded{Screening: TenantScreening{CreditScore: ptr(700), Income: dec("1250.50"), BackgroundCheckStatus: ptr("clear")}},
		&TenantPersonalDataErased{},
	} {
		MustRoundTrip(t, e.EventType(), e)
	}
}
