package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	CreatedAt       Timestamp    `json:"created_at"`
	UpdatedAt       Timestamp    `json:"updated_at"`
	Version         int64        `json:"version"`
}

// transactionColumns are the columns of TransactionView, of the table aliased t.
const transactionColumns = `t.id, t.lease_id, t.amount, t.type, t.status, t.due_date, t.payment_date,
	t.payment_method, t.reference_number, t.notes, t.created_at, t.updated_at, t.version`

// visibleTransactions joins a transaction (t) to its lease (l) and property (p),
// whose visibility decides the transaction's: $1 = sees everything, $2 = the viewer.
// The joins are outer so that an as_of replay, which holds only the transaction's
// own row, still finds it.
const visibleTransactions = `transactions t
	LEFT JOIN leases l ON l.id = t.lease_id
	LEFT JOIN properties p ON p.id = l.property_id`

func transactionTargets(t *TransactionView, created, updated *time.Time) []any {
	return []any{&t.ID, &t.LeaseID, &t.Amount, &t.Type, &t.Status, &t.DueDate, &t.PaymentDate,
		&t.PaymentMethod, &t.ReferenceNumber, &t.Notes, created, updated, &t.Version}
}

func scanTransaction(row pgx.CollectableRow) (TransactionView, error) {
	var t TransactionView
	var created, updated time.Time
	err := row.Scan(transactionTargets(&t, &created, &updated)...)
	t.CreatedAt, t.UpdatedAt = Timestamp(created), Timestamp(updated)
	return t, err
}

// Transaction returns one transaction the viewer may see, or domain.ErrNotFound.
func (q *Queries) Transaction(ctx context.Context, v Viewer, id uuid.UUID) (TransactionView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+transactionColumns+` FROM `+visibleTransactions+`
		WHERE t.id = $3 AND `+visibleProperty, seesAll(v), v.UserID, id)
	if err != nil {
		return TransactionView{}, fmt.Errorf("read transaction: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTransaction)
	if errors.Is(err, pgx.ErrNoRows) {
		return TransactionView{}, domain.ErrNotFound
	}
	if err != nil {
		return TransactionView{}, fmt.Errorf("read transaction: %w", err)
	}
	return t, nil
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
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return Page[TransactionView]{}, err
	}
	where := []string{visibleProperty}
	args := []any{seesAll(v), v.UserID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.LeaseID != nil {
		add("t.lease_id = $%d", *f.LeaseID)
	}
	if f.Status != "" {
		add("t.status = $%d", f.Status)
	}
	if f.Type != "" {
		add("t.type = $%d", f.Type)
	}
	if after != nil {
		args = append(args, after.CreatedAt, after.ID)
		where = append(where, fmt.Sprintf("(t.created_at, t.id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, f.Limit+1)
	rows, err := q.pool.Query(ctx, `SELECT `+transactionColumns+` FROM `+visibleTransactions+` WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY t.created_at, t.id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return Page[TransactionView]{}, fmt.Errorf("list transactions: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanTransaction)
	if err != nil {
		return Page[TransactionView]{}, fmt.Errorf("list transactions: %w", err)
	}
	return pageOf(items, f.Limit, func(t TransactionView) *string {
		return encodeCursor(time.Time(t.CreatedAt), t.ID)
	}), nil
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
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return Page[OverdueTransactionView]{}, err
	}
	args := []any{seesAll(v), v.UserID, f.AsOf}
	page := ""
	if after != nil {
		args = append(args, domain.DateOf(after.CreatedAt), after.ID)
		page = ` AND (t.due_date, t.id) > ($4, $5)`
	}
	args = append(args, f.Limit+1)
	rows, err := q.pool.Query(ctx, `SELECT `+transactionColumns+`, l.property_id, p.name, tn.first_name, tn.last_name
		FROM `+visibleTransactions+`
		JOIN `+tenantContacts(ctx)+` tn ON tn.id = l.tenant_id
		WHERE `+visibleProperty+` AND t.status = 'pending' AND t.due_date < $3`+page+
		fmt.Sprintf(` ORDER BY t.due_date ASC, t.id ASC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return Page[OverdueTransactionView]{}, fmt.Errorf("report overdue transactions: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OverdueTransactionView, error) {
		var o OverdueTransactionView
		var created, updated time.Time
		targets := append(transactionTargets(&o.TransactionView, &created, &updated),
			&o.PropertyID, &o.PropertyName, &o.FirstName, &o.LastName)
		err := row.Scan(targets...)
		o.CreatedAt, o.UpdatedAt = Timestamp(created), Timestamp(updated)
		return o, err
	})
	if err != nil {
		return Page[OverdueTransactionView]{}, fmt.Errorf("report overdue transactions: %w", err)
	}
	return pageOf(items, f.Limit, func(o OverdueTransactionView) *string {
		return encodeCursor(o.DueDate.Time(), o.ID)
	}), nil
}
