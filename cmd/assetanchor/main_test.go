package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// serve starts on port 0, bootstraps the given admin, answers /healthz and
// /readyz, and stops cleanly when its context ends.
func TestServeStartsAndStops(t *testing.T) {
	url := dbtest.MustURL(t)
	dataDir := t.TempDir()
	cfg := loadConfig(func(key string) string {
		return map[string]string{
			"DATABASE_URL":               url,
			"ASSETANCHOR_DATA_DIR":       dataDir, // the generated master key goes there
			"ASSETANCHOR_ADDR":           "127.0.0.1:0",
			"ASSETANCHOR_ADMIN_EMAIL":    "boot@example.com",
			"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		}[key]
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var stdout bytes.Buffer
	go func() { done <- serve(ctx, cfg, &stdout, io.Discard, func(addr string) { addrs <- addr }) }()

	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("serve ended before listening: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve did not start listening")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
	body := `{"email":"boot@example.com","password":"a long enough password"}`
	resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("login as the bootstrapped admin = %d, want 200", resp.StatusCode)
	}
	if strings.Contains(stdout.String(), "password") {
		t.Errorf("a given admin password must not be printed; stdout: %s", stdout.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestRunRefusesBadUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"bogus"}, {"migrate"}, {"migrate", "sideways"}, {"migrate", "down", "x"}, {"users"}, {"users", "create-admin"}} {
		err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("run %q = %v, want a usage error", args, err)
		}
	}
}

func TestAuditVerifyAndProjectionStatus(t *testing.T) {
	url := dbtest.MustURL(t)
	env := func(key string) string { return map[string]string{"DATABASE_URL": url}[key] }
	var out bytes.Buffer
	if err := run(context.Background(), []string{"users", "create-admin", "--email", "a@example.com", "--password", "long enough password"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"audit", "verify"}, env, &out, io.Discard); err != nil {
		t.Fatalf("audit verify on an intact log: %v (%s)", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"projections", "status"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "relational") || !strings.Contains(out.String(), "inline") {
		t.Errorf("projections status does not show the inline read model:\n%s", out.String())
	}

	// Tamper with the log behind the application's back.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `SET session_replication_role = replica;
		UPDATE events SET payload = jsonb_set(payload, '{role}', '"user"') WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(context.Background(), []string{"audit", "verify"}, env, &out, io.Discard)
	if err == nil {
		t.Fatal("audit verify passed a tampered log")
	}
	if !strings.Contains(out.String(), "BROKEN user-") || !strings.Contains(out.String(), "version 1") {
		t.Errorf("audit verify did not name the broken stream and version:\n%s", out.String())
	}
}

// serve refuses a database whose stored transaction ids are ahead of the
// cluster's (a pg_dump restored into another cluster): it names the remedy and
// writes nothing, not even the first administrator.
func TestServeRefusesAStalledHorizon(t *testing.T) {
	url := dbtest.MustURL(t)
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `INSERT INTO projector_checkpoints (projector, transaction_id)
		VALUES ('relational', (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8)`); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(func(key string) string {
		return map[string]string{"DATABASE_URL": url, "ASSETANCHOR_DATA_DIR": t.TempDir(), "ASSETANCHOR_ADDR": "127.0.0.1:0"}[key]
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout bytes.Buffer
	err = serve(ctx, cfg, &stdout, io.Discard, func(addr string) { t.Errorf("serve listens on %s on a stalled database", addr) })
	if err == nil || !strings.Contains(err.Error(), "ahead of this PostgreSQL cluster") ||
		!strings.Contains(err.Error(), "events export") || !strings.Contains(err.Error(), "events import") {
		t.Fatalf("serve on a stalled database = %v, want a refusal naming the export and import", err)
	}
	var events int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&events); err != nil || events != 0 {
		t.Errorf("serve wrote %d events before refusing (%v)", events, err)
	}
}
