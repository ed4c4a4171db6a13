package readmodel

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// TransactionView is a transactions row.
type TransactionView struct {
	ID              uuid.UUID    `json:"id"`
	LeaseID         uuid.UUID    `json:"lease_id"`
	Amount          Money        `json:"amount"`
	Type            string       `json:"type"`
	Status          string       `json:"status"`
	DueDate         *domain.Date `json:"due_date"`
	PaymentDate     *domain.Date `json:"payment_date"`
	PaymentMethod   *string      `json:"payment_method"`
	ReferenceNumber *string      `json:"reference_number"`
	Notes           *string      `json:"notes"`
	AmountPaid      Money        `json:"amount_paid"` // what payments, credit and the deposit paid of it
	Balance         Money        `json:"balance"`     // what is left to pay: amount − amount_paid
	CreatedAt       Timestamp    `json:"created_at"`
	UpdatedAt       Timestamp    `json:"updated_at"`
	Version         int64        `json:"version"`
}

// transactionColumns are the columns of TransactionView, of the table aliased t.
const transactionColumns = `t.id, t.lease_id, t.amount, t.type, t.status, t.due_date, t.payment_date,
	t.payment_method, t.reference_number, t.notes, t.amount_paid, t.amount - t.amount_paid, t.created_at, t.updated_at, t.version`

// visibleTransactions joins a transaction (t) to its lease (l) and property (p),
// whose visibility decides the transaction's: $1 = sees everything, $2 = the viewer.
// The joins are outer so that an as_of replay, which holds only the transaction's
// own row, still finds it.
const visibleTransactions = `transactions t
	LEFT JOIN leases l ON l.id = t.lease_id
	LEFT JOIN properties p ON p.id = l.property_id`

// targets are the scan destinations of transactionColumns.
func (t *TransactionView) targets() []any {
	return []any{&t.ID, &t.LeaseID, &t.Amount, &t.Type, &t.Status, &t.DueDate, &t.PaymentDate,
		&t.PaymentMethod, &t.ReferenceNumber, &t.Notes, &t.AmountPaid.Decimal, &t.Balance.Decimal, &t.CreatedAt, &t.UpdatedAt, &t.Version}
}

func scanTransaction(row pgx.CollectableRow) (TransactionView, error) {
	var t TransactionView
	err := row.Scan(t.targets()...)
	return t, err
}

// Transaction returns one transaction the viewer may see, or domain.ErrNotFound.
func (q *Queries) Transaction(ctx context.Context, v Viewer, id uuid.UUID) (TransactionView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+transactionColumns+` FROM `+visibleTransactions+`
		WHERE t.id = $3 AND `+visibleProperty, seesAll(v), v.UserID, id)
	return collectOne(rows, err, scanTransaction, "read transaction")
}

// TransactionFilter narrows a transaction list; empty fields do not filter. The
// caller has checked Status and Type against their enums.
type TransactionFilter struct {
	LeaseID      *uuid.UUID
	Status, Type string
	Cursor       string
	Limit        int
}

// Transactions lists the transactions the viewer may see, oldest first.
func (q *Queries) Transactions(ctx context.Context, v Viewer, f TransactionFilter) (Page[TransactionView], error) {
	l := newList(visibleProperty, seesAll(v), v.UserID)
	if f.LeaseID != nil {
		l.and("t.lease_id = %s", *f.LeaseID)
	}
	if f.Status != "" {
		l.and("t.status = %s", f.Status)
	}
	if f.Type != "" {
		l.and("t.type = %s", f.Type)
	}
	return listPage(ctx, q, l, `SELECT `+transactionColumns+` FROM `+visibleTransactions, byCreated("t."), f.Cursor, f.Limit,
		scanTransaction, func(t TransactionView) (time.Time, uuid.UUID) { return time.Time(t.CreatedAt), t.ID }, "list transactions")
}

// OverdueTransactionView is a row of the seed's "Overdue Transactions" report: a
// transaction with its property and its tenant's name.
type OverdueTransactionView struct {
	TransactionView
	PropertyID   uuid.UUID `json:"property_id"`
	PropertyName string    `json:"property_name"`
	FirstName    string    `json:"first_name"`
	LastName     string    `json:"last_name"`
}

// OverdueFilter is the report's day and page.
type OverdueFilter struct {
	AsOf   domain.Date // charges due before this day are overdue
	Cursor string
	Limit  int
}

// OverdueTransactions is the seed's "Overdue Transactions": pending charges due
// before AsOf, earliest due first (then by id), of the leases the viewer may see.
// Pages continue after (due_date, id); the cursor carries the due date.
func (q *Queries) OverdueTransactions(ctx context.Context, v Viewer, f OverdueFilter) (Page[OverdueTransactionView], error) {
	l := newList(visibleProperty+` AND t.status = 'pending' AND t.due_date < $3`, seesAll(v), v.UserID, f.AsOf)
	return listPage(ctx, q, l, `SELECT `+transactionColumns+`, l.property_id, p.name, tn.first_name, tn.last_name
		FROM `+visibleTransactions+`
		JOIN `+tenantContacts(ctx)+` tn ON tn.id = l.tenant_id`, keyset{at: "t.due_date", id: "t.id", date: true}, f.Cursor, f.Limit,
		func(row pgx.CollectableRow) (OverdueTransactionView, error) {
			var o OverdueTransactionView
			err := row.Scan(append(o.TransactionView.targets(), &o.PropertyID, &o.PropertyName, &o.FirstName, &o.LastName)...)
			return o, err
		}, func(o OverdueTransactionView) (time.Time, uuid.UUID) { return o.DueDate.Time(), o.ID }, "report overdue transactions")
}
