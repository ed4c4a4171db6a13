package eventstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
)

// errorLogger hands the subscriber's logged errors (failed polls) to the test, so
// that a broken query fails the test at once with its cause instead of timing out.
type errorLogger struct{ errs chan error }

func (l errorLogger) Error(msg string, err error, _ watermill.LogFields) {
	select {
	case l.errs <- fmt.Errorf("%s: %w", msg, err):
	default:
	}
}
func (errorLogger) Info(string, watermill.LogFields)                   {}
func (errorLogger) Debug(string, watermill.LogFields)                  {}
func (errorLogger) Trace(string, watermill.LogFields)                  {}
func (l errorLogger) With(watermill.LogFields) watermill.LoggerAdapter { return l }

// subscription is a running subscriber with its messages and logged errors.
type subscription struct {
	sub  *wsql.Subscriber
	msgs <-chan *message.Message
	errs <-chan error
}

// MustSubscribe starts a watermill-sql subscriber on the events table itself.
func MustSubscribe(t *testing.T, ctx context.Context, pool *pgxpool.Pool, group string) subscription {
	t.Helper()
	logger := errorLogger{errs: make(chan error, 16)}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(pool), wsql.SubscriberConfig{
		ConsumerGroup:  group,
		SchemaAdapter:  eventstore.WatermillSchema{},
		OffsetsAdapter: eventstore.WatermillOffsets(),
		PollInterval:   10 * time.Millisecond,
	}, logger)
	if err != nil {
		t.Fatalf("new subscriber: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	msgs, err := sub.Subscribe(ctx, eventstore.Topic)
	if err != nil {
		t.Fatalf("subscribe to %s: %v", eventstore.Topic, err)
	}
	return subscription{sub: sub, msgs: msgs, errs: logger.errs}
}

// MustReceive takes the next n messages, acking each, and converts them to events.
func MustReceive(t *testing.T, ctx context.Context, s subscription, n int) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for len(out) < n {
		select {
		case err := <-s.errs:
			t.Fatalf("subscriber failed after %d of %d messages: %v", len(out), n, err)
		case msg, ok := <-s.msgs:
			if !ok {
				t.Fatalf("message channel closed after %d of %d messages", len(out), n)
			}
			e, err := eventstore.EventFromMessage(msg)
			if err != nil {
				t.Fatalf("EventFromMessage: %v", err)
			}
			if msg.UUID != e.EventID.String() {
				t.Errorf("message UUID = %s, want the event id %s", msg.UUID, e.EventID)
			}
			out = append(out, e)
			msg.Ack()
		case <-ctx.Done():
			t.Fatalf("received %d of %d messages before the deadline", len(out), n)
		}
	}
	return out
}

// MustOffsetAcked waits, by polling the offsets table, until the consumer group
// has stored cp as its last processed event.
func MustOffsetAcked(t *testing.T, ctx context.Context, pool *pgxpool.Pool, group string, cp eventstore.Checkpoint) {
	t.Helper()
	for {
		var offset int64
		var txid string
		err := pool.QueryRow(ctx, `SELECT coalesce(offset_acked, 0), last_processed_transaction_id::text
			FROM watermill_offsets_events WHERE consumer_group = $1`, group).Scan(&offset, &txid)
		if err != nil {
			t.Fatalf("read offsets of %s: %v", group, err)
		}
		if offset == cp.Position && txid == strconv.FormatUint(cp.TransactionID, 10) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("offsets of %s = (%s, %d), want %+v", group, txid, offset, cp)
		}
	}
}

// MustCloseDrained closes the subscriber and fails on any message still delivered.
func MustCloseDrained(t *testing.T, s subscription) {
	t.Helper()
	closed := make(chan error, 1)
	go func() { closed <- s.sub.Close() }()
	for msg := range s.msgs {
		e, _ := eventstore.EventFromMessage(msg)
		t.Errorf("unexpected message %s (event %s version %d) while closing", msg.UUID, e.Stream, e.Version)
		msg.Nack()
	}
	if err := <-closed; err != nil {
		t.Errorf("close subscriber: %v", err)
	}
	select {
	case err := <-s.errs:
		t.Errorf("subscriber logged an error: %v", err)
	default:
	}
}

// inLogOrder sorts events by their place in the global log.
func inLogOrder(events []eventstore.Event) []eventstore.Event {
	slices.SortFunc(events, func(a, b eventstore.Event) int {
		switch {
		case a.Checkpoint() == b.Checkpoint():
			return 0
		case a.Checkpoint().Reached(b.Checkpoint()):
			return 1
		default:
			return -1
		}
	})
	return events
}

// The events table is consumed through watermill-sql: every event arrives once,
// in log order, identical to what ReadStream returns, and a consumer group's
// offsets survive a restart of its subscriber.
func TestWatermillSubscriberConsumesEvents(t *testing.T) {
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, 8)
	store := eventstore.NewPostgresStore(pool)
	const group = "test"

	s1, s2 := newStream("lease"), newStream("user")
	actor := newStream("user").ID
	md := eventstore.Metadata{ActorID: &actor, IPAddress: "198.51.100.4", UserAgent: "ua/1",
		CorrelationID: "corr-1", CausationID: "cause-1", Command: "SignLease"}
	mdCtx := eventstore.WithMetadata(ctx, md)
	MustAppend(t, mdCtx, store, s1, 0,
		eventstore.NewEvent{Type: "LeaseSigned", SchemaVersion: 2, Data: map[string]any{"rent": "1200.00", "n": 1}},
		eventstore.NewEvent{Type: "LeaseRenewed", SchemaVersion: 1, Data: map[string]any{"n": 2}})
	MustAppend(t, ctx, store, s2, 0, event("UserRegistered", map[string]any{"email": "a@example.com"}))

	want := inLogOrder(append(MustReadStream(t, ctx, store, s1, time.Time{}),
		MustReadStream(t, ctx, store, s2, time.Time{})...))
	if len(want) != 3 {
		t.Fatalf("ReadStream returned %d events, want 3", len(want))
	}

	sub := MustSubscribe(t, ctx, pool, group)
	got := MustReceive(t, ctx, sub, 3)
	for i := range want {
		MustEqualEvent(t, got[i], want[i])
	}
	MustOffsetAcked(t, ctx, pool, group, want[2].Checkpoint())
	MustCloseDrained(t, sub)

	// A new subscriber of the same group resumes after the acked offset.
	res := MustAppend(t, mdCtx, store, s2, 1, event("UserProfileChanged", map[string]any{"name": "B"}))
	sub = MustSubscribe(t, ctx, pool, group)
	got = MustReceive(t, ctx, sub, 1)
	latest := MustReadStream(t, ctx, store, s2, time.Time{})
	if len(latest) != 2 {
		t.Fatalf("ReadStream returned %d events, want 2", len(latest))
	}
	MustEqualEvent(t, got[0], latest[1])
	if got[0].Checkpoint() != res.Checkpoint {
		t.Errorf("redelivered checkpoint %+v, want only the new event at %+v", got[0].Checkpoint(), res.Checkpoint)
	}
	MustOffsetAcked(t, ctx, pool, group, res.Checkpoint)
	MustCloseDrained(t, sub)

	// Another consumer group starts from the beginning and gets all four.
	sub = MustSubscribe(t, ctx, pool, "other")
	got = MustReceive(t, ctx, sub, 4)
	all := append(slices.Clone(want), latest[1])
	for i := range all {
		MustEqualEvent(t, got[i], all[i])
	}
	MustOffsetAcked(t, ctx, pool, "other", res.Checkpoint)
	MustCloseDrained(t, sub)
}

// A message whose event was appended in a transaction that is still open is not
// delivered, and neither are later events: delivery waits for the horizon.
func TestWatermillSubscriberWaitsForOpenTransaction(t *testing.T) {
	ctx := MustContext(t)
	pool := MustPoolWithConns(t, 8)
	store := eventstore.NewPostgresStore(pool)
	const group = "late"

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit
	a, b := newStream("lease"), newStream("lease")
	resA, err := store.WithDB(tx).Append(ctx, a, 0, event("LeaseSigned", map[string]string{"e": "A"}))
	if err != nil {
		t.Fatal(err)
	}
	resB := MustAppend(t, ctx, store, b, 0, event("LeaseSigned", map[string]string{"e": "B"}))

	sub := MustSubscribe(t, ctx, pool, group)
	// Let the subscriber poll several times without delivering anything. Each poll
	// locks the group's offsets row FOR UPDATE in a new transaction, which leaves
	// that transaction's id in the row's xmax: count distinct lockers.
	lockers := map[string]bool{}
	noDelivery := func() {
		t.Helper()
		select {
		case msg, ok := <-sub.msgs:
			if !ok {
				t.Fatal("message channel closed")
			}
			e, _ := eventstore.EventFromMessage(msg)
			t.Fatalf("delivered %s version %d while an older transaction is open", e.Stream, e.Version)
		case err := <-sub.errs:
			t.Fatalf("subscriber failed: %v", err)
		default:
		}
	}
	for len(lockers) < 4 {
		noDelivery()
		if ctx.Err() != nil {
			t.Fatalf("saw %d subscriber polls before the deadline", len(lockers))
		}
		var xmax string
		if err := pool.QueryRow(ctx, `SELECT xmax::text FROM watermill_offsets_events WHERE consumer_group = $1`, group).Scan(&xmax); err != nil {
			t.Fatal(err)
		}
		if xmax != "0" {
			lockers[xmax] = true
		}
	}
	noDelivery()
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := MustReceive(t, ctx, sub, 2)
	if got[0].Checkpoint() != resA.Checkpoint || got[1].Checkpoint() != resB.Checkpoint {
		t.Errorf("delivered %+v then %+v, want A %+v then B %+v",
			got[0].Checkpoint(), got[1].Checkpoint(), resA.Checkpoint, resB.Checkpoint)
	}
	MustOffsetAcked(t, ctx, pool, group, resB.Checkpoint)
	MustCloseDrained(t, sub)
}
