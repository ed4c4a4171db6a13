package commands

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// leaseTenantList is the tenants a signing names, each with its input field:
// tenant_id alone, or tenant_ids[i].
type leaseTenantList struct {
	ids    []uuid.UUID
	fields []string
}

// leaseTenants parses a signing's tenant_id or tenant_ids: exactly one of them,
// and a list neither empty nor longer than domain.MaxLeaseParties.
func (f *inputFields) leaseTenants(single *uuid.UUID, list *[]uuid.UUID) leaseTenantList {
	// A list refused here stands as one unknown tenant named "tenant_ids": the
	// domain's verdict on it adds nothing to the field reported.
	refused := leaseTenantList{ids: []uuid.UUID{uuid.Nil}, fields: []string{"tenant_ids"}}
	var out leaseTenantList
	switch {
	case single != nil && list != nil:
		f.Add("tenant_ids", "give tenant_id or tenant_ids, not both")
		return refused
	case list == nil:
		out.ids, out.fields = []uuid.UUID{f.requiredID("tenant_id", single)}, []string{"tenant_id"}
	case len(*list) == 0:
		f.Add("tenant_ids", "is empty: name at least one tenant")
		return refused
	case len(*list) > domain.MaxLeaseParties:
		f.Add("tenant_ids", fmt.Sprintf("must be at most %d tenants", domain.MaxLeaseParties))
		return refused
	default:
		for i, id := range *list {
			field := fmt.Sprintf("tenant_ids[%d]", i)
			out.ids, out.fields = append(out.ids, f.requiredID(field, &id)), append(out.fields, field)
		}
	}
	return out
}

// signed is the signing event these tenants would record, for comparing a
// repeated create with the stored one.
func (l leaseTenantList) signed(id, propertyID uuid.UUID, terms domain.LeaseTerms) *domain.LeaseSigned {
	e := &domain.LeaseSigned{LeaseID: id, PropertyID: propertyID, Terms: terms}
	if len(l.ids) > 0 {
		e.TenantID = l.ids[0]
		if len(l.ids) > 1 {
			e.CoTenantIDs = l.ids[1:]
		}
	}
	return e
}

// load rebuilds the tenants (usableTenant).
func (l leaseTenantList) load(ctx context.Context, store eventstore.Store, actor Actor) ([]domain.Signatory, error) {
	out := make([]domain.Signatory, 0, len(l.ids))
	for i, id := range l.ids {
		t := &domain.Tenant{}
		if id != uuid.Nil {
			var err error
			if t, err = usableTenant(ctx, store, actor, id); err != nil {
				return nil, err
			}
		}
		out = append(out, domain.Signatory{Tenant: t, Field: l.fields[i]})
	}
	return out, nil
}

// usableTenant loads tenant id for a lease: one the actor may not name on a
// lease (leaseMayUseTenant) is no tenant, exactly like one that does not exist.
func usableTenant(ctx context.Context, store eventstore.Store, actor Actor, id uuid.UUID) (*domain.Tenant, error) {
	t, err := loadTenant(ctx, store, id)
	if err != nil || !t.Exists() || leaseMayUseTenant(actor, t) {
		return t, err
	}
	return &domain.Tenant{}, nil
}

// AddLeaseTenant makes a tenant a party of an active lease, or, with Primary,
// its primary (adding it first when it is not a party yet).
type AddLeaseTenant struct {
	Target
	TenantID *uuid.UUID
	Primary  *bool
}

// AddTenant handles AddLeaseTenant. The tenant must exist and be one the actor
// may name on a lease; any other is reported like a missing one (422 on
// tenant_id), as signing does.
func (h *Leases) AddTenant(ctx context.Context, cmd AddLeaseTenant) (Result, error) {
	ctx = withCommand(ctx, "AddLeaseTenant")
	var f inputFields
	tenantID := f.requiredID("tenant_id", cmd.TenantID)
	primary := cmd.Primary != nil && *cmd.Primary
	return h.change(ctx, cmd.Target, func(store eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		tenant := &domain.Tenant{}
		if tenantID != uuid.Nil && l.Status() == domain.LeaseStatusActive {
			var err error
			if tenant, err = usableTenant(ctx, store, cmd.Actor, tenantID); err != nil {
				return nil, err
			}
		}
		return f.decided(l.AddTenant(tenant, primary))
	})
}

// RemoveLeaseTenant ends a party's part in an active lease.
type RemoveLeaseTenant struct {
	Target
	TenantID uuid.UUID
}

// RemoveTenant handles RemoveLeaseTenant: a tenant that is no party of the
// lease is domain.ErrNotLeaseParty (404); the primary is
// domain.ErrPrimaryTenantRemoval (409).
func (h *Leases) RemoveTenant(ctx context.Context, cmd RemoveLeaseTenant) (Result, error) {
	ctx = withCommand(ctx, "RemoveLeaseTenant")
	return h.change(ctx, cmd.Target, func(_ eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		return l.RemoveTenant(cmd.TenantID)
	})
}
