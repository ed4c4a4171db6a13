package readmodel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// Viewer is who is asking; it decides which rows a query may return
// (domain/visibility.go states the rule, the SQL here and the row-level security
// policies state it again, and TestVisibilityMatrix checks that they agree).
type Viewer = domain.Viewer

func seesAll(v Viewer) bool { return v.SeesAllProperties() }

// Queries answers from the read model.
type Queries struct {
	pool  replayable
	dbase *pgxpool.Pool
}

// NewQueries reads through pool. Every query goes through replayable (rls.go):
// as ReaderRole under row-level security for the viewer that WithViewer put into
// its context, or unrestricted where AsSystem says so.
func NewQueries(pool *pgxpool.Pool) *Queries {
	return &Queries{pool: replayable{pool: pool, reads: newReadCounter()}, dbase: pool}
}

// Page is one page of a list, with the cursor of the next one.
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// ErrBadCursor means a cursor was not one this API handed out.
var ErrBadCursor = errors.New("malformed cursor")

// cursor is the position after the last row of a page: lists are ordered by
// (created_at, id), which is stable.
type cursor struct {
	CreatedAt time.Time `json:"c"`
	ID        uuid.UUID `json:"i"`
}

func encodeCursor(createdAt time.Time, id uuid.UUID) *string {
	b, _ := json.Marshal(cursor{CreatedAt: createdAt, ID: id})
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(s string) (*cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, ErrBadCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == uuid.Nil {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// Timestamp renders read-model timestamps (UTC) as RFC 3339.
type Timestamp time.Time

func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format(time.RFC3339Nano) + `"`), nil
}

// ScanTimestamp and ScanTimestamptz let pgx read a column straight into a
// Timestamp (a *Timestamp where the column may be NULL).
func (t *Timestamp) ScanTimestamp(v pgtype.Timestamp) error { return t.scan(v.Time, v.Valid) }

func (t *Timestamp) ScanTimestamptz(v pgtype.Timestamptz) error { return t.scan(v.Time, v.Valid) }

func (t *Timestamp) scan(at time.Time, valid bool) error {
	if !valid {
		return errors.New("cannot scan NULL into a Timestamp")
	}
	*t = Timestamp(at)
	return nil
}

// PropertyView is a properties row.
type PropertyView struct {
	ID           uuid.UUID        `json:"id"`
	Name         string           `json:"name"`
	Address      string           `json:"address"`
	City         string           `json:"city"`
	State        string           `json:"state"`
	ZipCode      string           `json:"zip_code"`
	OwnerID      *uuid.UUID       `json:"owner_id"`
	PropertyType string           `json:"property_type"`
	Status       string           `json:"status"`
	Bedrooms     *int             `json:"bedrooms"`
	Bathrooms    *decimal.Decimal `json:"bathrooms"`
	SquareFeet   *int             `json:"square_feet"`
	YearBuilt    *int             `json:"year_built"`
	Description  *string          `json:"description"`
	CreatedAt    Timestamp        `json:"created_at"`
	UpdatedAt    Timestamp        `json:"updated_at"`
	Version      int64            `json:"version"`
}

const propertyColumns = `id, name, address, city, state, zip_code, owner_id, property_type, status,
	bedrooms, bathrooms, square_feet, year_built, description, created_at, updated_at, version`

// targets are the scan destinations of propertyColumns.
func (p *PropertyView) targets() []any {
	return []any{&p.ID, &p.Name, &p.Address, &p.City, &p.State, &p.ZipCode, &p.OwnerID,
		&p.PropertyType, &p.Status, &p.Bedrooms, &p.Bathrooms, &p.SquareFeet, &p.YearBuilt,
		&p.Description, &p.CreatedAt, &p.UpdatedAt, &p.Version}
}

func scanProperty(row pgx.CollectableRow) (PropertyView, error) {
	var p PropertyView
	err := row.Scan(p.targets()...)
	return p, err
}

// Property returns one property the viewer may see, or domain.ErrNotFound.
func (q *Queries) Property(ctx context.Context, v Viewer, id uuid.UUID) (PropertyView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+propertyColumns+` FROM properties
		WHERE id = $1 AND ($2 OR owner_id = $3)`, id, seesAll(v), v.UserID)
	return collectOne(rows, err, scanProperty, "read property")
}

// PropertyFilter narrows a property list; empty fields do not filter.
type PropertyFilter struct {
	Status, City, State, PropertyType string
	OwnerID                           *uuid.UUID
	Cursor                            string
	Limit                             int
}

// Properties lists the properties the viewer may see, oldest first.
func (q *Queries) Properties(ctx context.Context, v Viewer, f PropertyFilter) (Page[PropertyView], error) {
	l := newList("($1 OR owner_id = $2)", seesAll(v), v.UserID)
	if f.Status != "" {
		l.and("status = %s", f.Status)
	}
	if f.City != "" {
		l.and("city = %s", f.City)
	}
	if f.State != "" {
		l.and("state = %s", f.State)
	}
	if f.PropertyType != "" {
		l.and("property_type = %s", f.PropertyType)
	}
	if f.OwnerID != nil {
		l.and("owner_id = %s", *f.OwnerID)
	}
	return listPage(ctx, q, l, `SELECT `+propertyColumns+` FROM properties`, byCreated(""), f.Cursor, f.Limit, scanProperty,
		func(p PropertyView) (time.Time, uuid.UUID) { return time.Time(p.CreatedAt), p.ID }, "list properties")
}

// pageOf makes a page of items read with LIMIT limit+1: the extra row, if any,
// says another page follows. A limit of 0 means every row, in one page.
func pageOf[T any](items []T, limit int, cursorOf func(T) *string) Page[T] {
	page := Page[T]{Items: items}
	if limit > 0 && len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = cursorOf(items[limit-1])
	}
	if page.Items == nil {
		page.Items = []T{}
	}
	return page
}

// UserView is a users row, without its password hash.
type UserView struct {
	ID            uuid.UUID  `json:"id"`
	Email         string     `json:"email"`
	FirstName     *string    `json:"first_name"`
	LastName      *string    `json:"last_name"`
	Role          string     `json:"role"`
	Phone         *string    `json:"phone"`
	LastLogin     *Timestamp `json:"last_login"`
	IsActive      bool       `json:"is_active"`
	EmailVerified bool       `json:"email_verified"`
	CreatedAt     Timestamp  `json:"created_at"`
	UpdatedAt     Timestamp  `json:"updated_at"`
	Version       int64      `json:"version"`
}

// Authenticated is the session behind a bearer token.
type Authenticated struct {
	SessionID uuid.UUID
	UserID    uuid.UUID
	Role      domain.Role
}

// Authenticate finds the live session of an active user with this token hash, or
// returns domain.ErrUnauthenticated. It runs before anyone is known, so it reads
// as the system: the token, 256 random bits that only its holder knows, is the
// credential, and the lookup answers nothing but the session it names.
func (q *Queries) Authenticate(ctx context.Context, tokenHash string) (Authenticated, error) {
	var a Authenticated
	var role string
	err := q.pool.QueryRow(AsSystem(ctx), `SELECT s.id, s.user_id, u.role FROM user_sessions s
		JOIN users u ON u.id = s.user_id
		WHERE s.token = $1 AND s.revoked_at IS NULL AND s.expires_at > (now() AT TIME ZONE 'UTC')
		  AND coalesce(u.is_active, FALSE)`, tokenHash).Scan(&a.SessionID, &a.UserID, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return Authenticated{}, domain.ErrUnauthenticated
	}
	if err != nil {
		return Authenticated{}, fmt.Errorf("authenticate: %w", err)
	}
	a.Role = domain.ParseRole(role)
	return a, nil
}

// Ping checks that the read model's database answers.
func (q *Queries) Ping(ctx context.Context) error { return q.dbase.Ping(ctx) }

// TenantLeasesFrom reports whether a lease on a property of owner names the
// tenant as a party (any lease status; a removed party too: domain.TenantAccess).
// Commands ask it to decide on access, so it reads the facts as the system,
// whoever the request's viewer is.
func (q *Queries) TenantLeasesFrom(ctx context.Context, tenantID, ownerID uuid.UUID) (bool, error) {
	var found bool
	err := q.pool.QueryRow(AsSystem(ctx), `SELECT EXISTS (SELECT 1 FROM lease_tenants lt JOIN leases l ON l.id = lt.lease_id
		JOIN properties p ON p.id = l.property_id WHERE lt.tenant_id = $1 AND p.owner_id = $2)`, tenantID, ownerID).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("read tenant leases: %w", err)
	}
	return found, nil
}

// sqlArgs collects query arguments; add returns the placeholder of the one added.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// Money renders a NUMERIC amount as a decimal string with two places ("1250.00").
type Money struct{ decimal.Decimal }

func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.StringFixed(2) + `"`), nil }

// visibleProperties is the SQL condition "property p is visible to the viewer",
// with $1 = sees everything and $2 = the viewer's user id.
const visibleProperty = `($1 OR p.owner_id = $2)`
