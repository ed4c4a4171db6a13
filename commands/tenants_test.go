package commands

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

func TestNewTenantsRefusesNilDependencies(t *testing.T) {
	keyring := MustKeyring(t)
	if _, err := NewTenants(nil, readmodel.NewQueries(nil), keyring); err == nil {
		t.Errorf("NewTenants(nil store) = nil error, want a refusal")
	}
	if _, err := NewTenants(eventstore.NewPostgresStore(nil), nil, keyring); err == nil {
		t.Errorf("NewTenants(nil visibility) = nil error, want a refusal")
	}
	if _, err := NewTenants(eventstore.NewPostgresStore(nil), readmodel.NewQueries(nil), nil); err == nil {
		t.Errorf("NewTenants(nil keyring) = nil error, want a refusal")
	}
}

// MustKeyring is a keyring with a fresh random master key.
func MustKeyring(tb testing.TB) *tenantkeys.Keyring {
	tb.Helper()
	master, err := tenantkeys.NewMasterKey()
	if err != nil {
		tb.Fatal(err)
	}
	k, err := tenantkeys.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	return k
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

// An erased tenant takes no change, and its id cannot be registered again.
func TestErasedTenantRefusesCommands(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	h, err := NewTenants(store, readmodel.NewQueries(pool), MustKeyring(t))
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
	erased, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: actor, ID: id}}, nil)
	if err != nil || erased.Version != 2 || erased.Checkpoint == (eventstore.Checkpoint{}) {
		t.Fatalf("erase = %+v, %v; want version 2, appended", erased, err)
	}

	cases := []struct {
		name string
		run  func() error
		want error
	}{
		{"repeat the registration", func() error { _, err := h.Register(ctx, register); return err }, domain.ErrAlreadyExists},
		{"change the contact", func() error {
			first := "Augusta"
			_, err := h.ChangeContact(ctx, ChangeTenantContact{Target: Target{Actor: actor, ID: id},
				Patch: TenantContactPatch{FirstName: Optional[string]{Set: true, Value: &first}}})
			return err
		}, domain.ErrTenantErased},
		{"record a screening", func() error {
			score := 700
			_, err := h.RecordScreening(ctx, RecordTenantScreening{Target: Target{Actor: actor, ID: id}, CreditScore: &score})
			return err
		}, domain.ErrTenantErased},
		{"erase again: nothing to do", func() error {
			res, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: actor, ID: id}}, nil)
			if err == nil && (res.Version != 2 || res.Checkpoint != (eventstore.Checkpoint{})) {
				return fmt.Errorf("erase again = %+v, want version 2 and nothing appended", res)
			}
			return err
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if c.want == nil && err != nil {
				t.Errorf("err = %v, want none", err)
			}
			if c.want != nil && (!errors.Is(err, c.want) || !errors.Is(err, domain.ErrConflict)) {
				t.Errorf("err = %v, want %v (a conflict)", err, c.want)
			}
			if got, want := MustTenantStreamLen(t, store, id), 2; got != want {
				t.Errorf("stream has %d events, want %d", got, want)
			}
		})
	}
}
