// Package transfer moves the event log in and out as NDJSON, for backup, restore
// and re-stamping onto another cluster: every event with all its columns, and the
// write-side tables no replay rebuilds. The read model never travels; it is
// rebuilt. It must not import projections, commands or http.
package transfer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
)

// exportedTables are the write-side tables that travel with the log, which no
// event replay rebuilds: the cross-stream guards (unique emails and refresh
// tokens, lease periods) and the tenants' data keys, still wrapped by the master
// key (an erased tenant's key is gone, from the table and so from the export).
// The read model does not travel; it is rebuilt.
var exportedTables = []string{"unique_claims", "lease_reservations", "tenant_keys"}

// exportLine is one line of an export: an event with every column, or (Table
// set) a row of an exported table.
type exportLine struct {
	Position      int64           `json:"position,omitempty"`
	TransactionID uint64          `json:"transaction_id,omitempty"`
	EventID       string          `json:"event_id,omitempty"`
	StreamID      string          `json:"stream_id,omitempty"`
	StreamType    string          `json:"stream_type,omitempty"`
	Version       int64           `json:"version,omitempty"`
	EventType     string          `json:"event_type,omitempty"`
	SchemaVersion int             `json:"schema_version,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
	RecordedAt    string          `json:"recorded_at,omitempty"`
	Hash          string          `json:"hash,omitempty"`

	Table string          `json:"table,omitempty"`
	Row   json.RawMessage `json:"row,omitempty"`
}

// TransferStats counts what an export wrote or an import loaded.
type TransferStats struct {
	Events int64
	Rows   int64 // rows of the write-side guard tables
}

// Export writes the whole event log as NDJSON, one event per line in commit
// order ((transaction_id, position)), then the rows of the write-side guard
// tables, all from one snapshot. Rows stream from the server, so memory stays
// constant however long the log is.
func Export(ctx context.Context, pool *pgxpool.Pool, w io.Writer) (TransferStats, error) {
	var stats TransferStats
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return stats, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)

	rows, err := tx.Query(ctx, `SELECT position, transaction_id, event_id, stream_id, stream_type, version,
			event_type, schema_version, payload, metadata,
			to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), encode(hash, 'hex')
		FROM events ORDER BY transaction_id, position`)
	if err != nil {
		return stats, fmt.Errorf("export events: %w", err)
	}
	for rows.Next() {
		var l exportLine
		if err := rows.Scan(&l.Position, &l.TransactionID, &l.EventID, &l.StreamID, &l.StreamType, &l.Version, &l.EventType,
			&l.SchemaVersion, &l.Payload, &l.Metadata, &l.RecordedAt, &l.Hash); err != nil {
			rows.Close()
			return stats, fmt.Errorf("export events: %w", err)
		}
		if err := enc.Encode(l); err != nil {
			rows.Close()
			return stats, fmt.Errorf("write export: %w", err)
		}
		stats.Events++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return stats, fmt.Errorf("export events: %w", err)
	}
	for _, table := range exportedTables {
		rows, err := tx.Query(ctx, `SELECT to_jsonb(t) FROM `+pgx.Identifier{table}.Sanitize()+` t ORDER BY to_jsonb(t)::text`)
		if err != nil {
			return stats, fmt.Errorf("export %s: %w", table, err)
		}
		for rows.Next() {
			l := exportLine{Table: table}
			if err := rows.Scan(&l.Row); err != nil {
				rows.Close()
				return stats, fmt.Errorf("export %s: %w", table, err)
			}
			if err := enc.Encode(l); err != nil {
				rows.Close()
				return stats, fmt.Errorf("write export: %w", err)
			}
			stats.Rows++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return stats, fmt.Errorf("export %s: %w", table, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return stats, fmt.Errorf("write export: %w", err)
	}
	return stats, tx.Commit(ctx)
}

// ErrStoreNotEmpty means an import was refused because the store already holds events.
var ErrStoreNotEmpty = errors.New("the event store is not empty: import loads into an empty store only")

// ErrInvalidExport means an import file was refused: malformed, out of order, or
// a hash chain that does not hold. Nothing was imported.
var ErrInvalidExport = errors.New("invalid export")

// importBatch bounds the events inserted per transaction.
const importBatch = 5000

// maxLine bounds one line of an export (a payload is at most the 1 MiB body limit).
const maxLine = 64 << 20

// Import loads an export into an empty store. It stages the whole file in a
// temporary table first and checks it there: every line well-formed, the
// events in commit order, every stream's versions without gaps and every
// hash matching its content and predecessor. A file that fails is refused
// before anything is written. The events keep their ids, positions, versions,
// times and hashes; they get the importing transactions' ids, batch after
// batch in file order, so the commit order stays as it was and lies below this
// cluster's horizon. Every projector checkpoint is reset: the read model is
// rebuilt from the imported log by the next projector run.
func Import(ctx context.Context, pool *pgxpool.Pool, r io.Reader) (TransferStats, error) {
	var stats TransferStats
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return stats, err
	}
	defer conn.Release()
	if err := refuseNonEmpty(ctx, conn); err != nil {
		return stats, err
	}
	// The staging table lives on this connection only.
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE import_stage (
			line BIGINT PRIMARY KEY, seq BIGINT UNIQUE, kind TEXT NOT NULL,
			position BIGINT, event_id TEXT, stream_id TEXT, stream_type TEXT, version BIGINT, event_type TEXT,
			schema_version INTEGER, payload JSONB, metadata JSONB, recorded_at TIMESTAMPTZ, hash BYTEA,
			row_data JSONB)`); err != nil {
		return stats, fmt.Errorf("stage import: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS pg_temp.import_stage`) //nolint:errcheck // the session ends with the connection anyway

	src := &stageSource{scanner: bufio.NewScanner(r)}
	src.scanner.Buffer(make([]byte, 64<<10), maxLine)
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"import_stage"}, []string{"line", "seq", "kind", "position",
		"event_id", "stream_id", "stream_type", "version", "event_type", "schema_version", "payload", "metadata",
		"recorded_at", "hash", "row_data"}, src); err != nil {
		if src.err != nil {
			return stats, src.err
		}
		return stats, fmt.Errorf("stage import: %w", err)
	}
	if err := checkStaged(ctx, conn); err != nil {
		return stats, err
	}

	// Events in file order, one transaction per batch. A batch never spans a
	// step back in position: inside one transaction, position alone orders.
	for lo := int64(1); lo <= src.events; {
		hi := min(lo+importBatch-1, src.events)
		var back *int64
		if err := conn.QueryRow(ctx, `SELECT min(seq) FROM (
				SELECT seq, position < lag(position) OVER (ORDER BY seq) AS back
				FROM import_stage WHERE seq BETWEEN $1 AND $2) s WHERE back`, lo, hi).Scan(&back); err != nil {
			return stats, fmt.Errorf("import events: %w", err)
		}
		if back != nil {
			hi = *back - 1
		}
		tag, err := conn.Exec(ctx, `INSERT INTO events (position, event_id, stream_id, stream_type, version,
				event_type, schema_version, payload, metadata, recorded_at, hash) OVERRIDING SYSTEM VALUE
			SELECT position, event_id, stream_id, stream_type, version, event_type, schema_version, payload,
			       metadata, recorded_at, hash
			FROM import_stage WHERE seq BETWEEN $1 AND $2 ORDER BY seq`, lo, hi)
		if err != nil {
			return stats, fmt.Errorf("import events %d..%d (%d imported before them; drop the database and import again): %w",
				lo, hi, stats.Events, err)
		}
		stats.Events += tag.RowsAffected()
		lo = hi + 1
	}

	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// The identity continues after the imported positions.
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('events', 'position'), max(position))
			FROM events HAVING count(*) > 0`); err != nil {
			return fmt.Errorf("advance the event position: %w", err)
		}
		for _, table := range exportedTables {
			t := pgx.Identifier{table}.Sanitize()
			tag, err := tx.Exec(ctx, `INSERT INTO `+t+` SELECT (jsonb_populate_record(NULL::`+t+`, row_data)).*
				FROM import_stage WHERE kind = $1 ORDER BY line`, table)
			if err != nil {
				return fmt.Errorf("import %s: %w", table, err)
			}
			stats.Rows += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return stats, fmt.Errorf("%w (the events are imported; drop the database and import again)", err)
	}
	broken, err := eventstore.NewPostgresStore(pool).Verify(ctx)
	if err != nil {
		return stats, err
	}
	if len(broken) > 0 {
		return stats, fmt.Errorf("the imported log fails verification at %s version %d (%s): drop the database",
			broken[0].Stream, broken[0].Version, broken[0].Reason)
	}
	return stats, nil
}

func refuseNonEmpty(ctx context.Context, conn *pgxpool.Conn) error {
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM events LIMIT 1) e`).Scan(&n); err != nil {
		return fmt.Errorf("look for events: %w", err)
	}
	if n > 0 {
		return ErrStoreNotEmpty
	}
	for _, table := range exportedTables {
		var rows bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{table}.Sanitize()+`)`).Scan(&rows); err != nil {
			return fmt.Errorf("look into %s: %w", table, err)
		}
		if rows {
			return fmt.Errorf("%w (%s has rows)", ErrStoreNotEmpty, table)
		}
	}
	return nil
}

// checkStaged refuses a staged file whose events repeat, skip or reorder
// versions, or whose hash chain does not hold.
func checkStaged(ctx context.Context, conn *pgxpool.Conn) error {
	checks := []struct{ what, query string }{
		{"repeats a position", `SELECT line FROM (SELECT line, count(*) OVER (PARTITION BY position) n
			FROM import_stage WHERE kind = 'event') s WHERE n > 1 ORDER BY line LIMIT 1`},
		{"repeats an event id", `SELECT line FROM (SELECT line, count(*) OVER (PARTITION BY event_id) n
			FROM import_stage WHERE kind = 'event') s WHERE n > 1 ORDER BY line LIMIT 1`},
		{"repeats a stream version", `SELECT line FROM (SELECT line, count(*) OVER (PARTITION BY stream_id, version) n
			FROM import_stage WHERE kind = 'event') s WHERE n > 1 ORDER BY line LIMIT 1`},
		{"comes before an earlier version of its stream", `SELECT line FROM (SELECT line,
				lag(line) OVER (PARTITION BY stream_id ORDER BY version) AS previous
			FROM import_stage WHERE kind = 'event') s WHERE previous > line ORDER BY line LIMIT 1`},
	}
	for _, c := range checks {
		var line int64
		err := conn.QueryRow(ctx, c.query).Scan(&line)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check import: %w", err)
		}
		return fmt.Errorf("%w: line %d %s", ErrInvalidExport, line, c.what)
	}
	var (
		line           int64
		stream, reason string
		version        int64
	)
	err := conn.QueryRow(ctx, `WITH chain AS (
			SELECT line, stream_id, version, hash,
			       row_number() OVER w AS expected_version,
			       event_hash(lag(hash) OVER w, event_id, stream_id, version, event_type,
			                  schema_version, payload, metadata, recorded_at) AS expected_hash
			  FROM import_stage WHERE kind = 'event' WINDOW w AS (PARTITION BY stream_id ORDER BY version))
		SELECT line, stream_id, version,
		       CASE WHEN version <> expected_version THEN 'version gap: expected version ' || expected_version
		            ELSE 'hash mismatch: content or predecessor was changed' END
		  FROM chain WHERE version <> expected_version OR hash <> expected_hash
		 ORDER BY line LIMIT 1`).Scan(&line, &stream, &version, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check import hash chains: %w", err)
	}
	return fmt.Errorf("%w: line %d, %s version %d: %s", ErrInvalidExport, line, stream, version, reason)
}

// stageSource feeds the file to COPY one line at a time, checking each line.
type stageSource struct {
	scanner *bufio.Scanner
	line    int64
	events  int64
	last    *exportLine // the previous event, for the order check
	values  []any
	err     error
}

func (s *stageSource) Next() bool {
	for s.scanner.Scan() {
		s.line++
		raw := bytes.TrimSpace(s.scanner.Bytes())
		if len(raw) == 0 {
			continue
		}
		values, err := s.parse(raw)
		if err != nil {
			s.err = fmt.Errorf("%w: line %d: %v", ErrInvalidExport, s.line, err)
			return false
		}
		s.values = values
		return true
	}
	if err := s.scanner.Err(); err != nil {
		s.err = fmt.Errorf("%w: line %d: %v", ErrInvalidExport, s.line+1, err)
	}
	return false
}

func (s *stageSource) Values() ([]any, error) { return s.values, nil }
func (s *stageSource) Err() error             { return s.err }

func (s *stageSource) parse(raw []byte) ([]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var l exportLine
	if err := dec.Decode(&l); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	if l.Table != "" {
		if !slices.Contains(exportedTables, l.Table) {
			return nil, fmt.Errorf("unknown table %q", l.Table)
		}
		if !isObject(l.Row) {
			return nil, errors.New("row is not a JSON object")
		}
		return []any{s.line, nil, l.Table, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, string(l.Row)}, nil
	}
	if err := checkEventLine(l); err != nil {
		return nil, err
	}
	if s.last != nil && (l.TransactionID < s.last.TransactionID ||
		l.TransactionID == s.last.TransactionID && l.Position <= s.last.Position) {
		return nil, fmt.Errorf("event at %d/%d is not after the one before it (%d/%d): the file is not in commit order",
			l.TransactionID, l.Position, s.last.TransactionID, s.last.Position)
	}
	recordedAt, _ := time.Parse(time.RFC3339Nano, l.RecordedAt)
	hash, _ := hex.DecodeString(l.Hash)
	s.last = &exportLine{TransactionID: l.TransactionID, Position: l.Position}
	s.events++
	return []any{s.line, s.events, "event", l.Position, l.EventID, l.StreamID, l.StreamType, l.Version, l.EventType,
		int32(l.SchemaVersion), string(l.Payload), string(l.Metadata), recordedAt, hash, nil}, nil
}

func checkEventLine(l exportLine) error {
	switch {
	case l.Position <= 0:
		return errors.New("position must be positive")
	case l.TransactionID == 0:
		return errors.New("transaction_id is missing")
	case l.Version <= 0:
		return errors.New("version must be positive")
	case l.EventType == "":
		return errors.New("event_type is missing")
	case l.SchemaVersion <= 0:
		return errors.New("schema_version must be positive")
	case !isObject(l.Payload):
		return errors.New("payload is not a JSON object")
	case !isObject(l.Metadata):
		return errors.New("metadata is not a JSON object")
	case l.Row != nil:
		return errors.New("an event line carries no row")
	}
	if _, err := ulid.ParseStrict(l.EventID); err != nil {
		return fmt.Errorf("event_id: %w", err)
	}
	stream, err := eventstore.ParseStreamID(l.StreamID)
	if err != nil {
		return err
	}
	if stream.Type != l.StreamType || stream.String() != l.StreamID {
		return fmt.Errorf("stream_id %q does not match stream_type %q", l.StreamID, l.StreamType)
	}
	if !strings.HasSuffix(l.RecordedAt, "Z") {
		return errors.New("recorded_at must be UTC")
	}
	if _, err := time.Parse(time.RFC3339Nano, l.RecordedAt); err != nil {
		return fmt.Errorf("recorded_at: %w", err)
	}
	if h, err := hex.DecodeString(l.Hash); err != nil || len(h) != 32 {
		return errors.New("hash is not 32 bytes of hex")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 1 && raw[0] == '{' && json.Valid(raw)
}
