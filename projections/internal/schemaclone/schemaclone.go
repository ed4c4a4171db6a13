// Package schemaclone copies a set of tables into another schema with their
// exact shape (columns, constraints, indexes, policies, triggers, grants,
// partitions) and compares shapes: the scratch schema of a projections rebuild,
// and its checks before and after the swap. It must not import anything of ours.
package schemaclone

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Clone creates schema with empty copies of the tables that
// carry the live tables' exact shape: columns, defaults, constraints and indexes
// under their original names (names are per schema, so they can be the same),
// foreign keys between the copies, triggers, row-level security, grants, owner,
// partitions. Moving the copies into public later gives back the migrations'
// schema unchanged. It returns, without running them, the statements that
// create the copies' keys, indexes and foreign keys: loading rows first and
// building those after is much faster than maintaining them row by row.
// Tables are the tables a Clone copies, in an order where every foreign key
// points at a table earlier in the list or outside it.
type Tables []string

func (ts Tables) Clone(ctx context.Context, tx pgx.Tx, schema string) (deferred []string, err error) {
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
		ORDER BY 1`, ts)
	if err == nil {
		dependents, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("look for objects that depend on the read model: %w", err)
	}
	if len(dependents) > 0 {
		return nil, fmt.Errorf("%s depend on the read-model tables: a swap would drop them (add their tables to the list cloned)",
			strings.Join(dependents, ", "))
	}
	var policies, indexes, foreignKeys []string
	for _, table := range ts {
		c, err := ts.tableDDL(ctx, tx, schema, table)
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
func (ts Tables) tableDDL(ctx context.Context, tx pgx.Tx, schema, table string) (c tableCopy, err error) {
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
		c.policies = append(c.policies, ts.toCopies(def, schema))
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
		c.foreignKeys = append(c.foreignKeys, ts.toCopies(def, schema))
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
func (ts Tables) toCopies(def, schema string) string {
	for _, t := range ts {
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

// Shapes describes each read-model table of schema as text: everything a swap
// must keep, with the schema's name in it; with fromOutside, also the foreign
// keys of other tables that point at it. Run it with search_path = pg_catalog so
// that every name comes out qualified.
func (ts Tables) Shapes(ctx context.Context, tx pgx.Tx, schema string, fromOutside bool) (map[string]string, error) {
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
		schema, ts, fromOutside)
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

// SameShape fails unless the read-model tables of schema b are shaped exactly
// like those of schema a (foreign keys from other tables aside: the swap puts
// those back).
func (ts Tables) SameShape(ctx context.Context, tx pgx.Tx, a, b string) error {
	sa, err := ts.Shapes(ctx, tx, a, false)
	if err != nil {
		return err
	}
	sb, err := ts.Shapes(ctx, tx, b, false)
	if err != nil {
		return err
	}
	return ts.DiffShapes(sa, sb, a, b)
}

// DiffShapes names the first line that differs between two sets of shapes,
// after writing schema b's name as a's.
func (ts Tables) DiffShapes(sa, sb map[string]string, a, b string) error {
	for _, t := range ts {
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
