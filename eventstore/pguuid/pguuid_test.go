package pguuid_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// Values, pointers and nil pointers round-trip through uuid parameters, and
// into text parameters as their usual form.
func TestUUIDParameters(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(dbtest.MustURL(t))
	if err != nil {
		t.Fatal(err)
	}
	pguuid.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	id := uuid.New()
	var nilID *uuid.UUID
	var got uuid.UUID
	var text, asText string
	var isNull bool
	if err := pool.QueryRow(context.Background(), `SELECT $1::uuid, $2::uuid::text, $3::uuid IS NULL, $4::text`, id, &id, nilID, id).
		Scan(&got, &text, &isNull, &asText); err != nil {
		t.Fatal(err)
	}
	if got != id || text != id.String() || !isNull || asText != id.String() {
		t.Errorf("got %s, %q, null %v, text %q; want %s three times and NULL", got, text, isNull, asText, id)
	}
}
