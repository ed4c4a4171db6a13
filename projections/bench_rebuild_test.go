// BenchmarkRebuild times `projections rebuild` over 200,000 events beside a
// plain-SQL, set-based baseline; `make bench` runs it on a durable (fsync on)
// throwaway cluster. ASSETANCHOR_BENCH_SCALE (e.g. 0.1) shrinks the log for
// quick local runs.
//
// The log: 100 owners (UserRegistered) and 19,990 properties, each a stream of
// ten events as the property commands write them: PropertyRegistered, eight
// PropertyDetailsChanged and one PropertyStatusChanged. They are appended
// through the event store's append path (PostgresStore.Append, one append per
// stream, 50 streams per transaction, 4 writers) with an owner as the actor.
//
// Rebuild: projections.Rebuild on a database whose projector never ran, from
// the first statement to the swap's commit: copying the read model, folding
// every event with the projector's own code (each event also writes its
// audit_logs row, with the changed fields before and after), building the
// copies' keys, indexes and foreign keys, swapping the tables in. rebuild
// events/s = events replayed ÷ that wall time.
//
// Baseline: one INSERT ... SELECT that projects the same property events into
// bench_properties, a table of the shape of properties (LIKE ... INCLUDING ALL,
// with its foreign key to users): JSONB extraction, and the last write of each
// field group per stream (DISTINCT ON). It runs twice after the rebuild (its
// foreign key needs the rebuilt users), each time into an empty table after a
// CHECKPOINT; sql events/s = property events ÷ its wall time, over both runs.
// The baseline's rows must equal the rebuilt properties exactly. ratio =
// rebuild events/s ÷ sql events/s; the target (issue 5) is at least 0.5
// (docs/operations.md, "Rebuild speed", has the figures). The baseline writes no
// audit rows: the rebuild writes one per event besides.
//
// The events are read once before timing, so both start with the log cached.
// ns/op is suppressed (it would be the wall time of the whole run).
package projections_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

const (
	rebuildBenchOwners         = 100
	rebuildBenchProperties     = 19_990
	rebuildBenchStreamEvents   = 10 // per property
	rebuildBenchStreamsPerTx   = 50
	rebuildBenchWriters        = 4
	rebuildBenchTarget         = 0.5
	rebuildBenchDetailsChanges = rebuildBenchStreamEvents - 2
)

// plainPropertiesSQL projects every property stream's events into
// bench_properties in one statement: each field group takes its value from the
// stream's last event that carries it, as the projector's updates leave it.
const plainPropertiesSQL = `WITH ev AS (
	SELECT stream_id, version, event_type, payload, recorded_at AT TIME ZONE 'UTC' AS at
	FROM events WHERE stream_type = 'property'
), registered AS (
	SELECT stream_id, (payload->>'property_id')::uuid AS id, at AS created_at
	FROM ev WHERE event_type = 'PropertyRegistered'
), details AS (
	SELECT DISTINCT ON (stream_id) stream_id, payload->'details' AS d
	FROM ev WHERE event_type IN ('PropertyRegistered', 'PropertyDetailsChanged')
	ORDER BY stream_id, version DESC
), status AS (
	SELECT DISTINCT ON (stream_id) stream_id,
		CASE event_type WHEN 'PropertyRegistered' THEN payload->>'status' ELSE payload->>'to' END AS status
	FROM ev WHERE event_type IN ('PropertyRegistered', 'PropertyStatusChanged')
	ORDER BY stream_id, version DESC
), owner AS (
	SELECT DISTINCT ON (stream_id) stream_id, (payload->>'owner_id')::uuid AS owner_id
	FROM ev WHERE event_type IN ('PropertyRegistered', 'PropertyOwnerChanged')
	ORDER BY stream_id, version DESC
), last AS (
	SELECT DISTINCT ON (stream_id) stream_id, version, at
	FROM ev ORDER BY stream_id, version DESC
)
INSERT INTO bench_properties (id, name, address, city, state, zip_code, owner_id, property_type, status,
	bedrooms, bathrooms, square_feet, year_built, description, created_at, updated_at, version)
SELECT r.id, d.d->>'name', d.d->>'address', d.d->>'city', d.d->>'state', d.d->>'zip_code', o.owner_id,
	d.d->>'property_type', s.status, (d.d->>'bedrooms')::int, (d.d->>'bathrooms')::numeric,
	(d.d->>'square_feet')::int, (d.d->>'year_built')::int, d.d->>'description',
	r.created_at, l.at, l.version
FROM registered r JOIN details d USING (stream_id) JOIN status s USING (stream_id)
	JOIN owner o USING (stream_id) JOIN last l USING (stream_id)`

func BenchmarkRebuild(b *testing.B) {
	ctx := context.Background()
	scale := dbtest.MustBenchScale(b)
	owners := max(1, int(math.Round(rebuildBenchOwners*scale)))
	properties := max(1, int(math.Round(rebuildBenchProperties*scale)))
	pool := dbtest.MustPool(b)

	generated := time.Now()
	events := MustRebuildBenchLog(b, ctx, pool, owners, properties)
	b.Logf("log: %d events (%d owners, %d properties of %d events each) appended in %.1f s",
		events, owners, properties, rebuildBenchStreamEvents, time.Since(generated).Seconds())
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		b.Fatal(err)
	}
	var logBytes int64
	if err := pool.QueryRow(ctx, `SELECT sum(length(payload::text) + length(metadata::text)) FROM events`).Scan(&logBytes); err != nil {
		b.Fatal(err)
	}
	b.Logf("log: %.1f MB of payload and metadata", float64(logBytes)/1e6)
	propertyEvents := int64(properties * rebuildBenchStreamEvents)

	var rebuild projections.RebuildResult
	var plain time.Duration
	b.ResetTimer()
	for range b.N {
		var err error
		rebuild, err = projections.Rebuild(ctx, pool, projections.RebuildOptions{})
		if err != nil {
			b.Fatalf("rebuild: %v", err)
		}
		first := MustPlainProjection(b, ctx, pool, false)
		second := MustPlainProjection(b, ctx, pool, true)
		b.Logf("plain SQL: %.2f s and %.2f s for %d property events", first.Seconds(), second.Seconds(), propertyEvents)
		plain = first + second
	}
	b.StopTimer()
	if rebuild.Events != events {
		b.Fatalf("rebuild replayed %d events, want %d", rebuild.Events, events)
	}
	rebuildRate := float64(rebuild.Events) / rebuild.Elapsed.Seconds()
	plainRate := float64(2*propertyEvents) / plain.Seconds()
	b.Logf("rebuild: %d events in %.1f s = %.0f events/s; plain SQL %.0f events/s; ratio %.3f (target >= %.1f)",
		rebuild.Events, rebuild.Elapsed.Seconds(), rebuildRate, plainRate, rebuildRate/plainRate, rebuildBenchTarget)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(rebuild.Events), "events")
	b.ReportMetric(rebuildRate, "rebuild_events/s")
	b.ReportMetric(plainRate, "sql_events/s")
	b.ReportMetric(rebuildRate/plainRate, "ratio")
}

// MustRebuildBenchLog appends the benchmark's log and returns its event count.
func MustRebuildBenchLog(b *testing.B, ctx context.Context, pool *pgxpool.Pool, owners, properties int) int64 {
	b.Helper()
	store := eventstore.NewPostgresStore(pool)
	ownerIDs := make([]uuid.UUID, owners)
	for i := range ownerIDs {
		ownerIDs[i] = uuid.New()
		ctx := eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &ownerIDs[i], IPAddress: "198.51.100.7",
			UserAgent: "rebuild-bench", Command: "CreateUser"})
		if _, err := store.Append(ctx, eventstore.StreamID{Type: domain.UserStreamType, ID: ownerIDs[i]}, 0,
			newEvents(&domain.UserRegistered{UserID: ownerIDs[i], Email: fmt.Sprintf("owner-%d@example.com", i),
				PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$b3duZXI", FirstName: "Owner", LastName: fmt.Sprint(i),
				Role: domain.RoleUser})...); err != nil {
			b.Fatalf("append owner: %v", err)
		}
	}

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, rebuildBenchWriters)
	for range rebuildBenchWriters {
		wg.Go(func() {
			for {
				first := int(next.Add(rebuildBenchStreamsPerTx)) - rebuildBenchStreamsPerTx
				if first >= properties {
					return
				}
				err := store.Atomically(ctx, func(tx eventstore.Store) error {
					for i := first; i < min(first+rebuildBenchStreamsPerTx, properties); i++ {
						owner := ownerIDs[i%owners]
						ctx := eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &owner, IPAddress: "198.51.100.7",
							UserAgent: "rebuild-bench", Command: "RegisterProperty"})
						id := uuid.New()
						if _, err := tx.Append(ctx, eventstore.StreamID{Type: domain.PropertyStreamType, ID: id}, 0,
							newEvents(rebuildBenchPropertyEvents(i, id, owner)...)...); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("append properties from %d: %w", first, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return int64(owners + properties*rebuildBenchStreamEvents)
}

// rebuildBenchPropertyEvents is one property's history: registered, its
// details changed eight times (name, rent-relevant fields, description), and
// taken off the market.
func rebuildBenchPropertyEvents(i int, id, owner uuid.UUID) []domain.Event {
	baths := decimal.RequireFromString("1.5")
	details := domain.PropertyDetails{Name: fmt.Sprintf("Elm Court %d", i), Address: fmt.Sprintf("%d Evergreen Terrace", i),
		City: []string{"Springfield", "Shelbyville", "Ogdenville"}[i%3], State: "IL", ZipCode: "62704",
		PropertyType: domain.PropertyResidential, Bedrooms: ptr(1 + i%4), Bathrooms: &baths, SquareFeet: ptr(900 + i%1000),
		YearBuilt: ptr(1950 + i%70)}
	events := []domain.Event{&domain.PropertyRegistered{PropertyID: id, OwnerID: &owner, Status: domain.PropertyActive, Details: details}}
	for change := range rebuildBenchDetailsChanges {
		details.Name = fmt.Sprintf("Elm Court %d (%d)", i, change)
		details.Description = ptr(fmt.Sprintf("renovated, phase %d", change))
		details.SquareFeet = ptr(900 + i%1000 + change)
		events = append(events, &domain.PropertyDetailsChanged{Details: details})
	}
	return append(events, &domain.PropertyStatusChanged{From: domain.PropertyActive, To: domain.PropertyInactive})
}

// MustPlainProjection runs the baseline into an empty bench_properties and
// returns its wall time; with check, it also fails unless the baseline's rows
// equal the rebuilt properties.
func MustPlainProjection(b *testing.B, ctx context.Context, pool *pgxpool.Pool, check bool) time.Duration {
	b.Helper()
	for _, stmt := range []string{
		`DROP TABLE IF EXISTS bench_properties`,
		`CREATE TABLE bench_properties (LIKE properties INCLUDING ALL)`,
		`ALTER TABLE bench_properties ADD FOREIGN KEY (owner_id) REFERENCES users (id)`,
		`CHECKPOINT`, // so that neither side pays for the other's dirty pages
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			b.Fatalf("prepare the baseline: %s: %v", stmt, err)
		}
	}
	start := time.Now()
	if _, err := pool.Exec(ctx, plainPropertiesSQL); err != nil {
		b.Fatalf("baseline: %v", err)
	}
	elapsed := time.Since(start)
	if check {
		var missing, extra int64
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM (TABLE properties EXCEPT TABLE bench_properties) m),
			(SELECT count(*) FROM (TABLE bench_properties EXCEPT TABLE properties) e)`).Scan(&missing, &extra); err != nil {
			b.Fatal(err)
		}
		if missing != 0 || extra != 0 {
			b.Fatalf("the baseline differs from the rebuild: %d rebuilt rows missing, %d extra", missing, extra)
		}
	}
	return elapsed
}
