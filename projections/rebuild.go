package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
)

// readModelTables are the tables the relational projector writes, each before
// the tables whose foreign keys point at it. A rebuild replaces all of them at once.
// A table the projector writes that is missing here would be written live during a
// rebuild: the replay refuses that (checkNoLiveWrites).
var readModelTables = []string{"users", "user_sessions", "properties", "tenants", "leases",
	"transactions", "documents", "maintenance_requests", "audit_logs",
	"property_late_fee_policies", "lease_late_fee_policies"}

// ReadModelTables lists the tables of the relational read model.
func ReadModelTables() []string { return slices.Clone(readModelTables) }

// Progress is how far a replay has come. Total grows when events arrive while
// the replay runs.
type Progress struct {
	Phase   string // "replay", "catch-up" (under the swap lock) or "compare"
	Done    int64  // events applied so far
	Total   int64  // events to apply, as far as known
	Elapsed time.Duration
}

// Rate is the replay speed in events per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Done) / p.Elapsed.Seconds()
}

// ETA estimates the time left at the current rate (0 when unknown or done).
func (p Progress) ETA() time.Duration {
	rate := p.Rate()
	if rate <= 0 || p.Done >= p.Total {
		return 0
	}
	return time.Duration(float64(p.Total-p.Done) / rate * float64(time.Second))
}

// RebuildOptions tunes Rebuild and Verify.
type RebuildOptions struct {
	// Progress, if set, is called after every batch.
	Progress func(Progress)
	// BatchSize is the number of events applied per transaction (default 500).
	BatchSize int
	// Keyring opens the sealed personal data of tenant events (Relational.Keyring):
	// a log holding sealed events cannot be replayed without it.
	Keyring *eventstore.Keyring
}

func (o RebuildOptions) batchSize() int {
	if o.BatchSize <= 0 {
		return 500
	}
	return o.BatchSize
}

// RebuildResult tells what a rebuild did.
type RebuildResult struct {
	Events     int64                 // events replayed into the new tables
	Checkpoint eventstore.Checkpoint // where the new tables, and the live projector, stand
	Elapsed    time.Duration
}

// Rebuild replays the whole event log into fresh copies of the read-model tables
// in a scratch schema, with the projector's own code, while the API and the live
// projector keep running. It then swaps the copies in within one transaction:
// it locks the live projector's watermill offset and checkpoint (waiting for a
// batch in flight), applies the events that arrived meanwhile, replaces the public
// tables with the copies (same names, indexes, constraints and foreign keys) and
// moves the live checkpoint to the rebuilt one. The live projector continues
// from there.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, opts RebuildOptions) (RebuildResult, error) {
	start := time.Now()
	if err := refuseStalledHorizon(ctx, pool); err != nil {
		return RebuildResult{}, err
	}
	s, err := newScratch(ctx, pool, opts, start)
	if err != nil {
		return RebuildResult{}, err
	}
	defer s.drop()
	// Every event committed before the rebuild started is in it: a transaction
	// still running elsewhere in the cluster can hold the horizon back a moment.
	if err := s.waitVisible(ctx); err != nil {
		return RebuildResult{}, err
	}
	if err := s.replay(ctx, s.head); err != nil {
		return RebuildResult{}, err
	}
	// A deadlock with a reader, or a lock that a long query holds past
	// lock_timeout, rolls the swap back whole; the scratch tables stay, so try again.
	for attempt := 1; ; attempt++ {
		err = s.swap(ctx)
		if err == nil || !retryable(err) || attempt == 5 {
			break
		}
	}
	if err != nil {
		return RebuildResult{}, err
	}
	return RebuildResult{Events: s.applied, Checkpoint: s.cp, Elapsed: time.Since(start)}, nil
}

// Difference is one row that differs between the live read model and a rebuild.
// Live or Rebuilt is nil when the row exists on one side only.
type Difference struct {
	Table   string
	ID      string // the row's primary key
	Live    *string
	Rebuilt *string
}

// VerifyResult is the outcome of Verify.
type VerifyResult struct {
	Checkpoint  eventstore.Checkpoint // the live checkpoint both sides were compared at
	Tables      int
	Rows        int64        // rows in the live tables
	Differing   int64        // rows that differ (missing on either side counts once)
	Differences []Difference // the first few differences of each table
}

// Identical reports whether the live read model equals the rebuild.
func (r VerifyResult) Identical() bool { return r.Differing == 0 }

// maxDifferencesPerTable bounds what Verify reports of each table.
const maxDifferencesPerTable = 5

// Verify replays the event log into scratch tables exactly up to the live
// projector's checkpoint and compares them with the live tables row by row.
// The live tables are read in the same repeatable-read snapshot as their
// checkpoint, so the live projector keeps running. The scratch schema is
// dropped afterwards in every case.
func Verify(ctx context.Context, pool *pgxpool.Pool, opts RebuildOptions) (VerifyResult, error) {
	start := time.Now()
	if err := refuseStalledHorizon(ctx, pool); err != nil {
		return VerifyResult{}, err
	}
	s, err := newScratch(ctx, pool, opts, start)
	if err != nil {
		return VerifyResult{}, err
	}
	defer s.drop()
	if err := s.replay(ctx, s.head); err != nil {
		return VerifyResult{}, err
	}

	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite})
	if err != nil {
		return VerifyResult{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the comparison writes nothing that must stay
	// The first statement fixes the snapshot: the live tables as of this checkpoint.
	live, err := lastVisible(ctx, tx)
	if err != nil {
		return VerifyResult{}, err
	}
	if s.cp.Reached(live) && s.cp != live {
		return VerifyResult{}, fmt.Errorf("the event log went back to %d/%d during verify (events import?): run verify again",
			live.TransactionID, live.Position)
	}
	if err := s.catchUp(ctx, tx, &live, "compare"); err != nil {
		return VerifyResult{}, err
	}
	if s.cp != live {
		return VerifyResult{}, fmt.Errorf("replay stopped at %d/%d, short of the live checkpoint %d/%d",
			s.cp.TransactionID, s.cp.Position, live.TransactionID, live.Position)
	}
	res := VerifyResult{Checkpoint: live, Tables: len(readModelTables)}
	for _, table := range readModelTables {
		if err := compareTable(ctx, tx, s.schema, table, &res); err != nil {
			return VerifyResult{}, err
		}
	}
	return res, nil
}

func compareTable(ctx context.Context, tx pgx.Tx, schema, table string, res *VerifyResult) error {
	liveT, scratchT := pgx.Identifier{"public", table}.Sanitize(), pgx.Identifier{schema, table}.Sanitize()
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+liveT).Scan(&n); err != nil {
		return fmt.Errorf("count %s: %w", table, err)
	}
	res.Rows += n
	// Rows are matched by primary key (id in the seed's tables). A partitioned
	// table's key also holds the partition key, only because PostgreSQL requires
	// it (audit_logs: id, created_at): match by the rest, so that a row whose
	// created_at differs is one differing row, not one missing on each side.
	rows, err := tx.Query(ctx, `SELECT a.attname, coalesce(k.attnum = ANY(pt.partattrs::int2[]), false)
		FROM pg_catalog.pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
		JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		LEFT JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = i.indrelid
		WHERE i.indrelid = $1::text::regclass AND i.indisprimary ORDER BY k.ord`, liveT)
	if err != nil {
		return fmt.Errorf("read the primary key of %s: %w", table, err)
	}
	type keyColumn struct {
		name        string
		partitioned bool
	}
	columns, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyColumn, error) {
		var c keyColumn
		return c, row.Scan(&c.name, &c.partitioned)
	})
	if err != nil {
		return fmt.Errorf("read the primary key of %s: %w", table, err)
	}
	var keys []string
	for _, c := range columns {
		if !c.partitioned {
			keys = append(keys, c.name)
		}
	}
	if len(keys) == 0 {
		for _, c := range columns {
			keys = append(keys, c.name)
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%s has no primary key to compare rows by", table)
	}
	var on, key []string
	for _, k := range keys {
		col := pgx.Identifier{k}.Sanitize()
		on = append(on, "l."+col+" = r."+col)
		key = append(key, "coalesce(l."+col+", r."+col+")::text")
	}
	first := pgx.Identifier{keys[0]}.Sanitize()
	rows, err = tx.Query(ctx, `SELECT count(*) OVER (), concat_ws(', ', `+strings.Join(key, ", ")+`) AS key,
			CASE WHEN l.`+first+` IS NULL THEN NULL ELSE l::text END,
			CASE WHEN r.`+first+` IS NULL THEN NULL ELSE r::text END
		FROM `+liveT+` l FULL JOIN `+scratchT+` r ON `+strings.Join(on, " AND ")+`
		WHERE l.`+first+` IS NULL OR r.`+first+` IS NULL OR l::text <> r::text
		ORDER BY key LIMIT `+fmt.Sprint(maxDifferencesPerTable))
	if err != nil {
		return fmt.Errorf("compare %s: %w", table, err)
	}
	defer rows.Close()
	for i := 0; rows.Next(); i++ {
		d := Difference{Table: table}
		var total int64
		if err := rows.Scan(&total, &d.ID, &d.Live, &d.Rebuilt); err != nil {
			return fmt.Errorf("compare %s: %w", table, err)
		}
		if i == 0 {
			res.Differing += total
		}
		res.Differences = append(res.Differences, d)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("compare %s: %w", table, err)
	}
	return nil
}

// EntityState is the read-model row of the entity whose stream's events are
// given, as those events leave it, as a JSON object without secrets (password
// and token hashes). It is nil when the events leave no row. The replay is
// AsOf's: nothing of it persists.
func EntityState(ctx context.Context, q *Queries, streamType string, events []eventstore.Event) (json.RawMessage, error) {
	t, ok := entityTables[streamType]
	if !ok {
		return nil, fmt.Errorf("no read-model table for stream type %q", streamType)
	}
	table := t.name
	if len(events) == 0 {
		return nil, nil
	}
	id := events[0].Stream.ID
	return AsOf(ctx, q, events, func(ctx context.Context) (json.RawMessage, error) {
		var raw []byte
		err := q.pool.QueryRow(ctx, `SELECT to_jsonb(t) - $2::text[] FROM `+table+` t WHERE id = $1`,
			id, []string{"password_hash", "token", "refresh_token"}).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s as of its events: %w", table, err)
		}
		return raw, nil
	})
}

// refuseStalledHorizon stops a replay on a database whose stored transaction ids
// lie ahead of the cluster's (a pg_dump restored into another cluster): the
// horizon would hide every event, and the replay would silently find nothing.
func refuseStalledHorizon(ctx context.Context, pool *pgxpool.Pool) error {
	stalled, err := eventstore.HorizonStalled(ctx, pool)
	if err != nil {
		return err
	}
	if stalled {
		return eventstore.ErrHorizonStalled
	}
	return nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lastVisible is the newest event q's snapshot sees: the live read model, which
// is written in the same transactions as the events, stands exactly there.
func lastVisible(ctx context.Context, q querier) (eventstore.Checkpoint, error) {
	var cp eventstore.Checkpoint
	var txid string
	err := q.QueryRow(ctx, `SELECT transaction_id::text, position FROM events
		ORDER BY events.transaction_id DESC, position DESC LIMIT 1`).Scan(&txid, &cp.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return eventstore.Checkpoint{}, fmt.Errorf("read the last event: %w", err)
	}
	_, err = fmt.Sscan(txid, &cp.TransactionID)
	return cp, err
}

func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40P01", "40001", "55P03": // deadlock, serialization failure, lock timeout
		return true
	}
	return false
}

// scratch is a private schema holding empty copies of the read-model tables and
// a private checkpoint, into which the log is replayed.
type scratch struct {
	pool     *pgxpool.Pool
	schema   string
	opts     RebuildOptions
	start    time.Time
	cp       eventstore.Checkpoint // the last event applied to the copies
	applied  int64
	total    int64
	lastNote time.Time
	deferred []string // the copies' keys, indexes and foreign keys (cloneReadModel)
}

// errUndo rolls back a savepoint on purpose.
var errUndo = errors.New("undo")

// completeTables creates the copies' keys, indexes and foreign keys.
func (s *scratch) completeTables(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_catalog`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'`); err != nil {
		return err
	}
	for _, stmt := range s.deferred {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return explainViolation(ctx, s.pool, s.schema, fmt.Errorf("complete the rebuilt tables: %s: %w", stmt, err))
		}
	}
	return nil
}

func newScratch(ctx context.Context, pool *pgxpool.Pool, opts RebuildOptions, start time.Time) (*scratch, error) {
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	s := &scratch{pool: pool, schema: "rebuild_" + hex.EncodeToString(suffix), opts: opts, start: start}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&s.total); err != nil {
		return nil, fmt.Errorf("count events: %w", err)
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
		// Copying reads the live tables' definitions and grants to cluster roles:
		// a session holding one of those locks for long fails the rebuild clearly
		// instead of hanging it.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
			return err
		}
		// Hold the live tables' definitions still while they are read: adding a
		// partition (serve does daily) needs a lock that conflicts with this one,
		// which blocks no reader and no writer.
		live := make([]string, len(readModelTables))
		for i, t := range readModelTables {
			live[i] = pgx.Identifier{"public", t}.Sanitize()
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(live, ", ")+` IN ACCESS SHARE MODE`); err != nil {
			return fmt.Errorf("lock the live tables: %w", err)
		}
		if s.deferred, err = cloneReadModel(ctx, tx, s.schema); err != nil {
			return err
		}
		// Fail before hours of replay, not at the swap, if the copies are not
		// faithful: complete them in a savepoint, compare, and undo.
		err = pgx.BeginFunc(ctx, tx, func(check pgx.Tx) error {
			if err := s.completeTables(ctx, check); err != nil {
				return err
			}
			if err := sameShape(ctx, check, "public", s.schema); err != nil {
				return err
			}
			return errUndo
		})
		if errors.Is(err, errUndo) {
			return nil
		}
		return err
	})
	if err != nil {
		s.drop()
		return nil, fmt.Errorf("prepare rebuild tables: %w", err)
	}
	return s, nil
}

// drop removes the scratch schema; it runs on every way out, even a cancelled one.
func (s *scratch) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = s.pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{s.schema}.Sanitize()+` CASCADE`)
}

// redirect points the transaction's unqualified table names at the copies; the
// event log and everything else still resolve to public.
func (s *scratch) redirect(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL search_path = `+pgx.Identifier{s.schema}.Sanitize()+`, public`)
	return err
}

// replay brings the copies up to the checkpoint target returns: a fold of
// the log up to it into the empty copies (rebuild_fold.go), then their
// indexes and foreign keys, then, in passes of batches of the live
// projector's Apply, the events that arrived meanwhile. Writers may append
// faster than a replay applies, so after a few passes the caller finishes the
// rest in its final transaction instead of chasing the head for ever.
func (s *scratch) replay(ctx context.Context, target func(context.Context) (eventstore.Checkpoint, error)) error {
	until, err := target(ctx)
	if err != nil {
		return err
	}
	if err := s.fold(ctx, until); err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	s.note("replay", true)
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.completeTables(ctx, tx) }); err != nil {
		return err
	}
	const passes = 4
	for range passes {
		until, err := target(ctx)
		if err != nil {
			return err
		}
		if s.cp.Reached(until) {
			return nil
		}
		before := s.applied
		for !s.cp.Reached(until) {
			var n int
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if err := s.redirect(ctx, tx); err != nil {
					return err
				}
				var err error
				n, err = s.batch(ctx, tx, &until, false)
				return err
			})
			if err != nil {
				return err
			}
			s.note("replay", false)
			if n == 0 {
				break // not visible yet; the final transaction takes it
			}
		}
		if s.applied-before < int64(s.opts.batchSize()) {
			return nil // what is left is small
		}
	}
	return nil
}

// waitVisible waits until readers can see the last event committed now.
func (s *scratch) waitVisible(ctx context.Context) error {
	var target eventstore.Checkpoint
	var txid string
	// events.transaction_id: the xid8, not the text output column of the same name.
	err := s.pool.QueryRow(ctx, `SELECT transaction_id::text, position FROM events
		ORDER BY events.transaction_id DESC, events.position DESC LIMIT 1`).Scan(&txid, &target.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err == nil {
		_, err = fmt.Sscan(txid, &target.TransactionID)
	}
	if err != nil {
		return fmt.Errorf("read the last event: %w", err)
	}
	delay := time.Millisecond
	for {
		head, err := s.head(ctx)
		if err != nil {
			return err
		}
		if head.Reached(target) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// head is the newest event readers can see.
func (s *scratch) head(ctx context.Context) (eventstore.Checkpoint, error) {
	return eventstore.NewPostgresStore(s.pool).Head(ctx)
}

// catchUp applies, inside tx, every event up to until (or the horizon).
func (s *scratch) catchUp(ctx context.Context, tx pgx.Tx, until *eventstore.Checkpoint, phase string) error {
	if err := s.redirect(ctx, tx); err != nil {
		return err
	}
	for {
		n, err := s.batch(ctx, tx, until, true)
		if err != nil {
			return err
		}
		if n == 0 {
			s.note(phase, true)
			return nil
		}
	}
}

// batch applies up to one batch of events after the scratch checkpoint.
// A settled batch reads every event tx can see: no writer is in flight (the
// swap locked them out), or the live tables are read in tx's snapshot (verify).
// Otherwise it stops at the horizon, behind which a late commit may still appear.
func (s *scratch) batch(ctx context.Context, tx pgx.Tx, until *eventstore.Checkpoint, settled bool) (int, error) {
	events, err := eventstore.NewPostgresStore(tx).ReadAfter(ctx, s.cp, s.opts.batchSize())
	if settled {
		events, err = eventstore.NewPostgresStore(tx).ReadVisibleAfter(ctx, s.cp, s.opts.batchSize())
	}
	if err != nil {
		return 0, err
	}
	if len(events) == 0 {
		return 0, nil
	}
	before, err := liveWrites(ctx, tx)
	if err != nil {
		return 0, err
	}
	n := len(events)
	if until != nil {
		n = 0
		for n < len(events) && until.Reached(events[n].Checkpoint()) {
			n++
		}
	}
	if n == 0 {
		return 0, nil
	}
	if err := (Relational{Keyring: s.opts.Keyring}).Apply(ctx, tx, events[:n]...); err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	if err := checkNoLiveWrites(ctx, tx, before); err != nil {
		return 0, err
	}
	s.cp = events[n-1].Checkpoint()
	s.applied += int64(n)
	return n, nil
}

// liveWrites counts, for each table of public that this transaction wrote, the
// rows it inserted, updated or deleted and has not yet reported to the
// statistics system. Within one transaction nothing is reported, so two
// readings bracket the writes between them. Tables that other sessions create
// meanwhile (a new audit_logs partition) count nothing here.
func liveWrites(ctx context.Context, tx pgx.Tx) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `SELECT relname, n FROM (
			SELECT c.relname, pg_stat_get_xact_tuples_inserted(c.oid) + pg_stat_get_xact_tuples_updated(c.oid)
				+ pg_stat_get_xact_tuples_deleted(c.oid) AS n
			FROM pg_catalog.pg_class c
			WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
			  AND c.relname NOT IN ('projector_checkpoints', 'watermill_offsets_events')) t
		WHERE n > 0`)
	if err != nil {
		return nil, fmt.Errorf("check the replay's writes: %w", err)
	}
	counts := map[string]int64{}
	var table string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&table, &n}, func() error {
		counts[table] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("check the replay's writes: %w", err)
	}
	return counts, nil
}

// checkNoLiveWrites fails when the replay wrote a table of public since before
// was read: the projector writes a table that readModelTables lacks, and a
// rebuild would change the live read model behind the live projector's back.
func checkNoLiveWrites(ctx context.Context, tx pgx.Tx, before map[string]int64) error {
	after, err := liveWrites(ctx, tx)
	if err != nil {
		return err
	}
	var written []string
	for table, n := range after {
		if before[table] != n {
			written = append(written, table)
		}
	}
	if len(written) == 0 {
		return nil
	}
	slices.Sort(written)
	return fmt.Errorf("the projector wrote a live table during a rebuild (%s): add it to projections.readModelTables",
		strings.Join(written, ", "))
}

func (s *scratch) note(phase string, force bool) {
	if s.opts.Progress == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(s.lastNote) < 100*time.Millisecond {
		return
	}
	s.lastNote = now
	// No query here: the swap calls this while it locks writers out, and a second
	// connection from a pool they may hold could wait for ever.
	s.total = max(s.total, s.applied)
	s.opts.Progress(Progress{Phase: phase, Done: s.applied, Total: s.total, Elapsed: now.Sub(s.start)})
}

// swap replaces the live tables with the copies in one transaction.
func (s *scratch) swap(ctx context.Context) error {
	saved, savedApplied := s.cp, s.applied
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A query holding a table for long must not queue every request behind the swap.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '10s'`); err != nil {
			return err
		}
		// Writers project inline: lock them out first (any writer in flight
		// finishes), then catch up with what they appended during the replay.
		if err := eventstore.LockOutWriters(ctx, tx); err != nil {
			return fmt.Errorf("lock out writers: %w", err)
		}
		if err := s.catchUp(ctx, tx, nil, "catch-up"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_catalog`); err != nil {
			return err
		}
		if err := addLivePartitions(ctx, tx, s.schema); err != nil {
			return err
		}
		before, err := shapes(ctx, tx, "public", true)
		if err != nil {
			return err
		}
		outside, err := foreignKeysFromOutside(ctx, tx)
		if err != nil {
			return err
		}
		if err := replaceTables(ctx, tx, s.schema); err != nil {
			return err
		}
		for _, fk := range outside {
			if _, err := tx.Exec(ctx, fk); err != nil {
				return fmt.Errorf("restore foreign key onto the rebuilt tables: %s: %w", fk, err)
			}
		}
		after, err := shapes(ctx, tx, "public", true)
		if err != nil {
			return err
		}
		if err := diffShapes(before, after, "public", "public"); err != nil {
			return fmt.Errorf("the rebuilt tables differ in shape from the live ones, nothing swapped: %w", err)
		}
		if _, err := tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{s.schema}.Sanitize()+` CASCADE`); err != nil {
			return fmt.Errorf("drop the scratch schema: %w", err)
		}
		return nil
	})
	if err != nil {
		// Nothing of the transaction stays, so neither do its catch-up events.
		s.cp, s.applied = saved, savedApplied
	}
	return err
}

// addLivePartitions gives the copies in schema the partitions that their live
// tables gained during the replay (serve adds the coming months' audit_logs
// partitions daily), so that the swap loses none. PostgreSQL refuses a
// partition whose range has rows in the default partition: the copy's default
// is detached meanwhile, and its rows of the new range move into the new
// partition. Run it with search_path = pg_catalog.
func addLivePartitions(ctx context.Context, tx pgx.Tx, schema string) error {
	rows, err := tx.Query(ctx, `SELECT p.relname, ch.relname, pg_get_expr(ch.relpartbound, ch.oid)
		FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent JOIN pg_class ch ON ch.oid = i.inhrelid
		WHERE p.relnamespace = 'public'::regnamespace AND p.relname = ANY($1)
		  AND to_regclass(format('%I.%I', $2::text, ch.relname)) IS NULL
		ORDER BY ch.relname`, readModelTables, schema)
	if err != nil {
		return fmt.Errorf("list the live tables' new partitions: %w", err)
	}
	type partition struct{ table, name, bound string }
	missing, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (partition, error) {
		var p partition
		return p, row.Scan(&p.table, &p.name, &p.bound)
	})
	if err != nil {
		return fmt.Errorf("list the live tables' new partitions: %w", err)
	}
	for _, p := range missing {
		parent, part := pgx.Identifier{schema, p.table}.Sanitize(), pgx.Identifier{schema, p.name}.Sanitize()
		var def *string
		err := tx.QueryRow(ctx, `SELECT ch.relname FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
			WHERE i.inhparent = $1::text::regclass AND pg_get_expr(ch.relpartbound, ch.oid) = 'DEFAULT'`, parent).Scan(&def)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("find the default partition of %s: %w", p.table, err)
		}
		if def == nil {
			if _, err := tx.Exec(ctx, `CREATE TABLE `+part+` PARTITION OF `+parent+` `+p.bound); err != nil {
				return fmt.Errorf("add partition %s to the rebuilt %s: %w", p.name, p.table, err)
			}
			continue
		}
		defPart := pgx.Identifier{schema, *def}.Sanitize()
		var constraint string
		for _, stmt := range []string{
			`ALTER TABLE ` + parent + ` DETACH PARTITION ` + defPart,
			`CREATE TABLE ` + part + ` PARTITION OF ` + parent + ` ` + p.bound,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("add partition %s to the rebuilt %s: %w", p.name, p.table, err)
			}
		}
		if err := tx.QueryRow(ctx, `SELECT pg_get_partition_constraintdef($1::text::regclass)`, part).Scan(&constraint); err != nil {
			return fmt.Errorf("read the range of partition %s: %w", p.name, err)
		}
		for _, stmt := range []string{
			`WITH moved AS (DELETE FROM ` + defPart + ` WHERE ` + constraint + ` RETURNING *) INSERT INTO ` + part + ` SELECT * FROM moved`,
			`ALTER TABLE ` + parent + ` ATTACH PARTITION ` + defPart + ` DEFAULT`,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("move rows of partition %s out of the default: %w", p.name, err)
			}
		}
	}
	return nil
}

// replaceTables drops the live read-model tables and moves the copies (with
// their partitions) into public.
func replaceTables(ctx context.Context, tx pgx.Tx, schema string) error {
	live := make([]string, len(readModelTables))
	for i, t := range readModelTables {
		live[i] = pgx.Identifier{"public", t}.Sanitize()
	}
	if _, err := tx.Exec(ctx, `DROP TABLE `+strings.Join(live, ", ")+` CASCADE`); err != nil {
		return fmt.Errorf("drop the live tables: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_catalog.pg_class c
		WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p')
		ORDER BY c.relispartition, c.relname`, schema)
	if err != nil {
		return err
	}
	moved, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, t := range moved {
		if _, err := tx.Exec(ctx, `ALTER TABLE `+pgx.Identifier{schema, t}.Sanitize()+` SET SCHEMA public`); err != nil {
			return fmt.Errorf("move %s into public: %w", t, err)
		}
	}
	return nil
}

// foreignKeysFromOutside returns, as ALTER TABLE statements, the foreign keys of
// other tables that point at read-model tables: DROP ... CASCADE removes them,
// and the swap puts them back onto the new tables.
func foreignKeysFromOutside(ctx context.Context, tx pgx.Tx) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s',
			con.conrelid::regclass, con.conname, pg_get_constraintdef(con.oid))
		FROM pg_constraint con
		WHERE con.contype = 'f'
		  AND con.confrelid IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1))
		  AND con.conrelid NOT IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1))
		  AND con.conparentid = 0
		ORDER BY 1`, readModelTables)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys onto the read model: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// cloneReadModel creates schema with empty copies of the read-model tables that
// carry the live tables' exact shape: columns, defaults, constraints and indexes
// under their original names (names are per schema, so they can be the same),
// foreign keys between the copies, triggers, row-level security, grants, owner,
// partitions. Moving the copies into public later gives back the migrations'
// schema unchanged. It returns, without running them, the statements that
// create the copies' keys, indexes and foreign keys: loading rows first and
// building those after is much faster than maintaining them row by row.
func cloneReadModel(ctx context.Context, tx pgx.Tx, schema string) (deferred []string, err error) {
	// With only pg_catalog on the path, the catalog functions qualify every name.
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_catalog`); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, fmt.Errorf("create scratch schema: %w", err)
	}
	// Objects of other tables that depend on the read-model tables, which DROP ...
	// CASCADE would remove silently: views, and row-level security policies whose
	// expressions read them. (Foreign keys from other tables are put back by the swap.)
	var dependents []string
	rows, err := tx.Query(ctx, `WITH ours AS (
			SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relname = ANY($1))
		SELECT DISTINCT 'view ' || r.ev_class::regclass::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
		WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid IN (SELECT oid FROM ours)
		  AND r.ev_class NOT IN (SELECT oid FROM ours)
		UNION
		SELECT DISTINCT format('policy %s on %s', p.polname, p.polrelid::regclass) FROM pg_depend d JOIN pg_policy p ON p.oid = d.objid
		WHERE d.classid = 'pg_policy'::regclass AND d.refobjid IN (SELECT oid FROM ours)
		  AND p.polrelid NOT IN (SELECT oid FROM ours)
		ORDER BY 1`, readModelTables)
	if err == nil {
		dependents, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("look for objects that depend on the read model: %w", err)
	}
	if len(dependents) > 0 {
		return nil, fmt.Errorf("%s depend on the read-model tables: a swap would drop them (add their tables to projections.readModelTables)",
			strings.Join(dependents, ", "))
	}
	var policies, indexes, foreignKeys []string
	for _, table := range readModelTables {
		c, err := tableDDL(ctx, tx, schema, table)
		if err != nil {
			return nil, err
		}
		for _, stmt := range c.ddl {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return nil, fmt.Errorf("copy %s: %s: %w", table, stmt, err)
			}
		}
		policies = append(policies, c.policies...)
		indexes = append(indexes, c.indexes...)
		foreignKeys = append(foreignKeys, c.foreignKeys...)
	}
	for _, stmt := range policies {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("copy policy: %s: %w", stmt, err)
		}
	}
	return append(indexes, foreignKeys...), nil
}

// tableCopy is what recreates a table in another schema: the table (ddl),
// what needs every copy to exist (its row-level security policies and foreign
// keys, pointed at the copies), and its indexes, which a rebuild creates after
// the rows are in, as it does the foreign keys.
type tableCopy struct {
	ddl, indexes, policies, foreignKeys []string
}

// tableDDL returns the statements that recreate public.table in schema.
func tableDDL(ctx context.Context, tx pgx.Tx, schema, table string) (c tableCopy, err error) {
	src := pgx.Identifier{"public", table}.Sanitize()
	dst := pgx.Identifier{schema, table}.Sanitize()
	var (
		kind                   string
		partKey, options, note *string
		owner                  string
		rls, forceRLS          bool
	)
	err = tx.QueryRow(ctx, `SELECT c.relkind::text, pg_get_partkeydef(c.oid), array_to_string(c.reloptions, ', '),
			pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity, obj_description(c.oid, 'pg_class')
		FROM pg_class c WHERE c.oid = $1::text::regclass`, src).Scan(&kind, &partKey, &options, &owner, &rls, &forceRLS, &note)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the shape of %s: %w", table, err)
	}
	create := `CREATE TABLE ` + dst + ` (LIKE ` + src + ` INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING IDENTITY
		INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)`
	if kind == "p" && partKey != nil {
		create += ` PARTITION BY ` + *partKey
	} else if options != nil && *options != "" {
		create += ` WITH (` + *options + `)`
	}
	c.ddl = append(c.ddl, create)

	// Partitions, under their own names and bounds.
	partitions, err := queryStrings(ctx, tx, `SELECT format('CREATE TABLE %I.%I PARTITION OF %s %s', $2::text, ch.relname, $3::text,
			pg_get_expr(ch.relpartbound, ch.oid))
		FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
		WHERE i.inhparent = $1::text::regclass ORDER BY ch.relname`, src, schema, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the partitions of %s: %w", table, err)
	}
	c.ddl = append(c.ddl, partitions...)

	// Constraints under their names: primary key and unique constraints create
	// their indexes under the same names, so they wait for the rows with the
	// other indexes; check constraints do not.
	checks, err := queryStrings(ctx, tx, `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname,
			pg_get_constraintdef(oid))
		FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'c' AND conislocal
		ORDER BY conname`, src, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the constraints of %s: %w", table, err)
	}
	c.ddl = append(c.ddl, checks...)
	keys, err := queryStrings(ctx, tx, `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname,
			pg_get_constraintdef(oid))
		FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype IN ('p', 'u', 'x') AND conislocal
		ORDER BY array_position(ARRAY['p', 'u', 'x'], contype::text), conname`, src, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the constraints of %s: %w", table, err)
	}
	c.indexes = append(c.indexes, keys...)

	// The other indexes, from their definitions.
	indexes, err := queryStrings(ctx, tx, `SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
		WHERE i.indrelid = $1::text::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
		                  AND c.contype IN ('p', 'u', 'x'))
		ORDER BY i.indexrelid::regclass::text`, src)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the indexes of %s: %w", table, err)
	}
	// As the catalog functions write it: public.users, quoted only where needed.
	var srcName string
	if err := tx.QueryRow(ctx, `SELECT $1::text::regclass::text`, src).Scan(&srcName); err != nil {
		return tableCopy{}, err
	}
	for _, def := range indexes {
		def, ok := retarget(def, []string{" ON ONLY " + srcName + " ", " ON " + srcName + " "}, " ON "+dst+" ")
		if !ok {
			return tableCopy{}, fmt.Errorf("unexpected index definition on %s: %s", table, def)
		}
		c.indexes = append(c.indexes, def)
	}

	triggers, err := queryStrings(ctx, tx, `SELECT pg_get_triggerdef(oid) FROM pg_trigger
		WHERE tgrelid = $1::text::regclass AND NOT tgisinternal ORDER BY tgname`, src)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the triggers of %s: %w", table, err)
	}
	for _, def := range triggers {
		def, ok := retarget(def, []string{" ON " + srcName + " "}, " ON "+dst+" ")
		if !ok {
			return tableCopy{}, fmt.Errorf("unexpected trigger definition on %s: %s", table, def)
		}
		c.ddl = append(c.ddl, def)
	}

	if rls {
		c.ddl = append(c.ddl, `ALTER TABLE `+dst+` ENABLE ROW LEVEL SECURITY`)
	}
	if forceRLS {
		c.ddl = append(c.ddl, `ALTER TABLE `+dst+` FORCE ROW LEVEL SECURITY`)
	}
	policies, err := queryStrings(ctx, tx, `SELECT format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, $2::text,
			CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
			CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
			(SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ') FROM unnest(p.polroles) r),
			' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
			' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
		FROM pg_policy p WHERE p.polrelid = $1::text::regclass ORDER BY p.polname`, src, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the policies of %s: %w", table, err)
	}
	for _, def := range policies {
		c.policies = append(c.policies, toCopies(def, schema))
	}

	c.ddl = append(c.ddl, `ALTER TABLE `+dst+` OWNER TO `+pgx.Identifier{owner}.Sanitize())
	grants, err := queryStrings(ctx, tx, `SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text,
			CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
			CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
		FROM pg_class c, aclexplode(c.relacl) a
		WHERE c.oid = $1::text::regclass AND a.grantee <> c.relowner
		ORDER BY 1`, src, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the grants of %s: %w", table, err)
	}
	c.ddl = append(c.ddl, grants...)
	if note != nil {
		c.ddl = append(c.ddl, `COMMENT ON TABLE `+dst+` IS `+quoteLiteral(*note))
	}

	fkDefs, err := queryStrings(ctx, tx, `SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', $2::text, conname,
			pg_get_constraintdef(oid))
		FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'f' AND conislocal ORDER BY conname`, src, dst)
	if err != nil {
		return tableCopy{}, fmt.Errorf("read the foreign keys of %s: %w", table, err)
	}
	for _, def := range fkDefs {
		c.foreignKeys = append(c.foreignKeys, toCopies(def, schema))
	}
	return c, nil
}

// retarget replaces the first of olds found in def by repl.
func retarget(def string, olds []string, repl string) (string, bool) {
	for _, old := range olds {
		if strings.Contains(def, old) {
			return strings.Replace(def, old, repl, 1), true
		}
	}
	return def, false
}

// toCopies points qualified references to read-model tables (public.users) in
// a definition at the copies in schema.
func toCopies(def, schema string) string {
	for _, t := range readModelTables {
		old := "public." + t
		var b strings.Builder
		for {
			i := strings.Index(def, old)
			if i < 0 {
				b.WriteString(def)
				break
			}
			end := i + len(old)
			b.WriteString(def[:i])
			if end < len(def) && isIdentChar(def[end]) {
				b.WriteString(old) // public.users_archive is another table
			} else {
				b.WriteString(pgx.Identifier{schema, t}.Sanitize())
			}
			def = def[end:]
		}
		def = b.String()
	}
	return def
}

func isIdentChar(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func queryStrings(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// shapes describes each read-model table of schema as text: everything a swap
// must keep, with the schema's name in it; with fromOutside, also the foreign
// keys of other tables that point at it. Run it with search_path = pg_catalog so
// that every name comes out qualified.
func shapes(ctx context.Context, tx pgx.Tx, schema string, fromOutside bool) (map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.relname, concat_ws(E'\n',
			'kind ' || c.relkind::text, 'owner ' || pg_get_userbyid(c.relowner), 'acl ' || coalesce(c.relacl::text, '-'),
			'rls ' || c.relrowsecurity || ' force ' || c.relforcerowsecurity,
			'options ' || coalesce(c.reloptions::text, '-'), 'comment ' || coalesce(obj_description(c.oid, 'pg_class'), '-'),
			'partition key ' || coalesce(pg_get_partkeydef(c.oid), '-'),
			(SELECT string_agg(format('column %s %s not null %s default %s identity %s generated %s collation %s',
					a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
					a.attidentity, a.attgenerated, a.attcollation), E'\n' ORDER BY a.attnum)
				FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
			(SELECT string_agg(format('constraint %s %s', conname, pg_get_constraintdef(oid)), E'\n' ORDER BY conname)
				FROM pg_constraint WHERE conrelid = c.oid),
			(SELECT string_agg('index ' || pg_get_indexdef(indexrelid), E'\n' ORDER BY indexrelid::regclass::text)
				FROM pg_index WHERE indrelid = c.oid),
			(SELECT string_agg('trigger ' || pg_get_triggerdef(oid), E'\n' ORDER BY tgname)
				FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal),
			(SELECT string_agg(format('policy %s %s %s %s %s %s', polname, polcmd, polpermissive,
					(SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END, ',' ORDER BY r) FROM unnest(polroles) r),
					pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)), E'\n' ORDER BY polname)
				FROM pg_policy WHERE polrelid = c.oid),
			(SELECT string_agg(format('partition %s %s %s', ch.relname, pg_get_expr(ch.relpartbound, ch.oid),
					(SELECT string_agg(pg_get_indexdef(indexrelid), '; ' ORDER BY indexrelid::regclass::text)
						FROM pg_index WHERE indrelid = ch.oid)), E'\n' ORDER BY ch.relname)
				FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid WHERE i.inhparent = c.oid),
			(SELECT string_agg(format('referenced by %s %s', conrelid::regclass, conname), E'\n' ORDER BY conrelid::regclass::text, conname)
				FROM pg_constraint WHERE confrelid = c.oid AND contype = 'f'
				  AND ($3 OR (SELECT relname FROM pg_class WHERE oid = conrelid) = ANY($2))))
		FROM pg_class c
		WHERE c.relnamespace = $1::text::regnamespace AND c.relname = ANY($2) AND NOT c.relispartition`,
		schema, readModelTables, fromOutside)
	if err != nil {
		return nil, fmt.Errorf("read table shapes in %s: %w", schema, err)
	}
	out := map[string]string{}
	for rows.Next() {
		var name, shape string
		if err := rows.Scan(&name, &shape); err != nil {
			rows.Close()
			return nil, err
		}
		out[name] = shape
	}
	return out, rows.Err()
}

// sameShape fails unless the read-model tables of schema b are shaped exactly
// like those of schema a (foreign keys from other tables aside: the swap puts
// those back).
func sameShape(ctx context.Context, tx pgx.Tx, a, b string) error {
	sa, err := shapes(ctx, tx, a, false)
	if err != nil {
		return err
	}
	sb, err := shapes(ctx, tx, b, false)
	if err != nil {
		return err
	}
	return diffShapes(sa, sb, a, b)
}

// diffShapes names the first line that differs between two sets of shapes,
// after writing schema b's name as a's.
func diffShapes(sa, sb map[string]string, a, b string) error {
	for _, t := range readModelTables {
		want, ok := sa[t]
		if !ok {
			return fmt.Errorf("table %s.%s is missing", a, t)
		}
		got := strings.ReplaceAll(sb[t], pgx.Identifier{b}.Sanitize()+".", a+".")
		got = strings.ReplaceAll(got, b+".", a+".")
		if got == want {
			continue
		}
		wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
		for i := range max(len(wl), len(gl)) {
			w, g := "(nothing)", "(nothing)"
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				return fmt.Errorf("table %s: %q in %s, %q in %s", t, w, a, g, b)
			}
		}
	}
	return nil
}
