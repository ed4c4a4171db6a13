package http

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/domain"
)

func TestPropertyAsOf(t *testing.T) {
	s := MustStack(t)
	_, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	id := s.MustProperty(t, tokenA)
	path := "/api/v1/properties/" + id.String()
	MustStatus(t, s.Do(t, tokenA, http.MethodPatch, path, map[string]any{"city": "Shelbyville"}, nil), http.StatusOK)
	MustStatus(t, s.Do(t, tokenA, http.MethodPost, path+"/status", map[string]any{"status": "inactive"}, nil), http.StatusOK)

	var history struct {
		Items []struct {
			RecordedAt time.Time `json:"recorded_at"`
		} `json:"items"`
	}
	resp := s.Do(t, tokenA, http.MethodGet, path+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &history)
	if len(history.Items) != 3 {
		t.Fatalf("history has %d events, want 3", len(history.Items))
	}
	at := func(d time.Time) string { return "?as_of=" + url.QueryEscape(d.Format(time.RFC3339Nano)) }

	cases := []struct {
		name             string
		asOf             string
		wantCity, wantSt string
		wantVersion      float64
	}{
		{"at creation", at(history.Items[0].RecordedAt), "Springfield", "active", 1},
		{"between change and status", at(history.Items[1].RecordedAt.Add(time.Microsecond)), "Shelbyville", "active", 2},
		{"now", at(time.Now().Add(time.Hour)), "Shelbyville", "inactive", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.Do(t, tokenA, http.MethodGet, path+c.asOf, nil, nil)
			MustStatus(t, resp, http.StatusOK)
			var p map[string]any
			MustDecode(t, resp, &p)
			if p["city"] != c.wantCity || p["status"] != c.wantSt || p["version"] != c.wantVersion {
				t.Errorf("as of %s: city %v status %v version %v; want %s %s %v",
					c.asOf, p["city"], p["status"], p["version"], c.wantCity, c.wantSt, c.wantVersion)
			}
			if got, want := resp.Header.Get("ETag"), fmt.Sprintf(`"%d"`, int(c.wantVersion)); got != want {
				t.Errorf("ETag = %s, want %s", got, want)
			}
		})
	}

	// Before it existed: not found. Another owner: not found. Malformed: 400.
	MustStatus(t, s.Do(t, tokenA, http.MethodGet, path+at(history.Items[0].RecordedAt.Add(-time.Microsecond)), nil, nil), http.StatusNotFound)
	MustStatus(t, s.Do(t, tokenB, http.MethodGet, path+at(time.Now()), nil, nil), http.StatusNotFound)
	MustStatus(t, s.Do(t, tokenA, http.MethodGet, path+"?as_of=yesterday", nil, nil), http.StatusBadRequest)

	// The replay left nothing behind: the live property is unchanged.
	resp = s.Do(t, tokenA, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var live map[string]any
	MustDecode(t, resp, &live)
	if live["status"] != "inactive" || live["version"] != float64(3) {
		t.Errorf("live property after replays: %v", live)
	}
}

// A transaction's past is readable even though its replay holds no lease or property.
func TestTransactionAsOf(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	tenant := s.MustTenantFixture(t, ownerID)
	lease := s.MustLeaseFixture(t, property, tenant, domain.NewDate(2026, 1, 1), domain.NewDate(2026, 12, 31), "1250.00")
	resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions", map[string]any{
		"lease_id": lease, "amount": "1250.00", "type": "rent", "due_date": "2026-02-01",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	var charge struct {
		ID        string    `json:"id"`
		CreatedAt time.Time `json:"created_at"`
	}
	MustDecode(t, resp, &charge)
	path := "/api/v1/transactions/" + charge.ID
	MustStatus(t, s.Do(t, token, http.MethodPost, path+"/pay", map[string]any{
		"payment_date": "2026-02-01", "payment_method": "cash",
	}, nil), http.StatusOK)

	resp = s.Do(t, token, http.MethodGet, path+"?as_of="+url.QueryEscape(charge.CreatedAt.Format(time.RFC3339Nano)), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var then map[string]any
	MustDecode(t, resp, &then)
	if then["status"] != "pending" || then["payment_date"] != nil {
		t.Errorf("as of its posting the charge was pending and unpaid; got status %v payment_date %v", then["status"], then["payment_date"])
	}
}

func TestLeaseAsOf(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	tenant := s.MustTenantFixture(t, ownerID)
	lease := s.MustLeaseFixture(t, property, tenant, domain.NewDate(2026, 1, 1), domain.NewDate(2026, 12, 31), "1250.00")
	path := "/api/v1/leases/" + lease.String()
	resp := s.Do(t, token, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var signed struct {
		CreatedAt time.Time `json:"created_at"`
	}
	MustDecode(t, resp, &signed)
	MustStatus(t, s.Do(t, token, http.MethodPost, path+"/renew", map[string]any{"end_date": "2027-06-30", "rent_amount": "1300.00"}, nil), http.StatusOK)

	resp = s.Do(t, token, http.MethodGet, path+"?as_of="+url.QueryEscape(signed.CreatedAt.Format(time.RFC3339Nano)), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	var then map[string]any
	MustDecode(t, resp, &then)
	if then["end_date"] != "2026-12-31" || then["rent_amount"] != "1250.00" {
		t.Errorf("as of signing: end_date %v rent %v, want 2026-12-31 and 1250.00", then["end_date"], then["rent_amount"])
	}
}
