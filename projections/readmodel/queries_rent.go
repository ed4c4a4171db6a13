package readmodel

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
)

// Percent renders a percentage with two decimal places ("5.50").
type Percent struct{ decimal.Decimal }

func (p Percent) MarshalJSON() ([]byte, error) { return []byte(`"` + p.StringFixed(2) + `"`), nil }

// LateFeePolicyView is the late-fee policy in force for a property or a lease.
type LateFeePolicyView struct {
	Source     string     `json:"source"` // where it was set: "property" or "lease"
	PropertyID uuid.UUID  `json:"property_id"`
	LeaseID    *uuid.UUID `json:"lease_id"` // the lease asked about; null for a property's policy
	GraceDays  int        `json:"grace_days"`
	FlatAmount *Money     `json:"flat_amount"`
	Percent    *Percent   `json:"percent"`
	MonthlyCap *Money     `json:"monthly_cap"`
	UpdatedAt  Timestamp  `json:"updated_at"` // when the policy was last set
	Version    int64      `json:"version"`    // the version of the property or lease asked about: its ETag
}

// LateFeePolicyVersion is the ETag of a policy answer.
func LateFeePolicyVersion(v LateFeePolicyView) int64 { return v.Version }

func scanLateFeePolicy(row pgx.CollectableRow) (LateFeePolicyView, error) {
	var v LateFeePolicyView
	var flat, percent, cap *decimal.Decimal
	if err := row.Scan(&v.Source, &v.PropertyID, &v.LeaseID, &v.GraceDays, &flat, &percent, &cap, &v.UpdatedAt, &v.Version); err != nil {
		return v, err
	}
	v.FlatAmount, v.MonthlyCap = moneyOf(flat), moneyOf(cap)
	if percent != nil {
		v.Percent = &Percent{*percent}
	}
	return v, nil
}

func collectPolicy(rows pgx.Rows, err error) (LateFeePolicyView, error) {
	return collectOne(rows, err, scanLateFeePolicy, "read late-fee policy")
}

// PropertyLateFeePolicy returns the late-fee policy of a property the viewer may
// see, or domain.ErrNotFound when there is no such property or it has no policy.
func (q *Queries) PropertyLateFeePolicy(ctx context.Context, v Viewer, id uuid.UUID) (LateFeePolicyView, error) {
	return collectPolicy(q.pool.Query(ctx, `SELECT 'property', p.id, NULL::uuid, f.grace_days, f.flat_amount,
			f.percent, f.monthly_cap, f.updated_at, p.version
		FROM properties p JOIN property_late_fee_policies f ON f.property_id = p.id
		WHERE `+visibleProperty+` AND p.id = $3`, seesAll(v), v.UserID, id))
}

// LeaseLateFeePolicy returns the policy that applies to a lease the viewer may
// see: its own, or else its property's; domain.ErrNotFound when neither has one.
func (q *Queries) LeaseLateFeePolicy(ctx context.Context, v Viewer, id uuid.UUID) (LateFeePolicyView, error) {
	return collectPolicy(q.pool.Query(ctx, `SELECT CASE WHEN lf.lease_id IS NOT NULL THEN 'lease' ELSE 'property' END,
			l.property_id, l.id, coalesce(lf.grace_days, pf.grace_days),
			CASE WHEN lf.lease_id IS NOT NULL THEN lf.flat_amount ELSE pf.flat_amount END,
			CASE WHEN lf.lease_id IS NOT NULL THEN lf.percent ELSE pf.percent END,
			CASE WHEN lf.lease_id IS NOT NULL THEN lf.monthly_cap ELSE pf.monthly_cap END,
			coalesce(lf.updated_at, pf.updated_at), l.version
		FROM leases l JOIN properties p ON p.id = l.property_id
		LEFT JOIN lease_late_fee_policies lf ON lf.lease_id = l.id
		LEFT JOIN property_late_fee_policies pf ON pf.property_id = l.property_id
		WHERE `+visibleProperty+` AND l.id = $3 AND (lf.lease_id IS NOT NULL OR pf.property_id IS NOT NULL)`,
		seesAll(v), v.UserID, id))
}
