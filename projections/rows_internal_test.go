package projections

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// The projections know every column of every table they write, in the
// migrations' order: a column added without them would be written NULL.
func TestTableDefsMatchTheSchema(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	for _, def := range rowTables {
		var columns []string
		if err := pool.QueryRow(ctx, `SELECT array_agg(column_name::text ORDER BY ordinal_position)
			FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`, def.name).Scan(&columns); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(columns, def.columns) {
			t.Errorf("%s: the schema has %v, the projections know %v", def.name, columns, def.columns)
		}
	}
}

// appendPGJSON renders each kind of value exactly as to_jsonb renders the value
// PostgreSQL stores for it, so that rows computed in Go and rows read back
// compare byte for byte (the audit log's old and new values depend on it).
func TestValuesRenderAsPostgreSQLRendersThem(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	at := time.Date(2026, 11, 27, 5, 3, 2, 123456789, time.FixedZone("x", 3600))
	cases := []struct {
		value any
		scale int32
		sql   string // the column type
		means string // what PostgreSQL must store, when it is not plain from value
	}{
		{"plain", 0, "text", ""},
		{"quote \" backslash \\ tab \t newline \n cr \r bell \a nul-less \x1f <tag> & é ✓ \u2028", 0, "text", ""},
		{uuid.MustParse("6f1c3c7e-8a4b-4c1e-9d0f-1234567890ab"), 0, "uuid", ""},
		{42, 0, "integer", ""},
		{int64(-7), 0, "bigint", ""},
		{true, 0, "boolean", ""},
		{decimal.RequireFromString("1500"), 2, "numeric(10,2)", ""},
		{decimal.RequireFromString("-12.345"), 2, "numeric(10,2)", "-12.35"},
		{decimal.RequireFromString("2"), 1, "numeric(3,1)", ""},
		{domain.MustMoney("99.9"), 2, "numeric(10,2)", ""},
		{domain.NewDate(2026, 2, 28), 0, "date", ""},
		{at, 0, "timestamp", `"2026-11-27T04:03:02.123456"`},
		{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0, "timestamp", ""},
		{time.Date(2026, 1, 1, 0, 0, 0, 500000000, time.UTC), 0, "timestamp", `"2026-01-01T00:00:00.5"`},
		{(*string)(nil), 0, "text", ""},
	}
	for i, c := range cases {
		got, err := appendPGJSON(nil, c.value, c.scale)
		if err != nil {
			t.Fatalf("%#v: %v", c.value, err)
		}
		var want []byte
		probe := fmt.Sprintf("probe_%d", i)
		if _, err := pool.Exec(ctx, `CREATE TYPE `+probe+` AS (v `+c.sql+`)`); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT (to_jsonb(jsonb_populate_record(NULL::`+probe+`, jsonb_build_object('v', $1::jsonb)))->'v')::text`,
			string(got)).Scan(&want); err != nil {
			t.Fatalf("%#v: %v", c.value, err)
		}
		if string(got) != string(want) {
			t.Errorf("%#v as %s: Go renders %s, PostgreSQL %s", c.value, c.sql, got, want)
		}
		if c.means != "" && string(got) != c.means {
			t.Errorf("%#v as %s: Go renders %s, want %s", c.value, c.sql, got, c.means)
		}
	}
}
