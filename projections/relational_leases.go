package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyLease(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.LeaseSigned:
		t := ev.Terms
		_, err = tx.Exec(ctx, `INSERT INTO leases (id, property_id, tenant_id, start_date, end_date,
			rent_amount, security_deposit, payment_day, status, auto_renew, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', $9, $10, $10, $11)`,
			id, ev.PropertyID, ev.TenantID, t.StartDate, t.EndDate, t.RentAmount, t.SecurityDeposit,
			t.PaymentDay, t.AutoRenew, at, v)
	case *domain.LeaseRenewed:
		_, err = tx.Exec(ctx, `UPDATE leases SET end_date = $2, rent_amount = coalesce($3, rent_amount),
			updated_at = $4, version = $5 WHERE id = $1`, id, ev.EndDate, ev.RentAmount, at, v)
	case *domain.LeaseTerminated:
		_, err = tx.Exec(ctx, `UPDATE leases SET status = 'terminated', terminated_on = $2,
			termination_reason = nullif($3, ''), updated_at = $4, version = $5 WHERE id = $1`,
			id, ev.EffectiveDate, ev.Reason, at, v)
	case *domain.LeaseExpired:
		_, err = tx.Exec(ctx, `UPDATE leases SET status = 'expired', updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	case *domain.LeaseLateFeePolicySet:
		err = projectLateFeePolicy(ctx, tx, "leases", "lease_late_fee_policies", "lease_id", id, ev.Policy, at, v)
	default:
		return errNoProjection
	}
	return err
}
