package http

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// leaseDoc is a lease as a client reads it.
type leaseDoc struct {
	ID                string  `json:"id"`
	PropertyID        string  `json:"property_id"`
	TenantID          string  `json:"tenant_id"`
	StartDate         string  `json:"start_date"`
	EndDate           string  `json:"end_date"`
	RentAmount        string  `json:"rent_amount"`
	SecurityDeposit   string  `json:"security_deposit"`
	PaymentDay        int     `json:"payment_day"`
	Status            string  `json:"status"`
	AutoRenew         bool    `json:"auto_renew"`
	CreatedAt         string  `json:"created_at"`
	UpdatedAt         string  `json:"updated_at"`
	TerminatedOn      *string `json:"terminated_on"`
	TerminationReason *string `json:"termination_reason"`
	Version           int64   `json:"version"`
}

type leasePage struct {
	Items      []leaseDoc `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

func (p leasePage) ids() []string {
	out := make([]string, len(p.Items))
	for i, l := range p.Items {
		out[i] = l.ID
	}
	return out
}

// leaseKeys are the fields of every lease answer: the seed's columns, how the
// lease ended, version and the parties.
var leaseKeys = []string{"id", "property_id", "tenant_id", "start_date", "end_date", "rent_amount",
	"security_deposit", "payment_day", "status", "auto_renew", "created_at", "updated_at",
	"terminated_on", "termination_reason", "version", "tenants", "credit"}

// seedLeaseKeys are the lease fields the seed's "Active Leases for Property"
// selects: every lease field but the ledger's credit.
var seedLeaseKeys = slices.DeleteFunc(slices.Clone(leaseKeys), func(k string) bool { return k == "credit" })

// leaseReportPropertyKeys are the fields of a property answer.
var leaseReportPropertyKeys = []string{"id", "name", "address", "city", "state", "zip_code", "owner_id", "property_type",
	"status", "bedrooms", "bathrooms", "square_feet", "year_built", "description", "created_at", "updated_at", "version"}

// leaseBody is a valid signing body with overrides applied; a nil override value
// removes the field.
func leaseBody(property, tenant uuid.UUID, overrides map[string]any) map[string]any {
	b := map[string]any{
		"property_id": property, "tenant_id": tenant, "start_date": "2030-01-01", "end_date": "2030-12-31",
		"rent_amount": "1250.00", "security_deposit": "2500",
	}
	for k, v := range overrides {
		if v == nil {
			delete(b, k)
			continue
		}
		b[k] = v
	}
	return b
}

// MustSignLease posts body and expects a 201.
func (s *stack) MustSignLease(tb testing.TB, token string, body any) leaseDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/leases", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var l leaseDoc
	MustDecode(tb, resp, &l)
	return l
}

// MustGetLease reads one lease and its ETag.
func (s *stack) MustGetLease(tb testing.TB, token, id string) (leaseDoc, string) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/leases/"+id, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var l leaseDoc
	MustDecode(tb, resp, &l)
	return l, resp.Header.Get("ETag")
}

// MustListLeases reads one page of GET /leases?query.
func (s *stack) MustListLeases(tb testing.TB, token, query string) leasePage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/leases?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page leasePage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("GET /leases?%s: items is null or missing, want an array", query)
	}
	return page
}

// MustLeaseJSONKeys fails unless the JSON object raw has exactly the keys want.
func MustLeaseJSONKeys(tb testing.TB, what string, raw json.RawMessage, want []string) {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		tb.Fatalf("%s: decode %s: %v", what, raw, err)
	}
	got := slices.Sorted(maps.Keys(m))
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		tb.Errorf("%s: keys = %q, want %q", what, got, want)
	}
}

// leaseWriteCounts is everything a lease request could write.
type leaseWriteCounts struct {
	events, leases, reservations, idempotencyKeys int
	leaseTable                                    string // every leases and lease_tenants row, rendered
}

// MustLeaseWriteCounts counts the event store, the leases read model, the
// overlap guard and stored idempotent answers.
func (s *stack) MustLeaseWriteCounts(tb testing.TB) leaseWriteCounts {
	tb.Helper()
	var c leaseWriteCounts
	err := s.pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM events), (SELECT count(*) FROM leases), (SELECT count(*) FROM lease_reservations),
		(SELECT count(*) FROM idempotency_keys),
		(SELECT coalesce(string_agg(l::text, E'\n' ORDER BY l.id), '') FROM leases l) ||
		(SELECT coalesce(string_agg(lt::text, E'\n' ORDER BY lt.lease_id, lt.tenant_id), '') FROM lease_tenants lt)`).
		Scan(&c.events, &c.leases, &c.reservations, &c.idempotencyKeys, &c.leaseTable)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MustNoLeaseWrites fails when anything was written since before was taken.
func (s *stack) MustNoLeaseWrites(tb testing.TB, before leaseWriteCounts, what string) {
	tb.Helper()
	if got := s.MustLeaseWriteCounts(tb); got != before {
		tb.Errorf("%s wrote something: (events, leases, reservations, idempotency keys) went from (%d, %d, %d, %d) to (%d, %d, %d, %d)",
			what, before.events, before.leases, before.reservations, before.idempotencyKeys,
			got.events, got.leases, got.reservations, got.idempotencyKeys)
		if got.leaseTable != before.leaseTable {
			tb.Errorf("%s changed the leases table:\nbefore %s\nafter  %s", what, before.leaseTable, got.leaseTable)
		}
	}
}

// MustCountEvents counts the events of one type.
func (s *stack) MustCountEvents(tb testing.TB, eventType string) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = $1`, eventType).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// leaseSetup is a user with a property and a tenant of theirs.
type leaseSetup struct {
	userID   uuid.UUID
	token    string
	property uuid.UUID
	tenant   uuid.UUID
}

func (s *stack) MustLeaseSetup(tb testing.TB) leaseSetup {
	tb.Helper()
	id, token := s.MustUser(tb, domain.RoleUser)
	return leaseSetup{userID: id, token: token, property: s.MustProperty(tb, token), tenant: s.MustTenantFixture(tb, id)}
}

func leaseToday() domain.Date { return domain.DateOf(time.Now()) }

func TestSignLease(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)

	before := s.MustLeaseWriteCounts(t)
	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases", leaseBody(a.property, a.tenant, nil), nil)
	MustStatus(t, resp, http.StatusCreated)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	MustLeaseJSONKeys(t, "signed lease", raw, leaseKeys)
	var l leaseDoc
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	want := leaseDoc{
		ID: l.ID, PropertyID: a.property.String(), TenantID: a.tenant.String(), StartDate: "2030-01-01",
		EndDate: "2030-12-31", RentAmount: "1250.00", SecurityDeposit: "2500.00", PaymentDay: 1,
		Status: "active", AutoRenew: false, CreatedAt: l.CreatedAt, UpdatedAt: l.CreatedAt, Version: 1,
	}
	if diff := diffLease(l, want); diff != "" {
		t.Errorf("signed lease: %s", diff)
	}
	if _, err := uuid.Parse(l.ID); err != nil {
		t.Errorf("id = %q, want a UUID", l.ID)
	}
	if at, err := time.Parse(time.RFC3339Nano, l.CreatedAt); err != nil || at.Location() != time.UTC {
		t.Errorf("created_at = %q, want RFC 3339 UTC", l.CreatedAt)
	}
	if got, want := resp.Header.Get("Location"), "/api/v1/leases/"+l.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	after := s.MustLeaseWriteCounts(t)
	if after.events != before.events+1 || after.leases != before.leases+1 || after.reservations != before.reservations+1 {
		t.Errorf("signing wrote (events, leases, reservations) +(%d, %d, %d), want +(1, 1, 1)",
			after.events-before.events, after.leases-before.leases, after.reservations-before.reservations)
	}
	if got := s.MustCountEvents(t, "LeaseSigned"); got != 1 {
		t.Errorf("LeaseSigned events = %d, want 1", got)
	}

	// Read your writes: the lease is there at once, in GET and in the list.
	got, tag := s.MustGetLease(t, a.token, l.ID)
	if diff := diffLease(got, l); diff != "" || tag != `"1"` {
		t.Errorf("GET after signing: %s ETag %s", diff, tag)
	}
	if got, want := s.MustListLeases(t, a.token, "").ids(), []string{l.ID}; !slices.Equal(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}

	t.Run("every optional field, amounts as JSON numbers", func(t *testing.T) {
		p := s.MustProperty(t, a.token)
		l := s.MustSignLease(t, a.token, leaseBody(p, a.tenant, map[string]any{
			"rent_amount": 1250.5, "security_deposit": 0, "payment_day": 28, "auto_renew": true,
			"start_date": "2031-02-28", "end_date": "2031-03-01",
		}))
		if l.RentAmount != "1250.50" || l.SecurityDeposit != "0.00" || l.PaymentDay != 28 || !l.AutoRenew ||
			l.StartDate != "2031-02-28" || l.EndDate != "2031-03-01" {
			t.Errorf("lease = %+v, want rent 1250.50, deposit 0.00, payment day 28, auto-renewing, 2031-02-28..2031-03-01", l)
		}
	})
	t.Run("admin and manager sign on any owner's property", func(t *testing.T) {
		for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleManager} {
			_, token := s.MustUser(t, role)
			p := s.MustProperty(t, a.token)
			l := s.MustSignLease(t, token, leaseBody(p, a.tenant, nil))
			if l.PropertyID != p.String() {
				t.Errorf("%s: property_id = %s, want %s", role, l.PropertyID, p)
			}
		}
	})
}

func diffLease(got, want leaseDoc) string {
	if got == want {
		return ""
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return fmt.Sprintf("got %s, want %s", g, w)
}

func TestSignLeaseRefusals(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	existing := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, nil))
	inactive := s.MustProperty(t, a.token)
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/properties/"+inactive.String()+"/status",
		map[string]any{"status": "inactive"}, nil), http.StatusOK)
	free := s.MustProperty(t, a.token)

	cases := []struct {
		name   string
		token  string
		body   any
		header map[string]string
		want   int
		fields []string // for 422, sorted
	}{
		{"malformed JSON", a.token, `{"property_id":`, nil, http.StatusBadRequest, nil},
		{"unknown field", a.token, leaseBody(free, a.tenant, map[string]any{"rent": "1"}), nil, http.StatusBadRequest, nil},
		{"payment_day of the wrong JSON type", a.token, leaseBody(free, a.tenant, map[string]any{"payment_day": "1"}), nil, http.StatusBadRequest, nil},
		{"auto_renew of the wrong JSON type", a.token, leaseBody(free, a.tenant, map[string]any{"auto_renew": "yes"}), nil, http.StatusBadRequest, nil},
		{"property_id not a UUID", a.token, leaseBody(free, a.tenant, map[string]any{"property_id": "42"}), nil, http.StatusBadRequest, nil},
		{"two JSON values", a.token, `{} {}`, nil, http.StatusBadRequest, nil},
		{"no token", "", leaseBody(free, a.tenant, nil), nil, http.StatusUnauthorized, nil},
		{"wrong content type", a.token, `{}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, nil},
		{"too large", a.token, `{"property_id":"` + strings.Repeat("x", 1<<20) + `"}`, nil, http.StatusRequestEntityTooLarge, nil},
		{"empty object", a.token, map[string]any{}, nil, http.StatusUnprocessableEntity,
			[]string{"end_date", "property_id", "rent_amount", "security_deposit", "start_date", "tenant_id"}},
		{"end before start", a.token, leaseBody(free, a.tenant, map[string]any{"end_date": "2029-12-31"}), nil, http.StatusUnprocessableEntity, []string{"end_date"}},
		{"end equal to start", a.token, leaseBody(free, a.tenant, map[string]any{"end_date": "2030-01-01"}), nil, http.StatusUnprocessableEntity, []string{"end_date"}},
		{"malformed dates", a.token, leaseBody(free, a.tenant, map[string]any{"start_date": "2030-02-30", "end_date": "31/12/2030"}), nil, http.StatusUnprocessableEntity, []string{"end_date", "start_date"}},
		{"rent with three decimal places", a.token, leaseBody(free, a.tenant, map[string]any{"rent_amount": "1250.001"}), nil, http.StatusUnprocessableEntity, []string{"rent_amount"}},
		{"rent as a number with three decimal places", a.token, leaseBody(free, a.tenant, map[string]any{"rent_amount": 0.125}), nil, http.StatusUnprocessableEntity, []string{"rent_amount"}},
		{"zero rent", a.token, leaseBody(free, a.tenant, map[string]any{"rent_amount": "0"}), nil, http.StatusUnprocessableEntity, []string{"rent_amount"}},
		{"rent beyond NUMERIC(10,2)", a.token, leaseBody(free, a.tenant, map[string]any{"rent_amount": "100000000.00"}), nil, http.StatusUnprocessableEntity, []string{"rent_amount"}},
		{"negative deposit", a.token, leaseBody(free, a.tenant, map[string]any{"security_deposit": "-1"}), nil, http.StatusUnprocessableEntity, []string{"security_deposit"}},
		{"payment day 0", a.token, leaseBody(free, a.tenant, map[string]any{"payment_day": 0}), nil, http.StatusUnprocessableEntity, []string{"payment_day"}},
		{"payment day 29", a.token, leaseBody(free, a.tenant, map[string]any{"payment_day": 29}), nil, http.StatusUnprocessableEntity, []string{"payment_day"}},
		{"no such property", a.token, leaseBody(uuid.New(), a.tenant, nil), nil, http.StatusUnprocessableEntity, []string{"property_id"}},
		{"another owner's property", a.token, leaseBody(b.property, a.tenant, nil), nil, http.StatusUnprocessableEntity, []string{"property_id"}},
		{"no such tenant", a.token, leaseBody(free, uuid.New(), nil), nil, http.StatusUnprocessableEntity, []string{"tenant_id"}},
		{"another owner's tenant", a.token, leaseBody(free, b.tenant, nil), nil, http.StatusUnprocessableEntity, []string{"tenant_id"}},
		{"nil id", a.token, leaseBody(free, a.tenant, map[string]any{"id": uuid.Nil}), nil, http.StatusUnprocessableEntity, []string{"id"}},
		{"inactive property", a.token, leaseBody(inactive, a.tenant, nil), nil, http.StatusConflict, nil},
		{"overlapping an active lease", a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-12-31", "end_date": "2031-06-30"}), nil, http.StatusConflict, nil},
		{"inside an active lease", a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-03-01", "end_date": "2030-03-31"}), nil, http.StatusConflict, nil},
		{"overlapping, with a key", a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2029-06-01", "end_date": "2030-01-01"}), map[string]string{"Idempotency-Key": "overlap"}, http.StatusConflict, nil},
	}
	// What a program reads to tell these refusals apart: the type, and each field's code.
	wantType := map[string]string{
		"inactive property":           problemBase + "conflict/property-not-active",
		"overlapping an active lease": problemBase + "conflict/lease-overlap",
		"inside an active lease":      problemBase + "conflict/lease-overlap",
		"overlapping, with a key":     problemBase + "conflict/lease-overlap",
		"end before start":            typeValidation,
		"no such property":            typeValidation,
		"malformed JSON":              typeBadRequest,
		"no token":                    typeUnauthorized,
		"wrong content type":          typeUnsupportedMediaType,
		"too large":                   typePayloadTooLarge,
	}
	wantCode := map[string]string{
		"empty object":                   domain.CodeRequired,
		"end before start":               domain.CodeOutOfRange,
		"malformed dates":                domain.CodeInvalidFormat,
		"rent with three decimal places": domain.CodeInvalidFormat,
		"zero rent":                      domain.CodeOutOfRange,
		"rent beyond NUMERIC(10,2)":      domain.CodeOutOfRange,
		"payment day 29":                 domain.CodeOutOfRange,
		"no such property":               domain.CodeNotFound,
		"another owner's tenant":         domain.CodeNotFound,
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			p := MustProblem(t, s.Do(t, c.token, http.MethodPost, "/api/v1/leases", c.body, c.header), c.want)
			if c.fields != nil {
				if got := p.fields(); !slices.Equal(got, c.fields) {
					t.Errorf("errors[].field = %q, want %q", got, c.fields)
				}
			}
			if want, ok := wantType[c.name]; ok && p.Type != want {
				t.Errorf("type = %q, want %q", p.Type, want)
			}
			if want, ok := wantCode[c.name]; ok {
				for field, got := range p.codes() {
					if got != want {
						t.Errorf("errors[] %s has code %q, want %q", field, got, want)
					}
				}
			}
			s.MustNoLeaseWrites(t, before, c.name)
		})
	}

	// The other owner's property and a property that does not exist get the same answer.
	t.Run("no probing of other owners' ids", func(t *testing.T) {
		theirs := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", leaseBody(b.property, a.tenant, nil), nil), http.StatusUnprocessableEntity)
		none := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", leaseBody(uuid.New(), a.tenant, nil), nil), http.StatusUnprocessableEntity)
		if fmt.Sprint(theirs.Errors) != fmt.Sprint(none.Errors) || theirs.Detail != none.Detail {
			t.Errorf("another owner's property %+v is answered differently from no property %+v", theirs, none)
		}
	})
	if got, tag := s.MustGetLease(t, a.token, existing.ID); got.EndDate != "2030-12-31" || tag != `"1"` {
		t.Errorf("the existing lease changed: %+v ETag %s", got, tag)
	}
}

func TestSignLeaseClientID(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	id := uuid.New()
	body := leaseBody(a.property, a.tenant, map[string]any{"id": id})

	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, nil)
	MustStatus(t, resp, http.StatusCreated)
	var first leaseDoc
	MustDecode(t, resp, &first)
	if got, want := first.ID, id.String(); got != want {
		t.Fatalf("id = %s, want the client's %s", got, want)
	}

	t.Run("same id and body again", func(t *testing.T) {
		before := s.MustLeaseWriteCounts(t)
		// The same amounts, written differently, are the same body.
		resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases", leaseBody(a.property, a.tenant, map[string]any{
			"id": id, "rent_amount": 1250, "security_deposit": "2500.00", "payment_day": 1, "auto_renew": false,
		}), nil)
		MustStatus(t, resp, http.StatusOK)
		var again leaseDoc
		MustDecode(t, resp, &again)
		if diff := diffLease(again, first); diff != "" {
			t.Errorf("repeated signing: %s", diff)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		if got := resp.Header.Get("Location"); got != "" {
			t.Errorf("a repeated create answers Location %q, want none (it created nothing)", got)
		}
		s.MustNoLeaseWrites(t, before, "repeated signing")
	})
	t.Run("same id, another body", func(t *testing.T) {
		before := s.MustLeaseWriteCounts(t)
		other := s.MustProperty(t, a.token)
		before = s.MustLeaseWriteCounts(t)
		for _, change := range []map[string]any{{"rent_amount": "1300"}, {"end_date": "2030-11-30"}, {"property_id": other}, {"auto_renew": true}} {
			change["id"] = id
			MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases", leaseBody(a.property, a.tenant, change), nil), http.StatusConflict)
		}
		s.MustNoLeaseWrites(t, before, "conflicting signings")
	})
	t.Run("the same signing racing itself", func(t *testing.T) {
		p := s.MustProperty(t, a.token)
		before := s.MustLeaseWriteCounts(t)
		const n = 10
		paths, bodies := make([]string, n), make([]any, n)
		for i := range n {
			paths[i], bodies[i] = "/api/v1/leases", leaseBody(p, a.tenant, map[string]any{"id": "6d0c8a3e-52f1-4c8e-9d47-1b2a3c4d5e6f"})
		}
		count := map[int]int{}
		for _, st := range s.leaseRace(t, a.token, paths, bodies) {
			count[st]++
		}
		if count[http.StatusCreated] != 1 || count[http.StatusOK] != n-1 {
			t.Errorf("statuses = %v, want one 201 and %d 200s", count, n-1)
		}
		after := s.MustLeaseWriteCounts(t)
		if after.events != before.events+1 || after.leases != before.leases+1 || after.reservations != before.reservations+1 {
			t.Errorf("racing repeats wrote (events, leases, reservations) +(%d, %d, %d), want +(1, 1, 1)",
				after.events-before.events, after.leases-before.leases, after.reservations-before.reservations)
		}
	})
	t.Run("same id and body from another owner", func(t *testing.T) {
		before := s.MustLeaseWriteCounts(t)
		p := MustProblem(t, s.Do(t, b.token, http.MethodPost, "/api/v1/leases", leaseBody(b.property, b.tenant, map[string]any{"id": id}), nil), http.StatusConflict)
		if strings.Contains(p.Detail, a.property.String()) {
			t.Errorf("conflict leaks the other owner's lease: %s", p.Detail)
		}
		s.MustNoLeaseWrites(t, before, "another owner's signing")
	})
}

func TestLeaseIdempotencyKey(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	key := map[string]string{"Idempotency-Key": "sign-2030"}
	body := leaseBody(a.property, a.tenant, nil)

	first := s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, key)
	MustStatus(t, first, http.StatusCreated)
	firstBody, _ := io.ReadAll(first.Body)

	before := s.MustLeaseWriteCounts(t)
	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases", body, key)
	MustStatus(t, resp, http.StatusCreated)
	got, _ := io.ReadAll(resp.Body)
	if string(got) != string(firstBody) {
		t.Errorf("replayed body = %s, want %s", got, firstBody)
	}
	if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
		t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
	}
	s.MustNoLeaseWrites(t, before, "replayed signing")

	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases",
		leaseBody(a.property, a.tenant, map[string]any{"end_date": "2030-06-30"}), key), http.StatusUnprocessableEntity)
	s.MustNoLeaseWrites(t, before, "reused key")

	// Renewal replays too.
	var l leaseDoc
	if err := json.Unmarshal(firstBody, &l); err != nil {
		t.Fatal(err)
	}
	renewKey := map[string]string{"Idempotency-Key": "renew-2031"}
	path := "/api/v1/leases/" + l.ID + "/renew"
	resp = s.Do(t, a.token, http.MethodPost, path, map[string]any{"end_date": "2031-12-31"}, renewKey)
	MustStatus(t, resp, http.StatusOK)
	before = s.MustLeaseWriteCounts(t)
	resp = s.Do(t, a.token, http.MethodPost, path, map[string]any{"end_date": "2031-12-31"}, renewKey)
	MustStatus(t, resp, http.StatusOK)
	if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
		t.Errorf("renewal Idempotent-Replayed = %q, want %q", got, want)
	}
	s.MustNoLeaseWrites(t, before, "replayed renewal")
}

func TestRenewLease(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-01-01", "end_date": "2030-06-30"}))
	next := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-10-01", "end_date": "2030-12-31"}))
	path := "/api/v1/leases/" + l.ID + "/renew"

	// Renewing without a new rent keeps the rent.
	resp := s.Do(t, a.token, http.MethodPost, path, map[string]any{"end_date": "2030-07-31"}, map[string]string{"If-Match": `"1"`})
	MustStatus(t, resp, http.StatusOK)
	var renewed leaseDoc
	MustDecode(t, resp, &renewed)
	if renewed.EndDate != "2030-07-31" || renewed.RentAmount != "1250.00" || renewed.Version != 2 || renewed.Status != "active" {
		t.Errorf("renewed = %+v, want end 2030-07-31, rent 1250.00, version 2, active", renewed)
	}
	if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	if renewed.UpdatedAt == renewed.CreatedAt || renewed.CreatedAt != l.CreatedAt {
		t.Errorf("created_at %s / updated_at %s: want created_at kept (%s) and updated_at moved", renewed.CreatedAt, renewed.UpdatedAt, l.CreatedAt)
	}
	// With a new rent, as a JSON number.
	resp = s.Do(t, a.token, http.MethodPost, path, map[string]any{"end_date": "2030-09-30", "rent_amount": 1300.5}, nil)
	MustStatus(t, resp, http.StatusOK)
	if got, _ := s.MustGetLease(t, a.token, l.ID); got.EndDate != "2030-09-30" || got.RentAmount != "1300.50" || got.Version != 3 {
		t.Errorf("after the second renewal: %+v, want end 2030-09-30, rent 1300.50, version 3", got)
	}

	terminated := s.MustSignLease(t, a.token, leaseBody(s.MustProperty(t, a.token), a.tenant, nil))
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+terminated.ID+"/terminate",
		map[string]any{"effective_date": "2030-02-01"}, nil), http.StatusOK)

	cases := []struct {
		name   string
		token  string
		path   string
		body   any
		header map[string]string
		want   int
		fields []string
	}{
		{"stale If-Match", a.token, path, map[string]any{"end_date": "2030-09-30"}, map[string]string{"If-Match": `"2"`}, http.StatusPreconditionFailed, nil},
		{"malformed If-Match", a.token, path, map[string]any{"end_date": "2030-09-30"}, map[string]string{"If-Match": `soon`}, http.StatusPreconditionFailed, nil},
		{"end equal to the current end", a.token, path, map[string]any{"end_date": "2030-09-30"}, nil, http.StatusUnprocessableEntity, []string{"end_date"}},
		{"end before the current end", a.token, path, map[string]any{"end_date": "2030-08-01"}, nil, http.StatusUnprocessableEntity, []string{"end_date"}},
		{"missing end", a.token, path, map[string]any{}, nil, http.StatusUnprocessableEntity, []string{"end_date"}},
		{"malformed end and rent", a.token, path, map[string]any{"end_date": "2031", "rent_amount": "12.345"}, nil, http.StatusUnprocessableEntity, []string{"end_date", "rent_amount"}},
		{"zero rent", a.token, path, map[string]any{"end_date": "2030-09-30", "rent_amount": 0}, nil, http.StatusUnprocessableEntity, []string{"end_date", "rent_amount"}},
		{"into the next lease", a.token, path, map[string]any{"end_date": "2030-10-01"}, nil, http.StatusConflict, nil},
		{"across the next lease", a.token, path, map[string]any{"end_date": "2031-06-30"}, nil, http.StatusConflict, nil},
		{"a terminated lease", a.token, "/api/v1/leases/" + terminated.ID + "/renew", map[string]any{"end_date": "2031-06-30"}, nil, http.StatusConflict, nil},
		{"unknown field", a.token, path, map[string]any{"end": "2031-06-30"}, nil, http.StatusBadRequest, nil},
		{"no token", "", path, map[string]any{"end_date": "2030-09-30"}, nil, http.StatusUnauthorized, nil},
		{"another owner's lease", b.token, path, map[string]any{"end_date": "2030-09-30"}, nil, http.StatusNotFound, nil},
		{"no such lease", a.token, "/api/v1/leases/" + uuid.NewString() + "/renew", map[string]any{"end_date": "2031-06-30"}, nil, http.StatusNotFound, nil},
		{"malformed lease id", a.token, "/api/v1/leases/42/renew", map[string]any{"end_date": "2031-06-30"}, nil, http.StatusNotFound, nil},
		{"wrong content type", a.token, path, `{"end_date":"2030-09-30"}`, map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			p := MustProblem(t, s.Do(t, c.token, http.MethodPost, c.path, c.body, c.header), c.want)
			if c.fields != nil {
				if got := p.fields(); !slices.Equal(got, c.fields) {
					t.Errorf("errors[].field = %q, want %q", got, c.fields)
				}
			}
			s.MustNoLeaseWrites(t, before, c.name)
		})
	}
	// The refusals left the next lease alone, and it can still renew.
	resp = s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+next.ID+"/renew", map[string]any{"end_date": "2031-12-31"}, nil)
	MustStatus(t, resp, http.StatusOK)
}

func TestTerminateLease(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	now := leaseToday()
	current := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{
		"start_date": now.AddDays(-30).String(), "end_date": now.AddDays(300).String(),
	}))
	path := "/api/v1/leases/" + current.ID + "/terminate"

	refusals := []struct {
		name   string
		token  string
		body   any
		header map[string]string
		want   int
		fields []string
	}{
		{"before the start date", a.token, map[string]any{"effective_date": now.AddDays(-31).String()}, nil, http.StatusUnprocessableEntity, []string{"effective_date"}},
		{"after the end date", a.token, map[string]any{"effective_date": now.AddDays(301).String()}, nil, http.StatusUnprocessableEntity, []string{"effective_date"}},
		{"malformed date", a.token, map[string]any{"effective_date": "tomorrow"}, nil, http.StatusUnprocessableEntity, []string{"effective_date"}},
		{"reason too long", a.token, map[string]any{"reason": strings.Repeat("r", 1001)}, nil, http.StatusUnprocessableEntity, []string{"reason"}},
		{"stale If-Match", a.token, map[string]any{}, map[string]string{"If-Match": `"2"`}, http.StatusPreconditionFailed, nil},
		{"another owner's lease", b.token, map[string]any{}, nil, http.StatusNotFound, nil},
		{"no body", a.token, nil, map[string]string{"Content-Type": "application/json"}, http.StatusBadRequest, nil},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			p := MustProblem(t, s.Do(t, c.token, http.MethodPost, path, c.body, c.header), c.want)
			if c.fields != nil {
				if got := p.fields(); !slices.Equal(got, c.fields) {
					t.Errorf("errors[].field = %q, want %q", got, c.fields)
				}
			}
			s.MustNoLeaseWrites(t, before, c.name)
		})
	}

	// Without an effective date the termination takes effect today (UTC).
	resp := s.Do(t, a.token, http.MethodPost, path, map[string]any{"reason": "tenant bought a house"}, map[string]string{"If-Match": `"1"`})
	MustStatus(t, resp, http.StatusOK)
	var got leaseDoc
	MustDecode(t, resp, &got)
	if got.Status != "terminated" || got.TerminatedOn == nil || *got.TerminatedOn != now.String() ||
		got.TerminationReason == nil || *got.TerminationReason != "tenant bought a house" || got.Version != 2 {
		t.Errorf("terminated = %+v, want status terminated on %s with the reason, version 2", got, now)
	}
	if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	if got := s.MustListLeases(t, a.token, "status=terminated").ids(); !slices.Equal(got, []string{current.ID}) {
		t.Errorf("terminated leases = %v, want %v", got, []string{current.ID})
	}

	t.Run("only once", func(t *testing.T) {
		before := s.MustLeaseWriteCounts(t)
		MustProblem(t, s.Do(t, a.token, http.MethodPost, path, map[string]any{}, nil), http.StatusConflict)
		s.MustNoLeaseWrites(t, before, "second termination")
	})
	t.Run("explicit date, no reason", func(t *testing.T) {
		l := s.MustSignLease(t, a.token, leaseBody(s.MustProperty(t, a.token), a.tenant, nil))
		resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+l.ID+"/terminate", map[string]any{"effective_date": "2030-12-31"}, nil)
		MustStatus(t, resp, http.StatusOK)
		var got leaseDoc
		MustDecode(t, resp, &got)
		if got.TerminatedOn == nil || *got.TerminatedOn != "2030-12-31" || got.TerminationReason != nil {
			t.Errorf("terminated_on %v, termination_reason %v; want 2030-12-31 and null", got.TerminatedOn, got.TerminationReason)
		}
	})
	t.Run("the dates are free again", func(t *testing.T) {
		s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{
			"start_date": now.AddDays(10).String(), "end_date": now.AddDays(20).String(),
		}))
	})
}

func TestArchivePropertyWithActiveLease(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, nil))
	status := "/api/v1/properties/" + a.property.String() + "/status"

	before := s.MustLeaseWriteCounts(t)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, status, map[string]any{"status": "archived"}, nil), http.StatusConflict)
	s.MustNoLeaseWrites(t, before, "archiving with an active lease")

	// An inactive property keeps its lease but takes no new one.
	MustStatus(t, s.Do(t, a.token, http.MethodPost, status, map[string]any{"status": "inactive"}, nil), http.StatusOK)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases",
		leaseBody(a.property, a.tenant, map[string]any{"start_date": "2035-01-01", "end_date": "2035-12-31"}), nil), http.StatusConflict)

	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+l.ID+"/terminate", map[string]any{"effective_date": "2030-01-01"}, nil), http.StatusOK)
	resp := s.Do(t, a.token, http.MethodPost, status, map[string]any{"status": "archived"}, nil)
	MustStatus(t, resp, http.StatusOK)
	var p propertyDoc
	MustDecode(t, resp, &p)
	if p.Status != "archived" {
		t.Errorf("status = %q, want archived", p.Status)
	}
}

// leaseDoRaw sends a request from any goroutine: it reports problems as errors
// instead of failing the test.
func (s *stack) leaseDoRaw(token, method, path string, body any) (int, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(method, s.http.URL+path, strings.NewReader(string(raw)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.http.Client().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// leaseRace sends the requests at once and returns their statuses, in order.
func (s *stack) leaseRace(t *testing.T, token string, paths []string, bodies []any) []int {
	t.Helper()
	statuses := make([]int, len(paths))
	errs := make([]error, len(paths))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			statuses[i], errs[i] = s.leaseDoRaw(token, http.MethodPost, paths[i], bodies[i])
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	return statuses
}

func TestSignLeaseRace(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	const n = 20
	paths, bodies := make([]string, n), make([]any, n)
	for i := range n {
		// Every pair of these periods overlaps: all contain 2030-06-30.
		paths[i] = "/api/v1/leases"
		bodies[i] = leaseBody(a.property, a.tenant, map[string]any{
			"start_date": domain.NewDate(2030, 1, 1).AddDays(i).String(),
			"end_date":   domain.NewDate(2030, 6, 30).AddDays(i).String(),
		})
	}
	events := s.MustEventCount(t)
	statuses := s.leaseRace(t, a.token, paths, bodies)

	count := map[int]int{}
	for _, st := range statuses {
		count[st]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
		t.Errorf("statuses = %v, want exactly one 201 and %d 409s", count, n-1)
	}
	if got, want := s.MustEventCount(t), events+1; got != want {
		t.Errorf("events = %d, want %d", got, want)
	}
	if got := s.MustCountEvents(t, "LeaseSigned"); got != 1 {
		t.Errorf("LeaseSigned events = %d, want 1", got)
	}
	var rows, active, reservations int
	err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM leases WHERE property_id = $1),
		(SELECT count(*) FROM leases WHERE property_id = $1 AND status = 'active'),
		(SELECT count(*) FROM lease_reservations WHERE property_id = $1)`, a.property).Scan(&rows, &active, &reservations)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 1 || active != 1 || reservations != 1 {
		t.Errorf("lease rows %d, active %d, reservations %d; want 1 each", rows, active, reservations)
	}
}

func TestRenewLeaseRace(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-01-01", "end_date": "2030-06-30"}))
	next := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-10-01", "end_date": "2030-12-31"}))

	// Twenty renewals of one lease race; the ends are ten days apart from
	// 2030-07-01. The first ten (up to 2030-09-29) fit before the next lease, the
	// other ten run into it. Whatever the order, every one of those is a 409, the
	// latest fitting end (2030-09-29) always wins, and an earlier fitting end either
	// lands first (200) or finds the lease already longer (422).
	const n = 20
	paths, bodies, ends := make([]string, n), make([]any, n), make([]domain.Date, n)
	for i := range n {
		ends[i] = domain.NewDate(2030, 7, 1).AddDays(10 * i)
		paths[i] = "/api/v1/leases/" + l.ID + "/renew"
		bodies[i] = map[string]any{"end_date": ends[i].String()}
	}
	events := s.MustEventCount(t)
	statuses := s.leaseRace(t, a.token, paths, bodies)

	renewals := 0
	for i, st := range statuses {
		fits := ends[i].Before(domain.NewDate(2030, 10, 1))
		switch {
		case !fits && st != http.StatusConflict:
			t.Errorf("renewal to %s (into the next lease) = %d, want 409", ends[i], st)
		case fits && ends[i] == domain.NewDate(2030, 9, 29) && st != http.StatusOK:
			t.Errorf("renewal to %s (the latest that fits) = %d, want 200", ends[i], st)
		case fits && st != http.StatusOK && st != http.StatusUnprocessableEntity:
			t.Errorf("renewal to %s = %d, want 200 or 422", ends[i], st)
		}
		if st == http.StatusOK {
			renewals++
		}
	}
	if got, want := s.MustEventCount(t), events+renewals; got != want {
		t.Errorf("events = %d, want %d (one per 200)", got, want)
	}
	got, tag := s.MustGetLease(t, a.token, l.ID)
	if got.EndDate != "2030-09-29" || got.Version != int64(1+renewals) || tag != fmt.Sprintf(`"%d"`, 1+renewals) {
		t.Errorf("after the race: end %s version %d ETag %s; want 2030-09-29, version %d", got.EndDate, got.Version, tag, 1+renewals)
	}
	var period string
	if err := s.pool.QueryRow(context.Background(), `SELECT period::text FROM lease_reservations WHERE lease_id = $1`, l.ID).Scan(&period); err != nil {
		t.Fatal(err)
	}
	if want := "[2030-01-01,2030-09-30)"; period != want {
		t.Errorf("reserved period = %s, want %s", period, want)
	}
	if got, _ := s.MustGetLease(t, a.token, next.ID); got.Version != 1 || got.Status != "active" {
		t.Errorf("the next lease = %+v, want untouched", got)
	}
}

func TestListLeases(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	_, manager := s.MustUser(t, domain.RoleManager)
	otherTenant := s.MustTenantFixture(t, a.userID)
	second := s.MustProperty(t, a.token)
	l1 := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{"start_date": "2030-01-01", "end_date": "2030-06-30"}))
	l2 := s.MustSignLease(t, a.token, leaseBody(a.property, otherTenant, map[string]any{"start_date": "2030-07-01", "end_date": "2030-12-31"}))
	l3 := s.MustSignLease(t, a.token, leaseBody(second, a.tenant, nil))
	lb := s.MustSignLease(t, b.token, leaseBody(b.property, b.tenant, nil))
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+l3.ID+"/terminate", map[string]any{"effective_date": "2030-03-01"}, nil), http.StatusOK)

	tests := []struct {
		name, token, query string
		want               []string
	}{
		{"all of A's, oldest first", a.token, "", []string{l1.ID, l2.ID, l3.ID}},
		{"by property", a.token, "property_id=" + a.property.String(), []string{l1.ID, l2.ID}},
		{"by tenant", a.token, "tenant_id=" + a.tenant.String(), []string{l1.ID, l3.ID}},
		{"by status", a.token, "status=active", []string{l1.ID, l2.ID}},
		{"by everything", a.token, "status=active&tenant_id=" + otherTenant.String() + "&property_id=" + a.property.String(), []string{l2.ID}},
		{"expired: none", a.token, "status=expired", []string{}},
		{"B sees only B's", b.token, "", []string{lb.ID}},
		{"B filtering by A's property sees nothing", b.token, "property_id=" + a.property.String(), []string{}},
		{"B filtering by A's tenant sees nothing", b.token, "tenant_id=" + a.tenant.String(), []string{}},
		{"a manager sees all", manager, "", []string{l1.ID, l2.ID, l3.ID, lb.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.MustListLeases(t, tt.token, tt.query).ids(); !slices.Equal(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("pages", func(t *testing.T) {
		var got []string
		query := "limit=2"
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("more pages than leases")
			}
			page := s.MustListLeases(t, manager, query)
			if len(page.Items) > 2 {
				t.Fatalf("page of %d items, want at most 2", len(page.Items))
			}
			got = append(got, page.ids()...)
			if page.NextCursor == nil {
				break
			}
			query = "limit=2&cursor=" + *page.NextCursor
		}
		if want := []string{l1.ID, l2.ID, l3.ID, lb.ID}; !slices.Equal(got, want) {
			t.Errorf("paged ids = %v, want %v", got, want)
		}
	})
	t.Run("items are whole leases", func(t *testing.T) {
		resp := s.Do(t, a.token, http.MethodGet, "/api/v1/leases?property_id="+second.String(), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var page struct {
			Items      []json.RawMessage `json:"items"`
			NextCursor *string           `json:"next_cursor"`
		}
		MustDecode(t, resp, &page)
		if len(page.Items) != 1 || page.NextCursor != nil {
			t.Fatalf("page = %d items, next_cursor %v; want 1 item and null", len(page.Items), page.NextCursor)
		}
		MustLeaseJSONKeys(t, "listed lease", page.Items[0], leaseKeys)
		var got leaseDoc
		if err := json.Unmarshal(page.Items[0], &got); err != nil {
			t.Fatal(err)
		}
		if got.Status != "terminated" || got.TerminatedOn == nil || *got.TerminatedOn != "2030-03-01" {
			t.Errorf("listed lease = %+v, want terminated on 2030-03-01", got)
		}
	})
	for _, query := range []string{"property_id=nope", "tenant_id=123", "status=pending", "status=Active", "limit=0", "limit=201", "cursor=%21%21"} {
		t.Run("bad query "+query, func(t *testing.T) {
			MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/leases?"+query, nil, nil), http.StatusBadRequest)
		})
	}
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/leases", nil, nil), http.StatusUnauthorized)
}

func TestLeaseOwnerIsolation(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, nil))
	pathA := "/api/v1/leases/" + l.ID
	nowhere := "/api/v1/leases/" + uuid.NewString()

	cases := []struct {
		name, method, suffix string
		body                 any
		header               map[string]string
	}{
		{"GET", http.MethodGet, "", nil, nil},
		{"history", http.MethodGet, "/history", nil, nil},
		{"renew", http.MethodPost, "/renew", map[string]any{"end_date": "2031-12-31"}, nil},
		{"renew with If-Match", http.MethodPost, "/renew", map[string]any{"end_date": "2031-12-31"}, map[string]string{"If-Match": `"1"`}},
		{"terminate", http.MethodPost, "/terminate", map[string]any{}, nil},
		{"terminate with Idempotency-Key", http.MethodPost, "/terminate", map[string]any{}, map[string]string{"Idempotency-Key": "t"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustLeaseWriteCounts(t)
			got := MustProblem(t, s.Do(t, b.token, c.method, pathA+c.suffix, c.body, c.header), http.StatusNotFound)
			s.MustNoLeaseWrites(t, before, "B's "+c.name+" of A's lease")
			want := MustProblem(t, s.Do(t, b.token, c.method, nowhere+c.suffix, c.body, c.header), http.StatusNotFound)
			if got.Title != want.Title || got.Detail != want.Detail {
				t.Errorf("404 for A's lease %+v differs from 404 for no lease %+v", got, want)
			}
		})
	}
	t.Run("active leases of A's property", func(t *testing.T) {
		MustProblem(t, s.Do(t, b.token, http.MethodGet, "/api/v1/properties/"+a.property.String()+"/active-leases", nil, nil), http.StatusNotFound)
	})
	if got, tag := s.MustGetLease(t, a.token, l.ID); got.Version != 1 || got.Status != "active" || tag != `"1"` {
		t.Errorf("A's lease became %+v ETag %s", got, tag)
	}
	if got, tag := s.MustGetLease(t, admin, l.ID); got.ID != l.ID || tag != `"1"` {
		t.Errorf("admin reads %+v ETag %s, want A's lease", got, tag)
	}
}

func TestLeaseHistory(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	managerID, manager := s.MustUser(t, domain.RoleManager)
	l := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, nil))
	path := "/api/v1/leases/" + l.ID
	MustStatus(t, s.Do(t, a.token, http.MethodPost, path+"/renew", map[string]any{"end_date": "2031-06-30", "rent_amount": "1300"}, nil), http.StatusOK)
	MustStatus(t, s.Do(t, manager, http.MethodPost, path+"/terminate", map[string]any{"effective_date": "2031-01-31", "reason": "sold"}, nil), http.StatusOK)

	before := s.MustLeaseWriteCounts(t)
	resp := s.Do(t, a.token, http.MethodGet, path+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var history struct {
		Items []struct {
			EventID string          `json:"event_id"`
			Type    string          `json:"type"`
			Version int64           `json:"version"`
			ActorID *string         `json:"actor_id"`
			Data    json.RawMessage `json:"data"`
		} `json:"items"`
	}
	MustDecode(t, resp, &history)
	s.MustNoLeaseWrites(t, before, "GET history")
	want := []struct {
		typ   string
		actor uuid.UUID
		data  string
	}{
		{"LeaseSigned", a.userID, `"rent_amount":"1250.00"`},
		{"LeaseRenewed", a.userID, `"end_date":"2031-06-30"`},
		{"LeaseTerminated", managerID, `"reason":"sold"`},
	}
	if len(history.Items) != len(want) {
		t.Fatalf("history has %d items, want %d", len(history.Items), len(want))
	}
	for i, item := range history.Items {
		w := want[i]
		if item.Type != w.typ || item.Version != int64(i+1) || item.ActorID == nil || *item.ActorID != w.actor.String() {
			t.Errorf("item %d = %s v%d by %v, want %s v%d by %s", i, item.Type, item.Version, item.ActorID, w.typ, i+1, w.actor)
		}
		if !strings.Contains(compactJSON(item.Data), w.data) {
			t.Errorf("item %d data = %s, want it to hold %s", i, item.Data, w.data)
		}
	}
	if got, _ := s.MustGetLease(t, a.token, l.ID); got.Status != "terminated" || got.RentAmount != "1300.00" || got.EndDate != "2031-06-30" || got.Version != 3 {
		t.Errorf("lease = %+v, want terminated, rent 1300.00, end 2031-06-30, version 3", got)
	}
	MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/leases/"+uuid.NewString()+"/history", nil, nil), http.StatusNotFound)
}

func TestExpireDueThroughTheReadModel(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	now := leaseToday()
	past := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{
		"start_date": now.AddDays(-60).String(), "end_date": now.AddDays(-1).String(),
	}))
	current := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{
		"start_date": now.String(), "end_date": now.AddDays(30).String(),
	}))
	ctx := context.Background()

	for run, want := range []int{1, 0} {
		n, err := s.server.Leases.ExpireDue(ctx, now)
		if err != nil || n != want {
			t.Fatalf("run %d: ExpireDue = %d, %v; want %d, nil", run+1, n, err, want)
		}
	}
	if got, tag := s.MustGetLease(t, a.token, past.ID); got.Status != "expired" || got.Version != 2 || tag != `"2"` {
		t.Errorf("past lease = %+v ETag %s, want expired, version 2", got, tag)
	}
	if got, _ := s.MustGetLease(t, a.token, current.ID); got.Status != "active" || got.Version != 1 {
		t.Errorf("current lease = %+v, want active, version 1", got)
	}
	if got := s.MustCountEvents(t, "LeaseExpired"); got != 1 {
		t.Errorf("LeaseExpired events = %d, want 1", got)
	}
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+past.ID+"/renew", map[string]any{"end_date": now.AddDays(365).String()}, nil), http.StatusConflict)
}

// activeLeaseDoc is a row of GET /properties/{id}/active-leases.
type activeLeaseDoc struct {
	leaseDoc
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

func TestActiveLeasesForProperty(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	_, manager := s.MustUser(t, domain.RoleManager)
	now := leaseToday()
	other := s.MustProperty(t, a.token)
	// Fixtures, signed in an order other than their start dates.
	later := s.MustLeaseFixture(t, a.property, a.tenant, now.AddDays(100), now.AddDays(200), "1400")
	ended := s.MustLeaseFixture(t, a.property, a.tenant, now.AddDays(-100), now.AddDays(-11), "1200") // active, not yet expired
	current := s.MustLeaseFixture(t, a.property, a.tenant, now.AddDays(-10), now, "1300")             // ends today: still listed
	s.MustLeaseFixture(t, other, a.tenant, now.AddDays(-10), now.AddDays(10), "900")
	terminated := s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, map[string]any{
		"start_date": now.AddDays(300).String(), "end_date": now.AddDays(400).String(),
	}))
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+terminated.ID+"/terminate",
		map[string]any{"effective_date": now.AddDays(300).String()}, nil), http.StatusOK)
	path := "/api/v1/properties/" + a.property.String() + "/active-leases"

	read := func(t *testing.T, token, query string) []json.RawMessage {
		t.Helper()
		resp := s.Do(t, token, http.MethodGet, path+query, nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var body struct {
			Items []json.RawMessage `json:"items"`
		}
		MustDecode(t, resp, &body)
		if body.Items == nil {
			t.Fatalf("items is null or missing, want an array")
		}
		return body.Items
	}
	ids := func(t *testing.T, items []json.RawMessage) []string {
		t.Helper()
		out := make([]string, len(items))
		for i, raw := range items {
			var l activeLeaseDoc
			if err := json.Unmarshal(raw, &l); err != nil {
				t.Fatal(err)
			}
			out[i] = l.ID
		}
		return out
	}

	items := read(t, a.token, "")
	if got, want := ids(t, items), []string{current.String(), later.String()}; !slices.Equal(got, want) {
		t.Errorf("active leases today = %v, want %v (by start date; not the ended, terminated or other property's)", got, want)
	}
	for i, raw := range items {
		MustLeaseJSONKeys(t, fmt.Sprintf("item %d", i), raw, append(slices.Clone(seedLeaseKeys), "first_name", "last_name", "email"))
	}
	var first activeLeaseDoc
	if err := json.Unmarshal(items[0], &first); err != nil {
		t.Fatal(err)
	}
	if first.FirstName != "Ada" || first.LastName != "Lovelace" || !strings.HasPrefix(first.Email, "ada-") ||
		first.RentAmount != "1300.00" || first.EndDate != now.String() || first.Status != "active" || first.Version != 1 ||
		first.TenantID != a.tenant.String() || first.PropertyID != a.property.String() {
		t.Errorf("first item = %+v, want the current lease with its tenant Ada Lovelace", first)
	}

	asOf := []struct {
		date string
		want []string
	}{
		{now.AddDays(-50).String(), []string{ended.String(), current.String(), later.String()}},
		{now.AddDays(1).String(), []string{later.String()}},
		{now.AddDays(201).String(), []string{}},
	}
	for _, c := range asOf {
		t.Run("as of "+c.date, func(t *testing.T) {
			if got := ids(t, read(t, a.token, "?as_of="+c.date)); !slices.Equal(got, c.want) {
				t.Errorf("ids = %v, want %v", got, c.want)
			}
		})
	}
	if got := ids(t, read(t, manager, "")); len(got) != 2 {
		t.Errorf("manager sees %d active leases, want 2", len(got))
	}
	if got := read(t, a.token, "?as_of=2000-01-01"); len(got) != 3 {
		t.Errorf("as of 2000: %d items, want 3", len(got))
	}
	MustProblem(t, s.Do(t, a.token, http.MethodGet, path+"?as_of=yesterday", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/properties/"+uuid.NewString()+"/active-leases", nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/properties/nope/active-leases", nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, "", http.MethodGet, path, nil, nil), http.StatusUnauthorized)
}

// expiringLeaseDoc is a row of GET /reports/expiring-leases.
type expiringLeaseDoc struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	OwnerID   *string `json:"owner_id"`
	LeaseID   string  `json:"lease_id"`
	EndDate   string  `json:"end_date"`
	FirstName string  `json:"first_name"`
	LastName  string  `json:"last_name"`
	Email     string  `json:"email"`
	Phone     *string `json:"phone"`
}

func TestExpiringLeasesReport(t *testing.T) {
	s := MustStack(t)
	a := s.MustLeaseSetup(t)
	b := s.MustLeaseSetup(t)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	now := leaseToday()

	// One lease per property of A, ending at various distances from today.
	leaseEnding := func(owner leaseSetup, days int) (property, lease uuid.UUID) {
		t.Helper()
		property = s.MustProperty(t, owner.token)
		lease = s.MustLeaseFixture(t, property, owner.tenant, now.AddDays(days-200), now.AddDays(days), "1000")
		return property, lease
	}
	_, in30 := leaseEnding(a, 30)
	_, in31 := leaseEnding(a, 31)
	_, in10 := leaseEnding(a, 10)
	p0, in0 := leaseEnding(a, 0)
	_, in10b := leaseEnding(a, 10)    // ties on end date are ordered by lease id
	_, inMinus1 := leaseEnding(a, -1) // ended yesterday, not yet expired
	_, bIn5 := leaseEnding(b, 5)
	_, terminated := leaseEnding(a, 20)
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+terminated.String()+"/terminate",
		map[string]any{"effective_date": now.String()}, nil), http.StatusOK)

	tens := []string{in10.String(), in10b.String()}
	slices.Sort(tens)
	read := func(t *testing.T, token, query string) []json.RawMessage {
		t.Helper()
		resp := s.Do(t, token, http.MethodGet, "/api/v1/reports/expiring-leases"+query, nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var body struct {
			Items []json.RawMessage `json:"items"`
		}
		MustDecode(t, resp, &body)
		if body.Items == nil {
			t.Fatalf("items is null or missing, want an array")
		}
		return body.Items
	}
	leaseIDs := func(t *testing.T, items []json.RawMessage) []string {
		t.Helper()
		out := make([]string, len(items))
		for i, raw := range items {
			var e expiringLeaseDoc
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatal(err)
			}
			out[i] = e.LeaseID
		}
		return out
	}

	tests := []struct {
		name, token, query string
		want               []string
	}{
		{"A, default 30 days", a.token, "", []string{in0.String(), tens[0], tens[1], in30.String()}},
		{"A, 30 days explicitly", a.token, "?days=30", []string{in0.String(), tens[0], tens[1], in30.String()}},
		{"A, 10 days", a.token, "?days=10", []string{in0.String(), tens[0], tens[1]}},
		{"A, today only", a.token, "?days=0", []string{in0.String()}},
		{"A, 31 days", a.token, "?days=31", []string{in0.String(), tens[0], tens[1], in30.String(), in31.String()}},
		{"A, as of tomorrow", a.token, "?days=30&as_of=" + now.AddDays(1).String(), []string{tens[0], tens[1], in30.String(), in31.String()}},
		{"A, as of yesterday, 1 day", a.token, "?days=1&as_of=" + now.AddDays(-1).String(), []string{inMinus1.String(), in0.String()}},
		{"B sees none of A's", b.token, "", []string{bIn5.String()}},
		{"admin sees everyone's", admin, "?days=10", []string{in0.String(), bIn5.String(), tens[0], tens[1]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := leaseIDs(t, read(t, tt.token, tt.query)); !slices.Equal(got, tt.want) {
				t.Errorf("lease ids = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("rows carry the property, the lease end and the tenant", func(t *testing.T) {
		items := read(t, a.token, "?days=0")
		if len(items) != 1 {
			t.Fatalf("%d items, want 1", len(items))
		}
		MustLeaseJSONKeys(t, "expiring lease", items[0], append(slices.Clone(leaseReportPropertyKeys), "lease_id", "end_date", "first_name", "last_name", "email", "phone"))
		var e expiringLeaseDoc
		if err := json.Unmarshal(items[0], &e); err != nil {
			t.Fatal(err)
		}
		if e.ID != p0.String() || e.LeaseID != in0.String() || e.EndDate != now.String() || e.OwnerID == nil ||
			*e.OwnerID != a.userID.String() || e.FirstName != "Ada" || e.LastName != "Lovelace" || e.Phone != nil {
			t.Errorf("row = %+v, want property %s, lease %s ending %s, owner %s, tenant Ada Lovelace without phone", e, p0, in0, now, a.userID)
		}
	})
	for _, query := range []string{"?days=-1", "?days=366", "?days=x", "?days=1.5", "?as_of=2030-02-30", "?as_of=now", "?limit=201"} {
		t.Run("bad query "+query, func(t *testing.T) {
			MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/reports/expiring-leases"+query, nil, nil), http.StatusBadRequest)
		})
	}
	all := leaseIDs(t, read(t, a.token, "?days=365"))
	if len(all) != 5 {
		t.Errorf("days=365: %d items, want 5", len(all))
	}
	t.Run("pages of two follow each other", func(t *testing.T) {
		var paged []string
		query := "?days=365&limit=2"
		for pages := 1; ; pages++ {
			resp := s.Do(t, a.token, http.MethodGet, "/api/v1/reports/expiring-leases"+query, nil, nil)
			MustStatus(t, resp, http.StatusOK)
			var page struct {
				Items      []json.RawMessage `json:"items"`
				NextCursor *string           `json:"next_cursor"`
			}
			MustDecode(t, resp, &page)
			paged = append(paged, leaseIDs(t, page.Items)...)
			if page.NextCursor == nil {
				if pages != 3 {
					t.Errorf("%d pages, want 3", pages)
				}
				break
			}
			query = "?days=365&limit=2&cursor=" + *page.NextCursor
		}
		if !slices.Equal(paged, all) {
			t.Errorf("paged lease ids = %v, want %v", paged, all)
		}
	})
	MustProblem(t, s.Do(t, a.token, http.MethodGet, "/api/v1/reports/expiring-leases?cursor=x", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/reports/expiring-leases", nil, nil), http.StatusUnauthorized)
}
