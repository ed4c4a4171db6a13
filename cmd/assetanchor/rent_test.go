package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// rentFixture is a migrated database with one owner's property and tenant.
type rentFixture struct {
	url      string
	pool     *pgxpool.Pool
	store    *eventstore.PostgresStore
	leases   *commands.Leases
	owner    commands.Actor
	property uuid.UUID
	tenant   uuid.UUID
}

func MustRentFixture(t *testing.T) *rentFixture {
	t.Helper()
	url := dbtest.MustURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	f := &rentFixture{url: url, pool: pool, store: eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{})}
	f.owner = MustAccount(t, f.store, pool, domain.RoleUser)
	properties, err := commands.NewProperties(f.store)
	if err != nil {
		t.Fatal(err)
	}
	if f.leases, err = commands.NewLeases(f.store); err != nil {
		t.Fatal(err)
	}
	res, err := properties.Register(context.Background(), commands.RegisterProperty{Actor: f.owner, Details: domain.PropertyDetails{
		Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL", ZipCode: "62701",
		PropertyType: domain.PropertyResidential,
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.property, f.tenant = res.ID, uuid.New()
	if _, err := f.store.Append(context.Background(), eventstore.StreamID{Type: domain.TenantStreamType, ID: f.tenant}, 0,
		eventstore.NewEvent{Type: "TenantRegistered", Data: &domain.TenantRegistered{TenantID: f.tenant, RegisteredBy: f.owner.UserID,
			Contact: domain.TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}}}); err != nil {
		t.Fatal(err)
	}
	return f
}

// MustSign signs a lease of the fixture's property.
func (f *rentFixture) MustSign(t *testing.T, start, end string) commands.Result {
	t.Helper()
	rent, deposit := json.Number("1250.00"), json.Number("0")
	res, err := f.leases.Sign(context.Background(), commands.SignLease{Actor: f.owner, PropertyID: &f.property,
		TenantID: &f.tenant, StartDate: &start, EndDate: &end, RentAmount: &rent, SecurityDeposit: &deposit})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// MustReact hands the schedule (as its Runtime would) every event after cp until
// it has passed until. Events become readable once every older transaction of
// the cluster has ended, so it may take more than one read.
func MustReact(t *testing.T, s *rentSchedule, events *eventstore.PostgresStore, cp, until eventstore.Checkpoint) eventstore.Checkpoint {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cp = mustReactOnce(t, s, events, cp)
		if cp.Reached(until) {
			return cp
		}
		if time.Now().After(deadline) {
			t.Fatalf("the schedule's reader is at %v, not yet at %v", cp, until)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// mustReactOnce hands the schedule the events readable after cp.
func mustReactOnce(t *testing.T, s *rentSchedule, events *eventstore.PostgresStore, cp eventstore.Checkpoint) eventstore.Checkpoint {
	t.Helper()
	ctx := context.Background()
	read, err := events.ReadAfter(ctx, cp, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range read {
		if err := s.Apply(ctx, nil, e); err != nil {
			t.Fatal(err)
		}
		cp = e.Checkpoint()
	}
	return cp
}

// MustStatuses reads the status of each charge, "" when it does not exist.
func (f *rentFixture) MustStatuses(t *testing.T, lease uuid.UUID, keys ...string) []string {
	t.Helper()
	out := make([]string, len(keys))
	for i, key := range keys {
		events, err := f.store.ReadStream(context.Background(),
			eventstore.StreamID{Type: domain.TransactionStreamType, ID: domain.RentChargeID(lease, key)}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var tr domain.Transaction
		for _, e := range events {
			de, err := domain.DecodeEvent(e.Type, e.Data)
			if err != nil {
				t.Fatal(err)
			}
			tr.Apply(de, e.Version, e.RecordedAt)
		}
		out[i] = tr.Status().String()
	}
	return out
}

func TestRentPostCommand(t *testing.T) {
	f := MustRentFixture(t)
	lease := f.MustSign(t, "2025-01-15", "2026-01-14").ID
	env := func(key string) string { return map[string]string{"DATABASE_URL": f.url}[key] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"rent", "post", "--through", "2025-03-10"}, env, &out, io.Discard); err != nil {
		t.Fatalf("rent post: %v", err)
	}
	if !strings.HasPrefix(out.String(), "1 leases: 3 rent charges and 0 late fees posted, 0 charges voided, through 2025-03-10") {
		t.Errorf("rent post said %q", out.String())
	}
	if got := f.MustStatuses(t, lease, "2025-01-15", "2025-02-01", "2025-03-01", "2025-04-01"); strings.Join(got, ",") != "pending,pending,pending," {
		t.Errorf("charges after rent post = %v, want January to March pending", got)
	}
	out.Reset()
	if err := run(context.Background(), []string{"rent", "post", "--through", "2025-03-10"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "1 leases: 0 rent charges and 0 late fees posted") {
		t.Errorf("a second rent post said %q, want nothing posted", out.String())
	}
	for _, args := range [][]string{{"rent"}, {"rent", "post"}, {"rent", "post", "--through"}, {"rent", "post", "--through", "March"},
		{"rent", "post", "--through", "2025-03-10", "extra"}, {"rent", "collect", "--through", "2025-03-10"}} {
		err := run(context.Background(), args, env, io.Discard, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("run %q = %v, want a usage error", args, err)
		}
	}
}

// TestRentScheduleReactsToLeaseEvents drives serve's schedule by hand: each lease
// event after the reader's place runs that lease's schedule.
func TestRentScheduleReactsToLeaseEvents(t *testing.T) {
	f := MustRentFixture(t)
	ctx := context.Background()
	rent, err := commands.NewRent(f.store, f.store)
	if err != nil {
		t.Fatal(err)
	}
	today := domain.NewDate(2025, 3, 10)
	s := &rentSchedule{rent: rent, log: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		poll: time.Millisecond, now: func() time.Time { return today.Time() }}
	cp, err := f.store.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}

	signed := f.MustSign(t, "2025-01-01", "2025-12-31") // backdated: January to March are due
	lease := signed.ID
	keys := []string{"2025-01-01", "2025-02-01", "2025-03-01", "2025-02-01/to/2025-02-10"}
	if got := f.MustStatuses(t, lease, keys...); strings.Join(got, ",") != ",,," {
		t.Fatalf("charges before the schedule reacted = %v, want none", got)
	}
	cp = MustReact(t, s, f.store, cp, signed.Checkpoint)
	if got := f.MustStatuses(t, lease, keys...); strings.Join(got, ",") != "pending,pending,pending," {
		t.Fatalf("charges after LeaseSigned = %v, want January to March pending", got)
	}

	effective := "2025-02-10"
	terminated, err := f.leases.Terminate(ctx, commands.TerminateLease{Target: commands.Target{Actor: f.owner, ID: lease}, EffectiveDate: &effective})
	if err != nil {
		t.Fatal(err)
	}
	cp = MustReact(t, s, f.store, cp, terminated.Checkpoint)
	if got := f.MustStatuses(t, lease, keys...); strings.Join(got, ",") != "pending,void,void,pending" {
		t.Errorf("charges after LeaseTerminated = %v, want January kept, February replaced by February 1-10, March void", got)
	}
	var events int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	mustReactOnce(t, s, f.store, cp) // the schedule's own events trigger nothing more
	var after int
	if err := f.pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != events {
		t.Errorf("reacting again wrote %d events", after-events)
	}
	if !s.runAll(ctx, today) {
		t.Error("the daily run failed")
	}
}

// MustAccount registers an account of role, whose events need a user row to
// point at (the read model's foreign keys), and acts as it.
func MustAccount(tb testing.TB, store eventstore.Store, pool *pgxpool.Pool, role domain.Role) commands.Actor {
	tb.Helper()
	users, err := commands.NewUsers(store, readmodel.NewQueries(pool))
	if err != nil {
		tb.Fatal(err)
	}
	res, err := users.Create(context.Background(), commands.CreateUser{Email: "acting-" + uuid.NewString()[:8] + "@example.com",
		Password: "long enough password", Role: role.String()})
	if err != nil {
		tb.Fatal(err)
	}
	return commands.Actor{UserID: res.ID, Role: role}
}
