package projections_test

import (
	"context"
	"fmt"
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
var readModelTables = []string{"users", "properties", "user_sessions"}

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

// MustApply delivers one event to the relational projector in its own transaction.
func MustApply(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, e eventstore.Event) {
	tb.Helper()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return projections.Relational{}.Apply(ctx, tx, e) })
	if err != nil {
		tb.Fatalf("apply %s %s v%d: %v", e.Type, e.Stream, e.Version, err)
	}
}

// MustCreateCheckpoint creates the relational projector's checkpoint row, as the
// runtime does when it starts.
func MustCreateCheckpoint(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	tb.Helper()
	if _, err := pool.Exec(ctx, `INSERT INTO projector_checkpoints (projector) VALUES ($1)`, projections.RelationalName); err != nil {
		tb.Fatalf("create checkpoint: %v", err)
	}
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

// checkpointRow is the relational projector's checkpoint without its updated_at,
// which is the wall clock of the last write.
func checkpointRow(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) string {
	tb.Helper()
	var row string
	err := pool.QueryRow(ctx, `SELECT format('(%s, %s) applied=%s last_event_at=%s',
			transaction_id, position, events_applied, last_event_at)
		FROM projector_checkpoints WHERE projector = $1`, projections.RelationalName).Scan(&row)
	if err != nil {
		tb.Fatalf("read checkpoint row: %v", err)
	}
	return row
}

// MustCheckpoint fails unless the projector has applied exactly the given number
// of events and stands at cp.
func MustCheckpoint(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, cp eventstore.Checkpoint, applied int) {
	tb.Helper()
	var txid string
	var position, n int64
	err := pool.QueryRow(ctx, `SELECT transaction_id::text, position, events_applied
		FROM projector_checkpoints WHERE projector = $1`, projections.RelationalName).Scan(&txid, &position, &n)
	if err != nil {
		tb.Fatalf("read checkpoint: %v", err)
	}
	if got, want := fmt.Sprintf("(%s, %d) applied=%d", txid, position, n),
		fmt.Sprintf("(%d, %d) applied=%d", cp.TransactionID, cp.Position, applied); got != want {
		tb.Errorf("checkpoint = %s, want %s", got, want)
	}
}

// MustWipeReadModel empties the read model and rewinds the projector to the start
// of the log, as a rebuild does.
func MustWipeReadModel(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	tb.Helper()
	for _, q := range []string{
		`TRUNCATE users, properties, user_sessions CASCADE`,
		`UPDATE projector_checkpoints SET transaction_id = '0', position = 0, events_applied = 0,
			last_event_at = NULL WHERE projector = 'relational'`,
		`DELETE FROM watermill_offsets_events WHERE consumer_group = 'relational'`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			tb.Fatalf("wipe read model: %s: %v", q, err)
		}
	}
	for table, rows := range MustSnapshot(tb, ctx, pool) {
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

func TestRedeliveryChangesNothing(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	MustCreateCheckpoint(t, ctx, pool)
	log := MustReadLog(t, ctx, store, f.events)
	if got, want := log[len(log)-1].Checkpoint(), f.last.Checkpoint; got != want {
		t.Fatalf("last event read at %+v, want the last append at %+v", got, want)
	}

	// Every event delivered twice in a row, then the whole log once more.
	for _, e := range log {
		MustApply(t, ctx, pool, e)
		MustApply(t, ctx, pool, e)
	}
	for _, e := range log {
		MustApply(t, ctx, pool, e)
	}
	MustReadModelOf(t, ctx, pool, f)
	MustCheckpoint(t, ctx, pool, f.last.Checkpoint, f.events)
	redelivered, redeliveredCheckpoint := MustSnapshot(t, ctx, pool), checkpointRow(t, ctx, pool)

	// One clean pass from an empty read model.
	MustWipeReadModel(t, ctx, pool)
	for _, e := range log {
		MustApply(t, ctx, pool, e)
	}
	MustCheckpoint(t, ctx, pool, f.last.Checkpoint, f.events)
	MustSameRows(t, redelivered, MustSnapshot(t, ctx, pool))
	if got, want := redeliveredCheckpoint, checkpointRow(t, ctx, pool); got != want {
		t.Errorf("checkpoint after redelivery = %s, want %s as after one pass", got, want)
	}
}

func TestApplyIgnoresEventsBeforeTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	MustCreateCheckpoint(t, ctx, pool)
	log := MustReadLog(t, ctx, store, f.events)

	for _, e := range log {
		MustApply(t, ctx, pool, e)
	}
	want := MustSnapshot(t, ctx, pool)
	// Old events delivered again, newest first: applied, PropertyDetailsChanged
	// would bring back the old name and version, PropertyRegistered would collide.
	for i := len(log) - 1; i >= 0; i-- {
		MustApply(t, ctx, pool, log[i])
	}
	MustSameRows(t, MustSnapshot(t, ctx, pool), want)
	MustCheckpoint(t, ctx, pool, f.last.Checkpoint, f.events)
}
