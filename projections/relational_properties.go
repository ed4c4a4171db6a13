package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyProperty(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.PropertyRegistered:
		d := ev.Details
		_, err = tx.Exec(ctx, `INSERT INTO properties (id, name, address, city, state, zip_code,
			owner_id, property_type, status, bedrooms, bathrooms, square_feet, year_built,
			description, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)`,
			id, d.Name, d.Address, d.City, d.State, d.ZipCode, ev.OwnerID, d.PropertyType.String(),
			ev.Status.String(), d.Bedrooms, d.Bathrooms, d.SquareFeet, d.YearBuilt, d.Description, at, v)
	case *domain.PropertyDetailsChanged:
		d := ev.Details
		_, err = tx.Exec(ctx, `UPDATE properties SET name = $2, address = $3, city = $4, state = $5,
			zip_code = $6, property_type = $7, bedrooms = $8, bathrooms = $9, square_feet = $10,
			year_built = $11, description = $12, updated_at = $13, version = $14 WHERE id = $1`,
			id, d.Name, d.Address, d.City, d.State, d.ZipCode, d.PropertyType.String(), d.Bedrooms,
			d.Bathrooms, d.SquareFeet, d.YearBuilt, d.Description, at, v)
	case *domain.PropertyStatusChanged:
		_, err = tx.Exec(ctx, `UPDATE properties SET status = $2, updated_at = $3, version = $4 WHERE id = $1`,
			id, ev.To.String(), at, v)
	case *domain.PropertyOwnerChanged:
		_, err = tx.Exec(ctx, `UPDATE properties SET owner_id = $2, updated_at = $3, version = $4 WHERE id = $1`,
			id, ev.OwnerID, at, v)
	case *domain.PropertyLateFeePolicySet:
		err = projectLateFeePolicy(ctx, tx, "properties", "property_late_fee_policies", "property_id", id, ev.Policy, at, v)
	default:
		return errNoProjection
	}
	return err
}
