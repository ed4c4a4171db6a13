package domain

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var (
	leaseTestID     = uuid.MustParse("3fa85f64-5717-4562-b3fc-2c963f66afa6")
	leaseTestTenant = uuid.MustParse("5b7d1e2f-3a4c-4d5e-9f60-718293a4b5c6")
	leaseStart      = NewDate(2025, 1, 1)
	leaseEnd        = NewDate(2025, 12, 31)
	leaseSignedOn   = NewDate(2025, 1, 1) // "today" when the test leases are signed
)

// leaseTerms are valid terms: a year from 2025-01-01 at 1250.00.
func leaseTerms() LeaseTerms {
	return LeaseTerms{
		StartDate: leaseStart, EndDate: leaseEnd, RentAmount: MustMoney("1250.00"),
		SecurityDeposit: MustMoney("2500.00"), PaymentDay: 1,
	}
}

// terms returns leaseTerms changed by edit.
func terms(edit func(*LeaseTerms)) LeaseTerms {
	t := leaseTerms()
	edit(&t)
	return t
}

// leaseProperty is a property with the given history after its registration.
func leaseProperty(tb testing.TB, later ...Event) *Property {
	tb.Helper()
	return MustGiven(tb, &Property{}, append([]Event{registered(ptr(ownerA), fullDetails())}, later...)...)
}

func leaseTenant(tb testing.TB) *Tenant {
	tb.Helper()
	return MustGiven(tb, &Tenant{}, &TenantRegistered{
		TenantID: leaseTestTenant, RegisteredBy: ownerA,
		Contact: TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
	})
}

func signed(t LeaseTerms) *LeaseSigned {
	return &LeaseSigned{LeaseID: leaseTestID, PropertyID: propertyID, TenantID: leaseTestTenant, Terms: t}
}

func money(s string) *Money {
	m := MustMoney(s)
	return &m
}

func TestSignLease(t *testing.T) {
	inactive := &PropertyStatusChanged{From: PropertyActive, To: PropertyInactive}
	archived := &PropertyStatusChanged{From: PropertyActive, To: PropertyArchived}
	tests := []struct {
		name          string
		id            uuid.UUID
		propertyAfter []Event // the property's history after its registration
		noProperty    bool
		noTenant      bool
		terms         LeaseTerms
		want          []Event
		wantErr       wantError
	}{
		{name: "valid terms", id: leaseTestID, terms: leaseTerms(), want: []Event{signed(leaseTerms())}},
		{
			name: "auto-renewing, payment on the 28th, no deposit", id: leaseTestID,
			terms: terms(func(t *LeaseTerms) { t.AutoRenew, t.PaymentDay, t.SecurityDeposit = true, 28, MustMoney("0") }),
			want:  []Event{signed(terms(func(t *LeaseTerms) { t.AutoRenew, t.PaymentDay, t.SecurityDeposit = true, 28, MustMoney("0") }))},
		},
		{
			name: "one day long, smallest rent", id: leaseTestID,
			terms: terms(func(t *LeaseTerms) { t.EndDate, t.RentAmount = leaseStart.AddDays(1), MustMoney("0.01") }),
			want:  []Event{signed(terms(func(t *LeaseTerms) { t.EndDate, t.RentAmount = leaseStart.AddDays(1), MustMoney("0.01") }))},
		},
		{
			name: "a property made active again", id: leaseTestID, terms: leaseTerms(),
			propertyAfter: []Event{inactive, &PropertyStatusChanged{From: PropertyInactive, To: PropertyActive}},
			want:          []Event{signed(leaseTerms())},
		},
		{name: "nil id", id: uuid.Nil, terms: leaseTerms(), wantErr: invalid("id")},
		{name: "no such property", id: leaseTestID, noProperty: true, terms: leaseTerms(), wantErr: invalid("property_id")},
		{name: "no such tenant", id: leaseTestID, noTenant: true, terms: leaseTerms(), wantErr: invalid("tenant_id")},
		{name: "missing start date", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.StartDate = Date{} }), wantErr: invalid("start_date")},
		{name: "missing end date", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.EndDate = Date{} }), wantErr: invalid("end_date")},
		{name: "end date equal to start date", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.EndDate = leaseStart }), wantErr: invalid("end_date")},
		{name: "end date before start date", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.EndDate = leaseStart.AddDays(-1) }), wantErr: invalid("end_date")},
		{name: "zero rent", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.RentAmount = MustMoney("0") }), wantErr: invalid("rent_amount")},
		{name: "negative rent", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.RentAmount = MustMoney("-1250.00") }), wantErr: invalid("rent_amount")},
		{name: "negative deposit", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.SecurityDeposit = MustMoney("-0.01") }), wantErr: invalid("security_deposit")},
		{
			name: "start date exactly ten years back", id: leaseTestID,
			terms: terms(func(t *LeaseTerms) { t.StartDate = NewDate(2015, 1, 1) }),
			want:  []Event{signed(terms(func(t *LeaseTerms) { t.StartDate = NewDate(2015, 1, 1) }))},
		},
		{name: "start date more than ten years back", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.StartDate = NewDate(2014, 12, 31) }), wantErr: invalid("start_date")},
		{
			name: "a 99-year term", id: leaseTestID,
			terms: terms(func(t *LeaseTerms) { t.EndDate = NewDate(2124, 1, 1) }),
			want:  []Event{signed(terms(func(t *LeaseTerms) { t.EndDate = NewDate(2124, 1, 1) }))},
		},
		{name: "a term over 99 years", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.EndDate = NewDate(2124, 1, 2) }), wantErr: invalid("end_date")},
		{name: "end date after the window", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.EndDate = NewDate(2200, 1, 1) }), wantErr: invalid("end_date")},
		{name: "payment day 0", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.PaymentDay = 0 }), wantErr: invalid("payment_day")},
		{name: "payment day 29", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.PaymentDay = 29 }), wantErr: invalid("payment_day")},
		{name: "negative payment day", id: leaseTestID, terms: terms(func(t *LeaseTerms) { t.PaymentDay = -1 }), wantErr: invalid("payment_day")},
		{
			name: "every field wrong at once lists every field", id: uuid.Nil, noProperty: true, noTenant: true,
			terms:   LeaseTerms{RentAmount: MustMoney("0"), SecurityDeposit: MustMoney("-1"), PaymentDay: 31},
			wantErr: invalid("id", "property_id", "tenant_id", "start_date", "end_date", "rent_amount", "security_deposit", "payment_day"),
		},
		{name: "inactive property", id: leaseTestID, propertyAfter: []Event{inactive}, terms: leaseTerms(), wantErr: isErr(ErrPropertyNotActive, ErrConflict)},
		{name: "archived property", id: leaseTestID, propertyAfter: []Event{archived}, terms: leaseTerms(), wantErr: isErr(ErrPropertyNotActive, ErrConflict)},
		{
			name: "bad fields are reported before an inactive property", id: leaseTestID, propertyAfter: []Event{inactive},
			terms: terms(func(t *LeaseTerms) { t.PaymentDay = 0 }), wantErr: invalid("payment_day"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			property, tenant := leaseProperty(t, tt.propertyAfter...), leaseTenant(t)
			if tt.noProperty {
				property = &Property{}
			}
			if tt.noTenant {
				tenant = &Tenant{}
			}
			// when
			got, err := SignLease(tt.id, property, []Signatory{{tenant, "tenant_id"}}, tt.terms, leaseSignedOn)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseRenew(t *testing.T) {
	nextYear := NewDate(2026, 12, 31)
	renewed := &LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: NewDate(2026, 6, 30)}
	tests := []struct {
		name    string
		given   []Event
		end     Date
		rent    *Money
		want    []Event
		wantErr wantError
	}{
		{
			name: "active lease, later end", given: []Event{signed(leaseTerms())}, end: nextYear,
			want: []Event{&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: nextYear}},
		},
		{
			name: "active lease, one day later, new rent", given: []Event{signed(leaseTerms())}, end: leaseEnd.AddDays(1), rent: money("1300.50"),
			want: []Event{&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: leaseEnd.AddDays(1), RentAmount: money("1300.50")}},
		},
		{
			name: "renewed lease renews from its new end", given: []Event{signed(leaseTerms()), renewed}, end: nextYear,
			want: []Event{&LeaseRenewed{PreviousEndDate: renewed.EndDate, EndDate: nextYear}},
		},
		{name: "end equal to the current end", given: []Event{signed(leaseTerms())}, end: leaseEnd, wantErr: invalid("end_date")},
		{name: "end before the current end", given: []Event{signed(leaseTerms())}, end: leaseEnd.AddDays(-1), wantErr: invalid("end_date")},
		{
			name: "end after the signed end but not after the renewed one", given: []Event{signed(leaseTerms()), renewed},
			end: NewDate(2026, 3, 31), wantErr: invalid("end_date"),
		},
		{name: "missing end", given: []Event{signed(leaseTerms())}, wantErr: invalid("end_date")},
		{
			name: "a renewal of 99 years", given: []Event{signed(leaseTerms())}, end: NewDate(2124, 12, 31),
			want: []Event{&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: NewDate(2124, 12, 31)}},
		},
		{name: "a renewal of over 99 years", given: []Event{signed(leaseTerms())}, end: NewDate(2125, 1, 1), wantErr: invalid("end_date")},
		{name: "zero new rent", given: []Event{signed(leaseTerms())}, end: nextYear, rent: money("0"), wantErr: invalid("rent_amount")},
		{name: "negative new rent", given: []Event{signed(leaseTerms())}, end: nextYear, rent: money("-5"), wantErr: invalid("rent_amount")},
		{name: "bad end and bad rent together", given: []Event{signed(leaseTerms())}, end: leaseStart, rent: money("0"), wantErr: invalid("end_date", "rent_amount")},
		{
			name: "expired lease", given: []Event{signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd}}, end: nextYear,
			wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
		{
			name: "terminated lease", given: []Event{signed(leaseTerms()), &LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1)}}, end: nextYear,
			wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
		{
			name: "an inactive lease is a conflict even with bad fields", given: []Event{signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd}},
			end: leaseStart, wantErr: isErr(ErrLeaseNotActive),
		},
		{name: "no lease at all", end: nextYear, wantErr: isErr(ErrLeaseNotActive)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustGiven(t, &Lease{}, tt.given...)
			got, err := l.Renew(tt.end, tt.rent)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseTerminate(t *testing.T) {
	mid := NewDate(2025, 6, 15)
	renewedEnd := NewDate(2026, 6, 30)
	tests := []struct {
		name      string
		given     []Event
		effective Date
		reason    string
		today     Date
		want      []Event
		wantErr   wantError
	}{
		{
			name: "effective date defaults to today", given: []Event{signed(leaseTerms())}, today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: mid}},
		},
		{
			name: "explicit effective date and reason", given: []Event{signed(leaseTerms())}, effective: NewDate(2025, 9, 30),
			reason: "tenant moved abroad", today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: NewDate(2025, 9, 30), Reason: "tenant moved abroad"}},
		},
		{
			name: "on the start date", given: []Event{signed(leaseTerms())}, effective: leaseStart, today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: leaseStart}},
		},
		{
			name: "on the end date", given: []Event{signed(leaseTerms())}, effective: leaseEnd, today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: leaseEnd}},
		},
		{
			name: "within the renewed term", given: []Event{signed(leaseTerms()), &LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: renewedEnd}},
			effective: NewDate(2026, 3, 1), today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: NewDate(2026, 3, 1)}},
		},
		{
			name: "a reason of 1000 runes", given: []Event{signed(leaseTerms())}, reason: strings.Repeat("é", 1000), today: mid,
			want: []Event{&LeaseTerminated{EffectiveDate: mid, Reason: strings.Repeat("é", 1000)}},
		},
		{name: "before the start date", given: []Event{signed(leaseTerms())}, effective: leaseStart.AddDays(-1), today: mid, wantErr: invalid("effective_date")},
		{name: "after the end date", given: []Event{signed(leaseTerms())}, effective: leaseEnd.AddDays(1), today: mid, wantErr: invalid("effective_date")},
		{name: "today, before the start date", given: []Event{signed(leaseTerms())}, today: NewDate(2024, 12, 1), wantErr: invalid("effective_date")},
		{name: "today, after the end date", given: []Event{signed(leaseTerms())}, today: NewDate(2026, 1, 1), wantErr: invalid("effective_date")},
		{name: "a reason of 1001 runes", given: []Event{signed(leaseTerms())}, reason: strings.Repeat("é", 1001), today: mid, wantErr: invalid("reason")},
		{name: "a reason with NUL", given: []Event{signed(leaseTerms())}, reason: "a\x00b", today: mid, wantErr: invalid("reason")},
		{
			name: "bad date and bad reason together", given: []Event{signed(leaseTerms())}, effective: leaseEnd.AddDays(1),
			reason: strings.Repeat("x", 1001), today: mid, wantErr: invalid("effective_date", "reason"),
		},
		{
			name: "terminated lease", given: []Event{signed(leaseTerms()), &LeaseTerminated{EffectiveDate: mid}}, today: mid,
			wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
		{
			name: "expired lease", given: []Event{signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd}}, today: NewDate(2026, 1, 5),
			wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustGiven(t, &Lease{}, tt.given...)
			got, err := l.Terminate(tt.effective, tt.reason, tt.today)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseExpire(t *testing.T) {
	renewedEnd := NewDate(2026, 6, 30)
	tests := []struct {
		name    string
		given   []Event
		today   Date
		want    []Event
		wantErr wantError
	}{
		{name: "the day after the end date", given: []Event{signed(leaseTerms())}, today: leaseEnd.AddDays(1), want: []Event{&LeaseExpired{EndDate: leaseEnd}}},
		{name: "long after the end date", given: []Event{signed(leaseTerms())}, today: NewDate(2030, 1, 1), want: []Event{&LeaseExpired{EndDate: leaseEnd}}},
		{name: "on the end date", given: []Event{signed(leaseTerms())}, today: leaseEnd, wantErr: isErr(ErrLeaseNotYetEnded, ErrConflict)},
		{name: "before the end date", given: []Event{signed(leaseTerms())}, today: NewDate(2025, 6, 1), wantErr: isErr(ErrLeaseNotYetEnded)},
		{
			name: "renewed: after the signed end, before the renewed one", today: leaseEnd.AddDays(1),
			given:   []Event{signed(leaseTerms()), &LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: renewedEnd}},
			wantErr: isErr(ErrLeaseNotYetEnded),
		},
		{
			name: "renewed: after the renewed end", today: renewedEnd.AddDays(1),
			given: []Event{signed(leaseTerms()), &LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: renewedEnd}},
			want:  []Event{&LeaseExpired{EndDate: renewedEnd}},
		},
		{
			name: "terminated lease", today: leaseEnd.AddDays(1),
			given: []Event{signed(leaseTerms()), &LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1)}}, wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
		{
			name: "expired lease", today: leaseEnd.AddDays(2),
			given: []Event{signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd}}, wantErr: isErr(ErrLeaseNotActive),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustGiven(t, &Lease{}, tt.given...)
			got, err := l.Expire(tt.today)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseApplyRebuildsState(t *testing.T) {
	fresh := &Lease{}
	if fresh.Exists() || fresh.Version() != 0 || fresh.Status() != (LeaseStatus{}) {
		t.Errorf("fresh lease: Exists() = %v, Version() = %d, Status() = %q; want false, 0, zero", fresh.Exists(), fresh.Version(), fresh.Status())
	}

	l := MustGiven(t, &Lease{}, signed(leaseTerms()))
	if !l.Exists() || l.ID() != leaseTestID || l.PropertyID() != propertyID || l.TenantID() != leaseTestTenant {
		t.Errorf("after LeaseSigned: Exists %v, ids %s %s %s", l.Exists(), l.ID(), l.PropertyID(), l.TenantID())
	}
	if got, want := l.Status(), LeaseStatusActive; got != want {
		t.Errorf("Status() = %s, want %s", got, want)
	}
	if got, want := l.Terms(), leaseTerms(); got.EndDate != want.EndDate || got.RentAmount.String() != want.RentAmount.String() {
		t.Errorf("Terms() = %+v, want %+v", got, want)
	}

	newEnd := NewDate(2026, 12, 31)
	l = MustGiven(t, &Lease{}, signed(leaseTerms()),
		&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: newEnd},                                      // v2: same rent
		&LeaseRenewed{PreviousEndDate: newEnd, EndDate: newEnd.AddDays(31), RentAmount: money("1400")}, // v3
	)
	if got, want := l.Terms().EndDate, newEnd.AddDays(31); got != want {
		t.Errorf("EndDate after two renewals = %s, want %s", got, want)
	}
	if got, want := l.Terms().RentAmount.String(), "1400.00"; got != want {
		t.Errorf("RentAmount after renewals = %s, want %s", got, want)
	}
	if got, want := l.Terms().StartDate, leaseStart; got != want {
		t.Errorf("StartDate after renewals = %s, want %s", got, want)
	}
	if got, want := l.Version(), int64(3); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if l.TerminatedOn() != nil {
		t.Errorf("TerminatedOn() = %s for an active lease, want nil", l.TerminatedOn())
	}

	on := NewDate(2025, 8, 31)
	l = MustGiven(t, &Lease{}, signed(leaseTerms()), &LeaseTerminated{EffectiveDate: on, Reason: "sold"})
	if got, want := l.Status(), LeaseStatusTerminated; got != want {
		t.Errorf("Status() after LeaseTerminated = %s, want %s", got, want)
	}
	if got := l.TerminatedOn(); got == nil || *got != on {
		t.Errorf("TerminatedOn() = %v, want %s", got, on)
	}

	l = MustGiven(t, &Lease{}, signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd})
	if got, want := l.Status(), LeaseStatusExpired; got != want {
		t.Errorf("Status() after LeaseExpired = %s, want %s", got, want)
	}
	if got, want := l.Version(), int64(2); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
}

func TestLeaseStatusAcceptsOnlyItsMembers(t *testing.T) {
	for _, want := range []LeaseStatus{LeaseStatusActive, LeaseStatusExpired, LeaseStatusTerminated} {
		var got LeaseStatus
		if err := got.UnmarshalText([]byte(want.String())); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %q, %v; want %q", want, got, err, want)
		}
	}
	var unset LeaseStatus
	if err := unset.UnmarshalText(nil); err != nil || unset != (LeaseStatus{}) {
		t.Errorf("UnmarshalText(\"\") = %q, %v; want the zero status (unset), no error", unset, err)
	}
	for _, s := range []string{"Active", "pending", "terminated ", "cancelled"} {
		var got LeaseStatus
		if err := got.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) = %q, want an error", s, got)
		}
	}
}

func TestLeaseEventsKeepTheirJSONShape(t *testing.T) {
	cases := []struct {
		event Event
		want  string
	}{
		{signed(terms(func(t *LeaseTerms) { t.AutoRenew = true })),
			`{"lease_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","property_id":"6f1c8a52-0b7e-4a53-9a3c-1d2e3f405162",` +
				`"tenant_id":"5b7d1e2f-3a4c-4d5e-9f60-718293a4b5c6","terms":{"start_date":"2025-01-01","end_date":"2025-12-31",` +
				`"rent_amount":"1250.00","security_deposit":"2500.00","payment_day":1,"auto_renew":true}}`},
		{&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: NewDate(2026, 12, 31)}, `{"previous_end_date":"2025-12-31","end_date":"2026-12-31"}`},
		{&LeaseRenewed{PreviousEndDate: leaseEnd, EndDate: NewDate(2026, 12, 31), RentAmount: money("1300")},
			`{"previous_end_date":"2025-12-31","end_date":"2026-12-31","rent_amount":"1300.00"}`},
		{&LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1)}, `{"effective_date":"2025-06-01"}`},
		{&LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1), Reason: "sold"}, `{"effective_date":"2025-06-01","reason":"sold"}`},
		{&LeaseExpired{EndDate: leaseEnd}, `{"end_date":"2025-12-31"}`},
	}
	for _, c := range cases {
		b, err := json.Marshal(c.event)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); got != c.want {
			t.Errorf("%s JSON = %s, want %s", c.event.EventType(), got, c.want)
		}
		MustRoundTrip(t, c.event.EventType(), c.event)
	}
}
