package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
)

// TenantVisibility answers whether a user may see a tenant because the tenant
// leases one of the user's properties (registering it is the other way).
type TenantVisibility interface {
	TenantLeasesFrom(ctx context.Context, tenantID, ownerID uuid.UUID) (bool, error)
}

// Tenants handles the tenant commands.
type Tenants struct {
	store      eventstore.Store
	visibility TenantVisibility
	now        func() time.Time
}

// NewTenants refuses nil dependencies.
func NewTenants(store eventstore.Store, visibility TenantVisibility) (*Tenants, error) {
	if store == nil || visibility == nil {
		return nil, errors.New("commands: NewTenants needs a store and a visibility check")
	}
	return &Tenants{store: store, visibility: visibility, now: time.Now}, nil
}
