package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	opts := Options{Dir: dir, Fsync: false, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}

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

// Processes that share a cluster attach to one server, and only the last one
// to stop stops it. (Each Start opens the lock files anew, so two Clusters of
// one process lock each other out as two processes would.)
func TestSharedClusterLastUserStopsIt(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "postgres")
	opts := Options{Dir: dir, Log: slog.New(slog.NewTextHandler(t.Output(), nil))}

	first, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.Stop(context.Background()) })
	pid := mustPostmasterPID(t, dir)
	second, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("second Start beside a running one: %v", err)
	}
	t.Cleanup(func() { _ = second.Stop(context.Background()) })
	if second.URL() != first.URL() {
		t.Fatalf("second Start = %s, want the running server %s", second.URL(), first.URL())
	}
	if got := mustPostmasterPID(t, dir); got != pid {
		t.Fatalf("second Start restarted the server: postmaster %d, was %d", got, pid)
	}

	// The starter stops first: the server stays up for the other.
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, second.URL(), "SELECT 1")
	third, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = third.Stop(context.Background()) })
	if third.URL() != first.URL() || mustPostmasterPID(t, dir) != pid {
		t.Fatal("a Start after the starter stopped did not attach to the running server")
	}
	if err := second.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, third.URL(), "SELECT 1")

	// The exclusive use waits for the last user.
	if _, err := AcquireExclusive(ctx, opts); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "stop `assetanchor serve`") {
		t.Fatalf("AcquireExclusive beside a user = %v, want ErrInUse naming serve", err)
	}
	if err := third.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mustBeStopped(t, ctx, dir, pid, third.URL())

	excl, err := AcquireExclusive(ctx, opts)
	if err != nil {
		t.Fatalf("AcquireExclusive with nobody using the cluster: %v", err)
	}
	if _, err := Start(ctx, opts); err == nil || !strings.Contains(err.Error(), "to itself") {
		t.Fatalf("Start while the cluster is held exclusively = %v, want a refusal", err)
	}
	if err := excl.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("Start after Release: %v", err)
	}
	if err := again.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A server whose process died is a leftover: with nobody holding the lock,
// Start stops it and starts its own.
func TestStartStopsALeftoverServer(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "postgres")
	opts := Options{Dir: dir}
	orphan, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = orphan.Stop(context.Background()) })
	pid := mustPostmasterPID(t, dir)
	orphan.usage.Close() // as when its process is killed: the kernel drops the lock

	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	if got := mustPostmasterPID(t, dir); got == pid {
		t.Fatal("Start attached to a server nobody holds instead of replacing it")
	}
	mustExec(t, ctx, c.URL(), "SELECT 1")
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mustBeStopped(t, ctx, dir, pid, c.URL())
}

// Many users starting and stopping at once never stop the server under one
// another, and the last one stops it.
func TestConcurrentUsersKeepTheServer(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "postgres")
	opts := Options{Dir: dir}
	var wg sync.WaitGroup
	errs := make(chan error, 4*3)
	for range 4 {
		wg.Go(func() {
			for range 3 {
				c, err := Start(ctx, opts)
				if err != nil {
					errs <- err
					return
				}
				conn, err := pgx.Connect(ctx, c.URL())
				if err == nil {
					_, err = conn.Exec(ctx, "SELECT pg_sleep(0.05)")
					conn.Close(ctx)
				}
				if err != nil {
					errs <- fmt.Errorf("query while using the cluster: %w", err)
				}
				if err := c.Stop(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid after every user stopped: %v, want none", err)
	}
}

func mustPostmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// mustBeStopped fails unless the server is gone: no postmaster.pid, no
// process pid, no connection.
func mustBeStopped(t *testing.T, ctx context.Context, dir string, pid int, dsn string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid still present: %v", err)
	}
	// It removes postmaster.pid just before it exits.
	for deadline := time.Now().Add(10 * time.Second); processAlive(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		conn.Close(ctx)
		t.Fatal("server still accepts connections")
	}
}

// processAlive reports whether pid runs (a zombie waiting for its reaper does not).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// Settings reach the server, a value with spaces whole (archive_command
// is one), and the accessors describe the running server.
func TestStartWithSettings(t *testing.T) {
	if _, err := BinDir(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "postgres")
	c, err := Start(ctx, Options{Dir: dir, Settings: map[string]string{
		"archive_timeout": "77s", "application_name": "with spaces %p",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	conn, err := pgx.Connect(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var timeout, name string
	if err := conn.QueryRow(ctx, `SELECT current_setting('archive_timeout'), current_setting('application_name')`).Scan(&timeout, &name); err != nil {
		t.Fatal(err)
	}
	if timeout != "77s" || name != "with spaces %p" {
		t.Errorf("archive_timeout = %q, application_name = %q; want 77s and the value with spaces", timeout, name)
	}
	if c.Dir() != dir || c.Port() == 0 || c.SocketDir() == "" || c.User() != "assetanchor" || c.Password() == "" {
		t.Errorf("accessors: dir %q port %d socket %q user %q", c.Dir(), c.Port(), c.SocketDir(), c.User())
	}
	if _, err := Start(ctx, Options{Dir: filepath.Join(t.TempDir(), "pg"), Settings: map[string]string{"x": "it's"}}); err == nil {
		t.Error("a setting with a single quote was accepted")
	}
}
