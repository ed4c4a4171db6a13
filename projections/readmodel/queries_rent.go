package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
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
	var updated time.Time
	var flat, percent, cap *decimal.Decimal
	if err := row.Scan(&v.Source, &v.PropertyID, &v.LeaseID, &v.GraceDays, &flat, &percent, &cap, &updated, &v.Version); err != nil {
		return v, err
	}
	if flat != nil {
		v.FlatAmount = &Money{*flat}
	}
	if percent != nil {
		v.Percent = &Percent{*percent}
	}
	if cap != nil {
		v.MonthlyCap = &Money{*cap}
	}
	v.UpdatedAt = Timestamp(updated)
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

// LedgerEntry is one line of a tenant ledger.
type LedgerEntry struct {
	Date          domain.Date `json:"date"`
	Entry         string      `json:"entry"` // charge, payment, void, waiver or write_off
	TransactionID uuid.UUID   `json:"transaction_id"`
	Type          string      `json:"type"`   // the transaction's type: rent, deposit, fee, maintenance
	Status        string      `json:"status"` // the transaction's status now
	Description   *string     `json:"description"`
	Amount        Money       `json:"amount"`  // what the line adds to the balance; credits are negative
	Balance       Money       `json:"balance"` // the running balance after the line
}

// LedgerView is a lease's tenant ledger: charges and what settled them, in date
// order, with a running balance (what the tenant owes).
type LedgerView struct {
	LeaseID uuid.UUID     `json:"lease_id"`
	AsOf    *domain.Date  `json:"as_of"`
	Items   []LedgerEntry `json:"items"`
	Balance Money         `json:"balance"`
}

// Ledger is the tenant ledger of a lease the viewer may see (domain.ErrNotFound
// otherwise). Every charge is a line on its due date; a payment is a credit on its
// payment date (also when it was refunded later: the refund returns the money and
// ends the charge, so the two leave the balance as it was); a void, waiver or
// write-off is a credit on the day it happened, or on the due date when that is
// later. Lines of the same day come charges first, then in the order recorded. With
// asOf, only lines dated on or before it: the balance as it stood that day.
func (q *Queries) Ledger(ctx context.Context, v Viewer, id uuid.UUID, asOf *domain.Date) (LedgerView, error) {
	if _, err := q.Lease(ctx, v, id); err != nil {
		return LedgerView{}, err
	}
	var until any
	if asOf != nil {
		until = *asOf
	}
	rows, err := q.pool.Query(ctx, `WITH visible AS (
			SELECT t.* FROM transactions t JOIN leases l ON l.id = t.lease_id JOIN properties p ON p.id = l.property_id
			WHERE `+visibleProperty+` AND t.lease_id = $3),
		lines AS (
			SELECT due_date AS day, 0 AS ord, 'charge' AS entry, id, type, status, notes AS description,
				amount, created_at FROM visible
			UNION ALL
			SELECT payment_date, 1, 'payment', id, type, status,
				nullif(concat_ws(' ', payment_method, reference_number), ''), -amount, created_at
			FROM visible WHERE status IN ('completed', 'refunded') AND payment_date IS NOT NULL
			UNION ALL
			SELECT greatest(closed_on, due_date), 1,
				CASE status WHEN 'void' THEN 'void' WHEN 'waived' THEN 'waiver' ELSE 'write_off' END,
				id, type, status, NULL, -amount, created_at
			FROM visible WHERE status IN ('void', 'waived', 'written_off'))
		SELECT day, entry, id, type, status, description, amount,
			sum(amount) OVER (ORDER BY day, ord, created_at, id, entry ROWS UNBOUNDED PRECEDING)
		FROM lines WHERE day IS NOT NULL AND ($4::date IS NULL OR day <= $4::date)
		ORDER BY day, ord, created_at, id, entry`, seesAll(v), v.UserID, id, until)
	if err != nil {
		return LedgerView{}, fmt.Errorf("read ledger: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := row.Scan(&e.Date, &e.Entry, &e.TransactionID, &e.Type, &e.Status, &e.Description,
			&e.Amount.Decimal, &e.Balance.Decimal)
		return e, err
	})
	if err != nil {
		return LedgerView{}, fmt.Errorf("read ledger: %w", err)
	}
	view := LedgerView{LeaseID: id, AsOf: asOf, Items: items}
	if view.Items == nil {
		view.Items = []LedgerEntry{}
	}
	if n := len(items); n > 0 {
		view.Balance = items[n-1].Balance
	}
	return view, nil
}
