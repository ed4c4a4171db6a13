package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
)

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
