package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/projections/internal/schemaclone"
)

// readModelTables are the tables the relational projector writes, each before
// the tables whose foreign keys point at it. A rebuild replaces all of them at once.
// A table the projector writes that is missing here would be written live during a
// rebuild: the replay refuses that (checkNoLiveWrites).
var readModelTables = []string{"users", "user_sessions", "properties", "tenants", "leases",
	"transactions", "documents", "maintenance_requests", "audit_logs",
	"property_late_fee_policies", "lease_late_fee_policies", "lease_tenants", "payments", "lease_accounts"}

// ReadModelTables lists the tables of the relational read model.
// readModel clones and compares the read-model tables for rebuild and swap.
var readModel = schemaclone.Tables(readModelTables)

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
	Keyring *tenantkeys.Keyring
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
	err := q.QueryRow(ctx, `SELECT transaction_id, position FROM events
		ORDER BY transaction_id DESC, position DESC LIMIT 1`).Scan(&cp.TransactionID, &cp.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Checkpoint{}, nil
	}
	if err != nil {
		return eventstore.Checkpoint{}, fmt.Errorf("read the last event: %w", err)
	}
	return cp, nil
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
		if s.deferred, err = readModel.Clone(ctx, tx, s.schema); err != nil {
			return err
		}
		// Fail before hours of replay, not at the swap, if the copies are not
		// faithful: complete them in a savepoint, compare, and undo.
		err = pgx.BeginFunc(ctx, tx, func(check pgx.Tx) error {
			if err := s.completeTables(ctx, check); err != nil {
				return err
			}
			if err := readModel.SameShape(ctx, check, "public", s.schema); err != nil {
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
	target, err := lastVisible(ctx, s.pool) // the last event committed now
	if err != nil {
		return err
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
