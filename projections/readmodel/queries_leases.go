package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// LeaseView is a lease as the API answers it: its leases row and its credit.
type LeaseView struct {
	LeaseRow
	// Credit is money received for the lease and not yet applied (docs/rent.md).
	Credit Money `json:"credit"`
}

// LeaseRow is a leases row.
type LeaseRow struct {
	ID                uuid.UUID    `json:"id"`
	PropertyID        uuid.UUID    `json:"property_id"`
	TenantID          uuid.UUID    `json:"tenant_id"`
	StartDate         domain.Date  `json:"start_date"`
	EndDate           domain.Date  `json:"end_date"`
	RentAmount        Money        `json:"rent_amount"`
	SecurityDeposit   Money        `json:"security_deposit"`
	PaymentDay        int          `json:"payment_day"`
	Status            string       `json:"status"`
	AutoRenew         bool         `json:"auto_renew"`
	CreatedAt         Timestamp    `json:"created_at"`
	UpdatedAt         Timestamp    `json:"updated_at"`
	TerminatedOn      *domain.Date `json:"terminated_on"`
	TerminationReason *string      `json:"termination_reason"`
	Version           int64        `json:"version"`
	Tenants           []LeaseParty `json:"tenants"` // every party now, the primary (tenant_id) first
}

// LeaseParty is one of a lease's tenants (lease_tenants), who owe it jointly.
type LeaseParty struct {
	ID      uuid.UUID `json:"id"`
	Primary bool      `json:"primary"`
}

// leaseCredit is the lease's credit (lease_accounts), as a column after leaseColumns.
const leaseCredit = `, coalesce((SELECT a.credit FROM lease_accounts a WHERE a.lease_id = l.id), 0)`

// scanLeaseWithCredit scans leaseColumns and then leaseCredit: a lease answer.
func scanLeaseWithCredit(row pgx.CollectableRow) (LeaseView, error) {
	var l LeaseView
	targets, finish := l.leaseTargets()
	if err := row.Scan(append(targets, &l.Credit.Decimal)...); err != nil {
		return LeaseView{}, err
	}
	finish()
	return l, nil
}

// leaseColumns are the columns of a leases row (LeaseRow), of leases aliased l.
const leaseColumns = `l.id, l.property_id, l.tenant_id, l.start_date, l.end_date, l.rent_amount,
	l.security_deposit, l.payment_day, l.status, coalesce(l.auto_renew, FALSE), l.created_at, l.updated_at,
	l.terminated_on, l.termination_reason, l.version, (SELECT coalesce(jsonb_agg(jsonb_build_object(
		'id', lt.tenant_id, 'primary', lt.is_primary) ORDER BY lt.is_primary DESC, lt.position), '[]')
		FROM lease_tenants lt WHERE lt.lease_id = l.id AND lt.removed_at IS NULL)`

// leaseTargets are the scan destinations of leaseColumns; finish converts what
// needs converting once the row is scanned.
func (l *LeaseRow) leaseTargets() (targets []any, finish func()) {
	var terminatedOn domain.Date
	targets = []any{&l.ID, &l.PropertyID, &l.TenantID, &l.StartDate, &l.EndDate, &l.RentAmount.Decimal,
		&l.SecurityDeposit.Decimal, &l.PaymentDay, &l.Status, &l.AutoRenew, &l.CreatedAt, &l.UpdatedAt,
		&terminatedOn, &l.TerminationReason, &l.Version, &l.Tenants}
	return targets, func() {
		if !terminatedOn.IsZero() {
			l.TerminatedOn = &terminatedOn
		}
	}
}

// Lease returns one lease of a property the viewer may see, or domain.ErrNotFound.
// The join is outer so that an as_of replay, which holds only the lease, finds it.
func (q *Queries) Lease(ctx context.Context, v Viewer, id uuid.UUID) (LeaseView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+leaseColumns+leaseCredit+` FROM leases l
		LEFT JOIN properties p ON p.id = l.property_id
		WHERE `+visibleProperty+` AND l.id = $3`, seesAll(v), v.UserID, id)
	return collectOne(rows, err, scanLeaseWithCredit, "read lease")
}

// LeaseFilter narrows a lease list; empty fields do not filter. TenantID
// finds the leases the tenant is a party of now.
type LeaseFilter struct {
	PropertyID, TenantID *uuid.UUID
	Status               string
	Cursor               string
	Limit                int
}

// Leases lists the leases of the properties the viewer may see, oldest first.
func (q *Queries) Leases(ctx context.Context, v Viewer, f LeaseFilter) (Page[LeaseView], error) {
	l := newList(visibleProperty, seesAll(v), v.UserID)
	if f.PropertyID != nil {
		l.and("l.property_id = %s", *f.PropertyID)
	}
	if f.TenantID != nil { // any party, not only the primary
		l.and("EXISTS (SELECT 1 FROM lease_tenants lt WHERE lt.lease_id = l.id AND lt.tenant_id = %s AND lt.removed_at IS NULL)", *f.TenantID)
	}
	if f.Status != "" {
		l.and("l.status = %s", f.Status)
	}
	return listPage(ctx, q, l, `SELECT `+leaseColumns+leaseCredit+` FROM leases l JOIN properties p ON p.id = l.property_id`,
		byCreated("l."), f.Cursor, f.Limit, scanLeaseWithCredit,
		func(l LeaseView) (time.Time, uuid.UUID) { return time.Time(l.CreatedAt), l.ID }, "list leases")
}

// ActiveLeaseView is a row of the seed's "Active Leases for Property": the lease
// (with its parties, in tenants) and its primary tenant's name and email.
type ActiveLeaseView struct {
	LeaseRow
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

// ActiveLeases is the seed's "Active Leases for Property": the property's active
// leases whose end date is not before today, ordered by start date. A property
// the viewer may not see is domain.ErrNotFound. One query answers both: the
// property, joined to its leases, gives a row with no lease when it has none.
func (q *Queries) ActiveLeases(ctx context.Context, v Viewer, propertyID uuid.UUID, today domain.Date) ([]ActiveLeaseView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+leaseColumns+`, t.first_name, t.last_name, t.email
		FROM properties p
		LEFT JOIN (leases l JOIN `+tenantContacts(ctx)+` t ON t.id = l.tenant_id)
			ON l.property_id = p.id AND l.status = 'active' AND l.end_date >= $4
		WHERE `+visibleProperty+` AND p.id = $3
		ORDER BY l.start_date, l.id`, seesAll(v), v.UserID, propertyID, today)
	if err != nil {
		return nil, fmt.Errorf("read active leases: %w", err)
	}
	defer rows.Close()
	items, found := []ActiveLeaseView{}, false
	for rows.Next() {
		found = true
		if rows.RawValues()[0] == nil { // the property has no active lease
			continue
		}
		var a ActiveLeaseView
		targets, finish := a.leaseTargets()
		if err := rows.Scan(append(targets, &a.FirstName, &a.LastName, &a.Email)...); err != nil {
			return nil, fmt.Errorf("read active leases: %w", err)
		}
		finish()
		items = append(items, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read active leases: %w", err)
	}
	if !found {
		return nil, domain.ErrNotFound
	}
	return items, nil
}

// ExpiringLeaseView is a row of the seed's "Properties with Expiring Leases": the
// property, the lease's id and end date, and its tenant's contact.
type ExpiringLeaseView struct {
	PropertyView
	LeaseID   uuid.UUID   `json:"lease_id"`
	EndDate   domain.Date `json:"end_date"`
	FirstName string      `json:"first_name"`
	LastName  string      `json:"last_name"`
	Email     string      `json:"email"`
	Phone     *string     `json:"phone"`
}

// MaxExpiringDays bounds the window of ExpiringLeases.
const MaxExpiringDays = 365

// ExpiringFilter is the report's window and page.
type ExpiringFilter struct {
	Today  domain.Date
	Days   int // the window: end dates from Today to Today + Days
	Cursor string
	Limit  int
}

// ExpiringLeases is the seed's "Properties with Expiring Leases": active leases of
// properties the viewer may see whose end date lies from today to today + days,
// ordered by end date, then lease id. Pages continue after (end_date, lease id);
// the cursor carries the end date.
func (q *Queries) ExpiringLeases(ctx context.Context, v Viewer, f ExpiringFilter) (Page[ExpiringLeaseView], error) {
	l := newList(visibleProperty+` AND l.status = 'active' AND l.end_date BETWEEN $3 AND $4`,
		seesAll(v), v.UserID, f.Today, f.Today.AddDays(f.Days))
	return listPage(ctx, q, l, `SELECT p.id, p.name, p.address, p.city, p.state, p.zip_code, p.owner_id,
			p.property_type, p.status, p.bedrooms, p.bathrooms, p.square_feet, p.year_built, p.description,
			p.created_at, p.updated_at, p.version,
			l.id, l.end_date, t.first_name, t.last_name, t.email, t.phone
		FROM properties p
		JOIN leases l ON p.id = l.property_id
		JOIN `+tenantContacts(ctx)+` t ON l.tenant_id = t.id`, keyset{at: "l.end_date", id: "l.id", date: true}, f.Cursor, f.Limit,
		func(row pgx.CollectableRow) (ExpiringLeaseView, error) {
			var e ExpiringLeaseView
			err := row.Scan(append(e.PropertyView.targets(), &e.LeaseID, &e.EndDate, &e.FirstName, &e.LastName, &e.Email, &e.Phone)...)
			return e, err
		}, func(e ExpiringLeaseView) (time.Time, uuid.UUID) { return e.EndDate.Time(), e.LeaseID }, "read expiring leases")
}
