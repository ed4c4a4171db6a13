package projections_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// A rebuild writes each stream's final rows and checks the foreign keys once
// all are in; a row that breaks one is named by its stream with the
// constraint, and nothing of the rebuild is swapped in.
func TestRebuildNamesTheStreamWhoseRowBreaksAConstraint(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	p := MustPortfolio(t, ctx, store)
	p.MustUnit(t, ctx, 1)
	// A property owned by a user that no event registered breaks the foreign key.
	ghost, property := uuid.New(), uuid.New()
	stream := eventstore.StreamID{Type: domain.PropertyStreamType, ID: property}
	MustAppend(t, ctx, store, stream, 0, &domain.PropertyRegistered{PropertyID: property, OwnerID: &ghost,
		Status: domain.PropertyActive, Details: domain.PropertyDetails{Name: "Nowhere", Address: "0 Void", City: "Nil",
			State: "OR", ZipCode: "97000", PropertyType: domain.PropertyResidential}})
	p.MustUnit(t, ctx, 2)

	_, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "the properties row of "+stream.String()+" breaks properties_owner_id_fkey") {
		t.Fatalf("rebuild = %v, want the properties row of %s named with its foreign key", err, stream)
	}
	var rows int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_logs`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("the failed rebuild left %d audit rows live (%v), want none", rows, err)
	}
	MustNoScratchSchemas(t, ctx, pool)
}
