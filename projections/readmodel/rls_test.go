package readmodel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// rlsTables are the read-model tables under row-level security.
var rlsTables = []string{"users", "user_sessions", "properties", "tenants", "leases", "transactions",
	"documents", "maintenance_requests", "audit_logs"}

// rlsWorld is a read model with two owners whose portfolios touch only where the
// role table says they may: a tenant that A registered leases B's property, and a
// tenant an admin registered leases A's. A worker is assigned one of B's requests.
type rlsWorld struct {
	admin, manager, a, b, worker uuid.UUID
	// names maps every row id to a readable name for failure messages.
	names map[uuid.UUID]string
	// rows lists each table's row ids by name.
	rows map[string]map[string]uuid.UUID
}

func (w *rlsWorld) id(table, name string) uuid.UUID {
	id := uuid.New()
	if w.rows[table] == nil {
		w.rows[table] = map[string]uuid.UUID{}
	}
	w.rows[table][name] = id
	w.names[id] = name
	return id
}

// MustRLSWorld writes the rows straight into the read-model tables as the
// connecting role, which row-level security does not restrict (like a projector).
func MustRLSWorld(tb testing.TB, pool *pgxpool.Pool) *rlsWorld {
	tb.Helper()
	ctx := context.Background()
	w := &rlsWorld{names: map[uuid.UUID]string{}, rows: map[string]map[string]uuid.UUID{}}
	exec := func(sql string, args ...any) {
		tb.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
	user := func(name, role string) uuid.UUID {
		id := w.id("users", name)
		exec(`INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, 'x', $3)`, id, name+"@example.com", role)
		return id
	}
	w.admin, w.manager = user("admin", "admin"), user("manager", "manager")
	w.a, w.b, w.worker = user("A", "user"), user("B", "user"), user("worker", "user")

	session := func(name string, owner uuid.UUID) uuid.UUID {
		id := w.id("user_sessions", name)
		exec(`INSERT INTO user_sessions (id, user_id, token, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')`,
			id, owner, "hash-"+name)
		return id
	}
	sessionA, sessionB := session("session of A", w.a), session("session of B", w.b)
	session("session of admin", w.admin)
	sessionManager := session("session of manager", w.manager)

	property := func(name string, owner *uuid.UUID) uuid.UUID {
		id := w.id("properties", name)
		exec(`INSERT INTO properties (id, name, address, city, state, zip_code, owner_id, property_type)
			VALUES ($1, $2, '1 Main St', 'Springfield', 'IL', '62701', $3, 'residential')`, id, name, owner)
		return id
	}
	pa, pb := property("property of A", &w.a), property("property of B", &w.b)
	property("property of nobody", nil)

	tenant := func(name string, registeredBy uuid.UUID) uuid.UUID {
		id := w.id("tenants", name)
		exec(`INSERT INTO tenants (id, first_name, last_name, email, registered_by) VALUES ($1, 'T', $2, $3, $4)`,
			id, name, strings.ReplaceAll(name, " ", "-")+"@example.com", registeredBy)
		return id
	}
	ta, tb2 := tenant("tenant registered by A", w.a), tenant("tenant registered by B", w.b)
	tx := tenant("tenant registered by admin, leasing A's", w.admin)
	ty := tenant("tenant registered by A, leasing B's", w.a)

	lease := func(name string, property, tenant uuid.UUID) uuid.UUID {
		id := w.id("leases", name)
		exec(`INSERT INTO leases (id, property_id, tenant_id, start_date, end_date, rent_amount, security_deposit)
			VALUES ($1, $2, $3, '2025-01-01', '2025-12-31', 1000, 0)`, id, property, tenant)
		// Its party, as the projection of LeaseSigned writes it.
		exec(`INSERT INTO lease_tenants (lease_id, tenant_id, is_primary, added_at, position) VALUES ($1, $2, TRUE, now(), 1)`, id, tenant)
		return id
	}
	la, lb := lease("lease of A", pa, tx), lease("lease of B", pb, ty)

	transaction := func(name string, lease uuid.UUID) uuid.UUID {
		id := w.id("transactions", name)
		exec(`INSERT INTO transactions (id, lease_id, amount, type) VALUES ($1, $2, 1000, 'rent')`, id, lease)
		return id
	}
	xa, xb := transaction("charge of A", la), transaction("charge of B", lb)

	maintenance := func(name string, property, tenant uuid.UUID, assignee *uuid.UUID) uuid.UUID {
		id := w.id("maintenance_requests", name)
		exec(`INSERT INTO maintenance_requests (id, property_id, tenant_id, title, description, assigned_to)
			VALUES ($1, $2, $3, $4, 'd', $5)`, id, property, tenant, name, assignee)
		return id
	}
	ma, mb := maintenance("request of A", pa, ta, nil), maintenance("request of B", pb, tb2, nil)
	mw := maintenance("request of B, assigned to the worker", pb, tb2, &w.worker)

	document := func(name, entityType string, entity uuid.UUID, confidential bool) uuid.UUID {
		id := w.id("documents", name)
		exec(`INSERT INTO documents (id, name, file_path, file_type, file_size, entity_type, entity_id, is_confidential)
			VALUES ($1, $2, 'f', 'text/plain', 1, $3, $4, $5)`, id, name, entityType, entity, confidential)
		return id
	}
	dpa := document("document of A's property", "property", pa, false)
	dla := document("confidential document of A's lease", "lease", la, true)
	document("document of B's tenant", "tenant", tb2, false)
	document("document of B's charge", "transaction", xb, false)
	document("confidential document of B's property", "property", pb, true)

	audit := func(entityType string, entity uuid.UUID) {
		id := w.id("audit_logs", "audit of "+w.names[entity])
		exec(`INSERT INTO audit_logs (id, action, entity_type, entity_id) VALUES ($1, 'Something', $2, $3)`, id, entityType, entity)
	}
	for entityType, ids := range map[string][]uuid.UUID{
		"property": {pa, pb}, "lease": {la, lb}, "transaction": {xa, xb}, "tenant": {ta, tb2, tx, ty},
		"maintenance_request": {ma, mb, mw}, "document": {dpa, dla}, "user": {w.a, w.b, w.manager},
		"session": {sessionA, sessionB, sessionManager},
	} {
		for _, id := range ids {
			audit(entityType, id)
		}
	}
	return w
}

// visible names what each table shows a viewer; tables not listed show nothing.
type visible map[string][]string

// expected turns visible into row ids: all of a table's rows for "*".
func (w *rlsWorld) expected(v visible, table string) []string {
	names := v[table]
	if len(names) == 1 && names[0] == "*" {
		names = nil
		for name := range w.rows[table] {
			names = append(names, name)
		}
	}
	out := slices.Clone(names)
	sort.Strings(out)
	return out
}

// rlsSettings are the transaction settings of a raw read; empty ones are not set.
type rlsSettings struct{ userID, role string }

// MustRawSelect runs "SELECT id FROM table", with no filter of the application's,
// as the reader role under settings, in a transaction of its own, and names the
// rows it sees.
func (w *rlsWorld) MustRawSelect(tb testing.TB, pool *pgxpool.Pool, s rlsSettings, table string) []string {
	tb.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+ReaderRole); err != nil {
		tb.Fatal(err)
	}
	if s.userID != "" {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.user_id', $1, true)`, s.userID); err != nil {
			tb.Fatal(err)
		}
	}
	if s.role != "" {
		if _, err := tx.Exec(ctx, `SELECT set_config('app.role', $1, true)`, s.role); err != nil {
			tb.Fatal(err)
		}
	}
	rows, err := tx.Query(ctx, `SELECT id FROM `+table)
	if err != nil {
		tb.Fatalf("select from %s as %s: %v", table, ReaderRole, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		tb.Fatalf("select from %s as %s: %v", table, ReaderRole, err)
	}
	var names []string
	for _, id := range ids {
		name, ok := w.names[id]
		if !ok {
			name = "unknown row " + id.String()
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func TestRowLevelSecurityRawSelects(t *testing.T) {
	pool := dbtest.MustPool(t)
	w := MustRLSWorld(t, pool)
	ofA := visible{
		"users":         {"A"},
		"user_sessions": {"session of A"},
		"properties":    {"property of A"},
		// In full the tenants A registered; the one the admin registered that A's
		// lease names comes only through app_tenant_contacts() (TestVisibilityMatrix).
		"tenants":              {"tenant registered by A", "tenant registered by A, leasing B's"},
		"leases":               {"lease of A"},
		"transactions":         {"charge of A"},
		"maintenance_requests": {"request of A"},
		"documents":            {"document of A's property", "confidential document of A's lease"},
		"audit_logs": {"audit of A", "audit of session of A", "audit of property of A", "audit of lease of A",
			"audit of charge of A", "audit of tenant registered by A",
			"audit of tenant registered by A, leasing B's", "audit of request of A", "audit of document of A's property",
			"audit of confidential document of A's lease"},
	}
	ofB := visible{
		"users":                {"B"},
		"user_sessions":        {"session of B"},
		"properties":           {"property of B"},
		"tenants":              {"tenant registered by B"},
		"leases":               {"lease of B"},
		"transactions":         {"charge of B"},
		"maintenance_requests": {"request of B", "request of B, assigned to the worker"},
		"documents":            {"document of B's tenant", "document of B's charge", "confidential document of B's property"},
		"audit_logs": {"audit of B", "audit of session of B", "audit of property of B", "audit of lease of B",
			"audit of charge of B", "audit of tenant registered by B",
			"audit of request of B", "audit of request of B, assigned to the worker"},
	}
	all := visible{}
	for _, table := range rlsTables {
		all[table] = []string{"*"}
	}
	ofManager := visible{}
	for _, table := range rlsTables {
		ofManager[table] = []string{"*"}
	}
	ofManager["user_sessions"] = []string{"session of manager"} // sessions are their users' and the admins'
	ofManager["documents"] = []string{"document of A's property", "document of B's tenant", "document of B's charge"}
	ofManager["audit_logs"] = slices.DeleteFunc(slices.Collect(maps.Keys(w.rows["audit_logs"])), func(s string) bool {
		switch s {
		case "audit of confidential document of A's lease": // confidential: not the manager's to see
			return true
		case "audit of A", "audit of B", "audit of session of A", "audit of session of B": // others' accounts: the admins'
			return true
		}
		return false
	})

	cases := []struct {
		name     string
		settings rlsSettings
		want     visible
	}{
		{"owner A", rlsSettings{w.a.String(), "user"}, ofA},
		{"owner B", rlsSettings{w.b.String(), "user"}, ofB},
		{"assignee", rlsSettings{w.worker.String(), "user"}, visible{
			"users": {"worker"}, "maintenance_requests": {"request of B, assigned to the worker"},
			"audit_logs": {"audit of request of B, assigned to the worker"},
		}},
		{"admin", rlsSettings{w.admin.String(), "admin"}, all},
		{"manager", rlsSettings{w.manager.String(), "manager"}, ofManager},
		{"no settings", rlsSettings{}, visible{}},
		{"a role but no user", rlsSettings{"", "user"}, visible{}},
		{"a user but no role", rlsSettings{w.a.String(), ""}, visible{
			"users": {"A"}, "user_sessions": {"session of A"}, "properties": {"property of A"},
			"tenants": ofA["tenants"], "leases": ofA["leases"], "transactions": ofA["transactions"],
			"maintenance_requests": ofA["maintenance_requests"], "documents": {"document of A's property"},
			"audit_logs": slices.DeleteFunc(slices.Clone(ofA["audit_logs"]), func(s string) bool {
				return s == "audit of confidential document of A's lease"
			}),
		}},
		{"an unknown role", rlsSettings{w.b.String(), "superuser"}, visible{
			"users": {"B"}, "user_sessions": {"session of B"}, "properties": {"property of B"},
			"tenants": ofB["tenants"], "leases": ofB["leases"], "transactions": ofB["transactions"],
			"maintenance_requests": ofB["maintenance_requests"], "documents": {"document of B's tenant", "document of B's charge"},
			"audit_logs": ofB["audit_logs"],
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, table := range rlsTables {
				got := w.MustRawSelect(t, pool, c.settings, table)
				want := w.expected(c.want, table)
				if !slices.Equal(got, want) {
					t.Errorf("SELECT id FROM %s as %s (app.user_id %q, app.role %q):\n got  %q\n want %q",
						table, ReaderRole, c.settings.userID, c.settings.role, got, want)
				}
			}
		})
	}

	// The isolation the issue asks for, stated on its own: under A's settings no
	// table shows a row that only B may see, and the other way round.
	for _, pair := range []struct {
		viewer      string
		settings    rlsSettings
		other       visible
		viewerRows  visible
		otherViewer string
	}{
		{"A", rlsSettings{w.a.String(), "user"}, ofB, ofA, "B"},
		{"B", rlsSettings{w.b.String(), "user"}, ofA, ofB, "A"},
	} {
		for _, table := range rlsTables {
			got := w.MustRawSelect(t, pool, pair.settings, table)
			for _, name := range pair.other[table] {
				if slices.Contains(got, name) && !slices.Contains(pair.viewerRows[table], name) {
					t.Errorf("owner %s sees %s's row %q in %s", pair.viewer, pair.otherViewer, name, table)
				}
			}
		}
	}
}

// The two lines of owner isolation agree: every list query, run with only the
// application's filter (as the system, no row-level security) and with only
// row-level security (under the viewer, with a filter that lets everything
// through), returns the same rows for every kind of viewer.
func TestApplicationFiltersAgreeWithRowLevelSecurity(t *testing.T) {
	pool := dbtest.MustPool(t)
	w := MustRLSWorld(t, pool)
	q := NewQueries(pool)
	ctx := context.Background()
	ids := func(n int, id func(int) uuid.UUID) []uuid.UUID {
		out := make([]uuid.UUID, n)
		for i := range out {
			out[i] = id(i)
		}
		return out
	}
	lists := []struct {
		table string
		list  func(context.Context, Viewer) ([]uuid.UUID, error)
	}{
		{"properties", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.Properties(ctx, v, PropertyFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"tenants", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.Tenants(ctx, v, TenantFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"leases", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.Leases(ctx, v, LeaseFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"transactions", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.Transactions(ctx, v, TransactionFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"maintenance_requests", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.MaintenanceRequests(ctx, v, MaintenanceFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"documents", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.Documents(ctx, v, DocumentFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
		{"audit_logs", func(ctx context.Context, v Viewer) ([]uuid.UUID, error) {
			p, err := q.AuditLogs(ctx, v, AuditFilter{Limit: 200})
			return ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }), err
		}},
	}
	viewers := []struct {
		name string
		v    Viewer
	}{
		{"owner A", Viewer{UserID: w.a, Role: domain.RoleUser}},
		{"owner B", Viewer{UserID: w.b, Role: domain.RoleUser}},
		{"assignee", Viewer{UserID: w.worker, Role: domain.RoleUser}},
		{"manager", Viewer{UserID: w.manager, Role: domain.RoleManager}},
		{"admin", Viewer{UserID: w.admin, Role: domain.RoleAdmin}},
	}
	names := func(ids []uuid.UUID) []string {
		var out []string
		for _, id := range ids {
			out = append(out, w.names[id])
		}
		sort.Strings(out)
		return out
	}
	for _, vw := range viewers {
		for _, l := range lists {
			appOnly, err := l.list(AsSystem(ctx), vw.v)
			if err != nil {
				t.Fatalf("%s as %s, the application's filter only: %v", l.table, vw.name, err)
			}
			rlsOnly, err := l.list(WithViewer(ctx, vw.v), Viewer{UserID: vw.v.UserID, Role: domain.RoleAdmin})
			if err != nil {
				t.Fatalf("%s as %s, row-level security only: %v", l.table, vw.name, err)
			}
			if got, want := names(appOnly), names(rlsOnly); !slices.Equal(got, want) {
				t.Errorf("%s as %s:\n the application's filter shows %q\n row-level security shows    %q", l.table, vw.name, got, want)
			}
		}
	}
	// A spot check that the comparison compares something: A's confidential
	// document's audit row is A's to see and not the manager's.
	audit := func(ctx context.Context, v Viewer) []string {
		p, err := q.AuditLogs(ctx, v, AuditFilter{EntityType: "document", Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		return names(ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }))
	}
	if got, want := audit(AsSystem(ctx), viewers[0].v), []string{"audit of confidential document of A's lease", "audit of document of A's property"}; !slices.Equal(got, want) {
		t.Errorf("A's document audit rows = %q, want %q", got, want)
	}
	if got, want := audit(AsSystem(ctx), viewers[3].v), []string{"audit of document of A's property"}; !slices.Equal(got, want) {
		t.Errorf("the manager's document audit rows = %q, want %q", got, want)
	}
	// The same for accounts: a manager sees its own account's rows, not those of
	// the others' logins and sessions, which are the admins'.
	accounts := func(v Viewer) []string {
		var out []string
		for _, entityType := range []string{"user", "session"} {
			p, err := q.AuditLogs(AsSystem(ctx), v, AuditFilter{EntityType: entityType, Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, names(ids(len(p.Items), func(i int) uuid.UUID { return p.Items[i].ID }))...)
		}
		sort.Strings(out)
		return out
	}
	if got, want := accounts(viewers[3].v), []string{"audit of manager", "audit of session of manager"}; !slices.Equal(got, want) {
		t.Errorf("the manager's account audit rows = %q, want %q", got, want)
	}
	if got, want := accounts(viewers[4].v), []string{"audit of A", "audit of B", "audit of manager",
		"audit of session of A", "audit of session of B", "audit of session of manager"}; !slices.Equal(got, want) {
		t.Errorf("the admin's account audit rows = %q, want %q", got, want)
	}
}

// The reader may read the read model and nothing else, may not write, and every
// table it can read is under row-level security, which binds the reader but not
// the tables' owner (projectors and migrations).
func TestRowLevelSecurityReaderPrivileges(t *testing.T) {
	pool := dbtest.MustPool(t)
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
		  AND has_table_privilege($1, c.oid, 'SELECT')
		ORDER BY c.relname`, ReaderRole)
	if err != nil {
		t.Fatal(err)
	}
	type relation struct {
		name       string
		rls, force bool
	}
	readable, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (relation, error) {
		var r relation
		return r, row.Scan(&r.name, &r.rls, &r.force)
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range readable {
		names = append(names, r.name)
		if !r.rls {
			t.Errorf("%s may read %s, which has no row-level security: enable it and add a policy", ReaderRole, r.name)
		}
		if r.force {
			t.Errorf("%s forces row-level security: projectors (the owner) must not be subject to it", r.name)
		}
	}
	for _, table := range rlsTables {
		if !slices.Contains(names, table) {
			t.Errorf("%s may not read %s", ReaderRole, table)
		}
	}

	for _, c := range []struct{ name, sql string }{
		{"read the event store", `SELECT count(*) FROM events`},
		{"write the read model", `INSERT INTO properties (name, address, city, state, zip_code, property_type)
			VALUES ('n', 'a', 'c', 's', 'z', 'residential')`},
		{"change the read model", `UPDATE users SET role = 'admin'`},
		{"read stored idempotent answers", `SELECT count(*) FROM idempotency_keys`},
	} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL ROLE `+ReaderRole); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, c.sql)
			return err
		})
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s may %s: err = %v, want insufficient_privilege (42501)", ReaderRole, c.name, err)
		}
	}
}

// Queries run as the reader under the viewer in their context, whatever viewer
// the caller passes to the query itself: a wrong filter of the application's is
// caught by the database.
func TestQueriesRunUnderTheContextsViewer(t *testing.T) {
	pool := dbtest.MustPool(t)
	w := MustRLSWorld(t, pool)
	q := NewQueries(pool)
	ctx := context.Background()
	asA := WithViewer(ctx, Viewer{UserID: w.a, Role: domain.RoleUser})
	everything := Viewer{UserID: w.a, Role: domain.RoleAdmin} // a wrong filter: sees all

	var user, settingUser, settingRole string
	if err := q.pool.QueryRow(asA, `SELECT current_user::text, current_setting('app.user_id'),
		current_setting('app.role')`).Scan(&user, &settingUser, &settingRole); err != nil {
		t.Fatal(err)
	}
	if user != ReaderRole || settingUser != w.a.String() || settingRole != "user" {
		t.Errorf("a viewer's query runs as %q with app.user_id %q, app.role %q; want %q, %q, %q",
			user, settingUser, settingRole, ReaderRole, w.a, "user")
	}

	page, err := q.Properties(asA, everything, PropertyFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range page.Items {
		got = append(got, p.Name)
	}
	if want := []string{"property of A"}; !slices.Equal(got, want) {
		t.Errorf("Properties with an all-seeing filter under A's viewer = %q, want %q", got, want)
	}
	if _, err := q.Property(asA, everything, w.rows["properties"]["property of B"]); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("Property(B's) with an all-seeing filter under A's viewer: err = %v, want ErrNotFound", err)
	}
	audit, err := q.AuditLogs(asA, everything, AuditFilter{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 10 {
		t.Errorf("AuditLogs with an all-seeing filter under A's viewer: %d rows, want A's 10", len(audit.Items))
	}
	tenants, err := q.Tenants(asA, everything, TenantFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(tenants.Items) != 3 {
		t.Errorf("Tenants with an all-seeing filter under A's viewer: %d rows, want A's 3", len(tenants.Items))
	}
	for _, tn := range tenants.Items {
		want := domain.AccessFull
		if tn.ID == w.rows["tenants"]["tenant registered by admin, leasing A's"] {
			want = domain.AccessContact // the database withholds the rest, whatever the filter says
		}
		if tn.Access != want || (want == domain.AccessContact && tn.Version != 0) {
			t.Errorf("%s under A's viewer with an all-seeing filter: access %s, version %d; want %s", w.names[tn.ID], tn.Access, tn.Version, want)
		}
	}

	// The system reads everything, as the connecting role.
	all, err := q.Properties(AsSystem(ctx), everything, PropertyFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 3 {
		t.Errorf("Properties as the system = %d rows, want all 3", len(all.Items))
	}
	// Without a viewer nothing is read.
	if _, err := q.Properties(ctx, everything, PropertyFilter{Limit: 50}); !errors.Is(err, ErrNoViewer) {
		t.Errorf("Properties without a viewer: err = %v, want ErrNoViewer", err)
	}
	if err := q.pool.QueryRow(ctx, `SELECT 1`).Scan(new(int)); !errors.Is(err, ErrNoViewer) {
		t.Errorf("QueryRow without a viewer: err = %v, want ErrNoViewer", err)
	}
	// Authentication runs before any viewer exists.
	if _, err := q.Authenticate(ctx, "hash-session of A"); err != nil {
		t.Errorf("Authenticate without a viewer: %v", err)
	}
}

// A viewer's query runs under a statement_timeout of the time its context has
// left (less statementMargin): the server itself cancels a statement that would
// outlast the request, and the connection stays good. Without a deadline, and on
// the system's reads (projectors, operator commands), the server's setting stays.
func TestViewerQueriesStopAtTheDeadline(t *testing.T) {
	url := dbtest.MustURL(t)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // the cancelled statement's connection serves the next ones
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := NewQueries(pool)
	viewer := WithViewer(context.Background(), Viewer{UserID: uuid.New(), Role: domain.RoleUser})

	short, cancel := context.WithTimeout(viewer, 400*time.Millisecond)
	defer cancel()
	started := time.Now()
	err = q.pool.QueryRow(short, `SELECT 1 FROM pg_sleep(30)`).Scan(new(int))
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("a statement outlasting its context: err = %v, want the server's query_canceled (57014)", err)
	}
	if elapsed := time.Since(started); elapsed > 10*time.Second {
		t.Errorf("the statement ran %s, not stopped near its deadline", elapsed)
	}

	setting := func(ctx context.Context) int {
		t.Helper()
		var ms int
		if err := q.pool.QueryRow(ctx, `SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'`).Scan(&ms); err != nil {
			t.Fatal(err)
		}
		return ms
	}
	long, cancel := context.WithTimeout(viewer, time.Minute)
	defer cancel()
	if got := setting(long); got <= 50_000 || got > 60_000 {
		t.Errorf("statement_timeout with a minute left = %d ms, want just under 60000", got)
	}
	if got := setting(viewer); got != 0 {
		t.Errorf("statement_timeout without a deadline = %d ms, want the server's 0", got)
	}
	if got := setting(AsSystem(long)); got != 0 {
		t.Errorf("statement_timeout of the system's reads = %d ms, want the server's 0", got)
	}
}

// A viewer's query leaves nothing on its pooled connection, not the role nor the
// settings, and gives the connection back, however its rows were consumed.
func TestViewerQueriesReleaseTheirConnection(t *testing.T) {
	url := dbtest.MustURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // every query below shares one connection
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	w := MustRLSWorld(t, pool)
	q := NewQueries(pool)
	asA := WithViewer(ctx, Viewer{UserID: w.a, Role: domain.RoleUser})

	var owner string
	if err := q.pool.QueryRow(AsSystem(ctx), `SELECT current_user::text`).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	uses := []struct {
		name string
		use  func() error
	}{
		{"QueryRow of one row", func() error { return q.pool.QueryRow(asA, `SELECT 1`).Scan(new(int)) }},
		{"QueryRow of no row", func() error {
			err := q.pool.QueryRow(asA, `SELECT 1 FROM properties WHERE FALSE`).Scan(new(int))
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return fmt.Errorf("err = %v, want pgx.ErrNoRows", err)
		}},
		{"QueryRow of many rows", func() error {
			return q.pool.QueryRow(asA, `SELECT generate_series(1, 1000)`).Scan(new(int))
		}},
		{"rows closed early", func() error {
			rows, err := q.pool.Query(asA, `SELECT generate_series(1, 1000)`)
			if err != nil {
				return err
			}
			rows.Next()
			rows.Close()
			return rows.Err()
		}},
		{"rows read to the end without Close", func() error {
			rows, err := q.pool.Query(asA, `SELECT id FROM tenants`)
			if err != nil {
				return err
			}
			n := 0
			for rows.Next() {
				n++
			}
			if n != 2 {
				return fmt.Errorf("read %d tenants, want the 2 A sees in full", n)
			}
			return rows.Err()
		}},
		{"a failing query", func() error {
			rows, err := q.pool.Query(asA, `SELECT 1 / (count(*) - count(*)) FROM users`)
			if err == nil {
				for rows.Next() {
				}
				rows.Close()
				err = rows.Err()
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "22012" {
				return fmt.Errorf("err = %v, want division_by_zero", err)
			}
			return nil
		}},
		{"a query of a table the reader may not read", func() error {
			err := q.pool.QueryRow(asA, `SELECT count(*) FROM events`).Scan(new(int))
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
				return fmt.Errorf("err = %v, want insufficient_privilege", err)
			}
			return nil
		}},
	}
	for _, u := range uses {
		for range 3 {
			if err := u.use(); err != nil {
				t.Fatalf("%s: %v", u.name, err)
			}
		}
		if n := pool.Stat().AcquiredConns(); n != 0 {
			t.Errorf("after %s, %d connections are still held", u.name, n)
		}
		var user, setting string
		err := q.pool.QueryRow(AsSystem(ctx), `SELECT current_user::text,
			coalesce(current_setting('app.user_id', true), '')`).Scan(&user, &setting)
		if err != nil {
			t.Fatalf("after %s: the connection is not usable: %v", u.name, err)
		}
		if user != owner || setting != "" {
			t.Errorf("after %s the connection runs as %q with app.user_id %q; want %q and no setting",
				u.name, user, setting, owner)
		}
	}
}

// BenchmarkViewerQuery compares reads as a viewer (reader role and settings in
// the same pipeline, under row-level security) with the same queries as the
// system (the connecting role, no row-level security): one property, a page of
// 50 properties and a page of 50 audit rows, of an owner with 1,000 of 2,000.
func BenchmarkViewerQuery(b *testing.B) {
	pool := dbtest.MustPool(b)
	ctx := context.Background()
	owner := uuid.New()
	if _, err := pool.Exec(ctx, `INSERT INTO users (id, email, password_hash) VALUES ($1, 'o@example.com', 'x')`, owner); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO properties (name, address, city, state, zip_code, owner_id, property_type, created_at)
		SELECT 'p' || i, 'a', 'c', 's', 'z', CASE WHEN i % 2 = 0 THEN $1::uuid END, 'residential', now() - i * interval '1 second'
		FROM generate_series(1, 2000) i`, owner); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO audit_logs (action, entity_type, entity_id, created_at)
		SELECT 'PropertyRegistered', 'property', id, created_at FROM properties`); err != nil {
		b.Fatal(err)
	}
	var id uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM properties WHERE owner_id = $1 LIMIT 1`, owner).Scan(&id); err != nil {
		b.Fatal(err)
	}
	q := NewQueries(pool)
	v := Viewer{UserID: owner, Role: domain.RoleUser}
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"system", AsSystem(ctx)}, {"viewer", WithViewer(ctx, v)}} {
		b.Run("one/"+c.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := q.Property(c.ctx, v, id); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("page50/"+c.name, func(b *testing.B) {
			for b.Loop() {
				page, err := q.Properties(c.ctx, v, PropertyFilter{Limit: 50})
				if err != nil || len(page.Items) != 50 {
					b.Fatalf("page of %d, err %v", len(page.Items), err)
				}
			}
		})
		b.Run("audit50/"+c.name, func(b *testing.B) {
			for b.Loop() {
				page, err := q.AuditLogs(c.ctx, v, AuditFilter{Limit: 50})
				if err != nil || len(page.Items) != 50 {
					b.Fatalf("page of %d, err %v", len(page.Items), err)
				}
			}
		})
	}
}
