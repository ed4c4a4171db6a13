package commands

import (
	"context"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Streams of each aggregate.
func tenantStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.TenantStreamType, ID: id}
}

func leaseStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.LeaseStreamType, ID: id}
}

func transactionStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.TransactionStreamType, ID: id}
}

func maintenanceStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.MaintenanceStreamType, ID: id}
}

// loadProperty rebuilds a property; it may not exist (Exists() is false).
func loadProperty(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Property, error) {
	var p domain.Property
	return &p, load(ctx, store, propertyStream(id), &p)
}

// visibleProperty rebuilds a property the actor may see, or returns ErrNotFound.
func visibleProperty(ctx context.Context, store eventstore.Store, actor Actor, id uuid.UUID) (*domain.Property, error) {
	p, err := loadProperty(ctx, store, id)
	if err != nil {
		return nil, err
	}
	if !p.Exists() {
		return nil, domain.ErrNotFound
	}
	return p, canSee(actor, p)
}

// loadTenant rebuilds a tenant; it may not exist.
func loadTenant(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Tenant, error) {
	var t domain.Tenant
	return &t, load(ctx, store, tenantStream(id), &t)
}

// loadUser rebuilds a user; it may not exist.
func loadUser(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.User, error) {
	var u domain.User
	return &u, load(ctx, store, userStream(id), &u)
}

// loadLease rebuilds a lease; it may not exist.
func loadLease(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Lease, error) {
	var l domain.Lease
	return &l, load(ctx, store, leaseStream(id), &l)
}

// visibleLease rebuilds a lease whose property the actor may see, or returns ErrNotFound.
func visibleLease(ctx context.Context, store eventstore.Store, actor Actor, id uuid.UUID) (*domain.Lease, error) {
	l, err := loadLease(ctx, store, id)
	if err != nil {
		return nil, err
	}
	if !l.Exists() {
		return nil, domain.ErrNotFound
	}
	if _, err := visibleProperty(ctx, store, actor, l.PropertyID()); err != nil {
		return nil, err
	}
	return l, nil
}

// tenantVisible is the isolation rule for a tenant that a command names: admins
// and managers see every tenant, a user the tenants it registered and those that
// lease one of its properties.
func tenantVisible(ctx context.Context, leases TenantVisibility, actor Actor, id uuid.UUID, t *domain.Tenant) (bool, error) {
	if actor.Role.SeesAllProperties() || t.RegisteredBy() == actor.UserID {
		return true, nil
	}
	return leases.TenantLeasesFrom(ctx, id, actor.UserID)
}
