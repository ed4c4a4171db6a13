package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Consumer handles one event of the log, outside the transaction that appended
// it, inside the transaction that also advances its checkpoint.
type Consumer interface {
	Apply(ctx context.Context, tx pgx.Tx, e eventstore.Event) error
}

// Runtime delivers the event log to an asynchronous consumer through watermill,
// in commit order. (The relational read model is not one: it is written inline,
// in the appending transaction.) Each event is handled in the subscriber's
// transaction, together with the consumer's checkpoint and watermill's offset,
// so that a redelivered event is skipped.
type Runtime struct {
	name      string
	pool      *pgxpool.Pool
	projector Consumer
	log       *slog.Logger
	poll      time.Duration
}

// NewRuntime runs consumer under name (its consumer group and checkpoint row).
// A consumer that runs for the first time starts at the log's head: what came
// before is not news to it.
func NewRuntime(name string, pool *pgxpool.Pool, consumer Consumer, log *slog.Logger) *Runtime {
	return &Runtime{name: name, pool: pool, projector: consumer, log: log, poll: 50 * time.Millisecond}
}

// Run consumes until ctx ends. It returns nil on a clean stop.
func (r *Runtime) Run(ctx context.Context) error {
	if err := r.startAtHead(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: a clean stop
		}
		return fmt.Errorf("create checkpoint of %s: %w", r.name, err)
	}
	sub, err := wsql.NewSubscriber(wsql.BeginnerFromPgx(r.pool), wsql.SubscriberConfig{
		ConsumerGroup:  r.name,
		SchemaAdapter:  eventstore.WatermillSchema{},
		OffsetsAdapter: eventstore.WatermillOffsets(),
		PollInterval:   r.poll,
		ResendInterval: time.Second,
		RetryInterval:  time.Second,
	}, watermill.NewSlogLogger(r.log))
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", r.name, err)
	}
	defer sub.Close()
	// The subscription outlives ctx: on stop, Run finishes the message in hand and
	// then closes the subscriber, which commits what was acked. Cancelling the
	// subscription itself would let watermill ack on the transaction while the
	// handler still uses it.
	messages, err := sub.Subscribe(context.WithoutCancel(ctx), eventstore.Topic)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("subscribe %s: %w", r.name, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-messages:
			if !ok {
				return nil
			}
			if err := r.handle(msg); err != nil {
				// A projection bug must not skip history: the event is redelivered.
				r.log.Error("projection failed", "projector", r.name, "event_id", msg.UUID, "err", err)
				msg.Nack()
				continue
			}
			msg.Ack()
		}
	}
}

func (r *Runtime) handle(msg *message.Message) error {
	ctx := msg.Context()
	wtx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return errors.New("message carries no transaction")
	}
	tx, ok := wtx.(*wsql.PgxTx)
	if !ok {
		return fmt.Errorf("unexpected transaction type %T", wtx)
	}
	e, err := eventstore.EventFromMessage(msg)
	if err != nil {
		return err
	}
	// A savepoint keeps a failed event from poisoning the rest of the batch.
	return pgx.BeginFunc(ctx, tx.Tx, func(sp pgx.Tx) error {
		tag, err := sp.Exec(ctx, `UPDATE projector_checkpoints
			SET transaction_id = $2::text::xid8, position = $3, events_applied = events_applied + 1,
			    last_event_at = $4, updated_at = now()
			WHERE projector = $1 AND (transaction_id, position) < ($2::text::xid8, $3)`,
			r.name, strconv.FormatUint(e.TransactionID, 10), e.Position, e.RecordedAt)
		if err != nil {
			return fmt.Errorf("advance checkpoint: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil // handled already
		}
		return r.projector.Apply(ctx, sp, e)
	})
}

// startAtHead creates the consumer's checkpoint and watermill offset at the
// log's head, unless they exist.
func (r *Runtime) startAtHead(ctx context.Context) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		head, err := eventstore.NewPostgresStore(tx).Head(ctx)
		if err != nil {
			return err
		}
		txid := strconv.FormatUint(head.TransactionID, 10)
		if _, err := tx.Exec(ctx, `INSERT INTO projector_checkpoints (projector, transaction_id, position)
			VALUES ($1, $2::text::xid8, $3) ON CONFLICT DO NOTHING`, r.name, txid, head.Position); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO watermill_offsets_events (consumer_group, offset_acked, last_processed_transaction_id)
			VALUES ($1, $3, $2::text::xid8) ON CONFLICT DO NOTHING`, r.name, txid, head.Position)
		return err
	})
}

// ResetConsumers forgets every asynchronous consumer's checkpoint and offset, as
// after a log is imported: their places belong to the old log's transaction ids.
// Each consumer starts again at the head when it next runs (startAtHead).
func ResetConsumers(ctx context.Context, db eventstore.DB) error {
	if _, err := db.Exec(ctx, `DELETE FROM projector_checkpoints`); err != nil {
		return fmt.Errorf("reset consumer checkpoints: %w", err)
	}
	if _, err := db.Exec(ctx, `DELETE FROM watermill_offsets_events`); err != nil {
		return fmt.Errorf("reset consumer offsets: %w", err)
	}
	return nil
}

// Checkpoints reads the asynchronous consumers' checkpoints, for operators.
type Checkpoints struct{ pool *pgxpool.Pool }

// NewCheckpoints reads checkpoints from pool.
func NewCheckpoints(pool *pgxpool.Pool) *Checkpoints { return &Checkpoints{pool: pool} }

// Read returns a projector's checkpoint.
func (c *Checkpoints) Read(ctx context.Context, name string) (eventstore.Checkpoint, error) {
	var cp eventstore.Checkpoint
	err := c.pool.QueryRow(ctx, `SELECT transaction_id, position FROM projector_checkpoints
		WHERE projector = $1`, name).Scan(&cp.TransactionID, &cp.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return eventstore.Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	return cp, nil
}

// Lag is how far a projector is behind the event log.
type Lag struct {
	Events  int64   `json:"events"`
	Seconds float64 `json:"seconds"` // age of the oldest event not yet applied
}

// Lag measures how far projector name is behind.
func (c *Checkpoints) Lag(ctx context.Context, name string) (Lag, error) {
	var l Lag
	err := c.pool.QueryRow(ctx, `SELECT count(*),
			coalesce(extract(epoch FROM clock_timestamp() - min(e.recorded_at)), 0)::float8
		FROM events e LEFT JOIN projector_checkpoints c ON c.projector = $1
		WHERE (e.transaction_id, e.position) > (coalesce(c.transaction_id, '0'), coalesce(c.position, 0))`, name).Scan(&l.Events, &l.Seconds)
	if err != nil {
		return Lag{}, fmt.Errorf("measure lag of %s: %w", name, err)
	}
	return l, nil
}

// MaxLag is the lag of the consumer furthest behind (zero without consumers).
func (c *Checkpoints) MaxLag(ctx context.Context) (Lag, error) {
	statuses, err := c.Statuses(ctx)
	if err != nil {
		return Lag{}, err
	}
	var most Lag
	for _, s := range statuses {
		if s.Lag.Seconds > most.Seconds || (s.Lag.Seconds == most.Seconds && s.Lag.Events > most.Events) {
			most = s.Lag
		}
	}
	return most, nil
}

// Status is one projector's place and health.
type Status struct {
	Name       string
	Checkpoint eventstore.Checkpoint
	Applied    int64
	Lag        Lag
}

// State summarises a status for operators.
func (s Status) State() string {
	switch {
	case s.Applied == 0 && s.Lag.Events > 0:
		return "not started"
	case s.Lag.Events == 0:
		return "caught up"
	default:
		return "behind"
	}
}

// Statuses lists every projector with its checkpoint and lag.
func (c *Checkpoints) Statuses(ctx context.Context) ([]Status, error) {
	rows, err := c.pool.Query(ctx, `SELECT projector, transaction_id, position, events_applied
		FROM projector_checkpoints ORDER BY projector`)
	if err != nil {
		return nil, fmt.Errorf("list projectors: %w", err)
	}
	statuses, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Status, error) {
		var s Status
		err := row.Scan(&s.Name, &s.Checkpoint.TransactionID, &s.Checkpoint.Position, &s.Applied)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list projectors: %w", err)
	}
	for i := range statuses {
		if statuses[i].Lag, err = c.Lag(ctx, statuses[i].Name); err != nil {
			return nil, err
		}
	}
	return statuses, nil
}
