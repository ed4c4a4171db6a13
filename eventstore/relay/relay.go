// Package relay publishes the event log to NATS JetStream, once and in commit
// order: the stream ASSETANCHOR_EVENTS, subject assetanchor.events.<stream type>,
// header Nats-Msg-Id the event id (API.md, "The event relay").
//
// Exactly once, also beyond JetStream's deduplication window, comes from the
// stream itself: every message carries the relay's place in the log (header
// Assetanchor-Relay-Cursor), the relay resumes after the stream's last message,
// and it publishes each message on the condition that the stream's last sequence
// is the one it knows (Nats-Expected-Last-Sequence). A relay that lost its place,
// or a second relay, is refused instead of interleaving, and re-reads the stream.
//
// An event JetStream keeps refusing while it answers is parked (relay_parked),
// with the later events of its stream held back behind it so that the stream's
// order holds; the rest of the log flows on. An operator retries or skips it
// (Retry, Skip).
//
// It must not import commands, projections or http.
package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetanchor/assetanchor/eventstore"
)

const (
	// StreamName is the JetStream stream the relay publishes to.
	StreamName = "ASSETANCHOR_EVENTS"
	// SubjectPrefix precedes the stream type in each message's subject.
	SubjectPrefix = "assetanchor.events."
	// CursorHeader holds the relay's place in the log when it published the
	// message: "transaction_id:position".
	CursorHeader = "Assetanchor-Relay-Cursor"
)

var (
	// ErrNotParked is returned by Retry and Skip for an event that is not parked.
	ErrNotParked = errors.New("event is not parked")
	// ErrWaiting is returned by Retry and Skip for an event held back behind
	// another parked event of its stream.
	ErrWaiting = errors.New("event waits behind an earlier parked event of its stream")
)

// Message is the body of each message: the event as stored, tenant personal
// data still sealed.
type Message struct {
	EventID       string              `json:"event_id"`
	StreamID      string              `json:"stream_id"`
	StreamType    string              `json:"stream_type"`
	Version       int64               `json:"version"`
	EventType     string              `json:"event_type"`
	SchemaVersion int                 `json:"schema_version"`
	RecordedAt    time.Time           `json:"recorded_at"`
	Payload       json.RawMessage     `json:"payload"`
	Metadata      eventstore.Metadata `json:"metadata"`
}

// MessageOf is the body published for e.
func MessageOf(e eventstore.Event) Message {
	return Message{EventID: e.EventID.String(), StreamID: e.Stream.ID.String(), StreamType: e.Stream.Type,
		Version: e.Version, EventType: e.Type, SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt,
		Payload: e.Data, Metadata: e.Metadata}
}

// Config sets a relay up; zero durations take the defaults.
type Config struct {
	Pool *pgxpool.Pool
	JS   jetstream.JetStream
	Log  *slog.Logger
	// Attempts is how often an event is tried before it is parked (5).
	Attempts int
	// Backoff is the first pause between attempts (250 ms); it doubles up to 30 s.
	Backoff time.Duration
	// Poll is the pause when the relay has caught up (100 ms).
	Poll time.Duration
	// Batch is how many events are read at a time (200).
	Batch int
}

// Relay publishes the log. Run it on one node at a time (a job lease); the
// expected-last-sequence check keeps the stream right even if two run.
type Relay struct {
	cfg       Config
	stream    jetstream.Stream
	cursor    eventstore.Checkpoint
	lastSeq   uint64
	published prometheus.Counter
	failures  prometheus.Counter
}

// New makes a relay.
func New(cfg Config) (*Relay, error) {
	if cfg.Pool == nil || cfg.JS == nil || cfg.Log == nil {
		return nil, errors.New("relay: New needs a pool, a JetStream client and a logger")
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 100 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	return &Relay{cfg: cfg,
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "assetanchor_relay_published_total",
			Help: "Events this node published to NATS JetStream."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "assetanchor_relay_publish_failures_total",
			Help: "Attempts to publish an event to NATS JetStream that failed on this node."}),
	}, nil
}

// Run relays until ctx ends; it returns nil on a clean stop.
func (r *Relay) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		err := r.resume(ctx)
		if err == nil {
			err = r.relay(ctx)
		}
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errLostPlace) {
			r.cfg.Log.WarnContext(ctx, "event relay: the stream moved on without this relay; resuming after its last message")
			continue
		}
		r.cfg.Log.ErrorContext(ctx, "event relay", "err", err)
		if !sleep(ctx, r.cfg.Backoff*8) {
			return nil
		}
	}
	return nil
}

// errLostPlace means the stream's last sequence was not the relay's.
var errLostPlace = errors.New("stream's last sequence moved")

// resume finds (or creates) the stream and reads the relay's place from its
// last message.
func (r *Relay) resume(ctx context.Context) error {
	stream, err := r.cfg.JS.Stream(ctx, StreamName)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = r.cfg.JS.CreateStream(ctx, jetstream.StreamConfig{
			Name: StreamName, Subjects: []string{SubjectPrefix + ">"}, Storage: jetstream.FileStorage,
			Description: "Asset Anchor's event log, in commit order",
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = r.cfg.JS.Stream(ctx, StreamName)
		}
	}
	if err != nil {
		return fmt.Errorf("open stream %s: %w", StreamName, err)
	}
	r.stream = stream
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("read stream %s: %w", StreamName, err)
	}
	r.lastSeq = info.State.LastSeq
	r.cursor = eventstore.Checkpoint{}
	if r.lastSeq == 0 {
		return nil // an empty stream: the whole log is news
	}
	msg, err := stream.GetMsg(ctx, r.lastSeq)
	if err == nil {
		if r.cursor, err = r.cursorOf(ctx, msg); err == nil {
			return nil
		}
	}
	// The last message is gone (the stream's limits dropped it) or not the
	// relay's: fall back on the place saved in the database.
	r.cfg.Log.WarnContext(ctx, "event relay: the stream's last message does not say where the relay was; using the database's record",
		"sequence", r.lastSeq, "err", err)
	err = r.cfg.Pool.QueryRow(ctx, `SELECT transaction_id, position FROM relay_position`).
		Scan(&r.cursor.TransactionID, &r.cursor.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("stream %s has messages but neither its last message nor the database says which were published", StreamName)
	}
	if err != nil {
		return fmt.Errorf("read relay position: %w", err)
	}
	return nil
}

// cursorOf reads the relay's place from a message it published: its cursor
// header, else the place of the event it carries.
func (r *Relay) cursorOf(ctx context.Context, msg *jetstream.RawStreamMsg) (eventstore.Checkpoint, error) {
	if c := msg.Header.Get(CursorHeader); c != "" {
		return parseCursor(c)
	}
	var cp eventstore.Checkpoint
	err := r.cfg.Pool.QueryRow(ctx, `SELECT transaction_id, position FROM events WHERE event_id = $1`,
		msg.Header.Get(jetstream.MsgIDHeader)).Scan(&cp.TransactionID, &cp.Position)
	if err != nil {
		return cp, fmt.Errorf("find the event of message %d: %w", msg.Sequence, err)
	}
	return cp, nil
}

func formatCursor(c eventstore.Checkpoint) string {
	return strconv.FormatUint(c.TransactionID, 10) + ":" + strconv.FormatInt(c.Position, 10)
}

func parseCursor(s string) (eventstore.Checkpoint, error) {
	txid, pos, ok := strings.Cut(s, ":")
	var c eventstore.Checkpoint
	var err1, err2 error
	c.TransactionID, err1 = strconv.ParseUint(txid, 10, 64)
	c.Position, err2 = strconv.ParseInt(pos, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return eventstore.Checkpoint{}, fmt.Errorf("malformed relay cursor %q", s)
	}
	return c, nil
}

// relay publishes batch after batch until ctx ends or the stream moves under it.
func (r *Relay) relay(ctx context.Context) error {
	store := eventstore.NewPostgresStore(r.cfg.Pool)
	for {
		if err := r.drainRetries(ctx); err != nil {
			return err
		}
		batch, err := store.ReadAfter(ctx, r.cursor, r.cfg.Batch)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			if !sleep(ctx, r.cfg.Poll) {
				return nil
			}
			continue
		}
		parked, held, err := r.parkedState(ctx, batch[0].Checkpoint())
		if err != nil {
			return err
		}
		for _, e := range batch {
			switch {
			case parked[e.EventID.String()]:
				// parked before a restart; its row decides what happens to it
			case held[e.Stream.ID.String()]:
				if err := r.park(ctx, e, "waiting", 0, ""); err != nil {
					return err
				}
			default:
				ok, err := r.publish(ctx, e, true)
				if err != nil {
					return err
				}
				if !ok {
					held[e.Stream.ID.String()] = true
				}
			}
			r.cursor = e.Checkpoint()
		}
		if _, err := r.cfg.Pool.Exec(ctx, `INSERT INTO relay_position (transaction_id, position, stream_sequence)
			VALUES ($1::text::xid8, $2, $3) ON CONFLICT (singleton) DO UPDATE SET transaction_id = excluded.transaction_id,
			position = excluded.position, stream_sequence = excluded.stream_sequence, updated_at = now()`,
			strconv.FormatUint(r.cursor.TransactionID, 10), r.cursor.Position, int64(r.lastSeq)); err != nil {
			return fmt.Errorf("save relay position: %w", err)
		}
	}
}

// parkedState reads which events from `from` on are already in relay_parked,
// and which streams have events held back.
func (r *Relay) parkedState(ctx context.Context, from eventstore.Checkpoint) (parked, held map[string]bool, err error) {
	parked, held = map[string]bool{}, map[string]bool{}
	rows, err := r.cfg.Pool.Query(ctx, `SELECT event_id, stream_id, state <> 'skipped',
			(transaction_id, position) >= ($1::text::xid8, $2)
		FROM relay_parked WHERE state <> 'skipped' OR (transaction_id, position) >= ($1::text::xid8, $2)`,
		strconv.FormatUint(from.TransactionID, 10), from.Position)
	if err != nil {
		return nil, nil, fmt.Errorf("read parked events: %w", err)
	}
	var id, stream string
	var open, ahead bool
	_, err = pgx.ForEachRow(rows, []any{&id, &stream, &open, &ahead}, func() error {
		if open {
			held[stream] = true
		}
		if ahead {
			parked[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("read parked events: %w", err)
	}
	return parked, held, nil
}

// publish sends e, trying again with backoff. It reports false when e was
// parked instead: JetStream answered but kept refusing it. While JetStream does
// not answer at all, it waits, parking nothing. fresh is false when e comes from
// relay_parked (its row is updated rather than created).
func (r *Relay) publish(ctx context.Context, e eventstore.Event, fresh bool) (bool, error) {
	body, err := json.Marshal(MessageOf(e))
	if err != nil {
		return false, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	pause := r.cfg.Backoff
	for attempt := 1; ; attempt++ {
		msg := &nats.Msg{Subject: SubjectPrefix + e.Stream.Type, Header: nats.Header{}, Data: body}
		msg.Header.Set(jetstream.MsgIDHeader, e.EventID.String())
		cursor := r.cursor
		if !cursor.Reached(e.Checkpoint()) {
			cursor = e.Checkpoint()
		}
		msg.Header.Set(CursorHeader, formatCursor(cursor))
		ack, err := r.cfg.JS.PublishMsg(ctx, msg, jetstream.WithExpectLastSequence(r.lastSeq))
		if err == nil {
			if !ack.Duplicate {
				r.lastSeq = ack.Sequence
			}
			r.published.Inc()
			if !fresh {
				_, err := r.cfg.Pool.Exec(ctx, `DELETE FROM relay_parked WHERE event_id = $1`, e.EventID.String())
				if err != nil {
					return false, fmt.Errorf("unpark event %s: %w", e.EventID, err)
				}
			}
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if wrongLastSequence(err) {
			return false, errLostPlace
		}
		r.failures.Inc()
		r.cfg.Log.WarnContext(ctx, "event relay: publish failed", "event_id", e.EventID.String(),
			"attempt", attempt, "err", err)
		if attempt >= r.cfg.Attempts {
			// JetStream answers yet refuses this event: park it. If it does not
			// answer, every event would fail alike: wait for it instead.
			if _, probe := r.cfg.JS.AccountInfo(ctx); probe == nil {
				if err := r.park(ctx, e, "parked", attempt, err.Error()); err != nil {
					return false, err
				}
				r.cfg.Log.ErrorContext(ctx, "event relay: event parked; `assetanchor relay retry` or `relay skip` it",
					"event_id", e.EventID.String(), "stream_id", e.Stream.ID.String(), "event_type", e.Type,
					"attempts", attempt, "err", err)
				return false, nil
			}
		}
		if !sleep(ctx, pause) {
			return false, ctx.Err()
		}
		pause = min(2*pause, 30*time.Second)
	}
}

func wrongLastSequence(err error) bool {
	var jsErr jetstream.JetStreamError
	if !errors.As(err, &jsErr) || jsErr.APIError() == nil {
		return false
	}
	code := jsErr.APIError().ErrorCode
	return code == jetstream.JSErrCodeStreamWrongLastSequence || code == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// park records e in relay_parked as state (parked or waiting) after attempts.
func (r *Relay) park(ctx context.Context, e eventstore.Event, state string, attempts int, why string) error {
	_, err := r.cfg.Pool.Exec(ctx, `INSERT INTO relay_parked
			(event_id, stream_id, transaction_id, position, state, attempts, last_error)
		VALUES ($1, $2, $3::text::xid8, $4, $5, $6, $7)
		ON CONFLICT (event_id) DO UPDATE SET state = excluded.state, attempts = relay_parked.attempts + excluded.attempts,
			last_error = excluded.last_error, updated_at = now()`,
		e.EventID.String(), e.Stream.ID.String(), strconv.FormatUint(e.TransactionID, 10), e.Position, state,
		attempts, why)
	if err != nil {
		return fmt.Errorf("park event %s: %w", e.EventID, err)
	}
	return nil
}

// drainRetries publishes, stream by stream and in order, the parked events an
// operator asked to retry and the events held back behind them. A retried event
// refused again is parked again, and its stream's later events keep waiting.
func (r *Relay) drainRetries(ctx context.Context) error {
	rows, err := r.cfg.Pool.Query(ctx, `SELECT DISTINCT stream_id FROM relay_parked WHERE state = 'retry'`)
	if err != nil {
		return fmt.Errorf("read retried events: %w", err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read retried events: %w", err)
	}
	for _, stream := range streams {
		rows, err := r.cfg.Pool.Query(ctx, `SELECT `+eventstore.EventColumns+` FROM events
			WHERE event_id IN (SELECT event_id FROM relay_parked WHERE stream_id = $1 AND state <> 'skipped')
			ORDER BY events.transaction_id, events.position`, stream)
		if err != nil {
			return fmt.Errorf("read parked events of %s: %w", stream, err)
		}
		var scan eventstore.EventScanner
		events, err := pgx.CollectRows(rows, scan.Scan)
		if err != nil {
			return fmt.Errorf("read parked events of %s: %w", stream, err)
		}
		for _, e := range events {
			ok, err := r.publish(ctx, e, false)
			if err != nil {
				return err
			}
			if !ok {
				break
			}
		}
	}
	return nil
}

// Collector is the relay's metrics on this node: events published and failed
// attempts. ParkedCollector counts the parked events of the deployment.
func (r *Relay) Collector() prometheus.Collector {
	return collectors{r.published, r.failures}
}

type collectors []prometheus.Collector

func (cs collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range cs {
		c.Describe(ch)
	}
}

func (cs collectors) Collect(ch chan<- prometheus.Metric) {
	for _, c := range cs {
		c.Collect(ch)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
