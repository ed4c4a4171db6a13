package commands

import (
	"errors"
	"time"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Leases handles the lease commands.
type Leases struct {
	store eventstore.Store
	now   func() time.Time
}

// NewLeases refuses nil dependencies.
func NewLeases(store eventstore.Store) (*Leases, error) {
	if store == nil {
		return nil, errors.New("commands: NewLeases needs a store")
	}
	return &Leases{store: store, now: time.Now}, nil
}
