package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// leaseWorld is a fresh database with the lease and property commands over it.
type leaseWorld struct {
	store      *eventstore.PostgresStore
	leases     *Leases
	properties *Properties
	owner      Actor
}

func MustLeaseWorld(t *testing.T) *leaseWorld {
	t.Helper()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	leases, err := NewLeases(store)
	if err != nil {
		t.Fatal(err)
	}
	properties, err := NewProperties(store)
	if err != nil {
		t.Fatal(err)
	}
	return &leaseWorld{store: store, leases: leases, properties: properties,
		owner: Actor{UserID: uuid.New(), Role: domain.RoleUser}}
}

// MustProperty registers a property of the world's owner.
func (w *leaseWorld) MustProperty(t *testing.T) uuid.UUID {
	t.Helper()
	res, err := w.properties.Register(context.Background(), RegisterProperty{Actor: w.owner, Details: domain.PropertyDetails{
		Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL", ZipCode: "62701",
		PropertyType: domain.PropertyResidential,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return res.ID
}

// MustTenant registers a tenant of the world's owner straight into the store.
func (w *leaseWorld) MustTenant(t *testing.T) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := w.store.Append(context.Background(), tenantStream(id), 0, toNew([]domain.Event{&domain.TenantRegistered{
		TenantID: id, RegisteredBy: w.owner.UserID,
		Contact: domain.TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
	}})...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// MustSign signs a lease of the world's owner from start to end.
func (w *leaseWorld) MustSign(t *testing.T, property, tenant uuid.UUID, start, end string) uuid.UUID {
	t.Helper()
	res, err := w.leases.Sign(context.Background(), w.signCommand(property, tenant, start, end))
	if err != nil {
		t.Fatalf("sign %s..%s: %v", start, end, err)
	}
	return res.ID
}

func (w *leaseWorld) signCommand(property, tenant uuid.UUID, start, end string) SignLease {
	rent, deposit := json.Number("1250"), json.Number("2500.00")
	return SignLease{Actor: w.owner, PropertyID: &property, TenantID: &tenant, StartDate: &start, EndDate: &end,
		RentAmount: &rent, SecurityDeposit: &deposit}
}

// MustLeaseEvents reads a lease's stream.
func (w *leaseWorld) MustLeaseEvents(t *testing.T, id uuid.UUID) []eventstore.Event {
	t.Helper()
	events, err := w.store.ReadStream(context.Background(), leaseStream(id), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func leaseEventTypes(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func TestExpireDue(t *testing.T) {
	w := MustLeaseWorld(t)
	ctx := context.Background()
	propertyA, propertyB, tenant := w.MustProperty(t), w.MustProperty(t), w.MustTenant(t)
	first := w.MustSign(t, propertyA, tenant, "2025-01-01", "2025-06-30")
	second := w.MustSign(t, propertyA, tenant, "2025-07-01", "2025-12-31")
	ended := w.MustSign(t, propertyB, tenant, "2025-01-01", "2025-03-31")
	w.leases.now = func() time.Time { return time.Date(2025, 2, 10, 12, 0, 0, 0, time.UTC) }
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: ended}}); err != nil {
		t.Fatal(err)
	}

	// On 2025-06-30 nothing has ended yet: the end date is the lease's last day.
	if n, err := w.leases.ExpireDue(ctx, domain.NewDate(2025, 6, 30)); err != nil || n != 0 {
		t.Fatalf("ExpireDue(2025-06-30) = %d, %v; want 0, nil", n, err)
	}

	n, err := w.leases.ExpireDue(ctx, domain.NewDate(2025, 7, 1))
	if err != nil || n != 1 {
		t.Fatalf("ExpireDue(2025-07-01) = %d, %v; want 1, nil", n, err)
	}
	events := w.MustLeaseEvents(t, first)
	if got, want := leaseEventTypes(events), []string{"LeaseSigned", "LeaseExpired"}; !slices.Equal(got, want) {
		t.Fatalf("first lease's events = %q, want %q", got, want)
	}
	expired := events[1]
	var data domain.LeaseExpired
	if err := json.Unmarshal(expired.Data, &data); err != nil || data.EndDate != domain.NewDate(2025, 6, 30) {
		t.Errorf("LeaseExpired data = %s (%v), want end_date 2025-06-30", expired.Data, err)
	}
	if expired.Metadata.ActorID != nil || expired.Metadata.Command != "ExpireLease" {
		t.Errorf("LeaseExpired metadata = %+v, want no actor and command ExpireLease", expired.Metadata)
	}
	if got, want := leaseEventTypes(w.MustLeaseEvents(t, second)), []string{"LeaseSigned"}; !slices.Equal(got, want) {
		t.Errorf("second lease's events = %q, want %q (it has not ended)", got, want)
	}
	if got, want := leaseEventTypes(w.MustLeaseEvents(t, ended)), []string{"LeaseSigned", "LeaseTerminated"}; !slices.Equal(got, want) {
		t.Errorf("terminated lease's events = %q, want %q", got, want)
	}

	// Idempotent: a second run, even on a later day before the next end, expires nothing.
	for _, day := range []domain.Date{domain.NewDate(2025, 7, 1), domain.NewDate(2025, 12, 31)} {
		if n, err := w.leases.ExpireDue(ctx, day); err != nil || n != 0 {
			t.Errorf("ExpireDue(%s) again = %d, %v; want 0, nil", day, n, err)
		}
	}
	if got := len(w.MustLeaseEvents(t, first)); got != 2 {
		t.Errorf("first lease has %d events after the second run, want 2", got)
	}

	// The expired lease's dates are free again: a new lease may take them.
	w.MustSign(t, propertyA, tenant, "2025-03-01", "2025-06-15")

	if n, err := w.leases.ExpireDue(ctx, domain.NewDate(2026, 1, 1)); err != nil || n != 2 {
		t.Fatalf("ExpireDue(2026-01-01) = %d, %v; want 2 (the second lease and the one signed into the freed dates)", n, err)
	}
	held, err := w.store.HasPeriods(ctx, propertyA)
	if err != nil {
		t.Fatal(err)
	}
	if held {
		t.Errorf("property A still holds lease periods after every lease expired")
	}
}

func TestExpireDueSkipsRenewedLease(t *testing.T) {
	w := MustLeaseWorld(t)
	ctx := context.Background()
	property, tenant := w.MustProperty(t), w.MustTenant(t)
	id := w.MustSign(t, property, tenant, "2025-01-01", "2025-06-30")
	end := "2025-12-31"
	if _, err := w.leases.Renew(ctx, RenewLease{Target: Target{Actor: w.owner, ID: id}, EndDate: &end}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.leases.ExpireDue(ctx, domain.NewDate(2025, 7, 1)); err != nil || n != 0 {
		t.Errorf("ExpireDue after the renewal = %d, %v; want 0, nil", n, err)
	}
	if got, want := leaseEventTypes(w.MustLeaseEvents(t, id)), []string{"LeaseSigned", "LeaseRenewed"}; !slices.Equal(got, want) {
		t.Errorf("events = %q, want %q", got, want)
	}
}

// TestLeasePeriodGuard checks that every command keeps the reservation table
// (the overlap guard) in step with the lease's state, and that a refusal leaves
// both untouched.
func TestLeasePeriodGuard(t *testing.T) {
	w := MustLeaseWorld(t)
	ctx := context.Background()
	property, tenant := w.MustProperty(t), w.MustTenant(t)
	first := w.MustSign(t, property, tenant, "2025-01-01", "2025-06-30")
	second := w.MustSign(t, property, tenant, "2025-09-01", "2025-12-31")

	if _, err := w.leases.Sign(ctx, w.signCommand(property, tenant, "2025-06-30", "2025-07-31")); !errors.Is(err, domain.ErrLeaseOverlap) {
		t.Errorf("signing over the first lease's last day: err = %v, want ErrLeaseOverlap", err)
	}
	into := "2025-09-01"
	if _, err := w.leases.Renew(ctx, RenewLease{Target: Target{Actor: w.owner, ID: first}, EndDate: &into}); !errors.Is(err, domain.ErrLeaseOverlap) {
		t.Errorf("renewing into the second lease: err = %v, want ErrLeaseOverlap", err)
	}
	if got := len(w.MustLeaseEvents(t, first)); got != 1 {
		t.Errorf("first lease has %d events after a refused renewal, want 1", got)
	}
	// The refused renewal did not move the first lease's hold: a lease in
	// August still fits, and one in July-August fits once the first is renewed
	// to its natural maximum.
	upTo := "2025-08-31"
	if _, err := w.leases.Renew(ctx, RenewLease{Target: Target{Actor: w.owner, ID: first}, EndDate: &upTo}); err != nil {
		t.Fatalf("renewing up to the day before the second lease: %v", err)
	}
	if _, err := w.leases.Sign(ctx, w.signCommand(property, tenant, "2025-08-31", "2025-09-01")); !errors.Is(err, domain.ErrLeaseOverlap) {
		t.Errorf("signing over both leases: err = %v, want ErrLeaseOverlap", err)
	}

	// Archiving waits for every lease to end; terminating releases the dates.
	archive := ChangePropertyStatus{Target: Target{Actor: w.owner, ID: property}, Status: "archived"}
	if _, err := w.properties.ChangeStatus(ctx, archive); !errors.Is(err, domain.ErrPropertyHasActiveLease) {
		t.Errorf("archiving with active leases: err = %v, want ErrPropertyHasActiveLease", err)
	}
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: first}, EffectiveDate: leasePtr("2025-06-01")}); err != nil {
		t.Fatalf("terminate first: %v", err)
	}
	var ve *domain.ValidationError
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: second}, EffectiveDate: leasePtr("2025-06-01")}); !errors.As(err, &ve) {
		t.Fatalf("terminating the second lease before its start: err = %v, want a ValidationError", err)
	}
	if _, err := w.properties.ChangeStatus(ctx, archive); !errors.Is(err, domain.ErrPropertyHasActiveLease) {
		t.Errorf("archiving with the second lease active: err = %v, want ErrPropertyHasActiveLease", err)
	}
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: second}, EffectiveDate: leasePtr("2025-09-01")}); err != nil {
		t.Fatalf("terminate second: %v", err)
	}
	if _, err := w.properties.ChangeStatus(ctx, archive); err != nil {
		t.Errorf("archiving once every lease is terminated: %v", err)
	}
	// And an archived property takes no new lease.
	if _, err := w.leases.Sign(ctx, w.signCommand(property, tenant, "2026-01-01", "2026-12-31")); !errors.Is(err, domain.ErrPropertyNotActive) {
		t.Errorf("signing on an archived property: err = %v, want ErrPropertyNotActive", err)
	}
}

func leasePtr[T any](v T) *T { return &v }

func TestLeaseSignParsesInput(t *testing.T) {
	w := MustLeaseWorld(t)
	ctx := context.Background()
	property, tenant := w.MustProperty(t), w.MustTenant(t)
	tests := []struct {
		name   string
		edit   func(*SignLease)
		fields []string
	}{
		{"rent with three decimals", func(c *SignLease) { c.RentAmount = leasePtr(json.Number("1250.001")) }, []string{"rent_amount"}},
		{"rent missing", func(c *SignLease) { c.RentAmount = nil }, []string{"rent_amount"}},
		{"deposit missing", func(c *SignLease) { c.SecurityDeposit = nil }, []string{"security_deposit"}},
		{"deposit beyond NUMERIC(10,2)", func(c *SignLease) { c.SecurityDeposit = leasePtr(json.Number("100000000")) }, []string{"security_deposit"}},
		{"malformed start date", func(c *SignLease) { c.StartDate = leasePtr("2025-13-01") }, []string{"start_date"}},
		{"start date with a time", func(c *SignLease) { c.StartDate = leasePtr("2025-01-01T00:00:00Z") }, []string{"start_date"}},
		{"property missing", func(c *SignLease) { c.PropertyID = nil }, []string{"property_id"}},
		{"unknown property", func(c *SignLease) { c.PropertyID = leasePtr(uuid.New()) }, []string{"property_id"}},
		{"unknown tenant", func(c *SignLease) { c.TenantID = leasePtr(uuid.New()) }, []string{"tenant_id"}},
		{"payment day 29", func(c *SignLease) { c.PaymentDay = leasePtr(29) }, []string{"payment_day"}},
		{
			"parse and domain problems together, each field once",
			func(c *SignLease) {
				c.StartDate, c.EndDate, c.RentAmount, c.PaymentDay = leasePtr("01/01/2025"), nil, leasePtr(json.Number("0")), leasePtr(0)
			},
			[]string{"end_date", "payment_day", "rent_amount", "start_date"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := w.signCommand(property, tenant, "2025-01-01", "2025-12-31")
			tt.edit(&cmd)
			_, err := w.leases.Sign(ctx, cmd)
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %q, want %q", got, tt.fields)
			}
		})
	}
	held, err := w.store.HasPeriods(ctx, property)
	if err != nil || held {
		t.Errorf("HasPeriods after refusals = %v, %v; want false", held, err)
	}
	// Defaults: payment day 1, no auto-renewal.
	id := w.MustSign(t, property, tenant, "2025-01-01", "2025-12-31")
	events := w.MustLeaseEvents(t, id)
	var signed domain.LeaseSigned
	if err := json.Unmarshal(events[0].Data, &signed); err != nil {
		t.Fatal(err)
	}
	if signed.Terms.PaymentDay != 1 || signed.Terms.AutoRenew || signed.Terms.RentAmount.String() != "1250.00" {
		t.Errorf("signed terms = %+v, want payment day 1, no auto-renewal, rent 1250.00", signed.Terms)
	}
}
