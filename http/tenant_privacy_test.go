package http

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections"
)

// privateTenant is a tenant registered, screened and renamed through the API,
// whose every personal value is distinctive: finding one anywhere is a finding.
type privateTenant struct {
	id     string
	body   map[string]any // the registration
	values []string       // every personal value it ever had, as text
	// clear are forms of the values that carry no context of their own (four
	// digits, a score), searched with their JSON key around them.
	clear []string
}

// MustPrivateTenant registers a tenant as token (header, such as an
// Idempotency-Key, goes with every request), records a screening and changes its
// last name.
func (s *stack) MustPrivateTenant(tb testing.TB, token string, header map[string]string) privateTenant {
	tb.Helper()
	tag := strings.ReplaceAll(uuid.NewString()[:8], "-", "")
	p := privateTenant{body: map[string]any{
		"id": uuid.NewString(), "first_name": "Zephyrine" + tag, "last_name": "Quillfeather" + tag,
		"email": "zq-" + tag + "@example.org", "phone": "+1 555 01" + tag[:4], "ssn_last_four": "8437",
		"date_of_birth": "1961-07-23", "credit_score": 731, "income": "87654.32", "background_check_status": "cleared-" + tag,
	}}
	p.id = p.body["id"].(string)
	p.values = []string{"Zephyrine" + tag, "Quillfeather" + tag, "Marchbanks" + tag, "zq-" + tag + "@example.org",
		"+1 555 01" + tag[:4], "1961-07-23", "87654.32", "cleared-" + tag, "revisited-" + tag}
	p.clear = []string{`"ssn_last_four":"8437"`, `"ssn_last_four": "8437"`, `"credit_score":731`, `"credit_score": 731`,
		`"credit_score":745`, `"credit_score": 745`}
	with := func(key string) map[string]string {
		h := map[string]string{}
		for k, v := range header {
			h[k] = v + key
		}
		return h
	}
	MustStatus(tb, s.Do(tb, token, http.MethodPost, "/api/v1/tenants", p.body, with("-register")), http.StatusCreated)
	MustStatus(tb, s.Do(tb, token, http.MethodPost, "/api/v1/tenants/"+p.id+"/screening",
		map[string]any{"credit_score": 745, "background_check_status": "revisited-" + tag}, with("-screening")), http.StatusOK)
	MustStatus(tb, s.Do(tb, token, http.MethodPatch, "/api/v1/tenants/"+p.id,
		map[string]any{"last_name": "Marchbanks" + tag}, nil), http.StatusOK)
	return p
}

// MustNotFind fails if text holds any of the tenant's personal values.
func (p privateTenant) MustNotFind(tb testing.TB, where, text string) {
	tb.Helper()
	for _, v := range append(slices.Clone(p.values), p.clear...) {
		if strings.Contains(text, v) {
			i := strings.Index(text, v)
			tb.Errorf("%s holds %q: …%s…", where, v, text[max(0, i-120):min(len(text), i+len(v)+120)])
		}
	}
}

// MustEventsText is every event's payload and metadata, as stored.
func (s *stack) MustEventsText(tb testing.TB) string {
	tb.Helper()
	var text string
	if err := s.pool.QueryRow(context.Background(),
		`SELECT coalesce(string_agg(payload::text || ' ' || metadata::text, E'\n' ORDER BY position), '') FROM events`).Scan(&text); err != nil {
		tb.Fatal(err)
	}
	return text
}

// The events table never holds a tenant's personal value in clear; the read
// model holds the names in clear (the seed's indexes and queries need them) and
// ssn_last_four sealed; the API opens everything for a caller who may see the
// tenant, now and as of the past; the history shows the sealed form.
func TestTenantPersonalDataIsEncryptedAtRest(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustPrivateTenant(t, token, nil)
	tag := strings.TrimPrefix(p.values[0], "Zephyrine")

	s.MustNotFind(t, p)
	got, _ := s.MustGetTenant(t, token, p.id)
	want := tenantDoc{ID: p.id, FirstName: p.values[0], LastName: p.values[2], Email: p.values[3], Phone: privacyPtr(p.values[4]),
		SSNLastFour: privacyPtr("8437"), DateOfBirth: privacyPtr("1961-07-23"), CreditScore: privacyPtr(745), Income: privacyPtr("87654.32"),
		BackgroundCheckStatus: privacyPtr("revisited-" + tag), RegisteredBy: got.RegisteredBy, CreatedAt: got.CreatedAt,
		UpdatedAt: got.UpdatedAt, Version: 3}
	if d := diffTenant(got, want); d != "" {
		t.Errorf("GET the tenant: %s", d)
	}
	page := s.MustListTenants(t, token, "email="+url.QueryEscape(p.values[3]))
	if len(page.Items) != 1 || page.Items[0].SSNLastFour == nil || *page.Items[0].SSNLastFour != "8437" {
		t.Errorf("GET /tenants?email= = %+v, want the tenant with its ssn_last_four opened", page.Items)
	}

	var first, ssn string
	if err := s.pool.QueryRow(context.Background(), `SELECT first_name, ssn_last_four FROM tenants WHERE id = $1`, p.id).
		Scan(&first, &ssn); err != nil {
		t.Fatal(err)
	}
	if first != p.values[0] || !strings.HasPrefix(ssn, "v1:") || strings.Contains(ssn, "8437") {
		t.Errorf("tenants row: first_name %q, ssn_last_four %q; want the name in clear and the ssn sealed", first, ssn)
	}

	resp := s.Do(t, token, http.MethodGet, "/api/v1/tenants/"+p.id+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	history := MustBody(t, resp)
	p.MustNotFind(t, "the history", history)
	if !strings.Contains(history, `"contact.first_name":"v1:`) && !strings.Contains(history, `"contact.first_name": "v1:`) {
		t.Errorf("history = %s, want the sealed contact.first_name", history)
	}

	t.Run("as of the registration", func(t *testing.T) {
		var at time.Time
		if err := s.pool.QueryRow(context.Background(), `SELECT recorded_at FROM events WHERE stream_id = $1 AND version = 1`,
			"tenant-"+p.id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		resp := s.Do(t, token, http.MethodGet, "/api/v1/tenants/"+p.id+"?as_of="+at.UTC().Format(time.RFC3339Nano), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var then tenantDoc
		MustDecode(t, resp, &then)
		if then.LastName != p.values[1] || then.SSNLastFour == nil || *then.SSNLastFour != "8437" ||
			then.CreditScore == nil || *then.CreditScore != 731 || then.Version != 1 {
			t.Errorf("as of the registration: %+v, want last name %s, ssn 8437, credit 731, version 1", then, p.values[1])
		}
	})
}

// MustNotFind fails if the events table holds one of p's values in clear.
func (s *stack) MustNotFind(tb testing.TB, p privateTenant) {
	tb.Helper()
	p.MustNotFind(tb, "the events table", s.MustEventsText(tb))
}

// MustKeyRows counts the tenant's rows in tenant_keys.
func (s *stack) MustKeyRows(tb testing.TB, id string) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1`, id).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Erasure: an admin or the user who registered the tenant may erase it; others
// who may see it (a manager, an owner whose property it leases) get 403, the rest
// the usual 404 or 401, and none of them writes anything. The answer is the erased tenant; the key is gone; the
// tenant takes no change any more; its leases and transactions stay; its audit
// rows lose every personal value; erasing again changes nothing.
func TestEraseTenant(t *testing.T) {
	s := MustStack(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	_, manager := s.MustUser(t, domain.RoleManager)
	ownerA, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	_, tokenC := s.MustUser(t, domain.RoleUser)
	p := s.MustPrivateTenant(t, tokenA, nil)
	property := s.MustProperty(t, tokenA)
	lease := s.MustLeaseFixture(t, property, uuid.MustParse(p.id), domain.NewDate(2026, 1, 1), domain.NewDate(2026, 12, 31), "1250.00")
	// The tenant also leases one of C's properties: C sees it, but did not register it.
	s.MustLeaseFixture(t, s.MustProperty(t, tokenC), uuid.MustParse(p.id), domain.NewDate(2026, 1, 1), domain.NewDate(2026, 12, 31), "900.00")
	path := "/api/v1/tenants/" + p.id + "/erase"

	before := s.MustTenantWrites(t)
	for _, c := range []struct {
		name, token string
		header      map[string]string
		want        int
	}{
		{"anonymous", "", nil, http.StatusUnauthorized},
		{"another owner", tokenB, nil, http.StatusNotFound},
		{"an owner whose property it leases", tokenC, nil, http.StatusForbidden},
		{"a manager", manager, nil, http.StatusForbidden},
		{"a manager with the right If-Match", manager, map[string]string{"If-Match": `"3"`}, http.StatusForbidden},
		{"a stale If-Match", tokenA, map[string]string{"If-Match": `"2"`}, http.StatusPreconditionFailed},
		{"an unknown tenant", admin, nil, http.StatusNotFound},
		{"a body that is not JSON", tokenA, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType},
	} {
		target := path
		var body any
		if c.name == "an unknown tenant" {
			target = "/api/v1/tenants/" + uuid.NewString() + "/erase"
		}
		if c.name == "a body that is not JSON" {
			body = "erase please"
		}
		MustProblem(t, s.Do(t, c.token, http.MethodPost, target, body, c.header), c.want)
		s.MustNoTenantWrite(t, before, c.name)
	}
	if got := s.MustKeyRows(t, p.id); got != 1 {
		t.Fatalf("the tenant has %d keys after the refusals, want 1", got)
	}

	resp := s.Do(t, tokenA, http.MethodPost, path, nil, map[string]string{"If-Match": `"3"`, "Idempotency-Key": "erase-1"})
	MustStatus(t, resp, http.StatusOK)
	var erased tenantDoc
	MustDecode(t, resp, &erased)
	want := tenantDoc{ID: p.id, FirstName: "erased", LastName: "erased", Email: "erased@invalid",
		RegisteredBy: privacyPtr(ownerA.String()), CreatedAt: erased.CreatedAt, UpdatedAt: erased.UpdatedAt, Version: 4}
	if d := diffTenant(erased, want); d != "" {
		t.Errorf("erase answer: %s", d)
	}
	if got := resp.Header.Get("ETag"); got != `"4"` {
		t.Errorf("ETag = %s, want \"4\"", got)
	}
	if got := s.MustKeyRows(t, p.id); got != 0 {
		t.Errorf("the tenant has %d keys after erasure, want 0", got)
	}
	replay := s.Do(t, tokenA, http.MethodPost, path, nil, map[string]string{"If-Match": `"3"`, "Idempotency-Key": "erase-1"})
	MustStatus(t, replay, http.StatusOK)
	if replay.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("repeating the erasure's Idempotency-Key was not replayed")
	}

	after := s.MustTenantWrites(t)
	again := s.Do(t, admin, http.MethodPost, path, nil, nil)
	MustStatus(t, again, http.StatusOK)
	var second tenantDoc
	MustDecode(t, again, &second)
	if second.Version != 4 || second.FirstName != "erased" {
		t.Errorf("erasing again = %+v, want the erased tenant at version 4", second)
	}
	s.MustNoTenantWrite(t, after, "erasing again")

	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"change the contact", http.MethodPatch, "/api/v1/tenants/" + p.id, map[string]any{"first_name": "Back"}},
		{"record a screening", http.MethodPost, "/api/v1/tenants/" + p.id + "/screening", map[string]any{"credit_score": 700}},
		{"register the id again", http.MethodPost, "/api/v1/tenants", p.body},
	} {
		MustProblem(t, s.Do(t, tokenA, c.method, c.path, c.body, nil), http.StatusConflict)
		s.MustNoTenantWrite(t, after, c.name)
		if got := s.MustKeyRows(t, p.id); got != 0 {
			t.Errorf("%s: the tenant has %d keys, want 0", c.name, got)
		}
	}

	got, _ := s.MustGetTenant(t, tokenA, p.id)
	if d := diffTenant(got, want); d != "" {
		t.Errorf("GET after erasure: %s", d)
	}
	resp = s.Do(t, tokenA, http.MethodGet, "/api/v1/leases/"+lease.String(), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var l struct {
		TenantID   string `json:"tenant_id"`
		RentAmount string `json:"rent_amount"`
	}
	MustDecode(t, resp, &l)
	if l.TenantID != p.id || l.RentAmount != "1250.00" {
		t.Errorf("the lease after erasure: %+v, want it intact", l)
	}

	resp = s.Do(t, admin, http.MethodGet, "/api/v1/audit-logs?entity_type=tenant&entity_id="+p.id, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	audit := MustBody(t, resp)
	p.MustNotFind(t, "the tenant's audit rows", audit)
	if strings.Count(audit, `"action":"Tenant`)+strings.Count(audit, `"action": "Tenant`) != 4 {
		t.Errorf("audit rows = %s, want the 4 tenant events", audit)
	}
	for _, key := range []string{"first_name", "ssn_last_four", "income"} {
		if strings.Contains(audit, `"`+key+`"`) {
			t.Errorf("audit rows still name %s: %s", key, audit)
		}
	}

	t.Run("as of before the erasure", func(t *testing.T) {
		var at time.Time
		if err := s.pool.QueryRow(context.Background(), `SELECT recorded_at FROM events WHERE stream_id = $1 AND version = 3`,
			"tenant-"+p.id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		resp := s.Do(t, tokenA, http.MethodGet, "/api/v1/tenants/"+p.id+"?as_of="+at.UTC().Format(time.RFC3339Nano), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var then tenantDoc
		MustDecode(t, resp, &then)
		want := tenantDoc{ID: p.id, FirstName: "erased", LastName: "erased", Email: "erased@invalid",
			RegisteredBy: privacyPtr(ownerA.String()), CreatedAt: then.CreatedAt, UpdatedAt: then.UpdatedAt, Version: 3}
		if d := diffTenant(then, want); d != "" {
			t.Errorf("as of version 3, after the erasure: %s", d)
		}
	})

	t.Run("admins erase any tenant, managers none", func(t *testing.T) {
		other := s.MustPrivateTenant(t, tokenA, nil)
		erase := "/api/v1/tenants/" + other.id + "/erase"
		before := s.MustTenantWrites(t)
		MustProblem(t, s.Do(t, manager, http.MethodPost, erase, nil, nil), http.StatusForbidden)
		s.MustNoTenantWrite(t, before, "a manager's erasure")
		MustStatus(t, s.Do(t, admin, http.MethodPost, erase, nil, nil), http.StatusOK)
		if got, _ := s.MustGetTenant(t, tokenA, other.id); got.FirstName != "erased" || got.SSNLastFour != nil {
			t.Errorf("after erasure: %+v, want erased", got)
		}
	})
}

// pgDump finds a pg_dump: beside the server binaries the tests use.
func pgDump(tb testing.TB) string {
	tb.Helper()
	var candidates []string
	if dir := os.Getenv("ASSETANCHOR_PG_BIN"); dir != "" {
		candidates = append(candidates, filepath.Join(dir, "pg_dump"))
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	slices.Sort(found)
	slices.Reverse(found) // the newest first: it dumps older servers too
	candidates = append(candidates, found...)
	if p, err := exec.LookPath("pg_dump"); err == nil {
		candidates = append(candidates, p)
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	tb.Fatal("no pg_dump found (install PostgreSQL's client binaries or set ASSETANCHOR_PG_BIN)")
	return ""
}

// MustDump is a plain-text pg_dump of the whole test database.
func (s *stack) MustDump(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(pgDump(tb), "--no-owner", "--dbname", s.pool.Config().ConnString())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		tb.Fatalf("pg_dump: %v: %s", err, errOut.String())
	}
	if out.Len() < 1000 || !strings.Contains(out.String(), "COPY public.events") {
		tb.Fatalf("pg_dump wrote %d bytes without the events table: %s", out.Len(), errOut.String())
	}
	return out.String()
}

// After an erasure, a dump of the whole database holds none of the tenant's
// personal values: not the events (sealed, key shredded), not the read model,
// not the audit log, not the stored Idempotency-Key answers. Before it, the dump
// does hold them (so the search can find them). A rebuild of the read model
// without the key gives the same rows.
func TestErasureLeavesNoPersonalValueInTheDatabase(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustPrivateTenant(t, token, map[string]string{"Idempotency-Key": "privacy"})
	property := s.MustProperty(t, token)
	s.MustLeaseFixture(t, property, uuid.MustParse(p.id), domain.NewDate(2026, 1, 1), domain.NewDate(2026, 12, 31), "1250.00")
	page := s.MustListTenants(t, token, "email="+url.QueryEscape(p.values[3]))
	if len(page.Items) != 1 {
		t.Fatalf("list by email found %d tenants, want 1", len(page.Items))
	}

	dump := s.MustDump(t)
	for _, v := range []string{p.values[0], p.values[2], p.values[3]} {
		if !strings.Contains(dump, v) {
			t.Fatalf("the dump before erasure lacks %q: the search below could not find anything", v)
		}
	}
	var answers int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE body IS NOT NULL`).Scan(&answers); err != nil {
		t.Fatal(err)
	}
	if answers != 2 {
		t.Fatalf("%d stored answers before erasure, want 2 (registration and screening)", answers)
	}

	MustStatus(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants/"+p.id+"/erase", nil, nil), http.StatusOK)
	dump = s.MustDump(t)
	p.MustNotFind(t, "the dump after erasure", dump)
	rows := 0
	for _, line := range strings.Split(dump, "\n") {
		if strings.HasPrefix(line, p.id+"\t") {
			rows++
			if !strings.HasPrefix(line, p.id+"\terased\terased\terased@invalid\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t") {
				t.Errorf("the tenant's row in the dump: %s", line)
			}
		}
	}
	if rows != 1 {
		t.Errorf("the dump has %d rows keyed by the tenant's id, want its one tenants row", rows)
	}

	res, err := projections.Verify(context.Background(), s.pool, projections.RebuildOptions{Keyring: s.keyring})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() {
		t.Errorf("a rebuild without the erased tenant's key differs from the live read model: %+v", res.Differences)
	}
	if _, err := projections.Rebuild(context.Background(), s.pool, projections.RebuildOptions{Keyring: s.keyring}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MustGetTenant(t, token, p.id); got.FirstName != "erased" || got.Email != "erased@invalid" || got.Version != 4 {
		t.Errorf("after a rebuild: %+v, want the erased tenant at version 4", got)
	}
	p.MustNotFind(t, "the dump after the rebuild", s.MustDump(t))
}

func privacyPtr[T any](v T) *T { return &v }

// TestErasureDeletesTheTenantsFiles: a tenant's documents are personal data that
// key deletion cannot reach, so its erasure deletes them, bytes included unless
// another document holds the same ones; the erased tenant takes no new files.
func TestErasureDeletesTheTenantsFiles(t *testing.T) {
	s := MustStack(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	_, token := s.MustUser(t, domain.RoleUser)
	p := s.MustPrivateTenant(t, token, nil)
	tenant := uuid.MustParse(p.id)
	passport, payslip := pdf("passport of "+p.id), pdf("payslip of "+p.id)
	onlyHers := s.MustUploadDocument(t, token, "tenant", tenant, "passport.pdf", passport, docField("is_confidential", "true"))
	shared := s.MustUploadDocument(t, token, "tenant", tenant, "payslip.pdf", payslip)
	// The same bytes are also filed with a property: they stay for it.
	kept := s.MustUploadDocument(t, token, "property", s.MustProperty(t, token), "payslip.pdf", payslip)

	MustStatus(t, s.Do(t, token, http.MethodPost, "/api/v1/tenants/"+p.id+"/erase", nil, nil), http.StatusOK)

	if got := s.MustListDocuments(t, admin, "entity_type=tenant&entity_id="+p.id).Items; len(got) != 0 {
		t.Errorf("the erased tenant still has %d documents", len(got))
	}
	for _, d := range []documentBody{onlyHers, shared} {
		MustProblem(t, s.Do(t, admin, http.MethodGet, "/api/v1/documents/"+d.ID.String()+"/content", nil, nil), http.StatusNotFound)
	}
	files := s.MustBlobFiles(t)
	if slices.Contains(files, blobPath(sha256Hex(passport))) || !slices.Contains(files, blobPath(sha256Hex(payslip))) {
		t.Errorf("stored files = %v, want the payslip's bytes (still filed with the property) and not the passport's", files)
	}
	if _, body := s.MustDocumentContent(t, token, kept.ID); !bytes.Equal(body, payslip) {
		t.Errorf("the property's copy reads %q, want the payslip", body)
	}
	history := s.Do(t, admin, http.MethodGet, "/api/v1/documents/"+onlyHers.ID.String()+"/history", nil, nil)
	MustStatus(t, history, http.StatusOK)
	var h struct {
		Items []struct {
			Type string `json:"type"`
		} `json:"items"`
	}
	MustDecode(t, history, &h)
	if n := len(h.Items); n == 0 || h.Items[n-1].Type != "DocumentDeleted" {
		t.Errorf("the passport's history = %+v, want it to end with DocumentDeleted", h.Items)
	}

	before := s.MustEventCount(t)
	MustProblem(t, s.Upload(t, token, docField("entity_type", "tenant"), docField("entity_id", p.id),
		docFile("lease.pdf", pdf("new"))), http.StatusConflict)
	if after := s.MustEventCount(t); after != before {
		t.Errorf("a refused upload appended %d events", after-before)
	}
	// Erasing again deletes nothing more and still answers the erased tenant.
	MustStatus(t, s.Do(t, admin, http.MethodPost, "/api/v1/tenants/"+p.id+"/erase", nil, nil), http.StatusOK)
	if after := s.MustEventCount(t); after != before {
		t.Errorf("erasing again appended %d events", after-before)
	}
}
