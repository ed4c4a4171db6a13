package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/eventstore"
)

// A member table holds several rows per stream (tableDef.member tells them
// apart): a lease's parties in lease_tenants. The entity keeps them beside its
// single rows, loads them all at once, and writes the changed ones.

// memberRows are an entity's rows of one member table, by member id.
type memberRows struct {
	table *tableDef
	rows  map[uuid.UUID]*row
	order []uuid.UUID // member ids in the order first seen, for writes in a stable order
}

// members are the entity's rows of member table t (loaded once).
func (en *entity) members(t *tableDef) (*memberRows, error) {
	if m, ok := en.memberSets[t]; ok {
		return m, nil
	}
	m := &memberRows{table: t, rows: map[uuid.UUID]*row{}}
	if en.loadMembers != nil {
		rows, err := en.loadMembers(t, en.id)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			id, err := r.uuidOf(t.member)
			if err != nil {
				return nil, err
			}
			m.rows[id] = r
			m.order = append(m.order, id)
		}
	}
	en.memberSets[t] = m
	return m, nil
}

// put is member id's row, started (with the entity's key) if there is none.
func (m *memberRows) put(key, id uuid.UUID) *row {
	if r := m.rows[id]; r != nil {
		return r
	}
	r := newRow(m.table)
	r.set(m.table.key, key)
	r.set(m.table.member, id)
	m.rows[id] = r
	m.order = append(m.order, id)
	return r
}

// each calls fn on every row, in the order first seen.
func (m *memberRows) each(fn func(*row)) {
	for _, id := range m.order {
		fn(m.rows[id])
	}
}

// uuidOf is the UUID held by column col.
func (r *row) uuidOf(col string) (uuid.UUID, error) {
	var s string
	if err := json.Unmarshal(r.raw(col), &s); err != nil {
		return uuid.Nil, fmt.Errorf("%s.%s: %w", r.table.name, col, err)
	}
	return uuid.Parse(s)
}

// storedMembers reads a stream's rows of member table t from db.
func storedMembers(ctx context.Context, db eventstore.DB) func(t *tableDef, id uuid.UUID) ([]*row, error) {
	return func(t *tableDef, id uuid.UUID) ([]*row, error) {
		rows, err := db.Query(ctx, `SELECT to_jsonb(t) FROM `+t.name+` t WHERE `+t.key+` = $1 ORDER BY `+t.member, id)
		if err != nil {
			return nil, fmt.Errorf("read %s rows: %w", t.name, err)
		}
		raws, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return nil, fmt.Errorf("read %s rows: %w", t.name, err)
		}
		out := make([]*row, 0, len(raws))
		for _, raw := range raws {
			r, err := rowFromJSON(t, raw)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
		return out, nil
	}
}

// queueMemberWrites queues one upsert for each member row that changed. Rows
// whose is_primary is false go first, so that a lease's one-primary index
// never sees two primaries in between.
func (en *entity) queueMemberWrites(batch *pgx.Batch) {
	for _, t := range rowTables {
		m := en.memberSets[t]
		if m == nil {
			continue
		}
		var dirty []*row
		m.each(func(r *row) {
			if r.dirty {
				dirty = append(dirty, r)
			}
		})
		if i, ok := t.index["is_primary"]; ok {
			slices.SortStableFunc(dirty, func(a, b *row) int {
				return bytes.Compare(a.values[i], b.values[i]) // "false" before "true"
			})
		}
		for _, r := range dirty {
			batch.Queue(upsertSQL[t], r.jsonObject())
			r.dirty = false
		}
	}
}

// memberErr is the first error of a member row.
func (en *entity) memberErr() error {
	for _, m := range en.memberSets {
		for _, r := range m.rows {
			if r.err != nil {
				return r.err
			}
		}
	}
	return nil
}
