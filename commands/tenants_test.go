package commands

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

func TestNewTenantsRefusesNilDependencies(t *testing.T) {
	if _, err := NewTenants(nil, projections.NewQueries(nil)); err == nil {
		t.Errorf("NewTenants(nil store) = nil error, want a refusal")
	}
	if _, err := NewTenants(eventstore.NewPostgresStore(nil), nil); err == nil {
		t.Errorf("NewTenants(nil visibility) = nil error, want a refusal")
	}
}

// MustTenantStreamLen counts the events of a tenant stream.
func MustTenantStreamLen(tb testing.TB, store eventstore.Store, id uuid.UUID) int {
	tb.Helper()
	events, err := store.ReadStream(context.Background(), tenantStream(id), time.Time{})
	if err != nil {
		tb.Fatal(err)
	}
	return len(events)
}

// TestErasedTenantRefusesCommands covers what the HTTP tests cannot reach until
// erasure has its endpoint: an erased tenant takes no change, and its id cannot be
// registered again.
func TestErasedTenantRefusesCommands(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	h, err := NewTenants(store, projections.NewQueries(pool))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	id := uuid.New()
	register := RegisterTenant{Actor: actor, ID: &id, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}
	res, err := h.Register(ctx, register)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || res.Version != 1 {
		t.Fatalf("register: created %v version %d, want true and 1", res.Created, res.Version)
	}
	again, err := h.Register(ctx, register)
	if err != nil || again.Created || again.Version != 1 || again.Checkpoint != (eventstore.Checkpoint{}) {
		t.Fatalf("repeat before erasure = %+v, %v; want the same tenant, version 1, nothing appended", again, err)
	}
	if _, err := store.Append(ctx, tenantStream(id), 1, toNew([]domain.Event{&domain.TenantPersonalDataErased{}})...); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"repeat the registration", func() error { _, err := h.Register(ctx, register); return err }, domain.ErrAlreadyExists},
		{"change the contact", func() error {
			first := "Augusta"
			_, err := h.ChangeContact(ctx, ChangeTenantContact{Actor: actor, ID: id,
				Patch: TenantContactPatch{FirstName: Optional[string]{Set: true, Value: &first}}})
			return err
		}, domain.ErrTenantErased},
		{"record a screening", func() error {
			score := 700
			_, err := h.RecordScreening(ctx, RecordTenantScreening{Actor: actor, ID: id, CreditScore: &score})
			return err
		}, domain.ErrTenantErased},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if !errors.Is(err, c.want) || !errors.Is(err, domain.ErrConflict) {
				t.Errorf("err = %v, want %v (a conflict)", err, c.want)
			}
			if got, want := MustTenantStreamLen(t, store, id), 2; got != want {
				t.Errorf("stream has %d events, want %d", got, want)
			}
		})
	}
}
