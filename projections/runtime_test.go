package projections_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// syncBuffer collects the runtime's log lines, to show them when a wait fails.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningRuntime is a relational projection runtime running in a goroutine.
type runningRuntime struct {
	pool   *pgxpool.Pool
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// MustStartRuntime runs the relational projector through watermill until Stop or
// the end of the test.
func MustStartRuntime(tb testing.TB, pool *pgxpool.Pool) *runningRuntime {
	tb.Helper()
	r := &runningRuntime{pool: pool, log: &syncBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- projections.NewRuntime(projections.RelationalName, pool, projections.Relational{}, logger).Run(ctx)
	}()
	tb.Cleanup(func() { r.Stop(tb) })
	return r
}

// Stop ends the runtime and waits until Run has returned.
func (r *runningRuntime) Stop(tb testing.TB) {
	tb.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				tb.Errorf("runtime Run = %v, want nil on a clean stop", err)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("runtime did not stop within 30s; log:\n%s", r.log)
		}
	})
}

// MustWaitFor waits until the runtime has applied the event at cp.
func (r *runningRuntime) MustWaitFor(tb testing.TB, cp eventstore.Checkpoint) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := projections.NewCheckpoints(r.pool).WaitFor(ctx, projections.RelationalName, cp); err != nil {
		got, _ := projections.NewCheckpoints(r.pool).Read(context.Background(), projections.RelationalName)
		tb.Fatalf("wait for %+v: %v (checkpoint at %+v); runtime log:\n%s", cp, err, got, r.log)
	}
	if log := r.log.String(); log != "" {
		tb.Errorf("runtime logged warnings or errors:\n%s", log)
	}
}

func TestRebuildGivesIdenticalRows(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)

	first := MustStartRuntime(t, pool)
	first.MustWaitFor(t, f.last.Checkpoint)
	MustReadModelOf(t, ctx, pool, f)
	MustCheckpoint(t, ctx, pool, f.last.Checkpoint, f.events)
	want, wantCheckpoint := MustSnapshot(t, ctx, pool), checkpointRow(t, ctx, pool)
	first.Stop(t)

	MustWipeReadModel(t, ctx, pool)
	second := MustStartRuntime(t, pool)
	second.MustWaitFor(t, f.last.Checkpoint)
	MustCheckpoint(t, ctx, pool, f.last.Checkpoint, f.events)
	MustSameRows(t, MustSnapshot(t, ctx, pool), want)
	if got := checkpointRow(t, ctx, pool); got != wantCheckpoint {
		t.Errorf("checkpoint after rebuild = %s, want %s", got, wantCheckpoint)
	}
}

func TestRuntimeAppliesInCommitOrder(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	early, late := uuid.New(), uuid.New()
	register := func(id uuid.UUID) *domain.UserRegistered {
		return &domain.UserRegistered{UserID: id, Email: id.String() + "@example.com", PasswordHash: "h", Role: domain.RoleUser}
	}
	rt := MustStartRuntime(t, pool)

	// The early event takes its transaction id first but commits last.
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	held := MustAppend(t, ctx, store.WithDB(tx), eventstore.StreamID{Type: domain.UserStreamType, ID: early}, 0, register(early))
	after := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: late}, 0, register(late))
	if !after.Checkpoint.Reached(held.Checkpoint) || after.Checkpoint == held.Checkpoint {
		t.Fatalf("later append at %+v is not after the held one at %+v", after.Checkpoint, held.Checkpoint)
	}

	// While the early transaction is open, the later event is not projected:
	// projecting it would move the checkpoint past the early event, skipping it.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := projections.NewCheckpoints(pool).WaitFor(short, projections.RelationalName, after.Checkpoint); !errors.Is(err, projections.ErrProjectionLag) {
		t.Fatalf("WaitFor(later event) with an earlier transaction open = %v, want ErrProjectionLag", err)
	}
	if got := MustUserCount(t, ctx, pool); got != 0 {
		t.Errorf("%d users projected while the earlier transaction is open, want 0", got)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rt.MustWaitFor(t, after.Checkpoint)
	for _, id := range []uuid.UUID{early, late} {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("user %s: %d rows, want 1", id, n)
		}
	}
	MustCheckpoint(t, ctx, pool, after.Checkpoint, 2)
}

// MustUserCount counts users rows.
func MustUserCount(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) int {
	tb.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestWaitForTimesOut(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	res := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.SessionStreamType, ID: uuid.New()}, 0,
		&domain.SessionRevoked{Reason: "never projected"})
	checkpoints := projections.NewCheckpoints(pool)

	tests := []struct {
		name       string
		checkpoint bool // whether the projector's checkpoint row exists
	}{{"projector never started", false}, {"projector started, event not applied", true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.checkpoint {
				MustCreateCheckpoint(t, ctx, pool)
			}
			short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			err := checkpoints.WaitFor(short, projections.RelationalName, res.Checkpoint)
			if !errors.Is(err, projections.ErrProjectionLag) {
				t.Errorf("WaitFor = %v, want ErrProjectionLag", err)
			}
			// It gives up only when its context ends, not before.
			if short.Err() == nil {
				t.Error("WaitFor returned ErrProjectionLag before its context ended")
			}
		})
	}

	t.Run("the zero checkpoint is always reached", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := checkpoints.WaitFor(done, projections.RelationalName, eventstore.Checkpoint{}); err != nil {
			t.Errorf("WaitFor(zero checkpoint) = %v, want nil", err)
		}
	})
}

func TestLag(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	checkpoints := projections.NewCheckpoints(pool)

	lag, err := checkpoints.Lag(ctx, projections.RelationalName)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Events != int64(f.events) {
		t.Errorf("lag before the projector ever ran = %d events, want %d", lag.Events, f.events)
	}
	if lag.Seconds <= 0 || lag.Seconds > 60 {
		t.Errorf("lag before the projector ever ran = %gs, want the age of the first event (0 < s < 60)", lag.Seconds)
	}

	// Started but not yet applied anything: still every event behind.
	MustCreateCheckpoint(t, ctx, pool)
	lag, err = checkpoints.Lag(ctx, projections.RelationalName)
	if err != nil {
		t.Fatal(err)
	}
	if lag.Events != int64(f.events) {
		t.Errorf("lag with a fresh checkpoint = %d events, want %d", lag.Events, f.events)
	}

	rt := MustStartRuntime(t, pool)
	rt.MustWaitFor(t, f.last.Checkpoint)
	lag, err = checkpoints.Lag(ctx, projections.RelationalName)
	if err != nil {
		t.Fatal(err)
	}
	if lag != (projections.Lag{}) {
		t.Errorf("lag after the projector caught up = %+v, want zero", lag)
	}
}
