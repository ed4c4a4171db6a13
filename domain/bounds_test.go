package domain

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParseDateWindow(t *testing.T) {
	tests := []struct {
		in      string
		want    Date
		wantErr bool
	}{
		{in: "1900-01-01", want: NewDate(1900, 1, 1)},
		{in: "2199-12-31", want: NewDate(2199, 12, 31)},
		{in: "2025-02-28", want: NewDate(2025, 2, 28)},
		{in: "1899-12-31", wantErr: true},
		{in: "2200-01-01", wantErr: true},
		{in: "0000-01-01", wantErr: true},
		{in: "0001-01-01", wantErr: true},
		{in: "9999-12-31", wantErr: true},
		{in: "2025-02-29", wantErr: true},
		{in: "2025-1-1", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDate(%q) = %s, want an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDate(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseTimestampWindow(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{in: "1900-01-01T00:00:00Z"},
		{in: "2199-12-31T23:59:59.999999Z"},
		{in: "2025-06-01T09:00:00+02:00"},
		{in: "1900-01-01T00:30:00+01:00", wantErr: true}, // 1899-12-31 in UTC
		{in: "2199-12-31T23:30:00-01:00", wantErr: true}, // 2200-01-01 in UTC
		{in: "0000-01-01T00:00:00Z", wantErr: true},
		{in: "0001-01-01T00:00:00Z", wantErr: true},
		{in: "9999-12-31T23:59:59-23:59", wantErr: true},
		{in: "2025-06-01", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseTimestamp(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseTimestamp(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParseDecimalBounds(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "1250.00", want: "1250"},
		{in: "-0.5", want: "-0.5"},
		{in: "1e2", want: "100"},
		{in: "1e32", want: "1" + strings.Repeat("0", 32)},
		{in: strings.Repeat("9", MaxDecimalLength), want: strings.Repeat("9", MaxDecimalLength)},
		{in: strings.Repeat("9", MaxDecimalLength+1), wantErr: true},
		{in: "1" + strings.Repeat("0", 1_000_000), wantErr: true}, // refused unread, in no time
		{in: "1e33", wantErr: true},
		{in: "1e-33", wantErr: true},
		{in: "1e999999999", wantErr: true},
		{in: "1e-999999999", wantErr: true},
		{in: "two", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		name := tt.in
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		t.Run(name, func(t *testing.T) {
			got, err := ParseDecimal(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseDecimal = %s, want an error", got)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseDecimal = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	// The exponent bound keeps money checks cheap: 1e32 is refused as too large, not expanded.
	if _, err := ParseMoneyText("1e32"); err == nil {
		t.Fatal("ParseMoneyText(1e32) accepted an amount beyond NUMERIC(10,2)")
	}
}

func TestDatesOutsideTheWindowAreRefused(t *testing.T) {
	lease := MustGiven(t, &Lease{}, signed(leaseTerms()))
	for _, d := range []Date{NewDate(0, 1, 1), NewDate(1899, 12, 31), NewDate(2200, 1, 1), NewDate(9999, 12, 31)} {
		t.Run(d.String(), func(t *testing.T) {
			_, err := PostCharge(lease, NewChargeInput{ID: uuid.New(), Amount: MustMoney("10.00"), Type: TransactionRent, DueDate: d})
			MustOutcome(t, nil, err, nil, invalid("due_date"))

			charge := MustGiven(t, &Transaction{}, &ChargePosted{TransactionID: uuid.New(), LeaseID: leaseTestID,
				Amount: MustMoney("10.00"), Type: TransactionRent, DueDate: leaseStart})
			_, err = charge.Pay(Payment{PaymentDate: d, PaymentMethod: PaymentCash})
			MustOutcome(t, nil, err, nil, invalid("payment_date"))

			_, err = lease.Renew(d, nil)
			MustOutcome(t, nil, err, nil, invalid("end_date"))

			_, err = SignLease(leaseTestID, leaseProperty(t), []Signatory{{leaseTenant(t), "tenant_id"}}, terms(func(t *LeaseTerms) { t.StartDate = d }), Date{})
			MustOutcome(t, nil, err, nil, invalid("start_date"))

			dob := d
			_, err = RegisterTenant(NewTenantInput{ID: uuid.New(), RegisteredBy: ownerA, DateOfBirth: &dob,
				Contact: TenantContact{FirstName: "A", LastName: "B", Email: "a@example.com"}}, NewDate(2025, 1, 1))
			MustOutcome(t, nil, err, nil, invalid("date_of_birth"))

			m := &MaintenanceRequest{}
			_, err = m.Schedule(d.Time().Add(time.Hour))
			MustOutcome(t, nil, err, nil, invalid("scheduled_date"))
		})
	}
}

// An event stored before the window was enforced decodes with its dates clamped
// to the window, so that it projects and replays (the repair rule in docs/schema.md).
func TestDecodeEventClampsDatesOutsideTheWindow(t *testing.T) {
	tests := []struct {
		name, eventType, data string
		check                 func(t *testing.T, e Event)
	}{
		{
			name: "due date of year 0", eventType: "ChargePosted",
			data: `{"transaction_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","lease_id":"3fa85f64-5717-4562-b3fc-2c963f66afa7","amount":"10.00","type":"rent","due_date":"0000-01-01"}`,
			check: func(t *testing.T, e Event) {
				if got := e.(*ChargePosted).DueDate; got != FirstDate {
					t.Fatalf("due_date = %s, want %s", got, FirstDate)
				}
			},
		},
		{
			name: "lease dates on both sides", eventType: "LeaseSigned",
			data: `{"lease_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","terms":{"start_date":"1066-10-14","end_date":"9999-12-31","rent_amount":"1.00","security_deposit":"0.00","payment_day":1}}`,
			check: func(t *testing.T, e Event) {
				terms := e.(*LeaseSigned).Terms
				if terms.StartDate != FirstDate || terms.EndDate != LastDate {
					t.Fatalf("terms = %s..%s, want %s..%s", terms.StartDate, terms.EndDate, FirstDate, LastDate)
				}
			},
		},
		{
			name: "date of birth behind a pointer", eventType: "TenantRegistered",
			data: `{"tenant_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","date_of_birth":"0000-02-29"}`,
			check: func(t *testing.T, e Event) {
				if got := e.(*TenantRegistered).DateOfBirth; got == nil || *got != FirstDate {
					t.Fatalf("date_of_birth = %v, want %s", got, FirstDate)
				}
			},
		},
		{
			name: "scheduled timestamp after the window", eventType: "MaintenanceScheduled",
			data: `{"scheduled_date":"9999-12-31T23:00:00Z"}`,
			check: func(t *testing.T, e Event) {
				got := e.(*MaintenanceScheduled).ScheduledDate
				if !TimeInWindow(got) || DateOf(got) != LastDate {
					t.Fatalf("scheduled_date = %s, want the window's last day", got)
				}
			},
		},
		{
			name: "dates in the window stay as they are", eventType: "ChargePosted",
			data: `{"transaction_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","amount":"10.00","type":"rent","due_date":"2025-03-01"}`,
			check: func(t *testing.T, e Event) {
				if got := e.(*ChargePosted).DueDate; got != NewDate(2025, 3, 1) {
					t.Fatalf("due_date = %s, want 2025-03-01", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEvent(tt.eventType, []byte(tt.data))
			if err != nil {
				t.Fatalf("DecodeEvent: %v", err)
			}
			tt.check(t, e)
		})
	}
}
