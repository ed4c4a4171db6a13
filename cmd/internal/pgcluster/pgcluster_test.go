package pgcluster

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestStartStopRestartKeepsData(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := filepath.Join(t.TempDir(), "postgres")
	opts := Options{Dir: dir, Fsync: false, Logf: t.Logf}

	c1, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("first Start: %v", err)
	}
	t.Cleanup(func() { _ = c1.Stop(context.Background()) })

	u, err := url.Parse(c1.URL())
	if err != nil {
		t.Fatalf("URL: %v", err)
	}
	if u.Hostname() != "127.0.0.1" || u.Port() == "" || u.Path != "/assetanchor" || u.User.Username() != "assetanchor" {
		t.Fatalf("unexpected URL %s", u.Redacted())
	}
	if pw, _ := u.User.Password(); len(pw) < 64 {
		t.Fatalf("password too short: %d chars", len(pw))
	}
	if !strings.HasSuffix(c1.AdminURL("postgres"), "/postgres?sslmode=disable") {
		t.Fatalf("AdminURL(postgres) = %s", c1.AdminURL("postgres"))
	}

	fi, err := os.Stat(dir + ".password")
	if err != nil {
		t.Fatalf("password file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode = %v, want 0600", fi.Mode().Perm())
	}

	mustExec(t, ctx, c1.URL(), "CREATE TABLE kept (id int PRIMARY KEY, note text NOT NULL)")
	mustExec(t, ctx, c1.URL(), "INSERT INTO kept VALUES (1, 'survives restart')")

	if err := c1.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c1.Stop(ctx); err != nil {
		t.Fatalf("second Stop must be a no-op: %v", err)
	}
	if _, err := pgx.Connect(ctx, c1.URL()); err == nil {
		t.Fatal("server still accepts connections after Stop")
	}

	c2, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	t.Cleanup(func() { _ = c2.Stop(context.Background()) })
	if c2.URL() == "" {
		t.Fatal("empty URL")
	}
	pw1, _ := u.User.Password()
	u2, _ := url.Parse(c2.URL())
	if pw2, _ := u2.User.Password(); pw2 != pw1 {
		t.Fatal("second start did not reuse the saved password")
	}

	conn, err := pgx.Connect(ctx, c2.URL())
	if err != nil {
		t.Fatalf("connect after restart: %v", err)
	}
	defer conn.Close(ctx)
	var note string
	if err := conn.QueryRow(ctx, "SELECT note FROM kept WHERE id = 1").Scan(&note); err != nil {
		t.Fatalf("row lost after restart: %v", err)
	}
	if note != "survives restart" {
		t.Fatalf("note = %q, want %q", note, "survives restart")
	}
	conn.Close(ctx)

	if err := c2.Stop(ctx); err != nil {
		t.Fatalf("Stop after restart: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid still present after Stop (err=%v)", err)
	}
}

func TestBinDirEnvOverride(t *testing.T) {
	empty := t.TempDir()
	t.Setenv(binEnv, empty)
	if _, err := BinDir(); err == nil {
		t.Fatalf("BinDir accepted %s without initdb", empty)
	}

	fake := t.TempDir()
	if err := os.WriteFile(filepath.Join(fake, "initdb"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(binEnv, fake)
	got, err := BinDir()
	if err != nil {
		t.Fatalf("BinDir: %v", err)
	}
	if got != fake {
		t.Fatalf("BinDir = %s, want %s", got, fake)
	}
}

func TestVersionOrder(t *testing.T) {
	a := "/usr/lib/postgresql/9.6/bin"
	b := "/usr/lib/postgresql/10/bin"
	c := "/usr/lib/postgresql/15/bin"
	if !versionLess(a, b) || !versionLess(b, c) || versionLess(c, b) {
		t.Fatal("versions not ordered numerically")
	}
}

func mustExec(t *testing.T, ctx context.Context, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
