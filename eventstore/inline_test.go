package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// counter is an inline projector that keeps one row per event in a table of its
// own, whose n must not be negative: an event whose data holds {"n": -1} makes
// PostgreSQL refuse the row, and {"fail": true} makes Project itself fail.
type counter struct{}

func MustCounterTable(t *testing.T, ctx context.Context, pool *pgxpool.Pool) {
	t.Helper()
	if _, err := pool.Exec(ctx, `CREATE TABLE projected (event_id text PRIMARY KEY, stream_id text NOT NULL,
		version bigint NOT NULL, n int NOT NULL CONSTRAINT projected_n_check CHECK (n >= 0), label text UNIQUE)`); err != nil {
		t.Fatal(err)
	}
}

var errProjectFailed = errors.New("project failed on purpose")

func (counter) Project(ctx context.Context, db eventstore.DB, events []eventstore.Event, batch *pgx.Batch) error {
	for _, e := range events {
		var data struct {
			N     int     `json:"n"`
			Label *string `json:"label"`
			Fail  bool    `json:"fail"`
		}
		if err := json.Unmarshal(e.Data, &data); err != nil {
			return err
		}
		if data.Fail {
			return errProjectFailed
		}
		batch.Queue(`INSERT INTO projected (event_id, stream_id, version, n, label) VALUES ($1, $2, $3, $4, $5)`,
			e.EventID.String(), e.Stream.String(), e.Version, data.N, data.Label)
	}
	return nil
}

// MustProjectedRows counts the counter's rows, and the events.
func MustProjectedRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) (rows, events int) {
	t.Helper()
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM projected), (SELECT count(*) FROM events)`).Scan(&rows, &events); err != nil {
		t.Fatal(err)
	}
	return rows, events
}

// An append projects inline: the rows are there when Append returns, in the
// same transaction; whatever refuses the projection refuses the append, and
// then neither the events nor any row are stored.
func TestAppendProjectsInline(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	MustCounterTable(t, ctx, pool)
	store := eventstore.NewPostgresStore(pool).WithProjector(counter{})
	stream := newStream("counter")
	label := "first"
	res := MustAppend(t, ctx, store, stream, 0, event("Counted", map[string]any{"n": 1, "label": label}), event("Counted", map[string]any{"n": 2}))
	if rows, events := MustProjectedRows(t, ctx, pool); rows != 2 || events != 2 {
		t.Fatalf("after one append of two events: %d rows, %d events; want 2 and 2", rows, events)
	}
	if res.Version != 2 || res.Checkpoint.Position == 0 || res.Checkpoint.TransactionID == 0 {
		t.Errorf("append result = %+v, want version 2 at the last event's place", res)
	}
	stored := MustReadStream(t, ctx, store, stream, time.Time{})
	if len(stored) != 2 || stored[1].Checkpoint() != res.Checkpoint {
		t.Errorf("stored %d events, the last at %+v; want 2, the last at %+v", len(stored), stored[len(stored)-1].Checkpoint(), res.Checkpoint)
	}
	MustAppend(t, ctx, store, stream, 2, event("Counted", map[string]any{"n": 3}))

	tests := []struct {
		name     string
		stream   eventstore.StreamID
		expected int64
		events   []eventstore.NewEvent
		check    func(*testing.T, error)
	}{
		{"a check", stream, 3, []eventstore.NewEvent{event("Counted", map[string]any{"n": 4}), event("Counted", map[string]any{"n": -1})},
			func(t *testing.T, err error) {
				var refused *eventstore.RefusedError
				if !errors.As(err, &refused) || refused.Table != "projected" || refused.Constraint != "projected_n_check" ||
					refused.Code != "23514" || refused.Conflict() {
					t.Errorf("append = %#v, want a RefusedError of projected_n_check (23514), no conflict", err)
				}
			}},
		{"a unique key, on a new stream", newStream("counter"), 0, []eventstore.NewEvent{event("Counted", map[string]any{"n": 1, "label": label})},
			func(t *testing.T, err error) {
				var refused *eventstore.RefusedError
				if !errors.As(err, &refused) || refused.Table != "projected" || refused.Code != "23505" || !refused.Conflict() {
					t.Errorf("append = %#v, want a RefusedError of a conflict (23505)", err)
				}
			}},
		{"the projector's own error", stream, 3, []eventstore.NewEvent{event("Counted", map[string]any{"fail": true})},
			func(t *testing.T, err error) {
				var refused *eventstore.RefusedError
				if !errors.Is(err, errProjectFailed) || errors.As(err, &refused) {
					t.Errorf("append = %v, want the projector's error, not a refusal", err)
				}
			}},
		{"a stale version", stream, 2, []eventstore.NewEvent{event("Counted", map[string]any{"n": 5})},
			func(t *testing.T, err error) {
				if !errors.Is(err, eventstore.ErrConcurrency) {
					t.Errorf("append = %v, want ErrConcurrency", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := store.Append(ctx, tt.stream, tt.expected, tt.events...)
			tt.check(t, err)
			if rows, events := MustProjectedRows(t, ctx, pool); rows != 3 || events != 3 {
				t.Errorf("after a refused append: %d rows, %d events; want 3 and 3", rows, events)
			}
		})
	}
	// Refused appends leave no gap: the stream continues at version 4.
	MustAppend(t, ctx, store, stream, 3, event("Counted", map[string]any{"n": 4}))
	if broken := MustVerify(t, ctx, store); len(broken) != 0 {
		t.Errorf("broken links after refused appends: %+v", broken)
	}
}

// Inside a unit of work every append and the caller's own statements are one
// transaction: all stay or none does, and nothing takes a second connection.
func TestInUnitIsOneTransaction(t *testing.T) {
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, 1) // a second connection would wait for ever
	MustCounterTable(t, ctx, pool)
	store := eventstore.NewPostgresStore(pool).WithProjector(counter{})
	if store.InTransaction(ctx) {
		t.Error("InTransaction outside a unit = true")
	}
	if _, ok := eventstore.UnitTx(ctx); ok {
		t.Error("UnitTx outside a unit reports a transaction")
	}
	errUndo := errors.New("undo")
	a, b := newStream("counter"), newStream("counter")
	err := eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		if !store.InTransaction(ctx) {
			t.Error("InTransaction inside a unit = false")
		}
		tx, ok := eventstore.UnitTx(ctx)
		if !ok {
			t.Fatal("no transaction inside the unit")
		}
		MustAppend(t, ctx, store, a, 0, event("Counted", map[string]any{"n": 1}))
		MustAppend(t, ctx, store, b, 0, event("Counted", map[string]any{"n": 2}))
		var seen int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM projected`).Scan(&seen); err != nil || seen != 2 {
			t.Errorf("the unit's transaction sees %d rows (%v), want both appends' 2", seen, err)
		}
		// A nested unit joins the same transaction.
		return eventstore.InUnit(ctx, pool, func(inner context.Context) error {
			if got, _ := eventstore.UnitTx(inner); got != tx {
				t.Error("a nested unit has a transaction of its own")
			}
			return errUndo
		})
	})
	if !errors.Is(err, errUndo) {
		t.Fatalf("InUnit = %v, want the function's error", err)
	}
	if rows, events := MustProjectedRows(t, ctx, pool); rows != 0 || events != 0 {
		t.Errorf("after a unit that failed: %d rows, %d events; want none", rows, events)
	}

	err = eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		MustAppend(t, ctx, store, a, 0, event("Counted", map[string]any{"n": 1}))
		// A refused append inside the unit fails the unit as a whole.
		_, err := store.Append(ctx, b, 0, event("Counted", map[string]any{"n": -1}))
		var refused *eventstore.RefusedError
		if !errors.As(err, &refused) {
			t.Errorf("append of a refused row = %v, want a RefusedError", err)
		}
		return err
	})
	if err == nil {
		t.Fatal("InUnit with a refused append = nil, want its error")
	}
	if rows, events := MustProjectedRows(t, ctx, pool); rows != 0 || events != 0 {
		t.Errorf("after a unit with a refused append: %d rows, %d events; want none", rows, events)
	}

	if err := eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		MustAppend(t, ctx, store, a, 0, event("Counted", map[string]any{"n": 1}))
		MustAppend(t, ctx, store, b, 0, event("Counted", map[string]any{"n": 2}))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rows, events := MustProjectedRows(t, ctx, pool); rows != 2 || events != 2 {
		t.Errorf("after a unit that succeeded: %d rows, %d events; want 2 and 2", rows, events)
	}
}

// LockOutWriters waits for the writers in flight and holds off new ones until
// its transaction ends; ReadVisibleAfter then reads every event, where
// ReadAfter stops at a transaction still open elsewhere.
func TestLockOutWritersWaitsForWritersAndHoldsThemOff(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	early, late := newStream("writer"), newStream("writer")

	// A writer in flight: the swap waits for it.
	inFlight := make(chan struct{})
	release := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		writerDone <- eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
			if _, err := store.Append(ctx, early, 0, event("Written", map[string]any{})); err != nil {
				return err
			}
			close(inFlight)
			<-release
			return nil
		})
	}()
	<-inFlight
	locked := make(chan error, 1)
	lockTx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback(ctx)
	go func() { locked <- eventstore.LockOutWriters(ctx, lockTx) }()
	select {
	case err := <-locked:
		t.Fatalf("LockOutWriters returned (%v) while a writer is in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	appendLate := func() <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := store.Append(ctx, late, 0, event("Written", map[string]any{}))
			done <- err
		}()
		return done
	}
	close(release)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if err := <-locked; err != nil {
		t.Fatalf("LockOutWriters: %v", err)
	}

	// Locked out: a new writer waits until the lock's transaction ends.
	lateDone := appendLate()
	select {
	case err := <-lateDone:
		t.Fatalf("append returned (%v) while writers are locked out", err)
	case <-time.After(200 * time.Millisecond):
	}
	var events int
	if err := lockTx.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&events); err != nil || events != 1 {
		t.Errorf("the locking transaction sees %d events (%v), want the early writer's 1", events, err)
	}
	visible, err := store.WithDB(lockTx).ReadVisibleAfter(ctx, eventstore.Checkpoint{}, 10)
	if err != nil || len(visible) != 1 || visible[0].Stream != early {
		t.Errorf("ReadVisibleAfter under the lock = %d events (%v), want the early writer's", len(visible), err)
	}
	if err := lockTx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-lateDone; err != nil {
		t.Fatalf("append after the lock ended: %v", err)
	}
	if n := MustCountAllRows(t, ctx, pool); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

// ReadVisibleAfter reads what the caller's snapshot sees, also past a
// transaction still open: ReadAfter stops there.
func TestReadVisibleAfterPassesAnOpenTransaction(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	held, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Rollback(ctx)
	MustAppend(t, ctx, store.WithDB(held), newStream("held"), 0, event("Held", map[string]any{}))
	later := MustAppend(t, ctx, store, newStream("later"), 0, event("Later", map[string]any{}))
	if got := MustReadAfter(t, ctx, store, eventstore.Checkpoint{}, 10); len(got) != 0 {
		t.Errorf("ReadAfter past an open transaction = %d events, want none", len(got))
	}
	visible, err := store.ReadVisibleAfter(ctx, eventstore.Checkpoint{}, 10)
	if err != nil || len(visible) != 1 || visible[0].Checkpoint() != later.Checkpoint {
		t.Errorf("ReadVisibleAfter = %d events (%v), want the committed later one at %+v", len(visible), err, later.Checkpoint)
	}
	if visible, err := store.ReadVisibleAfter(ctx, later.Checkpoint, 10); err != nil || len(visible) != 0 {
		t.Errorf("ReadVisibleAfter(the last event) = %d events (%v), want none", len(visible), err)
	}
}

// AfterCommit runs its function once the unit commits, where a second
// connection sees the unit's writes; never after a unit that rolls back; and
// at once outside a unit.
func TestAfterCommit(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	MustCounterTable(t, ctx, pool)
	store := eventstore.NewPostgresStore(pool).WithProjector(counter{})

	ran := 0
	eventstore.AfterCommit(ctx, func(context.Context) { ran++ })
	if ran != 1 {
		t.Fatalf("AfterCommit outside a unit ran %d times, want once at once", ran)
	}

	ran = 0
	err := eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		MustAppend(t, ctx, store, newStream("counter"), 0, event("Counted", map[string]any{"n": 1}))
		eventstore.AfterCommit(ctx, func(context.Context) { ran++ })
		return errors.New("undo")
	})
	if err == nil || ran != 0 {
		t.Fatalf("after a unit that rolled back: err %v, ran %d; want an error and never", err, ran)
	}

	var seen []int
	err = eventstore.InUnit(ctx, pool, func(ctx context.Context) error {
		MustAppend(t, ctx, store, newStream("counter"), 0, event("Counted", map[string]any{"n": 1}))
		eventstore.AfterCommit(ctx, func(hookCtx context.Context) {
			if _, inUnit := eventstore.UnitTx(hookCtx); inUnit {
				t.Error("the function runs with the unit's context")
			}
			var rows int
			if err := pool.QueryRow(hookCtx, `SELECT count(*) FROM projected`).Scan(&rows); err != nil {
				t.Error(err)
			}
			seen = append(seen, rows)
		})
		if len(seen) != 0 {
			t.Error("AfterCommit inside a unit ran before the commit")
		}
		return nil
	})
	if err != nil || len(seen) != 1 || seen[0] != 1 {
		t.Errorf("after a unit that committed: err %v, ran seeing %v rows; want once, seeing 1", err, seen)
	}
}
