package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// TenantView is a tenants row.
type TenantView struct {
	ID                    uuid.UUID    `json:"id"`
	FirstName             string       `json:"first_name"`
	LastName              string       `json:"last_name"`
	Email                 string       `json:"email"`
	Phone                 *string      `json:"phone"`
	SSNLastFour           *string      `json:"ssn_last_four"`
	DateOfBirth           *domain.Date `json:"date_of_birth"`
	CreditScore           *int         `json:"credit_score"`
	Income                *Money       `json:"income"`
	BackgroundCheckStatus *string      `json:"background_check_status"`
	RegisteredBy          *uuid.UUID   `json:"registered_by"`
	CreatedAt             Timestamp    `json:"created_at"`
	UpdatedAt             Timestamp    `json:"updated_at"`
	Version               int64        `json:"version"`
}

const tenantColumns = `t.id, t.first_name, t.last_name, t.email, t.phone, t.ssn_last_four, t.date_of_birth,
	t.credit_score, t.income, t.background_check_status, t.registered_by, t.created_at, t.updated_at, t.version`

// visibleTenant is the SQL condition "tenant t is visible to the viewer", with
// $1 = sees everything and $2 = the viewer's user id: a user sees the tenants it
// registered and those that lease one of its properties.
const visibleTenant = `($1 OR t.registered_by = $2 OR EXISTS (SELECT 1 FROM leases l
	JOIN properties p ON p.id = l.property_id WHERE l.tenant_id = t.id AND p.owner_id = $2))`

func scanTenant(row pgx.CollectableRow) (TenantView, error) {
	var t TenantView
	var income *decimal.Decimal
	var created, updated time.Time
	err := row.Scan(&t.ID, &t.FirstName, &t.LastName, &t.Email, &t.Phone, &t.SSNLastFour, &t.DateOfBirth,
		&t.CreditScore, &income, &t.BackgroundCheckStatus, &t.RegisteredBy, &created, &updated, &t.Version)
	if income != nil {
		t.Income = &Money{*income}
	}
	t.CreatedAt, t.UpdatedAt = Timestamp(created), Timestamp(updated)
	return t, err
}

// Tenant returns one tenant the viewer may see, or domain.ErrNotFound.
func (q *Queries) Tenant(ctx context.Context, v Viewer, id uuid.UUID) (TenantView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants t
		WHERE `+visibleTenant+` AND t.id = $3`, seesAll(v), v.UserID, id)
	if err != nil {
		return TenantView{}, fmt.Errorf("read tenant: %w", err)
	}
	t, err := pgx.CollectExactlyOneRow(rows, scanTenant)
	if errors.Is(err, pgx.ErrNoRows) {
		return TenantView{}, domain.ErrNotFound
	}
	if err != nil {
		return TenantView{}, fmt.Errorf("read tenant: %w", err)
	}
	return t, nil
}

// TenantFilter narrows a tenant list; empty fields do not filter. Email matches
// the whole address regardless of case; LastName matches exactly.
type TenantFilter struct {
	Email, LastName string
	Cursor          string
	Limit           int
}

// Tenants lists the tenants the viewer may see, oldest first.
func (q *Queries) Tenants(ctx context.Context, v Viewer, f TenantFilter) (Page[TenantView], error) {
	after, err := decodeCursor(f.Cursor)
	if err != nil {
		return Page[TenantView]{}, err
	}
	where := []string{visibleTenant}
	args := []any{seesAll(v), v.UserID}
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Email != "" {
		add("lower(t.email) = lower($%d)", f.Email)
	}
	if f.LastName != "" {
		add("t.last_name = $%d", f.LastName)
	}
	if after != nil {
		args = append(args, after.CreatedAt, after.ID)
		where = append(where, fmt.Sprintf("(t.created_at, t.id) > ($%d, $%d)", len(args)-1, len(args)))
	}
	args = append(args, f.Limit+1)
	rows, err := q.pool.Query(ctx, `SELECT `+tenantColumns+` FROM tenants t WHERE `+
		strings.Join(where, " AND ")+fmt.Sprintf(` ORDER BY t.created_at, t.id LIMIT $%d`, len(args)), args...)
	if err != nil {
		return Page[TenantView]{}, fmt.Errorf("list tenants: %w", err)
	}
	items, err := pgx.CollectRows(rows, scanTenant)
	if err != nil {
		return Page[TenantView]{}, fmt.Errorf("list tenants: %w", err)
	}
	return pageOf(items, f.Limit, func(t TenantView) *string {
		return encodeCursor(time.Time(t.CreatedAt), t.ID)
	}), nil
}
