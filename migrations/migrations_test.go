package migrations_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/migrations"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// Up, down to zero, and up again must each work on a real database.
func TestUpDownUp(t *testing.T) {
	url := dbtest.MustURL(t) // already migrated up
	m, err := migrations.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	MustVersion(t, m, latest)
	if got := tableCount(t, url); got == 0 {
		t.Fatal("no tables after up")
	}

	if err := m.Down(0); err != nil {
		t.Fatalf("down to zero: %v", err)
	}
	MustVersion(t, m, 0)
	if got := tableCount(t, url); got != 1 { // golang-migrate's own schema_migrations
		t.Fatalf("tables after down = %d, want only schema_migrations", got)
	}

	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	MustVersion(t, m, latest)
}

// The seed's index names must exist exactly as the schema document writes them.
func TestSeedIndexesExist(t *testing.T) {
	url := dbtest.MustURL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	want := []string{
		"idx_users_email", "idx_users_role",
		"idx_properties_owner", "idx_properties_status", "idx_properties_location",
		"idx_tenants_email", "idx_tenants_name",
		"idx_leases_property", "idx_leases_tenant", "idx_leases_status", "idx_leases_dates",
		"idx_transactions_lease", "idx_transactions_status", "idx_transactions_type", "idx_transactions_dates",
		"idx_documents_entity", "idx_documents_uploader",
		"idx_maintenance_property", "idx_maintenance_tenant", "idx_maintenance_status", "idx_maintenance_assigned",
		"idx_sessions_user", "idx_sessions_token", "idx_sessions_expires",
		"idx_audit_user", "idx_audit_entity", "idx_audit_action", "idx_audit_created",
	}
	for _, name := range want {
		var n int
		if err := conn.QueryRow(context.Background(),
			`SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = $1`, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("index %s: found %d, want 1", name, n)
		}
	}
}

func MustVersion(t *testing.T, m *migrations.Migrator, want uint) {
	t.Helper()
	got, dirty, err := m.Version()
	if err != nil {
		t.Fatal(err)
	}
	if got != want || dirty {
		t.Fatalf("version = %d (dirty %v), want %d", got, dirty, want)
	}
}

func tableCount(t *testing.T, url string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Partitioning audit_logs (000009) keeps every existing row, in the partition of
// its month, with the seed's indexes, row-level security and the reader's
// grant; down puts the unpartitioned table back with the same rows.
func TestAuditPartitionsMigrationKeepsRows(t *testing.T) {
	ctx := context.Background()
	url := dbtest.MustURL(t)
	m, err := migrations.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.To(8); err != nil {
		t.Fatalf("down to 8: %v", err)
	}
	MustVersion(t, m, 8)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Thirty rows two weeks apart from January 2024, and one far in the future.
	if _, err := conn.Exec(ctx, `INSERT INTO audit_logs (action, entity_type, entity_id, new_values, created_at)
		SELECT 'PropertyRegistered', 'property', gen_random_uuid(), jsonb_build_object('n', g),
			timestamp '2024-01-03 10:00' + g * interval '14 days'
		FROM generate_series(0, 29) g
		UNION ALL SELECT 'UserRegistered', 'user', NULL, NULL, timestamp '2150-03-01'`); err != nil {
		t.Fatal(err)
	}
	rowsSum := func() string {
		t.Helper()
		var sum string
		if err := conn.QueryRow(ctx, `SELECT count(*) || ' ' || md5(string_agg(a::text, ',' ORDER BY id)) FROM audit_logs a`).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		return sum
	}
	want := rowsSum()

	if err := m.To(9); err != nil {
		t.Fatalf("up to 9 with audit rows: %v", err)
	}
	if got := rowsSum(); got != want {
		t.Errorf("audit rows after partitioning = %s, want %s", got, want)
	}
	var misplaced int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_logs
		WHERE tableoid::regclass::text <> 'audit_logs_' || to_char(created_at, 'YYYY_MM')`).Scan(&misplaced); err != nil {
		t.Fatal(err)
	}
	if misplaced != 0 {
		t.Errorf("%d rows are not in the partition of their month", misplaced)
	}
	var kind, pkey string
	var rls, readable bool
	if err := conn.QueryRow(ctx, `SELECT c.relkind::text, pg_get_constraintdef(k.oid), c.relrowsecurity,
			has_table_privilege('assetanchor_reader', c.oid, 'SELECT')
		FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid AND k.conname = 'audit_logs_pkey'
		WHERE c.oid = 'audit_logs'::regclass`).Scan(&kind, &pkey, &rls, &readable); err != nil {
		t.Fatal(err)
	}
	if kind != "p" || pkey != "PRIMARY KEY (id, created_at)" || !rls || !readable {
		t.Errorf("audit_logs: kind %s, %s, row-level security %v, readable by the reader %v", kind, pkey, rls, readable)
	}
	var policies int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_policy WHERE polrelid = 'audit_logs'::regclass
		AND polname = 'audit_logs_visible'`).Scan(&policies); err != nil || policies != 1 {
		t.Errorf("audit_logs_visible policies on the partitioned table: %d (%v)", policies, err)
	}
	// An insert for a month without a partition lands in the default one.
	var partition string
	if err := conn.QueryRow(ctx, `INSERT INTO audit_logs (action, entity_type, created_at)
		VALUES ('UserRegistered', 'user', '2301-07-04') RETURNING tableoid::regclass::text`).Scan(&partition); err != nil ||
		partition != "audit_logs_default" {
		t.Errorf("a row of 2301 went to %q (%v), want audit_logs_default", partition, err)
	}
	// A detached month left in public under its name is not taken for its partition.
	if _, err := conn.Exec(ctx, `ALTER TABLE audit_logs DETACH PARTITION audit_logs_2024_01`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT create_audit_partition('2024-01-20')`); err == nil ||
		!strings.Contains(err.Error(), "move it out of public") {
		t.Errorf("create_audit_partition over a detached month = %v, want a refusal", err)
	}
	if _, err := conn.Exec(ctx, `ALTER TABLE audit_logs ATTACH PARTITION audit_logs_2024_01
		FOR VALUES FROM ('2024-01-01') TO ('2024-02-01')`); err != nil {
		t.Fatal(err)
	}
	want = rowsSum()

	if err := m.To(8); err != nil {
		t.Fatalf("down to 8 with audit rows: %v", err)
	}
	if got := rowsSum(); got != want {
		t.Errorf("audit rows after down = %s, want %s", got, want)
	}
	if err := conn.QueryRow(ctx, `SELECT c.relkind::text, pg_get_constraintdef(k.oid), c.relrowsecurity,
			has_table_privilege('assetanchor_reader', c.oid, 'SELECT')
		FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid AND k.conname = 'audit_logs_pkey'
		WHERE c.oid = 'audit_logs'::regclass`).Scan(&kind, &pkey, &rls, &readable); err != nil {
		t.Fatal(err)
	}
	if kind != "r" || pkey != "PRIMARY KEY (id)" || !rls || !readable {
		t.Errorf("audit_logs after down: kind %s, %s, row-level security %v, readable by the reader %v", kind, pkey, rls, readable)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
