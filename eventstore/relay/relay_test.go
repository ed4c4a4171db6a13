package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/relay"
	"github.com/assetanchor/assetanchor/eventstore/relay/natstest"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// MustJetStream starts a NATS server and connects to it.
func MustJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	srv := natstest.MustStart(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// MustCreateStream creates the relay's stream as an operator might have.
func MustCreateStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) jetstream.Stream {
	t.Helper()
	cfg.Name, cfg.Subjects = relay.StreamName, []string{relay.SubjectPrefix + ">"}
	s, err := js.CreateStream(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// running is a relay run by the test until stop.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func MustRunRelay(t *testing.T, pool *pgxpool.Pool, js jetstream.JetStream) *running {
	t.Helper()
	r, err := relay.New(relay.Config{Pool: pool, JS: js, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Attempts: 2, Backoff: 5 * time.Millisecond, Poll: 10 * time.Millisecond, Batch: 37})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

func (r *running) stop(t *testing.T) {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("relay did not stop")
		}
	})
}

// appendEvents appends n events to each of the streams, from concurrent writers.
func appendEvents(t *testing.T, store eventstore.Store, streams []eventstore.StreamID, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Go(func() {
			for i := range n {
				version := currentVersion(t, store, s)
				if _, err := store.Append(context.Background(), s, version,
					eventstore.NewEvent{Type: "WidgetTurned", SchemaVersion: 1, Data: map[string]int{"turn": i}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func currentVersion(t *testing.T, store eventstore.Store, s eventstore.StreamID) int64 {
	events, err := store.ReadStream(context.Background(), s, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(events))
}

// logIDs is the event ids of the log in commit order.
func logIDs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id FROM events ORDER BY transaction_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// streamMessages reads every message of the relay's stream in order.
func streamMessages(t *testing.T, js jetstream.JetStream) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, relay.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func msgIDs(msgs []*jetstream.RawStreamMsg) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.Header.Get(jetstream.MsgIDHeader)
	}
	return ids
}

// waitForMessages waits until the stream holds n messages.
func waitForMessages(t *testing.T, js jetstream.JetStream, n uint64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := js.Stream(context.Background(), relay.StreamName)
		if err == nil {
			info, err := s.Info(context.Background())
			if err == nil && info.State.Msgs >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stream did not reach %d messages", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func widgets(n int) []eventstore.StreamID {
	s := make([]eventstore.StreamID, n)
	for i := range s {
		s[i] = eventstore.StreamID{Type: "widget", ID: uuid.New()}
	}
	return s
}

func TestRelayPublishesTheLogOnceInCommitOrderAcrossRestarts(t *testing.T) {
	pool := dbtest.MustPool(t)
	js := MustJetStream(t)
	store := eventstore.NewPostgresStore(pool)
	// A deduplication window of 1 s: a restart after it must still publish
	// nothing twice, since the relay resumes after the stream's last message.
	MustCreateStream(t, js, jetstream.StreamConfig{Duplicates: time.Second})
	streams := widgets(6)
	appendEvents(t, store, streams, 15)

	first := MustRunRelay(t, pool, js)
	appendEvents(t, store, streams, 10) // while it runs
	waitForMessages(t, js, uint64(len(logIDs(t, pool))))
	first.stop(t)

	time.Sleep(1500 * time.Millisecond) // past the deduplication window
	appendEvents(t, store, streams[:3], 5)
	MustRunRelay(t, pool, js)
	want := logIDs(t, pool)
	waitForMessages(t, js, uint64(len(want)))
	time.Sleep(200 * time.Millisecond) // a duplicate would land now
	msgs := streamMessages(t, js)
	if got := msgIDs(msgs); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("the stream holds %d messages, the log %d events, or their order differs\ngot  %v\nwant %v", len(got), len(want), got, want)
	}

	// Each message is the event as stored, under its stream type's subject.
	events, err := store.ReadAfter(context.Background(), eventstore.Checkpoint{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	var body map[string]any
	if err := json.Unmarshal(msgs[0].Data, &body); err != nil {
		t.Fatal(err)
	}
	if msgs[0].Subject != "assetanchor.events.widget" {
		t.Errorf("subject = %s", msgs[0].Subject)
	}
	for field, want := range map[string]any{"event_id": e.EventID.String(), "stream_id": e.Stream.ID.String(),
		"stream_type": "widget", "version": float64(e.Version), "event_type": e.Type,
		"schema_version": float64(e.SchemaVersion)} {
		if body[field] != want {
			t.Errorf("%s = %v, want %v", field, body[field], want)
		}
	}
	for _, field := range []string{"recorded_at", "payload", "metadata"} {
		if _, ok := body[field]; !ok {
			t.Errorf("the body lacks %s: %s", field, msgs[0].Data)
		}
	}
}

// Two relays at once (a node that lost its lease and does not know it yet)
// never interleave: the expected-last-sequence check refuses the one behind.
func TestTwoRelaysAtOncePublishEachEventOnce(t *testing.T) {
	pool := dbtest.MustPool(t)
	js := MustJetStream(t)
	store := eventstore.NewPostgresStore(pool)
	streams := widgets(4)
	appendEvents(t, store, streams, 10)
	MustRunRelay(t, pool, js)
	MustRunRelay(t, pool, js)
	appendEvents(t, store, streams, 20)
	want := logIDs(t, pool)
	waitForMessages(t, js, uint64(len(want)))
	time.Sleep(300 * time.Millisecond)
	if got := msgIDs(streamMessages(t, js)); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %d messages for %d events, or out of order\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
}

func TestRelayParksWhatJetStreamRefusesAndTheOperatorRetriesOrSkips(t *testing.T) {
	pool := dbtest.MustPool(t)
	js := MustJetStream(t)
	store := eventstore.NewPostgresStore(pool)
	ctx := context.Background()
	stream := MustCreateStream(t, js, jetstream.StreamConfig{MaxMsgSize: 2048})
	a, b := widgets(1)[0], widgets(1)[0]
	big := eventstore.NewEvent{Type: "WidgetPainted", SchemaVersion: 1, Data: map[string]string{"paint": strings.Repeat("x", 4096)}}
	small := func(i int) eventstore.NewEvent {
		return eventstore.NewEvent{Type: "WidgetTurned", SchemaVersion: 1, Data: map[string]int{"turn": i}}
	}
	mustAppend := func(s eventstore.StreamID, version int64, e eventstore.NewEvent) string {
		t.Helper()
		if _, err := store.Append(ctx, s, version, e); err != nil {
			t.Fatal(err)
		}
		events, err := store.ReadStream(ctx, s, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return events[len(events)-1].EventID.String()
	}
	a1 := mustAppend(a, 0, small(1))
	a2 := mustAppend(a, 1, big) // refused: larger than the stream allows
	a3 := mustAppend(a, 2, small(3))
	b1 := mustAppend(b, 0, small(1))
	MustRunRelay(t, pool, js)
	waitForMessages(t, js, 2)
	b2 := mustAppend(b, 1, small(2)) // the rest of the log keeps flowing
	waitForMessages(t, js, 3)

	status := mustStatus(t, pool, 2)
	if status.Parked[0].EventID != a2 || status.Parked[0].State != "parked" || status.Parked[0].Attempts != 2 ||
		!strings.Contains(status.Parked[0].LastError, "maximum") {
		t.Errorf("parked = %+v", status.Parked[0])
	}
	if status.Parked[1].EventID != a3 || status.Parked[1].State != "waiting" {
		t.Errorf("held back = %+v", status.Parked[1])
	}
	if n, err := relay.CountParked(ctx, pool); err != nil || n != 2 {
		t.Errorf("CountParked = %d, %v", n, err)
	}
	if err := relay.Retry(ctx, pool, a3); !errors.Is(err, relay.ErrWaiting) {
		t.Errorf("retry of a held back event = %v", err)
	}
	if err := relay.Retry(ctx, pool, b1); !errors.Is(err, relay.ErrNotParked) {
		t.Errorf("retry of a published event = %v", err)
	}

	// Retried before the cause is fixed: parked again.
	if err := relay.Retry(ctx, pool, a2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a2 parked again", func() bool {
		s := mustStatus(t, pool, -1)
		return len(s.Parked) == 2 && s.Parked[0].State == "parked" && s.Parked[0].Attempts == 4
	})
	// The operator raises the limit and retries: a2 and then a3 go out.
	if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: relay.StreamName,
		Subjects: []string{relay.SubjectPrefix + ">"}, MaxMsgSize: -1}); err != nil {
		t.Fatal(err)
	}
	if err := relay.Retry(ctx, pool, a2); err != nil {
		t.Fatal(err)
	}
	waitForMessages(t, js, 5)
	waitUnparked(t, pool)
	if got, want := strings.Join(msgIDs(streamMessages(t, js)), ","), strings.Join([]string{a1, b1, b2, a2, a3}, ","); got != want {
		t.Errorf("stream = %s, want %s", got, want)
	}

	// Skipped: never published; what waited behind it flows on.
	if _, err := js.UpdateStream(ctx, jetstream.StreamConfig{Name: relay.StreamName,
		Subjects: []string{relay.SubjectPrefix + ">"}, MaxMsgSize: 2048}); err != nil {
		t.Fatal(err)
	}
	a4 := mustAppend(a, 3, big)
	a5 := mustAppend(a, 4, small(5))
	waitFor(t, "a4 parked", func() bool { return len(mustStatus(t, pool, -1).Parked) == 2 })
	if err := relay.Skip(ctx, pool, a4); err != nil {
		t.Fatal(err)
	}
	waitForMessages(t, js, 6)
	waitUnparked(t, pool)
	msgs := streamMessages(t, js)
	if got := msgIDs(msgs)[5]; got != a5 {
		t.Errorf("after the skip the stream got %s, want %s", got, a5)
	}
	if err := relay.Retry(ctx, pool, a4); !errors.Is(err, relay.ErrNotParked) {
		t.Errorf("retry of a skipped event = %v", err)
	}
	_ = stream
}

func mustStatus(t *testing.T, pool *pgxpool.Pool, parked int) relay.Status {
	t.Helper()
	s, err := relay.ReadStatus(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if parked >= 0 && len(s.Parked) != parked {
		t.Fatalf("%d events held back, want %d: %+v", len(s.Parked), parked, s.Parked)
	}
	return s
}

// waitUnparked waits until the relay holds nothing back. A retried event leaves
// relay_parked just after JetStream acknowledges it (the two cannot commit
// together), so a consumer may see the message a moment before the row goes.
func waitUnparked(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	waitFor(t, "nothing held back", func() bool { return len(mustStatus(t, pool, -1).Parked) == 0 })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(fmt.Sprintf("timed out waiting for %s", what))
		}
	}
}
