package backup

import (
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
)

// The journal keeps one entry per tenant, survives a torn last line, and
// only grows.
func TestErasureJournal(t *testing.T) {
	r := &Repo{Dir: t.TempDir()}
	if got, err := r.Erasures(); err != nil || len(got) != 0 {
		t.Fatalf("empty journal = %v, %v", got, err)
	}
	a, b := uuid.New(), uuid.New()
	at := time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)
	if err := r.AppendErasures([]Erasure{{TenantID: a, ErasedAt: at, Documents: []string{"ab"}}}); err != nil {
		t.Fatal(err)
	}
	// A crash mid-append leaves a torn line.
	f, err := os.OpenFile(r.JournalPath(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"tenant_id":"`)
	f.Close()
	if err := r.AppendErasures([]Erasure{{TenantID: b, ErasedAt: at}, {TenantID: a, ErasedAt: at.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	got, err := r.Erasures()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TenantID != a || !got[0].ErasedAt.Equal(at) || len(got[0].Documents) != 1 || got[1].TenantID != b {
		t.Errorf("journal = %+v, want a (first entry) then b", got)
	}
	if fi, err := os.Stat(r.JournalPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode = %v (%v), want 0600", fi.Mode(), err)
	}
}
