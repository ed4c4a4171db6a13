package eventstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// append_events takes the writers' lock itself; its key is written in the
// migration as a number and must be this package's.
func TestAppendEventsTakesTheWritersLock(t *testing.T) {
	pool := dbtest.MustPool(t)
	var def string
	if err := pool.QueryRow(context.Background(), `SELECT pg_get_functiondef('append_events'::regproc)`).Scan(&def); err != nil {
		t.Fatal(err)
	}
	want := "pg_advisory_xact_lock_shared(" + strconv.FormatInt(writersLockKey, 10) + ")"
	if !strings.Contains(def, want) {
		t.Errorf("append_events does not take %s:\n%s", want, def)
	}
}
