package domain

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"
)

var (
	coTenantID    = uuid.MustParse("7c9e6679-7425-40de-944b-e07fc1f90ae7")
	thirdTenantID = uuid.MustParse("9a1f4e2b-6c3d-4e5f-8a7b-0c1d2e3f4a5b")
)

func partyTenant(tb testing.TB, id uuid.UUID) *Tenant {
	tb.Helper()
	return MustGiven(tb, &Tenant{}, &TenantRegistered{
		TenantID: id, RegisteredBy: ownerA,
		Contact: TenantContact{FirstName: "Grace", LastName: "Hopper", Email: id.String() + "@example.com"},
	})
}

func signedJointly(coTenants ...uuid.UUID) *LeaseSigned {
	e := signed(leaseTerms())
	e.CoTenantIDs = coTenants
	return e
}

func TestSignLeaseJointly(t *testing.T) {
	primary, co, third := leaseTenant(t), partyTenant(t, coTenantID), partyTenant(t, thirdTenantID)
	tests := []struct {
		name    string
		tenants []Signatory
		want    []Event
		wantErr wantError
	}{
		{
			name:    "three tenants: the first is the primary, the others co-tenants in order",
			tenants: []Signatory{{primary, "tenant_ids[0]"}, {co, "tenant_ids[1]"}, {third, "tenant_ids[2]"}},
			want:    []Event{signedJointly(coTenantID, thirdTenantID)},
		},
		{name: "one tenant in the list signs as tenant_id did", tenants: []Signatory{{primary, "tenant_ids[0]"}}, want: []Event{signed(leaseTerms())}},
		{name: "no tenant at all", wantErr: invalid("tenant_id")},
		{
			name:    "a tenant named twice",
			tenants: []Signatory{{primary, "tenant_ids[0]"}, {co, "tenant_ids[1]"}, {primary, "tenant_ids[2]"}},
			wantErr: invalid("tenant_ids[2]"),
		},
		{
			name:    "an unknown co-tenant is named by its place",
			tenants: []Signatory{{primary, "tenant_ids[0]"}, {&Tenant{}, "tenant_ids[1]"}},
			wantErr: invalid("tenant_ids[1]"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			property := leaseProperty(t)
			// when
			got, err := SignLease(leaseTestID, property, tt.tenants, leaseTerms(), leaseSignedOn)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseAddTenant(t *testing.T) {
	co, third := partyTenant(t, coTenantID), partyTenant(t, thirdTenantID)
	ended := &LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1)}
	tests := []struct {
		name    string
		given   []Event
		tenant  *Tenant
		primary bool
		want    []Event
		wantErr wantError
	}{
		{name: "a new party", given: []Event{signed(leaseTerms())}, tenant: co, want: []Event{&LeaseTenantAdded{TenantID: coTenantID}}},
		{
			name: "a new party made primary at once", given: []Event{signed(leaseTerms())}, tenant: co, primary: true,
			want: []Event{&LeaseTenantAdded{TenantID: coTenantID},
				&LeasePrimaryTenantChanged{PreviousTenantID: leaseTestTenant, TenantID: coTenantID}},
		},
		{
			name: "an existing co-tenant made primary", given: []Event{signedJointly(coTenantID)}, tenant: co, primary: true,
			want: []Event{&LeasePrimaryTenantChanged{PreviousTenantID: leaseTestTenant, TenantID: coTenantID}},
		},
		{
			name: "a removed party joins again", given: []Event{signedJointly(coTenantID), &LeaseTenantRemoved{TenantID: coTenantID}},
			tenant: co, want: []Event{&LeaseTenantAdded{TenantID: coTenantID}},
		},
		{name: "a party added again", given: []Event{signedJointly(coTenantID)}, tenant: co, wantErr: isErr(ErrAlreadyLeaseParty, ErrConflict)},
		{name: "the primary added again", given: []Event{signed(leaseTerms())}, tenant: leaseTenant(t), wantErr: isErr(ErrAlreadyLeaseParty)},
		{name: "the primary made primary", given: []Event{signed(leaseTerms())}, tenant: leaseTenant(t), primary: true, wantErr: isErr(ErrAlreadyLeaseParty)},
		{name: "no such tenant", given: []Event{signed(leaseTerms())}, tenant: &Tenant{}, wantErr: invalid("tenant_id")},
		{name: "a terminated lease", given: []Event{signed(leaseTerms()), ended}, tenant: third, wantErr: isErr(ErrLeaseNotActive, ErrConflict)},
		{name: "an expired lease, even with no such tenant", given: []Event{signed(leaseTerms()), &LeaseExpired{EndDate: leaseEnd}},
			tenant: &Tenant{}, wantErr: isErr(ErrLeaseNotActive)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			l := MustGiven(t, &Lease{}, tt.given...)
			// when
			got, err := l.AddTenant(tt.tenant, tt.primary)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestLeaseRemoveTenant(t *testing.T) {
	tests := []struct {
		name    string
		given   []Event
		tenant  uuid.UUID
		want    []Event
		wantErr wantError
	}{
		{name: "a co-tenant", given: []Event{signedJointly(coTenantID, thirdTenantID)}, tenant: coTenantID,
			want: []Event{&LeaseTenantRemoved{TenantID: coTenantID}}},
		{name: "the primary while others remain", given: []Event{signedJointly(coTenantID)}, tenant: leaseTestTenant,
			wantErr: isErr(ErrPrimaryTenantRemoval, ErrConflict)},
		{name: "the only party", given: []Event{signed(leaseTerms())}, tenant: leaseTestTenant, wantErr: isErr(ErrPrimaryTenantRemoval)},
		{
			name:   "the former primary, once another was made primary",
			given:  []Event{signedJointly(coTenantID), &LeasePrimaryTenantChanged{PreviousTenantID: leaseTestTenant, TenantID: coTenantID}},
			tenant: leaseTestTenant, want: []Event{&LeaseTenantRemoved{TenantID: leaseTestTenant}},
		},
		{name: "a tenant that is no party", given: []Event{signed(leaseTerms())}, tenant: coTenantID, wantErr: isErr(ErrNotLeaseParty, ErrNotFound)},
		{name: "a party removed already", given: []Event{signedJointly(coTenantID), &LeaseTenantRemoved{TenantID: coTenantID}},
			tenant: coTenantID, wantErr: isErr(ErrNotLeaseParty)},
		{name: "a terminated lease", given: []Event{signedJointly(coTenantID), &LeaseTerminated{EffectiveDate: NewDate(2025, 6, 1)}},
			tenant: coTenantID, wantErr: isErr(ErrLeaseNotActive)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			l := MustGiven(t, &Lease{}, tt.given...)
			// when
			got, err := l.RemoveTenant(tt.tenant)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

// The parties a lease's history leaves, and HasParty, the rule a payment's
// tenant is checked by.
func TestLeasePartiesFollowTheirEvents(t *testing.T) {
	tests := []struct {
		name        string
		given       []Event
		wantParties []uuid.UUID
		wantPrimary uuid.UUID
	}{
		{name: "signed alone", given: []Event{signed(leaseTerms())}, wantParties: []uuid.UUID{leaseTestTenant}, wantPrimary: leaseTestTenant},
		{name: "signed jointly", given: []Event{signedJointly(coTenantID)},
			wantParties: []uuid.UUID{leaseTestTenant, coTenantID}, wantPrimary: leaseTestTenant},
		{
			name: "added, made primary, the first removed",
			given: []Event{signed(leaseTerms()), &LeaseTenantAdded{TenantID: coTenantID}, &LeaseTenantAdded{TenantID: thirdTenantID},
				&LeasePrimaryTenantChanged{PreviousTenantID: leaseTestTenant, TenantID: thirdTenantID},
				&LeaseTenantRemoved{TenantID: leaseTestTenant}},
			wantParties: []uuid.UUID{thirdTenantID, coTenantID}, wantPrimary: thirdTenantID,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustGiven(t, &Lease{}, tt.given...)
			if got := l.Parties(); !slices.Equal(got, tt.wantParties) {
				t.Errorf("Parties() = %v, want %v", got, tt.wantParties)
			}
			if got := l.TenantID(); got != tt.wantPrimary {
				t.Errorf("TenantID() = %v, want %v", got, tt.wantPrimary)
			}
			for _, id := range []uuid.UUID{leaseTestTenant, coTenantID, thirdTenantID, uuid.Nil} {
				if got, want := l.HasParty(id), slices.Contains(tt.wantParties, id); got != want {
					t.Errorf("HasParty(%v) = %v, want %v", id, got, want)
				}
			}
		})
	}
}

func TestLeasePartyEventsKeepTheirJSONShape(t *testing.T) {
	cases := []struct {
		event Event
		want  string
	}{
		{&LeaseTenantAdded{TenantID: coTenantID}, `{"tenant_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7"}`},
		{&LeaseTenantRemoved{TenantID: coTenantID}, `{"tenant_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7"}`},
		{&LeasePrimaryTenantChanged{PreviousTenantID: leaseTestTenant, TenantID: coTenantID},
			`{"previous_tenant_id":"5b7d1e2f-3a4c-4d5e-9f60-718293a4b5c6","tenant_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7"}`},
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
	// A signing alone keeps the shape it always had; a joint one adds co_tenant_ids.
	b, err := json.Marshal(signedJointly(coTenantID))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	if got, want := string(fields["co_tenant_ids"]), `["7c9e6679-7425-40de-944b-e07fc1f90ae7"]`; got != want {
		t.Errorf("co_tenant_ids = %s, want %s", got, want)
	}
	MustRoundTrip(t, "LeaseSigned", signedJointly(coTenantID))
}
