package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
)

// An erasure reaches the journal beside the backups as it commits, with or
// without an Idempotency-Key (a unit of work that commits after the handler),
// not at the next sync: without pgbackrest serve's backup job never syncs.
// A journal that cannot be written fails nothing: the erasure stands and the
// failure is logged at ERROR.
func TestErasureIsJournaledAsItCommits(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no pgbackrest: the backup job's sync never runs
	env, dataDir := backupEnv(t, nil)
	s := MustServe(t, env)
	api := apiClient{t: t, base: "http://" + s.addr, token: s.MustLogin(t)}
	repo := &backup.Repo{Dir: filepath.Join(dataDir, "backups")}
	journaled := func() map[uuid.UUID]bool {
		t.Helper()
		entries, err := repo.Erasures()
		if err != nil {
			t.Fatal(err)
		}
		out := map[uuid.UUID]bool{}
		for _, e := range entries {
			out[e.TenantID] = true
		}
		return out
	}
	tenant := func(email string) string {
		t.Helper()
		return api.must(http.MethodPost, "/api/v1/tenants",
			`{"first_name":"Ada","last_name":"Lovelace","email":"`+email+`"}`, http.StatusCreated)
	}

	plain, keyed, kept := tenant("a@example.com"), tenant("b@example.com"), tenant("c@example.com")
	api.must(http.MethodPost, "/api/v1/tenants/"+plain+"/erase", "", http.StatusOK)
	if got := journaled(); len(got) != 1 || !got[uuid.MustParse(plain)] {
		t.Fatalf("journal right after an erasure = %v, want exactly %s", got, plain)
	}

	req, err := http.NewRequest(http.MethodPost, api.base+"/api/v1/tenants/"+keyed+"/erase", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+api.token)
	req.Header.Set("Idempotency-Key", "erase-"+keyed)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("erase with an Idempotency-Key = %d, want 200", resp.StatusCode)
	}
	if got := journaled(); len(got) != 2 || !got[uuid.MustParse(keyed)] || got[uuid.MustParse(kept)] {
		t.Fatalf("journal right after an erasure in a unit of work = %v, want %s and %s", got, plain, keyed)
	}

	// A journal that cannot be written: the erasure still commits and answers.
	if err := os.Rename(repo.JournalPath(), repo.JournalPath()+".saved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(repo.JournalPath(), 0o700); err != nil {
		t.Fatal(err)
	}
	api.must(http.MethodPost, "/api/v1/tenants/"+kept+"/erase", "", http.StatusOK)
	if status, raw := api.do(http.MethodGet, "/api/v1/tenants/"+kept, "", nil); status != http.StatusOK || strings.Contains(string(raw), "c@example.com") {
		t.Errorf("tenant erased while the journal was unwritable: %d %s, want it erased", status, raw)
	}
	var logged bool
	for _, line := range strings.Split(s.stderr.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "record the erasure in the erasure journal") &&
			strings.Contains(line, kept) {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no ERROR logged for the failed journal write:\n%s", s.stderr.String())
	}
	// Erasing again records nothing new, and brings the journal up to date.
	if err := os.Remove(repo.JournalPath()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repo.JournalPath()+".saved", repo.JournalPath()); err != nil {
		t.Fatal(err)
	}
	api.must(http.MethodPost, "/api/v1/tenants/"+kept+"/erase", "", http.StatusOK)
	if got := journaled(); len(got) != 3 || !got[uuid.MustParse(kept)] {
		t.Errorf("journal after erasing again = %v, want all three tenants", got)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
}
