package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
)

// needPgBackRest skips without pgbackrest, and fails when CI=true: there the
// project's set-up installs it, so missing is a broken set-up.
func needPgBackRest(t *testing.T) {
	t.Helper()
	if _, err := backup.Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and %v", err)
		}
		t.Skip(err)
	}
}

// backupEnv is the embedded default with the schedule off (the test takes
// its backups itself) and everything else as given.
func backupEnv(t *testing.T, more map[string]string) (func(string) string, string) {
	t.Helper()
	base, dataDir := embeddedEnv(t)
	return func(key string) string {
		if v, ok := more[key]; ok {
			return v
		}
		switch key {
		case "ASSETANCHOR_BACKUP_FULL_EVERY", "ASSETANCHOR_BACKUP_INCREMENTAL_EVERY":
			return "0"
		}
		return base(key)
	}, dataDir
}

// apiClient talks to a running serve as the administrator.
type apiClient struct {
	t     *testing.T
	base  string
	token string
}

func (c apiClient) do(method, path, contentType string, body io.Reader) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, raw
}

// must sends a JSON request, fails unless the status is want, and returns the
// answer's "id".
func (c apiClient) must(method, path, body string, want int) string {
	c.t.Helper()
	status, raw := c.do(method, path, "application/json", strings.NewReader(body))
	if status != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, status, want, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	id, _ := m["id"].(string)
	return id
}

func (c apiClient) property(name string) string {
	c.t.Helper()
	return c.must(http.MethodPost, "/api/v1/properties", `{"name":"`+name+`","address":"1 Elm St","city":"Springfield",
		"state":"IL","zip_code":"62701","property_type":"residential"}`, http.StatusCreated)
}

func (c apiClient) upload(entityType, entityID, name string, content []byte) string {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("entity_type", entityType)
	_ = mw.WriteField("entity_id", entityID)
	fw, _ := mw.CreateFormFile("file", name)
	_, _ = fw.Write(content)
	_ = mw.Close()
	status, raw := c.do(http.MethodPost, "/api/v1/documents", mw.FormDataContentType(), &body)
	if status != http.StatusCreated {
		c.t.Fatalf("upload %s = %d: %s", name, status, raw)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m["id"].(string)
}

func (c apiClient) propertyNames() []string {
	c.t.Helper()
	status, raw := c.do(http.MethodGet, "/api/v1/properties?limit=100", "", nil)
	if status != http.StatusOK {
		c.t.Fatalf("GET /properties = %d: %s", status, raw)
	}
	var page struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		c.t.Fatalf("GET /properties: %v: %s", err, raw)
	}
	var names []string
	for _, p := range page.Items {
		names = append(names, p.Name)
	}
	return names
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// The recovery drill of docs/operations.md, automated: write A, back up,
// upload a document, write B, note T, write C, delete the document, erase a
// tenant, restore to T. A, B and the document (same bytes) are back, C is not,
// the erased tenant stays erased, and both verifies pass.
func TestRecoveryDrill(t *testing.T) {
	needPgBackRest(t)
	env, dataDir := backupEnv(t, nil)
	started := time.Now()

	s := MustServe(t, env)
	api := apiClient{t: t, base: "http://" + s.addr, token: s.MustLogin(t)}
	api.property("A")
	tenant := api.must(http.MethodPost, "/api/v1/tenants",
		`{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"}`, http.StatusCreated)
	tenantFile := []byte("Ada's payslip, personal data " + strings.Repeat("p", 1000))
	api.upload("tenant", tenant, "payslip.txt", tenantFile)

	stdout, _ := MustRun(t, env, "backup", "create")
	if !strings.Contains(stdout, "(full)") {
		t.Errorf("the first backup is not full: %s", stdout)
	}

	// pgBackRest times backups to the second: T must be past the backup's end.
	time.Sleep(1100 * time.Millisecond)
	content := []byte("lease scan " + strings.Repeat("0123456789", 5000))
	doc := api.upload("property", api.property("Docs"), "scan.txt", content)
	api.property("B")
	time.Sleep(300 * time.Millisecond)
	target := time.Now().UTC()
	time.Sleep(300 * time.Millisecond)
	api.property("C")
	if status, raw := api.do(http.MethodDelete, "/api/v1/documents/"+doc, "", nil); status != http.StatusNoContent && status != http.StatusOK {
		t.Fatalf("DELETE document = %d: %s", status, raw)
	}
	api.must(http.MethodPost, "/api/v1/tenants/"+tenant+"/erase", "", http.StatusOK)

	// Each document's bytes reached the archive as they were stored.
	backupDir := filepath.Join(dataDir, "backups")
	if _, err := os.Stat(filepath.Join(backupDir, "documents", sha(content))); err != nil {
		t.Errorf("the uploaded document is not in the archive: %v", err)
	}
	if status, raw := api.do(http.MethodGet, "/readyz", "", nil); status != http.StatusOK ||
		strings.Contains(string(raw), `"backups"`) || !strings.Contains(string(raw), `"degraded":false`) {
		t.Errorf("/readyz with backups on = %d %s, want 200, not degraded, no backups complaint", status, raw)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}

	restoreOut, restoreErr := MustRun(t, env, "backup", "restore", "--to", target.Format(time.RFC3339Nano))
	for _, want := range []string{"erasures re-applied: 1 tenant(s)", "every stream's hash chain is intact", "identical:", "restore done"} {
		if !strings.Contains(restoreOut, want) {
			t.Errorf("restore output lacks %q:\n%s\nstderr:\n%s", want, restoreOut, restoreErr)
		}
	}

	s = MustServe(t, env)
	api = apiClient{t: t, base: "http://" + s.addr, token: s.MustLogin(t)}
	names := strings.Join(api.propertyNames(), ",")
	for _, want := range []string{"A", "B", "Docs"} {
		if !strings.Contains(","+names+",", ","+want+",") {
			t.Errorf("property %s is missing after the restore to T: %s", want, names)
		}
	}
	if strings.Contains(","+names+",", ",C,") {
		t.Errorf("property C, written after T, is back: %s", names)
	}
	status, got := api.do(http.MethodGet, "/api/v1/documents/"+doc+"/content", "", nil)
	if status != http.StatusOK || sha(got) != sha(content) {
		t.Errorf("document after the restore: %d, SHA-256 %s, want 200 and %s", status, sha(got), sha(content))
	}
	status, raw := api.do(http.MethodGet, "/api/v1/tenants/"+tenant, "", nil)
	if status != http.StatusOK || strings.Contains(string(raw), "Ada") || strings.Contains(string(raw), "ada@example.com") {
		t.Errorf("the erased tenant after the restore: %d %s, want it erased", status, raw)
	}
	if _, err := os.Stat(filepath.Join(backupDir, "documents", sha(tenantFile))); err == nil {
		t.Error("the erased tenant's file is still in the document archive")
	}
	if _, err := os.Stat(filepath.Join(dataDir, "documents", "sha256", sha(tenantFile)[:2], sha(tenantFile))); err == nil {
		t.Error("the erased tenant's file is back in the document store")
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}

	listOut, _ := MustRun(t, env, "backup", "list")
	if !strings.Contains(listOut, "full") || !strings.Contains(listOut, "point-in-time recovery: from ") {
		t.Errorf("backup list:\n%s", listOut)
	}
	t.Logf("drill took %s", time.Since(started).Round(time.Millisecond))
}

// With DATABASE_URL the database is the operator's: each backup command says so
// in one line, as a usage error (exit 2), and touches nothing.
func TestBackupCommandsRefuseAnOperatorsDatabase(t *testing.T) {
	env := func(key string) string {
		return map[string]string{"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none", "ASSETANCHOR_DATA_DIR": t.TempDir()}[key]
	}
	for _, args := range [][]string{{"backup", "create"}, {"backup", "list"}, {"backup", "restore", "--to", "2025-01-01T00:00:00Z"}} {
		_, _, err := runTool(env, args...)
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), "the database is the operator's") || strings.Contains(err.Error(), "\n") {
			t.Errorf("assetanchor %s with DATABASE_URL = %v, want one usage line saying the database is the operator's", strings.Join(args, " "), err)
		}
	}
}

// Without pgbackrest, serve still serves: /readyz stays 200, says degraded with
// a one-line reason, and PostgreSQL recycles its WAL (archive_command succeeds
// without pushing) rather than keep it until pg_wal fills.
func TestServeWithoutPgBackRestIsDegraded(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no pgbackrest anywhere
	env, dataDir := backupEnv(t, nil)
	s := MustServe(t, env)
	var body struct {
		Ready    bool              `json:"ready"`
		Degraded bool              `json:"degraded"`
		Checks   map[string]string `json:"checks"`
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, raw := s.get(t, "/readyz", "")
		if err := json.Unmarshal([]byte(raw), &body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz = %d %s, want 200", resp.StatusCode, raw)
		}
		if body.Degraded || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !body.Ready || !body.Degraded || !strings.Contains(body.Checks["backups"], "pgbackrest is not installed") ||
		strings.Contains(body.Checks["backups"], "\n") {
		t.Errorf("/readyz without pgbackrest = %+v, want ready, degraded, one line naming the missing pgbackrest", body)
	}

	pool := MustPoolOf(t, mustClusterURL(t, dataDir))
	ctx := t.Context()
	for range 3 {
		if _, err := pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS wal_filler (n int); INSERT INTO wal_filler VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		if err := switchAndWaitArchived(ctx, pool, 30*time.Second); err != nil {
			t.Fatalf("WAL is not let go without pgbackrest: %v", err)
		}
	}
	var failed int64
	if err := pool.QueryRow(ctx, `SELECT failed_count FROM pg_stat_archiver`).Scan(&failed); err != nil || failed != 0 {
		t.Errorf("archive_command failed %d times (%v), want never", failed, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "pgbackrest", "enabled")); err == nil {
		t.Error("WAL archiving is marked on without pgbackrest")
	}
	_, _, err := runTool(env, "backup", "create")
	if err == nil || !strings.Contains(err.Error(), "pgbackrest is not installed") {
		t.Errorf("backup create without pgbackrest = %v, want the missing pgbackrest named", err)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// mustClusterURL is the URL of the embedded cluster a running serve uses.
func mustClusterURL(t *testing.T, dataDir string) string {
	t.Helper()
	pw, err := os.ReadFile(filepath.Join(dataDir, "postgres.password"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	return "postgres://assetanchor:" + strings.TrimSpace(string(pw)) + "@127.0.0.1:" + strings.TrimSpace(lines[3]) + "/assetanchor?sslmode=disable"
}

func TestDueBackup(t *testing.T) {
	now := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	def := backupSettings{fullEvery: 24 * time.Hour, incrementalEvery: 6 * time.Hour}
	set := func(typ backup.Type, ago time.Duration) backup.Set {
		return backup.Set{Type: typ, Start: now.Add(-ago)}
	}
	tests := []struct {
		name     string
		sets     []backup.Set
		settings backupSettings
		want     backup.Type // "" for none due
	}{
		{"the first is full", nil, def, backup.Full},
		{"a full a day", []backup.Set{set(backup.Full, 24*time.Hour)}, def, backup.Full},
		{"nothing due", []backup.Set{set(backup.Full, 5*time.Hour)}, def, ""},
		{"an incremental every 6 h", []backup.Set{set(backup.Full, 7*time.Hour)}, def, backup.Incremental},
		{"counted from the last incremental", []backup.Set{set(backup.Full, 13*time.Hour), set(backup.Incremental, 7*time.Hour)}, def, backup.Incremental},
		{"not yet", []backup.Set{set(backup.Full, 13*time.Hour), set(backup.Incremental, 5*time.Hour)}, def, ""},
		{"schedule off", nil, backupSettings{}, ""},
		{"incrementals only", []backup.Set{set(backup.Full, 72*time.Hour)}, backupSettings{incrementalEvery: time.Hour}, backup.Incremental},
	}
	for _, tt := range tests {
		typ, due := dueBackup(backup.Info{Sets: tt.sets}, now, tt.settings)
		if due != (tt.want != "") || typ != tt.want {
			t.Errorf("%s: dueBackup = %q, %v; want %q", tt.name, typ, due, tt.want)
		}
	}
}
