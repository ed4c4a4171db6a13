package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// A log whose transaction ids differ in digit count (999 -> 1000) exports in
// commit order and imports, through the commands: the export once ordered by
// the text of the ids, and "1000" sorts before "999".
func TestEventsExportImportAcrossAPowerOfTenOfTransactionIDs(t *testing.T) {
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// A cluster of its own: its transaction ids are small, so the next power of
	// ten is a few thousand transactions away.
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(t.TempDir(), "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	urlA := cluster.URL()
	envA := toolEnv(t, urlA)
	poolA := MustPoolOf(t, urlA)
	MustToolFixture(t, envA, poolA) // migrates, then writes 4 events

	next := MustBurnPastPowerOfTen(t, ctx, poolA)
	MustRun(t, envA, "users", "create-admin", "--email", "after@example.com", "--password", "a long enough password")
	var shortest, longest int
	if err := poolA.QueryRow(ctx, `SELECT min(length(transaction_id::text)), max(length(transaction_id::text))
		FROM events`).Scan(&shortest, &longest); err != nil {
		t.Fatal(err)
	}
	if shortest == longest {
		t.Fatalf("every transaction id has %d digits after burning past %d; want ids of two lengths", shortest, next)
	}

	file := filepath.Join(t.TempDir(), "log.ndjson")
	MustRun(t, envA, "events", "export", file)
	urlB := dbtest.MustURL(t)
	envB := toolEnv(t, urlB)
	MustRun(t, envB, "events", "import", file)
	MustRun(t, envB, "audit", "verify")

	want, got := MustEventOrder(t, ctx, poolA), MustEventOrder(t, ctx, MustPoolOf(t, urlB))
	if len(want) != 5 || len(got) != len(want) {
		t.Fatalf("imported %d events of %d, want 5", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d in commit order after import = %s, want %s", i, got[i], want[i])
		}
	}
}

// MustBurnPastPowerOfTen assigns transaction ids, each in a transaction of its
// own, until the next one assigned has one digit more than the last one
// assigned so far; it returns that power of ten.
func MustBurnPastPowerOfTen(t *testing.T, ctx context.Context, pool *pgxpool.Pool) uint64 {
	t.Helper()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	burn := func() uint64 {
		var id string
		// Autocommit: every statement is its own transaction, and assigns an id.
		if err := conn.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseUint(id, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	next := uint64(1)
	for first := burn(); next <= first; {
		next *= 10
	}
	if next > 100_000 {
		t.Fatalf("the cluster's transaction ids are at %d already: too far to burn to the next power of ten", next/10)
	}
	for last := burn(); last < next-1; last = burn() {
		// The next write gets an id of at least next.
	}
	return next
}

// MustEventOrder lists the event ids in commit order.
func MustEventOrder(t *testing.T, ctx context.Context, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT event_id FROM events ORDER BY transaction_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
