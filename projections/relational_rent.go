package projections

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// The rent automation's events (docs/rent.md), projected by the relational
// projector's per-stream functions.

// projectLateFeePolicy upserts the late-fee policy of a property or lease
// (table property_late_fee_policies or lease_late_fee_policies, keyed by column key)
// and moves the owning row (properties or leases) to the event's version.
func projectLateFeePolicy(ctx context.Context, tx execer, owner, table, key string, id uuid.UUID,
	p domain.LateFeePolicy, at time.Time, v int64) error {
	if _, err := tx.Exec(ctx, `INSERT INTO `+table+` (`+key+`, grace_days, flat_amount, percent,
			monthly_cap, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)
		ON CONFLICT (`+key+`) DO UPDATE SET grace_days = excluded.grace_days,
			flat_amount = excluded.flat_amount, percent = excluded.percent,
			monthly_cap = excluded.monthly_cap, updated_at = excluded.updated_at`,
		id, p.GraceDays, p.FlatAmount, p.Percent, p.MonthlyCap, at); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE `+owner+` SET updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	return err
}

// projectChargeClosed ends a charge: void, waived or written off, on the event's day.
func projectChargeClosed(ctx context.Context, tx execer, id uuid.UUID, status domain.TransactionStatus, at time.Time, v int64) error {
	_, err := tx.Exec(ctx, `UPDATE transactions SET status = $2, closed_on = $3, updated_at = $4, version = $5
		WHERE id = $1`, id, status.String(), domain.DateOf(at), at, v)
	return err
}

// projectTransactionVersion records an event that changes no column of the charge
// (LateFeeAssessed) by its version.
func projectTransactionVersion(ctx context.Context, tx execer, id uuid.UUID, at time.Time, v int64) error {
	_, err := tx.Exec(ctx, `UPDATE transactions SET updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	return err
}
