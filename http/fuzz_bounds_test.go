package http

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// boundKind is what a bounded request field holds, and so which parser the
// command applies to it and which column bound an accepted value must keep.
type boundKind int

const (
	boundDate      boundKind = iota // DATE, in the domain's window
	boundTimestamp                  // TIMESTAMP, in the domain's window
	boundMoney                      // NUMERIC(10,2)
	boundIncome                     // NUMERIC(12,2)
	boundBathrooms                  // NUMERIC(3,1)
	boundPercent                    // NUMERIC(5,2), 0..100
)

// boundField is one bounded field of one request body: pick decodes a body with
// the request's own decoder and returns the field's text as the command gets it.
type boundField struct {
	name string
	kind boundKind
	pick func(t *testing.T, body []byte) (string, bool)
}

func boundOf[T any](name string, kind boundKind, get func(T) any) boundField {
	return boundField{name: name, kind: kind, pick: func(t *testing.T, body []byte) (string, bool) {
		var req T
		if !fuzzDecode(t, body, &req) {
			return "", false
		}
		switch v := get(req).(type) {
		case *string:
			if v != nil {
				return *v, true
			}
		case *json.Number:
			if v != nil {
				return v.String(), true
			}
		}
		return "", false
	}}
}

// boundFields are every date, timestamp, money and decimal field of a command body.
var boundFields = []boundField{
	boundOf("charge.due_date", boundDate, func(r chargeRequest) any { return r.DueDate }),
	boundOf("charge.amount", boundMoney, func(r chargeRequest) any { return r.Amount }),
	boundOf("payment.payment_date", boundDate, func(r paymentRequest) any { return r.PaymentDate }),
	boundOf("lease.start_date", boundDate, func(r leaseRequest) any { return r.StartDate }),
	boundOf("lease.end_date", boundDate, func(r leaseRequest) any { return r.EndDate }),
	boundOf("lease.rent_amount", boundMoney, func(r leaseRequest) any { return r.RentAmount }),
	boundOf("lease.security_deposit", boundMoney, func(r leaseRequest) any { return r.SecurityDeposit }),
	boundOf("renew.end_date", boundDate, func(r leaseRenewRequest) any { return r.EndDate }),
	boundOf("renew.rent_amount", boundMoney, func(r leaseRenewRequest) any { return r.RentAmount }),
	boundOf("terminate.effective_date", boundDate, func(r leaseTerminateRequest) any { return r.EffectiveDate }),
	boundOf("tenant.date_of_birth", boundDate, func(r tenantRequest) any { return r.DateOfBirth }),
	boundOf("tenant.income", boundIncome, func(r tenantRequest) any { return r.Income }),
	boundOf("screening.income", boundIncome, func(r screeningRequest) any { return r.Income }),
	boundOf("maintenance.estimated_cost", boundMoney, func(r maintenanceRequest) any { return r.EstimatedCost }),
	boundOf("maintenancePatch.estimated_cost", boundMoney, func(r maintenancePatchRequest) any { return r.EstimatedCost.Value }),
	boundOf("schedule.scheduled_date", boundTimestamp, func(r maintenanceScheduleRequest) any { return r.ScheduledDate }),
	boundOf("complete.actual_cost", boundMoney, func(r maintenanceCompleteRequest) any { return r.ActualCost }),
	boundOf("property.bathrooms", boundBathrooms, func(r propertyRequest) any { return r.Bathrooms }),
	boundOf("propertyPatch.bathrooms", boundBathrooms, func(r propertyPatchRequest) any { return r.Bathrooms.Value }),
	boundOf("lateFee.flat_amount", boundMoney, func(r lateFeePolicyRequest) any { return r.FlatAmount }),
	boundOf("lateFee.percent", boundPercent, func(r lateFeePolicyRequest) any { return r.Percent }),
	boundOf("lateFee.monthly_cap", boundMoney, func(r lateFeePolicyRequest) any { return r.MonthlyCap }),
}

// boundSeeds sit at and just beyond every bound: the date window, NUMERIC(p,s)
// of each column, the decimal text length and exponent limits.
var boundSeeds = []string{
	"1900-01-01", "1899-12-31", "2199-12-31", "2200-01-01", "0000-01-01", "0001-01-01", "9999-12-31", "2024-02-29", "2025-02-29",
	"1900-01-01T00:00:00Z", "1899-12-31T23:59:59.999999999Z", "2199-12-31T23:59:59.999999999Z", "2200-01-01T00:00:00Z",
	"1900-01-01T00:30:00+01:00", "2199-12-31T23:30:00-01:00", "0000-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59",
	"0.01", "99999999.99", "100000000.00", "-99999999.99", "99999999.991", "9999999999.99", "10000000000.00",
	"99.9", "100", "99.95", "100.00", "100.01", "0", "-0.01",
	"1e2", "1e32", "1e33", "1e-32", "1e-33", "1e999999999", "1e-999999999", "0e999",
	strings.Repeat("9", domain.MaxDecimalLength), strings.Repeat("9", domain.MaxDecimalLength+1),
	"0." + strings.Repeat("0", domain.MaxDecimalLength-2), "0." + strings.Repeat("0", domain.MaxDecimalLength-1),
}

// FuzzCommandBounds puts a value into every bounded field of every command body,
// as a JSON string and as a raw JSON number, decodes it with the request's decoder
// and parses it as the command does: whatever is accepted fits its column, and
// its event decodes back unchanged (the window's clamp never moves it).
func FuzzCommandBounds(f *testing.F) {
	for _, s := range boundSeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, value string, asNumber bool) {
		encoded, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		if asNumber {
			encoded = []byte(value)
		}
		for _, field := range boundFields {
			body := []byte(`{"` + field.name[strings.IndexByte(field.name, '.')+1:] + `":` + string(encoded) + `}`)
			raw, ok := field.pick(t, body)
			if !ok {
				continue
			}
			checkBound(t, field, raw)
		}
	})
}

var (
	maxMoney     = decimal.RequireFromString("99999999.99")
	maxIncome    = decimal.RequireFromString("9999999999.99")
	boundsLease  = mustBoundsLease()
	boundsTenant = uuid.MustParse("5b7d1e2f-3a4c-4d5e-9f60-718293a4b5c6")
)

func mustBoundsLease() *domain.Lease {
	l := &domain.Lease{}
	l.Apply(&domain.LeaseSigned{LeaseID: uuid.New(), Terms: domain.LeaseTerms{StartDate: domain.NewDate(2025, 1, 1),
		EndDate: domain.NewDate(2025, 12, 31), RentAmount: domain.MustMoney("1.00"), PaymentDay: 1}}, 1, time.Now())
	return l
}

func checkBound(t *testing.T, field boundField, raw string) {
	t.Helper()
	switch field.kind {
	case boundDate:
		d, err := domain.ParseDate(raw)
		if err != nil {
			return
		}
		if !d.InWindow() || d.String() != raw {
			t.Fatalf("%s: accepted %q as %s, outside the window or not the same day", field.name, raw, d)
		}
		events, err := domain.PostCharge(boundsLease, domain.NewChargeInput{ID: uuid.New(), Amount: domain.MustMoney("1.00"),
			Type: domain.TransactionRent, DueDate: d})
		if err != nil {
			t.Fatalf("%s: a charge due %s was refused: %v", field.name, d, err)
		}
		back := mustEventRoundTrip(t, events[0]).(*domain.ChargePosted)
		if back.DueDate != d {
			t.Fatalf("%s: due date %s came back from the event as %s", field.name, d, back.DueDate)
		}
	case boundTimestamp:
		at, err := domain.ParseTimestamp(raw)
		if err != nil {
			return
		}
		if !domain.TimeInWindow(at) {
			t.Fatalf("%s: accepted %q outside the window", field.name, raw)
		}
		events, err := (&domain.MaintenanceRequest{}).Schedule(at)
		if err != nil {
			t.Fatalf("%s: scheduling at %s was refused: %v", field.name, at, err)
		}
		sent := events[0].(*domain.MaintenanceScheduled).ScheduledDate
		if back := mustEventRoundTrip(t, events[0]).(*domain.MaintenanceScheduled).ScheduledDate; !back.Equal(sent) {
			t.Fatalf("%s: scheduled %s came back from the event as %s", field.name, sent, back)
		}
	case boundMoney:
		m, err := domain.ParseMoneyText(raw)
		if err != nil {
			return
		}
		d := m.Decimal()
		if len(raw) > domain.MaxDecimalLength || d.Abs().GreaterThan(maxMoney) || !d.Round(2).Equal(d) {
			t.Fatalf("%s: accepted %q (%s) beyond NUMERIC(10,2)", field.name, raw, m)
		}
	case boundIncome:
		d, err := domain.ParseDecimal(raw)
		if err != nil {
			return
		}
		_, err = domain.RegisterTenant(domain.NewTenantInput{ID: boundsTenant, RegisteredBy: boundsTenant,
			Contact:   domain.TenantContact{FirstName: "A", LastName: "B", Email: "a@example.com"},
			Screening: domain.TenantScreening{Income: &d}}, domain.NewDate(2025, 1, 1))
		if err == nil && (len(raw) > domain.MaxDecimalLength || d.IsNegative() || d.GreaterThan(maxIncome) || !d.Round(2).Equal(d)) {
			t.Fatalf("%s: accepted %q (%s) beyond NUMERIC(12,2)", field.name, raw, d)
		}
	case boundBathrooms:
		d, err := domain.ParseDecimal(raw)
		if err != nil {
			return
		}
		details := domain.PropertyDetails{Name: "x", Address: "x", City: "x", State: "x", ZipCode: "1",
			PropertyType: domain.PropertyResidential, Bathrooms: &d}
		if details.Validate() == nil && (d.IsNegative() || !d.LessThan(decimal.NewFromInt(100)) || !d.Round(1).Equal(d)) {
			t.Fatalf("%s: accepted %q (%s) beyond NUMERIC(3,1)", field.name, raw, d)
		}
	case boundPercent:
		d, err := domain.ParseDecimal(raw)
		if err != nil {
			return
		}
		policy := domain.LateFeePolicy{GraceDays: 5, Percent: &d}
		if policy.Validate() == nil && (d.IsNegative() || d.GreaterThan(decimal.NewFromInt(100)) || !d.Round(2).Equal(d)) {
			t.Fatalf("%s: accepted %q (%s) beyond NUMERIC(5,2) 0..100", field.name, raw, d)
		}
	default:
		t.Fatalf("%s: unknown bound kind %d", field.name, field.kind)
	}
}

func mustEventRoundTrip(t *testing.T, e domain.Event) domain.Event {
	t.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatalf("marshal %s: %v", e.EventType(), err)
	}
	back, err := domain.DecodeEvent(e.EventType(), data)
	if err != nil {
		t.Fatalf("decode %s %s: %v", e.EventType(), data, err)
	}
	return back
}
