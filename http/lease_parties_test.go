package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// leasePartiesDoc is a lease's id, primary tenant and parties as a client reads them.
type leasePartiesDoc struct {
	ID        string `json:"id"`
	TenantID  string `json:"tenant_id"`
	UpdatedAt string `json:"updated_at"`
	Version   int64  `json:"version"`
	Tenants   []struct {
		ID      string `json:"id"`
		Primary bool   `json:"primary"`
	} `json:"tenants"`
}

// parties renders the parties as "id" or "id*" for the primary, in order.
func (l leasePartiesDoc) parties() []string {
	out := []string{}
	for _, t := range l.Tenants {
		s := t.ID
		if t.Primary {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func primary(id uuid.UUID) string { return id.String() + "*" }

// MustLeaseParties decodes a lease answer of status want.
func MustLeaseParties(tb testing.TB, resp *http.Response, want int) leasePartiesDoc {
	tb.Helper()
	MustStatus(tb, resp, want)
	var l leasePartiesDoc
	MustDecode(tb, resp, &l)
	return l
}

func (s *stack) MustGetLeaseParties(tb testing.TB, token, path string) leasePartiesDoc {
	tb.Helper()
	return MustLeaseParties(tb, s.Do(tb, token, http.MethodGet, path, nil, nil), http.StatusOK)
}

func TestSignLeaseJointly(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	co, third := s.MustTenantFixture(t, a.userID), s.MustTenantFixture(t, a.userID)

	body := leaseBody(a.property, a.tenant, map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, co, third}})
	l := MustLeaseParties(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, nil), http.StatusCreated)
	want := []string{primary(a.tenant), co.String(), third.String()}
	if got := l.parties(); !slices.Equal(got, want) || l.TenantID != a.tenant.String() {
		t.Errorf("signed: tenant_id %s, tenants %v; want tenant_id %s (the first named), tenants %v", l.TenantID, got, a.tenant, want)
	}
	if got := s.MustGetLeaseParties(t, a.token, "/api/v1/leases/"+l.ID).parties(); !slices.Equal(got, want) {
		t.Errorf("GET: tenants %v, want %v", got, want)
	}

	// Lists: a co-tenant finds the lease by tenant_id, as the primary does.
	for _, tenant := range []uuid.UUID{a.tenant, co} {
		resp := s.Do(t, a.token, http.MethodGet, "/api/v1/leases?tenant_id="+tenant.String(), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var page struct{ Items []leasePartiesDoc }
		MustDecode(t, resp, &page)
		if len(page.Items) != 1 || page.Items[0].ID != l.ID || !slices.Equal(page.Items[0].parties(), want) {
			t.Errorf("GET /leases?tenant_id=%s = %+v, want the lease with its parties", tenant, page.Items)
		}
	}

	// The seed's "Active Leases for Property": the primary's columns, and the parties.
	resp := s.Do(t, a.token, http.MethodGet, "/api/v1/properties/"+a.property.String()+"/active-leases?as_of=2030-06-01", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var active struct {
		Items []struct {
			leasePartiesDoc
			FirstName string `json:"first_name"`
			Email     string `json:"email"`
		}
	}
	MustDecode(t, resp, &active)
	if len(active.Items) != 1 || active.Items[0].TenantID != a.tenant.String() || !slices.Equal(active.Items[0].parties(), want) ||
		active.Items[0].Email == "" {
		t.Errorf("active leases = %+v, want the lease with its primary's contact and its parties %v", active.Items, want)
	}

	t.Run("a repeat with the same id and tenants answers the lease again", func(t *testing.T) {
		id := uuid.New()
		body := leaseBody(s.MustProperty(t, a.token), a.tenant, map[string]any{"id": id, "tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, co}})
		MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, nil), http.StatusCreated)
		MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, nil), http.StatusOK)
		body["tenant_ids"] = []uuid.UUID{co, a.tenant}
		MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, nil), http.StatusConflict)
	})
}

func TestSignLeaseJointlyRefusals(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	co := s.MustTenantFixture(t, a.userID)
	free := s.MustProperty(t, a.token)
	jointly := func(overrides map[string]any) map[string]any {
		return leaseBody(free, a.tenant, overrides)
	}
	many := make([]uuid.UUID, domain.MaxLeaseParties+1)
	for i := range many {
		many[i] = uuid.New()
	}
	cases := []struct {
		name   string
		body   any
		fields map[string]string // field -> code
	}{
		{"tenant_id and tenant_ids", jointly(map[string]any{"tenant_ids": []uuid.UUID{a.tenant, co}}),
			map[string]string{"tenant_ids": domain.CodeMismatch}},
		{"neither", jointly(map[string]any{"tenant_id": nil}), map[string]string{"tenant_id": domain.CodeRequired}},
		{"an empty list", jointly(map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{}}), map[string]string{"tenant_ids": domain.CodeRequired}},
		{"a tenant twice", jointly(map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, co, a.tenant}}),
			map[string]string{"tenant_ids[2]": domain.CodeInvalid}},
		{"no such co-tenant", jointly(map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, uuid.New()}}),
			map[string]string{"tenant_ids[1]": domain.CodeNotFound}},
		{"another owner's co-tenant", jointly(map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, b.tenant}}),
			map[string]string{"tenant_ids[1]": domain.CodeNotFound}},
		{"a nil co-tenant", jointly(map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, uuid.Nil}}),
			map[string]string{"tenant_ids[1]": domain.CodeRequired}},
		{"too many tenants", jointly(map[string]any{"tenant_id": nil, "tenant_ids": many}), map[string]string{"tenant_ids": domain.CodeTooLong}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			p := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", c.body, nil), http.StatusUnprocessableEntity)
			if got := p.codes(); len(got) != len(c.fields) {
				t.Errorf("errors = %v, want %v", got, c.fields)
			}
			for field, code := range c.fields {
				if got := p.codes()[field]; got != code {
					t.Errorf("errors[%s].code = %q, want %q (all: %v)", field, got, code, p.codes())
				}
			}
			s.MustNoLeaseWrites(t, before, c.name)
		})
	}
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", jointly(map[string]any{"tenant_ids": "x", "tenant_id": nil}), nil),
		http.StatusBadRequest)
}

func TestLeaseTenantsAddAndRemove(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	co, third := s.MustTenantFixture(t, a.userID), s.MustTenantFixture(t, a.userID)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, nil))
	path := "/api/v1/leases/" + l.ID + "/tenants"

	added := MustLeaseParties(t, s.Do(t, a.token, http.MethodPost, path, map[string]any{"tenant_id": co}, nil), http.StatusOK)
	if got, want := added.parties(), []string{primary(a.tenant), co.String()}; !slices.Equal(got, want) || added.Version != 2 {
		t.Errorf("after adding: tenants %v version %d, want %v version 2", got, added.Version, want)
	}
	if got := s.MustCountEvents(t, "LeaseTenantAdded"); got != 1 {
		t.Errorf("LeaseTenantAdded events = %d, want 1", got)
	}
	// The audit row of the addition records the parties before and after.
	resp := s.Do(t, a.token, http.MethodGet, "/api/v1/audit-logs?entity_type=lease&action=LeaseTenantAdded&entity_id="+l.ID, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var audit struct {
		Items []struct {
			OldValues map[string]json.RawMessage `json:"old_values"`
			NewValues map[string]json.RawMessage `json:"new_values"`
		}
	}
	MustDecode(t, resp, &audit)
	wantOld := `[{"id":"` + a.tenant.String() + `","primary":true}]`
	wantNew := `[{"id":"` + a.tenant.String() + `","primary":true},{"id":"` + co.String() + `","primary":false}]`
	if len(audit.Items) != 1 || string(audit.Items[0].OldValues["tenants"]) != wantOld || string(audit.Items[0].NewValues["tenants"]) != wantNew {
		t.Errorf("audit rows = %+v, want one with tenants %s -> %s", audit.Items, wantOld, wantNew)
	}

	// A new party made primary at once; then the former primary leaves.
	made := MustLeaseParties(t, s.Do(t, a.token, http.MethodPost, path, map[string]any{"tenant_id": third, "primary": true}, nil), http.StatusOK)
	if got, want := made.parties(), []string{primary(third), a.tenant.String(), co.String()}; !slices.Equal(got, want) || made.TenantID != third.String() {
		t.Errorf("after making a new party primary: tenant_id %s, tenants %v; want %s, %v", made.TenantID, got, third, want)
	}
	asOf := made.UpdatedAt
	removed := MustLeaseParties(t, s.Do(t, a.token, http.MethodDelete, path+"/"+a.tenant.String(), nil, nil), http.StatusOK)
	if got, want := removed.parties(), []string{primary(third), co.String()}; !slices.Equal(got, want) {
		t.Errorf("after removing the former primary: tenants %v, want %v", got, want)
	}
	// As it stood before the removal, rebuilt from its events.
	then := s.MustGetLeaseParties(t, a.token, "/api/v1/leases/"+l.ID+"?as_of="+url.QueryEscape(asOf))
	if got, want := then.parties(), []string{primary(third), a.tenant.String(), co.String()}; !slices.Equal(got, want) {
		t.Errorf("as of %s: tenants %v, want %v", asOf, got, want)
	}
	// An existing party made primary.
	again := MustLeaseParties(t, s.Do(t, a.token, http.MethodPost, path, map[string]any{"tenant_id": co, "primary": true}, nil), http.StatusOK)
	if got, want := again.parties(), []string{primary(co), third.String()}; !slices.Equal(got, want) {
		t.Errorf("after making a co-tenant primary: tenants %v, want %v", got, want)
	}
	// A removed party may join again.
	back := MustLeaseParties(t, s.Do(t, a.token, http.MethodPost, path, map[string]any{"tenant_id": a.tenant}, nil), http.StatusOK)
	if got, want := back.parties(), []string{primary(co), third.String(), a.tenant.String()}; !slices.Equal(got, want) {
		t.Errorf("after adding a removed party again: tenants %v, want %v", got, want)
	}
	for event, want := range map[string]int{"LeaseTenantAdded": 3, "LeasePrimaryTenantChanged": 2, "LeaseTenantRemoved": 1} {
		if got := s.MustCountEvents(t, event); got != want {
			t.Errorf("%s events = %d, want %d", event, got, want)
		}
	}
}

func TestLeaseTenantsRefusals(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	co := s.MustTenantFixture(t, a.userID)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{a.tenant, co}}))
	ended := s.MustSignLease(t, a.token, leaseBody(s.MustProperty(t, a.token), a.tenant, nil))
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+ended.ID+"/terminate", map[string]any{"effective_date": "2030-06-01"}, nil), http.StatusOK)
	bLease := s.MustSignLease(t, b.token, leaseBody(b.property, b.tenant, nil))
	path := "/api/v1/leases/" + l.ID + "/tenants"

	cases := []struct {
		name        string
		token       string
		method, url string
		body        any
		header      map[string]string
		want        int
		wantType    string
		fields      map[string]string
	}{
		{"the primary, while another party remains", a.token, http.MethodDelete, path + "/" + a.tenant.String(), nil, nil,
			http.StatusConflict, problemBase + "conflict/primary-tenant-removal", nil},
		{"a tenant that is no party", a.token, http.MethodDelete, path + "/" + b.tenant.String(), nil, nil, http.StatusNotFound, typeNotFound, nil},
		{"a party path that is no UUID", a.token, http.MethodDelete, path + "/42", nil, nil, http.StatusNotFound, typeNotFound, nil},
		{"a party added again", a.token, http.MethodPost, path, map[string]any{"tenant_id": co}, nil,
			http.StatusConflict, problemBase + "conflict/already-lease-party", nil},
		{"the primary made primary", a.token, http.MethodPost, path, map[string]any{"tenant_id": a.tenant, "primary": true}, nil,
			http.StatusConflict, problemBase + "conflict/already-lease-party", nil},
		{"no such tenant", a.token, http.MethodPost, path, map[string]any{"tenant_id": uuid.New()}, nil,
			http.StatusUnprocessableEntity, typeValidation, map[string]string{"tenant_id": domain.CodeNotFound}},
		{"another owner's tenant", a.token, http.MethodPost, path, map[string]any{"tenant_id": b.tenant}, nil,
			http.StatusUnprocessableEntity, typeValidation, map[string]string{"tenant_id": domain.CodeNotFound}},
		{"no tenant_id", a.token, http.MethodPost, path, map[string]any{}, nil,
			http.StatusUnprocessableEntity, typeValidation, map[string]string{"tenant_id": domain.CodeRequired}},
		{"an unknown field", a.token, http.MethodPost, path, map[string]any{"tenant": co}, nil, http.StatusBadRequest, typeBadRequest, nil},
		{"a terminated lease", a.token, http.MethodPost, "/api/v1/leases/" + ended.ID + "/tenants", map[string]any{"tenant_id": co}, nil,
			http.StatusConflict, problemBase + "conflict/lease-not-active", nil},
		{"removing from a terminated lease", a.token, http.MethodDelete, "/api/v1/leases/" + ended.ID + "/tenants/" + a.tenant.String(), nil, nil,
			http.StatusConflict, problemBase + "conflict/lease-not-active", nil},
		{"another owner's lease", a.token, http.MethodPost, "/api/v1/leases/" + bLease.ID + "/tenants", map[string]any{"tenant_id": a.tenant}, nil,
			http.StatusNotFound, typeNotFound, nil},
		{"removing from another owner's lease", a.token, http.MethodDelete, "/api/v1/leases/" + bLease.ID + "/tenants/" + b.tenant.String(), nil, nil,
			http.StatusNotFound, typeNotFound, nil},
		{"a stale If-Match", a.token, http.MethodPost, path, map[string]any{"tenant_id": s.MustTenantFixture(t, a.userID)}, map[string]string{"If-Match": `"2"`},
			http.StatusPreconditionFailed, problemBase + "precondition-failed", nil},
		{"no token", "", http.MethodDelete, path + "/" + co.String(), nil, nil, http.StatusUnauthorized, typeUnauthorized, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			p := MustProblem(t, s.Do(t, c.token, c.method, c.url, c.body, c.header), c.want)
			if p.Type != c.wantType {
				t.Errorf("type = %q, want %q", p.Type, c.wantType)
			}
			for field, code := range c.fields {
				if got := p.codes()[field]; got != code {
					t.Errorf("errors[%s].code = %q, want %q (all: %v)", field, got, code, p.codes())
				}
			}
			s.MustNoLeaseWrites(t, before, c.name)
		})
	}
	if got, want := s.MustGetLeaseParties(t, a.token, "/api/v1/leases/"+l.ID).parties(), []string{primary(a.tenant), co.String()}; !slices.Equal(got, want) {
		t.Errorf("after the refusals: tenants %v, want %v", got, want)
	}
}

// A second party across owners: a manager signs a lease of B's property that
// B's tenant and a tenant A registered hold jointly. B sees A's tenant at
// contact level, as it sees a primary tenant of another owner (API.md, Roles);
// an unrelated user does not see it; A still sees it in full.
func TestLeasePartyVisibleAcrossOwners(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	_, manager := s.MustUser(t, domain.RoleManager)
	_, stranger := s.MustUser(t, domain.RoleUser)
	aTenant := s.MustTenantFixture(t, a.userID)
	tenantPath := "/api/v1/tenants/" + aTenant.String()
	MustProblem(t, s.Do(t, b.token, http.MethodGet, tenantPath, nil, nil), http.StatusNotFound)

	l := MustLeaseParties(t, s.Do(t, manager, http.MethodPost, "/api/v1/leases",
		leaseBody(b.property, b.tenant, map[string]any{"tenant_id": nil, "tenant_ids": []uuid.UUID{b.tenant, aTenant}}), nil), http.StatusCreated)
	if got, want := s.MustGetLeaseParties(t, b.token, "/api/v1/leases/"+l.ID).parties(), []string{primary(b.tenant), aTenant.String()}; !slices.Equal(got, want) {
		t.Errorf("B reads its lease's parties %v, want %v", got, want)
	}

	read := func(token string) map[string]json.RawMessage {
		resp := s.Do(t, token, http.MethodGet, tenantPath, nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var m map[string]json.RawMessage
		MustDecode(t, resp, &m)
		return m
	}
	contact := read(b.token)
	for _, personal := range []string{"ssn_last_four", "date_of_birth", "credit_score", "income", "background_check_status", "registered_by"} {
		if _, ok := contact[personal]; ok {
			t.Errorf("B reads the co-tenant's %s: %s", personal, contact[personal])
		}
	}
	if _, ok := contact["email"]; !ok {
		t.Errorf("B reads no email of its lease's co-tenant: %v", contact)
	}
	if _, ok := read(a.token)["registered_by"]; !ok {
		t.Error("A no longer reads its tenant in full")
	}
	MustProblem(t, s.Do(t, stranger, http.MethodGet, tenantPath, nil, nil), http.StatusNotFound)
	// Contact level is read-only, and names no tenant on B's own leases.
	MustProblem(t, s.Do(t, b.token, http.MethodPatch, tenantPath, map[string]any{"phone": "1"}, nil), http.StatusForbidden)
	MustProblem(t, s.Do(t, b.token, http.MethodPost, "/api/v1/leases/"+l.ID+"/tenants", map[string]any{"tenant_id": aTenant, "primary": true}, nil),
		http.StatusUnprocessableEntity)

	// Removed, the party stays visible to B: the lease named it (as an ended lease does).
	MustStatus(t, s.Do(t, manager, http.MethodDelete, "/api/v1/leases/"+l.ID+"/tenants/"+aTenant.String(), nil, nil), http.StatusOK)
	read(b.token)
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM lease_tenants WHERE lease_id = $1`, l.ID).Scan(&n); err != nil || n != 2 {
		t.Errorf("lease_tenants rows of the lease = %d (%v), want 2: a removed party keeps its row", n, err)
	}
}
