package readmodel

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// matrixWorld is a read model built from facts that the test also hands to the
// domain's rule (domain/visibility.go), so that every cell's expected answer
// comes from the rule, not from a hand-written table.
type matrixWorld struct {
	actors     []matrixActor
	properties map[uuid.UUID]*uuid.UUID // id -> owner
	tenants    map[uuid.UUID]uuid.UUID  // id -> registered by
	leases     map[uuid.UUID][2]uuid.UUID
	parties    map[uuid.UUID][]matrixParty // lease -> every lease_tenants row
	charges    map[uuid.UUID]uuid.UUID     // id -> lease
	payments   map[uuid.UUID]uuid.UUID     // id -> lease
	accounts   map[uuid.UUID]bool          // leases with a lease_accounts row
	requests   map[uuid.UUID][2]*uuid.UUID
	documents  map[uuid.UUID]matrixDocument
	sessions   map[uuid.UUID]uuid.UUID // id -> user
	audits     map[uuid.UUID][2]any    // id -> entity type, entity id
	names      map[uuid.UUID]string
}

// matrixParty is a lease_tenants row.
type matrixParty struct {
	tenant  uuid.UUID
	removed bool
}

// partyCell is the id of a lease's party in the matrix's cells.
func partyCell(lease, tenant uuid.UUID) uuid.UUID { return uuid.NewSHA1(lease, tenant[:]) }

type matrixActor struct {
	name string
	v    domain.Viewer
}

type matrixDocument struct {
	entityType   string
	entity       uuid.UUID
	confidential bool
}

// MustMatrixWorld writes the world as the connecting role (like a projector):
// owners A and B, a tenant A registered on an active lease of B's property and
// another on an ended one, two more of A's tenants on that active lease of B's as
// a co-tenant and as a removed party, a tenant the admin registered on a lease of A's, a
// worker assigned one of B's requests, an unrelated user, documents of every
// kind of entity (confidential and not), every account's sessions, and one
// audit row for every entity.
func MustMatrixWorld(tb testing.TB, pool *pgxpool.Pool) *matrixWorld {
	tb.Helper()
	ctx := context.Background()
	w := &matrixWorld{
		properties: map[uuid.UUID]*uuid.UUID{}, tenants: map[uuid.UUID]uuid.UUID{}, leases: map[uuid.UUID][2]uuid.UUID{},
		parties: map[uuid.UUID][]matrixParty{},
		charges: map[uuid.UUID]uuid.UUID{}, payments: map[uuid.UUID]uuid.UUID{}, accounts: map[uuid.UUID]bool{}, requests: map[uuid.UUID][2]*uuid.UUID{}, documents: map[uuid.UUID]matrixDocument{},
		sessions: map[uuid.UUID]uuid.UUID{}, audits: map[uuid.UUID][2]any{}, names: map[uuid.UUID]string{},
	}
	exec := func(sql string, args ...any) {
		tb.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
	named := func(name string) uuid.UUID {
		id := uuid.New()
		w.names[id] = name
		return id
	}
	user := func(name string, role domain.Role) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'x', $3)`, id, id.String()+"@example.com", role.String())
		w.actors = append(w.actors, matrixActor{name, domain.Viewer{UserID: id, Role: role}})
		s := named("session of " + name)
		exec(`INSERT INTO user_sessions (id, user_id, token, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')`, s, id, s.String())
		w.sessions[s] = id
		return id
	}
	admin := user("admin", domain.RoleAdmin)
	user("manager", domain.RoleManager)
	a, b := user("owner A", domain.RoleUser), user("owner B", domain.RoleUser)
	worker := user("worker", domain.RoleUser)
	user("unrelated user", domain.RoleUser)

	property := func(name string, owner *uuid.UUID) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO properties (id, name, address, city, state, zip_code, owner_id, property_type)
			VALUES ($1, $2, '1 Main St', 'Springfield', 'IL', '62701', $3, 'residential')`, id, name, owner)
		w.properties[id] = owner
		return id
	}
	pa, pb := property("A's property", &a), property("B's property", &b)
	pn := property("nobody's property", nil)

	tenant := func(name string, by uuid.UUID) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO tenants (id, first_name, last_name, email, phone, ssn_last_four, credit_score, income, registered_by)
			VALUES ($1, 'T', $2, $3, '555', 'sealed', 700, 50000, $4)`, id, name, id.String()+"@example.com", by)
		w.tenants[id] = by
		return id
	}
	tActive := tenant("A's tenant, active lease on B's", a)
	tEnded := tenant("A's tenant, ended lease on B's", a)
	tA := tenant("A's tenant, no lease", a)
	tB := tenant("B's tenant", b)
	tAdmin := tenant("admin's tenant, lease on A's", admin)
	tCo := tenant("A's tenant, co-tenant on B's active lease", a)
	tRemoved := tenant("A's tenant, removed from B's active lease", a)

	party := func(lease, tenant uuid.UUID, primary, removed bool) {
		exec(`INSERT INTO lease_tenants (lease_id, tenant_id, is_primary, added_at, removed_at, position)
			VALUES ($1, $2, $3, now(), CASE WHEN $4 THEN now() END, $5)`, lease, tenant, primary, removed, len(w.parties[lease])+1)
		w.parties[lease] = append(w.parties[lease], matrixParty{tenant, removed})
		w.names[partyCell(lease, tenant)] = w.names[tenant] + " as a party of " + w.names[lease]
	}
	lease := func(name string, property, tenant uuid.UUID, status string) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO leases (id, property_id, tenant_id, start_date, end_date, rent_amount, security_deposit, status)
			VALUES ($1, $2, $3, '2025-01-01', '2025-12-31', 1000, 0, $4)`, id, property, tenant, status)
		w.leases[id] = [2]uuid.UUID{property, tenant}
		party(id, tenant, true, false)
		return id
	}
	lbActive := lease("B's active lease of A's tenant", pb, tActive, "active")
	lbEnded := lease("B's ended lease of A's tenant", pb, tEnded, "terminated")
	la := lease("A's lease of the admin's tenant", pa, tAdmin, "active")
	party(lbActive, tCo, false, false)
	party(lbActive, tRemoved, false, true)

	charge := func(name string, lease uuid.UUID) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO transactions (id, lease_id, amount, type) VALUES ($1, $2, 1000, 'rent')`, id, lease)
		w.charges[id] = lease
		return id
	}
	xb, xa := charge("charge of B's active lease", lbActive), charge("charge of A's lease", la)
	charge("charge of B's ended lease", lbEnded)

	// Each lease's money: a payment and its account (credit and deposit).
	for _, l := range []uuid.UUID{lbActive, lbEnded, la} {
		id := named("payment of " + w.names[l])
		exec(`INSERT INTO payments (id, lease_id, amount, payment_date, payment_method, applies_to, status, allocations,
				credit, created_at, updated_at, version)
			VALUES ($1, $2, 10, '2025-01-02', 'cash', 'charges', 'applied', '[]', 10, now(), now(), 1)`, id, l)
		w.payments[id] = l
		exec(`INSERT INTO lease_accounts (lease_id, credit, deposit_received, deposit_held, deposit_forfeited,
				deposit_refunded, deductions, entries, created_at, updated_at)
			VALUES ($1, 10, 0, 0, 0, 0, '[]', '[]', now(), now())`, l)
		w.accounts[l] = true
	}

	request := func(name string, property, tenant uuid.UUID, assignee *uuid.UUID) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO maintenance_requests (id, property_id, tenant_id, title, description, assigned_to)
			VALUES ($1, $2, $3, $4, 'd', $5)`, id, property, tenant, name, assignee)
		w.requests[id] = [2]*uuid.UUID{w.properties[property], assignee}
		return id
	}
	mb := request("B's request, assigned to the worker", pb, tActive, &worker)
	ma := request("A's request", pa, tAdmin, nil)
	mn := request("request of nobody's property", pn, tB, nil)

	document := func(name, entityType string, entity uuid.UUID, confidential bool, uploader uuid.UUID) uuid.UUID {
		id := named(name)
		exec(`INSERT INTO documents (id, name, file_path, file_type, file_size, entity_type, entity_id, uploader_id, is_confidential)
			VALUES ($1, $2, 'f', 'text/plain', 1, $3, $4, $5, $6)`, id, name, entityType, entity, uploader, confidential)
		w.documents[id] = matrixDocument{entityType, entity, confidential}
		return id
	}
	var documents []uuid.UUID
	for _, d := range []struct {
		name, entityType string
		entity           uuid.UUID
		uploader         uuid.UUID
	}{
		{"A's tenant's (active lease on B's)", "tenant", tActive, a},
		{"A's tenant's (ended lease on B's)", "tenant", tEnded, a},
		{"B's tenant's", "tenant", tB, b},
		{"the admin's tenant's", "tenant", tAdmin, admin},
		{"A's property's", "property", pa, a},
		{"B's active lease's", "lease", lbActive, b},
		{"B's charge's", "transaction", xb, b},
		{"A's charge's", "transaction", xa, a},
	} {
		documents = append(documents, document("document of "+d.name, d.entityType, d.entity, false, d.uploader),
			document("confidential document of "+d.name, d.entityType, d.entity, true, d.uploader))
	}

	audit := func(entityType string, entity uuid.UUID) {
		id := named("audit of " + w.names[entity])
		exec(`INSERT INTO audit_logs (id, action, entity_type, entity_id) VALUES ($1, 'Something', $2, $3)`, id, entityType, entity)
		w.audits[id] = [2]any{entityType, entity}
	}
	for _, ids := range []struct {
		entityType string
		ids        []uuid.UUID
	}{
		{"property", []uuid.UUID{pa, pb, pn}}, {"tenant", []uuid.UUID{tActive, tEnded, tA, tB, tAdmin}},
		{"lease", []uuid.UUID{lbActive, lbEnded, la}}, {"transaction", []uuid.UUID{xa, xb}},
		{"maintenance_request", []uuid.UUID{mb, ma, mn}}, {"document", documents},
	} {
		for _, id := range ids.ids {
			audit(ids.entityType, id)
		}
	}
	for _, actor := range w.actors {
		audit("user", actor.v.UserID)
	}
	for s := range w.sessions {
		audit("session", s)
	}
	return w
}

// The domain's rule, fed with the world's facts.

func (w *matrixWorld) propertyAccess(v domain.Viewer, id uuid.UUID) domain.Access {
	return domain.PropertyAccess(v, w.properties[id])
}

func (w *matrixWorld) leaseAccess(v domain.Viewer, id uuid.UUID) domain.Access {
	return w.propertyAccess(v, w.leases[id][0])
}

func (w *matrixWorld) tenantAccess(v domain.Viewer, id uuid.UUID) domain.Access {
	leased := false // a lease on one of v's properties names it as a party, now or before
	for lease, l := range w.leases {
		for _, p := range w.parties[lease] {
			if owner := w.properties[l[0]]; p.tenant == id && owner != nil && *owner == v.UserID {
				leased = true
			}
		}
	}
	return domain.TenantAccess(v, w.tenants[id], leased)
}

func (w *matrixWorld) requestAccess(v domain.Viewer, id uuid.UUID) domain.Access {
	return domain.MaintenanceAccess(v, w.requests[id][0], w.requests[id][1])
}

func (w *matrixWorld) entityAccess(v domain.Viewer, entityType string, id uuid.UUID) domain.Access {
	switch entityType {
	case "property":
		return w.propertyAccess(v, id)
	case "lease":
		return w.leaseAccess(v, id)
	case "transaction":
		return w.leaseAccess(v, w.charges[id])
	case "tenant":
		return w.tenantAccess(v, id)
	case "maintenance_request":
		return w.requestAccess(v, id)
	}
	panic("no rule for " + entityType)
}

func (w *matrixWorld) documentAccess(v domain.Viewer, id uuid.UUID) domain.Access {
	d := w.documents[id]
	return domain.DocumentAccess(v, w.entityAccess(v, d.entityType, d.entity), d.confidential)
}

func (w *matrixWorld) auditVisible(v domain.Viewer, id uuid.UUID) bool {
	entityType, entity := w.audits[id][0].(string), w.audits[id][1].(uuid.UUID)
	switch entityType {
	case "user":
		return domain.SeesAccountTrail(v, entity)
	case "session":
		return domain.SeesAccountTrail(v, w.sessions[entity])
	case "document":
		return w.documentAccess(v, entity).Sees()
	}
	return domain.SeesAudit(w.entityAccess(v, entityType, entity))
}

// cell is one actor's answer for one entity, from the rule or from the database.
type cell struct {
	table string
	id    uuid.UUID
}

// The Go rule and the database agree on every cell: for each actor and every
// row of every read-model table, what the rule says (visible, and for tenants at
// which level) is what the actor gets, both through the projections' viewer path
// (the queries the API runs, under row-level security) and from raw SELECTs
// under the policies alone (with app_tenant_contacts() for tenants' contacts).
func TestVisibilityMatrix(t *testing.T) {
	pool := dbtest.MustPool(t)
	w := MustMatrixWorld(t, pool)
	q := NewQueries(pool)
	ctx := context.Background()
	for _, actor := range w.actors {
		t.Run(actor.name, func(t *testing.T) {
			v := actor.v
			want := map[cell]string{}
			for id := range w.properties {
				want[cell{"properties", id}] = w.propertyAccess(v, id).String()
			}
			for id := range w.tenants {
				want[cell{"tenants", id}] = w.tenantAccess(v, id).String()
			}
			for id := range w.leases {
				want[cell{"leases", id}] = w.leaseAccess(v, id).String()
				for _, p := range w.parties[id] {
					if !p.removed { // the API shows a lease's parties now
						want[cell{"lease_tenants", partyCell(id, p.tenant)}] = w.leaseAccess(v, id).String()
					}
				}
			}
			for id, lease := range w.charges {
				want[cell{"transactions", id}] = w.leaseAccess(v, lease).String()
			}
			for id, lease := range w.payments {
				want[cell{"payments", id}] = w.leaseAccess(v, lease).String()
			}
			for lease := range w.accounts {
				want[cell{"lease_accounts", lease}] = w.leaseAccess(v, lease).String()
			}
			for id := range w.requests {
				want[cell{"maintenance_requests", id}] = seen(w.requestAccess(v, id).Sees())
			}
			for id := range w.documents {
				want[cell{"documents", id}] = seen(w.documentAccess(v, id).Sees())
			}
			for id := range w.audits {
				want[cell{"audit_logs", id}] = seen(w.auditVisible(v, id))
			}
			for _, other := range w.actors {
				want[cell{"users", other.v.UserID}] = seen(domain.ReadsUser(v, other.v.UserID))
			}
			for id, owner := range w.sessions {
				want[cell{"user_sessions", id}] = seen(domain.SeesAccountTrail(v, owner))
			}

			got := w.mustViewerPath(t, q, WithViewer(ctx, v), v)
			raw := w.mustRawPolicies(t, pool, v)
			for c, rule := range want {
				if c.table == "users" || c.table == "user_sessions" {
					// No list of the API's reads them for every viewer: the policies answer.
					got[c] = raw[c]
				}
				if g := or(got[c], "none"); g != rule {
					t.Errorf("%s, %s %q: the rule says %s, the viewer's query answers %s", actor.name, c.table, w.names[c.id], rule, g)
				}
				if r := or(raw[c], "none"); r != rule {
					t.Errorf("%s, %s %q: the rule says %s, row-level security answers %s", actor.name, c.table, w.names[c.id], rule, r)
				}
			}
		})
	}
}

func seen(b bool) string {
	if b {
		return domain.AccessFull.String()
	}
	return domain.AccessNone.String()
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

// mustViewerPath answers every cell through the queries the API runs.
func (w *matrixWorld) mustViewerPath(tb testing.TB, q *Queries, ctx context.Context, v Viewer) map[cell]string {
	tb.Helper()
	got := map[cell]string{}
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	full := domain.AccessFull.String()
	properties, err := q.Properties(ctx, v, PropertyFilter{Limit: 200})
	must(err)
	for _, p := range properties.Items {
		got[cell{"properties", p.ID}] = full
	}
	tenants, err := q.Tenants(ctx, v, TenantFilter{Limit: 200})
	must(err)
	for _, tn := range tenants.Items {
		got[cell{"tenants", tn.ID}] = tn.Access.String()
		if tn.Access == domain.AccessContact && (tn.SSNLastFour != nil || tn.CreditScore != nil || tn.Income != nil || tn.RegisteredBy != nil) {
			tb.Errorf("%s read at contact level carries personal fields: %+v", w.names[tn.ID], tn)
		}
	}
	for id := range w.tenants {
		// One by one, as GET /tenants/{id} reads them, the same answers.
		tn, err := q.Tenant(ctx, v, id)
		one := tn.Access.String()
		if errors.Is(err, domain.ErrNotFound) {
			one = "none"
		} else {
			must(err)
		}
		if list := or(got[cell{"tenants", id}], "none"); one != list {
			tb.Errorf("%s: Tenant answers %s, Tenants %s", w.names[id], one, list)
		}
	}
	leases, err := q.Leases(ctx, v, LeaseFilter{Limit: 200})
	must(err)
	for _, l := range leases.Items {
		got[cell{"leases", l.ID}] = full
		for _, p := range l.Tenants {
			got[cell{"lease_tenants", partyCell(l.ID, p.ID)}] = full
		}
	}
	charges, err := q.Transactions(ctx, v, TransactionFilter{Limit: 200})
	must(err)
	for _, x := range charges.Items {
		got[cell{"transactions", x.ID}] = full
	}
	for lease := range w.leases {
		payments, err := q.LeasePayments(ctx, v, lease, "", 200)
		if errors.Is(err, domain.ErrNotFound) {
			continue
		}
		must(err)
		for _, p := range payments.Items {
			got[cell{"payments", p.ID}] = full
		}
		for _, p := range payments.Items {
			one, err := q.Payment(ctx, v, p.ID)
			must(err)
			got[cell{"payments", one.ID}] = full
		}
		if w.accounts[lease] {
			d, err := q.Deposit(ctx, v, lease)
			must(err)
			if d.Credit.StringFixed(2) == "10.00" { // the account's row was read, not defaulted
				got[cell{"lease_accounts", lease}] = full
			}
		}
	}
	requests, err := q.MaintenanceRequests(ctx, v, MaintenanceFilter{Limit: 200})
	must(err)
	for _, m := range requests.Items {
		got[cell{"maintenance_requests", m.ID}] = full
	}
	documents, err := q.Documents(ctx, v, DocumentFilter{Limit: 200})
	must(err)
	for _, d := range documents.Items {
		got[cell{"documents", d.ID}] = full
	}
	audit, err := q.AuditLogs(ctx, v, AuditFilter{Limit: 200})
	must(err)
	if len(audit.Items) == 200 {
		tb.Fatal("the audit list was cut at its limit")
	}
	for _, a := range audit.Items {
		got[cell{"audit_logs", a.ID}] = full
	}
	return got
}

// mustRawPolicies answers every cell with "SELECT id FROM table" as the reader
// under v's settings: the policies alone. A tenant seen in the tenants table is
// seen in full; one that only app_tenant_contacts() returns, at contact level.
func (w *matrixWorld) mustRawPolicies(tb testing.TB, pool *pgxpool.Pool, v Viewer) map[cell]string {
	tb.Helper()
	ctx := context.Background()
	got := map[cell]string{}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('role', $1, true), set_config('app.user_id', $2, true),
			set_config('app.role', $3, true)`, ReaderRole, v.UserID.String(), v.Role.String()); err != nil {
			return err
		}
		ids := func(sql string) ([]uuid.UUID, error) {
			rows, err := tx.Query(ctx, sql)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", sql, err)
			}
			return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		}
		contacts, err := ids(`SELECT id FROM app_tenant_contacts()`)
		if err != nil {
			return err
		}
		for _, id := range contacts {
			got[cell{"tenants", id}] = domain.AccessContact.String()
		}
		rows, err := tx.Query(ctx, `SELECT lease_id, tenant_id FROM lease_tenants WHERE removed_at IS NULL`)
		if err != nil {
			return err
		}
		var lease, tenant uuid.UUID
		if _, err := pgx.ForEachRow(rows, []any{&lease, &tenant}, func() error {
			got[cell{"lease_tenants", partyCell(lease, tenant)}] = domain.AccessFull.String()
			return nil
		}); err != nil {
			return err
		}
		for _, table := range []string{"users", "user_sessions", "properties", "tenants", "leases", "transactions",
			"documents", "maintenance_requests", "audit_logs", "payments", "lease_accounts"} {
			key := "id"
			if table == "lease_accounts" {
				key = "lease_id"
			}
			rows, err := ids(`SELECT ` + key + ` FROM ` + table)
			if err != nil {
				return err
			}
			for _, id := range rows {
				if table == "tenants" && got[cell{table, id}] == "" {
					tb.Errorf("%s: the tenants policy shows it, app_tenant_contacts() does not", w.names[id])
				}
				got[cell{table, id}] = domain.AccessFull.String()
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return got
}
