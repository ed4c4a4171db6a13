package readmodel

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// TenantView is a tenants row, as much of it as the viewer may see: with Access
// domain.AccessContact only its id, names, email and phone are read, and only
// those are rendered (API.md, Roles: a tenant another account registered that a
// lease on one of the viewer's properties names).
type TenantView struct {
	TenantContactView
	SSNLastFour           *string       `json:"ssn_last_four"`
	DateOfBirth           *domain.Date  `json:"date_of_birth"`
	CreditScore           *int          `json:"credit_score"`
	Income                *Money        `json:"income"`
	BackgroundCheckStatus *string       `json:"background_check_status"`
	RegisteredBy          *uuid.UUID    `json:"registered_by"`
	CreatedAt             Timestamp     `json:"created_at"`
	UpdatedAt             Timestamp     `json:"updated_at"`
	Version               int64         `json:"version"`
	Access                domain.Access `json:"-"`
}

// TenantContactView is what a viewer with contact access to a tenant reads.
type TenantContactView struct {
	ID        uuid.UUID `json:"id"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Email     string    `json:"email"`
	Phone     *string   `json:"phone"`
}

// MarshalJSON renders a tenant seen at contact level with its contact fields
// only; the others are absent, not null.
func (t TenantView) MarshalJSON() ([]byte, error) {
	if t.Access == domain.AccessContact {
		return json.Marshal(t.TenantContactView)
	}
	type full TenantView
	return json.Marshal(full(t))
}

// tenantColumns read the contact columns from c (tenantContacts) and the others
// from t, the tenants row joined only where the viewer sees the tenant in full
// (null otherwise).
const tenantColumns = `c.id, c.first_name, c.last_name, c.email, c.phone, t.ssn_last_four, t.date_of_birth,
	t.credit_score, t.income, t.background_check_status, t.registered_by, c.created_at, t.updated_at, t.version,
	t.id IS NOT NULL`

// tenantsFrom joins the contact columns of every tenant to its full row where
// the viewer sees it in full, with $1 = sees everything and $2 = the viewer's
// user id (domain.TenantAccess): in full the tenants it registered, at contact
// level those that a lease on one of its properties names as a party.
func tenantsFrom(ctx context.Context) string {
	return tenantContacts(ctx) + ` c LEFT JOIN tenants t ON t.id = c.id AND ($1 OR t.registered_by = $2)`
}

// visibleTenant is the SQL condition "tenant c is visible to the viewer at some
// level", over tenantsFrom.
const visibleTenant = `(t.id IS NOT NULL OR EXISTS (SELECT 1 FROM lease_tenants lt JOIN leases l ON l.id = lt.lease_id
	JOIN properties p ON p.id = l.property_id WHERE lt.tenant_id = c.id AND p.owner_id = $2))`

func scanTenant(row pgx.CollectableRow) (TenantView, error) {
	var t TenantView
	var income *decimal.Decimal
	var updated *Timestamp
	var version *int64
	var full bool
	err := row.Scan(&t.ID, &t.FirstName, &t.LastName, &t.Email, &t.Phone, &t.SSNLastFour, &t.DateOfBirth,
		&t.CreditScore, &income, &t.BackgroundCheckStatus, &t.RegisteredBy, &t.CreatedAt, &updated, &version, &full)
	t.Income = moneyOf(income)
	t.Access = domain.AccessContact
	if full {
		t.Access = domain.AccessFull
		t.UpdatedAt, t.Version = *updated, *version
	}
	return t, err
}

// Tenant returns one tenant the viewer may see, at the viewer's level of access,
// or domain.ErrNotFound.
func (q *Queries) Tenant(ctx context.Context, v Viewer, id uuid.UUID) (TenantView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+tenantColumns+` FROM `+tenantsFrom(ctx)+`
		WHERE `+visibleTenant+` AND c.id = $3`, seesAll(v), v.UserID, id)
	return collectOne(rows, err, scanTenant, "read tenant")
}

// TenantInFull returns one tenant the viewer sees in full, or domain.ErrNotFound:
// what a tenant's history, past states, documents and audit rows need.
func (q *Queries) TenantInFull(ctx context.Context, v Viewer, id uuid.UUID) (TenantView, error) {
	t, err := q.Tenant(ctx, v, id)
	if err == nil && t.Access != domain.AccessFull {
		return TenantView{}, domain.ErrNotFound
	}
	return t, err
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
	l := newList(visibleTenant, seesAll(v), v.UserID)
	if f.Email != "" {
		l.and("lower(c.email) = lower(%s)", f.Email)
	}
	if f.LastName != "" {
		l.and("c.last_name = %s", f.LastName)
	}
	return listPage(ctx, q, l, `SELECT `+tenantColumns+` FROM `+tenantsFrom(ctx), byCreated("c."), f.Cursor, f.Limit, scanTenant,
		func(t TenantView) (time.Time, uuid.UUID) { return time.Time(t.CreatedAt), t.ID }, "list tenants")
}
