package domain

// Tenant invariants:
//   - first_name, last_name and email are always present (until erasure);
//   - ssn_last_four is exactly four digits; credit_score is 300..850; income >= 0
//     with at most two decimal places (NUMERIC(12,2));
//   - an erased tenant's personal data is gone for good: no command changes it again.

import (
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// TenantStreamType names tenant streams.
const TenantStreamType = "tenant"

// TenantPersonalFields name the tenant's personal data, both as members of its
// event payloads (sealed with the tenant's data key) and as columns of its
// read-model and audit rows (redacted when it is erased).
var TenantPersonalFields = []string{"first_name", "last_name", "email", "phone", "ssn_last_four",
	"date_of_birth", "income", "credit_score", "background_check_status"}

// ErrTenantErased refuses changes to a tenant whose personal data was erased.
var ErrTenantErased = conflict("the tenant's personal data was erased")

// ErrEraseForbidden refuses an erasure to someone who may see the tenant but not
// erase it (MayErase).
var ErrEraseForbidden = forbidden("only an administrator or the user who registered the tenant may erase it")

// TenantContact is how to reach a tenant.
type TenantContact struct {
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Email     string  `json:"email"`
	Phone     *string `json:"phone,omitempty"`
}

func (c TenantContact) validate(v *validator) {
	textField(v, "first_name", c.FirstName, true, 100)
	textField(v, "last_name", c.LastName, true, 100)
	textField(v, "email", c.Email, true, 255)
	if strings.TrimSpace(c.Email) != "" {
		addr, err := mail.ParseAddress(c.Email)
		v.check(err == nil && addr.Address == strings.TrimSpace(c.Email), "email", "must be a valid email address")
	}
	if c.Phone != nil {
		textField(v, "phone", *c.Phone, false, 20)
	}
}

// TenantScreening is the outcome of a tenant screening.
type TenantScreening struct {
	CreditScore           *int             `json:"credit_score,omitempty"`
	Income                *decimal.Decimal `json:"income,omitempty"`
	BackgroundCheckStatus *string          `json:"background_check_status,omitempty"`
}

// maxIncome is the largest NUMERIC(12,2) value.
var maxIncome = decimal.RequireFromString("9999999999.99")

func (s TenantScreening) validate(v *validator) {
	if s.CreditScore != nil {
		v.check(*s.CreditScore >= 300 && *s.CreditScore <= 850, "credit_score", "must be between 300 and 850")
	}
	if s.Income != nil {
		in := *s.Income
		v.check(!in.IsNegative(), "income", "must not be negative")
		v.check(in.Round(2).Equal(in), "income", "has more than two decimal places")
		v.check(in.LessThanOrEqual(maxIncome), "income", "is larger than "+maxIncome.String())
	}
	if s.BackgroundCheckStatus != nil {
		textField(v, "background_check_status", *s.BackgroundCheckStatus, true, 50)
	}
}

var fourDigits = regexp.MustCompile(`^[0-9]{4}$`)

// NewTenantInput is what registering a tenant needs.
type NewTenantInput struct {
	ID           uuid.UUID
	RegisteredBy uuid.UUID
	Contact      TenantContact
	SSNLastFour  *string
	DateOfBirth  *Date
	Screening    TenantScreening
}

// Tenant events. Personal data lives only in these fields, so that it can be
// encrypted per tenant and shredded.
type (
	TenantRegistered struct {
		TenantID     uuid.UUID       `json:"tenant_id"`
		RegisteredBy uuid.UUID       `json:"registered_by"`
		Contact      TenantContact   `json:"contact"`
		SSNLastFour  *string         `json:"ssn_last_four,omitempty"`
		DateOfBirth  *Date           `json:"date_of_birth,omitempty"`
		Screening    TenantScreening `json:"screening"`
	}
	TenantContactChanged struct {
		Contact TenantContact `json:"contact"`
	}
	TenantScreeningRecorded struct {
		Screening TenantScreening `json:"screening"`
	}
	TenantPersonalDataErased struct{}
)

func (TenantRegistered) EventType() string         { return "TenantRegistered" }
func (TenantContactChanged) EventType() string     { return "TenantContactChanged" }
func (TenantScreeningRecorded) EventType() string  { return "TenantScreeningRecorded" }
func (TenantPersonalDataErased) EventType() string { return "TenantPersonalDataErased" }

var tenantEvents = map[string]func() Event{
	"TenantRegistered":         func() Event { return &TenantRegistered{} },
	"TenantContactChanged":     func() Event { return &TenantContactChanged{} },
	"TenantScreeningRecorded":  func() Event { return &TenantScreeningRecorded{} },
	"TenantPersonalDataErased": func() Event { return &TenantPersonalDataErased{} },
}

// RegisterTenant validates and records a new tenant.
func RegisterTenant(in NewTenantInput, today Date) ([]Event, error) {
	var v validator
	v.check(in.ID != uuid.Nil, "id", "must not be the nil UUID")
	in.Contact.validate(&v)
	if in.SSNLastFour != nil {
		v.check(fourDigits.MatchString(*in.SSNLastFour), "ssn_last_four", "must be exactly four digits")
	}
	if in.DateOfBirth != nil {
		dateField(&v, "date_of_birth", *in.DateOfBirth, false)
		if in.DateOfBirth.InWindow() {
			v.check(in.DateOfBirth.Before(today), "date_of_birth", "must be a past date")
		}
	}
	in.Screening.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&TenantRegistered{
		TenantID: in.ID, RegisteredBy: in.RegisteredBy, Contact: in.Contact,
		SSNLastFour: in.SSNLastFour, DateOfBirth: in.DateOfBirth, Screening: in.Screening,
	}}, nil
}

// Tenant is the aggregate.
type Tenant struct {
	id           uuid.UUID
	version      int64
	registeredBy uuid.UUID
	contact      TenantContact
	screening    TenantScreening
	erased       bool
}

// Apply records a fact.
func (t *Tenant) Apply(e Event, version int64, _ time.Time) {
	switch e := e.(type) {
	case *TenantRegistered:
		t.id, t.registeredBy, t.contact, t.screening = e.TenantID, e.RegisteredBy, e.Contact, e.Screening
	case *TenantContactChanged:
		t.contact = e.Contact
	case *TenantScreeningRecorded:
		t.screening = e.Screening
	case *TenantPersonalDataErased:
		t.contact, t.screening, t.erased = TenantContact{}, TenantScreening{}, true
	}
	t.version = version
}

// ChangeContact replaces the contact details; the same details record nothing.
func (t *Tenant) ChangeContact(c TenantContact) ([]Event, error) {
	if t.erased {
		return nil, ErrTenantErased
	}
	var v validator
	c.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	if c.FirstName == t.contact.FirstName && c.LastName == t.contact.LastName &&
		c.Email == t.contact.Email && ptrEqual(c.Phone, t.contact.Phone) {
		return nil, nil
	}
	return []Event{&TenantContactChanged{Contact: c}}, nil
}

// RecordScreening records a screening result; the event holds the whole screening.
func (t *Tenant) RecordScreening(s TenantScreening) ([]Event, error) {
	if t.erased {
		return nil, ErrTenantErased
	}
	var v validator
	v.check(s.CreditScore != nil || s.Income != nil || s.BackgroundCheckStatus != nil,
		"credit_score", "a screening needs at least one of credit_score, income, background_check_status")
	s.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	merged := t.screening // fields not given keep their earlier result
	if s.CreditScore != nil {
		merged.CreditScore = s.CreditScore
	}
	if s.Income != nil {
		merged.Income = s.Income
	}
	if s.BackgroundCheckStatus != nil {
		merged.BackgroundCheckStatus = s.BackgroundCheckStatus
	}
	return []Event{&TenantScreeningRecorded{Screening: merged}}, nil
}

// MayErase reports whether the user with this id and role may erase the tenant's
// personal data: an administrator, or the user who registered the tenant, its
// owning user. A manager sees every tenant and an owner the tenants leasing its
// properties, but shredding a person's data for good is neither's call.
func (t *Tenant) MayErase(userID uuid.UUID, role Role) bool {
	return role == RoleAdmin || (role == RoleUser && t.registeredBy == userID)
}

// ErasePersonalData forgets the tenant's personal data; erasing twice records nothing.
func (t *Tenant) ErasePersonalData() []Event {
	if t.erased {
		return nil
	}
	return []Event{&TenantPersonalDataErased{}}
}

func (t *Tenant) ID() uuid.UUID              { return t.id }
func (t *Tenant) Version() int64             { return t.version }
func (t *Tenant) Exists() bool               { return t.version > 0 }
func (t *Tenant) RegisteredBy() uuid.UUID    { return t.registeredBy }
func (t *Tenant) Contact() TenantContact     { return t.contact }
func (t *Tenant) Screening() TenantScreening { return t.screening }
func (t *Tenant) Erased() bool               { return t.erased }
