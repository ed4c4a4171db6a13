package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The PITR span starts at the first backup after the last gap in the archived
// WAL (expired past the window), not at the oldest archived segment.
func TestWindowStartsAfterTheLastWALGap(t *testing.T) {
	r := &Repo{Dir: t.TempDir()}
	archive := func(segments ...string) {
		t.Helper()
		for _, s := range segments {
			dir := filepath.Join(r.RepoPath(), "archive", Stanza, "15-1", s[:16])
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, s+"-"+strings.Repeat("a", 40)+".lz4"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// F's consistency WAL (…05, …06) is kept; the WAL up to I's start is
	// expired; from I on (…0FE) it is continuous, across a log boundary and
	// onto timeline 2 after a restore.
	archive("000000010000000000000005", "000000010000000000000006",
		"0000000100000000000000FE", "0000000100000000000000FF", "000000010000000100000000",
		"000000020000000100000001", "000000020000000100000002")
	// Not segments: ignored.
	if err := os.WriteFile(filepath.Join(r.RepoPath(), "archive", Stanza, "15-1", "00000002.history"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	info := Info{
		Sets: []Set{
			{Label: "F", Type: Full, Stop: at, WALStart: "000000010000000000000005"},
			{Label: "I", Type: Incremental, Prior: "F", Stop: at.Add(time.Hour), WALStart: "0000000100000000000000FE"},
		},
		WALMin: "000000010000000000000005", WALMax: "000000020000000100000002",
		WALMaxTime: at.Add(2 * time.Hour),
	}
	info.WALFrom = r.walFrom("15-1", info.WALMax)
	if info.WALFrom != "0000000100000000000000FE" {
		t.Fatalf("walFrom = %q, want 0000000100000000000000FE", info.WALFrom)
	}
	from, to := info.Window()
	if want := at.Add(time.Hour + time.Second); !from.Equal(want) || !to.Equal(at.Add(2*time.Hour)) {
		t.Errorf("window = %s to %s, want %s to %s", from, to, want, at.Add(2*time.Hour))
	}

	// Without a gap, the span starts at the oldest backup.
	archive("000000010000000000000007")
	for i := 8; i < 0xFE; i++ {
		archive(fmt.Sprintf("00000001000000000000%04X", i))
	}
	info.WALFrom = r.walFrom("15-1", info.WALMax)
	if from, _ := info.Window(); !from.Equal(at.Add(time.Second)) {
		t.Errorf("window without a gap starts %s, want %s (F's end)", from, at.Add(time.Second))
	}
	// A newest segment missing from the archive: no span.
	if got := r.walFrom("15-1", "000000020000000100000009"); got != "" {
		t.Errorf("walFrom of an unarchived segment = %q, want none", got)
	}
}
