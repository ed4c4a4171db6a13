package projections_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// recorder is an asynchronous consumer that records each event it is handed
// into its own table, in the runtime's transaction, so a rolled-back delivery
// leaves no row and a redelivery handled twice leaves two.
type recorder struct {
	table string
	mu    sync.Mutex
	fail  map[string]int // stream -> deliveries still to refuse
}

// MustRecorder creates the recorder's table.
func MustRecorder(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, name string) *recorder {
	tb.Helper()
	r := &recorder{table: pgx.Identifier{"consumed_" + name}.Sanitize(), fail: map[string]int{}}
	if _, err := pool.Exec(ctx, `CREATE TABLE `+r.table+` (n bigserial PRIMARY KEY, event_id text NOT NULL,
		transaction_id text NOT NULL, position bigint NOT NULL)`); err != nil {
		tb.Fatalf("create the recorder's table: %v", err)
	}
	return r
}

// refuse makes the next deliveries of stream's events fail, times in all.
func (r *recorder) refuse(stream eventstore.StreamID, times int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fail[stream.String()] = times
}

var errRefusedOnPurpose = errors.New("refused on purpose")

func (r *recorder) Apply(ctx context.Context, tx pgx.Tx, e eventstore.Event) error {
	if _, err := tx.Exec(ctx, `INSERT INTO `+r.table+` (event_id, transaction_id, position) VALUES ($1, $2, $3)`,
		e.EventID.String(), strconv.FormatUint(e.TransactionID, 10), e.Position); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[e.Stream.String()] > 0 {
		r.fail[e.Stream.String()]--
		return errRefusedOnPurpose // after the insert: the savepoint must undo it
	}
	return nil
}

// MustRecorded lists the events the recorder kept, in the order it was handed them.
func (r *recorder) MustRecorded(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) []string {
	tb.Helper()
	rows, err := pool.Query(ctx, `SELECT event_id FROM `+r.table+` ORDER BY n`)
	if err != nil {
		tb.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return ids
}

// runningRuntime is a projection runtime running in a goroutine.
type runningRuntime struct {
	name   string
	pool   *pgxpool.Pool
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// MustStartRuntime runs consumer under name through watermill until Stop or the
// end of the test. It returns once the consumer's checkpoint exists, so that
// what is appended afterwards is news to it.
func MustStartRuntime(tb testing.TB, pool *pgxpool.Pool, name string, consumer projections.Consumer) *runningRuntime {
	tb.Helper()
	r := &runningRuntime{name: name, pool: pool, log: &syncBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- projections.NewRuntime(name, pool, consumer, logger).Run(ctx)
	}()
	tb.Cleanup(func() { r.Stop(tb) })
	r.mustWait(tb, "its checkpoint to be created", func(ctx context.Context) (bool, error) {
		var exists bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projector_checkpoints WHERE projector = $1)`, name).Scan(&exists)
		return exists, err
	})
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

// mustWait polls until done reports true, for at most 30 seconds.
func (r *runningRuntime) mustWait(tb testing.TB, what string, done func(context.Context) (bool, error)) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		ok, err := done(ctx)
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("runtime %s: gave up waiting for %s (%v); runtime log:\n%s", r.name, what, err, r.log)
		case err := <-r.done:
			r.done <- err
			tb.Fatalf("runtime %s ended (%v) while waiting for %s; log:\n%s", r.name, err, what, r.log)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// MustWaitFor waits until the runtime's checkpoint has reached cp.
func (r *runningRuntime) MustWaitFor(tb testing.TB, cp eventstore.Checkpoint) {
	tb.Helper()
	checkpoints := projections.NewCheckpoints(r.pool)
	r.mustWait(tb, fmt.Sprintf("checkpoint %+v", cp), func(ctx context.Context) (bool, error) {
		got, err := checkpoints.Read(ctx, r.name)
		return got.Reached(cp), err
	})
}

// MustQuiet fails if the runtime logged a warning or an error.
func (r *runningRuntime) MustQuiet(tb testing.TB) {
	tb.Helper()
	if log := r.log.String(); log != "" {
		tb.Errorf("runtime logged warnings or errors:\n%s", log)
	}
}

// MustConsumerCheckpoint fails unless consumer name stands at cp having
// handled applied events.
func MustConsumerCheckpoint(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, name string, cp eventstore.Checkpoint, applied int) {
	tb.Helper()
	var txid string
	var position, n int64
	err := pool.QueryRow(ctx, `SELECT transaction_id::text, position, events_applied
		FROM projector_checkpoints WHERE projector = $1`, name).Scan(&txid, &position, &n)
	if err != nil {
		tb.Fatalf("read checkpoint of %s: %v", name, err)
	}
	if got, want := fmt.Sprintf("(%s, %d) applied=%d", txid, position, n),
		fmt.Sprintf("(%d, %d) applied=%d", cp.TransactionID, cp.Position, applied); got != want {
		tb.Errorf("checkpoint of %s = %s, want %s", name, got, want)
	}
}

// eventIDs are the ids of events, in order.
func eventIDs(events []eventstore.Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.EventID.String()
	}
	return ids
}

func MustSameIDs(tb testing.TB, what string, got, want []string) {
	tb.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Errorf("%s:\n got  %v\n want %v", what, got, want)
	}
}

func register(id uuid.UUID) *domain.UserRegistered {
	return &domain.UserRegistered{UserID: id, Email: id.String() + "@example.com", PasswordHash: "h", Role: domain.RoleUser}
}

// An event whose transaction took its id first but commits last is handed to
// the consumer first, once it commits: handing over the later event before
// would move the checkpoint past the earlier one, skipping it.
func TestRuntimeAppliesInCommitOrder(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	early, late := uuid.New(), uuid.New()
	rec := MustRecorder(t, ctx, pool, "order")
	rt := MustStartRuntime(t, pool, "order", rec)

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

	// Several polls of the runtime pass while the early transaction is open.
	time.Sleep(300 * time.Millisecond)
	if got := rec.MustRecorded(t, ctx, pool); len(got) != 0 {
		t.Errorf("consumer handed %v while an earlier transaction is open, want nothing", got)
	}
	if cp, err := projections.NewCheckpoints(pool).Read(ctx, "order"); err != nil || cp.Reached(held.Checkpoint) {
		t.Errorf("checkpoint = %+v (%v) while the earlier transaction is open, want before %+v", cp, err, held.Checkpoint)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rt.MustWaitFor(t, after.Checkpoint)
	log := MustReadLog(t, ctx, store, 2)
	if log[0].Stream.ID != early {
		t.Fatalf("the log's first event is of %s, want the early user %s", log[0].Stream, early)
	}
	MustSameIDs(t, "events handed to the consumer", rec.MustRecorded(t, ctx, pool), eventIDs(log))
	MustConsumerCheckpoint(t, ctx, pool, "order", after.Checkpoint, 2)
	rt.MustQuiet(t)
}

// A consumer that runs for the first time starts at the log's head: the events
// before it are not handed to it, the ones after are.
func TestRuntimeStartsANewConsumerAtTheHead(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	MustReadLog(t, ctx, store, f.events) // visible to every reader, the runtime's head too

	rec := MustRecorder(t, ctx, pool, "late")
	rt := MustStartRuntime(t, pool, "late", rec)
	MustConsumerCheckpoint(t, ctx, pool, "late", f.last.Checkpoint, 0)

	id := uuid.New()
	res := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: id}, 0, register(id))
	rt.MustWaitFor(t, res.Checkpoint)
	log := MustReadLog(t, ctx, store, f.events+1)
	MustSameIDs(t, "events handed to the new consumer", rec.MustRecorded(t, ctx, pool), eventIDs(log[f.events:]))
	MustConsumerCheckpoint(t, ctx, pool, "late", res.Checkpoint, 1)
	rt.MustQuiet(t)
}

// Each event is handled once in effect: after watermill's offset goes back to
// the start of the log (a lost ack redelivers), the consumer's checkpoint skips
// every event it has handled, and it goes on with the new ones.
func TestRuntimeRedeliveryChangesNothing(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	rec := MustRecorder(t, ctx, pool, "redelivered")
	first := MustStartRuntime(t, pool, "redelivered", rec)
	f := MustLog(t, ctx, store)
	first.MustWaitFor(t, f.last.Checkpoint)
	first.MustQuiet(t)
	first.Stop(t)
	log := MustReadLog(t, ctx, store, f.events)
	MustSameIDs(t, "events handed once", rec.MustRecorded(t, ctx, pool), eventIDs(log))
	MustConsumerCheckpoint(t, ctx, pool, "redelivered", f.last.Checkpoint, f.events)

	tag, err := pool.Exec(ctx, `UPDATE watermill_offsets_events SET offset_acked = 0, last_processed_transaction_id = '0'
		WHERE consumer_group = 'redelivered'`)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("rewind the watermill offset: %v (%d rows)", err, tag.RowsAffected())
	}
	second := MustStartRuntime(t, pool, "redelivered", rec)
	id := uuid.New()
	res := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: id}, 0, register(id))
	second.MustWaitFor(t, res.Checkpoint)
	// The offset went from the start of the log to the new event, in order:
	// every old event was delivered again on the way.
	var offset int64
	if err := pool.QueryRow(ctx, `SELECT offset_acked FROM watermill_offsets_events WHERE consumer_group = 'redelivered'`).
		Scan(&offset); err != nil || offset != res.Checkpoint.Position {
		t.Errorf("watermill offset = %d (%v), want the new event's position %d", offset, err, res.Checkpoint.Position)
	}
	log = MustReadLog(t, ctx, store, f.events+1)
	MustSameIDs(t, "events handed after the redelivery", rec.MustRecorded(t, ctx, pool), eventIDs(log))
	MustConsumerCheckpoint(t, ctx, pool, "redelivered", res.Checkpoint, f.events+1)
	second.MustQuiet(t)
}

// An event the consumer fails on is not skipped: its writes are undone, it is
// delivered again, and the events after it wait for it.
func TestRuntimeRetriesAFailedEvent(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	rec := MustRecorder(t, ctx, pool, "retry")
	rt := MustStartRuntime(t, pool, "retry", rec)
	a, b := uuid.New(), uuid.New()
	rec.refuse(eventstore.StreamID{Type: domain.UserStreamType, ID: a}, 2)
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: a}, 0, register(a))
	res := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: b}, 0, register(b))
	rt.MustWaitFor(t, res.Checkpoint)
	MustSameIDs(t, "events handed", rec.MustRecorded(t, ctx, pool), eventIDs(MustReadLog(t, ctx, store, 2)))
	MustConsumerCheckpoint(t, ctx, pool, "retry", res.Checkpoint, 2)
	if log := rt.log.String(); !bytes.Contains([]byte(log), []byte(errRefusedOnPurpose.Error())) {
		t.Errorf("runtime log = %q, want the refusals logged", log)
	}
}

func TestLag(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	checkpoints := projections.NewCheckpoints(pool)

	lag, err := checkpoints.Lag(ctx, "lagging")
	if err != nil {
		t.Fatal(err)
	}
	if lag.Events != int64(f.events) {
		t.Errorf("lag before the consumer ever ran = %d events, want %d", lag.Events, f.events)
	}
	if lag.Seconds <= 0 || lag.Seconds > 60 {
		t.Errorf("lag before the consumer ever ran = %gs, want the age of the first event (0 < s < 60)", lag.Seconds)
	}

	// A new consumer owes nothing of the past.
	MustReadLog(t, ctx, store, f.events)
	rec := MustRecorder(t, ctx, pool, "lagging")
	rt := MustStartRuntime(t, pool, "lagging", rec)
	if lag, err = checkpoints.Lag(ctx, "lagging"); err != nil || lag != (projections.Lag{}) {
		t.Errorf("lag of a consumer started at the head = %+v (%v), want zero", lag, err)
	}
	rt.Stop(t)

	// Stopped, it falls behind by what is appended meanwhile.
	id := uuid.New()
	res := MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: id}, 0, register(id))
	if lag, err = checkpoints.Lag(ctx, "lagging"); err != nil || lag.Events != 1 || lag.Seconds <= 0 {
		t.Errorf("lag of a stopped consumer after one append = %+v (%v), want 1 event of some age", lag, err)
	}
	statuses, err := checkpoints.Statuses(ctx)
	if err != nil || len(statuses) != 1 || statuses[0].Name != "lagging" || statuses[0].Lag.Events != 1 {
		t.Errorf("statuses = %+v (%v), want the consumer one event behind", statuses, err)
	}

	// Started again, it catches up from where it stopped.
	rt = MustStartRuntime(t, pool, "lagging", rec)
	rt.MustWaitFor(t, res.Checkpoint)
	if lag, err = checkpoints.Lag(ctx, "lagging"); err != nil || lag != (projections.Lag{}) {
		t.Errorf("lag after the consumer caught up = %+v (%v), want zero", lag, err)
	}
	if most, err := checkpoints.MaxLag(ctx); err != nil || most != (projections.Lag{}) {
		t.Errorf("MaxLag after catching up = %+v (%v), want zero", most, err)
	}
	if statuses, err := checkpoints.Statuses(ctx); err != nil || len(statuses) != 1 || statuses[0].State() != "caught up" ||
		statuses[0].Applied != 1 || statuses[0].Checkpoint != res.Checkpoint {
		t.Errorf("statuses after catching up = %+v (%v), want it caught up at %+v with 1 applied", statuses, err, res.Checkpoint)
	}
	MustSameIDs(t, "events handed", rec.MustRecorded(t, ctx, pool), eventIDs(MustReadLog(t, ctx, store, f.events+1)[f.events:]))
	rt.MustQuiet(t)
}

// Stopping a runtime before it has started is a clean stop too.
func TestRuntimeStopsCleanlyAtOnce(t *testing.T) {
	pool := dbtest.MustPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := &recorder{table: "never_created"}
	if err := projections.NewRuntime("stopped", pool, rec, slog.New(slog.DiscardHandler)).Run(ctx); err != nil {
		t.Errorf("Run with an ended context = %v, want nil", err)
	}
}
