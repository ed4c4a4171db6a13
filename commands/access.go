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
	return loadNew(ctx, store, propertyStream(id), newProperty)
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
	return loadNew(ctx, store, tenantStream(id), newTenant)
}

// loadUser rebuilds a user; it may not exist.
func loadUser(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.User, error) {
	return loadNew(ctx, store, userStream(id), newUser)
}

// loadLease rebuilds a lease; it may not exist.
func loadLease(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Lease, error) {
	return loadNew(ctx, store, leaseStream(id), newLease)
}

// visibleLease rebuilds a lease whose property the actor may see, or returns ErrNotFound.
func visibleLease(ctx context.Context, store eventstore.Store, actor Actor, id uuid.UUID) (*domain.Lease, error) {
	l, err := loadLease(ctx, store, id)
	if err != nil {
		return nil, err
	}
	return l, leaseVisible(ctx, store, actor, l)
}

// leaseVisible is the rule of visibleLease for a lease already loaded: it
// exists, and the actor sees its property.
func leaseVisible(ctx context.Context, store eventstore.Store, actor Actor, l *domain.Lease) error {
	if !l.Exists() {
		return domain.ErrNotFound
	}
	_, err := visibleProperty(ctx, store, actor, l.PropertyID())
	return err
}

// tenantAccess is the actor's access to tenant t (domain.TenantAccess). It asks
// the read model whether a lease on one of the actor's properties names the
// tenant only when that fact decides.
func tenantAccess(ctx context.Context, leases TenantVisibility, actor Actor, id uuid.UUID, t *domain.Tenant) (domain.Access, error) {
	if !t.Exists() {
		return domain.AccessNone, nil
	}
	if a := domain.TenantAccess(actor, t.RegisteredBy(), false); a == domain.AccessFull {
		return a, nil
	}
	leased, err := leases.TenantLeasesFrom(ctx, id, actor.UserID)
	if err != nil {
		return domain.AccessNone, err
	}
	return domain.TenantAccess(actor, t.RegisteredBy(), leased), nil
}
