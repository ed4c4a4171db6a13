package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// The rent automation's events (docs/rent.md), projected by the relational
// projector's per-stream functions.

// setLateFeePolicy sets the late-fee policy of a property or lease (table
// property_late_fee_policies or lease_late_fee_policies).
func setLateFeePolicy(en *entity, table *tableDef, p domain.LateFeePolicy, e eventstore.Event) error {
	policy, err := en.row(table)
	if err != nil {
		return err
	}
	if policy == nil {
		if policy, err = en.create(table, e.RecordedAt); err != nil {
			return err
		}
	}
	policy.set("grace_days", p.GraceDays)
	policy.set("flat_amount", p.FlatAmount)
	policy.set("percent", p.Percent)
	policy.set("monthly_cap", p.MonthlyCap)
	policy.set("updated_at", e.RecordedAt)
	return nil
}

// closeCharge ends a charge: void, waived or written off, on the event's day.
func closeCharge(t *row, status domain.TransactionStatus, e eventstore.Event) {
	t.set("status", status.String())
	t.set("closed_on", domain.DateOf(e.RecordedAt))
}
