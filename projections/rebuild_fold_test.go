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

// A row that the copies refuse while the fold copies it in (a check
// constraint) is named by its stream too.
func TestRebuildNamesTheStreamWhoseRowTheCopyRefuses(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	p := MustPortfolio(t, ctx, store)
	p.MustUnit(t, ctx, 1)
	// A lease that ends before it starts, which no command writes.
	lease := uuid.New()
	stream := eventstore.StreamID{Type: domain.LeaseStreamType, ID: lease}
	MustAppend(t, ctx, store, stream, 0, &domain.LeaseSigned{LeaseID: lease, PropertyID: uuid.New(), TenantID: uuid.New(),
		Terms: domain.LeaseTerms{StartDate: domain.NewDate(2026, 6, 1), EndDate: domain.NewDate(2026, 1, 1),
			RentAmount: domain.MustMoney("1000"), SecurityDeposit: domain.MustMoney("1000"), PaymentDay: 1}})

	_, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "the leases row of "+stream.String()) ||
		!strings.Contains(err.Error(), "valid_date_range") {
		t.Fatalf("rebuild = %v, want the leases row of %s named with its check constraint", err, stream)
	}
	MustNoScratchSchemas(t, ctx, pool)
}
