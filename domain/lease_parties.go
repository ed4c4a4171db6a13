package domain

// A lease's parties: the tenants who hold it jointly (docs/rent.md, "Several
// tenants on one lease"). Invariants:
//   - a lease has at least one party, and exactly one of them is its primary
//     (the seed's leases.tenant_id);
//   - a tenant is a party at most once;
//   - parties change only while the lease is active;
//   - the primary is never removed: another party is made primary first, and
//     the last party is always the primary;
//   - every party owes the lease's charges jointly: a payment by any of them
//     applies to the lease (HasParty is the one rule that says who they are).

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// MaxLeaseParties bounds the tenants of one lease.
const MaxLeaseParties = 20

// Lease party refusals.
var (
	ErrTooManyLeaseParties  = conflict("the lease has as many tenants as it may have")
	ErrAlreadyLeaseParty    = conflict("the tenant is already a party of the lease")
	ErrPrimaryTenantRemoval = conflict("the primary tenant cannot be removed: make another party primary first")
	ErrNotLeaseParty        = &kindError{kind: ErrNotFound, msg: "the tenant is not a party of the lease"}
)

// Lease party events.
type (
	// LeaseTenantAdded makes a tenant a party of the lease (not its primary).
	LeaseTenantAdded struct {
		TenantID uuid.UUID `json:"tenant_id"`
	}
	// LeaseTenantRemoved ends a tenant's part in the lease; it was not the primary.
	LeaseTenantRemoved struct {
		TenantID uuid.UUID `json:"tenant_id"`
	}
	// LeasePrimaryTenantChanged makes another party the primary; the previous
	// primary stays a party.
	LeasePrimaryTenantChanged struct {
		PreviousTenantID uuid.UUID `json:"previous_tenant_id"`
		TenantID         uuid.UUID `json:"tenant_id"`
	}
)

func (LeaseTenantAdded) EventType() string          { return "LeaseTenantAdded" }
func (LeaseTenantRemoved) EventType() string        { return "LeaseTenantRemoved" }
func (LeasePrimaryTenantChanged) EventType() string { return "LeasePrimaryTenantChanged" }

var leasePartyEvents = map[string]func() Event{
	"LeaseTenantAdded":          func() Event { return &LeaseTenantAdded{} },
	"LeaseTenantRemoved":        func() Event { return &LeaseTenantRemoved{} },
	"LeasePrimaryTenantChanged": func() Event { return &LeasePrimaryTenantChanged{} },
}

// Signatory is a tenant named on a lease being signed, with the input field
// that named it (for the 422 that refuses it).
type Signatory struct {
	Tenant *Tenant
	Field  string
}

// validateSignatories checks the tenants of a signing: at least one, each
// existing, none twice.
func validateSignatories(v *validator, tenants []Signatory) {
	if len(tenants) == 0 {
		v.check(false, "tenant_id", "is required")
		return
	}
	if len(tenants) > MaxLeaseParties {
		v.check(false, "tenant_ids", fmt.Sprintf("must be at most %d tenants", MaxLeaseParties))
		return
	}
	seen := map[uuid.UUID]bool{}
	for _, s := range tenants {
		if !s.Tenant.Exists() {
			v.check(false, s.Field, "no such tenant")
			continue
		}
		v.check(!seen[s.Tenant.ID()], s.Field, "names a tenant already named on the lease")
		seen[s.Tenant.ID()] = true
	}
}

// AddTenant makes tenant a party of an active lease; with primary it also
// becomes the primary. A tenant who is a party already may only be made the
// primary: anything else changes nothing and is ErrAlreadyLeaseParty.
func (l *Lease) AddTenant(tenant *Tenant, primary bool) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	if !tenant.Exists() {
		var v validator
		v.check(false, "tenant_id", "no such tenant")
		return nil, v.err()
	}
	id := tenant.ID()
	var events []Event
	if !l.HasParty(id) {
		if len(l.parties) >= MaxLeaseParties {
			return nil, ErrTooManyLeaseParties
		}
		events = append(events, &LeaseTenantAdded{TenantID: id})
	} else if !primary || id == l.tenantID {
		return nil, ErrAlreadyLeaseParty
	}
	if primary {
		events = append(events, &LeasePrimaryTenantChanged{PreviousTenantID: l.tenantID, TenantID: id})
	}
	return events, nil
}

// RemoveTenant ends a party's part in an active lease. The primary cannot be
// removed (ErrPrimaryTenantRemoval), so a lease never loses its last party.
func (l *Lease) RemoveTenant(id uuid.UUID) ([]Event, error) {
	if l.status != LeaseStatusActive {
		return nil, ErrLeaseNotActive
	}
	if !l.HasParty(id) {
		return nil, ErrNotLeaseParty
	}
	if id == l.tenantID {
		return nil, ErrPrimaryTenantRemoval
	}
	return []Event{&LeaseTenantRemoved{TenantID: id}}, nil
}

// HasParty reports whether the tenant is a party of the lease now: its primary
// or a co-tenant not removed. Every party owes the lease jointly, so this is
// who may pay it.
func (l *Lease) HasParty(tenantID uuid.UUID) bool {
	return tenantID != uuid.Nil && slices.Contains(l.parties, tenantID)
}

// Parties are the lease's tenants now, the primary first, then the others in
// the order they joined.
func (l *Lease) Parties() []uuid.UUID {
	out := make([]uuid.UUID, 0, len(l.parties))
	out = append(out, l.tenantID)
	for _, p := range l.parties {
		if p != l.tenantID {
			out = append(out, p)
		}
	}
	return out
}

// applyParties records a change of the parties.
func (l *Lease) applyParties(e Event) {
	switch e := e.(type) {
	case *LeaseTenantAdded:
		l.parties = append(l.parties, e.TenantID)
	case *LeaseTenantRemoved:
		l.parties = slices.DeleteFunc(l.parties, func(p uuid.UUID) bool { return p == e.TenantID })
	case *LeasePrimaryTenantChanged:
		l.tenantID = e.TenantID
	}
}
