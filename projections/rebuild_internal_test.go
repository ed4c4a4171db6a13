package projections

import (
	"context"
	"strings"
	"testing"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// The replay's guard against writing live tables names a public table the
// transaction wrote, and ignores tables that other sessions create meanwhile (a
// new audit_logs partition from the daily check).
func TestLiveWritesNameWrittenTablesOnly(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // nothing of it may stay
	before, err := liveWrites(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT create_audit_partition('2199-01-01')`); err != nil {
		t.Fatal(err)
	}
	if err := checkNoLiveWrites(ctx, tx, before); err != nil {
		t.Errorf("a partition created by another session = %v, want no complaint", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE public.unlisted (id int); INSERT INTO public.unlisted VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	if err := checkNoLiveWrites(ctx, tx, before); err == nil || !strings.Contains(err.Error(), "(unlisted)") {
		t.Errorf("a write to a public table = %v, want it named", err)
	}
}
