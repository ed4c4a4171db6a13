package backup

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// Erasure is one line of the erasure journal: a tenant whose personal data
// was erased, when, and the archived document bytes purged with it.
type Erasure struct {
	TenantID  uuid.UUID `json:"tenant_id"`
	ErasedAt  time.Time `json:"erased_at"`
	Documents []string  `json:"documents,omitempty"`
}

// JournalPath is the erasure journal: outside the database and beside the
// backups, so that a restore to before an erasure finds it and erases again.
func (r *Repo) JournalPath() string { return filepath.Join(r.Dir, "erasures.jsonl") }

// Erasures reads the journal, one entry per tenant (the first), in file order.
func (r *Repo) Erasures() ([]Erasure, error) {
	f, err := os.Open(r.JournalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the erasure journal: %w", err)
	}
	defer f.Close()
	var out []Erasure
	seen := map[uuid.UUID]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e Erasure
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A torn last line (a crash mid-append) is skipped: the next sync
			// from the database writes the entry again.
			continue
		}
		if e.TenantID != uuid.Nil && !seen[e.TenantID] {
			seen[e.TenantID] = true
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read the erasure journal: %w", err)
	}
	return out, nil
}

// AppendErasures adds entries to the journal and syncs it to disk.
func (r *Repo) AppendErasures(entries []Erasure) error {
	if len(entries) == 0 {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return fmt.Errorf("append to the erasure journal: %w", err)
	}
	f, err := os.OpenFile(r.JournalPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("append to the erasure journal: %w", err)
	}
	var b []byte
	// After a torn last line (a crash mid-append), start on a fresh one.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if rf, err := os.Open(r.JournalPath()); err == nil {
			_, _ = rf.ReadAt(last, fi.Size()-1)
			rf.Close()
		}
		if last[0] != '\n' {
			b = append(b, '\n')
		}
	}
	for _, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			f.Close()
			return err
		}
		b = append(append(b, line...), '\n')
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("append to the erasure journal: %w", err)
	}
	return nil
}
