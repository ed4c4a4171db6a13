package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// The ledger's read side (docs/rent.md, "Payments, credit and deposits"):
// payments, a lease's deposit and credit, and the tenant ledger.

// AllocationView is the part of a payment applied to one charge.
type AllocationView struct {
	TransactionID uuid.UUID `json:"transaction_id"`
	Amount        Money     `json:"amount"`
}

// PaymentView is a payments row.
type PaymentView struct {
	ID              uuid.UUID        `json:"id"`
	LeaseID         uuid.UUID        `json:"lease_id"`
	TenantID        *uuid.UUID       `json:"tenant_id"`
	Amount          Money            `json:"amount"`
	PaymentDate     domain.Date      `json:"payment_date"`
	PaymentMethod   string           `json:"payment_method"`
	ReferenceNumber *string          `json:"reference_number"`
	AppliesTo       string           `json:"applies_to"`
	Status          string           `json:"status"` // applied or returned
	Allocations     []AllocationView `json:"allocations"`
	Credit          Money            `json:"credit"` // what it left as the lease's credit
	ReturnedOn      *domain.Date     `json:"returned_on"`
	ReturnReason    *string          `json:"return_reason"`
	ReturnFeeID     *uuid.UUID       `json:"return_fee_id"`
	CreatedAt       Timestamp        `json:"created_at"`
	UpdatedAt       Timestamp        `json:"updated_at"`
	Version         int64            `json:"version"`
}

const paymentColumns = `pm.id, pm.lease_id, pm.tenant_id, pm.amount, pm.payment_date, pm.payment_method,
	pm.reference_number, pm.applies_to, pm.status, pm.allocations, pm.credit, pm.returned_on, pm.return_reason,
	pm.return_fee_id, pm.created_at, pm.updated_at, pm.version`

// visiblePayments joins a payment (pm) to its lease (l) and property (p); outer,
// as visibleTransactions, so that an as_of replay finds the payment alone.
const visiblePayments = `payments pm
	LEFT JOIN leases l ON l.id = pm.lease_id
	LEFT JOIN properties p ON p.id = l.property_id`

func scanPayment(row pgx.CollectableRow) (PaymentView, error) {
	var p PaymentView
	err := row.Scan(&p.ID, &p.LeaseID, &p.TenantID, &p.Amount.Decimal, &p.PaymentDate, &p.PaymentMethod,
		&p.ReferenceNumber, &p.AppliesTo, &p.Status, &p.Allocations, &p.Credit.Decimal, &p.ReturnedOn, &p.ReturnReason,
		&p.ReturnFeeID, &p.CreatedAt, &p.UpdatedAt, &p.Version)
	return p, err
}

// Payment returns one payment the viewer may see, or domain.ErrNotFound.
func (q *Queries) Payment(ctx context.Context, v Viewer, id uuid.UUID) (PaymentView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+paymentColumns+` FROM `+visiblePayments+`
		WHERE pm.id = $3 AND `+visibleProperty, seesAll(v), v.UserID, id)
	return collectOne(rows, err, scanPayment, "read payment")
}

// LeasePayments lists the payments of a lease the viewer may see, oldest first
// (domain.ErrNotFound for a lease it may not see).
func (q *Queries) LeasePayments(ctx context.Context, v Viewer, leaseID uuid.UUID, cursor string, limit int) (Page[PaymentView], error) {
	if _, err := q.Lease(ctx, v, leaseID); err != nil {
		return Page[PaymentView]{}, err
	}
	l := newList(visibleProperty, seesAll(v), v.UserID)
	l.and("pm.lease_id = %s", leaseID)
	return listPage(ctx, q, l, `SELECT `+paymentColumns+` FROM `+visiblePayments, byCreated("pm."), cursor, limit,
		scanPayment, func(p PaymentView) (time.Time, uuid.UUID) { return time.Time(p.CreatedAt), p.ID }, "list payments")
}

// OpenChargeIDs lists the pending and failed charges of a lease with a balance.
// Commands ask it to decide (commands.LeaseCharges), so it reads as the system,
// in the unit of work of ctx when there is one.
func (q *Queries) OpenChargeIDs(ctx context.Context, leaseID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := q.pool.Query(AsSystem(ctx), `SELECT id FROM transactions
		WHERE lease_id = $1 AND status IN ('pending', 'failed') AND amount > amount_paid ORDER BY id`, leaseID)
	if err != nil {
		return nil, fmt.Errorf("read open charges: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("read open charges: %w", err)
	}
	return ids, nil
}

// DeductionView is one item kept from a deposit.
type DeductionView struct {
	Reason        string     `json:"reason"`
	Amount        Money      `json:"amount"`
	DocumentID    *uuid.UUID `json:"document_id"`
	TransactionID *uuid.UUID `json:"transaction_id"` // the unpaid charge it settled, if any
}

// DepositView is a lease's security deposit: what the lease asks for, what is
// held (paid and not yet settled), and how it was settled.
type DepositView struct {
	LeaseID    uuid.UUID       `json:"lease_id"`
	Required   Money           `json:"required"`
	Received   Money           `json:"received"`
	Held       Money           `json:"held"`
	Deductions []DeductionView `json:"deductions"`
	Refunded   Money           `json:"refunded"`
	Forfeited  Money           `json:"forfeited"` // kept by the deductions
	Credit     Money           `json:"credit"`    // the lease's credit, money received and not yet applied
	Version    int64           `json:"version"`   // the lease's: its ETag
}

// DepositVersion is the ETag of a deposit answer.
func DepositVersion(d DepositView) int64 { return d.Version }

// Deposit returns the deposit of a lease the viewer may see, or domain.ErrNotFound.
func (q *Queries) Deposit(ctx context.Context, v Viewer, id uuid.UUID) (DepositView, error) {
	rows, err := q.pool.Query(ctx, `SELECT l.id, l.security_deposit, coalesce(a.deposit_received, 0),
			coalesce(a.deposit_held, 0), coalesce(a.deductions, '[]'), coalesce(a.deposit_refunded, 0),
			coalesce(a.deposit_forfeited, 0), coalesce(a.credit, 0), l.version
		FROM leases l JOIN properties p ON p.id = l.property_id LEFT JOIN lease_accounts a ON a.lease_id = l.id
		WHERE `+visibleProperty+` AND l.id = $3`, seesAll(v), v.UserID, id)
	return collectOne(rows, err, func(row pgx.CollectableRow) (DepositView, error) {
		var d DepositView
		err := row.Scan(&d.LeaseID, &d.Required.Decimal, &d.Received.Decimal, &d.Held.Decimal, &d.Deductions,
			&d.Refunded.Decimal, &d.Forfeited.Decimal, &d.Credit.Decimal, &d.Version)
		if err != nil {
			return d, err
		}
		return d, nil
	}, "read deposit")
}

// chargeMoves is a CTE, moves: every dated movement of money onto a charge
// (transaction_id, amount, day; a reversal negative), of the leases lease
// selects (a condition on alias x.lease_id): payments' allocations and their
// returns, credit applied and unapplied, deposit deductions, and (legacy, from
// before payments were records) what a charge says was paid that none of these
// explains, on its payment_date.
func chargeMoves(lease string) string {
	return `recorded AS (
		SELECT (a->>'transaction_id')::uuid AS transaction_id, (a->>'amount')::numeric AS amount, x.payment_date AS day
		FROM payments x CROSS JOIN LATERAL jsonb_array_elements(x.allocations) a WHERE ` + lease + `
		UNION ALL
		SELECT (a->>'transaction_id')::uuid, -(a->>'amount')::numeric, x.returned_on
		FROM payments x CROSS JOIN LATERAL jsonb_array_elements(x.allocations) a WHERE ` + lease + ` AND x.returned_on IS NOT NULL
		UNION ALL
		SELECT (e->>'transaction_id')::uuid, CASE e->>'kind' WHEN 'credit_unapplied' THEN -1 ELSE 1 END * (e->>'amount')::numeric,
			(e->>'on')::date
		FROM lease_accounts x CROSS JOIN LATERAL jsonb_array_elements(x.entries) e
		WHERE ` + lease + ` AND e->>'kind' IN ('credit_applied', 'credit_unapplied', 'deposit_deducted')
			AND e->>'transaction_id' IS NOT NULL),
	moves AS (
		SELECT * FROM recorded
		UNION ALL
		SELECT x.id, x.amount_paid - coalesce(r.paid, 0), x.payment_date FROM transactions x
			LEFT JOIN (SELECT transaction_id, sum(amount) AS paid FROM recorded GROUP BY 1) r ON r.transaction_id = x.id
		WHERE ` + lease + ` AND x.amount_paid > coalesce(r.paid, 0) AND x.payment_date IS NOT NULL)`
}

// LedgerEntry is one line of a tenant ledger.
type LedgerEntry struct {
	Date          domain.Date `json:"date"`
	Entry         string      `json:"entry"`
	TransactionID *uuid.UUID  `json:"transaction_id"` // the charge it concerns, if any
	PaymentID     *uuid.UUID  `json:"payment_id"`     // the payment it concerns, if any
	Type          *string     `json:"type"`           // the charge's type: rent, deposit, fee, maintenance
	Status        *string     `json:"status"`         // the charge's status now
	Description   *string     `json:"description"`
	Amount        Money       `json:"amount"`  // what the line adds to the balance; credits are negative
	Balance       Money       `json:"balance"` // the running balance after the line
}

// LedgerView is a lease's tenant ledger: charges and the money that settled
// them, in date order, with a running balance: what the tenant owes, less the
// credit (negative: the lease is in credit).
type LedgerView struct {
	LeaseID     uuid.UUID     `json:"lease_id"`
	AsOf        *domain.Date  `json:"as_of"`
	Items       []LedgerEntry `json:"items"`
	Balance     Money         `json:"balance"`      // open charge balances − credit
	OpenBalance Money         `json:"open_balance"` // what the charges due still owe
	Credit      Money         `json:"credit"`       // money received and not yet applied
	DepositHeld Money         `json:"deposit_held"`
}

// Ledger is the tenant ledger of a lease the viewer may see (domain.ErrNotFound
// otherwise); docs/rent.md lists its lines. With asOf, only lines dated on or
// before it: the books as they stood that day.
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
		pays AS (SELECT pm.* FROM payments pm WHERE pm.lease_id = $3),
		entries AS (SELECT e.value AS e, e.ordinality AS n FROM lease_accounts a
			CROSS JOIN LATERAL jsonb_array_elements(a.entries) WITH ORDINALITY e WHERE a.lease_id = $3),
		`+chargeMoves("x.lease_id = $3")+`,
		legacy AS (SELECT m.transaction_id, m.amount, m.day FROM moves m
			EXCEPT ALL SELECT r.transaction_id, r.amount, r.day FROM recorded r),
		lines AS (
			SELECT due_date AS day, 0 AS ord, created_at AS at, 0::bigint AS n, 'charge' AS entry, id AS tid,
				NULL::uuid AS pid, notes AS description, amount FROM visible
			UNION ALL
			SELECT pm.payment_date, 1, pm.created_at, a.n, 'payment', (a.a->>'transaction_id')::uuid, pm.id,
				nullif(concat_ws(' ', pm.payment_method, pm.reference_number), ''), -(a.a->>'amount')::numeric
			FROM pays pm CROSS JOIN LATERAL jsonb_array_elements(pm.allocations) WITH ORDINALITY a(a, n)
			UNION ALL
			SELECT pm.payment_date, 1, pm.created_at, 1000000, 'prepayment', NULL, pm.id,
				nullif(concat_ws(' ', pm.payment_method, pm.reference_number), ''), -pm.credit
			FROM pays pm WHERE pm.credit > 0
			UNION ALL
			SELECT pm.returned_on, 1, pm.updated_at, a.n, 'return', (a.a->>'transaction_id')::uuid, pm.id,
				pm.return_reason, (a.a->>'amount')::numeric
			FROM pays pm CROSS JOIN LATERAL jsonb_array_elements(pm.allocations) WITH ORDINALITY a(a, n)
			WHERE pm.returned_on IS NOT NULL
			UNION ALL
			SELECT pm.returned_on, 1, pm.updated_at, 1000000, 'return', NULL, pm.id, pm.return_reason, pm.credit
			FROM pays pm WHERE pm.returned_on IS NOT NULL AND pm.credit > 0
			UNION ALL
			SELECT g.day, 1, t.updated_at, 0, 'payment', g.transaction_id, NULL,
				nullif(concat_ws(' ', t.payment_method, t.reference_number), ''), -g.amount
			FROM legacy g JOIN visible t ON t.id = g.transaction_id
			UNION ALL
			SELECT (e.e->>'on')::date, 1, (e.e->>'at')::timestamp, e.n, replace(e.e->>'kind', 'deposit_received', 'deposit_held'),
				(e.e->>'transaction_id')::uuid, (e.e->>'payment_id')::uuid, e.e->>'reason',
				CASE WHEN e.e->>'kind' = 'credit_refunded' THEN (e.e->>'amount')::numeric
					WHEN e.e->>'kind' = 'deposit_deducted' AND e.e->>'transaction_id' IS NOT NULL THEN -(e.e->>'amount')::numeric
					ELSE 0 END
			FROM entries e WHERE e.e->>'kind' <> 'credit_received' AND e.e->>'kind' <> 'credit_withdrawn'
			UNION ALL
			SELECT greatest(closed_on, due_date), 1, updated_at, 0,
				CASE status WHEN 'void' THEN 'void' WHEN 'waived' THEN 'waiver' ELSE 'write_off' END,
				id, NULL, NULL, -(amount - amount_paid)
			FROM visible WHERE status IN ('void', 'waived', 'written_off') AND amount > amount_paid)
		SELECT x.day, x.entry, x.tid, x.pid, t.type, t.status, x.description, x.amount,
			sum(x.amount) OVER (ORDER BY x.day, x.ord, x.at, x.n, x.tid, x.entry ROWS UNBOUNDED PRECEDING)
		FROM lines x LEFT JOIN visible t ON t.id = x.tid
		WHERE x.day IS NOT NULL AND ($4::date IS NULL OR x.day <= $4::date)
		ORDER BY x.day, x.ord, x.at, x.n, x.tid, x.entry`, seesAll(v), v.UserID, id, until)
	if err != nil {
		return LedgerView{}, fmt.Errorf("read ledger: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		err := row.Scan(&e.Date, &e.Entry, &e.TransactionID, &e.PaymentID, &e.Type, &e.Status, &e.Description,
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
	day := domain.DateOf(time.Now())
	if asOf != nil {
		day = *asOf
	}
	sums, err := q.leaseSums(ctx, v, id, day)
	if err != nil {
		return LedgerView{}, err
	}
	view.OpenBalance, view.Credit, view.DepositHeld = sums.open, sums.credit, sums.depositHeld
	return view, nil
}

type leaseSums struct{ open, credit, depositHeld Money }

// leaseSums are a lease's open charge balances, credit and deposit held on a day.
func (q *Queries) leaseSums(ctx context.Context, v Viewer, id uuid.UUID, day domain.Date) (leaseSums, error) {
	var s leaseSums
	err := q.pool.QueryRow(ctx, `WITH `+chargeMoves("x.lease_id = $4")+`, `+paidBy+`,
		acct AS (`+accountOn("x.lease_id = $4", "$3::date")+`)
		SELECT (SELECT coalesce(sum(`+openAmount+`), 0)
				FROM transactions t JOIN leases l ON l.id = t.lease_id JOIN properties p ON p.id = l.property_id
				LEFT JOIN paid pd ON pd.transaction_id = t.id
				WHERE `+visibleProperty+` AND t.lease_id = $4 AND `+openOn+`),
			coalesce((SELECT sum(credit) FROM acct), 0), coalesce((SELECT sum(deposit_held) FROM acct), 0)`,
		seesAll(v), v.UserID, day, id).Scan(&s.open.Decimal, &s.credit.Decimal, &s.depositHeld.Decimal)
	if err != nil {
		return s, fmt.Errorf("read ledger sums: %w", err)
	}
	return s, nil
}

// The one rule for a charge's open balance on day $3, which the ledger's sums,
// the rent roll and the aging share, as Ledger draws its lines: charge t counts
// from its due date until it is closed (void, waived, written off; dated no
// earlier than its due date) or paid in full, and owes its amount less what was
// paid of it by then (pd, joined from paidBy).
const (
	openAmount = `t.amount - coalesce(pd.paid, 0)`
	openOn     = `t.due_date <= $3::date AND ` + openAmount + ` > 0
		AND NOT (t.status IN ('void', 'waived', 'written_off') AND greatest(t.closed_on, t.due_date) <= $3::date)`
)

// accountOn is a query of each lease's (x.lease_id, of those lease selects)
// credit and deposit held on day, from its account's dated entries.
func accountOn(lease, day string) string {
	return `SELECT x.lease_id,
		coalesce(sum(CASE e->>'kind' WHEN 'credit_received' THEN 1 WHEN 'credit_unapplied' THEN 1
			WHEN 'credit_applied' THEN -1 WHEN 'credit_withdrawn' THEN -1 WHEN 'credit_refunded' THEN -1 ELSE 0 END
			* (e->>'amount')::numeric), 0) AS credit,
		coalesce(sum(CASE e->>'kind' WHEN 'deposit_received' THEN 1 WHEN 'deposit_reversed' THEN -1
			WHEN 'deposit_deducted' THEN -1 WHEN 'deposit_refunded' THEN -1 ELSE 0 END
			* (e->>'amount')::numeric), 0) AS deposit_held
		FROM lease_accounts x CROSS JOIN LATERAL jsonb_array_elements(x.entries) e
		WHERE ` + lease + ` AND (e->>'on')::date <= ` + day + `
		GROUP BY x.lease_id`
}
