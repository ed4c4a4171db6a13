package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// MustAppendAt appends events to stream through the event store's append
// function, recorded at the given time instead of now (events of other months),
// and projects them in the same transaction, as an inline append does.
func MustAppendAt(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, stream eventstore.StreamID, expected int64,
	at time.Time, actor uuid.UUID, events ...domain.Event) eventstore.Checkpoint {
	tb.Helper()
	md, err := json.Marshal(eventstore.Metadata{ActorID: &actor, IPAddress: "192.0.2.44", UserAgent: "partition-test"})
	if err != nil {
		tb.Fatal(err)
	}
	var ids, types, payloads, metas []string
	var versions []int32
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		ids, types, versions = append(ids, ulid.Make().String()), append(types, e.EventType()), append(versions, 1)
		payloads, metas = append(payloads, string(data)), append(metas, string(md))
	}
	var cp eventstore.Checkpoint
	// A unit of work is a writing transaction, as an append's own is: a
	// rebuild's swap waits for it.
	err = eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		tx, ok := eventstore.UnitTx(ctx)
		if !ok {
			return errors.New("no transaction in the unit of work")
		}
		rows, err := tx.Query(ctx, `SELECT event_version FROM append_events($1, $2, $3, $4, $5, $6, $7::jsonb[], $8::jsonb[], $9)`,
			stream.String(), stream.Type, expected, ids, types, versions, payloads, metas, at)
		if err != nil {
			return err
		}
		stored, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(stored) != len(events) || stored[0] != expected+1 {
			return fmt.Errorf("append_events stored versions %v, want %d from %d", stored, len(events), expected+1)
		}
		appended, err := eventstore.NewPostgresStore(tx).ReadStream(ctx, stream, time.Time{})
		if err != nil {
			return err
		}
		appended = appended[expected:]
		cp = appended[len(appended)-1].Checkpoint()
		return projections.Relational{}.Apply(ctx, tx, appended...)
	})
	if err != nil {
		tb.Fatalf("append %d events to %s at %s: %v", len(events), stream, at, err)
	}
	return cp
}

// partitionedHistory is a property whose events fall in four months: one long
// before any partition, this month, next month, and one far beyond the
// partitions the service keeps ready.
type partitionedHistory struct {
	admin, property uuid.UUID
	// month of each audit row's event, by action
	at   map[string]time.Time
	last eventstore.Checkpoint
}

func MustPartitionedHistory(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) partitionedHistory {
	tb.Helper()
	now := time.Now().UTC()
	thisMonth := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC)
	h := partitionedHistory{admin: uuid.New(), property: uuid.New(), at: map[string]time.Time{
		"UserRegistered":         thisMonth.Add(time.Hour),
		"PropertyRegistered":     time.Date(2019, 2, 10, 8, 30, 0, 0, time.UTC),
		"PropertyDetailsChanged": thisMonth.AddDate(0, 1, 3),
		"PropertyStatusChanged":  time.Date(2150, 6, 1, 0, 0, 0, 0, time.UTC),
	}}
	MustAppendAt(tb, ctx, pool, eventstore.StreamID{Type: domain.UserStreamType, ID: h.admin}, 0, h.at["UserRegistered"], h.admin,
		&domain.UserRegistered{UserID: h.admin, Email: "partitions@example.com", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$eA",
			Role: domain.RoleAdmin})
	property := eventstore.StreamID{Type: domain.PropertyStreamType, ID: h.property}
	details := domain.PropertyDetails{Name: "Old Mill", Address: "1 Race", City: "Bend", State: "OR", ZipCode: "97701",
		PropertyType: domain.PropertyResidential}
	MustAppendAt(tb, ctx, pool, property, 0, h.at["PropertyRegistered"], h.admin,
		&domain.PropertyRegistered{PropertyID: h.property, OwnerID: &h.admin, Status: domain.PropertyActive, Details: details})
	details.Name = "Old Mill Lofts"
	MustAppendAt(tb, ctx, pool, property, 1, h.at["PropertyDetailsChanged"], h.admin, &domain.PropertyDetailsChanged{Details: details})
	h.last = MustAppendAt(tb, ctx, pool, property, 2, h.at["PropertyStatusChanged"], h.admin,
		&domain.PropertyStatusChanged{From: domain.PropertyActive, To: domain.PropertyInactive})
	return h
}

// monthPartition names the partition of t's month.
func monthPartition(t time.Time) string { return "audit_logs_" + t.UTC().Format("2006_01") }

// MustAuditPartitions returns the partition holding each audit row, by action.
func MustAuditPartitions(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) map[string]string {
	tb.Helper()
	rows, err := pool.Query(ctx, `SELECT action, tableoid::regclass::text FROM audit_logs`)
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var action, partition string
		if err := rows.Scan(&action, &partition); err != nil {
			tb.Fatal(err)
		}
		got[action] = partition
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return got
}

// MustPartitionNames lists the partitions of audit_logs with their bounds.
func MustPartitionNames(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) []string {
	tb.Helper()
	rows, err := pool.Query(ctx, `SELECT c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'public.audit_logs'::regclass ORDER BY 1`)
	if err != nil {
		tb.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

func MustSamePartitions(tb testing.TB, got, want map[string]string) {
	tb.Helper()
	for _, action := range slices.Sorted(maps.Keys(want)) {
		if got[action] != want[action] {
			tb.Errorf("the %s audit row is in %s, want %s", action, got[action], want[action])
		}
	}
	if len(got) != len(want) {
		tb.Errorf("audit rows by action = %v, want %v", got, want)
	}
}

// The projector's audit rows land in the partition of their event's month; a
// month without one (long past, far future) lands in the default partition,
// which EnsureAuditPartitions empties up to its horizon. The reader sees the
// rows through the parent, under its policy, and cannot read a partition.
func TestAuditRowsLandInTheirMonthPartition(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	h := MustPartitionedHistory(t, ctx, pool)

	want := map[string]string{
		"UserRegistered":         monthPartition(h.at["UserRegistered"]),
		"PropertyRegistered":     "audit_logs_default", // before the first partition
		"PropertyDetailsChanged": monthPartition(h.at["PropertyDetailsChanged"]),
		"PropertyStatusChanged":  "audit_logs_default", // beyond the ready months: the insert still succeeds
	}
	MustSamePartitions(t, MustAuditPartitions(t, ctx, pool), want)

	created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if created != 1 {
		t.Errorf("EnsureAuditPartitions created %d partitions, want 1: the past month waiting in the default", created)
	}
	want["PropertyRegistered"] = "audit_logs_2019_02"
	MustSamePartitions(t, MustAuditPartitions(t, ctx, pool), want)
	if created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now()); err != nil || created != 0 {
		t.Errorf("EnsureAuditPartitions again = %d, %v; want 0, nil", created, err)
	}
	// The partitions the service keeps ready: this month and the next three.
	now := time.Now().UTC()
	for i := range projections.AuditPartitionMonthsAhead + 1 {
		name := monthPartition(time.Date(now.Year(), now.Month()+time.Month(i), 1, 0, 0, 0, 0, time.UTC))
		if !slices.ContainsFunc(MustPartitionNames(t, ctx, pool), func(p string) bool { return strings.HasPrefix(p, name+" ") }) {
			t.Errorf("partition %s is missing: %v", name, MustPartitionNames(t, ctx, pool))
		}
	}
	MustVerifyIdentical(t, ctx, pool, 1+1+4)

	var seen int
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true),
			set_config('app.role', 'admin', true)`, readmodel.ReaderRole, h.admin.String()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_logs`).Scan(&seen)
	}); err != nil || seen != 4 {
		t.Errorf("the reader as admin sees %d audit rows through the parent (%v), want 4", seen, err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true),
			set_config('app.role', 'user', true)`, readmodel.ReaderRole, uuid.NewString()); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM audit_logs`).Scan(&seen)
	}); err != nil || seen != 0 {
		t.Errorf("the reader as another user sees %d audit rows (%v), want 0", seen, err)
	}
	for _, partition := range []string{want["UserRegistered"], "audit_logs_default"} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.role', 'admin', true)`,
				readmodel.ReaderRole); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `SELECT count(*) FROM `+partition)
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("the reader reading partition %s directly = %v, want permission denied", partition, err)
		}
	}
}

// Rebuild copies the partitions, keeps every row in its month's partition, and
// takes over partitions that the live table gained while it replayed; verify
// then finds the rebuilt table identical to a replay.
func TestRebuildAndVerifyPartitionedAuditLog(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	h := MustPartitionedHistory(t, ctx, pool)
	if created, err := projections.EnsureAuditPartitions(ctx, pool, time.Now()); err != nil || created != 1 {
		t.Fatalf("EnsureAuditPartitions = %d, %v; want the 2019 partition", created, err)
	}
	before := MustPartitionNames(t, ctx, pool)
	shapeBefore := MustCatalogShape(t, ctx, pool)

	// Midway through the replay the live table gains the far-future month's
	// partition, as the daily tick would give it; the copy's row of that month
	// waits in the copy's default partition until the swap.
	var added bool
	res, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{BatchSize: 1, Progress: func(projections.Progress) {
		if added {
			return
		}
		added = true
		if _, err := pool.Exec(ctx, `SELECT create_audit_partition('2150-06-01')`); err != nil {
			t.Errorf("add a partition during the rebuild: %v", err)
		}
	}})
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if res.Events != 4 || res.Checkpoint != h.last {
		t.Errorf("rebuild = %d events to %+v, want 4 to %+v", res.Events, res.Checkpoint, h.last)
	}
	if !added {
		t.Fatal("the rebuild reported no progress: the partition was never added")
	}
	MustSamePartitions(t, MustAuditPartitions(t, ctx, pool), map[string]string{
		"UserRegistered":         monthPartition(h.at["UserRegistered"]),
		"PropertyRegistered":     "audit_logs_2019_02",
		"PropertyDetailsChanged": monthPartition(h.at["PropertyDetailsChanged"]),
		"PropertyStatusChanged":  "audit_logs_2150_06",
	})
	after := MustPartitionNames(t, ctx, pool)
	if want := append(slices.Clone(before), "audit_logs_2150_06 FOR VALUES FROM ('2150-06-01 00:00:00') TO ('2150-07-01 00:00:00')"); !slices.Equal(after, slices.Sorted(slices.Values(want))) {
		t.Errorf("partitions after the rebuild:\n%v\nwant those before and the one added:\n%v", after, want)
	}
	if shapeAfter := MustCatalogShape(t, ctx, pool); !slices.Equal(shapeAfter.Indexes, shapeBefore.Indexes) ||
		!slices.Equal(shapeAfter.ForeignKeys, shapeBefore.ForeignKeys) {
		t.Errorf("catalog after the rebuild = %+v, want %+v", shapeAfter, shapeBefore)
	}
	MustSeedIndexes(t, MustCatalogShape(t, ctx, pool))
	var rls bool
	var grants string
	if err := pool.QueryRow(ctx, `SELECT relrowsecurity, relacl::text FROM pg_class WHERE oid = 'public.audit_logs'::regclass`).
		Scan(&rls, &grants); err != nil || !rls {
		t.Errorf("audit_logs after the rebuild: row-level security %v (%v)", rls, err)
	}
	MustNoScratchSchemas(t, ctx, pool)

	// Inline writes carry on onto the rebuilt tables.
	property := eventstore.StreamID{Type: domain.PropertyStreamType, ID: h.property}
	MustAppendAt(t, ctx, pool, property, 3, time.Now().UTC(), h.admin,
		&domain.PropertyStatusChanged{From: domain.PropertyInactive, To: domain.PropertyActive})
	MustVerifyIdentical(t, ctx, pool, 1+1+5)

	// A second rebuild of the same log gives byte-identical rows.
	snapshot := MustSnapshot(t, ctx, pool)
	if _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); err != nil {
		t.Fatalf("second rebuild: %v", err)
	}
	MustSameRows(t, MustSnapshot(t, ctx, pool), snapshot)
	MustVerifyIdentical(t, ctx, pool, 1+1+5)

	// An audit row moved to another month behind the projector's back is one
	// differing row, named by its id (the partition key is not part of the match).
	var id string
	if err := pool.QueryRow(ctx, `UPDATE audit_logs SET created_at = created_at - interval '40 days'
		WHERE action = 'PropertyDetailsChanged' RETURNING id::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	diff, err := projections.Verify(ctx, pool, projections.RebuildOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if diff.Differing != 1 || len(diff.Differences) != 1 || diff.Differences[0].ID != id ||
		diff.Differences[0].Live == nil || diff.Differences[0].Rebuilt == nil {
		t.Errorf("verify after moving an audit row = %d differing %+v, want audit row %s on both sides", diff.Differing, diff.Differences, id)
	}
	if _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); err != nil {
		t.Fatalf("repairing rebuild: %v", err)
	}
	MustSameRows(t, MustSnapshot(t, ctx, pool), snapshot)
}

// The as-of replay copies the read-model tables into temporary ones; the
// partitioned audit_logs copies as a plain table with its keys.
func TestEntityStateWithPartitionedAuditLog(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	h := MustPartitionedHistory(t, ctx, pool)
	events, err := eventstore.NewPostgresStore(pool).ReadStream(ctx, eventstore.StreamID{Type: domain.PropertyStreamType, ID: h.property}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	state, err := readmodel.EntityState(ctx, readmodel.NewQueries(pool), domain.PropertyStreamType, events[:2])
	if err != nil {
		t.Fatalf("entity state: %v", err)
	}
	var row struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(state, &row); err != nil || row.Name != "Old Mill Lofts" || row.Status != "active" {
		t.Errorf("state after two events = %s (%v), want the renamed, active property", state, err)
	}
}
