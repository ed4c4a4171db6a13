package readmodel

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

// ReaderRole is the database role that read-model queries run as. Row-level
// security policies on the read-model tables (migrations/000005) restrict it to
// the rows its viewer may see; the connecting role, which owns the tables and
// runs the projectors and migrations, is not subject to them.
const ReaderRole = "assetanchor_reader"

// ErrNoViewer means a read-model query ran with a context that names neither a
// viewer (WithViewer) nor the system (AsSystem). It is a programming error, and
// refused rather than answered with everything or with nothing.
var ErrNoViewer = errors.New("projections: read-model query without a viewer: use WithViewer or AsSystem")

type viewerKey struct{}

type systemKey struct{}

// WithViewer records who is asking: every read-model query run with the returned
// context runs as ReaderRole, with the viewer's id and role as the transaction's
// app.user_id and app.role, so that the database itself withholds the rows the
// viewer may not see, whatever the query's own filter says. The HTTP layer sets
// it once a request is authenticated.
func WithViewer(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, viewerKey{}, v)
}

// ViewerFrom returns the viewer WithViewer recorded.
func ViewerFrom(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(viewerKey{}).(Viewer)
	return v, ok
}

// AsSystem marks reads the service makes for itself rather than for a viewer
// (looking up a bearer token before anyone is known, the facts commands check
// before they decide, operator commands): they run as the connecting role,
// which row-level security does not restrict. A viewer recorded in ctx is
// ignored by such reads.
func AsSystem(ctx context.Context) context.Context {
	return context.WithValue(ctx, systemKey{}, true)
}

// replayable is the one way every read-model query reaches the database. It
// reads through the replay transaction that AsOf put into the context, so that
// every query can answer for a past moment unchanged; for the system, through
// the pool as the connecting role; and for a viewer, as ReaderRole under the
// viewer's settings.
type replayable struct {
	pool    *pgxpool.Pool
	replica *pgxpool.Pool // nil: every query on the primary (replica.go)
	reads   *prometheus.CounterVec
}

type replayKey struct{}

// enterViewer switches the implicit transaction of a pipeline to ReaderRole and
// the viewer's settings, and bounds its statements (statementTimeout; NULL keeps
// the server's setting). set_config(..., true) is SET LOCAL: it ends with the
// transaction, so nothing of it stays on the pooled connection, and projectors and
// operator commands on the same pool keep running as long as they need.
const enterViewer = `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true),
	set_config('app.role', $3, true),
	set_config('statement_timeout', coalesce($4, current_setting('statement_timeout')), true)`

// statementMargin is how much sooner than the context the server cancels a
// viewer's statement: it then answers "canceling statement due to statement
// timeout" on a healthy connection, instead of pgx giving up on the connection
// at the deadline while the server keeps running the statement.
const statementMargin = 100 * time.Millisecond

// statementTimeout is the statement_timeout for a viewer's query: the time left
// until ctx's deadline (the request's, see http's deadline middleware), in
// milliseconds; nil without a deadline.
func statementTimeout(ctx context.Context) *string {
	deadline, ok := ctx.Deadline()
	if !ok {
		return nil
	}
	left := max(time.Until(deadline)-statementMargin, time.Millisecond)
	ms := strconv.FormatInt(left.Milliseconds(), 10)
	return &ms
}

// Query runs sql for the viewer in ctx. For a viewer, the settings and the query
// go in one pipeline (a pgx batch: one round trip, one implicit transaction that
// ends at its Sync), and the rows returned release the connection when they are
// read to the end or closed. A query that outlasts ctx's deadline is cancelled by
// the server (SQLSTATE 57014, query_canceled).
func (r replayable) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx, ok := ctx.Value(replayKey{}).(pgx.Tx); ok {
		// An AsOf replay: temporary tables holding one entity's stream, read as
		// the connecting role inside the replay's own transaction. The caller has
		// already read the entity as the viewer, which entitles it to its past.
		return tx.Query(ctx, sql, args...)
	}
	unit, inUnit := eventstore.UnitTx(ctx)
	if ctx.Value(systemKey{}) != nil {
		if inUnit {
			return unit.Query(ctx, sql, args...)
		}
		return r.pool.Query(ctx, sql, args...)
	}
	v, ok := ViewerFrom(ctx)
	if !ok {
		return nil, ErrNoViewer
	}
	if r.replica != nil && !inUnit && ctx.Value(replicaKey{}) != nil {
		rows, ok, err := r.fromReplica(ctx, v, sql, args...)
		if err != nil {
			return nil, err
		}
		if ok {
			r.reads.WithLabelValues("replica").Inc()
			return rows, nil
		}
	}
	if r.reads != nil {
		r.reads.WithLabelValues("primary").Inc()
	}
	batch := &pgx.Batch{}
	var results pgx.BatchResults
	if inUnit {
		// Inside a command's unit of work (an Idempotency-Key's answer is read
		// before it commits): the viewer's settings last until the savepoint is
		// rolled back, at the end of the same pipeline, after the rows are read.
		batch.Queue(`SAVEPOINT viewer_read`)
		batch.Queue(enterViewer, ReaderRole, v.UserID.String(), v.Role.String(), statementTimeout(ctx))
		batch.Queue(sql, args...)
		batch.Queue(`ROLLBACK TO SAVEPOINT viewer_read`)
		results = unit.SendBatch(ctx, batch)
		if _, err := results.Exec(); err != nil {
			_ = results.Close()
			return nil, fmt.Errorf("read as %s: %w", ReaderRole, err)
		}
	} else {
		batch.Queue(enterViewer, ReaderRole, v.UserID.String(), v.Role.String(), statementTimeout(ctx))
		batch.Queue(sql, args...)
		results = r.pool.SendBatch(ctx, batch)
	}
	if _, err := results.Exec(); err != nil {
		_ = results.Close()
		return nil, fmt.Errorf("read as %s: %w", ReaderRole, err)
	}
	rows, err := results.Query()
	if err != nil {
		if rows != nil {
			rows.Close()
		}
		_ = results.Close()
		return nil, err
	}
	return &viewerRows{Rows: rows, results: results}, nil
}

// QueryRow is Query for at most one row, read at Scan.
func (r replayable) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if tx, ok := ctx.Value(replayKey{}).(pgx.Tx); ok {
		return tx.QueryRow(ctx, sql, args...)
	}
	if ctx.Value(systemKey{}) != nil {
		if unit, ok := eventstore.UnitTx(ctx); ok {
			return unit.QueryRow(ctx, sql, args...)
		}
		return r.pool.QueryRow(ctx, sql, args...)
	}
	rows, err := r.Query(ctx, sql, args...)
	return &viewerRow{rows: rows, err: err}
}

// viewerRows are the rows of a viewer's pipeline. Once the rows are done (read to
// the end, or closed) it reads the rest of the pipeline, which ends its implicit
// transaction and gives the connection back to the pool; an error there is the
// rows' error.
type viewerRows struct {
	pgx.Rows
	results pgx.BatchResults
	done    bool
	err     error
}

func (r *viewerRows) Next() bool {
	if r.done {
		return false
	}
	if r.Rows.Next() {
		return true
	}
	r.finish()
	return false
}

// finish closes the rows and the pipeline, once.
func (r *viewerRows) finish() {
	if r.done {
		return
	}
	r.done = true
	r.Rows.Close()
	r.err = r.Rows.Err()
	if err := r.results.Close(); err != nil && r.err == nil {
		r.err = err
	}
}

func (r *viewerRows) Close() { r.finish() }

func (r *viewerRows) Err() error {
	if r.done {
		return r.err
	}
	return r.Rows.Err()
}

// viewerRow is pgx's QueryRow over viewerRows: the first row, or pgx.ErrNoRows.
type viewerRow struct {
	rows pgx.Rows
	err  error
}

func (r *viewerRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// tenantContacts is the FROM item that gives tenants' contact columns (id,
// first_name, last_name, email, phone, created_at) for every tenant the viewer
// sees at any level (domain.TenantAccess). Under a viewer who is a user it is
// app_tenant_contacts() (migrations/000015): the reader's policy on tenants shows
// such a viewer only the tenants it sees in full, and the function adds the
// contact columns, and only those, of the tenants it sees at contact level. The
// system, a replay and viewers who see every tenant read tenants itself.
func tenantContacts(ctx context.Context) string {
	if ctx.Value(replayKey{}) != nil || ctx.Value(systemKey{}) != nil {
		return "tenants"
	}
	if v, ok := ViewerFrom(ctx); ok && v.SeesAllProperties() {
		return "tenants"
	}
	return "app_tenant_contacts()"
}
