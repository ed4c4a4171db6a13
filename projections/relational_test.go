package projections_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// readModelTables are the tables the relational projector writes for the events
// of MustLog.
var readModelTables = []string{"users", "properties", "user_sessions", "audit_logs"}

// logFixture is what MustLog appended.
type logFixture struct {
	ownerID, buyerID, propertyID, sessionID uuid.UUID
	events                                  int                     // how many events were appended
	last                                    eventstore.AppendResult // the last append
}

func (f logFixture) ownerStream() eventstore.StreamID {
	return eventstore.StreamID{Type: domain.UserStreamType, ID: f.ownerID}
}
func (f logFixture) buyerStream() eventstore.StreamID {
	return eventstore.StreamID{Type: domain.UserStreamType, ID: f.buyerID}
}
func (f logFixture) propertyStream() eventstore.StreamID {
	return eventstore.StreamID{Type: domain.PropertyStreamType, ID: f.propertyID}
}
func (f logFixture) sessionStream() eventstore.StreamID {
	return eventstore.StreamID{Type: domain.SessionStreamType, ID: f.sessionID}
}

func ptr[T any](v T) *T { return &v }

func newEvents(events ...domain.Event) []eventstore.NewEvent {
	out := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		out[i] = eventstore.NewEvent{Type: e.EventType(), Data: e}
	}
	return out
}

// MustAppend appends events to stream at expected version.
func MustAppend(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore, stream eventstore.StreamID, expected int64, events ...domain.Event) eventstore.AppendResult {
	tb.Helper()
	res, err := store.Append(ctx, stream, expected, newEvents(events...)...)
	if err != nil {
		tb.Fatalf("append %d events to %s: %v", len(events), stream, err)
	}
	return res
}

// MustLog appends a history touching every projected event type: two users, a
// property registered, changed (two events in one append), handed to the second
// user, and a session started, revoked and logged in with.
func MustLog(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore) logFixture {
	tb.Helper()
	f := logFixture{ownerID: uuid.New(), buyerID: uuid.New(), propertyID: uuid.New(), sessionID: uuid.New()}
	bathrooms := decimal.RequireFromString("2.5")
	fewer := decimal.RequireFromString("1.5")
	details := domain.PropertyDetails{
		Name: "Maple Court", Address: "12 Maple Street", City: "Portland", State: "OR", ZipCode: "97201",
		PropertyType: domain.PropertyResidential, Bedrooms: ptr(3), Bathrooms: &bathrooms,
		SquareFeet: ptr(1850), YearBuilt: ptr(1998), Description: ptr("Corner lot"),
	}
	changed := details
	changed.Name, changed.Bathrooms, changed.Description, changed.PropertyType = "Maple Court East", &fewer, nil, domain.PropertyMixedUse

	MustAppend(tb, ctx, store, f.ownerStream(), 0, &domain.UserRegistered{
		UserID: f.ownerID, Email: "Olive.Owner-" + f.ownerID.String()[:8] + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", FirstName: "Olive", LastName: "Owner",
		Phone: "+1 503 555 0100", Role: domain.RoleUser,
	})
	MustAppend(tb, ctx, store, f.buyerStream(), 0, &domain.UserRegistered{
		UserID: f.buyerID, Email: "buyer-" + f.buyerID.String()[:8] + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$b3RoZXI", Role: domain.RoleManager,
	})
	MustAppend(tb, ctx, store, f.propertyStream(), 0, &domain.PropertyRegistered{
		PropertyID: f.propertyID, OwnerID: &f.ownerID, Status: domain.PropertyActive, Details: details,
	})
	MustAppend(tb, ctx, store, f.propertyStream(), 1,
		&domain.PropertyDetailsChanged{Details: changed},
		&domain.PropertyStatusChanged{From: domain.PropertyActive, To: domain.PropertyInactive})
	MustAppend(tb, ctx, store, f.propertyStream(), 3, &domain.PropertyOwnerChanged{OwnerID: &f.buyerID})
	MustAppend(tb, ctx, store, f.sessionStream(), 0, &domain.SessionStarted{
		SessionID: f.sessionID, UserID: f.ownerID, TokenHash: "access-hash-" + f.sessionID.String(),
		RefreshTokenHash: "refresh-hash-" + f.sessionID.String(), IPAddress: "203.0.113.7",
		UserAgent: "curl/8.5", ExpiresAt: time.Date(2031, 1, 2, 3, 4, 5, 678901000, time.UTC),
	})
	MustAppend(tb, ctx, store, f.sessionStream(), 1, &domain.SessionRevoked{Reason: "logout"})
	f.last = MustAppend(tb, ctx, store, f.ownerStream(), 1, &domain.UserLoggedIn{SessionID: f.sessionID})
	f.events = 9
	return f
}

// MustReadLog reads the whole log in commit order. Transactions of other tests on
// the same cluster can hold the horizon back for a moment, so it reads until it
// sees want events.
func MustReadLog(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore, want int) []eventstore.Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		events, err := store.ReadAfter(ctx, eventstore.Checkpoint{}, want+10)
		if err != nil {
			tb.Fatalf("read the log: %v", err)
		}
		if len(events) > want {
			tb.Fatalf("read %d events, want %d", len(events), want)
		}
		if len(events) == want {
			return events
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("read %d of %d events before the deadline", len(events), want)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// MustApply projects one event with the relational projector in its own transaction.
func MustApply(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, events ...eventstore.Event) {
	tb.Helper()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return projections.Relational{}.Apply(ctx, tx, events...) })
	if err != nil {
		tb.Fatalf("apply %d events from %s %s v%d: %v", len(events), events[0].Type, events[0].Stream, events[0].Version, err)
	}
}

// inline is a store on pool that projects every append into the read model in
// the append's transaction, as serve's is.
func inline(pool *pgxpool.Pool) *eventstore.PostgresStore {
	return eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{})
}

// MustSnapshot returns every row of the read-model tables as text, by table.
func MustSnapshot(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) map[string][]string {
	tb.Helper()
	out := make(map[string][]string, len(readModelTables))
	for _, table := range readModelTables {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+table+` t ORDER BY id`)
		if err != nil {
			tb.Fatalf("snapshot %s: %v", table, err)
		}
		out[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatalf("snapshot %s: %v", table, err)
		}
	}
	return out
}

// MustSameRows fails unless both snapshots hold identical rows.
func MustSameRows(tb testing.TB, got, want map[string][]string) {
	tb.Helper()
	for _, table := range readModelTables {
		if !slices.Equal(got[table], want[table]) {
			tb.Errorf("%s rows differ:\n got  %s\n want %s", table,
				strings.Join(got[table], "\n      "), strings.Join(want[table], "\n      "))
		}
	}
}

// MustWipeReadModel empties every read-model table, as a rebuild starts.
func MustWipeReadModel(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	tb.Helper()
	if _, err := pool.Exec(ctx, `TRUNCATE `+strings.Join(projections.ReadModelTables(), ", ")); err != nil {
		tb.Fatalf("wipe read model: %v", err)
	}
	for table, rows := range MustAllRows(tb, ctx, pool) {
		if len(rows) != 0 {
			tb.Fatalf("%s still has %d rows after the wipe", table, len(rows))
		}
	}
}

// MustRecordedAt returns when an event was recorded, in UTC.
func MustRecordedAt(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, stream eventstore.StreamID, version int64) time.Time {
	tb.Helper()
	var at time.Time
	if err := pool.QueryRow(ctx, `SELECT recorded_at FROM events WHERE stream_id = $1 AND version = $2`,
		stream.String(), version).Scan(&at); err != nil {
		tb.Fatalf("recorded_at of %s v%d: %v", stream, version, err)
	}
	return at.UTC()
}

// MustReadModelOf checks the rows that MustLog's history must project to, so
// that two equal snapshots cannot both be empty or both be wrong.
func MustReadModelOf(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, f logFixture) {
	tb.Helper()
	at := func(s eventstore.StreamID, v int64) string {
		return MustRecordedAt(tb, ctx, pool, s, v).Format("2006-01-02 15:04:05.999999")
	}
	// Timestamps are read as text: TIMESTAMP columns hold the events' UTC times.
	tests := []struct {
		name, query string
		id          uuid.UUID
		want        string
	}{
		{
			name: "owner",
			query: `SELECT concat_ws('|', first_name, last_name, phone, role, is_active::text, email_verified::text,
				last_login, created_at, updated_at, version, (email LIKE 'Olive.Owner-%')::text) FROM users WHERE id = $1`,
			id: f.ownerID,
			want: strings.Join([]string{"Olive", "Owner", "+1 503 555 0100", "user", "true", "false",
				at(f.ownerStream(), 2), at(f.ownerStream(), 1), at(f.ownerStream(), 2), "2", "true"}, "|"),
		},
		{
			name: "buyer",
			query: `SELECT concat_ws('|', coalesce(first_name, '<null>'), coalesce(last_name, '<null>'),
				coalesce(phone, '<null>'), role, coalesce(last_login::text, '<null>'), created_at, updated_at, version)
				FROM users WHERE id = $1`,
			id: f.buyerID,
			want: strings.Join([]string{"<null>", "<null>", "<null>", "manager", "<null>",
				at(f.buyerStream(), 1), at(f.buyerStream(), 1), "1"}, "|"),
		},
		{
			name: "property",
			query: `SELECT concat_ws('|', name, address, city, state, zip_code, owner_id, property_type, status,
				bedrooms, bathrooms, square_feet, year_built, coalesce(description, '<null>'), created_at, updated_at, version)
				FROM properties WHERE id = $1`,
			id: f.propertyID,
			want: strings.Join([]string{"Maple Court East", "12 Maple Street", "Portland", "OR", "97201",
				f.buyerID.String(), "mixed_use", "inactive", "3", "1.5", "1850", "1998", "<null>",
				at(f.propertyStream(), 1), at(f.propertyStream(), 4), "4"}, "|"),
		},
		{
			name: "session",
			query: `SELECT concat_ws('|', user_id, token, refresh_token, ip_address, user_agent, expires_at,
				revoked_at, created_at, updated_at) FROM user_sessions WHERE id = $1`,
			id: f.sessionID,
			want: strings.Join([]string{f.ownerID.String(), "access-hash-" + f.sessionID.String(),
				"refresh-hash-" + f.sessionID.String(), "203.0.113.7", "curl/8.5", "2031-01-02 03:04:05.678901",
				at(f.sessionStream(), 2), at(f.sessionStream(), 1), at(f.sessionStream(), 2)}, "|"),
		},
	}
	for _, tt := range tests {
		var got string
		if err := pool.QueryRow(ctx, tt.query, tt.id).Scan(&got); err != nil {
			tb.Errorf("read %s row: %v", tt.name, err)
			continue
		}
		if got != tt.want {
			tb.Errorf("%s row:\n got  %s\n want %s", tt.name, got, tt.want)
		}
	}
	snap := MustSnapshot(tb, ctx, pool)
	if got := [3]int{len(snap["users"]), len(snap["properties"]), len(snap["user_sessions"])}; got != [3]int{2, 1, 1} {
		tb.Errorf("rows in users, properties, user_sessions = %v, want [2 1 1]", got)
	}
}

// The rows an append projects inline are there when Append returns, and are the
// rows the projector gives for the same events applied afterwards: one at a
// time, or all in one batch with streams interleaved (as a rebuild catches up).
func TestInlineProjectionEqualsApplyingTheLog(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	f := MustLog(t, ctx, inline(pool))
	MustReadModelOf(t, ctx, pool, f)
	want := MustSnapshot(t, ctx, pool)
	if len(want["audit_logs"]) != f.events {
		t.Errorf("%d audit rows, want one per event (%d)", len(want["audit_logs"]), f.events)
	}
	log := MustReadLog(t, ctx, eventstore.NewPostgresStore(pool), f.events)

	MustWipeReadModel(t, ctx, pool)
	for _, e := range log {
		MustApply(t, ctx, pool, e)
	}
	MustReadModelOf(t, ctx, pool, f)
	MustSameRows(t, MustSnapshot(t, ctx, pool), want)

	MustWipeReadModel(t, ctx, pool)
	MustApply(t, ctx, pool, log...)
	MustReadModelOf(t, ctx, pool, f)
	MustSameRows(t, MustSnapshot(t, ctx, pool), want)
}

// With no checkpoint, the projector does not skip an event it has applied:
// delivered again, any event is refused (its audit row exists) and changes
// nothing, rather than bringing back old values.
func TestApplyRefusesAnEventAppliedAlready(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	f := MustLog(t, ctx, inline(pool))
	log := MustReadLog(t, ctx, eventstore.NewPostgresStore(pool), f.events)
	want := MustSnapshot(t, ctx, pool)
	for i := len(log) - 1; i >= 0; i-- {
		e := log[i]
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return projections.Relational{}.Apply(ctx, tx, e) })
		if err == nil {
			t.Errorf("applying %s %s v%d again succeeded, want a refusal", e.Type, e.Stream, e.Version)
		}
	}
	MustSameRows(t, MustSnapshot(t, ctx, pool), want)
	MustReadModelOf(t, ctx, pool, f)
}

// MustEventCount counts the events of stream.
func MustEventCount(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, stream eventstore.StreamID) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1`, stream.String()).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// A row PostgreSQL refuses refuses the append that projects it: Append returns
// a RefusedError naming the table, and neither the events nor any of their
// rows (the stream's own, the audit rows) are stored.
func TestAppendRefusedByTheReadModelStoresNothing(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := inline(pool)
	f := MustLog(t, ctx, store)
	before := MustAllRows(t, ctx, pool)

	property := eventstore.StreamID{Type: domain.PropertyStreamType, ID: uuid.New()}
	registered := &domain.PropertyRegistered{PropertyID: property.ID, OwnerID: &f.ownerID, Status: domain.PropertyActive,
		Details: domain.PropertyDetails{Name: "Refused", Address: "1 Check St", City: "Bend", State: "OR", ZipCode: "97701",
			PropertyType: domain.PropertyResidential}}
	// grace_days BETWEEN 0 AND 90 (property_late_fee_policies): the domain
	// would refuse it first; here it reaches the database.
	tooLate := &domain.PropertyLateFeePolicySet{Policy: domain.LateFeePolicy{GraceDays: 91, FlatAmount: ptr(domain.MustMoney("25.00"))}}
	sameEmail := &domain.UserRegistered{UserID: uuid.New(), Email: "buyer-" + f.buyerID.String()[:8] + "@example.com",
		PasswordHash: "h", Role: domain.RoleUser} // the buyer's: users_email_key

	tests := []struct {
		name     string
		stream   eventstore.StreamID
		expected int64
		events   []domain.Event
		table    string
		code     string
		conflict bool
		stored   int // events of the stream before and after
	}{
		{"a check, on a new stream", property, 0, []domain.Event{registered, tooLate}, "property_late_fee_policies", "23514", false, 0},
		{"a unique key", eventstore.StreamID{Type: domain.UserStreamType, ID: sameEmail.UserID}, 0, []domain.Event{sameEmail}, "users", "23505", true, 0},
		{"a check, on a stream that exists", f.propertyStream(), 4, []domain.Event{tooLate}, "property_late_fee_policies", "23514", false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Append(ctx, tt.stream, tt.expected, newEvents(tt.events...)...)
			var refused *eventstore.RefusedError
			if !errors.As(err, &refused) {
				t.Fatalf("append = %v, want a RefusedError", err)
			}
			if refused.Table != tt.table || refused.Code != tt.code || refused.Constraint == "" || refused.Conflict() != tt.conflict {
				t.Errorf("refusal = table %q code %q constraint %q conflict %v, want table %q code %s conflict %v",
					refused.Table, refused.Code, refused.Constraint, refused.Conflict(), tt.table, tt.code, tt.conflict)
			}
			if n := MustEventCount(t, ctx, pool, tt.stream); n != tt.stored {
				t.Errorf("%s has %d events after the refusal, want %d", tt.stream, n, tt.stored)
			}
			after := MustAllRows(t, ctx, pool)
			for table, rows := range before {
				if !slices.Equal(after[table], rows) {
					t.Errorf("%s changed by a refused append:\n got  %v\n want %v", table, after[table], rows)
				}
			}
		})
	}

	// The refusals broke nothing: the same streams take valid events.
	MustAppend(t, ctx, store, property, 0, registered)
	MustAppend(t, ctx, store, f.propertyStream(), 4, &domain.PropertyLateFeePolicySet{Policy: domain.LateFeePolicy{GraceDays: 5,
		FlatAmount: ptr(domain.MustMoney("25.00"))}})
	var policies int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM property_late_fee_policies WHERE property_id = $1 AND grace_days = 5`,
		f.propertyID).Scan(&policies); err != nil || policies != 1 {
		t.Errorf("late-fee policies after a valid append = %d (%v), want 1", policies, err)
	}
	// users, properties, sessions, policies, audit rows
	MustVerifyIdentical(t, ctx, pool, 2+2+1+1+f.events+2)
}
