package migrations_test

import (
	"context"
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
