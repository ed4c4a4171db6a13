package commands

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// A repeated create answers the existing entity, with its version and, as it
// appends nothing, no checkpoint (Result's contract), on every create path:
// before createOnce the lease and document copies answered the checkpoint of
// the entity's last event. Another body, or an entity the actor may not see,
// is a conflict; nothing is written.
func TestRepeatedCreateAnswersTheEntityAndAppendsNothing(t *testing.T) {
	ctx := context.Background()
	w := MustLeaseWorld(t)
	stranger := Actor{UserID: uuid.New(), Role: domain.RoleUser}

	t.Run("property", func(t *testing.T) {
		id := uuid.New()
		details := domain.PropertyDetails{Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL",
			ZipCode: "62701", PropertyType: domain.PropertyResidential}
		register := func(actor Actor, d domain.PropertyDetails) (Result, error) {
			return w.properties.Register(ctx, RegisterProperty{Actor: actor, ID: &id, Details: d})
		}
		first, err := register(w.owner, details)
		if err != nil || !first.Created {
			t.Fatalf("first create = %+v, %v; want created", first, err)
		}
		other := details
		other.Name = "Oak Court"
		mustRepeat(t, w.store, propertyStream(id), first,
			func() (Result, error) { return register(w.owner, details) },
			func() (Result, error) { return register(w.owner, other) },
			func() (Result, error) { return register(stranger, details) })
	})
	t.Run("lease", func(t *testing.T) {
		property, tenant := w.MustProperty(t), w.MustTenant(t)
		id := uuid.New()
		sign := func(actor Actor, end string) (Result, error) {
			cmd := w.signCommand(property, tenant, "2030-01-01", end)
			cmd.Actor, cmd.ID = actor, &id
			return w.leases.Sign(ctx, cmd)
		}
		first, err := sign(w.owner, "2030-12-31")
		if err != nil || !first.Created {
			t.Fatalf("first signing = %+v, %v; want created", first, err)
		}
		mustRepeat(t, w.store, leaseStream(id), first,
			func() (Result, error) { return sign(w.owner, "2030-12-31") },
			func() (Result, error) { return sign(w.owner, "2030-11-30") },
			func() (Result, error) { return sign(stranger, "2030-12-31") })
	})
}

// mustRepeat checks the answers to a create repeated as it was (same), with
// another body (other) and by an actor who may not see the entity (hidden).
func mustRepeat(t *testing.T, store eventstore.Store, stream eventstore.StreamID, first Result, same, other, hidden func() (Result, error)) {
	t.Helper()
	again, err := same()
	if err != nil {
		t.Fatalf("repeated create: %v", err)
	}
	if want := (Result{ID: first.ID, Version: first.Version}); again != want {
		t.Errorf("repeated create = %+v, want %+v", again, want)
	}
	if _, err := other(); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Errorf("same id, another body: %v, want ErrAlreadyExists", err)
	}
	if _, err := hidden(); !errors.Is(err, domain.ErrAlreadyExists) {
		t.Errorf("same id and body from an actor who may not see it: %v, want ErrAlreadyExists", err)
	}
	events, err := store.ReadStream(context.Background(), stream, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Errorf("the stream holds %d events, want only its creation", len(events))
	}
}
