package projections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
)

// fold replays the log up to until into the scratch tables while they are
// still empty and without indexes or foreign keys (cloneReadModel defers
// those). Each projection touches only its own stream's rows, and an audit
// row depends only on its stream's history, so the fold reads the log stream
// by stream rather than in global order: it keeps one stream's rows in
// memory, projects its events with the live projector's own code
// (relational.go), and copies the stream's final rows and its audit rows in.
// Three connections work at once: one reads the events, one copies the rows
// (a table at a time, as the streams come grouped by type) and one copies the
// audit rows.
func (s *scratch) fold(ctx context.Context, until eventstore.Checkpoint) error {
	if until == (eventstore.Checkpoint{}) {
		return nil
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	keys, err := readDataKeys(ctx, tx)
	if err != nil {
		return err
	}
	rowsOut, err := s.newCopier(ctx)
	if err != nil {
		return err
	}
	defer rowsOut.abandon()
	auditOut, err := s.newCopier(ctx)
	if err != nil {
		return err
	}
	defer auditOut.abandon()
	auditOut.start(ctx, s.copySQL("audit_logs", auditColumns))

	f := &folder{ctx: ctx, s: s, rowsOut: rowsOut, auditOut: auditOut, policies: map[*tableDef]*rowLines{}}
	// Reading and decoding the events goes on while the last ones are projected.
	g, gctx := errgroup.WithContext(ctx)
	batches := make(chan []decodedEvent, 4)
	g.Go(func() error {
		defer close(batches)
		return s.readLog(gctx, tx, until, keys, batches)
	})
	g.Go(func() error {
		for batch := range batches {
			for _, d := range batch {
				if err := f.add(d); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := f.endStream(); err != nil {
		return err
	}
	if err := auditOut.write(f.audBuf); err != nil {
		return fmt.Errorf("copy audit rows: %w", err)
	}
	if err := auditOut.finish(); err != nil {
		return fmt.Errorf("copy audit rows: %w", err)
	}
	for _, t := range copiedLast {
		if p := f.policies[t]; p != nil {
			if err := f.copyRows(t, p.data, p.owners...); err != nil {
				return err
			}
		}
	}
	if err := f.flushRows(); err != nil {
		return err
	}
	if err := rowsOut.finish(); err != nil {
		return err
	}
	if f.events == 0 {
		return nil
	}
	s.cp = f.last.Checkpoint()
	return nil
}

// decodedEvent is an event of the log with its domain event.
type decodedEvent struct {
	event   eventstore.Event
	decoded domain.Event
}

// readLog sends the events up to until, stream by stream, decoded, in batches.
func (s *scratch) readLog(ctx context.Context, tx pgx.Tx, until eventstore.Checkpoint, keys tenantkeys.DataKeys,
	out chan<- []decodedEvent) error {
	rows, err := tx.Query(ctx, `SELECT `+eventstore.EventColumns+` FROM events
		WHERE (transaction_id, position) <= ($1::text::xid8, $2)
		ORDER BY stream_id, version`, strconv.FormatUint(until.TransactionID, 10), until.Position)
	if err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	defer rows.Close()
	rel := Relational{Keyring: s.opts.Keyring}
	var scan eventstore.EventScanner
	batch := make([]decodedEvent, 0, foldBatch)
	send := func() error {
		select {
		case out <- batch:
			batch = make([]decodedEvent, 0, foldBatch)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for rows.Next() {
		e, err := scan.Scan(rows)
		if err != nil {
			return fmt.Errorf("read the log: %w", err)
		}
		de, err := rel.decode(ctx, keys, e)
		if err != nil {
			return fmt.Errorf("decode %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
		}
		if batch = append(batch, decodedEvent{e, de}); len(batch) == foldBatch {
			if err := send(); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the log: %w", err)
	}
	return send()
}

const foldBatch = 256

// folder is the state of a fold: the stream at hand and where its rows go.
type folder struct {
	ctx      context.Context // of the copies, which outlive the reading
	s        *scratch
	rowsOut  *copier
	auditOut *copier

	stream   eventstore.StreamID
	entity   *entity
	audits   []pendingAudit          // the stream's audit rows, held for its erasure
	changes  []change                // what the stream's audit rows record
	rowBuf   []byte                  // lines for rowsOut's table
	line     []byte                  // where a row's line is written
	object   []byte                  // where an audit row's values are written
	audBuf   []byte                  // lines for auditOut
	policies map[*tableDef]*rowLines // rows of the tables copiedLast

	events int64
	last   eventstore.Event // the latest of the events in global order
}

// pendingAudit is an audit row held until its stream ends: its event, and
// where its changes lie in folder.changes.
type pendingAudit struct {
	event   eventstore.Event
	changes [2]int
}

const copyChunk = 256 << 10

func (f *folder) add(d decodedEvent) error {
	e, de := d.event, d.decoded
	if e.Stream != f.stream {
		if err := f.endStream(); err != nil {
			return err
		}
		f.stream, f.entity = e.Stream, newEntity(e.Stream.ID)
	}
	start := len(f.changes)
	var err error
	if f.changes, err = project(f.entity, e, de, f.changes); err != nil {
		return err
	}
	if _, erased := de.(*domain.TenantPersonalDataErased); erased {
		redact(f.changes) // the stream's earlier audit rows too
	}
	f.audits = append(f.audits, pendingAudit{event: e, changes: [2]int{start, len(f.changes)}})
	f.events++
	if f.events == 1 || !f.last.Checkpoint().Reached(e.Checkpoint()) {
		f.last = e
	}
	f.s.applied++
	if f.events%4096 == 0 {
		f.s.note("replay", false)
	}
	return nil
}

// endStream sends the finished stream's rows and audit rows to their copies.
func (f *folder) endStream() error {
	if f.entity == nil {
		return nil
	}
	for _, a := range f.audits {
		f.audBuf = f.appendAuditLine(f.audBuf, a.event, f.changes[a.changes[0]:a.changes[1]])
	}
	f.audits, f.changes = f.audits[:0], f.changes[:0]
	if len(f.audBuf) >= copyChunk {
		if err := f.auditOut.write(f.audBuf); err != nil {
			return fmt.Errorf("copy audit rows: %w", err)
		}
		f.audBuf = f.audBuf[:0]
	}
	for _, m := range f.entity.memberSets {
		var err error
		m.each(func(r *row) {
			if err == nil {
				err = f.copyLast(m.table, r)
			}
		})
		if err != nil {
			return err
		}
	}
	for t, r := range f.entity.rows {
		if r == nil {
			continue
		}
		if slices.Contains(copiedLast, t) {
			if err := f.copyLast(t, r); err != nil {
				return err
			}
			continue
		}
		var err error
		if f.line, err = r.copyLine(f.line[:0]); err != nil {
			return err
		}
		if err := f.copyRows(t, f.line, f.stream.String()); err != nil {
			return err
		}
	}
	f.entity = nil
	return nil
}

// copiedLast are the tables whose rows come in between those of the streams'
// own tables (a lease's late-fee policy, parties and account, among the leases): a
// fold holds them and copies them at its end, as rowsOut copies a table at a time.
var copiedLast = []*tableDef{propertyPoliciesTable, leasePoliciesTable, leaseTenantsTable, leaseAccountsTable}

// copyLast holds row r of table t for the end of the fold.
func (f *folder) copyLast(t *tableDef, r *row) error {
	if f.policies[t] == nil {
		f.policies[t] = &rowLines{}
	}
	p := f.policies[t]
	var err error
	if p.data, err = r.copyLine(p.data); err != nil {
		return err
	}
	p.owners = append(p.owners, f.stream.String())
	return nil
}

// rowLines are rows in COPY's text format, with the stream of each.
type rowLines struct {
	data   []byte
	owners []string
}

// copyRows queues lines of table t, written by the streams owners, for
// rowsOut, which copies one table at a time.
func (f *folder) copyRows(t *tableDef, lines []byte, owners ...string) error {
	if f.rowsOut.table != t.name {
		if err := f.flushRows(); err != nil {
			return err
		}
		if err := f.rowsOut.finish(); err != nil {
			return err
		}
		f.rowsOut.start(f.ctx, f.s.copySQL(t.name, t.columns))
		f.rowsOut.table = t.name
	}
	f.rowBuf = append(f.rowBuf, lines...)
	f.rowsOut.owners = append(f.rowsOut.owners, owners...)
	if len(f.rowBuf) >= copyChunk {
		return f.flushRows()
	}
	return nil
}

func (f *folder) flushRows() error {
	if len(f.rowBuf) == 0 {
		return nil
	}
	if err := f.rowsOut.write(f.rowBuf); err != nil {
		return err
	}
	f.rowBuf = f.rowBuf[:0]
	return nil
}

// appendAuditLine appends an event's audit row (auditRow) as a line of COPY's
// text format.
func (f *folder) appendAuditLine(b []byte, e eventstore.Event, changes []change) []byte {
	md := e.Metadata
	b = append(b, auditID(e).String()...)
	b = append(b, '\t')
	if md.ActorID != nil {
		b = append(b, md.ActorID.String()...)
	} else {
		b = append(b, '\\', 'N')
	}
	b = append(b, '\t')
	b = copyEscape(b, e.Type)
	b = append(b, '\t')
	b = copyEscape(b, e.Stream.Type)
	b = append(b, '\t')
	b = append(b, e.Stream.ID.String()...)
	for _, old := range []bool{true, false} {
		b = append(b, '\t')
		if f.object = appendValuesObject(f.object[:0], changes, old); len(f.object) == 0 {
			b = append(b, '\\', 'N')
		} else {
			b = copyEscape(b, f.object)
		}
	}
	for _, v := range []string{md.IPAddress, md.UserAgent} {
		b = append(b, '\t')
		if v == "" {
			b = append(b, '\\', 'N')
		} else {
			b = copyEscape(b, v)
		}
	}
	b = append(b, '\t')
	b = appendTimestamp(b, e.RecordedAt, ' ')
	return append(b, '\n')
}

func (s *scratch) copySQL(table string, columns []string) string {
	return `COPY ` + pgx.Identifier{s.schema, table}.Sanitize() + ` (` + strings.Join(columns, ", ") + `) FROM STDIN`
}

// copier streams COPY data to one connection: a COPY at a time, fed through
// a pipe so that the server works while the fold computes the next rows.
type copier struct {
	conn   *pgxpool.Conn
	table  string
	owners []string // the stream of each line sent, where known
	pipe   *io.PipeWriter
	done   chan error
}

func (s *scratch) newCopier(ctx context.Context) (*copier, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &copier{conn: conn}, nil
}

func (c *copier) start(ctx context.Context, sql string) {
	r, w := io.Pipe()
	c.pipe, c.done, c.owners = w, make(chan error, 1), c.owners[:0]
	go func() {
		_, err := c.conn.Conn().PgConn().CopyFrom(ctx, r, sql)
		r.CloseWithError(err) // a failed COPY stops the writer
		c.done <- err
	}()
}

func (c *copier) write(b []byte) error {
	if _, err := c.pipe.Write(b); err != nil {
		return c.failure(err)
	}
	return nil
}

// finish ends the COPY in progress, if any, and returns its outcome.
func (c *copier) finish() error {
	if c.pipe == nil {
		return nil
	}
	c.pipe.Close()
	err := c.named(<-c.done)
	c.pipe, c.table = nil, ""
	return err
}

// failure is the COPY's own error when a write failed because the COPY did.
func (c *copier) failure(err error) error {
	c.pipe.CloseWithError(err)
	if copyErr := <-c.done; copyErr != nil {
		err = c.named(copyErr)
	}
	c.pipe, c.table = nil, ""
	return err
}

var copyErrorLine = regexp.MustCompile(`, line (\d+)`)

// named adds to a failed COPY's error the stream whose row it refused.
func (c *copier) named(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	m := copyErrorLine.FindStringSubmatch(pgErr.Where)
	if m == nil {
		return err
	}
	if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(c.owners) {
		return fmt.Errorf("the %s row of %s: %w", c.table, c.owners[n-1], err)
	}
	return err
}

// abandon cancels a COPY still in progress (the fold failed) and releases
// the connection.
func (c *copier) abandon() {
	if c.pipe != nil {
		c.pipe.CloseWithError(errors.New("rebuild abandoned"))
		<-c.done
		c.pipe = nil
	}
	c.conn.Release()
}

// readDataKeys reads every tenant's wrapped data key: a fold decodes sealed
// events without a query per event.
func readDataKeys(ctx context.Context, tx pgx.Tx) (dataKeyMap, error) {
	rows, err := tx.Query(ctx, `SELECT tenant_id, wrapped_key, master_key_id FROM tenant_keys`)
	if err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	keys := dataKeyMap{}
	var owner uuid.UUID
	var k tenantkeys.WrappedKey
	if _, err := pgx.ForEachRow(rows, []any{&owner, &k.Wrapped, &k.MasterKeyID}, func() error {
		keys[owner] = tenantkeys.WrappedKey{Wrapped: append([]byte(nil), k.Wrapped...), MasterKeyID: k.MasterKeyID}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read data keys: %w", err)
	}
	return keys, nil
}

// dataKeyMap is the wrapped data keys as read at the start of a fold.
type dataKeyMap map[uuid.UUID]tenantkeys.WrappedKey

func (m dataKeyMap) DataKey(_ context.Context, owner uuid.UUID) (tenantkeys.WrappedKey, error) {
	k, ok := m[owner]
	if !ok {
		return tenantkeys.WrappedKey{}, tenantkeys.ErrKeyShredded
	}
	return k, nil
}

var errReadOnlyKeys = errors.New("a fold only reads data keys")

func (m dataKeyMap) PutDataKey(context.Context, uuid.UUID, tenantkeys.WrappedKey) error {
	return errReadOnlyKeys
}
func (m dataKeyMap) ShredDataKey(context.Context, uuid.UUID) error { return errReadOnlyKeys }

// explainViolation adds to err, when a key or foreign key of the rebuilt
// tables failed, the stream whose row breaks it: the fold wrote each stream's
// final row without checking them (cloneReadModel defers them). The failed
// constraint is read from the live table it copies.
func explainViolation(ctx context.Context, pool *pgxpool.Pool, schema string, err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || (pgErr.Code != "23503" && pgErr.Code != "23505") {
		return err
	}
	var table, parent string
	var columns, parentColumns []string
	if qerr := pool.QueryRow(ctx, `SELECT c.relname, coalesce(p.relname, ''),
			array(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o),
			array(SELECT a.attname::text FROM unnest(coalesce(con.confkey, '{}')) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o)
		FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid LEFT JOIN pg_class p ON p.oid = con.confrelid
		WHERE con.conname = $1 AND c.relname = $2 AND con.connamespace = 'public'::regnamespace`,
		pgErr.ConstraintName, pgErr.TableName).Scan(&table, &parent, &columns, &parentColumns); qerr != nil {
		return fmt.Errorf("%w (%v)", err, qerr)
	}
	key := "id"
	for _, t := range rowTables {
		if t.name == table {
			key = t.key
		}
	}
	ident := func(table string) string { return pgx.Identifier{schema, table}.Sanitize() }
	cols := func(alias string, names []string) string {
		out := make([]string, len(names))
		for i, n := range names {
			out[i] = alias + "." + pgx.Identifier{n}.Sanitize()
		}
		return "(" + strings.Join(out, ", ") + ")"
	}
	var query string
	if pgErr.Code == "23503" {
		query = `SELECT c.` + key + `::text FROM ` + ident(table) + ` c WHERE ` + cols("c", columns) + ` IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM ` + ident(parent) + ` p WHERE ` + cols("p", parentColumns) + ` = ` + cols("c", columns) + `)
			ORDER BY 1 LIMIT 1`
	} else {
		query = `SELECT c.` + key + `::text FROM ` + ident(table) + ` c WHERE ` + cols("c", columns) + ` IN (
			SELECT ` + cols("d", columns) + ` FROM ` + ident(table) + ` d GROUP BY ` + strings.Join(columns, ", ") + `
			HAVING count(*) > 1) ORDER BY 1 LIMIT 1`
	}
	var id string
	if qerr := pool.QueryRow(ctx, query).Scan(&id); qerr != nil {
		return fmt.Errorf("%w (%v)", err, qerr)
	}
	return fmt.Errorf("the %s row of %s breaks %s: %w", table, rowOwner(table, id), pgErr.ConstraintName, err)
}

// rowOwner names the stream (or, for an audit row, the event) a read-model row
// comes from.
func rowOwner(table, id string) string {
	switch table {
	case propertyPoliciesTable.name:
		return domain.PropertyStreamType + "-" + id
	case leasePoliciesTable.name, leaseTenantsTable.name, leaseAccountsTable.name:
		return domain.LeaseStreamType + "-" + id
	}
	for streamType, t := range entityTables {
		if t.name == table {
			return streamType + "-" + id
		}
	}
	if u, err := uuid.Parse(id); err == nil && table == "audit_logs" {
		return "event " + ulid.ULID(u).String()
	}
	return id
}
