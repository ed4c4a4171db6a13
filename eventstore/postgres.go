package eventstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/oklog/ulid/v2"
)

var _ Store = (*PostgresStore)(nil)

// DB is what the store needs of a pool or a transaction.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	Begin(ctx context.Context) (pgx.Tx, error)
}

// PostgresStore keeps events in the events table (migrations/000002).
type PostgresStore struct {
	db     DB
	now    func() time.Time
	inline InlineProjector
}

// InlineProjector writes the read model of appended events inside the append's
// own transaction (DESIGN.md, "Inline and asynchronous projections"): a row it
// cannot write refuses the append, and a committed command's rows are there.
//
// Project reads what it needs through db and queues its writes into batch,
// after the append itself; the store sends them together. db is the append's
// transaction, or, for an append that is a transaction of its own, the pool:
// the rows of a stream read there before the batch are its rows at the
// expected version, else the append's version check refuses the batch. The
// events' Position and TransactionID are known only once the batch has run.
type InlineProjector interface {
	Project(ctx context.Context, db DB, events []Event, batch *pgx.Batch) error
}

// NewPostgresStore returns a store on db, which may be a pool or a transaction.
func NewPostgresStore(db DB) *PostgresStore {
	return &PostgresStore{db: db, now: time.Now}
}

// WithProjector returns the same store projecting every append inline with p.
func (s *PostgresStore) WithProjector(p InlineProjector) *PostgresStore {
	return &PostgresStore{db: s.db, now: s.now, inline: p}
}

// WithDB returns the same store working inside db, typically a transaction that
// also writes a cross-stream guard, so both commit or neither does.
func (s *PostgresStore) WithDB(db DB) *PostgresStore {
	return &PostgresStore{db: db, now: s.now, inline: s.inline}
}

// conn is where a statement runs: the store's own transaction, else the unit of
// work in ctx (InUnit), else the pool. Inside a unit nothing may take a second
// connection: requests holding one each would starve the pool.
func (s *PostgresStore) conn(ctx context.Context) DB {
	if _, ok := s.db.(pgx.Tx); !ok {
		if tx, ok := UnitTx(ctx); ok {
			return tx
		}
	}
	return s.db
}

// Atomically runs fn in a transaction (a savepoint when already inside one).
func (s *PostgresStore) Atomically(ctx context.Context, fn func(Store) error) error {
	db := s.conn(ctx)
	if _, nested := db.(pgx.Tx); nested {
		return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return fn(s.WithDB(tx)) })
	}
	return beginWriting(ctx, db, func(tx pgx.Tx) error { return fn(s.WithDB(tx)) })
}

// InTransaction reports whether the store works inside a transaction
// (Atomically, or a unit of work in ctx).
func (s *PostgresStore) InTransaction(ctx context.Context) bool {
	_, ok := s.conn(ctx).(pgx.Tx)
	return ok
}

// Claim reserves value within scope for stream. A value held by another stream is
// ErrClaimTaken; the same stream claiming again is a no-op.
func (s *PostgresStore) Claim(ctx context.Context, scope, value string, stream StreamID) error {
	var holder string
	err := s.conn(ctx).QueryRow(ctx, `WITH ins AS (
			INSERT INTO unique_claims (scope, value, stream_id) VALUES ($1, $2, $3)
			ON CONFLICT (scope, value) DO NOTHING RETURNING stream_id)
		SELECT stream_id FROM ins UNION ALL
		SELECT stream_id FROM unique_claims WHERE scope = $1 AND value = $2 LIMIT 1`,
		scope, value, stream.String()).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		// A racing transaction committed the claim after this statement's snapshot.
		return ErrClaimTaken
	}
	if err != nil {
		return fmt.Errorf("claim %s: %w", scope, err)
	}
	if holder != stream.String() {
		return ErrClaimTaken
	}
	return nil
}

// Unclaim gives up stream's claim of value within scope; another stream's claim stays.
func (s *PostgresStore) Unclaim(ctx context.Context, scope, value string, stream StreamID) error {
	if _, err := s.conn(ctx).Exec(ctx, `DELETE FROM unique_claims WHERE scope = $1 AND value = $2 AND stream_id = $3`,
		scope, value, stream.String()); err != nil {
		return fmt.Errorf("unclaim %s: %w", scope, err)
	}
	return nil
}

// ClaimedBy returns the stream that holds value within scope.
func (s *PostgresStore) ClaimedBy(ctx context.Context, scope, value string) (StreamID, bool, error) {
	var holder string
	err := s.conn(ctx).QueryRow(ctx, `SELECT stream_id FROM unique_claims WHERE scope = $1 AND value = $2`,
		scope, value).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		return StreamID{}, false, nil
	}
	if err != nil {
		return StreamID{}, false, fmt.Errorf("read claim %s: %w", scope, err)
	}
	stream, err := ParseStreamID(holder)
	return stream, err == nil, err
}

// Lock takes a transaction-scoped advisory lock on key.
func (s *PostgresStore) Lock(ctx context.Context, key string) error {
	if _, err := s.conn(ctx).Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	return nil
}

// ReservePeriod holds [from, to] of resource for holder (lease_reservations).
func (s *PostgresStore) ReservePeriod(ctx context.Context, resource, holder uuid.UUID, from, to time.Time) error {
	_, err := s.conn(ctx).Exec(ctx, `INSERT INTO lease_reservations (lease_id, property_id, period)
		VALUES ($1, $2, daterange($3::date, $4::date, '[]'))
		ON CONFLICT (lease_id) DO UPDATE SET property_id = excluded.property_id, period = excluded.period`,
		holder, resource, from, to)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23P01" { // exclusion_violation
		return ErrPeriodTaken
	}
	if err != nil {
		return fmt.Errorf("reserve period: %w", err)
	}
	return nil
}

// ReleasePeriod drops holder's period.
func (s *PostgresStore) ReleasePeriod(ctx context.Context, holder uuid.UUID) error {
	if _, err := s.conn(ctx).Exec(ctx, `DELETE FROM lease_reservations WHERE lease_id = $1`, holder); err != nil {
		return fmt.Errorf("release period: %w", err)
	}
	return nil
}

// HasPeriods reports whether resource has any held period.
func (s *PostgresStore) HasPeriods(ctx context.Context, resource uuid.UUID) (bool, error) {
	var held bool
	err := s.conn(ctx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM lease_reservations WHERE property_id = $1)`, resource).Scan(&held)
	if err != nil {
		return false, fmt.Errorf("read periods: %w", err)
	}
	return held, nil
}

// PeriodsEndedBefore lists holders whose period's last day is before day.
func (s *PostgresStore) PeriodsEndedBefore(ctx context.Context, day time.Time) ([]uuid.UUID, error) {
	rows, err := s.conn(ctx).Query(ctx, `SELECT lease_id FROM lease_reservations
		WHERE upper(period) <= $1::date ORDER BY lease_id`, day)
	if err != nil {
		return nil, fmt.Errorf("read ended periods: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// Append writes events to the end of stream if it is still at expectedVersion
// (0 for a new stream), and projects them inline, atomically: in the caller's
// transaction, or as one pipeline, which PostgreSQL runs as one implicit
// transaction committed at its end: append_events (which takes the writers'
// lock first) and the projection's writes in a single round trip. Event ids are ULIDs; the
// metadata is the context's (WithMetadata).
func (s *PostgresStore) Append(ctx context.Context, stream StreamID, expectedVersion int64, events ...NewEvent) (AppendResult, error) {
	if len(events) == 0 {
		return AppendResult{}, errors.New("append: no events")
	}
	stored, err := StageEvents(ctx, stream, expectedVersion, events, s.now())
	if err != nil {
		return AppendResult{}, err
	}
	db := s.conn(ctx)
	batch := &pgx.Batch{}
	s.queueInsert(batch, stream, expectedVersion, stored)
	if s.inline != nil {
		if err := s.inline.Project(ctx, db, stored, batch); err != nil {
			return AppendResult{}, err
		}
	}
	if err := db.SendBatch(ctx, batch).Close(); err != nil {
		return AppendResult{}, appendError(stream, err)
	}
	last := stored[len(stored)-1]
	return AppendResult{Version: last.Version, Checkpoint: last.Checkpoint()}, nil
}

// StageEvents gives the events their ids, versions, time (now, to the
// microsecond PostgreSQL keeps) and metadata (the context's), as a Log stores
// them; their place in the log is the Log's to give.
func StageEvents(ctx context.Context, stream StreamID, expectedVersion int64, events []NewEvent, now time.Time) ([]Event, error) {
	md := MetadataFrom(ctx)
	recordedAt := now.UTC().Truncate(time.Microsecond)
	stored := make([]Event, len(events))
	for i, e := range events {
		data, err := json.Marshal(e.Data)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.Type, err)
		}
		stored[i] = Event{EventID: ulid.Make(), Stream: stream, Version: expectedVersion + int64(i) + 1,
			Type: e.Type, SchemaVersion: max(e.SchemaVersion, 1), Data: data, Metadata: md, RecordedAt: recordedAt}
	}
	return stored, nil
}

// queueInsert queues append_events (the version check, the hash chain, the rows
// in one statement); once it has run, stored holds each event's place in the log.
func (s *PostgresStore) queueInsert(batch *pgx.Batch, stream StreamID, expectedVersion int64, stored []Event) {
	n := len(stored)
	ids, types, payloads, metas := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	versions := make([]int32, n)
	md, _ := json.Marshal(stored[0].Metadata) // plain strings and a uuid: cannot fail
	for i, e := range stored {
		ids[i], types[i], payloads[i], metas[i] = e.EventID.String(), e.Type, string(e.Data), string(md)
		versions[i] = int32(e.SchemaVersion)
	}
	batch.Queue(`SELECT event_position, event_transaction_id, event_version
		   FROM append_events($1, $2, $3, $4, $5, $6, $7::jsonb[], $8::jsonb[], $9)`,
		stream.String(), stream.Type, expectedVersion, ids, types, versions, payloads, metas, stored[0].RecordedAt,
	).Query(func(rows pgx.Rows) error {
		i := 0
		var (
			position, version int64
			txid              uint64
		)
		_, err := pgx.ForEachRow(rows, []any{&position, &txid, &version}, func() error {
			if i == n || version != stored[i].Version {
				return fmt.Errorf("append to %s: unexpected version %d stored", stream, version)
			}
			stored[i].Position, stored[i].TransactionID = position, txid
			i++
			return nil
		})
		if err == nil && i != n {
			err = fmt.Errorf("append to %s: %d of %d events stored", stream, i, n)
		}
		return err
	})
}

// RefusedError is a read-model row that PostgreSQL refused while an append was
// projected inline (a check, a key, a value out of its column's range). The
// append is refused with it: nothing is stored.
type RefusedError struct {
	Table, Column, Constraint string
	Code                      string // the SQLSTATE
	Err                       error
}

// Field names what was refused: the column, else the constraint, else the table.
func (e *RefusedError) Field() string {
	switch {
	case e.Column != "":
		return e.Column
	case e.Constraint != "":
		return e.Constraint
	}
	return e.Table
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the read model refused a %s row (%s %s): %v", e.Table, e.Code, e.Constraint, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Conflict reports whether the row clashes with another (a unique key or an
// exclusion), rather than holding a value its table does not accept.
func (e *RefusedError) Conflict() bool { return e.Code == "23505" || e.Code == "23P01" }

// appendError names what went wrong with an append's batch.
func appendError(stream StreamID, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	switch {
	case pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key":
		return ErrConcurrency
	case strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"):
		return &RefusedError{Table: pgErr.TableName, Column: pgErr.ColumnName, Constraint: pgErr.ConstraintName,
			Code: pgErr.Code, Err: err}
	}
	return fmt.Errorf("append to %s: %w", stream, err)
}

// EventColumns are the columns of events that EventScanner reads, in its order.
const EventColumns = `position, transaction_id, event_id, stream_id, stream_type, version,
	event_type, schema_version, payload, metadata, recorded_at`

// ReadStream returns a stream's events in version order; with a non-zero until,
// only those recorded at or before it.
func (s *PostgresStore) ReadStream(ctx context.Context, stream StreamID, until time.Time) ([]Event, error) {
	q := `SELECT ` + EventColumns + ` FROM events WHERE stream_id = $1`
	args := []any{stream.String()}
	if !until.IsZero() {
		q += ` AND recorded_at <= $2`
		args = append(args, until)
	}
	rows, err := s.conn(ctx).Query(ctx, q+` ORDER BY version`, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	return collectEvents(rows)
}

// ReadAfter returns up to limit events after the checkpoint, in commit order. It
// only returns events of transactions older than every transaction still running,
// so an event that commits late is read later, never skipped.
func (s *PostgresStore) ReadAfter(ctx context.Context, after Checkpoint, limit int) ([]Event, error) {
	return s.readAfter(ctx, after, limit, `AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())`)
}

// ReadVisibleAfter is ReadAfter without the horizon: every event after the
// checkpoint that the caller's snapshot sees. Only a caller that knows no writer
// is in flight (LockOutWriters), or that reads the read model in the same
// snapshot, may use it.
func (s *PostgresStore) ReadVisibleAfter(ctx context.Context, after Checkpoint, limit int) ([]Event, error) {
	return s.readAfter(ctx, after, limit, "")
}

// readAfter reads the events after the checkpoint that also meet horizon (an
// SQL condition, or "").
func (s *PostgresStore) readAfter(ctx context.Context, after Checkpoint, limit int, horizon string) ([]Event, error) {
	rows, err := s.conn(ctx).Query(ctx, `SELECT `+EventColumns+` FROM events
		WHERE (transaction_id, position) > ($1::text::xid8, $2) `+horizon+`
		ORDER BY transaction_id, position LIMIT $3`,
		strconv.FormatUint(after.TransactionID, 10), after.Position, limit)
	if err != nil {
		return nil, fmt.Errorf("read events after %v: %w", after, err)
	}
	return collectEvents(rows)
}

// Head is the checkpoint of the newest event readers can see now.
func (s *PostgresStore) Head(ctx context.Context) (Checkpoint, error) {
	var cp Checkpoint
	err := s.conn(ctx).QueryRow(ctx, `SELECT coalesce(max(transaction_id), '0'), coalesce(max(position), 0)
		FROM events WHERE transaction_id = (SELECT max(transaction_id) FROM events
		WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()))`).Scan(&cp.TransactionID, &cp.Position)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read head: %w", err)
	}
	return cp, nil
}

// Verify recomputes every stream's hash chain and returns the first broken link
// of each stream whose history was edited or has a gap.
func (s *PostgresStore) Verify(ctx context.Context) ([]BrokenLink, error) {
	links, err := s.verifyChains(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("verify hash chains: %w", err)
	}
	return links, nil
}

// VerifyStream is Verify for one stream: it recomputes the stream's hash chain
// and answers its first broken link, or nil when the chain is intact. A stream
// with no events is intact (nothing to break). The audit console asks it for the
// one entity it shows, where scanning every stream would be wasted work.
func (s *PostgresStore) VerifyStream(ctx context.Context, id StreamID) (*BrokenLink, error) {
	links, err := s.verifyChains(ctx, `WHERE stream_id = $1`, id.String())
	if err != nil {
		return nil, fmt.Errorf("verify hash chain of %s: %w", id, err)
	}
	if len(links) == 0 {
		return nil, nil
	}
	return &links[0], nil
}

// verifyChains recomputes the hash chains of the events that where (an SQL
// condition, or "") selects, and returns each stream's first broken link.
func (s *PostgresStore) verifyChains(ctx context.Context, where string, args ...any) ([]BrokenLink, error) {
	rows, err := s.conn(ctx).Query(ctx, `
		WITH chain AS (
			SELECT stream_id, version, hash,
			       row_number() OVER w AS expected_version,
			       event_hash(lag(hash) OVER w, event_id, stream_id, version, event_type,
			                  schema_version, payload, metadata, recorded_at) AS expected_hash
			  FROM events `+where+` WINDOW w AS (PARTITION BY stream_id ORDER BY version))
		SELECT DISTINCT ON (stream_id) stream_id, version,
		       CASE WHEN version <> expected_version THEN 'version gap: expected version ' || expected_version
		            ELSE 'hash mismatch: content or predecessor was changed' END
		  FROM chain
		 WHERE version <> expected_version OR hash <> expected_hash
		 ORDER BY stream_id, version`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (BrokenLink, error) {
		var b BrokenLink
		err := row.Scan(&b.Stream, &b.Version, &b.Reason)
		return b, err
	})
}

func collectEvents(rows pgx.Rows) ([]Event, error) {
	var scan EventScanner
	return pgx.CollectRows(rows, scan.Scan)
}

// EventScanner reads events from rows of EventColumns. Consecutive events of
// one command share their metadata, which it then decodes once.
type EventScanner struct {
	lastRaw  []byte
	lastMeta Metadata
}

// Scan reads the event of one row.
func (s *EventScanner) Scan(row pgx.CollectableRow) (Event, error) {
	var (
		e            Event
		id, streamID string
		data, meta   []byte
	)
	if err := row.Scan(&e.Position, &e.TransactionID, &id, &streamID, &e.Stream.Type, &e.Version,
		&e.Type, &e.SchemaVersion, &data, &meta, &e.RecordedAt); err != nil {
		return Event{}, err
	}
	e.Data = data
	if s.lastRaw == nil || !bytes.Equal(meta, s.lastRaw) {
		md, err := decodeMetadata(meta)
		if err != nil {
			return Event{}, err
		}
		s.lastRaw, s.lastMeta = meta, md
	}
	e.Metadata = s.lastMeta
	return finishEvent(e, id, streamID)
}

// finishEvent parses the textual columns shared by SQL reads and watermill
// messages; the caller has decoded the metadata.
func finishEvent(e Event, id, streamID string) (Event, error) {
	var err error
	if e.EventID, err = ulid.ParseStrict(id); err != nil {
		return Event{}, fmt.Errorf("parse event id: %w", err)
	}
	idPart, ok := strings.CutPrefix(streamID, e.Stream.Type+"-")
	if !ok {
		return Event{}, fmt.Errorf("stream %q does not match its type %q", streamID, e.Stream.Type)
	}
	if e.Stream.ID, err = uuid.Parse(idPart); err != nil {
		return Event{}, fmt.Errorf("parse stream id: %w", err)
	}
	e.RecordedAt = e.RecordedAt.UTC()
	return e, nil
}

// Claimed implements Store: whether any stream holds a claim within scope.
func (s *PostgresStore) Claimed(ctx context.Context, scope string) (bool, error) {
	var held bool
	if err := s.conn(ctx).QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM unique_claims WHERE scope = $1)`, scope).Scan(&held); err != nil {
		return false, fmt.Errorf("read claims of %s: %w", scope, err)
	}
	return held, nil
}
