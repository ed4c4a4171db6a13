package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/eventstore"
)

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
		before, err := readModel.Shapes(ctx, tx, "public", true)
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
		after, err := readModel.Shapes(ctx, tx, "public", true)
		if err != nil {
			return err
		}
		if err := readModel.DiffShapes(before, after, "public", "public"); err != nil {
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
