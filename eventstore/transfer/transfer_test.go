package transfer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/eventstore/transfer"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// rentalLog is what MustRentalLog appended.
type rentalLog struct {
	events int
	last   eventstore.Checkpoint
}

// MustRentalLog appends a small rental history touching every projected stream
// type (an erased tenant included) and writes the write-side guards that travel
// with an export: an email claim, a lease period and a tenant's wrapped data key.
// Each append is projected inline into the read model, as serve's are.
func MustRentalLog(t *testing.T, ctx context.Context, pool *pgxpool.Pool, units int) rentalLog {
	t.Helper()
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{})
	var log rentalLog
	admin := uuid.New()
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &admin, IPAddress: "192.0.2.1", UserAgent: "export-test"})
	appendTo := func(typ string, id uuid.UUID, expected int64, events ...domain.Event) {
		t.Helper()
		news := make([]eventstore.NewEvent, len(events))
		for i, e := range events {
			news[i] = eventstore.NewEvent{Type: e.EventType(), Data: e}
		}
		res, err := store.Append(ctx, eventstore.StreamID{Type: typ, ID: id}, expected, news...)
		if err != nil {
			t.Fatalf("append to %s-%s: %v", typ, id, err)
		}
		log.events += len(events)
		log.last = res.Checkpoint
	}
	appendTo(domain.UserStreamType, admin, 0, &domain.UserRegistered{UserID: admin, Email: "admin@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$YQ", Role: domain.RoleAdmin})
	if err := store.Claim(ctx, "email", "admin@example.com", eventstore.StreamID{Type: domain.UserStreamType, ID: admin}); err != nil {
		t.Fatal(err)
	}
	for i := range units {
		owner, session, property, tenant := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		lease, charge, request, payment := uuid.New(), uuid.New(), uuid.New(), uuid.New()
		appendTo(domain.UserStreamType, owner, 0, &domain.UserRegistered{UserID: owner,
			Email: fmt.Sprintf("owner%d@example.com", i), PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$Yg",
			FirstName: "Owner", Role: domain.RoleUser})
		appendTo(domain.SessionStreamType, session, 0, &domain.SessionStarted{SessionID: session, UserID: owner,
			TokenHash: "t-" + session.String(), RefreshTokenHash: "r-" + session.String(),
			ExpiresAt: time.Date(2030, 5, 6, 7, 8, 9, 123456000, time.UTC)})
		appendTo(domain.PropertyStreamType, property, 0, &domain.PropertyRegistered{PropertyID: property, OwnerID: &owner,
			Status: domain.PropertyActive, Details: domain.PropertyDetails{Name: fmt.Sprintf("Unit %d", i),
				Address: "1 Main St", City: "Bend", State: "OR", ZipCode: "97701", PropertyType: domain.PropertyResidential}})
		appendTo(domain.TenantStreamType, tenant, 0, &domain.TenantRegistered{TenantID: tenant, RegisteredBy: owner,
			Contact: domain.TenantContact{FirstName: "Tess", LastName: fmt.Sprint(i), Email: fmt.Sprintf("tess%d@example.com", i)}})
		start := domain.NewDate(2025, time.Month(1+i%12), 1)
		appendTo(domain.LeaseStreamType, lease, 0, &domain.LeaseSigned{LeaseID: lease, PropertyID: property, TenantID: tenant,
			Terms: domain.LeaseTerms{StartDate: start, EndDate: start.AddMonths(12), RentAmount: domain.MustMoney("980.50"),
				SecurityDeposit: domain.MustMoney("0.00"), PaymentDay: 5}})
		// The tenant pays 1,000.00 of a 980.50 rent: 19.50 is left as the lease's credit.
		paid, rent, credit := domain.MustMoney("1000.00"), domain.MustMoney("980.50"), domain.MustMoney("19.50")
		appendTo(domain.TransactionStreamType, charge, 0,
			&domain.ChargePosted{TransactionID: charge, LeaseID: lease, Amount: rent,
				Type: domain.TransactionRent, DueDate: start.AddDays(4)},
			&domain.RentPaid{Payment: domain.Payment{PaymentDate: start.AddDays(6), PaymentMethod: domain.PaymentCash,
				Amount: &rent, PaymentID: &payment}})
		appendTo(domain.PaymentStreamType, payment, 0, &domain.PaymentRecorded{PaymentID: payment, LeaseID: lease,
			TenantID: &tenant, Amount: paid, PaymentDate: start.AddDays(6), PaymentMethod: domain.PaymentCash,
			AppliesTo: domain.AppliesToCharges, Allocations: []domain.Allocation{{TransactionID: charge, Amount: rent}},
			Credit: credit})
		appendTo(domain.LeaseStreamType, lease, 1, &domain.CreditReceived{PaymentID: payment, Amount: credit, On: start.AddDays(6)})
		appendTo(domain.MaintenanceStreamType, request, 0, &domain.MaintenanceRequested{RequestID: request,
			PropertyID: property, TenantID: tenant, Details: domain.MaintenanceDetails{Title: "Heating",
				Description: "No heat", Priority: domain.PriorityHigh}})
		if i%2 == 1 {
			appendTo(domain.TenantStreamType, tenant, 1, &domain.TenantPersonalDataErased{})
		} else if err := store.PutDataKey(ctx, tenant, tenantkeys.WrappedKey{Wrapped: []byte{1, 2, byte(i)}, MasterKeyID: "test-master"}); err != nil {
			t.Fatal(err)
		}
		if err := store.ReservePeriod(ctx, property, lease, start.Time(), start.AddMonths(12).Time()); err != nil {
			t.Fatal(err)
		}
	}
	return log
}

// MustLastEvent is the place of the last committed event of pool, whether or
// not readers can see it yet.
func MustLastEvent(t *testing.T, ctx context.Context, pool *pgxpool.Pool) eventstore.Checkpoint {
	t.Helper()
	var cp eventstore.Checkpoint
	var txid string
	if err := pool.QueryRow(ctx, `SELECT transaction_id::text, position FROM events
		ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`).Scan(&txid, &cp.Position); err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Sscan(txid, &cp.TransactionID); err != nil {
		t.Fatal(err)
	}
	return cp
}

// guardTables are the write-side tables an export carries.
var guardTables = []string{"unique_claims", "lease_reservations", "tenant_keys"}

// MustTableChecksums returns, per table, its row count and an md5 over its rows
// in a stable order.
func MustTableChecksums(t *testing.T, ctx context.Context, pool *pgxpool.Pool, tables []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var sum string
		if err := pool.QueryRow(ctx, `SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))
			FROM `+table+` t`).Scan(&sum); err != nil {
			t.Fatalf("checksum %s: %v", table, err)
		}
		out[table] = sum
	}
	return out
}

// MustEventsChecksum is an md5 over every event column but the transaction id
// (an import re-stamps it), in position order.
func MustEventsChecksum(t *testing.T, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	var sum string
	if err := pool.QueryRow(ctx, `SELECT count(*) || ' events ' || md5(coalesce(string_agg(concat_ws('|', position, event_id,
			stream_id, stream_type, version, event_type, schema_version, payload::text, metadata::text,
			recorded_at, encode(hash, 'hex')), E'\n' ORDER BY position), '')) FROM events`).Scan(&sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

func MustExport(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := transfer.Export(ctx, pool, &buf); err != nil {
		t.Fatalf("export: %v", err)
	}
	return buf.Bytes()
}

// The seed's "Recovery Testing": a projected database is exported, the export
// imported into a fresh database and its read model rebuilt from the imported
// log (as `events import` does); every read-model table, guard table and event
// must come out identical.
func TestExportImportRecoversEveryTable(t *testing.T) {
	ctx := t.Context()
	a := dbtest.MustPool(t)
	log := MustRentalLog(t, ctx, a, 6)
	wantTables := MustTableChecksums(t, ctx, a, append(projections.ReadModelTables(), guardTables...))
	wantEvents := MustEventsChecksum(t, ctx, a)
	for table, sum := range wantTables {
		if strings.HasPrefix(sum, "0 rows") && !slices.Contains([]string{"documents", "property_late_fee_policies", "lease_late_fee_policies"}, table) {
			t.Fatalf("%s is empty in the source database: the scenario does not cover it", table)
		}
	}

	export := MustExport(t, ctx, a)
	b := dbtest.MustPool(t)
	stats, err := transfer.Import(ctx, b, bytes.NewReader(export))
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if stats.Events != int64(log.events) || stats.Rows != 1+6+3 { // 1 email claim; 6 lease periods; 3 keys of tenants not erased
		t.Errorf("imported %d events and %d guard rows, want %d and %d", stats.Events, stats.Rows, log.events, 1+6+3)
	}
	if got := MustEventsChecksum(t, ctx, b); got != wantEvents {
		t.Errorf("imported events = %s, want %s", got, wantEvents)
	}
	stalled, err := eventstore.HorizonStalled(ctx, b)
	if err != nil || stalled {
		t.Fatalf("HorizonStalled after import = %v, %v; want false: imported events carry this cluster's transaction ids", stalled, err)
	}
	// The import writes the log only; the rebuild projects it.
	if got := MustTableChecksums(t, ctx, b, []string{"users"})["users"]; !strings.HasPrefix(got, "0 rows") {
		t.Errorf("users after import = %s, want empty until rebuilt", got)
	}
	rebuilt, err := projections.Rebuild(ctx, b, projections.RebuildOptions{})
	if err != nil {
		t.Fatalf("rebuild after import: %v", err)
	}
	if last := MustLastEvent(t, ctx, b); rebuilt.Events != int64(log.events) || rebuilt.Checkpoint != last {
		t.Errorf("rebuild after import = %d events to %+v, want %d to %+v", rebuilt.Events, rebuilt.Checkpoint, log.events, last)
	}
	got := MustTableChecksums(t, ctx, b, append(projections.ReadModelTables(), guardTables...))
	for table, want := range wantTables {
		if got[table] != want {
			t.Errorf("%s after recovery = %s, want %s", table, got[table], want)
		}
	}

	// The restored store keeps working: positions continue after the imported
	// ones, and appends project onto the rebuilt read model.
	owner := uuid.New()
	res, err := eventstore.NewPostgresStore(b).WithProjector(projections.Relational{}).Append(ctx, eventstore.StreamID{Type: domain.UserStreamType, ID: owner}, 0,
		eventstore.NewEvent{Type: "UserRegistered", Data: &domain.UserRegistered{UserID: owner, Email: "new@example.com",
			PasswordHash: "x", Role: domain.RoleUser}})
	if err != nil {
		t.Fatalf("append after import: %v", err)
	}
	if res.Checkpoint.Position <= log.last.Position {
		t.Errorf("new event at position %d, want after the imported %d", res.Checkpoint.Position, log.last.Position)
	}
	var email string
	if err := b.QueryRow(ctx, `SELECT email FROM users WHERE id = $1`, owner).Scan(&email); err != nil || email != "new@example.com" {
		t.Errorf("the new user's row after the append = %q (%v), want it there", email, err)
	}
	verified, err := projections.Verify(ctx, b, projections.RebuildOptions{})
	if err != nil || !verified.Identical() || verified.Checkpoint != res.Checkpoint {
		t.Errorf("verify after import and append = %+v, %v; want identical at %+v", verified, err, res.Checkpoint)
	}
}

// Every event line carries every column; lines are in commit order.
func TestExportWritesEveryColumnInCommitOrder(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	log := MustRentalLog(t, ctx, pool, 2)
	export := MustExport(t, ctx, pool)
	lines := strings.Split(strings.TrimSuffix(string(export), "\n"), "\n")
	if len(lines) != log.events+1+2+1 { // events; 1 claim; 2 lease periods; 1 key
		t.Fatalf("export has %d lines, want %d:\n%s", len(lines), log.events+4, export)
	}
	wantKeys := []string{"event_id", "event_type", "hash", "metadata", "payload", "position", "recorded_at",
		"schema_version", "stream_id", "stream_type", "transaction_id", "version"}
	var prevTx, prevPos float64
	for i, line := range lines[:log.events] {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("line %d has fields %v, want %v", i+1, keys, wantKeys)
		}
		tx, pos := fields["transaction_id"].(float64), fields["position"].(float64)
		if tx < prevTx || tx == prevTx && pos <= prevPos {
			t.Errorf("line %d at %v/%v comes after %v/%v", i+1, tx, pos, prevTx, prevPos)
		}
		prevTx, prevPos = tx, pos
		if h := fields["hash"].(string); len(h) != 64 {
			t.Errorf("line %d hash %q, want 64 hex digits", i+1, h)
		}
	}
	var claim map[string]any
	if err := json.Unmarshal([]byte(lines[log.events]), &claim); err != nil || claim["table"] != "unique_claims" {
		t.Errorf("first line after the events = %s, want a unique_claims row", lines[log.events])
	}
}

// editLines applies edit to the export's lines.
func editLines(export []byte, edit func([]string) []string) []byte {
	lines := strings.Split(strings.TrimSuffix(string(export), "\n"), "\n")
	return []byte(strings.Join(edit(lines), "\n") + "\n")
}

func TestImportRefusesABrokenFileAndWritesNothing(t *testing.T) {
	ctx := t.Context()
	source := dbtest.MustPool(t)
	log := MustRentalLog(t, ctx, source, 3)
	export := MustExport(t, ctx, source)
	secondOfStream := func(lines []string, stream string) int { // index of a stream's version 2 line
		for i, l := range lines {
			if strings.Contains(l, `"stream_id":"`+stream) && strings.Contains(l, `"version":2,`) {
				return i
			}
		}
		t.Fatalf("no version 2 of a %s stream in the export", stream)
		return -1
	}
	tests := []struct {
		name string
		edit func([]string) []string
		want string
	}{
		{"edited payload", func(l []string) []string {
			l[3] = strings.Replace(l[3], `"Unit 0"`, `"Unit 9"`, 1)
			return l
		}, "hash mismatch"},
		{"edited recorded_at", func(l []string) []string {
			i := strings.Index(l[1], `"recorded_at":"`) + len(`"recorded_at":"`)
			l[1] = l[1][:i] + "1999" + l[1][i+4:]
			return l
		}, "hash mismatch"},
		{"deleted event", func(l []string) []string {
			i := secondOfStream(l, "transaction-")
			return slices.Delete(l, i-1, i) // version 1 of the charge
		}, "version gap"},
		{"reordered events", func(l []string) []string {
			l[2], l[3] = l[3], l[2]
			return l
		}, "not in commit order"},
		{"unknown field", func(l []string) []string {
			l[0] = strings.Replace(l[0], `{"position"`, `{"extra":1,"position"`, 1)
			return l
		}, "unknown field"},
		{"truncated line", func(l []string) []string {
			l[4] = l[4][:len(l[4])/2]
			return l
		}, "line 5"},
		{"unknown table", func(l []string) []string {
			return append(l, `{"table":"users","row":{"id":"x"}}`)
		}, `unknown table "users"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := dbtest.MustPool(t)
			_, err := transfer.Import(ctx, target, bytes.NewReader(editLines(export, tt.edit)))
			if !errors.Is(err, transfer.ErrInvalidExport) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("import = %v, want ErrInvalidExport mentioning %q", err, tt.want)
			}
			for table, sum := range MustTableChecksums(t, ctx, target, append([]string{"events"}, guardTables...)) {
				if !strings.HasPrefix(sum, "0 rows") {
					t.Errorf("%s after a refused import: %s, want empty", table, sum)
				}
			}
		})
	}
	// The unedited file imports: the refusals above are the edits'.
	target := dbtest.MustPool(t)
	if stats, err := transfer.Import(ctx, target, bytes.NewReader(export)); err != nil || stats.Events != int64(log.events) {
		t.Fatalf("import of the unedited export = %+v, %v", stats, err)
	}
}

func TestImportRefusesANonEmptyStore(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	MustRentalLog(t, ctx, pool, 1)
	before := MustEventsChecksum(t, ctx, pool)
	export := MustExport(t, ctx, pool)
	if _, err := transfer.Import(ctx, pool, bytes.NewReader(export)); !errors.Is(err, transfer.ErrStoreNotEmpty) {
		t.Fatalf("import into a store with events = %v, want ErrStoreNotEmpty", err)
	}
	if got := MustEventsChecksum(t, ctx, pool); got != before {
		t.Errorf("events changed by a refused import: %s, want %s", got, before)
	}
}

// Export streams: it writes as it reads, through a writer that fails after a
// few lines, and reports the writer's error.
func TestExportStopsOnAWriteError(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	MustRentalLog(t, ctx, pool, 40)
	w := &failingWriter{limit: 1 << 16}
	_, err := transfer.Export(ctx, pool, w)
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("export = %v, want the writer's error", err)
	}
	if w.written < w.limit {
		t.Errorf("wrote %d bytes before failing, want the limit %d reached", w.written, w.limit)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{ written, limit int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.written+len(p) > w.limit {
		w.written = w.limit
		return 0, errDiskFull
	}
	w.written += len(p)
	return len(p), nil
}

func TestHorizonStalled(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	MustRentalLog(t, ctx, pool, 1)
	if stalled, err := eventstore.HorizonStalled(ctx, pool); err != nil || stalled {
		t.Fatalf("HorizonStalled on a live store = %v, %v; want false", stalled, err)
	}
	// A checkpoint from another cluster's future, as a restored dump carries.
	if _, err := pool.Exec(ctx, `INSERT INTO projector_checkpoints (projector, transaction_id)
		VALUES ('restored', (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000)::text::xid8)`); err != nil {
		t.Fatal(err)
	}
	if stalled, err := eventstore.HorizonStalled(ctx, pool); err != nil || !stalled {
		t.Fatalf("HorizonStalled with a checkpoint ahead of the cluster = %v, %v; want true", stalled, err)
	}
}

// Import reads its input line by line: a line longer than the scanner's
// buffer but within the limit is accepted.
func TestImportReadsLongLines(t *testing.T) {
	ctx := t.Context()
	source := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(source)
	id := uuid.New()
	long := strings.Repeat("x", 200<<10)
	if _, err := store.Append(ctx, eventstore.StreamID{Type: domain.PropertyStreamType, ID: id}, 0,
		eventstore.NewEvent{Type: "PropertyRegistered", Data: map[string]any{"description": long}}); err != nil {
		t.Fatal(err)
	}
	export := MustExport(t, ctx, source)
	target := dbtest.MustPool(t)
	if _, err := transfer.Import(ctx, target, bufio.NewReaderSize(bytes.NewReader(export), 4096)); err != nil {
		t.Fatalf("import a 200 KiB line: %v", err)
	}
	if got, want := MustEventsChecksum(t, ctx, target), MustEventsChecksum(t, ctx, source); got != want {
		t.Errorf("events = %s, want %s", got, want)
	}
}
