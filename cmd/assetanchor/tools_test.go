package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// toolEnv is the environment of the operator commands: the database and a
// private data dir (no master key in it).
func toolEnv(t *testing.T, url string) func(string) string {
	t.Helper()
	dataDir := t.TempDir()
	return func(key string) string {
		return map[string]string{"DATABASE_URL": url, "ASSETANCHOR_DATA_DIR": dataDir}[key]
	}
}

// MustRun runs the command and fails the test unless it succeeds; it returns stdout and stderr.
func MustRun(t *testing.T, env func(string) string, args ...string) (string, string) {
	t.Helper()
	stdout, stderr, err := runTool(env, args...)
	if err != nil {
		t.Fatalf("assetanchor %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

func runTool(env func(string) string, args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := run(ctx, args, env, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// MustFail runs the command and fails the test unless it fails with exit status
// 1 (not a usage error) and an error mentioning want.
func MustFail(t *testing.T, env func(string) string, want string, args ...string) string {
	t.Helper()
	stdout, stderr, err := runTool(env, args...)
	var usage usageError
	if err == nil || errors.As(err, &usage) || !strings.Contains(err.Error(), want) {
		t.Fatalf("assetanchor %s = %v, want a failure mentioning %q\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), err, want, stdout, stderr)
	}
	return stdout
}

// MustUsageError fails unless the command is refused as bad usage (exit status 2).
func MustUsageError(t *testing.T, env func(string) string, args ...string) {
	t.Helper()
	_, _, err := runTool(env, args...)
	var usage usageError
	if !errors.As(err, &usage) {
		t.Errorf("assetanchor %s = %v, want a usage error", strings.Join(args, " "), err)
	}
}

func MustPoolOf(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// toolFixture is a small history: an administrator (through the CLI) and a
// property registered, renamed and deactivated by it.
type toolFixture struct {
	adminID, propertyID uuid.UUID
	at                  []time.Time // recorded_at of the property's versions 1..3
}

func MustToolFixture(t *testing.T, env func(string) string, pool *pgxpool.Pool) toolFixture {
	t.Helper()
	ctx := context.Background()
	MustRun(t, env, "users", "create-admin", "--email", "root@example.com", "--password", "a long enough password")
	var f toolFixture
	var stream string
	if err := pool.QueryRow(ctx, `SELECT stream_id FROM events WHERE event_type = 'UserRegistered'`).Scan(&stream); err != nil {
		t.Fatal(err)
	}
	admin, err := eventstore.ParseStreamID(stream)
	if err != nil {
		t.Fatal(err)
	}
	f.adminID, f.propertyID = admin.ID, uuid.New()
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{})
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &f.adminID, IPAddress: "192.0.2.7"})
	details := domain.PropertyDetails{Name: "Harbor View", Address: "9 Quay", City: "Astoria", State: "OR",
		ZipCode: "97103", PropertyType: domain.PropertyResidential}
	property := eventstore.StreamID{Type: domain.PropertyStreamType, ID: f.propertyID}
	renamed := details
	renamed.Name = "Harbor View North"
	for i, e := range []domain.Event{
		&domain.PropertyRegistered{PropertyID: f.propertyID, OwnerID: &f.adminID, Status: domain.PropertyActive, Details: details},
		&domain.PropertyDetailsChanged{Details: renamed},
		&domain.PropertyStatusChanged{From: domain.PropertyActive, To: domain.PropertyInactive},
	} {
		if _, err := store.Append(ctx, property, int64(i), eventstore.NewEvent{Type: e.EventType(), Data: e}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT recorded_at FROM events WHERE stream_id = $1 ORDER BY version`, property.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		f.at = append(f.at, at.UTC())
	}
	if len(f.at) != 3 || !f.at[0].Before(f.at[1]) {
		t.Fatalf("property versions recorded at %v, want three increasing times", f.at)
	}
	return f
}

// MustChecksums returns each table's row count and an md5 of its rows.
func MustChecksums(t *testing.T, pool *pgxpool.Pool, tables []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range tables {
		var sum string
		if err := pool.QueryRow(context.Background(), `SELECT count(*) || ' rows ' ||
			md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM `+table+` t`).Scan(&sum); err != nil {
			t.Fatalf("checksum %s: %v", table, err)
		}
		out[table] = sum
	}
	return out
}

func TestProjectionsRebuildAndVerifyCommands(t *testing.T) {
	url := dbtest.MustURL(t)
	env := toolEnv(t, url)
	pool := MustPoolOf(t, url)
	f := MustToolFixture(t, env, pool)

	stdout, stderr := MustRun(t, env, "projections", "rebuild", "relational")
	if !strings.Contains(stdout, "rebuilt relational: 4 events") {
		t.Errorf("rebuild stdout = %q, want 4 events rebuilt", stdout)
	}
	// Not a terminal: plain progress lines, no carriage returns.
	if !strings.Contains(stderr, "rebuild relational: ") || strings.Contains(stderr, "\r") {
		t.Errorf("rebuild progress on a non-terminal = %q, want plain lines", stderr)
	}
	var name string
	if err := pool.QueryRow(context.Background(), `SELECT name FROM properties WHERE id = $1`, f.propertyID).Scan(&name); err != nil || name != "Harbor View North" {
		t.Fatalf("property after rebuild = %q, %v", name, err)
	}
	tables := len(projections.ReadModelTables())
	stdout, _ = MustRun(t, env, "projections", "verify")
	// 1 user, 1 property, 4 audit rows.
	if want := fmt.Sprintf("identical: 6 rows in %d tables", tables); !strings.HasPrefix(stdout, want) {
		t.Errorf("verify = %q, want it to start %q", stdout, want)
	}

	if _, err := pool.Exec(context.Background(), `UPDATE users SET first_name = 'Mallory' WHERE id = $1`, f.adminID); err != nil {
		t.Fatal(err)
	}
	stdout = MustFail(t, env, "differs from a rebuild in 1 row", "projections", "verify")
	if !strings.Contains(stdout, "users id="+f.adminID.String()) || !strings.Contains(stdout, "Mallory") {
		t.Errorf("verify output does not name the tampered row:\n%s", stdout)
	}
	MustRun(t, env, "projections", "rebuild", "--all")
	stdout, _ = MustRun(t, env, "projections", "verify")
	if !strings.HasPrefix(stdout, "identical: 6 rows") {
		t.Errorf("verify after the repairing rebuild = %q", stdout)
	}
	var left int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rebuild\_%'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d scratch schemas left (%v)", left, err)
	}

	for _, args := range [][]string{
		{"projections"}, {"projections", "bogus"}, {"projections", "rebuild"}, {"projections", "rebuild", "search"},
		{"projections", "rebuild", "relational", "--all"}, {"projections", "verify", "now"},
	} {
		MustUsageError(t, env, args...)
	}
	MustRun(t, env, "projections", "status") // still routed to ops.go
}

func TestHistoryCommand(t *testing.T) {
	url := dbtest.MustURL(t)
	env := toolEnv(t, url)
	pool := MustPoolOf(t, url)
	f := MustToolFixture(t, env, pool)
	id := f.propertyID.String()

	stdout, _ := MustRun(t, env, "history", "property", id)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 6 || lines[0] != "property-"+id || lines[1] != "" || !strings.HasPrefix(lines[2], "VERSION") {
		t.Fatalf("history table:\n%s", stdout)
	}
	for i, want := range []string{"PropertyRegistered", "PropertyDetailsChanged", "PropertyStatusChanged"} {
		row := lines[3+i]
		if !strings.HasPrefix(row, fmt.Sprint(i+1)) || !strings.Contains(row, want) || !strings.Contains(row, f.adminID.String()) ||
			!strings.Contains(row, f.at[i].Format(time.RFC3339Nano)) {
			t.Errorf("history row %d = %q, want version %d, %s by %s at %s", i+1, row, i+1, want, f.adminID, f.at[i].Format(time.RFC3339Nano))
		}
	}

	stdout, _ = MustRun(t, env, "history", "properties", id, "--json")
	var page struct {
		Items []struct {
			EventID    string          `json:"event_id"`
			Type       string          `json:"type"`
			Version    int64           `json:"version"`
			RecordedAt string          `json:"recorded_at"`
			ActorID    *uuid.UUID      `json:"actor_id"`
			Data       json.RawMessage `json:"data"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &page); err != nil {
		t.Fatalf("history --json: %v\n%s", err, stdout)
	}
	if len(page.Items) != 3 || page.Items[1].Type != "PropertyDetailsChanged" || page.Items[1].Version != 2 ||
		page.Items[1].ActorID == nil || *page.Items[1].ActorID != f.adminID || len(page.Items[1].EventID) != 26 ||
		page.Items[1].RecordedAt != f.at[1].Format(time.RFC3339Nano) || !strings.Contains(string(page.Items[1].Data), "Harbor View North") {
		t.Errorf("history --json = %s", stdout)
	}

	// As of the first version: one event and the state then.
	asOf := f.at[0].Format(time.RFC3339Nano)
	stdout, _ = MustRun(t, env, "history", "property", id, "--as-of", asOf)
	if strings.Contains(stdout, "PropertyDetailsChanged") || !strings.Contains(stdout, "STATE AT "+asOf) ||
		!strings.Contains(stdout, `"name": "Harbor View"`) || !strings.Contains(stdout, `"status": "active"`) {
		t.Errorf("history --as-of %s:\n%s", asOf, stdout)
	}
	stdout, _ = MustRun(t, env, "history", "property", id, "--json", "--as-of="+f.at[1].Format(time.RFC3339Nano))
	var state struct {
		Items []json.RawMessage `json:"items"`
		State struct {
			Name    string `json:"name"`
			Status  string `json:"status"`
			Version int    `json:"version"`
		} `json:"state"`
	}
	if err := json.Unmarshal([]byte(stdout), &state); err != nil {
		t.Fatal(err)
	}
	if len(state.Items) != 2 || state.State.Name != "Harbor View North" || state.State.Status != "active" || state.State.Version != 2 {
		t.Errorf("history --json --as-of the second version = %s", stdout)
	}
	// Nothing of the replay stayed in the read model: the live row is the latest.
	var name string
	if err := pool.QueryRow(context.Background(), `SELECT name FROM properties WHERE id = $1`, f.propertyID).Scan(&name); err != nil || name != "Harbor View North" {
		t.Errorf("property after history --as-of = %q (%v), want the live row", name, err)
	}

	// Secrets stay out, even for operators.
	stdout, _ = MustRun(t, env, "history", "user", f.adminID.String(), "--as-of", time.Now().Add(time.Minute).UTC().Format(time.RFC3339))
	if strings.Contains(stdout, "password_hash") || strings.Contains(stdout, "$argon2id") || !strings.Contains(stdout, "root@example.com") {
		t.Errorf("user history shows a password hash or lacks the user:\n%s", stdout)
	}

	MustFail(t, env, "no such entity at", "history", "property", id, "--as-of", f.at[0].Add(-time.Second).Format(time.RFC3339Nano))
	MustFail(t, env, "no such entity", "history", "lease", uuid.NewString())
	for _, args := range [][]string{
		{"history"}, {"history", "property"}, {"history", "building", id}, {"history", "property", "not-a-uuid"},
		{"history", "property", id, "--as-of"}, {"history", "property", id, "--as-of", "yesterday"},
		{"history", "property", id, "--verbose"}, {"history", "property", id, "extra"},
	} {
		MustUsageError(t, env, args...)
	}
}

func TestEventsExportImportCommands(t *testing.T) {
	urlA := dbtest.MustURL(t)
	envA := toolEnv(t, urlA)
	poolA := MustPoolOf(t, urlA)
	MustToolFixture(t, envA, poolA)
	MustRun(t, envA, "projections", "rebuild", "--all")
	tables := append(projections.ReadModelTables(), "unique_claims")
	want := MustChecksums(t, poolA, tables)
	if want["users"] == "0 rows d41d8cd98f00b204e9800998ecf8427e" || want["unique_claims"][0] == '0' {
		t.Fatalf("source database is empty: %v", want)
	}

	file := filepath.Join(t.TempDir(), "backup.ndjson")
	stdout, _ := MustRun(t, envA, "events", "export", file)
	if !strings.Contains(stdout, "exported 4 events and 1 guard rows to "+file) {
		t.Errorf("export stdout = %q", stdout)
	}
	info, err := os.Stat(file)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v; want mode 0600", info, err)
	}
	exported, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	toStdout, _ := MustRun(t, envA, "events", "export", "-")
	if toStdout != string(exported) {
		t.Errorf("export - wrote %d bytes, the file %d: they must be the same", len(toStdout), len(exported))
	}

	urlB := dbtest.MustURL(t)
	envB := toolEnv(t, urlB)
	stdout, _ = MustRun(t, envB, "events", "import", file)
	if !strings.Contains(stdout, "imported 4 events and 1 guard rows") || !strings.Contains(stdout, "read model rebuilt from 4 events") {
		t.Errorf("import stdout = %q", stdout)
	}
	// The import ends with the read model rebuilt: no rebuild of our own.
	poolB := MustPoolOf(t, urlB)
	got := MustChecksums(t, poolB, tables)
	for _, table := range tables {
		if got[table] != want[table] {
			t.Errorf("%s after export and import = %s, want %s", table, got[table], want[table])
		}
	}
	MustRun(t, envB, "audit", "verify")
	MustFail(t, envB, "not empty", "events", "import", file)

	// A tampered backup is refused and leaves the store empty.
	tampered := filepath.Join(t.TempDir(), "tampered.ndjson")
	if err := os.WriteFile(tampered, bytes.Replace(exported, []byte("Harbor View North"), []byte("Harbor View South"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	urlC := dbtest.MustURL(t)
	envC := toolEnv(t, urlC)
	MustFail(t, envC, "hash mismatch", "events", "import", tampered)
	var n int
	if err := MustPoolOf(t, urlC).QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Errorf("events after a refused import = %d (%v), want 0", n, err)
	}
	MustFail(t, envC, "open export", "events", "import", filepath.Join(t.TempDir(), "missing.ndjson"))
	for _, args := range [][]string{{"events"}, {"events", "export"}, {"events", "import", "-"}, {"events", "dump", file},
		{"events", "export", file, "extra"}} {
		MustUsageError(t, envC, args...)
	}
}

// A pg_dump restored into another cluster carries transaction ids from the old
// cluster's future: the horizon would hide every event. The tools detect it;
// an NDJSON export of the restored database, imported into a fresh one,
// re-stamps the log, and the rebuilt read model equals the original.
func TestPgDumpRestoreIsDetectedAndReimportRecovers(t *testing.T) {
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skip(err)
	}
	pgDump, errDump := exec.LookPath("pg_dump")
	pgRestore, errRestore := exec.LookPath("pg_restore")
	if errDump != nil || errRestore != nil {
		t.Skip("pg_dump and pg_restore are needed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	urlA := dbtest.MustURL(t)
	envA := toolEnv(t, urlA)
	poolA := MustPoolOf(t, urlA)
	f := MustToolFixture(t, envA, poolA)
	MustRun(t, envA, "projections", "rebuild", "--all")
	tables := projections.ReadModelTables()
	want := MustChecksums(t, poolA, tables)

	dump := filepath.Join(t.TempDir(), "a.dump")
	if out, err := exec.CommandContext(ctx, pgDump, "--format=custom", "--file="+dump, "--dbname="+urlA).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(t.TempDir(), "restored")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	restored := cluster.URL()
	poolR := MustPoolOf(t, restored)
	// Roles belong to the cluster: a restore needs them first (pg_dumpall --globals-only).
	if _, err := poolR.Exec(ctx, `CREATE ROLE assetanchor_reader NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(ctx, pgRestore, "--no-owner", "--exit-on-error", "--dbname="+restored, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	stalled, err := eventstore.HorizonStalled(ctx, poolR)
	if err != nil || !stalled {
		t.Fatalf("HorizonStalled after pg_restore into a fresh cluster = %v, %v; want true (source ids are ahead)", stalled, err)
	}
	envR := toolEnv(t, restored)
	MustFail(t, envR, "ahead of this PostgreSQL cluster", "projections", "rebuild", "--all")
	MustFail(t, envR, "ahead of this PostgreSQL cluster", "projections", "verify")
	MustFail(t, envR, "ahead of this PostgreSQL cluster", "serve")
	// Reading by stream needs no horizon: history works, and warns.
	stdout, stderr := MustRun(t, envR, "history", "property", f.propertyID.String())
	if !strings.Contains(stdout, "PropertyStatusChanged") || !strings.Contains(stderr, "warning:") {
		t.Errorf("history on the restored database: stdout %q stderr %q", stdout, stderr)
	}

	file := filepath.Join(t.TempDir(), "restamp.ndjson")
	MustRun(t, envR, "events", "export", file)
	urlC := dbtest.MustURL(t)
	envC := toolEnv(t, urlC)
	MustRun(t, envC, "events", "import", file)
	poolC := MustPoolOf(t, urlC)
	if stalled, err := eventstore.HorizonStalled(ctx, poolC); err != nil || stalled {
		t.Fatalf("HorizonStalled after the re-stamping import = %v, %v; want false", stalled, err)
	}
	MustRun(t, envC, "projections", "rebuild", "--all")
	got := MustChecksums(t, poolC, tables)
	for _, table := range tables {
		if got[table] != want[table] {
			t.Errorf("%s after restore and re-import = %s, want %s", table, got[table], want[table])
		}
	}
	stdout, _ = MustRun(t, envC, "projections", "verify")
	if !strings.HasPrefix(stdout, "identical: 6 rows") {
		t.Errorf("verify after recovery = %q", stdout)
	}
}
