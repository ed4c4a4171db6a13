package http

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// tenantDoc is a tenant as a client reads it.
type tenantDoc struct {
	ID                    string  `json:"id"`
	FirstName             string  `json:"first_name"`
	LastName              string  `json:"last_name"`
	Email                 string  `json:"email"`
	Phone                 *string `json:"phone"`
	SSNLastFour           *string `json:"ssn_last_four"`
	DateOfBirth           *string `json:"date_of_birth"`
	CreditScore           *int    `json:"credit_score"`
	Income                *string `json:"income"`
	BackgroundCheckStatus *string `json:"background_check_status"`
	RegisteredBy          *string `json:"registered_by"`
	CreatedAt             string  `json:"created_at"`
	UpdatedAt             string  `json:"updated_at"`
	Version               int64   `json:"version"`
}

type tenantPage struct {
	Items      []tenantDoc `json:"items"`
	NextCursor *string     `json:"next_cursor"`
}

func (p tenantPage) ids() []string {
	out := make([]string, len(p.Items))
	for i, item := range p.Items {
		out[i] = item.ID
	}
	return out
}

// tenantKeys are exactly the fields of a tenant answer.
var tenantKeys = []string{
	"background_check_status", "created_at", "credit_score", "date_of_birth", "email", "first_name", "id",
	"income", "last_name", "phone", "registered_by", "ssn_last_four", "updated_at", "version",
}

// tenantBody is a valid create body (with a unique email) with overrides applied.
func tenantBody(overrides map[string]any) map[string]any {
	b := map[string]any{
		"first_name": "Ada", "last_name": "Lovelace", "email": "ada-" + uuid.NewString()[:8] + "@example.com",
	}
	maps.Copy(b, overrides)
	return b
}

// diffTenant describes how got differs from want, or returns "".
func diffTenant(got, want tenantDoc) string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) == string(w) {
		return ""
	}
	return fmt.Sprintf("got %s, want %s", g, w)
}

// MustCreateTenant posts body and expects a 201.
func (s *stack) MustCreateTenant(tb testing.TB, token string, body any) tenantDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/tenants", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var d tenantDoc
	MustDecode(tb, resp, &d)
	return d
}

// MustGetTenant reads one tenant and its ETag.
func (s *stack) MustGetTenant(tb testing.TB, token, id string) (tenantDoc, string) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/tenants/"+id, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var d tenantDoc
	MustDecode(tb, resp, &d)
	return d, resp.Header.Get("ETag")
}

// MustListTenants reads one page of GET /tenants?query.
func (s *stack) MustListTenants(tb testing.TB, token, query string) tenantPage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/tenants?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page tenantPage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("GET /tenants?%s: items is null or missing, want an array", query)
	}
	return page
}

// tenantWrites is what a tenant request could write.
type tenantWrites struct {
	counts  writeCounts
	tenants int
}

// MustTenantWrites counts the rows a tenant request could write.
func (s *stack) MustTenantWrites(tb testing.TB) tenantWrites {
	tb.Helper()
	w := tenantWrites{counts: s.MustWriteCounts(tb)}
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM tenants`).Scan(&w.tenants); err != nil {
		tb.Fatal(err)
	}
	return w
}

// MustNoTenantWrite fails when anything was written since before was taken.
func (s *stack) MustNoTenantWrite(tb testing.TB, before tenantWrites, what string) {
	tb.Helper()
	s.MustNothingWritten(tb, before.counts, what)
	if got := s.MustTenantWrites(tb).tenants; got != before.tenants {
		tb.Errorf("%s wrote tenants rows: %d, then %d", what, before.tenants, got)
	}
}

func TestCreateTenant(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)

	t.Run("every field", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		resp := s.Do(t, token, http.MethodPost, "/api/v1/tenants", map[string]any{
			"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "555-0100",
			"ssn_last_four": "1234", "date_of_birth": "1990-05-01", "credit_score": 720, "income": "50000",
			"background_check_status": "clear",
		}, nil)
		MustStatus(t, resp, http.StatusCreated)
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var got tenantDoc
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		if _, err := uuid.Parse(got.ID); err != nil {
			t.Fatalf("id %q is not a UUID", got.ID)
		}
		if got, want := resp.Header.Get("Location"), "/api/v1/tenants/"+got.ID; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		phone, ssn, dob, credit, income, check, reg := "555-0100", "1234", "1990-05-01", 720, "50000.00", "clear", userID.String()
		want := tenantDoc{
			ID: got.ID, FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", Phone: &phone,
			SSNLastFour: &ssn, DateOfBirth: &dob, CreditScore: &credit, Income: &income, BackgroundCheckStatus: &check,
			RegisteredBy: &reg, CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt, Version: 1,
		}
		if diff := diffTenant(got, want); diff != "" {
			t.Errorf("created tenant: %s", diff)
		}
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, tenantKeys) {
			t.Errorf("answer fields = %v, want %v", got, tenantKeys)
		}
		for name, ts := range map[string]string{"created_at": got.CreatedAt, "updated_at": got.UpdatedAt} {
			if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Location() != time.UTC {
				t.Errorf("%s = %q, want an RFC 3339 UTC timestamp", name, ts)
			}
		}
		after := s.MustTenantWrites(t)
		if got, want := after.counts.events-before.counts.events, 1; got != want {
			t.Errorf("events appended = %d, want %d", got, want)
		}
		if got, want := after.tenants-before.tenants, 1; got != want {
			t.Errorf("tenants rows added = %d, want %d", got, want)
		}

		// Read-your-writes: the Location answers the same representation.
		resp = s.Do(t, token, http.MethodGet, resp.Header.Get("Location"), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		read, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(read) != string(raw) {
			t.Errorf("GET Location = %s, want the create answer %s", read, raw)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("GET ETag = %s, want %s", got, want)
		}
	})

	t.Run("required fields only", func(t *testing.T) {
		got := s.MustCreateTenant(t, token, map[string]any{"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"})
		reg := userID.String()
		want := tenantDoc{
			ID: got.ID, FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com", RegisteredBy: &reg,
			CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt, Version: 1,
		}
		if diff := diffTenant(got, want); diff != "" {
			t.Errorf("created tenant: %s", diff)
		}
	})

	incomes := []struct {
		name string
		in   any
		want string
	}{
		{"income as a JSON number", 50000, "50000.00"},
		{"income as a JSON number with places", json.Number("1250.5"), "1250.50"},
		{"income as a string with two places", "99.99", "99.99"},
		{"income of zero", "0", "0.00"},
		{"income with trailing zeros beyond two places", "12.5000", "12.50"},
		{"largest NUMERIC(12,2) income", "9999999999.99", "9999999999.99"},
	}
	for _, c := range incomes {
		t.Run(c.name, func(t *testing.T) {
			got := s.MustCreateTenant(t, token, tenantBody(map[string]any{"income": c.in}))
			if got.Income == nil || *got.Income != c.want {
				t.Errorf("income = %v, want the string %q", got.Income, c.want)
			}
			read, _ := s.MustGetTenant(t, token, got.ID)
			if read.Income == nil || *read.Income != c.want {
				t.Errorf("GET income = %v, want the string %q", read.Income, c.want)
			}
		})
	}

	t.Run("an admin registers under its own name", func(t *testing.T) {
		adminID, admin := s.MustUser(t, domain.RoleAdmin)
		got := s.MustCreateTenant(t, admin, tenantBody(nil))
		if got.RegisteredBy == nil || *got.RegisteredBy != adminID.String() {
			t.Errorf("registered_by = %v, want %s", got.RegisteredBy, adminID)
		}
	})
}

func TestCreateTenantRefusals(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	valid, err := json.Marshal(tenantBody(nil))
	if err != nil {
		t.Fatal(err)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	today := time.Now().UTC().Format(time.DateOnly)

	cases := []struct {
		name       string
		body       any
		header     map[string]string
		wantStatus int
		wantFields []string
	}{
		{"ssn with a letter", tenantBody(map[string]any{"ssn_last_four": "12a4"}), nil, http.StatusUnprocessableEntity, []string{"ssn_last_four"}},
		{"ssn of three digits", tenantBody(map[string]any{"ssn_last_four": "123"}), nil, http.StatusUnprocessableEntity, []string{"ssn_last_four"}},
		{"ssn of five digits", tenantBody(map[string]any{"ssn_last_four": "12345"}), nil, http.StatusUnprocessableEntity, []string{"ssn_last_four"}},
		{"credit score 299", tenantBody(map[string]any{"credit_score": 299}), nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"credit score 851", tenantBody(map[string]any{"credit_score": 851}), nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"income -1", tenantBody(map[string]any{"income": -1}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income \"-1\"", tenantBody(map[string]any{"income": "-1"}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income 1.001", tenantBody(map[string]any{"income": json.Number("1.001")}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income \"1.001\"", tenantBody(map[string]any{"income": "1.001"}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income beyond NUMERIC(12,2)", tenantBody(map[string]any{"income": "10000000000"}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income with an exponent beyond any decimal", tenantBody(map[string]any{"income": json.Number("1e20000")}), nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"bad email", tenantBody(map[string]any{"email": "ada.example.com"}), nil, http.StatusUnprocessableEntity, []string{"email"}},
		{"email with a display name", tenantBody(map[string]any{"email": "Ada <ada@example.com>"}), nil, http.StatusUnprocessableEntity, []string{"email"}},
		{"missing names", map[string]any{"email": "ada@example.com"}, nil, http.StatusUnprocessableEntity, []string{"first_name", "last_name"}},
		{"blank first name", tenantBody(map[string]any{"first_name": "  "}), nil, http.StatusUnprocessableEntity, []string{"first_name"}},
		{"empty object", map[string]any{}, nil, http.StatusUnprocessableEntity, []string{"email", "first_name", "last_name"}},
		{"future date_of_birth", tenantBody(map[string]any{"date_of_birth": tomorrow}), nil, http.StatusUnprocessableEntity, []string{"date_of_birth"}},
		{"date_of_birth today", tenantBody(map[string]any{"date_of_birth": today}), nil, http.StatusUnprocessableEntity, []string{"date_of_birth"}},
		{"date_of_birth 1990-13-01", tenantBody(map[string]any{"date_of_birth": "1990-13-01"}), nil, http.StatusUnprocessableEntity, []string{"date_of_birth"}},
		{"date_of_birth with a time", tenantBody(map[string]any{"date_of_birth": "1990-05-01T00:00:00Z"}), nil, http.StatusUnprocessableEntity, []string{"date_of_birth"}},
		{"NUL in last name", tenantBody(map[string]any{"last_name": "Love\u0000lace"}), nil, http.StatusUnprocessableEntity, []string{"last_name"}},
		{"phone longer than its column", tenantBody(map[string]any{"phone": strings.Repeat("9", 21)}), nil, http.StatusUnprocessableEntity, []string{"phone"}},
		{"nil id", tenantBody(map[string]any{"id": uuid.Nil}), nil, http.StatusUnprocessableEntity, []string{"id"}},
		{"several bad fields at once", map[string]any{
			"first_name": "Ada", "email": "nope", "ssn_last_four": "12a4", "date_of_birth": "1990-13-01",
			"credit_score": 851, "income": "1.001",
		}, nil, http.StatusUnprocessableEntity, []string{"credit_score", "date_of_birth", "email", "income", "last_name", "ssn_last_four"}},
		{"validation refused with Idempotency-Key", tenantBody(map[string]any{"credit_score": 1}), map[string]string{"Idempotency-Key": "bad-tenant"},
			http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"unknown field", tenantBody(map[string]any{"ssn": "1234"}), nil, http.StatusBadRequest, nil},
		{"registered_by is not an input", tenantBody(map[string]any{"registered_by": uuid.New()}), nil, http.StatusBadRequest, nil},
		{"malformed JSON", `{"first_name": "Ada",`, nil, http.StatusBadRequest, nil},
		{"wrong JSON type", tenantBody(map[string]any{"credit_score": "720"}), nil, http.StatusBadRequest, nil},
		{"income not a number", tenantBody(map[string]any{"income": "lots"}), nil, http.StatusBadRequest, nil},
		{"malformed id", tenantBody(map[string]any{"id": "not-a-uuid"}), nil, http.StatusBadRequest, nil},
		{"text/plain", string(valid), map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, nil},
		{"body over 1 MiB", tenantBody(map[string]any{"background_check_status": strings.Repeat("x", 1<<20)}), nil, http.StatusRequestEntityTooLarge, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustTenantWrites(t)
			resp := s.Do(t, token, http.MethodPost, "/api/v1/tenants", c.body, c.header)
			p := MustProblem(t, resp, c.wantStatus)
			if c.wantFields != nil {
				if got := p.fields(); !slices.Equal(got, c.wantFields) {
					t.Errorf("errors[].field = %v, want %v", got, c.wantFields)
				}
				for _, e := range p.Errors {
					if e.Message == "" {
						t.Errorf("errors[] entry for %s has no message", e.Field)
					}
				}
			}
			s.MustNoTenantWrite(t, before, c.name)
		})
	}

	t.Run("no token", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		MustProblem(t, s.Do(t, "", http.MethodPost, "/api/v1/tenants", tenantBody(nil), nil), http.StatusUnauthorized)
		MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/tenants", nil, nil), http.StatusUnauthorized)
		s.MustNoTenantWrite(t, before, "unauthenticated create")
	})
}

func TestCreateTenantClientIDAndIdempotency(t *testing.T) {
	s := MustStack(t)
	_, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	id := uuid.New()
	body := tenantBody(map[string]any{"id": id, "income": "50000", "date_of_birth": "1985-02-03", "ssn_last_four": "0042"})

	resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", body, nil)
	MustStatus(t, resp, http.StatusCreated)
	var first tenantDoc
	MustDecode(t, resp, &first)
	if got, want := first.ID, id.String(); got != want {
		t.Fatalf("id = %s, want the client's %s", got, want)
	}

	t.Run("same id and body again", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", body, nil)
		MustStatus(t, resp, http.StatusOK)
		var again tenantDoc
		MustDecode(t, resp, &again)
		if diff := diffTenant(again, first); diff != "" {
			t.Errorf("repeated create: %s", diff)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		if got := resp.Header.Get("Location"); got != "" {
			t.Errorf("a repeated create answers Location %q, want none (200, not 201)", got)
		}
		s.MustNoTenantWrite(t, before, "repeated create")
	})
	t.Run("same id and body with the income written as 50000.00", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		same := maps.Clone(body)
		same["income"] = "50000.00"
		MustStatus(t, s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", same, nil), http.StatusOK)
		s.MustNoTenantWrite(t, before, "repeated create, income written otherwise")
	})
	t.Run("same id, another body", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		other := maps.Clone(body)
		other["first_name"] = "Augusta"
		if p := MustProblem(t, s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", other, nil), http.StatusConflict); p.Type != problemBase+"conflict/already-exists" {
			t.Errorf("type = %q, want conflict/already-exists", p.Type)
		}
		s.MustNoTenantWrite(t, before, "conflicting create")
	})
	t.Run("same id and body from another user", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		p := MustProblem(t, s.Do(t, tokenB, http.MethodPost, "/api/v1/tenants", body, nil), http.StatusConflict)
		if strings.Contains(p.Detail, body["email"].(string)) || strings.Contains(p.Detail, "Lovelace") {
			t.Errorf("conflict leaks the other user's tenant: %s", p.Detail)
		}
		s.MustNoTenantWrite(t, before, "another user's create")
	})
	t.Run("same id with an invalid body", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		bad := maps.Clone(body)
		bad["credit_score"] = 900
		MustProblem(t, s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", bad, nil), http.StatusUnprocessableEntity)
		s.MustNoTenantWrite(t, before, "invalid repeat")
	})
	if got, _ := s.MustGetTenant(t, tokenA, id.String()); got.FirstName != "Ada" || got.Version != 1 {
		t.Errorf("tenant is now %q version %d, want Ada version 1", got.FirstName, got.Version)
	}

	t.Run("Idempotency-Key replays", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "register-grace"}
		keyed := tenantBody(map[string]any{"first_name": "Grace"})
		resp := s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", keyed, key)
		MustStatus(t, resp, http.StatusCreated)
		want, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		firstHeader := resp.Header

		before := s.MustTenantWrites(t)
		resp = s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", keyed, key)
		MustStatus(t, resp, http.StatusCreated)
		got, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("replayed body = %s, want %s", got, want)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		for _, h := range []string{"Location", "ETag"} {
			if got, want := resp.Header.Get(h), firstHeader.Get(h); got != want {
				t.Errorf("replayed %s = %q, want %q", h, got, want)
			}
		}
		s.MustNoTenantWrite(t, before, "replay")

		before = s.MustTenantWrites(t)
		MustProblem(t, s.Do(t, tokenA, http.MethodPost, "/api/v1/tenants", tenantBody(map[string]any{"first_name": "Other"}), key),
			http.StatusUnprocessableEntity)
		s.MustNoTenantWrite(t, before, "reused key with another body")
	})
}

func TestTenantVisibility(t *testing.T) {
	s := MustStack(t)
	idA, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	_, tokenC := s.MustUser(t, domain.RoleUser)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	_, manager := s.MustUser(t, domain.RoleManager)

	tenantA := s.MustCreateTenant(t, tokenA, tenantBody(map[string]any{"last_name": "Alpha"}))
	tenantB := s.MustCreateTenant(t, tokenB, tenantBody(map[string]any{"last_name": "Bravo"}))
	leasing := s.MustCreateTenant(t, tokenA, tenantBody(map[string]any{"last_name": "Leasing", "credit_score": 700})) // A's, leases from B later
	fixture := s.MustTenantFixture(t, idA).String()                                                                   // registered by A, by fixture
	pathA := "/api/v1/tenants/" + tenantA.ID

	refusals := []struct {
		name, method, path string
		body               any
		header             map[string]string
	}{
		{"GET", http.MethodGet, pathA, nil, nil},
		{"PATCH", http.MethodPatch, pathA, map[string]any{"email": "stolen@example.com"}, nil},
		{"PATCH with the right If-Match", http.MethodPatch, pathA, map[string]any{"email": "stolen@example.com"}, map[string]string{"If-Match": `"1"`}},
		{"PATCH with an invalid body", http.MethodPatch, pathA, map[string]any{"email": "nope"}, nil},
		{"screening", http.MethodPost, pathA + "/screening", map[string]any{"credit_score": 700}, nil},
		{"screening with an invalid body", http.MethodPost, pathA + "/screening", map[string]any{"credit_score": 1}, nil},
		{"screening with Idempotency-Key", http.MethodPost, pathA + "/screening", map[string]any{"credit_score": 700}, map[string]string{"Idempotency-Key": "steal"}},
		{"history", http.MethodGet, pathA + "/history", nil, nil},
	}
	for _, c := range refusals {
		t.Run("owner B: "+c.name+" of A's tenant is 404", func(t *testing.T) {
			before := s.MustTenantWrites(t)
			p := MustProblem(t, s.Do(t, tokenB, c.method, c.path, c.body, c.header), http.StatusNotFound)
			if strings.Contains(p.Detail, tenantA.Email) || strings.Contains(p.Detail, "Alpha") {
				t.Errorf("404 leaks the tenant: %s", p.Detail)
			}
			s.MustNoTenantWrite(t, before, c.name)
		})
	}
	nowhere := "/api/v1/tenants/" + uuid.NewString()
	for _, c := range []struct{ method, path string }{
		{http.MethodGet, nowhere}, {http.MethodPatch, nowhere}, {http.MethodPost, nowhere + "/screening"},
		{http.MethodGet, nowhere + "/history"}, {http.MethodGet, "/api/v1/tenants/not-a-uuid"},
		{http.MethodPatch, "/api/v1/tenants/not-a-uuid"}, {http.MethodPost, "/api/v1/tenants/not-a-uuid/screening"},
	} {
		t.Run("no such tenant: "+c.method+" "+c.path, func(t *testing.T) {
			var body any
			switch c.method {
			case http.MethodPatch:
				body = map[string]any{"first_name": "X"}
			case http.MethodPost:
				body = map[string]any{"credit_score": 700}
			}
			before := s.MustTenantWrites(t)
			MustProblem(t, s.Do(t, tokenA, c.method, c.path, body, nil), http.StatusNotFound)
			s.MustNoTenantWrite(t, before, c.method+" "+c.path)
		})
	}

	listIDs := func(t *testing.T, token, query string) []string {
		t.Helper()
		got := s.MustListTenants(t, token, query).ids()
		slices.Sort(got)
		return got
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }

	t.Run("lists before any lease", func(t *testing.T) {
		if got, want := listIDs(t, tokenA, ""), sorted(tenantA.ID, leasing.ID, fixture); !slices.Equal(got, want) {
			t.Errorf("A's list = %v, want %v", got, want)
		}
		if got, want := listIDs(t, tokenB, ""), sorted(tenantB.ID); !slices.Equal(got, want) {
			t.Errorf("B's list = %v, want %v", got, want)
		}
		if got := listIDs(t, tokenB, "email="+url.QueryEscape(tenantA.Email)); len(got) != 0 {
			t.Errorf("B's list filtered by A's tenant's email = %v, want nothing", got)
		}
		if got := listIDs(t, tokenB, "last_name=Alpha"); len(got) != 0 {
			t.Errorf("B's list filtered by A's tenant's last name = %v, want nothing", got)
		}
		if got := listIDs(t, tokenC, ""); len(got) != 0 {
			t.Errorf("C's list = %v, want nothing", got)
		}
		for name, token := range map[string]string{"admin": admin, "manager": manager} {
			if got, want := listIDs(t, token, ""), sorted(tenantA.ID, tenantB.ID, leasing.ID, fixture); !slices.Equal(got, want) {
				t.Errorf("%s's list = %v, want %v", name, got, want)
			}
		}
		MustProblem(t, s.Do(t, tokenB, http.MethodGet, "/api/v1/tenants/"+leasing.ID, nil, nil), http.StatusNotFound)
	})

	t.Run("admin and manager see and act on every tenant", func(t *testing.T) {
		if got, _ := s.MustGetTenant(t, admin, tenantA.ID); got.ID != tenantA.ID {
			t.Errorf("admin read %s, want %s", got.ID, tenantA.ID)
		}
		resp := s.Do(t, manager, http.MethodPost, "/api/v1/tenants/"+tenantB.ID+"/screening", map[string]any{"background_check_status": "clear"}, nil)
		MustStatus(t, resp, http.StatusOK)
		var got tenantDoc
		MustDecode(t, resp, &got)
		if got.BackgroundCheckStatus == nil || *got.BackgroundCheckStatus != "clear" || got.Version != 2 {
			t.Errorf("manager's screening: background_check_status %v version %d, want clear version 2", got.BackgroundCheckStatus, got.Version)
		}
		MustStatus(t, s.Do(t, admin, http.MethodGet, "/api/v1/tenants/"+tenantB.ID+"/history", nil, nil), http.StatusOK)
	})

	t.Run("a tenant A registered leasing one of B's properties is B's to reach, not to read in full or change", func(t *testing.T) {
		// API.md, Roles: its id, names, email and phone only, read-only, while a lease
		// on B's property names it (any status); none of its documents or audit rows.
		papers := s.MustUploadDocument(t, tokenA, "tenant", uuid.MustParse(leasing.ID), "id.txt", []byte("passport scan"),
			docField("is_confidential", "true"))
		property := s.MustProperty(t, tokenB)
		// A lease running past today, so that it can be terminated today.
		today := domain.DateOf(time.Now().UTC())
		lease := s.MustLeaseFixture(t, property, uuid.MustParse(leasing.ID), today.AddDays(-30), today.AddDays(365), "1200.00")

		contactOnly := func(t *testing.T) {
			t.Helper()
			resp := s.Do(t, tokenB, http.MethodGet, "/api/v1/tenants/"+leasing.ID, nil, nil)
			MustStatus(t, resp, http.StatusOK)
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			MustKeys(t, "GET /tenants/{id} as the lessor B", raw, []string{"email", "first_name", "id", "last_name", "phone"})
			if tag := resp.Header.Get("ETag"); tag != "" {
				t.Errorf("B's read carries ETag %s: B may not change the tenant", tag)
			}
			page := s.MustListTenants(t, tokenB, "last_name=Leasing")
			if len(page.Items) != 1 || page.Items[0].ID != leasing.ID || page.Items[0].RegisteredBy != nil ||
				page.Items[0].CreditScore != nil || page.Items[0].Version != 0 {
				t.Errorf("B's list ?last_name=Leasing = %+v, want the tenant's contact only", page.Items)
			}
			for _, c := range []struct {
				method, path string
				body         any
				want         int
			}{
				{http.MethodPatch, "/api/v1/tenants/" + leasing.ID, map[string]any{"phone": "555-0199"}, http.StatusForbidden},
				{http.MethodPost, "/api/v1/tenants/" + leasing.ID + "/screening", map[string]any{"credit_score": 640}, http.StatusForbidden},
				{http.MethodPost, "/api/v1/tenants/" + leasing.ID + "/erase", nil, http.StatusForbidden},
				{http.MethodGet, "/api/v1/tenants/" + leasing.ID + "/history", nil, http.StatusNotFound},
				{http.MethodGet, "/api/v1/tenants/" + leasing.ID + "?as_of=2099-01-01T00:00:00Z", nil, http.StatusNotFound},
				{http.MethodGet, "/api/v1/documents/" + papers.ID.String(), nil, http.StatusNotFound},
				{http.MethodGet, "/api/v1/documents/" + papers.ID.String() + "/content", nil, http.StatusNotFound},
				{http.MethodDelete, "/api/v1/documents/" + papers.ID.String(), nil, http.StatusNotFound},
			} {
				before := s.MustTenantWrites(t)
				MustProblem(t, s.Do(t, tokenB, c.method, c.path, c.body, nil), c.want)
				s.MustNoTenantWrite(t, before, "B's "+c.method+" "+c.path)
			}
			for _, path := range []string{"/api/v1/documents?entity_type=tenant&entity_id=" + leasing.ID,
				"/api/v1/audit-logs?entity_type=tenant&entity_id=" + leasing.ID} {
				resp := s.Do(t, tokenB, http.MethodGet, path, nil, nil)
				MustStatus(t, resp, http.StatusOK)
				var page struct{ Items []json.RawMessage }
				MustDecode(t, resp, &page)
				if len(page.Items) != 0 {
					t.Errorf("GET %s as B: %d items, want none of A's", path, len(page.Items))
				}
			}
			resp = s.Upload(t, tokenB, docField("entity_type", "tenant"), docField("entity_id", leasing.ID), docFile("b.txt", []byte("b")))
			MustProblem(t, resp, http.StatusForbidden)
		}
		t.Run("while the lease is active", contactOnly)
		resp := s.Do(t, tokenB, http.MethodPost, "/api/v1/leases/"+lease.String()+"/terminate", map[string]any{}, nil)
		MustStatus(t, resp, http.StatusOK)
		var ended struct{ Status string }
		MustDecode(t, resp, &ended)
		if ended.Status == "active" {
			t.Fatalf("the terminated lease is still active")
		}
		t.Run("after the lease ended", contactOnly)

		// A still reads everything, unchanged; C still sees nothing.
		if got, tag := s.MustGetTenant(t, tokenA, leasing.ID); got.CreditScore == nil || tag != `"1"` || got.RegisteredBy == nil || *got.RegisteredBy != idA.String() {
			t.Errorf("A reads credit_score %v, registered_by %v, ETag %s; want its screening, itself and \"1\"", got.CreditScore, got.RegisteredBy, tag)
		}
		if got := listIDs(t, tokenC, ""); len(got) != 0 {
			t.Errorf("C's list = %v, want nothing", got)
		}
		// The lease grants B nothing of A's other tenants.
		MustProblem(t, s.Do(t, tokenB, http.MethodGet, pathA, nil, nil), http.StatusNotFound)
	})

	t.Run("a tenant registered by B leasing A's property is A's to see", func(t *testing.T) {
		property := s.MustProperty(t, tokenA)
		MustProblem(t, s.Do(t, tokenA, http.MethodGet, "/api/v1/tenants/"+tenantB.ID, nil, nil), http.StatusNotFound)
		s.MustLeaseFixture(t, property, uuid.MustParse(tenantB.ID), domain.NewDate(2025, time.January, 1), domain.NewDate(2025, time.June, 30), "900.00")
		if got, _ := s.MustGetTenant(t, tokenA, tenantB.ID); got.ID != tenantB.ID {
			t.Errorf("A read %s, want %s", got.ID, tenantB.ID)
		}
		if got := listIDs(t, tokenA, "email="+url.QueryEscape(strings.ToUpper(tenantB.Email))); !slices.Equal(got, []string{tenantB.ID}) {
			t.Errorf("A's list by B's tenant's email = %v, want [%s]", got, tenantB.ID)
		}
	})

	if got, _ := s.MustGetTenant(t, tokenA, tenantA.ID); got.Email != tenantA.Email || got.Version != 1 {
		t.Errorf("A's tenant after B's refused requests: email %q version %d, want %q version 1", got.Email, got.Version, tenantA.Email)
	}
}

func TestTenantPatch(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	created := s.MustCreateTenant(t, token, tenantBody(map[string]any{
		"phone": "555-0100", "ssn_last_four": "1234", "credit_score": 700,
	}))
	path := "/api/v1/tenants/" + created.ID

	patch := func(t *testing.T, body any, header map[string]string) (tenantDoc, string) {
		t.Helper()
		resp := s.Do(t, token, http.MethodPatch, path, body, header)
		MustStatus(t, resp, http.StatusOK)
		var got tenantDoc
		MustDecode(t, resp, &got)
		return got, resp.Header.Get("ETag")
	}

	got, tag := patch(t, map[string]any{"email": "Ada.Lovelace@Example.com"}, map[string]string{"If-Match": `"1"`})
	want := created
	want.Email, want.Version, want.UpdatedAt = "Ada.Lovelace@Example.com", 2, got.UpdatedAt
	if diff := diffTenant(got, want); diff != "" {
		t.Errorf("PATCH email: only email and version should change: %s", diff)
	}
	if tag != `"2"` {
		t.Errorf("PATCH ETag = %s, want \"2\"", tag)
	}
	// Read-your-writes: a GET and a list right after the PATCH see it.
	if read, tag := s.MustGetTenant(t, token, created.ID); diffTenant(read, want) != "" || tag != `"2"` {
		t.Errorf("GET after PATCH (ETag %s): %s", tag, diffTenant(read, want))
	}
	if ids := s.MustListTenants(t, token, "email=ada.lovelace%40example.com").ids(); !slices.Equal(ids, []string{created.ID}) {
		t.Errorf("list by the new email right after PATCH = %v, want [%s]", ids, created.ID)
	}

	got, _ = patch(t, map[string]any{"first_name": "Augusta", "last_name": "King", "phone": nil}, nil)
	want.FirstName, want.LastName, want.Phone, want.Version, want.UpdatedAt = "Augusta", "King", nil, 3, got.UpdatedAt
	if diff := diffTenant(got, want); diff != "" {
		t.Errorf("PATCH names and phone: null clears the phone and nothing else changes: %s", diff)
	}

	t.Run("an empty patch writes nothing", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		got, tag := patch(t, map[string]any{}, nil)
		if diff := diffTenant(got, want); diff != "" {
			t.Errorf("empty patch: %s", diff)
		}
		if tag != `"3"` {
			t.Errorf("ETag = %s, want \"3\"", tag)
		}
		s.MustNoTenantWrite(t, before, "empty patch")
	})
	t.Run("the same values write nothing", func(t *testing.T) {
		before := s.MustTenantWrites(t)
		got, _ := patch(t, map[string]any{"first_name": "Augusta", "phone": nil}, map[string]string{"If-Match": `"3"`})
		if diff := diffTenant(got, want); diff != "" {
			t.Errorf("same values: %s", diff)
		}
		s.MustNoTenantWrite(t, before, "same values")
	})

	refusals := []struct {
		name       string
		body       any
		header     map[string]string
		wantStatus int
		wantFields []string
	}{
		{"stale If-Match", map[string]any{"first_name": "Ada"}, map[string]string{"If-Match": `"2"`}, http.StatusPreconditionFailed, nil},
		{"future If-Match", map[string]any{"first_name": "Ada"}, map[string]string{"If-Match": `"4"`}, http.StatusPreconditionFailed, nil},
		{"malformed If-Match", map[string]any{"first_name": "Ada"}, map[string]string{"If-Match": `abc`}, http.StatusPreconditionFailed, nil},
		{"first_name: null", map[string]any{"first_name": nil}, nil, http.StatusUnprocessableEntity, []string{"first_name"}},
		{"email: null", map[string]any{"email": nil}, nil, http.StatusUnprocessableEntity, []string{"email"}},
		{"bad email", map[string]any{"email": "ada@"}, nil, http.StatusUnprocessableEntity, []string{"email"}},
		{"blank names", map[string]any{"first_name": " ", "last_name": ""}, nil, http.StatusUnprocessableEntity, []string{"first_name", "last_name"}},
		{"phone longer than its column", map[string]any{"phone": strings.Repeat("1", 21)}, nil, http.StatusUnprocessableEntity, []string{"phone"}},
		{"ssn is not a contact field", map[string]any{"ssn_last_four": "9999"}, nil, http.StatusBadRequest, nil},
		{"screening is not a contact field", map[string]any{"credit_score": 800}, nil, http.StatusBadRequest, nil},
		{"unknown field", map[string]any{"fist_name": "Ada"}, nil, http.StatusBadRequest, nil},
		{"wrong JSON type", map[string]any{"phone": 5550100}, nil, http.StatusBadRequest, nil},
		{"malformed JSON", `{"first_name":`, nil, http.StatusBadRequest, nil},
		{"text/plain", `{"first_name":"Ada"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, nil},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustTenantWrites(t)
			p := MustProblem(t, s.Do(t, token, http.MethodPatch, path, c.body, c.header), c.wantStatus)
			if c.wantFields != nil {
				if got := p.fields(); !slices.Equal(got, c.wantFields) {
					t.Errorf("errors[].field = %v, want %v", got, c.wantFields)
				}
			}
			s.MustNoTenantWrite(t, before, c.name)
		})
	}
	if got, tag := s.MustGetTenant(t, token, created.ID); diffTenant(got, want) != "" || tag != `"3"` {
		t.Errorf("after refusals (ETag %s): %s", tag, diffTenant(got, want))
	}
}

func TestTenantScreening(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)
	adminID, admin := s.MustUser(t, domain.RoleAdmin)
	created := s.MustCreateTenant(t, token, tenantBody(nil))
	path := "/api/v1/tenants/" + created.ID

	screen := func(t *testing.T, token string, body any, header map[string]string) (tenantDoc, string) {
		t.Helper()
		resp := s.Do(t, token, http.MethodPost, path+"/screening", body, header)
		MustStatus(t, resp, http.StatusOK)
		var got tenantDoc
		MustDecode(t, resp, &got)
		return got, resp.Header.Get("ETag")
	}

	got, tag := screen(t, token, map[string]any{"credit_score": 700}, map[string]string{"If-Match": `"1"`})
	if got.CreditScore == nil || *got.CreditScore != 700 || got.Income != nil || got.BackgroundCheckStatus != nil || tag != `"2"` {
		t.Errorf("credit first: credit %v income %v check %v ETag %s, want 700, null, null, \"2\"",
			got.CreditScore, got.Income, got.BackgroundCheckStatus, tag)
	}
	got, tag = screen(t, token, map[string]any{"income": 61000.5}, nil)
	if got.CreditScore == nil || *got.CreditScore != 700 || got.Income == nil || *got.Income != "61000.50" || tag != `"3"` {
		t.Errorf("then income: credit %v income %v ETag %s, want 700 (kept), \"61000.50\", \"3\"", got.CreditScore, got.Income, tag)
	}
	// Read-your-writes.
	read, tag := s.MustGetTenant(t, token, created.ID)
	if diffTenant(read, got) != "" || tag != `"3"` {
		t.Errorf("GET right after screening (ETag %s): %s", tag, diffTenant(read, got))
	}
	got, _ = screen(t, admin, map[string]any{"background_check_status": "clear", "credit_score": 690}, nil)
	if got.CreditScore == nil || *got.CreditScore != 690 || got.Income == nil || *got.Income != "61000.50" ||
		got.BackgroundCheckStatus == nil || *got.BackgroundCheckStatus != "clear" || got.Version != 4 {
		t.Errorf("third screening: credit %v income %v check %v version %d, want 690, 61000.50, clear, 4",
			got.CreditScore, got.Income, got.BackgroundCheckStatus, got.Version)
	}
	// The contact is untouched by screenings.
	if got.Email != created.Email || got.FirstName != created.FirstName || got.RegisteredBy == nil || *got.RegisteredBy != userID.String() {
		t.Errorf("screening changed the contact or registrar: %+v", got)
	}

	t.Run("Idempotency-Key replays", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "screen-once"}
		resp := s.Do(t, token, http.MethodPost, path+"/screening", map[string]any{"credit_score": 710}, key)
		MustStatus(t, resp, http.StatusOK)
		want, _ := io.ReadAll(resp.Body)
		before := s.MustTenantWrites(t)
		resp = s.Do(t, token, http.MethodPost, path+"/screening", map[string]any{"credit_score": 710}, key)
		MustStatus(t, resp, http.StatusOK)
		got, _ := io.ReadAll(resp.Body)
		if string(got) != string(want) {
			t.Errorf("replayed body = %s, want %s", got, want)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		s.MustNoTenantWrite(t, before, "screening replay")
	})
	// Version 5 now: credit 710, income 61000.50, clear.

	refusals := []struct {
		name       string
		body       any
		header     map[string]string
		wantStatus int
		wantFields []string
	}{
		{"nothing given", map[string]any{}, nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"only nulls given", map[string]any{"credit_score": nil, "income": nil}, nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"credit score 299", map[string]any{"credit_score": 299}, nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"credit score 851", map[string]any{"credit_score": 851}, nil, http.StatusUnprocessableEntity, []string{"credit_score"}},
		{"income -1", map[string]any{"income": -1}, nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"income 1.001", map[string]any{"income": "1.001"}, nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"only an income beyond any decimal", map[string]any{"income": json.Number("1e20000")}, nil, http.StatusUnprocessableEntity, []string{"income"}},
		{"an income beyond any decimal and a bad credit score", map[string]any{"income": "1e20000", "credit_score": 900}, nil,
			http.StatusUnprocessableEntity, []string{"credit_score", "income"}},
		{"every field bad", map[string]any{"credit_score": 100, "income": "-0.001", "background_check_status": ""}, nil,
			http.StatusUnprocessableEntity, []string{"background_check_status", "credit_score", "income", "income"}},
		{"stale If-Match", map[string]any{"credit_score": 720}, map[string]string{"If-Match": `"4"`}, http.StatusPreconditionFailed, nil},
		{"stale If-Match with an invalid body", map[string]any{"credit_score": 1}, map[string]string{"If-Match": `"1"`}, http.StatusPreconditionFailed, nil},
		{"unknown field", map[string]any{"credit_score": 720, "ssn_last_four": "1234"}, nil, http.StatusBadRequest, nil},
		{"credit score not an integer", map[string]any{"credit_score": 720.5}, nil, http.StatusBadRequest, nil},
		{"malformed JSON", `{"credit_score":`, nil, http.StatusBadRequest, nil},
		{"no Content-Type", `{"credit_score":720}`, map[string]string{"Content-Type": ""}, http.StatusUnsupportedMediaType, nil},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustTenantWrites(t)
			p := MustProblem(t, s.Do(t, token, http.MethodPost, path+"/screening", c.body, c.header), c.wantStatus)
			if c.wantFields != nil {
				if got := p.fields(); !slices.Equal(got, c.wantFields) {
					t.Errorf("errors[].field = %v, want %v", got, c.wantFields)
				}
			}
			s.MustNoTenantWrite(t, before, c.name)
		})
	}
	final, tag := s.MustGetTenant(t, token, created.ID)
	if final.CreditScore == nil || *final.CreditScore != 710 || final.Income == nil || *final.Income != "61000.50" || tag != `"5"` {
		t.Errorf("after refusals: credit %v income %v ETag %s, want 710, 61000.50, \"5\"", final.CreditScore, final.Income, tag)
	}

	t.Run("history", func(t *testing.T) {
		MustStatus(t, s.Do(t, token, http.MethodPatch, path, map[string]any{"last_name": "Byron"}, nil), http.StatusOK)
		before := s.MustTenantWrites(t)
		resp := s.Do(t, token, http.MethodGet, path+"/history", nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var history struct {
			Items []struct {
				EventID    string          `json:"event_id"`
				Type       string          `json:"type"`
				Version    int64           `json:"version"`
				RecordedAt string          `json:"recorded_at"`
				ActorID    *string         `json:"actor_id"`
				Data       json.RawMessage `json:"data"`
			} `json:"items"`
		}
		MustDecode(t, resp, &history)
		s.MustNoTenantWrite(t, before, "GET history")
		want := []struct {
			typ   string
			actor uuid.UUID
			data  string
		}{
			// Personal fields are sealed (docs/security.md): only their paths show.
			{"TenantRegistered", userID, `"registered_by":"` + userID.String() + `"`},
			{"TenantScreeningRecorded", userID, `"screening.credit_score":"v1:`},
			{"TenantScreeningRecorded", userID, `"screening.income":"v1:`},
			{"TenantScreeningRecorded", adminID, `"screening.background_check_status":"v1:`},
			{"TenantScreeningRecorded", userID, `"screening.credit_score":"v1:`},
			{"TenantContactChanged", userID, `"contact.last_name":"v1:`},
		}
		if got := len(history.Items); got != len(want) {
			t.Fatalf("history has %d items, want %d: %+v", got, len(want), history.Items)
		}
		seen := map[string]bool{}
		for i, item := range history.Items {
			w := want[i]
			if got, want := item.Version, int64(i+1); got != want {
				t.Errorf("item %d: version = %d, want %d", i, got, want)
			}
			if item.Type != w.typ {
				t.Errorf("item %d: type = %q, want %q", i, item.Type, w.typ)
			}
			if !ulidPattern.MatchString(item.EventID) || seen[item.EventID] {
				t.Errorf("item %d: event_id = %q, want a fresh ULID", i, item.EventID)
			}
			seen[item.EventID] = true
			if at, err := time.Parse(time.RFC3339Nano, item.RecordedAt); err != nil || at.Location() != time.UTC {
				t.Errorf("item %d: recorded_at = %q, want RFC 3339 UTC", i, item.RecordedAt)
			}
			if item.ActorID == nil || *item.ActorID != w.actor.String() {
				t.Errorf("item %d: actor_id = %v, want %s", i, item.ActorID, w.actor)
			}
			if !strings.Contains(compactJSON(item.Data), w.data) {
				t.Errorf("item %d: data = %s, want it to hold %s", i, item.Data, w.data)
			}
			for _, clear := range []string{"Byron", `"income":"61000.5"`, `"background_check_status":"clear"`,
				`"credit_score":700`, `"credit_score":710`} {
				if strings.Contains(compactJSON(item.Data), clear) {
					t.Errorf("item %d: data = %s holds %s in clear", i, item.Data, clear)
				}
			}
		}
		// Each screening event holds the whole merged screening.
		if d := compactJSON(history.Items[2].Data); !strings.Contains(d, `"screening.credit_score":"v1:`) {
			t.Errorf("income screening data = %s, want it to keep the credit score", d)
		}
	})
}

func TestListTenants(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleUser)
	create := func(first, last, email string) tenantDoc {
		t.Helper()
		return s.MustCreateTenant(t, token, map[string]any{"first_name": first, "last_name": last, "email": email})
	}
	t1 := create("Ada", "Lovelace", "ada@example.com")
	t2 := create("Byron", "Lovelace", "Byron@Example.com")
	t3 := create("Grace", "Hopper", "grace@example.com")
	t4 := create("Alan", "Turing", "alan@example.org")
	t5 := create("Ada", "Byron", "ada@example.org")
	all := []string{t1.ID, t2.ID, t3.ID, t4.ID, t5.ID}

	cases := []struct {
		query string
		want  []tenantDoc
	}{
		{"", []tenantDoc{t1, t2, t3, t4, t5}},
		{"email=ada%40example.com", []tenantDoc{t1}},
		{"email=ADA%40EXAMPLE.COM", []tenantDoc{t1}},
		{"email=byron%40example.com", []tenantDoc{t2}},
		{"email=ada%40example", nil},
		{"email=example.com", nil},
		{"email=%25%40example.com", nil}, // a LIKE wildcard is a literal
		{"last_name=Lovelace", []tenantDoc{t1, t2}},
		{"last_name=lovelace", nil},
		{"last_name=Love", nil},
		{"last_name=Byron", []tenantDoc{t5}},
		{"last_name=Lovelace&email=BYRON%40example.com", []tenantDoc{t2}},
		{"last_name=Hopper&email=ada%40example.com", nil},
		{"email=&last_name=", []tenantDoc{t1, t2, t3, t4, t5}},
	}
	for _, c := range cases {
		t.Run("?"+c.query, func(t *testing.T) {
			page := s.MustListTenants(t, token, c.query)
			want := make([]string, len(c.want))
			for i, d := range c.want {
				want[i] = d.ID
			}
			if got := page.ids(); !slices.Equal(got, want) {
				t.Errorf("ids = %v, want %v (creation order)", got, want)
			}
			if page.NextCursor != nil {
				t.Errorf("next_cursor = %q, want null", *page.NextCursor)
			}
		})
	}
	t.Run("list items are the full tenant", func(t *testing.T) {
		page := s.MustListTenants(t, token, "email=grace%40example.com")
		if len(page.Items) != 1 {
			t.Fatalf("items = %d, want 1", len(page.Items))
		}
		if diff := diffTenant(page.Items[0], t3); diff != "" {
			t.Errorf("list item: %s", diff)
		}
	})

	t.Run("pagination", func(t *testing.T) {
		var ids []string
		var sizes []int
		cursor := ""
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatalf("pagination does not end")
			}
			q := "limit=2"
			if cursor != "" {
				q += "&cursor=" + url.QueryEscape(cursor)
			}
			p := s.MustListTenants(t, token, q)
			ids = append(ids, p.ids()...)
			sizes = append(sizes, len(p.Items))
			if p.NextCursor == nil {
				break
			}
			if *p.NextCursor == "" {
				t.Fatalf("next_cursor is an empty string, want null or a cursor")
			}
			cursor = *p.NextCursor
		}
		if !slices.Equal(ids, all) {
			t.Errorf("pages of 2 = %v, want each of %v once in order", ids, all)
		}
		if want := []int{2, 2, 1}; !slices.Equal(sizes, want) {
			t.Errorf("page sizes = %v, want %v", sizes, want)
		}
		if p := s.MustListTenants(t, token, "limit=5"); !slices.Equal(p.ids(), all) || p.NextCursor != nil {
			t.Errorf("limit=5 over 5: ids %v next_cursor %v, want all and null", p.ids(), p.NextCursor)
		}
		first := s.MustListTenants(t, token, "limit=1&last_name=Lovelace")
		if first.NextCursor == nil || !slices.Equal(first.ids(), []string{t1.ID}) {
			t.Fatalf("limit=1&last_name=Lovelace: ids %v next_cursor %v, want [%s] and a cursor", first.ids(), first.NextCursor, t1.ID)
		}
		second := s.MustListTenants(t, token, "limit=1&last_name=Lovelace&cursor="+url.QueryEscape(*first.NextCursor))
		if !slices.Equal(second.ids(), []string{t2.ID}) || second.NextCursor != nil {
			t.Errorf("second filtered page: ids %v next_cursor %v, want [%s] and null", second.ids(), second.NextCursor, t2.ID)
		}
	})

	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=" + url.QueryEscape("!!!"), "cursor=Zm9v", "email=%00", "last_name=%FF"} {
		t.Run("bad query "+q, func(t *testing.T) {
			before := s.MustTenantWrites(t)
			MustProblem(t, s.Do(t, token, http.MethodGet, "/api/v1/tenants?"+q, nil, nil), http.StatusBadRequest)
			s.MustNoTenantWrite(t, before, "GET ?"+q)
		})
	}
}
