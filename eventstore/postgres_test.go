package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/logtest"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// testTimeout bounds every test so that a broken store fails instead of hanging.
const testTimeout = 60 * time.Second

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

// MustContext returns a context that ends with the test or after testTimeout.
func MustContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// MustPoolWithConns is dbtest.MustPool with room for maxConns connections.
func MustPoolWithConns(t *testing.T, maxConns int32) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.MustURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// MustWarmPool opens n connections up front so that concurrent goroutines do not
// queue behind connection setup.
func MustWarmPool(t *testing.T, ctx context.Context, pool *pgxpool.Pool, n int) {
	t.Helper()
	conns := make([]*pgxpool.Conn, 0, n)
	for range n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatalf("warm pool: %v", err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}
}

func newStream(typ string) eventstore.StreamID {
	return eventstore.StreamID{Type: typ, ID: uuid.New()}
}

func event(typ string, data any) eventstore.NewEvent {
	return eventstore.NewEvent{Type: typ, SchemaVersion: 1, Data: data}
}

// MustAppend appends and fails the test on any error.
func MustAppend(t *testing.T, ctx context.Context, store eventstore.Store, stream eventstore.StreamID,
	expected int64, events ...eventstore.NewEvent) eventstore.AppendResult {
	t.Helper()
	res, err := store.Append(ctx, stream, expected, events...)
	if err != nil {
		t.Fatalf("append to %s at %d: %v", stream, expected, err)
	}
	return res
}

// MustReadStream reads a whole stream (or up to until).
func MustReadStream(t *testing.T, ctx context.Context, store eventstore.Store, stream eventstore.StreamID,
	until time.Time) []eventstore.Event {
	t.Helper()
	events, err := store.ReadStream(ctx, stream, until)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return events
}

// MustReadAfter reads one page of the global log.
func MustReadAfter(t *testing.T, ctx context.Context, store eventstore.Store, after eventstore.Checkpoint,
	limit int) []eventstore.Event {
	t.Helper()
	events, err := store.ReadAfter(ctx, after, limit)
	if err != nil {
		t.Fatalf("read after %+v: %v", after, err)
	}
	return events
}

// MustVerify runs the hash chain check.
func MustVerify(t *testing.T, ctx context.Context, store eventstore.Store) []eventstore.BrokenLink {
	t.Helper()
	broken, err := store.Verify(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return broken
}

// MustCountRows counts the rows of a stream in the events table itself.
func MustCountRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool, stream eventstore.StreamID) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1`, stream.String()).Scan(&n); err != nil {
		t.Fatalf("count rows of %s: %v", stream, err)
	}
	return n
}

// MustCountAllRows counts every row of the events table.
func MustCountAllRows(t *testing.T, ctx context.Context, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil {
		t.Fatalf("count rows: %v", err)
	}
	return n
}

// MustHorizon returns pg_snapshot_xmin(pg_current_snapshot()): every transaction
// below it has finished.
func MustHorizon(t *testing.T, ctx context.Context, pool *pgxpool.Pool) uint64 {
	t.Helper()
	var s string
	if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&s); err != nil {
		t.Fatalf("read horizon: %v", err)
	}
	x, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("parse horizon %q: %v", s, err)
	}
	return x
}

// MustReplicaConn returns a dedicated connection on which ordinary triggers (and so
// the append-only guard) do not fire, to tamper with history as an attacker would.
func MustReplicaConn(t *testing.T, ctx context.Context, pool *pgxpool.Pool) *pgxpool.Conn {
	t.Helper()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The connection is never given back to the pool with replica role set.
	t.Cleanup(func() { conn.Hijack().Close(context.Background()) })
	if _, err := conn.Exec(ctx, `SET session_replication_role = replica`); err != nil {
		t.Fatalf("set replica role: %v", err)
	}
	return conn
}

// MustExecOne runs a statement that must touch exactly one row.
func MustExecOne(t *testing.T, ctx context.Context, db eventstore.DB, sql string, args ...any) {
	t.Helper()
	tag, err := db.Exec(ctx, sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if got := tag.RowsAffected(); got != 1 {
		t.Fatalf("%s: %d rows affected, want 1", sql, got)
	}
}

// MustJSONEqual compares two JSON documents by value.
func MustJSONEqual(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: got invalid JSON %s: %v", what, got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want invalid JSON %s: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// MustMarshal is json.Marshal for test fixtures.
func MustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MustEqualEvent compares every field of two stored events.
func MustEqualEvent(t *testing.T, got, want eventstore.Event) {
	t.Helper()
	if got.Position != want.Position {
		t.Errorf("event %s: Position = %d, want %d", want.EventID, got.Position, want.Position)
	}
	if got.TransactionID != want.TransactionID {
		t.Errorf("event %s: TransactionID = %d, want %d", want.EventID, got.TransactionID, want.TransactionID)
	}
	if got.EventID != want.EventID {
		t.Errorf("EventID = %s, want %s", got.EventID, want.EventID)
	}
	if got.Stream != want.Stream {
		t.Errorf("event %s: Stream = %s, want %s", want.EventID, got.Stream, want.Stream)
	}
	if got.Version != want.Version {
		t.Errorf("event %s: Version = %d, want %d", want.EventID, got.Version, want.Version)
	}
	if got.Type != want.Type {
		t.Errorf("event %s: Type = %q, want %q", want.EventID, got.Type, want.Type)
	}
	if got.SchemaVersion != want.SchemaVersion {
		t.Errorf("event %s: SchemaVersion = %d, want %d", want.EventID, got.SchemaVersion, want.SchemaVersion)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("event %s: Data = %s, want %s", want.EventID, got.Data, want.Data)
	}
	if !reflect.DeepEqual(got.Metadata, want.Metadata) {
		t.Errorf("event %s: Metadata = %+v, want %+v", want.EventID, got.Metadata, want.Metadata)
	}
	if !got.RecordedAt.Equal(want.RecordedAt) {
		t.Errorf("event %s: RecordedAt = %s, want %s", want.EventID, got.RecordedAt, want.RecordedAt)
	}
	if got.RecordedAt.Location() != time.UTC {
		t.Errorf("event %s: RecordedAt location = %s, want UTC", want.EventID, got.RecordedAt.Location())
	}
}

// strictlyAfter reports whether cur is strictly after prev in the global log.
func strictlyAfter(cur, prev eventstore.Checkpoint) bool {
	return cur.Reached(prev) && !prev.Reached(cur)
}

// ---------------------------------------------------------------------------
// 1. Optimistic concurrency
// ---------------------------------------------------------------------------

// Fifty appends race for version 2 of one stream: exactly one wins, the rest get
// ErrConcurrency, and the stream holds exactly versions 1 and 2.
// The PostgreSQL store passes the conformance suite of eventstore.Log, as memlog does.
func TestConformance(t *testing.T) {
	logtest.Run(t, func(t *testing.T) eventstore.Log { return eventstore.NewPostgresStore(dbtest.MustPool(t)) })
}

func TestAppendConcurrentAppendsExactlyOneWins(t *testing.T) {
	const writers = 50
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, writers+2)
	MustWarmPool(t, ctx, pool, writers)
	store := eventstore.NewPostgresStore(pool)

	stream := newStream("lease")
	MustAppend(t, ctx, store, stream, 0, event("LeaseSigned", map[string]int{"writer": -1}))

	type outcome struct {
		res eventstore.AppendResult
		err error
	}
	outcomes := make([]outcome, writers)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			res, err := store.Append(ctx, stream, 1, event("LeaseRenewed", map[string]int{"writer": i}))
			outcomes[i] = outcome{res, err}
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()

	winner := -1
	conflicts := 0
	for i, o := range outcomes {
		switch {
		case o.err == nil:
			if winner >= 0 {
				t.Errorf("writers %d and %d both succeeded", winner, i)
			}
			winner = i
			if o.res.Version != 2 {
				t.Errorf("winner's AppendResult.Version = %d, want 2", o.res.Version)
			}
		case errors.Is(o.err, eventstore.ErrConcurrency):
			conflicts++
		default:
			t.Errorf("writer %d: err = %v, want nil or ErrConcurrency", i, o.err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer succeeded, want exactly one")
	}
	if got, want := conflicts, writers-1; got != want {
		t.Errorf("ErrConcurrency count = %d, want %d", got, want)
	}

	events := MustReadStream(t, ctx, store, stream, time.Time{})
	var gotVersions []int64
	for _, e := range events {
		gotVersions = append(gotVersions, e.Version)
	}
	if want := []int64{1, 2}; !reflect.DeepEqual(gotVersions, want) {
		t.Fatalf("stream versions = %v, want %v", gotVersions, want)
	}
	if got, want := events[1].Type, "LeaseRenewed"; got != want {
		t.Errorf("version 2 type = %q, want %q", got, want)
	}
	MustJSONEqual(t, "version 2 data", events[1].Data, MustMarshal(t, map[string]int{"writer": winner}))
	if got, want := events[1].Checkpoint(), outcomes[winner].res.Checkpoint; got != want {
		t.Errorf("version 2 checkpoint = %+v, winner's AppendResult.Checkpoint = %+v", got, want)
	}
	if got, want := MustCountRows(t, ctx, pool, stream), 2; got != want {
		t.Errorf("events rows for stream = %d, want %d", got, want)
	}
	if got, want := MustCountAllRows(t, ctx, pool), 2; got != want {
		t.Errorf("events rows in total = %d, want %d", got, want)
	}
	if broken := MustVerify(t, ctx, store); len(broken) != 0 {
		t.Errorf("Verify = %+v, want no broken links", broken)
	}
}

// Sequential conflicts: a stale or a future expected version is refused with
// ErrConcurrency and writes nothing, not even part of a multi-event append.
func TestAppendWrongExpectedVersionWritesNothing(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)

	stream := newStream("property")
	MustAppend(t, ctx, store, stream, 0, event("PropertyRegistered", map[string]string{"name": "a"}))
	res := MustAppend(t, ctx, store, stream, 1,
		event("PropertyDetailsChanged", map[string]string{"name": "b"}),
		event("PropertyDetailsChanged", map[string]string{"name": "c"}))
	if res.Version != 3 {
		t.Fatalf("AppendResult.Version = %d, want 3", res.Version)
	}

	cases := []struct {
		name     string
		expected int64
		events   []eventstore.NewEvent
	}{
		{"stale by one", 2, []eventstore.NewEvent{event("PropertyDetailsChanged", 1)}},
		{"stale, two events", 1, []eventstore.NewEvent{event("PropertyDetailsChanged", 1), event("PropertyDetailsChanged", 2)}},
		{"as if new", 0, []eventstore.NewEvent{event("PropertyRegistered", 1)}},
		{"ahead by one", 4, []eventstore.NewEvent{event("PropertyDetailsChanged", 1)}},
		{"far ahead", 100, []eventstore.NewEvent{event("PropertyDetailsChanged", 1), event("PropertyDetailsChanged", 2)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := MustCountAllRows(t, ctx, pool)
			_, err := store.Append(ctx, stream, tc.expected, tc.events...)
			if !errors.Is(err, eventstore.ErrConcurrency) {
				t.Fatalf("Append at expected version %d: err = %v, want ErrConcurrency", tc.expected, err)
			}
			if got := MustCountAllRows(t, ctx, pool); got != before {
				t.Errorf("events rows = %d after refused append, want %d", got, before)
			}
			if got, want := MustCountRows(t, ctx, pool, stream), 3; got != want {
				t.Errorf("stream rows = %d, want %d", got, want)
			}
		})
	}

	// A stream that does not exist is at version 0.
	missing := newStream("property")
	if _, err := store.Append(ctx, missing, 1, event("PropertyDetailsChanged", 1)); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Errorf("Append to a new stream at expected version 1: err = %v, want ErrConcurrency", err)
	}
	if got := MustCountRows(t, ctx, pool, missing); got != 0 {
		t.Errorf("rows of refused new stream = %d, want 0", got)
	}

	// The right version still works afterwards, and no version was burnt.
	res = MustAppend(t, ctx, store, stream, 3, event("PropertyStatusChanged", map[string]string{"status": "x"}))
	if res.Version != 4 {
		t.Errorf("AppendResult.Version = %d, want 4", res.Version)
	}
	var gotVersions []int64
	for _, e := range MustReadStream(t, ctx, store, stream, time.Time{}) {
		gotVersions = append(gotVersions, e.Version)
	}
	if want := []int64{1, 2, 3, 4}; !reflect.DeepEqual(gotVersions, want) {
		t.Errorf("stream versions = %v, want %v", gotVersions, want)
	}
}

// An append with no events is an error, not a silent no-op.
func TestAppendNoEventsIsAnError(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	if _, err := store.Append(ctx, newStream("user"), 0); err == nil {
		t.Fatal("Append with no events: err = nil, want an error")
	}
	if got := MustCountAllRows(t, ctx, pool); got != 0 {
		t.Errorf("events rows = %d, want 0", got)
	}
}

// ---------------------------------------------------------------------------
// 2. Ordering: a late commit is never skipped
// ---------------------------------------------------------------------------

// Event A is appended in a transaction that stays open while B and C commit. The
// reader must not move past A's place: it sees nothing until A commits, then A, B, C.
func TestReadAfterNeverSkipsALateCommit(t *testing.T) {
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, 6)
	store := eventstore.NewPostgresStore(pool)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	streamA, streamB, streamC := newStream("lease"), newStream("tenant"), newStream("property")
	resA, err := store.WithDB(tx).Append(ctx, streamA, 0, event("LeaseSigned", map[string]string{"e": "A"}))
	if err != nil {
		t.Fatalf("append A in tx: %v", err)
	}
	resB := MustAppend(t, ctx, store, streamB, 0, event("TenantRegistered", map[string]string{"e": "B"}))
	resC := MustAppend(t, ctx, store, streamC, 0, event("PropertyRegistered", map[string]string{"e": "C"}))

	// The scenario only means something if A's transaction is older and A's
	// position is not the highest.
	if !(resA.Checkpoint.TransactionID < resB.Checkpoint.TransactionID &&
		resB.Checkpoint.TransactionID < resC.Checkpoint.TransactionID) {
		t.Fatalf("transaction ids A=%d B=%d C=%d, want increasing",
			resA.Checkpoint.TransactionID, resB.Checkpoint.TransactionID, resC.Checkpoint.TransactionID)
	}
	if !(resA.Checkpoint.Position < resB.Checkpoint.Position && resB.Checkpoint.Position < resC.Checkpoint.Position) {
		t.Fatalf("positions A=%d B=%d C=%d, want increasing",
			resA.Checkpoint.Position, resB.Checkpoint.Position, resC.Checkpoint.Position)
	}

	var (
		checkpoint eventstore.Checkpoint
		seen       []eventstore.Event
	)
	read := func() int {
		t.Helper()
		batch := MustReadAfter(t, ctx, store, checkpoint, 100)
		for _, e := range batch {
			if !strictlyAfter(e.Checkpoint(), checkpoint) {
				t.Fatalf("ReadAfter(%+v) returned %+v, which is not after the checkpoint", checkpoint, e.Checkpoint())
			}
			checkpoint = e.Checkpoint()
			seen = append(seen, e)
		}
		return len(batch)
	}

	// While A's transaction runs, B and C lie beyond the horizon.
	for range 5 {
		if n := read(); n != 0 {
			t.Fatalf("ReadAfter returned %d events (%+v) while an older transaction is still open, want 0", n, seen)
		}
	}
	if head, err := store.Head(ctx); err != nil {
		t.Fatal(err)
	} else if head != (eventstore.Checkpoint{}) {
		t.Errorf("Head = %+v while the oldest writer is still open, want zero", head)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit A: %v", err)
	}

	// Other clusters' transactions may hold the horizon back for a while: read on
	// until all three arrive (or the test's deadline passes).
	for len(seen) < 3 {
		if ctx.Err() != nil {
			t.Fatalf("saw %d events before the deadline, want 3", len(seen))
		}
		read()
	}
	if n := read(); n != 0 {
		t.Errorf("a further ReadAfter returned %d events, want 0", n)
	}

	want := []eventstore.Checkpoint{resA.Checkpoint, resB.Checkpoint, resC.Checkpoint}
	var got []eventstore.Checkpoint
	for _, e := range seen {
		got = append(got, e.Checkpoint())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read checkpoints = %+v, want A, B, C = %+v", got, want)
	}
	wantStreams := []eventstore.StreamID{streamA, streamB, streamC}
	for i, e := range seen {
		if e.Stream != wantStreams[i] {
			t.Errorf("event %d stream = %s, want %s", i, e.Stream, wantStreams[i])
		}
	}
	if head, err := store.Head(ctx); err != nil {
		t.Fatal(err)
	} else if head != resC.Checkpoint {
		t.Errorf("Head = %+v after all commits, want C's checkpoint %+v", head, resC.Checkpoint)
	}
}

// Eight writers append 50 events each, holding their transactions for random short
// times after taking a transaction id, while a reader pages through the log. The
// reader must see every event exactly once, in strictly increasing checkpoints.
func TestReadAfterConcurrentWritersEveryEventOnce(t *testing.T) {
	const (
		writers   = 8
		perWriter = 50
		total     = writers * perWriter
	)
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, writers+4)
	store := eventstore.NewPostgresStore(pool)

	type key struct{ writer, n int }
	var (
		mu       sync.Mutex
		appended = make(map[eventstore.Checkpoint]key, total)
		maxTx    uint64
	)
	var wg sync.WaitGroup
	done := make(chan struct{})
	start := make(chan struct{})
	writeCtx, stopWriters := context.WithCancel(ctx)
	defer func() { stopWriters(); <-done }() // on an early failure, too
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			stream := newStream("transaction")
			for n := range perWriter {
				res, err := appendHeld(writeCtx, pool, store, rng, stream, int64(n),
					event("ChargePosted", map[string]int{"writer": w, "n": n}))
				if err != nil {
					if writeCtx.Err() == nil {
						t.Errorf("writer %d append %d: %v", w, n, err)
					}
					return
				}
				mu.Lock()
				if prev, dup := appended[res.Checkpoint]; dup {
					t.Errorf("checkpoint %+v returned for %v and %v", res.Checkpoint, prev, key{w, n})
				}
				appended[res.Checkpoint] = key{w, n}
				maxTx = max(maxTx, res.Checkpoint.TransactionID)
				mu.Unlock()
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	close(start)

	var (
		checkpoint eventstore.Checkpoint
		seen       = make(map[eventstore.Checkpoint]int, total)
		seenKeys   = make(map[key]int, total)
		reads      int
		lateReads  int // events whose position is below the previous one: late commits
		lastPos    int64
	)
	for {
		writersDone := false
		select {
		case <-done:
			writersDone = true
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("deadline passed having seen %d of %d events", len(seen), total)
		}
		// Read the horizon before the page: once it is past every writer's
		// transaction, an empty page means the reader is at the end.
		horizon := MustHorizon(t, ctx, pool)
		batch := MustReadAfter(t, ctx, store, checkpoint, 37)
		reads++
		for _, e := range batch {
			cp := e.Checkpoint()
			if !strictlyAfter(cp, checkpoint) {
				t.Fatalf("ReadAfter(%+v) returned %+v: checkpoints must strictly increase", checkpoint, cp)
			}
			checkpoint = cp
			seen[cp]++
			var data struct{ Writer, N int }
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatalf("event data %s: %v", e.Data, err)
			}
			k := key{data.Writer, data.N}
			seenKeys[k]++
			if e.Version != int64(k.n)+1 {
				t.Errorf("event %v has version %d, want %d", k, e.Version, k.n+1)
			}
			if e.Position < lastPos {
				lateReads++
			}
			lastPos = e.Position
		}
		if writersDone {
			mu.Lock()
			finished := len(batch) == 0 && horizon > maxTx
			mu.Unlock()
			if finished {
				break
			}
		}
	}
	if t.Failed() {
		return
	}

	if got := len(appended); got != total {
		t.Fatalf("writers appended %d events, want %d", got, total)
	}
	if got := len(seen); got != total {
		t.Errorf("reader saw %d distinct events, want %d", got, total)
	}
	for cp, k := range appended {
		if n := seen[cp]; n != 1 {
			t.Errorf("event %v at %+v seen %d times, want 1", k, cp, n)
		}
		if n := seenKeys[k]; n != 1 {
			t.Errorf("event %v seen %d times by content, want 1", k, n)
		}
	}
	for cp, n := range seen {
		if _, ok := appended[cp]; !ok {
			t.Errorf("reader saw %+v (%d times), which no writer appended", cp, n)
		}
	}
	t.Logf("%d reads; %d events were read after an event with a higher position (late commits)", reads, lateReads)
}

// appendHeld appends in a transaction that takes its transaction id first and is
// held open for a random short time (by the database) before and after the
// append, so that commits land out of transaction-id order.
func appendHeld(ctx context.Context, pool *pgxpool.Pool, store *eventstore.PostgresStore, rng *rand.Rand,
	stream eventstore.StreamID, expected int64, e eventstore.NewEvent) (eventstore.AppendResult, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		return eventstore.AppendResult{}, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_sleep($1)`, rng.Float64()*0.002); err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := store.WithDB(tx).Append(ctx, stream, expected, e)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if rng.IntN(4) == 0 {
		if _, err := tx.Exec(ctx, `SELECT pg_sleep($1)`, rng.Float64()*0.003); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return res, tx.Commit(ctx)
}

// Transaction ids are ordered as numbers, not as text: events of transaction 9999
// come before those of transaction 10000. The test advances the cluster's
// transaction counter to just below the next power of ten (within a budget) so
// that its appends straddle it.
func TestReadAfterOrdersTransactionIDsNumerically(t *testing.T) {
	const budget = 200_000 // transaction ids this test may burn to reach a boundary
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)

	next := MustNextXid(t, ctx, pool)
	boundary := uint64(10)
	for boundary <= next+20 {
		boundary *= 10
	}
	if boundary-next > budget {
		t.Skipf("next transaction id %d is %d away from the digit boundary %d (budget %d)", next, boundary-next, boundary, budget)
	}
	for next < boundary-10 {
		MustBurnXids(t, ctx, pool, int(min(boundary-10-next, 1000)))
		next = MustNextXid(t, ctx, pool)
	}

	var appended []eventstore.Checkpoint
	for len(appended) < 100 {
		res := MustAppend(t, ctx, store, newStream("lease"), 0, event("LeaseSigned", map[string]int{"i": len(appended)}))
		appended = append(appended, res.Checkpoint)
		if res.Checkpoint.TransactionID >= boundary+2 {
			break
		}
	}
	if first, last := appended[0].TransactionID, appended[len(appended)-1].TransactionID; first >= boundary || last < boundary {
		t.Skipf("appends got transaction ids %d..%d, which do not straddle %d (another session raced past it)", first, last, boundary)
	}
	t.Logf("%d appends with transaction ids %d..%d around %d", len(appended),
		appended[0].TransactionID, appended[len(appended)-1].TransactionID, boundary)

	for _, limit := range []int{1000, 3, 1} {
		var (
			checkpoint eventstore.Checkpoint
			got        []eventstore.Checkpoint
		)
		for len(got) < len(appended) {
			if ctx.Err() != nil {
				t.Fatalf("limit %d: read %d of %d events before the deadline", limit, len(got), len(appended))
			}
			for _, e := range MustReadAfter(t, ctx, store, checkpoint, limit) {
				if !strictlyAfter(e.Checkpoint(), checkpoint) {
					t.Fatalf("limit %d: ReadAfter(%+v) returned %+v, which is not after it", limit, checkpoint, e.Checkpoint())
				}
				checkpoint = e.Checkpoint()
				got = append(got, checkpoint)
			}
		}
		if !reflect.DeepEqual(got, appended) {
			t.Errorf("limit %d: read checkpoints %+v, want %+v", limit, got, appended)
		}
	}
}

// MustNextXid returns the transaction id the next writer will get (about: other
// sessions may take some first).
func MustNextXid(t *testing.T, ctx context.Context, pool *pgxpool.Pool) uint64 {
	t.Helper()
	var s string
	if err := pool.QueryRow(ctx, `SELECT pg_snapshot_xmax(pg_current_snapshot())::text`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	x, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// MustBurnXids commits n empty transactions that each take a transaction id.
func MustBurnXids(t *testing.T, ctx context.Context, pool *pgxpool.Pool, n int) {
	t.Helper()
	sql := strings.Repeat(`BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_current_xact_id(); COMMIT; `, n)
	if _, err := pool.Exec(ctx, sql); err != nil {
		t.Fatalf("burn %d transaction ids: %v", n, err)
	}
}

// A page is limited, and paging on from the last checkpoint continues where it
// stopped, including inside one transaction's events.
func TestReadAfterPagesWithinATransaction(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)

	stream := newStream("maintenance")
	var batch []eventstore.NewEvent
	for i := range 5 {
		batch = append(batch, event("MaintenanceDetailsChanged", map[string]int{"i": i}))
	}
	res := MustAppend(t, ctx, store, stream, 0, batch...)
	if res.Version != 5 {
		t.Fatalf("AppendResult.Version = %d, want 5", res.Version)
	}
	want := MustReadStream(t, ctx, store, stream, time.Time{})
	if got := want[4].Checkpoint(); got != res.Checkpoint {
		t.Errorf("AppendResult.Checkpoint = %+v, want the last event's %+v", res.Checkpoint, got)
	}

	var (
		checkpoint eventstore.Checkpoint
		got        []eventstore.Event
		pageSizes  []int
	)
	for len(got) < 5 {
		if ctx.Err() != nil {
			t.Fatalf("deadline passed having read %d of 5 events", len(got))
		}
		page := MustReadAfter(t, ctx, store, checkpoint, 2)
		if len(page) > 2 {
			t.Fatalf("ReadAfter(limit 2) returned %d events", len(page))
		}
		if len(page) > 0 {
			pageSizes = append(pageSizes, len(page))
			checkpoint = page[len(page)-1].Checkpoint()
			got = append(got, page...)
		}
	}
	if wantSizes := []int{2, 2, 1}; !reflect.DeepEqual(pageSizes, wantSizes) {
		t.Errorf("page sizes = %v, want %v", pageSizes, wantSizes)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d events, want %d", len(got), len(want))
	}
	for i := range want {
		MustEqualEvent(t, got[i], want[i])
		if got[i].TransactionID != res.Checkpoint.TransactionID {
			t.Errorf("event %d transaction id = %d, want the append's %d", i, got[i].TransactionID, res.Checkpoint.TransactionID)
		}
	}
}

// ---------------------------------------------------------------------------
// 3. Metadata and ReadStream
// ---------------------------------------------------------------------------

// Every field set on the context travels with the event and comes back unchanged,
// together with its type, schema version, data, version, id, stream and time.
func TestAppendMetadataRoundTrip(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)

	actor := uuid.New()
	md := eventstore.Metadata{
		ActorID:       &actor,
		IPAddress:     "203.0.113.7",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) test/1.0 \"quoted\" ünïcode",
		CorrelationID: "corr-" + uuid.NewString(),
		CausationID:   "cause-" + uuid.NewString(),
		Command:       "SignLease",
	}
	data := map[string]any{
		"lease_id":     uuid.NewString(),
		"monthly_rent": "1250.50",
		"start":        "2025-01-01",
		"deposit":      2500,
		"tags":         []any{"a", "b"},
		"nested":       map[string]any{"z": true, "a": nil},
	}
	stream := newStream("lease")

	before := time.Now().UTC()
	res := MustAppend(t, eventstore.WithMetadata(ctx, md), store, stream, 0,
		eventstore.NewEvent{Type: "LeaseSigned", SchemaVersion: 3, Data: data})
	after := time.Now().UTC()

	events := MustReadStream(t, ctx, store, stream, time.Time{})
	if len(events) != 1 {
		t.Fatalf("ReadStream returned %d events, want 1", len(events))
	}
	e := events[0]
	if e.Stream != stream {
		t.Errorf("Stream = %s, want %s", e.Stream, stream)
	}
	if e.Version != 1 || res.Version != 1 {
		t.Errorf("Version = %d, AppendResult.Version = %d, want 1 and 1", e.Version, res.Version)
	}
	if e.Type != "LeaseSigned" {
		t.Errorf("Type = %q, want LeaseSigned", e.Type)
	}
	if e.SchemaVersion != 3 {
		t.Errorf("SchemaVersion = %d, want 3", e.SchemaVersion)
	}
	MustJSONEqual(t, "Data", e.Data, MustMarshal(t, data))
	if !reflect.DeepEqual(e.Metadata, md) {
		t.Errorf("Metadata = %+v, want %+v", e.Metadata, md)
	}
	if e.Metadata.ActorID == nil || *e.Metadata.ActorID != actor {
		t.Errorf("Metadata.ActorID = %v, want %s", e.Metadata.ActorID, actor)
	}
	if e.EventID == (ulid.ULID{}) {
		t.Error("EventID is zero")
	}
	if parsed, err := ulid.ParseStrict(e.EventID.String()); err != nil || parsed != e.EventID {
		t.Errorf("EventID %s does not round-trip as a ULID: %v", e.EventID, err)
	}
	if idTime := ulid.Time(e.EventID.Time()); idTime.Before(before.Truncate(time.Millisecond)) || idTime.After(after) {
		t.Errorf("EventID time = %s, want within [%s, %s]", idTime, before, after)
	}
	if e.RecordedAt.Before(before.Truncate(time.Microsecond)) || e.RecordedAt.After(after) {
		t.Errorf("RecordedAt = %s, want within [%s, %s]", e.RecordedAt, before, after)
	}
	if e.RecordedAt.Location() != time.UTC {
		t.Errorf("RecordedAt location = %s, want UTC", e.RecordedAt.Location())
	}
	if e.Checkpoint() != res.Checkpoint {
		t.Errorf("event checkpoint = %+v, AppendResult.Checkpoint = %+v", e.Checkpoint(), res.Checkpoint)
	}

	// The same event read from the global log is identical.
	var fromLog []eventstore.Event
	for len(fromLog) == 0 {
		if ctx.Err() != nil {
			t.Fatal("deadline passed before ReadAfter returned the event")
		}
		fromLog = MustReadAfter(t, ctx, store, eventstore.Checkpoint{}, 10)
	}
	if len(fromLog) != 1 {
		t.Fatalf("ReadAfter returned %d events, want 1", len(fromLog))
	}
	MustEqualEvent(t, fromLog[0], e)

	// An append without metadata on its context stores empty metadata, not the
	// previous append's.
	MustAppend(t, ctx, store, stream, 1, eventstore.NewEvent{Type: "LeaseRenewed", SchemaVersion: 1, Data: struct{}{}})
	events = MustReadStream(t, ctx, store, stream, time.Time{})
	if len(events) != 2 {
		t.Fatalf("ReadStream returned %d events, want 2", len(events))
	}
	if got := events[1].Metadata; !reflect.DeepEqual(got, eventstore.Metadata{}) {
		t.Errorf("metadata of an append without metadata = %+v, want zero", got)
	}
	MustJSONEqual(t, "empty data", events[1].Data, []byte(`{}`))
	if events[0].EventID == events[1].EventID {
		t.Errorf("two events share the id %s", events[0].EventID)
	}
}

// ReadStream with until returns the events recorded at or before it, in version
// order, and only of the stream asked for.
func TestReadStreamUntil(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)

	stream, other := newStream("tenant"), newStream("tenant")
	MustAppend(t, ctx, store, stream, 0, event("TenantRegistered", map[string]string{"name": "first"}))
	first := MustReadStream(t, ctx, store, stream, time.Time{})
	if len(first) != 1 {
		t.Fatalf("ReadStream returned %d events, want 1", len(first))
	}
	MustAppend(t, ctx, store, other, 0, event("TenantRegistered", map[string]string{"name": "other"}))
	MustAppend(t, ctx, store, stream, 1, event("TenantContactChanged", map[string]string{"name": "second"}))

	all := MustReadStream(t, ctx, store, stream, time.Time{})
	if len(all) != 2 {
		t.Fatalf("ReadStream returned %d events, want 2", len(all))
	}
	MustEqualEvent(t, all[0], first[0])
	if !all[1].RecordedAt.After(all[0].RecordedAt) {
		t.Fatalf("second RecordedAt %s is not after first %s", all[1].RecordedAt, all[0].RecordedAt)
	}

	ids := func(events []eventstore.Event) []ulid.ULID {
		out := []ulid.ULID{}
		for _, e := range events {
			out = append(out, e.EventID)
		}
		return out
	}
	cases := []struct {
		name  string
		until time.Time
		want  []ulid.ULID
	}{
		{"before the first", all[0].RecordedAt.Add(-time.Microsecond), []ulid.ULID{}},
		{"at the first", all[0].RecordedAt, []ulid.ULID{all[0].EventID}},
		{"at the first, other zone", all[0].RecordedAt.In(time.FixedZone("UTC+5", 5*3600)), []ulid.ULID{all[0].EventID}},
		{"just before the second", all[1].RecordedAt.Add(-time.Microsecond), []ulid.ULID{all[0].EventID}},
		{"at the second", all[1].RecordedAt, []ulid.ULID{all[0].EventID, all[1].EventID}},
		{"zero means all", time.Time{}, []ulid.ULID{all[0].EventID, all[1].EventID}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := MustReadStream(t, ctx, store, stream, tc.until)
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Errorf("ReadStream(until %s) = %v, want %v", tc.until, ids(got), tc.want)
			}
			for _, e := range got {
				if e.Stream != stream {
					t.Errorf("ReadStream returned an event of %s, want only %s", e.Stream, stream)
				}
			}
		})
	}

	if got := MustReadStream(t, ctx, store, newStream("tenant"), time.Time{}); len(got) != 0 {
		t.Errorf("ReadStream of an unknown stream = %d events, want 0", len(got))
	}
}

// ---------------------------------------------------------------------------
// 4. Hash chain
// ---------------------------------------------------------------------------

// MustChainFixture appends 3 events to S and 2 to T and checks the chain is whole.
func MustChainFixture(t *testing.T, ctx context.Context, store eventstore.Store) (s, tt eventstore.StreamID) {
	t.Helper()
	s, tt = newStream("property"), newStream("lease")
	md := eventstore.Metadata{Command: "Test", CorrelationID: "c-1"}
	MustAppend(t, eventstore.WithMetadata(ctx, md), store, s, 0, event("PropertyRegistered", map[string]string{"x": "one"}))
	MustAppend(t, ctx, store, tt, 0, event("LeaseSigned", map[string]string{"x": "t-one"}))
	MustAppend(t, ctx, store, s, 1,
		event("PropertyDetailsChanged", map[string]string{"x": "two"}),
		event("PropertyDetailsChanged", map[string]string{"x": "three"}))
	MustAppend(t, ctx, store, tt, 1, event("LeaseRenewed", map[string]string{"x": "t-two"}))
	if broken := MustVerify(t, ctx, store); len(broken) != 0 {
		t.Fatalf("Verify on untouched history = %+v, want no broken links", broken)
	}
	return s, tt
}

// MustBrokenLinks compares Verify's answer by stream, version and reason prefix.
func MustBrokenLinks(t *testing.T, got []eventstore.BrokenLink, want []eventstore.BrokenLink) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Verify = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Stream != want[i].Stream || got[i].Version != want[i].Version ||
			!strings.HasPrefix(got[i].Reason, want[i].Reason) {
			t.Errorf("broken link %d = %+v, want %+v (reason prefix)", i, got[i], want[i])
		}
	}
}

// Editing a payload breaks the chain at that event; re-hashing the edited event to
// hide the edit moves the break to its successor.
func TestVerifyDetectsEditedHistory(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	s, _ := MustChainFixture(t, ctx, store)
	replica := MustReplicaConn(t, ctx, pool)

	MustExecOne(t, ctx, replica, `UPDATE events SET payload = '{"x":"edited"}' WHERE stream_id = $1 AND version = 2`, s.String())
	if got := MustReadStream(t, ctx, store, s, time.Time{}); string(got[1].Data) != `{"x": "edited"}` {
		t.Fatalf("tampered payload = %s, want the edit", got[1].Data)
	}
	MustBrokenLinks(t, MustVerify(t, ctx, store), []eventstore.BrokenLink{
		{Stream: s.String(), Version: 2, Reason: "hash mismatch"},
	})

	// Cover the edit: recompute version 2's hash from version 1's hash and the
	// edited content. Version 2 now looks consistent; version 3 still chains to
	// the old hash.
	MustExecOne(t, ctx, replica, `
		UPDATE events e SET hash = event_hash(p.hash, e.event_id, e.stream_id, e.version, e.event_type,
		                                      e.schema_version, e.payload, e.metadata, e.recorded_at)
		  FROM events p
		 WHERE e.stream_id = $1 AND e.version = 2
		   AND p.stream_id = e.stream_id AND p.version = e.version - 1`, s.String())
	MustBrokenLinks(t, MustVerify(t, ctx, store), []eventstore.BrokenLink{
		{Stream: s.String(), Version: 3, Reason: "hash mismatch"},
	})
}

// Editing metadata or the time an event was recorded is caught too.
func TestVerifyDetectsEditedMetadataAndTime(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	s, tt := MustChainFixture(t, ctx, store)
	replica := MustReplicaConn(t, ctx, pool)

	MustExecOne(t, ctx, replica, `UPDATE events SET metadata = '{"command":"Forged"}' WHERE stream_id = $1 AND version = 1`, s.String())
	MustExecOne(t, ctx, replica, `UPDATE events SET recorded_at = recorded_at - interval '1 day' WHERE stream_id = $1 AND version = 2`, tt.String())
	want := []eventstore.BrokenLink{
		{Stream: s.String(), Version: 1, Reason: "hash mismatch"},
		{Stream: tt.String(), Version: 2, Reason: "hash mismatch"},
	}
	if want[0].Stream > want[1].Stream { // Verify orders by stream id
		want[0], want[1] = want[1], want[0]
	}
	MustBrokenLinks(t, MustVerify(t, ctx, store), want)
}

// Deleting an event from the middle of a stream is reported as a version gap.
func TestVerifyDetectsDeletedEvent(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	s, _ := MustChainFixture(t, ctx, store)
	replica := MustReplicaConn(t, ctx, pool)

	MustExecOne(t, ctx, replica, `DELETE FROM events WHERE stream_id = $1 AND version = 2`, s.String())
	MustBrokenLinks(t, MustVerify(t, ctx, store), []eventstore.BrokenLink{
		{Stream: s.String(), Version: 3, Reason: "version gap"},
	})
}

// ---------------------------------------------------------------------------
// 5. Append-only
// ---------------------------------------------------------------------------

// Without the replica role, UPDATE and DELETE on events are refused and leave the
// rows unchanged.
func TestEventsTableIsAppendOnly(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	s, _ := MustChainFixture(t, ctx, store)
	before := MustReadStream(t, ctx, store, s, time.Time{})

	statements := []string{
		`UPDATE events SET payload = '{"x":"edited"}' WHERE stream_id = $1 AND version = 2`,
		`UPDATE events SET hash = '\x00'::bytea WHERE stream_id = $1`,
		`DELETE FROM events WHERE stream_id = $1 AND version = 3`,
		`DELETE FROM events WHERE stream_id = $1 OR true`,
	}
	for _, sql := range statements {
		_, err := pool.Exec(ctx, sql, s.String())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			t.Errorf("%s: err = %v, want a PostgreSQL error", sql, err)
			continue
		}
		if pgErr.Code != "42501" || !strings.Contains(pgErr.Message, "append-only") {
			t.Errorf("%s: error %s %q, want 42501 \"events are append-only\"", sql, pgErr.Code, pgErr.Message)
		}
	}

	// Inside a transaction, too.
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM events`)
		return err
	})
	if err == nil {
		t.Error("DELETE FROM events in a transaction succeeded, want an error")
	}

	after := MustReadStream(t, ctx, store, s, time.Time{})
	if len(after) != len(before) {
		t.Fatalf("stream has %d events after refused changes, want %d", len(after), len(before))
	}
	for i := range before {
		MustEqualEvent(t, after[i], before[i])
	}
	if got, want := MustCountAllRows(t, ctx, pool), 5; got != want {
		t.Errorf("events rows = %d, want %d", got, want)
	}
	if broken := MustVerify(t, ctx, store); len(broken) != 0 {
		t.Errorf("Verify = %+v, want no broken links", broken)
	}
}

// Compile-time check that the helpers' DB parameter accepts what the tests pass.
var (
	_ eventstore.DB = (*pgxpool.Pool)(nil)
	_ eventstore.DB = (*pgxpool.Conn)(nil)
	_ eventstore.DB = pgx.Tx(nil)
)

func TestEventsTableRefusesTruncate(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	MustAppend(t, ctx, store, eventstore.StreamID{Type: "test", ID: uuid.New()}, 0, eventstore.NewEvent{Type: "Happened", Data: map[string]int{"n": 1}})
	if _, err := pool.Exec(ctx, `TRUNCATE events`); err == nil {
		t.Fatal("TRUNCATE events succeeded, want it refused")
	}
	if got, want := MustCountAllRows(t, ctx, pool), 1; got != want {
		t.Errorf("rows after refused TRUNCATE = %d, want %d", got, want)
	}
}
