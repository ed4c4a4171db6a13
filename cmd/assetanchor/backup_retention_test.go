package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
)

// Retention against real pgBackRest: five backups (F1, I1 on it, F2, I2 and
// I3 on it), then serve's retention step with 1 daily full, no weekly or
// monthly, and a PITR window that reaches back to I2's end. Exactly F2, I2
// and I3 remain (F1 goes, taking I1 along); the WAL between F2 and I2 goes
// too, so the PITR span starts at I2 and a moment before it is refused; a
// moment inside the span restores.
func TestBackupRetention(t *testing.T) {
	needPgBackRest(t)
	env, _ := backupEnv(t, map[string]string{
		"ASSETANCHOR_BACKUP_KEEP_DAILY":   "1",
		"ASSETANCHOR_BACKUP_KEEP_WEEKLY":  "0",
		"ASSETANCHOR_BACKUP_KEEP_MONTHLY": "0",
		"ASSETANCHOR_BACKUP_PITR_WINDOW":  "1h",
	})
	started := time.Now()
	settings, err := loadConfig(env).backupSettings()
	if err != nil {
		t.Fatal(err)
	}
	if want := (backup.Policy{Daily: 1, PITR: time.Hour}); settings.policy != want {
		t.Fatalf("policy from the environment = %+v, want %+v", settings.policy, want)
	}
	repo := loadConfig(env).backupRepo(slog.New(slog.NewTextHandler(io.Discard, nil)))

	s := MustServe(t, env)
	api := apiClient{t: t, base: "http://" + s.addr, token: s.MustLogin(t)}
	take := func(flag string) backup.Set {
		t.Helper()
		MustRun(t, env, "backup", "create", flag)
		info, err := repo.Info(t.Context())
		if err != nil || len(info.Sets) == 0 {
			t.Fatalf("pgbackrest info after a backup: %v, %d sets", err, len(info.Sets))
		}
		return info.Sets[len(info.Sets)-1]
	}
	api.property("P1")
	f1 := take("--full")
	api.property("P2")
	i1 := take("--incremental")
	api.property("P3")
	f2 := take("--full")
	// pgBackRest times backups to the second: the gap is at least one.
	time.Sleep(1100 * time.Millisecond)
	api.property("P4")
	gap := time.Now().UTC()
	time.Sleep(1100 * time.Millisecond)
	i2 := take("--incremental")
	time.Sleep(1100 * time.Millisecond)
	api.property("P5")
	time.Sleep(300 * time.Millisecond)
	target := time.Now().UTC()
	time.Sleep(300 * time.Millisecond)
	api.property("P6")
	i3 := take("--incremental")
	if f1.Type != backup.Full || i1.Prior != f1.Label || f2.Type != backup.Full || i2.Prior != f2.Label || i3.Prior != i2.Label {
		t.Fatalf("backups are not the chain the test needs: %+v", []backup.Set{f1, i1, f2, i2, i3})
	}

	// The step serve runs after a backup, at a moment whose PITR window
	// reaches back exactly to I2's end.
	now := i2.Stop.Add(settings.policy.PITR)
	plan, info, err := applyRetention(t.Context(), repo, now, settings.policy)
	if err != nil {
		t.Fatalf("apply retention: %v", err)
	}
	wantKeep := []string{f2.Label, i2.Label, i3.Label}
	if !slices.Equal(plan.Keep, wantKeep) || !slices.Equal(plan.Expire, []string{f1.Label}) || plan.KeepWAL != 2 {
		t.Fatalf("plan = %+v, want keep %v, expire [%s], WAL of 2 backups", plan, wantKeep, f1.Label)
	}
	if got := labels(info.Sets); !slices.Equal(got, wantKeep) {
		t.Errorf("pgbackrest info after retention = %v, want %v", got, wantKeep)
	}
	for _, gone := range []string{f1.Label, i1.Label} {
		if _, err := os.Stat(filepath.Join(repo.RepoPath(), "backup", backup.Stanza, gone)); err == nil {
			t.Errorf("expired backup %s is still in the repository", gone)
		}
	}
	if info.WALMin < f2.WALStart {
		t.Errorf("oldest archived WAL %s is older than the oldest kept backup needs (%s)", info.WALMin, f2.WALStart)
	}
	from, _ := info.Window()
	if from.Before(i2.Stop) {
		t.Errorf("PITR span starts at %s, before I2's end %s: the WAL from F2 to I2 is expired", from, i2.Stop)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}

	listOut, _ := MustRun(t, env, "backup", "list")
	listed := regexp.MustCompile(`(?m)^(\d{8}-\d{6}F\S*)\s`).FindAllStringSubmatch(listOut, -1)
	var got []string
	for _, m := range listed {
		got = append(got, m[1])
	}
	if !slices.Equal(got, wantKeep) || !strings.Contains(listOut, "point-in-time recovery: from "+from.Format(time.RFC3339)) {
		t.Errorf("backup list after retention lists %v, want %v and the span from %s:\n%s", got, wantKeep, from.Format(time.RFC3339), listOut)
	}

	// A moment whose WAL is expired is refused before anything is touched.
	MustFail(t, env, "outside the span", "backup", "restore", "--to", gap.Format(time.RFC3339Nano))

	// A moment inside the kept WAL window comes back: from I2 and its WAL.
	restoreOut, restoreErr := MustRun(t, env, "backup", "restore", "--to", target.Format(time.RFC3339Nano))
	if !strings.Contains(restoreOut, "restore done") {
		t.Errorf("restore output:\n%s\nstderr:\n%s", restoreOut, restoreErr)
	}
	s = MustServe(t, env)
	api = apiClient{t: t, base: "http://" + s.addr, token: s.MustLogin(t)}
	names := "," + strings.Join(api.propertyNames(), ",") + ","
	for _, want := range []string{"P1", "P2", "P3", "P4", "P5"} {
		if !strings.Contains(names, ","+want+",") {
			t.Errorf("property %s is missing after the restore to T: %s", want, names)
		}
	}
	if strings.Contains(names, ",P6,") {
		t.Errorf("property P6, written after T, is back: %s", names)
	}
	if err := s.Stop(t); err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Logf("retention test took %s", time.Since(started).Round(time.Millisecond))
}

func labels(sets []backup.Set) []string {
	var out []string
	for _, s := range sets {
		out = append(out, s.Label)
	}
	return out
}
