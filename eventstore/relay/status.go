package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Parked is an event the relay has not published: parked (refused), waiting
// (behind a parked event of its stream), retry (asked for) or skipped.
type Parked struct {
	EventID   string
	StreamID  string
	State     string
	Attempts  int
	LastError string
	ParkedAt  time.Time
}

// Status is the relay's record in the database: its place as of its last batch
// (zero before it ran), the events after it, and the events not published.
type Status struct {
	Position eventstore.Checkpoint
	Ran      bool
	Behind   int64
	Parked   []Parked // parked, waiting and retry, in log order
}

// ReadStatus reads the relay's status.
func ReadStatus(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	var s Status
	err := pool.QueryRow(ctx, `SELECT transaction_id, position FROM relay_position`).
		Scan(&s.Position.TransactionID, &s.Position.Position)
	switch {
	case errors.Is(err, pgx.ErrNoRows): // it never ran: behind from the log's start
	case err != nil:
		return s, fmt.Errorf("read relay position: %w", err)
	default:
		s.Ran = true
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2)`,
		strconv.FormatUint(s.Position.TransactionID, 10), s.Position.Position).Scan(&s.Behind); err != nil {
		return s, fmt.Errorf("measure relay lag: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT event_id, stream_id, state, attempts, last_error, parked_at
		FROM relay_parked WHERE state <> 'skipped' ORDER BY transaction_id, position`)
	if err != nil {
		return s, fmt.Errorf("list parked events: %w", err)
	}
	s.Parked, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Parked, error) {
		var p Parked
		err := row.Scan(&p.EventID, &p.StreamID, &p.State, &p.Attempts, &p.LastError, &p.ParkedAt)
		return p, err
	})
	if err != nil {
		return s, fmt.Errorf("list parked events: %w", err)
	}
	return s, nil
}

// CountParked counts the events the relay holds back (parked, waiting, retry).
func CountParked(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	var n int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM relay_parked WHERE state <> 'skipped'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count parked events: %w", err)
	}
	return n, nil
}

// Retry asks the running relay to publish a parked event again, and then the
// events of its stream held back behind it.
func Retry(ctx context.Context, pool *pgxpool.Pool, eventID string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := mustBeParked(ctx, tx, eventID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE relay_parked SET state = 'retry', updated_at = now() WHERE event_id = $1`, eventID)
		return err
	})
}

// Skip gives up on publishing a parked event (its row stays, as skipped) and
// lets the relay publish the events of its stream held back behind it.
func Skip(ctx context.Context, pool *pgxpool.Pool, eventID string) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if err := mustBeParked(ctx, tx, eventID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE relay_parked SET state = 'skipped', updated_at = now() WHERE event_id = $1`, eventID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE relay_parked SET state = 'retry', updated_at = now()
			WHERE event_id = (SELECT event_id FROM relay_parked
				WHERE stream_id = (SELECT stream_id FROM relay_parked WHERE event_id = $1) AND state = 'waiting'
				ORDER BY transaction_id, position LIMIT 1)`, eventID)
		return err
	})
}

func mustBeParked(ctx context.Context, tx pgx.Tx, eventID string) error {
	var state string
	err := tx.QueryRow(ctx, `SELECT state FROM relay_parked WHERE event_id = $1 FOR UPDATE`, eventID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", eventID, ErrNotParked)
	}
	if err != nil {
		return fmt.Errorf("read parked event %s: %w", eventID, err)
	}
	switch state {
	case "parked":
		return nil
	case "waiting":
		return fmt.Errorf("%s: %w", eventID, ErrWaiting)
	default:
		return fmt.Errorf("%s is %s: %w", eventID, state, ErrNotParked)
	}
}

// ParkedCollector is assetanchor_relay_parked_events: the events of the
// deployment the relay holds back, the same on every node.
func ParkedCollector(pool *pgxpool.Pool) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_relay_parked_events",
		Help: "Events the NATS relay could not publish and holds back (parked, waiting behind one, or asked to retry)."},
		func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			n, err := CountParked(ctx, pool)
			if err != nil {
				return -1
			}
			return float64(n)
		})
}
