// Package dbtest gives each test its own migrated database on the PostgreSQL that
// DATABASE_URL points at (make test starts a throwaway cluster for it).
//
// Tests only; it imports nothing of ours but migrations and eventstore/pguuid.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/migrations"
)

// MustURL creates a fresh, migrated database and returns its URL. The database is
// dropped when the test ends. Without DATABASE_URL the test is skipped, never faked.
func MustURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		tb.Skip("DATABASE_URL is not set: run the tests with `make test`")
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		tb.Fatal(err)
	}
	name := "aa_test_" + hex.EncodeToString(suffix)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		tb.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			tb.Errorf("connect to drop test database: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})

	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()

	m, err := migrations.Open(dbURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		tb.Fatalf("migrate test database: %v", err)
	}
	return dbURL
}

// MustPool is MustURL with a connection pool that closes when the test ends.
func MustPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(MustURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	pguuid.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// MustBenchScale reads ASSETANCHOR_BENCH_SCALE, the share of its full load a
// benchmark generates (default 1; make bench-smoke runs 0.01).
func MustBenchScale(b *testing.B) float64 {
	b.Helper()
	raw := os.Getenv("ASSETANCHOR_BENCH_SCALE")
	if raw == "" {
		return 1
	}
	scale, err := strconv.ParseFloat(raw, 64)
	if err != nil || scale <= 0 || scale > 10 || math.IsNaN(scale) {
		b.Fatalf("ASSETANCHOR_BENCH_SCALE=%q: want a number in (0, 10]", raw)
	}
	return scale
}

// MustReachHorizon waits until every event in pool's database lies below the
// transaction-id horizon (pg_snapshot_xmin), so that readers which stop there
// (ReadAfter, anchors) see them all. Transactions of other tests on the cluster
// hold the horizon back for a while.
func MustReachHorizon(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var reached bool
		if err := pool.QueryRow(context.Background(), `SELECT coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), true)
			FROM events`).Scan(&reached); err != nil {
			tb.Fatalf("read the horizon: %v", err)
		}
		if reached {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("the transaction-id horizon did not pass the newest event within a minute")
		}
	}
}
