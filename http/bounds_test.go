package http

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/domain"
)

// TestValuesTheDatabaseCannotHoldAreRefused sends every command a value at or
// beyond a bound of its column (or of the domain's date window) and checks that
// each is refused with a problem naming the field, before any event exists.
func TestValuesTheDatabaseCannotHoldAreRefused(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	tenant := s.MustTenantFixture(t, userID)
	today := domain.DateOf(time.Now())
	lease := s.MustLeaseFixture(t, property, tenant, today.AddDays(-30), today.AddDays(335), "1250.00")
	charge := s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"due_date": today.String()}))
	work := s.MustCreateMaintenance(t, token, maintenanceBody(property, tenant, nil))

	var (
		millionDigits = "1" + strings.Repeat("0", 1_000_000)
		tooLongText   = func(n int) string { return strings.Repeat("x", n+1) }
		leasePath     = "/api/v1/leases/" + lease.String()
		chargePath    = "/api/v1/transactions/" + charge.ID
		workPath      = maintenancePath + "/" + work.ID
		propertyPath  = "/api/v1/properties/" + property.String()
		newLease      = func(over map[string]any) map[string]any {
			dates := map[string]any{"start_date": today.String(), "end_date": today.AddDays(364).String()}
			maps.Copy(dates, over)
			return leaseBody(property, tenant, dates)
		}
		newCharge = func(over map[string]any) map[string]any { return chargeBody(lease, over) }
		newWork   = func(over map[string]any) map[string]any { return maintenanceBody(property, tenant, over) }
		newTenant = func(over map[string]any) map[string]any { return tenantBody(over) }
		newProp   = func(over map[string]any) map[string]any { return propertyBody(over) }
		rawAmount = func(field, raw string) string { // a JSON number as it came, unquoted
			return `{"lease_id":"` + lease.String() + `","type":"rent","due_date":"` + today.String() + `","` + field + `":` + raw + `}`
		}
	)
	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string // the field the 422 names
	}{
		// Dates: the window is 1900-01-01..2199-12-31.
		{"charge due in year 0", "POST", "/api/v1/transactions", newCharge(map[string]any{"due_date": "0000-01-01"}), 422, "due_date"},
		{"charge due in year 1", "POST", "/api/v1/transactions", newCharge(map[string]any{"due_date": "0001-01-01"}), 422, "due_date"},
		{"charge due the day before the window", "POST", "/api/v1/transactions", newCharge(map[string]any{"due_date": "1899-12-31"}), 422, "due_date"},
		{"charge due the day after the window", "POST", "/api/v1/transactions", newCharge(map[string]any{"due_date": "2200-01-01"}), 422, "due_date"},
		{"charge due in year 9999", "POST", "/api/v1/transactions", newCharge(map[string]any{"due_date": "9999-12-31"}), 422, "due_date"},
		{"payment in year 0", "POST", chargePath + "/pay", map[string]any{"payment_date": "0000-01-01", "payment_method": "cash"}, 422, "payment_date"},
		{"payment after the window", "POST", chargePath + "/pay", map[string]any{"payment_date": "2200-01-01", "payment_method": "cash"}, 422, "payment_date"},
		{"lease starting in year 0", "POST", "/api/v1/leases", newLease(map[string]any{"start_date": "0000-01-01"}), 422, "start_date"},
		{"lease starting before the window", "POST", "/api/v1/leases", newLease(map[string]any{"start_date": "1899-12-31"}), 422, "start_date"},
		{
			"lease starting a day more than 10 years back", "POST", "/api/v1/leases",
			newLease(map[string]any{"start_date": today.AddYears(-domain.MaxLeaseBackdateYears).AddDays(-1).String()}), 422, "start_date",
		},
		{
			"lease a day longer than 99 years", "POST", "/api/v1/leases",
			newLease(map[string]any{"end_date": today.AddYears(domain.MaxLeaseTermYears).AddDays(1).String()}), 422, "end_date",
		},
		{"lease ending after the window", "POST", "/api/v1/leases", newLease(map[string]any{"end_date": "2200-01-01"}), 422, "end_date"},
		{"renewal to year 9999", "POST", leasePath + "/renew", map[string]any{"end_date": "9999-12-31"}, 422, "end_date"},
		{"renewal to year 0", "POST", leasePath + "/renew", map[string]any{"end_date": "0000-01-01"}, 422, "end_date"},
		{
			"renewal a day longer than 99 years", "POST", leasePath + "/renew",
			map[string]any{"end_date": today.AddDays(335).AddYears(domain.MaxLeaseTermYears).AddDays(1).String()}, 422, "end_date",
		},
		{"termination in year 0", "POST", leasePath + "/terminate", map[string]any{"effective_date": "0000-01-01"}, 422, "effective_date"},
		{"date of birth in year 0", "POST", "/api/v1/tenants", newTenant(map[string]any{"date_of_birth": "0000-01-01"}), 422, "date_of_birth"},
		{"date of birth before the window", "POST", "/api/v1/tenants", newTenant(map[string]any{"date_of_birth": "1899-12-31"}), 422, "date_of_birth"},
		{"work scheduled in year 0", "POST", workPath + "/schedule", map[string]any{"scheduled_date": "0000-01-01T00:00:00Z"}, 422, "scheduled_date"},
		{"work scheduled in UTC year -1", "POST", workPath + "/schedule", map[string]any{"scheduled_date": "0000-01-01T00:00:00+01:00"}, 422, "scheduled_date"},
		{"work scheduled in UTC year 10000", "POST", workPath + "/schedule", map[string]any{"scheduled_date": "9999-12-31T23:59:59-01:00"}, 422, "scheduled_date"},
		{"work scheduled after the window", "POST", workPath + "/schedule", map[string]any{"scheduled_date": "2200-01-01T00:00:00Z"}, 422, "scheduled_date"},

		// Money and decimals: length-checked before parsing, then NUMERIC(p,s).
		{"amount of a million digits", "POST", "/api/v1/transactions", newCharge(map[string]any{"amount": millionDigits}), 422, "amount"},
		{"amount of a million digits as a JSON number", "POST", "/api/v1/transactions", rawAmount("amount", millionDigits), 422, "amount"},
		{"amount with a huge exponent", "POST", "/api/v1/transactions", newCharge(map[string]any{"amount": "1e999999999"}), 422, "amount"},
		{"amount with a huge negative exponent", "POST", "/api/v1/transactions", rawAmount("amount", "1e-999999999"), 422, "amount"},
		{"amount of 10^8 (NUMERIC(10,2))", "POST", "/api/v1/transactions", newCharge(map[string]any{"amount": "100000000.00"}), 422, "amount"},
		{"amount of three places", "POST", "/api/v1/transactions", newCharge(map[string]any{"amount": "99999999.991"}), 422, "amount"},
		{"rent of 10^8", "POST", "/api/v1/leases", newLease(map[string]any{"rent_amount": "100000000"}), 422, "rent_amount"},
		{"deposit with a huge exponent", "POST", "/api/v1/leases", newLease(map[string]any{"security_deposit": "1e999999999"}), 422, "security_deposit"},
		{"renewal rent of a million digits", "POST", leasePath + "/renew", map[string]any{"end_date": today.AddDays(700).String(), "rent_amount": millionDigits}, 422, "rent_amount"},
		{"income of 10^10 (NUMERIC(12,2))", "POST", "/api/v1/tenants", newTenant(map[string]any{"income": "10000000000.00"}), 422, "income"},
		{"income of a million digits", "POST", "/api/v1/tenants", newTenant(map[string]any{"income": millionDigits}), 422, "income"},
		{"screening income with a huge exponent", "POST", "/api/v1/tenants/" + tenant.String() + "/screening", map[string]any{"income": "1e999999999"}, 422, "income"},
		{"bathrooms of 100 (NUMERIC(3,1))", "POST", "/api/v1/properties", newProp(map[string]any{"bathrooms": "100"}), 422, "bathrooms"},
		{"bathrooms with a huge negative exponent", "POST", "/api/v1/properties", newProp(map[string]any{"bathrooms": "1e-999999999"}), 422, "bathrooms"},
		{"patched bathrooms of a million digits", "PATCH", propertyPath, map[string]any{"bathrooms": millionDigits}, 422, "bathrooms"},
		{"estimated cost of 10^8", "POST", maintenancePath, newWork(map[string]any{"estimated_cost": "100000000"}), 422, "estimated_cost"},
		{"estimated cost of a million digits", "POST", maintenancePath, newWork(map[string]any{"estimated_cost": millionDigits}), 422, "estimated_cost"},
		{"patched estimated cost with a huge exponent", "PATCH", workPath, map[string]any{"estimated_cost": "1e999999999"}, 422, "estimated_cost"},
		{"actual cost of 10^8", "POST", workPath + "/complete", map[string]any{"actual_cost": "100000000"}, 422, "actual_cost"},
		{"late-fee percent over 100 (NUMERIC(5,2))", "PUT", propertyPath + "/late-fee-policy", map[string]any{"grace_days": 5, "percent": "100.01"}, 422, "percent"},
		{"late-fee percent of a million digits", "PUT", leasePath + "/late-fee-policy", map[string]any{"grace_days": 5, "percent": millionDigits}, 422, "percent"},
		{"late-fee flat amount with a huge exponent", "PUT", propertyPath + "/late-fee-policy", map[string]any{"grace_days": 5, "flat_amount": "1e999999999"}, 422, "flat_amount"},
		{"late-fee cap of 10^8", "PUT", propertyPath + "/late-fee-policy", map[string]any{"grace_days": 5, "flat_amount": "5", "monthly_cap": "100000000"}, 422, "monthly_cap"},

		// Integers beyond their INTEGER columns or CHECKs.
		{"grace days beyond INTEGER", "PUT", propertyPath + "/late-fee-policy", map[string]any{"grace_days": int64(1) << 31, "flat_amount": "5"}, 422, "grace_days"},
		{"payment day beyond INTEGER", "POST", "/api/v1/leases", newLease(map[string]any{"payment_day": int64(1) << 31}), 422, "payment_day"},
		{"credit score beyond INTEGER", "POST", "/api/v1/tenants", newTenant(map[string]any{"credit_score": int64(1) << 31}), 422, "credit_score"},
		{"square feet beyond INTEGER", "POST", "/api/v1/properties", newProp(map[string]any{"square_feet": int64(1) << 31}), 422, "square_feet"},
		{"bedrooms beyond INTEGER", "POST", "/api/v1/properties", newProp(map[string]any{"bedrooms": int64(1) << 31}), 422, "bedrooms"},
		{"year built of five digits", "POST", "/api/v1/properties", newProp(map[string]any{"year_built": 10000}), 422, "year_built"},
		{"bedrooms beyond int64", "POST", "/api/v1/properties", `{"name":"x","address":"x","city":"x","state":"x","zip_code":"1","property_type":"land","bedrooms":1e400}`, 400, ""},

		// Strings longer than their VARCHAR columns.
		{"property name of 256", "POST", "/api/v1/properties", newProp(map[string]any{"name": tooLongText(255)}), 422, "name"},
		{"zip code of 21", "POST", "/api/v1/properties", newProp(map[string]any{"zip_code": tooLongText(20)}), 422, "zip_code"},
		{"tenant phone of 21", "POST", "/api/v1/tenants", newTenant(map[string]any{"phone": tooLongText(20)}), 422, "phone"},
		{"background check status of 51", "POST", "/api/v1/tenants", newTenant(map[string]any{"background_check_status": tooLongText(50)}), 422, "background_check_status"},
		{"reference number of 101", "POST", chargePath + "/pay", map[string]any{"payment_date": today.String(), "payment_method": "cash", "reference_number": tooLongText(100)}, 422, "reference_number"},
		{"maintenance title of 256", "POST", maintenancePath, newWork(map[string]any{"title": tooLongText(255)}), 422, "title"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.MustEventCount(t)
			started := time.Now()
			resp := s.Do(t, token, tt.method, tt.path, tt.body, nil)
			took := time.Since(started)
			MustStatus(t, resp, tt.status)
			var p problemDoc
			MustDecode(t, resp, &p)
			if tt.field != "" && !slices.ContainsFunc(p.Errors, func(e struct {
				Field   string `json:"field"`
				Code    string `json:"code"`
				Message string `json:"message"`
			}) bool {
				return e.Field == tt.field
			}) {
				t.Errorf("problem %+v does not name the field %s", p, tt.field)
			}
			if after := s.MustEventCount(t); after != before {
				t.Errorf("the refusal changed the event count from %d to %d", before, after)
			}
			t.Logf("%d in %s", resp.StatusCode, took.Round(time.Millisecond))
		})
	}
}

// TestTimestampQueryBounds: a timestamp in a query that no JSON or RFC 3339 can
// carry is a 422 naming the parameter, and an as_of before an entity existed,
// including the zero time, is a 404.
func TestTimestampQueryBounds(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)
	property := "/api/v1/properties/" + s.MustProperty(t, token).String()
	tenant := "/api/v1/tenants/" + s.MustTenantFixture(t, userID).String()
	tests := []struct {
		path   string
		status int
		field  string
	}{
		{property + "?as_of=0001-01-01T00:00:00Z", 404, ""},
		{property + "?as_of=0000-01-01T00:00:00Z", 404, ""},
		{property + "?as_of=2000-01-01T00:00:00Z", 404, ""},
		{property + "?as_of=9999-12-31T23:59:59Z", 200, ""},
		{property + "?as_of=0000-01-01T00:00:00%2B01:00", 422, "as_of"},
		{property + "?as_of=9999-12-31T23:59:59-01:00", 422, "as_of"},
		{property + "?as_of=yesterday", 400, ""},
		{tenant + "?as_of=0001-01-01T00:00:00Z", 404, ""},
		{tenant + "?as_of=9999-12-31T23:59:59-01:00", 422, "as_of"},
		{"/api/v1/audit-logs?from=0000-01-01T00:00:00%2B01:00", 422, "from"},
		{"/api/v1/audit-logs?to=9999-12-31T23:00:00-05:00", 422, "to"},
		{"/api/v1/audit-logs?from=0000-01-01&to=9999-12-31", 200, ""},
		{"/api/v1/reports/rent-roll?as_of=2200-01-01", 422, "as_of"},
		{"/api/v1/reports/aging?as_of=0000-01-01", 422, "as_of"},
		{"/api/v1/reports/occupancy?as_of=June", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := s.Do(t, token, http.MethodGet, tt.path, nil, nil)
			MustStatus(t, resp, tt.status)
			if tt.field == "" {
				return
			}
			var p problemDoc
			MustDecode(t, resp, &p)
			if len(p.Errors) != 1 || p.Errors[0].Field != tt.field {
				t.Errorf("problem errors = %+v, want one on %s", p.Errors, tt.field)
			}
		})
	}
}
