// Benchmarks for the event store; `make bench` runs them on a durable (fsync on)
// throwaway cluster.
//
// Timing scheme: the benchmarks time themselves and ignore b.N beyond repeating
// the whole measurement (the Makefile passes -benchtime=1x). For each concurrency
// level BenchmarkAppendVsInsert builds one database and one pool (MaxConns =
// concurrency), warms both workloads up, then runs benchRounds rounds; each round
// runs the plain-INSERT workload and the Append workload for benchPhase each,
// alternating which goes first so that drift (table growth, checkpoints, noisy
// neighbours) hits both alike. A rate is the workload's operations over its total
// wall time; ratio = appends/s ÷ inserts/s. The machine is shared, so read the
// ratio, not the absolute rates. ns/op is suppressed (it would be the wall time of
// the whole run); -benchmem's B/op and allocs/op cover both workloads together.
package eventstore_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

const (
	benchRounds = 6 // even, so that each workload goes first equally often
	benchPhase  = time.Second
	benchWarmup = 300 * time.Millisecond
)

// plainEventsDDL is the events table of migrations/000002 under another name:
// same columns, types, defaults, constraints and indexes, without append_events
// in front of it. Its triggers (append-only, no truncate) never fire on INSERT, so
// they are left out. MustSameTableShape checks it still matches the migration.
const plainEventsDDL = `
CREATE TABLE plain_events (
    position       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id XID8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       TEXT NOT NULL CHECK (length(event_id) = 26),
    stream_id      TEXT NOT NULL,
    stream_type    TEXT NOT NULL,
    version        BIGINT NOT NULL CHECK (version > 0),
    event_type     TEXT NOT NULL,
    schema_version INTEGER NOT NULL DEFAULT 1,
    payload        JSONB NOT NULL,
    metadata       JSONB NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    hash           BYTEA NOT NULL,
    CONSTRAINT plain_events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT plain_events_event_id_key UNIQUE (event_id)
);
CREATE INDEX plain_events_horizon_idx ON plain_events (transaction_id, position);
CREATE INDEX plain_events_stream_starts_idx ON plain_events (stream_type, stream_id) WHERE version = 1;`

const plainInsert = `INSERT INTO plain_events (event_id, stream_id, stream_type, version,
	event_type, schema_version, payload, metadata, recorded_at, hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// benchPayload is a realistic event body (a registered property), about 300 bytes
// of JSON.
type benchPayload struct {
	PropertyID   uuid.UUID `json:"property_id"`
	OwnerID      uuid.UUID `json:"owner_id"`
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	City         string    `json:"city"`
	State        string    `json:"state"`
	ZipCode      string    `json:"zip_code"`
	PropertyType string    `json:"property_type"`
	Bedrooms     int       `json:"bedrooms"`
	Bathrooms    string    `json:"bathrooms"`
	SquareFeet   int       `json:"square_feet"`
	YearBuilt    int       `json:"year_built"`
}

// benchEvent returns the stream, event and metadata of one benchmark append: a new
// stream, as a create command would write it.
func benchEvent(worker, seq int, actor uuid.UUID) (eventstore.StreamID, eventstore.NewEvent, eventstore.Metadata) {
	stream := eventstore.StreamID{Type: "property", ID: uuid.New()}
	payload := benchPayload{
		PropertyID: stream.ID, OwnerID: actor,
		Name:    fmt.Sprintf("Elm Court %d-%d", worker, seq),
		Address: "1742 Evergreen Terrace, Unit 4B", City: "Springfield", State: "IL", ZipCode: "62704",
		PropertyType: "residential", Bedrooms: 3, Bathrooms: "2.5", SquareFeet: 1840, YearBuilt: 1987,
	}
	md := eventstore.Metadata{
		ActorID:       &actor,
		IPAddress:     "203.0.113.42",
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		CorrelationID: ulid.Make().String(),
		Command:       "RegisterProperty",
	}
	return stream, eventstore.NewEvent{Type: "PropertyRegistered", SchemaVersion: 1, Data: payload}, md
}

func BenchmarkAppendVsInsert(b *testing.B) {
	for _, conc := range []int{1, 8, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			ctx := context.Background()
			pool := MustBenchPool(b, int32(conc))
			if _, err := pool.Exec(ctx, plainEventsDDL); err != nil {
				b.Fatalf("create plain_events: %v", err)
			}
			MustSameTableShape(b, ctx, pool, "events", "plain_events")
			store := eventstore.NewPostgresStore(pool)
			actor := uuid.New()

			appendOne := func(ctx context.Context, worker, seq int) error {
				stream, e, md := benchEvent(worker, seq, actor)
				_, err := store.Append(eventstore.WithMetadata(ctx, md), stream, 0, e)
				return err
			}
			insertOne := func(ctx context.Context, worker, seq int) error {
				stream, e, md := benchEvent(worker, seq, actor)
				payload, err := json.Marshal(e.Data)
				if err != nil {
					return err
				}
				meta, err := json.Marshal(md)
				if err != nil {
					return err
				}
				hash := make([]byte, 32)
				rand.Read(hash)
				_, err = pool.Exec(ctx, plainInsert, ulid.Make().String(), stream.String(), stream.Type, 1,
					e.Type, e.SchemaVersion, string(payload), string(meta),
					time.Now().UTC().Truncate(time.Microsecond), hash)
				return err
			}

			// Open every connection and prepare both statements before timing.
			MustRunFor(b, ctx, conc, benchWarmup, insertOne)
			MustRunFor(b, ctx, conc, benchWarmup, appendOne)

			var appends, inserts benchTally
			b.ResetTimer()
			for range b.N {
				for round := range benchRounds {
					var ra, ri benchTally
					if round%2 == 0 {
						ri = MustRunFor(b, ctx, conc, benchPhase, insertOne)
						ra = MustRunFor(b, ctx, conc, benchPhase, appendOne)
					} else {
						ra = MustRunFor(b, ctx, conc, benchPhase, appendOne)
						ri = MustRunFor(b, ctx, conc, benchPhase, insertOne)
					}
					b.Logf("round %d: %.0f appends/s, %.0f inserts/s, ratio %.2f",
						round+1, ra.rate(), ri.rate(), ra.rate()/ri.rate())
					appends.add(ra)
					inserts.add(ri)
				}
			}
			b.StopTimer()
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(appends.rate(), "appends/s")
			b.ReportMetric(inserts.rate(), "inserts/s")
			b.ReportMetric(appends.rate()/inserts.rate(), "ratio")
		})
	}
}

// benchTally is what a timed run did: operations and wall time.
type benchTally struct {
	ops     int64
	elapsed time.Duration
}

func (t *benchTally) add(o benchTally) { t.ops += o.ops; t.elapsed += o.elapsed }

func (t benchTally) rate() float64 { return float64(t.ops) / t.elapsed.Seconds() }

// MustRunFor runs op on conc goroutines, each starting operations until d has
// passed. The wall time runs until the last operation finished. Any error fails
// the benchmark.
func MustRunFor(b *testing.B, ctx context.Context, conc int, d time.Duration,
	op func(ctx context.Context, worker, seq int) error) benchTally {
	b.Helper()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var ops atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil && time.Now().Before(deadline); seq++ {
				if err := op(ctx, w, seq); err != nil {
					cancel(err)
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		b.Fatalf("benchmark operation: %v", err)
	}
	return benchTally{ops: ops.Load(), elapsed: elapsed}
}

// MustBenchPool is dbtest.MustPool with room for maxConns connections.
func MustBenchPool(b *testing.B, maxConns int32) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.MustURL(b))
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = maxConns
	pguuid.Configure(cfg) // as serve's pools and dbtest's
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// MustSameTableShape fails unless two tables have the same columns (name, type,
// nullability, default, identity), constraints, indexes and triggers that fire on
// INSERT, ignoring the names of the table, its constraints and its indexes.
func MustSameTableShape(b *testing.B, ctx context.Context, pool *pgxpool.Pool, want, got string) {
	b.Helper()
	shape := func(table string) []string {
		rows, err := pool.Query(ctx, `
			SELECT 'column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
			       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
			       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
			       || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END
			  FROM pg_attribute a LEFT JOIN pg_attrdef d ON (d.adrelid, d.adnum) = (a.attrelid, a.attnum)
			 WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
			UNION ALL
			SELECT 'constraint ' || pg_get_constraintdef(c.oid) FROM pg_constraint c WHERE c.conrelid = $1::regclass
			UNION ALL
			SELECT 'index ' || regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '')
			       || CASE WHEN i.indisunique THEN ' unique' ELSE '' END
			  FROM pg_index i WHERE i.indrelid = $1::regclass
			UNION ALL
			SELECT 'trigger ' || regexp_replace(pg_get_triggerdef(t.oid), '^.* ON \S+ ', '')
			  FROM pg_trigger t WHERE t.tgrelid = $1::regclass AND NOT t.tgisinternal
			   AND t.tgtype & 4 <> 0 -- TRIGGER_TYPE_INSERT
			ORDER BY 1`, table)
		if err != nil {
			b.Fatalf("read shape of %s: %v", table, err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				b.Fatal(err)
			}
			lines = append(lines, s)
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		return lines
	}
	w, g := shape(want), shape(got)
	if fmt.Sprint(g) != fmt.Sprint(w) {
		b.Fatalf("%s does not have the shape of %s:\n got %q\nwant %q", got, want, g, w)
	}
}
