package commands

import (
	"errors"
	"time"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Transactions handles the transaction commands.
type Transactions struct {
	store eventstore.Store
	now   func() time.Time
}

// NewTransactions refuses nil dependencies.
func NewTransactions(store eventstore.Store) (*Transactions, error) {
	if store == nil {
		return nil, errors.New("commands: NewTransactions needs a store")
	}
	return &Transactions{store: store, now: time.Now}, nil
}
