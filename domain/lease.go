package domain

// Lease invariants:
//   - end_date > start_date; rent_amount > 0; security_deposit >= 0; payment_day 1..28;
//   - start_date lies at most MaxLeaseBackdateYears before the day of signing (so
//     that no signing posts hundreds of back charges); a term (signed, or added by
//     a renewal) is at most MaxLeaseTermYears long; every date is in the date window;
//   - it is signed only on an existing, active property and existing tenants
//     (its parties, the first of them its primary: lease_parties.go);
//   - no two active leases of one property overlap in dates (a cross-stream rule,
//     enforced by the command with a reservation written in the append's transaction);
//   - only an active lease renews, terminates or expires; a renewal moves end_date later;
//   - a lease expires only once its end_date has passed; one that renews
//     automatically (auto_renew) is renewed instead, for the same term length as
//     its last term, as many times as it takes to end on or after today.

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// LeaseStreamType names lease streams.
const LeaseStreamType = "lease"

// LeaseStatus is where a lease stands.
type LeaseStatus struct{ name string }

var (
	LeaseStatusActive     = LeaseStatus{"active"}
	LeaseStatusExpired    = LeaseStatus{"expired"}
	LeaseStatusTerminated = LeaseStatus{"terminated"}
)

var leaseStatuses = enumOf(LeaseStatusActive, LeaseStatusExpired, LeaseStatusTerminated)

func (s LeaseStatus) String() string                { return s.name }
func (s LeaseStatus) MarshalText() ([]byte, error)  { return []byte(s.name), nil }
func (s *LeaseStatus) UnmarshalText(b []byte) error { return leaseStatuses.parse(string(b), s) }

// Lease refusals.
var (
	ErrLeaseNotActive    = conflict("the lease is not active")
	ErrLeaseOverlap      = conflict("the property has an active lease overlapping these dates")
	ErrPropertyNotActive = conflict("the property is not active")
	ErrLeaseNotYetEnded  = conflict("the lease's end date has not passed")
)

// LeaseTerms are the terms a lease is signed on.
type LeaseTerms struct {
	StartDate       Date  `json:"start_date"`
	EndDate         Date  `json:"end_date"`
	RentAmount      Money `json:"rent_amount"`
	SecurityDeposit Money `json:"security_deposit"`
	PaymentDay      int   `json:"payment_day"`
	AutoRenew       bool  `json:"auto_renew"`
}

// Bounds of a lease's dates.
const (
	MaxLeaseBackdateYears = 10
	MaxLeaseTermYears     = 99
)

func (t LeaseTerms) validate(v *validator, today Date) {
	dateField(v, "start_date", t.StartDate, true)
	dateField(v, "end_date", t.EndDate, true)
	if earliest := today.AddYears(-MaxLeaseBackdateYears); t.StartDate.InWindow() && !today.IsZero() {
		v.check(!t.StartDate.Before(earliest), "start_date",
			fmt.Sprintf("must not be more than %d years before today (%s)", MaxLeaseBackdateYears, earliest))
	}
	if t.StartDate.InWindow() && t.EndDate.InWindow() {
		v.check(t.EndDate.After(t.StartDate), "end_date", "must be after start_date")
		v.check(!t.EndDate.After(t.StartDate.AddYears(MaxLeaseTermYears)), "end_date",
			fmt.Sprintf("must be at most %d years after start_date", MaxLeaseTermYears))
	}
	v.check(t.RentAmount.IsPositive(), "rent_amount", "must be greater than 0")
	v.check(!t.SecurityDeposit.IsNegative(), "security_deposit", "must not be negative")
	v.check(t.PaymentDay >= 1 && t.PaymentDay <= 28, "payment_day", "must be between 1 and 28")
}

// Lease events.
type (
	LeaseSigned struct {
		LeaseID    uuid.UUID  `json:"lease_id"`
		PropertyID uuid.UUID  `json:"property_id"`
		TenantID   uuid.UUID  `json:"tenant_id"` // the primary tenant
		Terms      LeaseTerms `json:"terms"`
		// CoTenantIDs are the other parties signing it, in the order named.
		CoTenantIDs []uuid.UUID `json:"co_tenant_ids,omitempty"`
	}
	LeaseRenewed struct {
		PreviousEndDate Date   `json:"previous_end_date"`
		EndDate         Date   `json:"end_date"`
		RentAmount      *Money `json:"rent_amount,omitempty"` // the new rent, when it changes
		Automatic       bool   `json:"automatic,omitempty"`   // renewed by auto_renew at its end date
	}
	LeaseTerminated struct {
		EffectiveDate Date   `json:"effective_date"`
		Reason        string `json:"reason,omitempty"`
	}
	LeaseExpired struct {
		EndDate Date `json:"end_date"`
	}
)

func (LeaseSigned) EventType() string     { return "LeaseSigned" }
func (LeaseRenewed) EventType() string    { return "LeaseRenewed" }
func (LeaseTerminated) EventType() string { return "LeaseTerminated" }
func (LeaseExpired) EventType() string    { return "LeaseExpired" }

var leaseEvents = map[string]func() Event{
	"LeaseSigned":     func() Event { return &LeaseSigned{} },
	"LeaseRenewed":    func() Event { return &LeaseRenewed{} },
	"LeaseTerminated": func() Event { return &LeaseTerminated{} },
	"LeaseExpired":    func() Event { return &LeaseExpired{} },
}

// SignLease validates the terms against the property and tenants and records the
// signing on day today; the first tenant is the primary. The overlap rule is the
// command's: it needs other leases.
func SignLease(id uuid.UUID, property *Property, tenants []Signatory, terms LeaseTerms, today Date) ([]Event, error) {
	var v validator
	v.check(id != uuid.Nil, "id", "must not be the nil UUID")
	v.check(property.Exists(), "property_id", "no such property")
	validateSignatories(&v, tenants)
	terms.validate(&v, today)
	if err := v.err(); err != nil {
		return nil, err
	}
	if property.Status() != PropertyActive {
		return nil, ErrPropertyNotActive
	}
	signed := &LeaseSigned{LeaseID: id, PropertyID: property.ID(), TenantID: tenants[0].Tenant.ID(), Terms: terms}
	for _, s := range tenants[1:] {
		signed.CoTenantIDs = append(signed.CoTenantIDs, s.Tenant.ID())
	}
	return []Event{signed}, nil
}

// Lease is the aggregate.
type Lease struct {
	id           uuid.UUID
	version      int64
	propertyID   uuid.UUID
	tenantID     uuid.UUID   // the primary tenant
	parties      []uuid.UUID // every party now, the primary among them, in the order they joined
	terms        LeaseTerms
	status       LeaseStatus
	terminatedOn *Date
	ends         []Date         // the end date as signed, then as each renewal set it
	rentChanges  []rentChange   // the rent as signed, then each renewal's new rent
	lateFee      *LateFeePolicy // the lease's own late-fee policy
	ledger       leaseLedger    // its credit and deposit (ledger.go)
}

// Apply records a fact.
func (l *Lease) Apply(e Event, version int64, at time.Time) {
	switch e := e.(type) {
	case *LeaseSigned:
		l.id, l.propertyID, l.tenantID, l.terms, l.status = e.LeaseID, e.PropertyID, e.TenantID, e.Terms, LeaseStatusActive
		l.parties = append([]uuid.UUID{e.TenantID}, e.CoTenantIDs...)
		l.ends = []Date{e.Terms.EndDate}
		l.rentChanges = []rentChange{{amount: e.Terms.RentAmount}}
	case *LeaseRenewed:
		l.terms.EndDate = e.EndDate
		l.ends = append(l.ends, e.EndDate)
		if e.RentAmount != nil {
			l.terms.RentAmount = *e.RentAmount
			// A new rent applies from the first month that begins after the renewal.
			l.rentChanges = append(l.rentChanges, rentChange{
				from: firstOfMonth(dateOfRecord(at)).AddMonths(1), amount: *e.RentAmount})
		}
	case *LeaseTerminated:
		l.status = LeaseStatusTerminated
		on := e.EffectiveDate
		l.terminatedOn = &on
	case *LeaseExpired:
		l.status = LeaseStatusExpired
	case *LeaseLateFeePolicySet:
		p := e.Policy
		l.lateFee = &p
	case *LeaseTenantAdded, *LeaseTenantRemoved, *LeasePrimaryTenantChanged:
		l.applyParties(e)
	default:
		l.ledger.apply(e)
	}
	l.version = version
}

// Renew extends an active lease to endDate, optionally at a new rent.
func (l *Lease) Renew(endDate Date, rent *Money) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	var v validator
	dateField(&v, "end_date", endDate, true)
	if endDate.InWindow() {
		v.check(endDate.After(l.terms.EndDate), "end_date", "must be after the current end date "+l.terms.EndDate.String())
		v.check(!endDate.After(l.terms.EndDate.AddYears(MaxLeaseTermYears)), "end_date",
			fmt.Sprintf("must be at most %d years after the current end date", MaxLeaseTermYears))
	}
	if rent != nil {
		v.check(rent.IsPositive(), "rent_amount", "must be greater than 0")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&LeaseRenewed{PreviousEndDate: l.terms.EndDate, EndDate: endDate, RentAmount: rent}}, nil
}

// Terminate ends an active lease early, from effective (today when zero).
func (l *Lease) Terminate(effective Date, reason string, today Date) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	if effective.IsZero() {
		effective = today
	}
	var v validator
	v.check(!effective.Before(l.terms.StartDate), "effective_date", "must not be before the start date "+l.terms.StartDate.String())
	v.check(!effective.After(l.terms.EndDate), "effective_date", "must not be after the end date "+l.terms.EndDate.String())
	textField(&v, "reason", reason, false, 1000)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&LeaseTerminated{EffectiveDate: effective, Reason: reason}}, nil
}

// Expire ends an active lease whose end date has passed.
func (l *Lease) Expire(today Date) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	if !l.terms.EndDate.Before(today) {
		return nil, ErrLeaseNotYetEnded
	}
	return []Event{&LeaseExpired{EndDate: l.terms.EndDate}}, nil
}

// maxAutoRenewals bounds the renewals one RenewAutomatically records; a lease that
// ended longer ago is brought up to date by the next runs.
const maxAutoRenewals = 120

// RenewAutomatically renews an active auto_renew lease whose end date has passed,
// each time for the length of its last term (whole months when that term was whole
// months, otherwise days), until it ends on or after today.
func (l *Lease) RenewAutomatically(today Date) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	if !l.terms.AutoRenew {
		return nil, ErrLeaseNotAutoRenew
	}
	if !l.terms.EndDate.Before(today) {
		return nil, ErrLeaseNotYetEnded
	}
	termStart, end := l.terms.StartDate, l.terms.EndDate
	if n := len(l.ends); n > 1 {
		termStart = l.ends[n-2].AddDays(1)
	}
	var events []Event
	for end.Before(today) && len(events) < maxAutoRenewals {
		next := nextTermEnd(termStart, end)
		events = append(events, &LeaseRenewed{PreviousEndDate: end, EndDate: next, Automatic: true})
		termStart, end = end.AddDays(1), next
	}
	return events, nil
}

func (l *Lease) ID() uuid.UUID         { return l.id }
func (l *Lease) Version() int64        { return l.version }
func (l *Lease) Exists() bool          { return l.version > 0 }
func (l *Lease) PropertyID() uuid.UUID { return l.propertyID }
func (l *Lease) TenantID() uuid.UUID   { return l.tenantID } // the primary tenant
func (l *Lease) Terms() LeaseTerms     { return l.terms }
func (l *Lease) Status() LeaseStatus   { return l.status }
func (l *Lease) TerminatedOn() *Date   { return l.terminatedOn }
