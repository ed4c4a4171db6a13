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

// The landlord reports (docs/reports.md). Each reads the read model under the
// viewer's visibility and answers for a day, as_of: a charge counts from its due
// date, and stops counting once settled (paid, voided, waived or written off) on
// or before that day, exactly as the tenant ledger (Ledger) draws its lines. So a
// lease's balance in the rent roll is its ledger's balance on that day, and the
// aging of its unpaid charges adds up to it.

// paidBy is a CTE, paid: what was paid of each charge by day $3 (payments net
// of their returns, credit, deposit deductions; chargeMoves), of every lease.
const paidBy = `paid AS (SELECT transaction_id, sum(amount) AS paid FROM moves WHERE day <= $3::date GROUP BY 1)`

// leasesInForce is a CTE: per property, the lease in force on day $3, from its
// start date to its end date or the effective date of its termination, both
// included. Leases of one property never overlap while active; should a
// terminated one overlap its successor, the later start wins. One pass over the
// leases: a portfolio's worth of per-property lookups costs several times more.
const leasesInForce = `in_force AS (
	SELECT DISTINCT ON (l.property_id) l.property_id, l.id, l.tenant_id, l.start_date, l.end_date, l.status,
		l.rent_amount, l.security_deposit
	FROM leases l WHERE l.start_date <= $3::date AND $3::date <= least(l.end_date, coalesce(l.terminated_on, l.end_date))
	ORDER BY l.property_id, l.start_date DESC, l.id)`

// unpaidOn is a CTE: the open balances on day $3 of the charges other than
// deposits due on or before it (a charge partly paid counts its balance), not
// closed by then, with their days past due. A charge can be open on the day only
// if it still is (pending, failed), or money was applied to it after the day
// (payment_date, the last such day), or it was closed after the day: the
// candidates are asked for in those four ways, each of which an index finds,
// not among every charge ever due; then what was paid of them by the day
// (chargeMoves) decides.
var unpaidOn = `candidates AS MATERIALIZED (
	SELECT t.id, t.lease_id, t.amount, t.due_date FROM transactions t
	WHERE t.status = 'pending' AND t.due_date <= $3::date AND t.type <> 'deposit'
	UNION ALL
	SELECT t.id, t.lease_id, t.amount, t.due_date FROM transactions t
	WHERE t.status = 'failed' AND t.due_date <= $3::date AND t.type <> 'deposit'
	UNION ALL
	SELECT t.id, t.lease_id, t.amount, t.due_date FROM transactions t
	WHERE t.status IN ('completed', 'refunded') AND t.payment_date > $3::date AND t.due_date <= $3::date
		AND t.type <> 'deposit'
	UNION ALL
	SELECT t.id, t.lease_id, t.amount, t.due_date FROM transactions t
	WHERE t.status IN ('void', 'waived', 'written_off') AND t.closed_on > $3::date AND t.due_date <= $3::date
		AND t.type <> 'deposit'),
	` + chargeMoves("x.lease_id IN (SELECT lease_id FROM candidates)") + `, ` + paidBy + `,
	unpaid AS (
	SELECT t.lease_id, ` + openAmount + ` AS amount, $3::date - t.due_date AS days
	FROM candidates t LEFT JOIN paid pd ON pd.transaction_id = t.id
	WHERE ` + openAmount + ` > 0)`

// ReportPage is the page a report answers: a limit of 0 means every row (CSV).
type ReportPage struct {
	Cursor string
	Limit  int
}

// limitClause is the LIMIT of a report page: one row more than asked, to know
// whether another page follows; nothing when every row is asked for.
func (p ReportPage) limitClause(args *sqlArgs) string {
	if p.Limit == 0 {
		return ""
	}
	return ` LIMIT ` + args.add(p.Limit+1)
}

// RentRollRow is one property of the rent roll, with the lease in force that day.
type RentRollRow struct {
	PropertyID      uuid.UUID    `json:"property_id"`
	PropertyName    string       `json:"property_name"`
	Address         string       `json:"address"`
	City            string       `json:"city"`
	State           string       `json:"state"`
	ZipCode         string       `json:"zip_code"`
	PropertyStatus  string       `json:"property_status"`
	OwnerID         *uuid.UUID   `json:"owner_id"`
	Occupancy       string       `json:"occupancy"` // occupied or vacant
	LeaseID         *uuid.UUID   `json:"lease_id"`
	LeaseStatus     *string      `json:"lease_status"`
	TenantID        *uuid.UUID   `json:"tenant_id"`
	TenantFirstName *string      `json:"tenant_first_name"`
	TenantLastName  *string      `json:"tenant_last_name"`
	StartDate       *domain.Date `json:"start_date"`
	EndDate         *domain.Date `json:"end_date"`
	RentAmount      *Money       `json:"rent_amount"`
	SecurityDeposit *Money       `json:"security_deposit"` // the deposit the lease asks for
	DepositHeld     *Money       `json:"deposit_held"`     // deposit received by that day and not yet settled
	BalanceDue      *Money       `json:"balance_due"`      // what the lease's charges due that day still owe
	Credit          *Money       `json:"credit"`           // the lease's credit that day (its ledger balance is balance_due − credit)
	createdAt       time.Time
}

// RentRollTotals sum up the whole rent roll, not just the page.
type RentRollTotals struct {
	Properties    int   `json:"properties"`
	Occupied      int   `json:"occupied"`
	Vacant        int   `json:"vacant"`
	ScheduledRent Money `json:"scheduled_rent"` // the monthly rent of the leases in force
}

// RentRoll is the rent roll as of a day.
type RentRoll struct {
	AsOf   domain.Date    `json:"as_of"`
	Totals RentRollTotals `json:"totals"`
	Page[RentRollRow]
}

// RentRoll lists, one row per property the viewer may see, who rents it on asOf
// and on what terms, and what they owe that day. It lists the properties that are
// not archived (the read model knows a property's status today, not its past
// ones), and an archived one still let that day; a property without a lease in
// force is vacant. Rows come in the order the properties were registered.
func (q *Queries) RentRoll(ctx context.Context, v Viewer, asOf domain.Date, page ReportPage) (RentRoll, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return RentRoll{}, err
	}
	args := sqlArgs{seesAll(v), v.UserID, asOf}
	pageFrom := ""
	if after != nil {
		pageFrom = ` WHERE (created_at, property_id) > (` + args.add(after.CreatedAt) + `, ` + args.add(after.ID) + `)`
	}
	limit := page.limitClause(&args)
	rows, err := q.pool.Query(ctx, `WITH `+leasesInForce+`,
		roll AS MATERIALIZED (
			SELECT p.id AS property_id, p.name, p.address, p.city, p.state, p.zip_code, p.status, p.owner_id,
				p.created_at, l.id AS lease_id, l.status AS lease_status, l.tenant_id, l.start_date, l.end_date,
				l.rent_amount, l.security_deposit
			FROM properties p LEFT JOIN in_force l ON l.property_id = p.id
			WHERE `+visibleProperty+`
				AND (p.status <> 'archived' OR l.id IS NOT NULL)),
		totals AS (SELECT count(*) AS properties, count(lease_id) AS occupied,
			coalesce(sum(rent_amount), 0) AS scheduled FROM roll),
		page AS MATERIALIZED (SELECT * FROM roll`+pageFrom+` ORDER BY created_at, property_id`+limit+`),
		`+chargeMoves("x.lease_id IN (SELECT lease_id FROM page)")+`, `+paidBy+`,
		acct AS (`+accountOn("x.lease_id IN (SELECT lease_id FROM page)", "$3::date")+`)
		SELECT r.property_id, r.name, r.address, r.city, r.state, r.zip_code, r.status, r.owner_id, r.created_at,
			r.lease_id, r.lease_status, r.tenant_id, tn.first_name, tn.last_name, r.start_date, r.end_date,
			r.rent_amount, r.security_deposit, coalesce(a.deposit_held, 0), b.balance, coalesce(a.credit, 0),
			totals.properties, totals.occupied, totals.scheduled
		FROM totals LEFT JOIN (page r
			LEFT JOIN `+tenantContacts(ctx)+` tn ON tn.id = r.tenant_id
			LEFT JOIN acct a ON a.lease_id = r.lease_id
			LEFT JOIN LATERAL (SELECT coalesce(sum(`+openAmount+`), 0) AS balance
				FROM transactions t LEFT JOIN paid pd ON pd.transaction_id = t.id
				WHERE t.lease_id = r.lease_id AND `+openOn+`) b ON r.lease_id IS NOT NULL) ON TRUE
		ORDER BY r.created_at, r.property_id`, args...)
	if err != nil {
		return RentRoll{}, fmt.Errorf("report rent roll: %w", err)
	}
	roll := RentRoll{AsOf: asOf}
	var items []RentRollRow
	for rows.Next() {
		var (
			r                                   RentRollRow
			propertyID                          *uuid.UUID
			name, address, city, state, zip     *string
			status                              *string
			created                             *time.Time
			rent, deposit, depositHeld, balance *decimal.Decimal
			credit                              *decimal.Decimal
		)
		err := rows.Scan(&propertyID, &name, &address, &city, &state, &zip, &status, &r.OwnerID, &created,
			&r.LeaseID, &r.LeaseStatus, &r.TenantID, &r.TenantFirstName, &r.TenantLastName, &r.StartDate, &r.EndDate,
			&rent, &deposit, &depositHeld, &balance, &credit,
			&roll.Totals.Properties, &roll.Totals.Occupied, &roll.Totals.ScheduledRent.Decimal)
		if err != nil {
			rows.Close()
			return RentRoll{}, fmt.Errorf("report rent roll: %w", err)
		}
		if propertyID == nil { // the totals row of an empty page
			continue
		}
		r.PropertyID, r.createdAt = *propertyID, *created
		r.PropertyName, r.Address, r.City, r.State, r.ZipCode, r.PropertyStatus = *name, *address, *city, *state, *zip, *status
		r.Occupancy = "vacant"
		if r.LeaseID != nil {
			r.Occupancy = "occupied"
			r.RentAmount, r.SecurityDeposit = moneyOf(rent), moneyOf(deposit)
			r.DepositHeld, r.BalanceDue, r.Credit = moneyOf(depositHeld), moneyOf(balance), moneyOf(credit)
		}
		items = append(items, r)
	}
	if err := rows.Err(); err != nil {
		return RentRoll{}, fmt.Errorf("report rent roll: %w", err)
	}
	roll.Totals.Vacant = roll.Totals.Properties - roll.Totals.Occupied
	roll.Page = pageOf(items, page.Limit, func(r RentRollRow) *string { return encodeCursor(r.createdAt, r.PropertyID) })
	return roll, nil
}

func moneyOf(d *decimal.Decimal) *Money {
	if d == nil {
		return nil
	}
	return &Money{*d}
}

// AgingBuckets are unpaid amounts by days past due.
type AgingBuckets struct {
	Days0To30  Money `json:"days_0_30"` // due that day up to 30 days before
	Days31To60 Money `json:"days_31_60"`
	Days61To90 Money `json:"days_61_90"`
	Over90     Money `json:"days_over_90"`
	Total      Money `json:"total"`
}

// AgingRow is what one lease's tenant owes, by age.
type AgingRow struct {
	LeaseID         uuid.UUID `json:"lease_id"`
	LeaseStatus     string    `json:"lease_status"`
	PropertyID      uuid.UUID `json:"property_id"`
	PropertyName    string    `json:"property_name"`
	TenantID        uuid.UUID `json:"tenant_id"`
	TenantFirstName string    `json:"tenant_first_name"`
	TenantLastName  string    `json:"tenant_last_name"`
	Charges         int       `json:"charges"` // how many unpaid charges
	AgingBuckets
	createdAt time.Time
}

// Aging is the aged receivables report as of a day.
type Aging struct {
	AsOf   domain.Date  `json:"as_of"`
	Totals AgingBuckets `json:"totals"`
	Page[AgingRow]
}

// Aging lists, per lease the viewer may see, the charges due on or before asOf and
// not settled by then, bucketed by days past due (0–30, 31–60, 61–90, over 90),
// with totals over every lease. Deposits are left out: a deposit is held for the
// tenant, not earned. An expired or terminated lease stays in until its charges
// are paid or written off. Rows come in the order the leases were signed.
func (q *Queries) Aging(ctx context.Context, v Viewer, asOf domain.Date, page ReportPage) (Aging, error) {
	after, err := decodeCursor(page.Cursor)
	if err != nil {
		return Aging{}, err
	}
	args := sqlArgs{seesAll(v), v.UserID, asOf}
	pageFrom := ""
	if after != nil {
		pageFrom = ` WHERE (created_at, lease_id) > (` + args.add(after.CreatedAt) + `, ` + args.add(after.ID) + `)`
	}
	limit := page.limitClause(&args)
	const bucket = `coalesce(sum(u.amount) FILTER (WHERE %s), 0)`
	rows, err := q.pool.Query(ctx, `WITH `+unpaidOn+`,
		per_lease AS (
			SELECT u.lease_id, count(*) AS charges,
				`+fmt.Sprintf(bucket, "u.days <= 30")+` AS b30, `+fmt.Sprintf(bucket, "u.days BETWEEN 31 AND 60")+` AS b60,
				`+fmt.Sprintf(bucket, "u.days BETWEEN 61 AND 90")+` AS b90, `+fmt.Sprintf(bucket, "u.days > 90")+` AS over90,
				sum(u.amount) AS total
			FROM unpaid u GROUP BY u.lease_id),
		aged AS MATERIALIZED (
			SELECT l.id AS lease_id, l.status, l.created_at, p.id AS property_id, p.name, l.tenant_id,
				tn.first_name, tn.last_name, a.charges, a.b30, a.b60, a.b90, a.over90, a.total
			FROM per_lease a JOIN leases l ON l.id = a.lease_id JOIN properties p ON p.id = l.property_id
			JOIN `+tenantContacts(ctx)+` tn ON tn.id = l.tenant_id
			WHERE `+visibleProperty+`),
		totals AS (SELECT coalesce(sum(b30), 0) AS b30, coalesce(sum(b60), 0) AS b60, coalesce(sum(b90), 0) AS b90,
			coalesce(sum(over90), 0) AS over90, coalesce(sum(total), 0) AS total FROM aged),
		page AS (SELECT * FROM aged`+pageFrom+` ORDER BY created_at, lease_id`+limit+`)
		SELECT a.lease_id, a.status, a.created_at, a.property_id, a.name, a.tenant_id, a.first_name, a.last_name,
			a.charges, a.b30, a.b60, a.b90, a.over90, a.total,
			totals.b30, totals.b60, totals.b90, totals.over90, totals.total
		FROM totals LEFT JOIN page a ON TRUE ORDER BY a.created_at, a.lease_id`, args...)
	if err != nil {
		return Aging{}, fmt.Errorf("report aging: %w", err)
	}
	report := Aging{AsOf: asOf}
	var items []AgingRow
	for rows.Next() {
		var (
			leaseID, propertyID, tenantID *uuid.UUID
			status, name, first, last     *string
			created                       *time.Time
			charges                       *int
			b30, b60, b90, over90, total  *decimal.Decimal
		)
		t := &report.Totals
		err := rows.Scan(&leaseID, &status, &created, &propertyID, &name, &tenantID, &first, &last,
			&charges, &b30, &b60, &b90, &over90, &total,
			&t.Days0To30.Decimal, &t.Days31To60.Decimal, &t.Days61To90.Decimal, &t.Over90.Decimal, &t.Total.Decimal)
		if err != nil {
			rows.Close()
			return Aging{}, fmt.Errorf("report aging: %w", err)
		}
		if leaseID == nil { // the totals row of an empty page
			continue
		}
		items = append(items, AgingRow{LeaseID: *leaseID, LeaseStatus: *status, PropertyID: *propertyID,
			PropertyName: *name, TenantID: *tenantID, TenantFirstName: *first, TenantLastName: *last, Charges: *charges,
			AgingBuckets: AgingBuckets{Days0To30: Money{*b30}, Days31To60: Money{*b60}, Days61To90: Money{*b90},
				Over90: Money{*over90}, Total: Money{*total}},
			createdAt: *created})
	}
	if err := rows.Err(); err != nil {
		return Aging{}, fmt.Errorf("report aging: %w", err)
	}
	report.Page = pageOf(items, page.Limit, func(a AgingRow) *string { return encodeCursor(a.createdAt, a.LeaseID) })
	return report, nil
}

// OccupancyFigures are one owner's occupancy, or everyone's.
type OccupancyFigures struct {
	ActiveProperties  int      `json:"active_properties"`
	LeasedProperties  int      `json:"leased_properties"`
	PhysicalOccupancy *Percent `json:"physical_occupancy"` // leased ÷ active, in percent; null without active properties
	RentScheduled     Money    `json:"rent_scheduled"`     // rent charges due in the month, voids left out
	RentCollected     Money    `json:"rent_collected"`     // of those, paid by as_of (partly paid: the part paid)
	EconomicOccupancy *Percent `json:"economic_occupancy"` // collected ÷ scheduled, in percent; null without rent scheduled
}

// OwnerOccupancy is the occupancy of one owner's properties.
type OwnerOccupancy struct {
	OwnerID        *uuid.UUID `json:"owner_id"` // null for properties without an owner
	OwnerFirstName *string    `json:"owner_first_name"`
	OwnerLastName  *string    `json:"owner_last_name"`
	OwnerEmail     *string    `json:"owner_email"`
	OccupancyFigures
}

// Occupancy is the occupancy report as of a day.
type Occupancy struct {
	AsOf        domain.Date      `json:"as_of"`
	PeriodStart domain.Date      `json:"period_start"` // the month of as_of, for economic occupancy
	PeriodEnd   domain.Date      `json:"period_end"`
	Overall     OccupancyFigures `json:"overall"`
	Owners      []OwnerOccupancy `json:"owners"`
}

// Occupancy measures, per owner and overall, of the properties the viewer may see:
// physical occupancy, the active properties (by today's status) with a lease in
// force on asOf; and economic occupancy, the rent collected by asOf of the rent
// charges due in asOf's month. Owners come in the order of their email.
func (q *Queries) Occupancy(ctx context.Context, v Viewer, asOf domain.Date) (Occupancy, error) {
	start := domain.NewDate(asOf.Year(), asOf.Month(), 1)
	end := start.AddMonths(1).AddDays(-1)
	rows, err := q.pool.Query(ctx, `WITH `+leasesInForce+`,
		physical AS (
			SELECT coalesce(p.owner_id, '00000000-0000-0000-0000-000000000000') AS owner, count(*) AS active,
				count(l.id) AS leased
			FROM properties p LEFT JOIN in_force l ON l.property_id = p.id
			WHERE `+visibleProperty+` AND p.status = 'active'
			GROUP BY 1),
		month AS MATERIALIZED (
			SELECT t.id, t.lease_id, t.amount, coalesce(p.owner_id, '00000000-0000-0000-0000-000000000000') AS owner
			FROM transactions t JOIN leases l ON l.id = t.lease_id JOIN properties p ON p.id = l.property_id
			WHERE `+visibleProperty+` AND t.type = 'rent' AND t.status <> 'void' AND t.due_date BETWEEN $4 AND $5),
		`+chargeMoves("x.lease_id IN (SELECT lease_id FROM month)")+`, `+paidBy+`,
		economic AS (
			SELECT m.owner, sum(m.amount) AS scheduled, coalesce(sum(least(coalesce(pd.paid, 0), m.amount)), 0) AS collected
			FROM month m LEFT JOIN paid pd ON pd.transaction_id = m.id
			GROUP BY 1)
		SELECT nullif(o.owner, '00000000-0000-0000-0000-000000000000'), u.first_name, u.last_name, u.email,
			coalesce(ph.active, 0), coalesce(ph.leased, 0), coalesce(ec.scheduled, 0), coalesce(ec.collected, 0)
		FROM (SELECT owner FROM physical UNION SELECT owner FROM economic) o
		LEFT JOIN physical ph ON ph.owner = o.owner LEFT JOIN economic ec ON ec.owner = o.owner
		LEFT JOIN users u ON u.id = o.owner
		ORDER BY u.email NULLS LAST, o.owner`, seesAll(v), v.UserID, asOf, start, end)
	if err != nil {
		return Occupancy{}, fmt.Errorf("report occupancy: %w", err)
	}
	owners, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OwnerOccupancy, error) {
		var o OwnerOccupancy
		err := row.Scan(&o.OwnerID, &o.OwnerFirstName, &o.OwnerLastName, &o.OwnerEmail, &o.ActiveProperties,
			&o.LeasedProperties, &o.RentScheduled.Decimal, &o.RentCollected.Decimal)
		return o, err
	})
	if err != nil {
		return Occupancy{}, fmt.Errorf("report occupancy: %w", err)
	}
	report := Occupancy{AsOf: asOf, PeriodStart: start, PeriodEnd: end, Owners: owners}
	if report.Owners == nil {
		report.Owners = []OwnerOccupancy{}
	}
	all := &report.Overall
	for i := range report.Owners {
		o := &report.Owners[i].OccupancyFigures
		o.ratios()
		all.ActiveProperties += o.ActiveProperties
		all.LeasedProperties += o.LeasedProperties
		all.RentScheduled.Decimal = all.RentScheduled.Add(o.RentScheduled.Decimal)
		all.RentCollected.Decimal = all.RentCollected.Add(o.RentCollected.Decimal)
	}
	all.ratios()
	return report, nil
}

// ratios works out the two occupancy percentages from the counts and sums.
func (f *OccupancyFigures) ratios() {
	f.PhysicalOccupancy = percentOf(decimal.NewFromInt(int64(f.LeasedProperties)), decimal.NewFromInt(int64(f.ActiveProperties)))
	f.EconomicOccupancy = percentOf(f.RentCollected.Decimal, f.RentScheduled.Decimal)
}

// percentOf is part ÷ whole in percent, rounded half away from zero to two
// places; nil when whole is zero.
func percentOf(part, whole decimal.Decimal) *Percent {
	if whole.IsZero() {
		return nil
	}
	return &Percent{part.Mul(decimal.NewFromInt(100)).DivRound(whole, 2)}
}
