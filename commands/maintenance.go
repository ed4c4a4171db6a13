package commands

import (
	"errors"
	"time"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Maintenance handles the maintenance request commands.
type Maintenance struct {
	store eventstore.Store
	now   func() time.Time
}

// NewMaintenance refuses nil dependencies.
func NewMaintenance(store eventstore.Store) (*Maintenance, error) {
	if store == nil {
		return nil, errors.New("commands: NewMaintenance needs a store")
	}
	return &Maintenance{store: store, now: time.Now}, nil
}
