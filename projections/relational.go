// Package projections keeps the read model (the seed's relational tables and
// the audit log) from the event log: inline in each append's transaction
// (Relational), in asynchronous consumers (Runtime), and by rebuild, swap and
// verify from the whole log. Reading the read model is projections/readmodel's.
// It must not import commands, http or projections/readmodel.
package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
)

// RelationalName names the relational read model (the seed tables, audit_logs and
// the late-fee policies), as `projections rebuild` and `status` call it. Its rows
// are written inline, in each append's transaction (Relational.Project).
const RelationalName = "relational"

// Relational projects events into the seed tables, and one audit_logs row per
// event. Every read-model timestamp and id comes from the event, so replaying the
// log gives identical rows.
type Relational struct {
	// Keyring opens the sealed personal fields of tenant events (sealed.go).
	// serve, rebuilds and tests set it; without it a sealed event is an error,
	// never a silently blank row.
	Keyring *tenantkeys.Keyring
}

var _ eventstore.InlineProjector = Relational{}

// Project projects events into the read model: the rows of their streams and
// one audit row each. It reads the rows it changes through db and queues its
// writes into batch, event by event, so that rows referred to (a user, by the
// audit row of its own registration) are written first. Run inline, the batch
// also holds the append and runs in its transaction; a rebuild's catching up
// runs it on its copies.
func (r Relational) Project(ctx context.Context, db eventstore.DB, events []eventstore.Event, batch *pgx.Batch) error {
	keys := eventstore.NewPostgresStore(db)
	// A stream's rows are read once: after that the batch, not yet sent, holds
	// their newer state.
	entities := map[uuid.UUID]*entity{}
	for _, e := range events {
		en := entities[e.Stream.ID]
		if en == nil {
			if e.Version == 1 {
				en = newEntity(e.Stream.ID) // a new stream has no rows yet: nothing to read
			} else {
				en = storedEntity(ctx, db, e.Stream.ID)
			}
			entities[e.Stream.ID] = en
		}
		de, err := r.decode(ctx, keys, e)
		if err != nil {
			return err
		}
		changes, err := project(en, e, de, nil)
		if err != nil {
			return err
		}
		en.queueWrites(batch)
		queueAudit(batch, e, de, changes)
	}
	return nil
}

// Apply projects events and runs the writes in tx at once.
func (r Relational) Apply(ctx context.Context, tx pgx.Tx, events ...eventstore.Event) error {
	batch := &pgx.Batch{}
	if err := r.Project(ctx, tx, events, batch); err != nil {
		return err
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("project %d events: %w", len(events), err)
	}
	return nil
}

// execer runs a statement: a transaction or a pool.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// entity is the read-model rows of one stream (its own row, and its late-fee
// policy) as the projection of its events changes them.
type entity struct {
	id         uuid.UUID
	rows       map[*tableDef]*row // every row looked at; nil when there is none
	memberSets map[*tableDef]*memberRows
	before     []json.RawMessage // the stream's row before the event at hand
	extra      []change          // audited changes the event made beyond the stream's row
	// load and loadMembers read rows from the database; nil when the rows exist
	// in memory only.
	load        func(t *tableDef, id uuid.UUID) (*row, error)
	loadMembers func(t *tableDef, id uuid.UUID) ([]*row, error)
}

func newEntity(id uuid.UUID) *entity {
	return &entity{id: id, rows: map[*tableDef]*row{}, memberSets: map[*tableDef]*memberRows{}}
}

// storedEntity is an entity whose rows are read from db as they are needed.
func storedEntity(ctx context.Context, db eventstore.DB, id uuid.UUID) *entity {
	en := newEntity(id)
	en.load = func(t *tableDef, id uuid.UUID) (*row, error) {
		var raw []byte
		err := db.QueryRow(ctx, `SELECT to_jsonb(t) FROM `+t.name+` t WHERE `+t.key+` = $1`, id).Scan(&raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s row: %w", t.name, err)
		}
		return rowFromJSON(t, raw)
	}
	en.loadMembers = storedMembers(ctx, db)
	return en
}

// row is the entity's row of table t, or nil when it has none.
func (en *entity) row(t *tableDef) (*row, error) {
	if r, ok := en.rows[t]; ok {
		return r, nil
	}
	var r *row
	if en.load != nil {
		var err error
		if r, err = en.load(t, en.id); err != nil {
			return nil, err
		}
	}
	en.rows[t] = r
	return r, nil
}

// create starts the entity's row of table t, created at at.
func (en *entity) create(t *tableDef, at time.Time) (*row, error) {
	if r, err := en.row(t); err != nil {
		return nil, err
	} else if r != nil {
		return nil, fmt.Errorf("%s %s exists already", t.name, en.id)
	}
	r := newRow(t)
	r.set(t.key, en.id)
	r.set("created_at", at)
	r.set("updated_at", at)
	en.rows[t] = r
	return r, nil
}

// existing is the entity's row of table t, which must exist.
func (en *entity) existing(t *tableDef) (*row, error) {
	r, err := en.row(t)
	if err == nil && r == nil {
		err = fmt.Errorf("%s %s does not exist", t.name, en.id)
	}
	return r, err
}

// queueWrites queues one upsert for each row that changed.
func (en *entity) queueWrites(batch *pgx.Batch) {
	for _, t := range rowTables {
		r := en.rows[t]
		if r == nil || !r.dirty {
			continue
		}
		batch.Queue(upsertSQL[t], r.jsonObject())
		r.dirty = false
	}
	en.queueMemberWrites(batch)
}

// upsertSQL writes a row given as a JSON object ($1) into its table (as
// search_path finds it: a rebuild's copy, or AsOf's temporary one).
var upsertSQL = func() map[*tableDef]string {
	m := map[*tableDef]string{}
	for _, t := range rowTables {
		excluded := make([]string, len(t.columns))
		for i, c := range t.columns {
			excluded[i] = "excluded." + c
		}
		conflict := t.key
		if t.member != "" {
			conflict += ", " + t.member
		}
		m[t] = `INSERT INTO ` + t.name + ` SELECT * FROM jsonb_populate_record(NULL::` + t.name + `, $1)
			ON CONFLICT (` + conflict + `) DO UPDATE SET (` + strings.Join(t.columns, ", ") + `) = ROW(` +
			strings.Join(excluded, ", ") + `)`
	}
	return m
}()

// project applies one event to its stream's rows with the projection of its
// stream type, then stamps the stream's row with the event's time and version.
// It appends to changes those of the stream's row that the audit log records.
func project(en *entity, e eventstore.Event, de domain.Event, changes []change) ([]change, error) {
	t, ok := entityTables[e.Stream.Type]
	apply, known := relationalByStream[e.Stream.Type]
	if !ok || !known {
		return nil, fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, errNoProjection)
	}
	own, err := en.row(t)
	if err != nil {
		return nil, err
	}
	// Values are never changed in place, so a shallow copy keeps them.
	existed := own != nil
	en.before, en.extra = en.before[:0], en.extra[:0]
	if existed {
		en.before = append(en.before, own.values...)
	}
	if err := apply(en, e, de); err != nil {
		return nil, fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
	}
	own = en.rows[t]
	if own == nil {
		return nil, fmt.Errorf("project %s %s v%d: it left no %s row", e.Type, e.Stream, e.Version, t.name)
	}
	own.set("updated_at", e.RecordedAt)
	if _, versioned := t.index["version"]; versioned {
		own.set("version", e.Version)
	}
	for _, r := range en.rows {
		if r != nil && r.err != nil {
			return nil, fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, r.err)
		}
	}
	if err := en.memberErr(); err != nil {
		return nil, fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
	}
	for i, c := range t.columns {
		switch {
		case unaudited[c]:
		case !existed:
			changes = append(changes, change{column: c, new: own.values[i]})
		case string(en.before[i]) != string(own.values[i]):
			changes = append(changes, change{column: c, old: en.before[i], new: own.values[i]})
		}
	}
	return append(changes, en.extra...), nil
}

// relationalByStream is the projection of each stream type, one file each.
var relationalByStream = map[string]func(*entity, eventstore.Event, domain.Event) error{
	domain.UserStreamType:        applyUser,
	domain.SessionStreamType:     applySession,
	domain.PropertyStreamType:    applyProperty,
	domain.TenantStreamType:      applyTenant,
	domain.LeaseStreamType:       applyLease,
	domain.TransactionStreamType: applyTransaction,
	domain.MaintenanceStreamType: applyMaintenance,
	domain.DocumentStreamType:    applyDocument,
	domain.PaymentStreamType:     applyPayment,
}

var errNoProjection = errors.New("no projection for this event type")

// change is one audited column of a row that an event changed; old is nil when
// the row did not exist before. A redacted change has neither.
type change struct {
	column   string
	old, new json.RawMessage
}

// Replay writes the rows that events (one entity's stream up to a moment) leave
// into empty temporary copies of the read-model tables, made in tx, which must
// be rolled back: the time travel of ?as_of= (readmodel.AsOf). The copies shadow
// the live tables for the rest of tx.
func Replay(ctx context.Context, tx pgx.Tx, events []eventstore.Event) error {
	// Every table the projector writes (rebuild.go), with its keys: upserts need them.
	for _, table := range readModelTables {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE `+table+` (LIKE public.`+table+` INCLUDING DEFAULTS INCLUDING INDEXES) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("prepare replay of %s: %w", table, err)
		}
	}
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_temp, public`); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	en := newEntity(events[0].Stream.ID)
	for _, e := range events {
		de, err := domain.DecodeEvent(e.Type, e.Data)
		if err != nil {
			return err
		}
		if _, err := project(en, e, de, nil); err != nil {
			return err
		}
	}
	batch := &pgx.Batch{}
	en.queueWrites(batch)
	return tx.SendBatch(ctx, batch).Close()
}

// EntityTable is the read-model table of a stream type's entities.
func EntityTable(streamType string) (string, bool) {
	t, ok := entityTables[streamType]
	return t.name, ok
}
