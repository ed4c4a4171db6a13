package anchor

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DB is what anchoring and verification need of a pool: transactions of their
// own, for one snapshot of the log.
type DB interface {
	BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error)
}

// snapshot opens a read-only REPEATABLE READ transaction: every query in it sees
// the log as it stood at its first.
func snapshot(ctx context.Context, db DB) (pgx.Tx, error) {
	tx, err := db.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return tx, nil
}

// eventColumns are what stored reads; payload and metadata are read as jsonb,
// PostgreSQL's own text form, without any SQL function or cast in between.
const eventColumns = `transaction_id, event_id, stream_id, version, event_type,
	schema_version, payload, metadata, recorded_at, hash`

// stored is one row of events.
type stored struct {
	Event
	txid uint64
	hash []byte
}

func scanStored(rows pgx.Rows) (stored, error) {
	var s stored
	if err := rows.Scan(&s.txid, &s.EventID, &s.StreamID, &s.Version, &s.Type,
		&s.SchemaVersion, &s.Payload, &s.Metadata, &s.RecordedAt, &s.hash); err != nil {
		return stored{}, fmt.Errorf("read event: %w", err)
	}
	return s, nil
}

// eachStream calls fn with the events of each stream in turn; rows must come
// ordered by stream_id, version.
func eachStream(rows pgx.Rows, fn func(stream string, events []stored) error) error {
	defer rows.Close()
	var (
		current string
		batch   []stored
	)
	for rows.Next() {
		s, err := scanStored(rows)
		if err != nil {
			return err
		}
		if s.StreamID != current && len(batch) > 0 {
			if err := fn(current, batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
		current = s.StreamID
		batch = append(batch, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	if len(batch) > 0 {
		return fn(current, batch)
	}
	return nil
}

// chainPoint is a stream's state after one version: the hash of the chain there
// and the sum of the content digests up to it.
type chainPoint struct {
	version  int64
	hash     []byte
	contents digest
}

func (p chainPoint) entry(stream string) Entry {
	return Entry{Stream: stream, Version: p.version, Hash: hex.EncodeToString(p.hash),
		Contents: hex.EncodeToString(p.contents[:])}
}

// pointOf reads an anchored entry back.
func pointOf(e Entry) (chainPoint, error) {
	h, err := hex.DecodeString(e.Hash)
	if err != nil || len(h) != 32 {
		return chainPoint{}, fmt.Errorf("stream %s: malformed hash %q", e.Stream, e.Hash)
	}
	c, err := hex.DecodeString(e.Contents)
	if err != nil || len(c) != 32 {
		return chainPoint{}, fmt.Errorf("stream %s: malformed contents %q", e.Stream, e.Contents)
	}
	p := chainPoint{version: e.Version, hash: h}
	copy(p.contents[:], c)
	return p, nil
}

// walk recomputes the chain of one stream's events (in version order) on from
// start (the zero point for the stream's beginning). It returns the point after
// each event, and the first link that breaks as stored: a skipped version, or a
// stored hash that is not the recomputed one. The points follow the content,
// whatever the stored hashes say.
func walk(start chainPoint, events []stored) ([]chainPoint, *Finding) {
	points := make([]chainPoint, len(events))
	var broken *Finding
	prev, sum, want := start.hash, start.contents, start.version+1
	for i, e := range events {
		if broken == nil && e.Version != want {
			broken = &Finding{Kind: Removed, Stream: e.StreamID, Version: want,
				Detail: fmt.Sprintf("version %d is missing: the next event is version %d", want, e.Version)}
		}
		h := Hash(prev, e.Event)
		if broken == nil && !bytes.Equal(h, e.hash) {
			broken = &Finding{Kind: Changed, Stream: e.StreamID, Version: e.Version,
				Detail: "the stored hash is not the hash of the event's content and its predecessor"}
		}
		sum = sum.add(contentDigest(e.Event))
		points[i] = chainPoint{version: e.Version, hash: h, contents: sum}
		prev, want = h, e.Version+1
	}
	return points, broken
}
