package readmodel

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetanchor/assetanchor/eventstore"
)

// A streaming replica serves the queries of requests that only read, with
// API.md's read-your-writes rule kept: every query that starts after a command
// was answered sees its effect, whichever node answered it. A query takes the
// primary's WAL insert position when it starts (one round trip to the
// primary), waits until the replica has replayed past it (polling, at most
// ReplicaWait), and reads from the replica; a replica that is further behind,
// unreachable, or cancels the query in a conflict with recovery leaves the
// query to the primary. An entity's history, read from the event store, goes
// the same way (RouteRead). Commands, their answers, the session check of each
// request and ?as_of= stay on the primary (docs/architecture.md).

// ReplicaWait bounds how long a query waits for the replica to catch up
// before it reads from the primary instead.
const ReplicaWait = 100 * time.Millisecond

type replicaKey struct{}

// MayReadReplica marks ctx as a query's: its viewer reads may go to the
// replica, if there is one. The HTTP layer marks requests that only read.
func MayReadReplica(ctx context.Context) context.Context {
	return context.WithValue(ctx, replicaKey{}, true)
}

// WithReplica makes q read its viewers' queries, where MayReadReplica allows,
// from replica, a streaming replica of q's database.
func (q *Queries) WithReplica(replica *pgxpool.Pool) *Queries {
	q.pool.replica = replica
	return q
}

// Collector counts reads by target, assetanchor_reads_total{target}:
// primary or replica.
func (q *Queries) Collector() prometheus.Collector { return q.pool.reads }

func newReadCounter() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assetanchor_reads_total",
		Help: "Read-model queries of viewers and reads of entity histories, by the database that answered them (primary, replica).",
	}, []string{"target"})
	c.WithLabelValues("primary")
	c.WithLabelValues("replica")
	return c
}

// RouteRead runs read on the database that answers a request that only reads
// (MayReadReplica): the replica once it has replayed the primary's position,
// else the primary, and again on the primary when the replica fails half-way
// (a conflict with recovery). read runs as the connecting role, not as the
// viewer: it is for reads such as an entity's history from the event store,
// whose caller has already read the entity as the viewer. It is counted in
// assetanchor_reads_total like the viewers' queries.
func (q *Queries) RouteRead(ctx context.Context, read func(eventstore.DB) error) error {
	r := q.pool
	if unit, ok := eventstore.UnitTx(ctx); ok {
		r.reads.WithLabelValues("primary").Inc()
		return read(unit)
	}
	if r.replica != nil && ctx.Value(replicaKey{}) != nil {
		caughtUp, err := r.caughtUp(ctx)
		if err != nil {
			return err
		}
		if caughtUp {
			err := read(r.replica)
			if err == nil {
				r.reads.WithLabelValues("replica").Inc()
				return nil
			}
			if ctx.Err() != nil || !replicaFault(err) {
				return err
			}
		}
	}
	r.reads.WithLabelValues("primary").Inc()
	return read(r.pool)
}

// caughtUp takes the primary's WAL insert position (one round trip to the
// primary) and waits, polling for at most ReplicaWait, until the replica has
// replayed past it. False means the primary must answer: the replica is
// further behind, or unreachable.
func (r replayable) caughtUp(ctx context.Context) (bool, error) {
	var lsn string
	if err := r.pool.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
		return false, fmt.Errorf("read the primary's position: %w", err)
	}
	caughtUp := false
	for wait, deadline := time.Millisecond, time.Now().Add(ReplicaWait); ; wait *= 2 {
		if err := r.replica.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).
			Scan(&caughtUp); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			return false, nil // an unreachable replica: the primary answers
		}
		if caughtUp || time.Now().Add(wait).After(deadline) {
			return caughtUp, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// fromReplica runs the viewer's pipeline on the replica once it has replayed
// the primary's position; ok false means the primary must answer instead. The
// rows are read whole before they are returned, so that a conflict with
// recovery met half-way can still be answered by the primary.
func (r replayable) fromReplica(ctx context.Context, v Viewer, sql string, args ...any) (rows pgx.Rows, ok bool, err error) {
	caughtUp, err := r.caughtUp(ctx)
	if err != nil || !caughtUp {
		return nil, false, err
	}
	batch := &pgx.Batch{}
	batch.Queue(enterViewer, ReaderRole, v.UserID.String(), v.Role.String(), statementTimeout(ctx))
	batch.Queue(sql, args...)
	results := r.replica.SendBatch(ctx, batch)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return nil, false, replicaFailure(ctx, err)
	}
	live, err := results.Query()
	if err != nil {
		if live != nil {
			live.Close()
		}
		return nil, false, replicaFailure(ctx, err)
	}
	buffered := &bufferedRows{fields: append([]pgconn.FieldDescription(nil), live.FieldDescriptions()...), at: -1,
		types: typeMaps.Get().(*pgtype.Map)}
	for live.Next() {
		raw := live.RawValues()
		row := make([][]byte, len(raw))
		for i, v := range raw {
			if v != nil {
				row[i] = append([]byte{}, v...)
			}
		}
		buffered.rows = append(buffered.rows, row)
	}
	live.Close()
	buffered.tag = live.CommandTag()
	err = errors.Join(live.Err(), results.Close())
	if err != nil {
		buffered.Close()
		return nil, false, replicaFailure(ctx, err)
	}
	return buffered, true, nil
}

// replicaFailure is nil (the primary answers) for a failure of the replica
// itself, a conflict with recovery above all, and the error for anything the
// primary would answer the same: a query's own error, a deadline.
func replicaFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if replicaFault(err) {
		return nil
	}
	return fmt.Errorf("read as %s: %w", ReaderRole, err)
}

// replicaFault reports whether err, met on the replica, is the replica's own
// failure, which the primary does not share.
func replicaFault(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // the connection, not the query
	}
	switch {
	case pgErr.Code == "40001" && strings.Contains(pgErr.Message, "conflict with recovery"),
		pgErr.Code == "40P01" && strings.Contains(pgErr.Message, "recovery"),
		strings.HasPrefix(pgErr.Code, "57P"), // the replica shutting down or restarting
		pgErr.Code == "25006":                // read-only: a query that writes belongs on the primary
		return true
	}
	return false
}

// typeMaps lends out pgx type maps for decoding buffered rows: a map is not
// safe for concurrent use, and building one costs more than a query's rows.
var typeMaps = sync.Pool{New: func() any { return pgtype.NewMap() }}

// bufferedRows are a result read whole, decoded at Scan as pgx does, with a
// type map of their own until closed.
type bufferedRows struct {
	fields []pgconn.FieldDescription
	rows   [][][]byte
	tag    pgconn.CommandTag
	at     int
	types  *pgtype.Map
}

func (b *bufferedRows) Close() {
	if b.types != nil {
		typeMaps.Put(b.types)
		b.types = nil
	}
}

func (b *bufferedRows) TypeMap() *pgtype.Map                         { return b.types }
func (b *bufferedRows) Err() error                                   { return nil }
func (b *bufferedRows) CommandTag() pgconn.CommandTag                { return b.tag }
func (b *bufferedRows) FieldDescriptions() []pgconn.FieldDescription { return b.fields }
func (b *bufferedRows) RawValues() [][]byte                          { return b.rows[b.at] }
func (b *bufferedRows) Conn() *pgx.Conn                              { return nil }

func (b *bufferedRows) Next() bool {
	if b.types == nil || b.at+1 >= len(b.rows) {
		b.Close()
		return false
	}
	b.at++
	return true
}

func (b *bufferedRows) Scan(dest ...any) error {
	if len(dest) == 1 {
		if rs, ok := dest[0].(pgx.RowScanner); ok {
			return rs.ScanRow(b)
		}
	}
	if len(dest) != len(b.fields) {
		return fmt.Errorf("number of field descriptions must equal number of destinations, got %d and %d", len(b.fields), len(dest))
	}
	m := b.types
	for i, d := range dest {
		if d == nil {
			continue
		}
		f := b.fields[i]
		if err := m.Scan(f.DataTypeOID, f.Format, b.rows[b.at][i], d); err != nil {
			return pgx.ScanArgError{ColumnIndex: i, FieldName: f.Name, Err: err}
		}
	}
	return nil
}

func (b *bufferedRows) Values() ([]any, error) {
	m := b.types
	values := make([]any, len(b.fields))
	for i, f := range b.fields {
		raw := b.rows[b.at][i]
		if raw == nil {
			continue
		}
		if t, ok := m.TypeForOID(f.DataTypeOID); ok {
			v, err := t.Codec.DecodeValue(m, f.DataTypeOID, f.Format, raw)
			if err != nil {
				return nil, err
			}
			values[i] = v
			continue
		}
		values[i] = string(raw)
	}
	return values, nil
}
