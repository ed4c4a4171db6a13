package domain

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

var rentLeaseID = uuid.MustParse("9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")

// at is a moment on day d, for events recorded that day.
func at(d Date) time.Time { return d.Time().Add(10 * time.Hour) }

// recorded is an event and the moment the store recorded it.
type recorded struct {
	e  Event
	at time.Time
}

// MustLeaseHistory replays a lease's events, each at its own recorded moment.
func MustLeaseHistory(tb testing.TB, history ...recorded) *Lease {
	tb.Helper()
	var l Lease
	for i, r := range history {
		l.Apply(r.e, int64(i+1), r.at)
	}
	return &l
}

func rentSigned(start, end Date, rent string, paymentDay int, autoRenew bool) *LeaseSigned {
	return &LeaseSigned{LeaseID: rentLeaseID, PropertyID: propertyID, TenantID: leaseTestTenant, Terms: LeaseTerms{
		StartDate: start, EndDate: end, RentAmount: MustMoney(rent), SecurityDeposit: MustMoney("0"),
		PaymentDay: paymentDay, AutoRenew: autoRenew,
	}}
}

// segmentLine renders a segment as "key from..to due amount (replaces)", so a
// mismatch names the field that differs.
func segmentLine(s RentSegment) string {
	line := fmt.Sprintf("%s %s %s..%s due %s rate %s amount %s", s.Key, s.Period, s.From, s.To, s.DueDate, s.Rate, s.Amount)
	if s.Replaces != "" {
		line += " replaces " + s.Replaces
	}
	return line
}

func segmentLines(segments []RentSegment) []string {
	out := make([]string, len(segments))
	for i, s := range segments {
		out[i] = segmentLine(s)
	}
	return out
}

// MustSegments compares segments line by line.
func MustSegments(tb testing.TB, what string, got []RentSegment, want []string) {
	tb.Helper()
	if g := segmentLines(got); !slices.Equal(g, want) {
		tb.Errorf("%s:\n got  %q\n want %q", what, g, want)
	}
}

// fullMonths lists the full-month segments of the months first..last of 2025 at
// rate, due on payDay.
func fullMonths(first, last time.Month, rate string, payDay int) []string {
	var out []string
	for m := first; m <= last; m++ {
		start := NewDate(2025, m, 1)
		out = append(out, fmt.Sprintf("%s %s %s..%s due %s rate %s amount %s", start, PeriodOf(start), start,
			lastOfMonth(start), NewDate(2025, m, payDay), rate, rate))
	}
	return out
}

func TestProrateRent(t *testing.T) {
	tests := []struct {
		name     string
		rate     string
		from, to Date
		want     string
	}{
		{"a full month is the rent", "1250.00", NewDate(2025, 1, 1), NewDate(2025, 1, 31), "1250.00"},
		// 1250·31/31 − 1250·14/31 = 1250.00 − 564.52 (564.516…)
		{"first month from the 15th", "1250.00", NewDate(2025, 1, 15), NewDate(2025, 1, 31), "685.48"},
		// 1250·14/31 = 564.516… → 564.52
		{"last month to the 14th", "1250.00", NewDate(2025, 1, 1), NewDate(2025, 1, 14), "564.52"},
		// 1250·15/31 = 604.838… → 604.84
		{"to the 15th of a 31-day month", "1250.00", NewDate(2025, 3, 1), NewDate(2025, 3, 15), "604.84"},
		// 1250 − 1250·30/31 = 1250.00 − 1209.68 (1209.677…)
		{"the last day alone", "1250.00", NewDate(2025, 1, 31), NewDate(2025, 1, 31), "40.32"},
		// leap February: 1000 − 1000·9/29 = 1000.00 − 310.34 (310.344…)
		{"leap February from the 10th", "1000.00", NewDate(2024, 2, 10), NewDate(2024, 2, 29), "689.66"},
		{"half of a 28-day February", "1000.00", NewDate(2025, 2, 1), NewDate(2025, 2, 14), "500.00"},
		// 1000.01·15/30 = 500.005 rounds half away from zero to 500.01 ...
		{"a tie rounds up", "1000.01", NewDate(2025, 4, 1), NewDate(2025, 4, 15), "500.01"},
		// ... so the other half is 1000.01 − 500.01, and the halves add up to the rent.
		{"the rest of the tied month", "1000.01", NewDate(2025, 4, 16), NewDate(2025, 4, 30), "500.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProrateRent(MustMoney(tt.rate), tt.from, tt.to); got.String() != tt.want {
				t.Errorf("ProrateRent(%s, %s..%s) = %s, want %s", tt.rate, tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestRentPlan(t *testing.T) {
	jan1, dec31 := NewDate(2025, 1, 1), NewDate(2025, 12, 31)
	signedOn := at(NewDate(2024, 12, 20))
	tests := []struct {
		name          string
		history       []recorded
		wantCharges   []string
		wantCancelled []string
	}{
		{
			name:        "a calendar year: twelve full months due on the payment day",
			history:     []recorded{{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn}},
			wantCharges: fullMonths(1, 12, "1250.00", 1),
		},
		{
			name:    "starting on the 15th: the first and last months are prorated, twelve months' rent in all",
			history: []recorded{{rentSigned(NewDate(2025, 1, 15), NewDate(2026, 1, 14), "1250.00", 1, false), signedOn}},
			wantCharges: append(append([]string{
				// starts after the payment day: due on its first day
				"2025-01-15 2025-01 2025-01-15..2025-01-31 due 2025-01-15 rate 1250.00 amount 685.48",
			}, fullMonths(2, 12, "1250.00", 1)...),
				"2026-01-01 2026-01 2026-01-01..2026-01-14 due 2026-01-01 rate 1250.00 amount 564.52"),
		},
		{
			name:    "starting before the payment day: due on the payment day",
			history: []recorded{{rentSigned(NewDate(2025, 1, 3), NewDate(2025, 3, 31), "1250.00", 5, false), signedOn}},
			wantCharges: append([]string{
				// 1250 − 1250·2/31 = 1250.00 − 80.65
				"2025-01-03 2025-01 2025-01-03..2025-01-31 due 2025-01-05 rate 1250.00 amount 1169.35",
			}, fullMonths(2, 3, "1250.00", 5)...),
		},
		{
			name: "backdated: signed in June for January, every month keeps its true due date",
			history: []recorded{{rentSigned(jan1, NewDate(2025, 6, 30), "900.00", 3, false),
				at(NewDate(2025, 6, 10))}},
			wantCharges: fullMonths(1, 6, "900.00", 3),
		},
		{
			name: "renewal with a new rent recorded on June 10: July on at the new rent",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn},
				{&LeaseRenewed{PreviousEndDate: dec31, EndDate: NewDate(2026, 3, 31), RentAmount: money("1300.00")}, at(NewDate(2025, 6, 10))},
			},
			wantCharges: append(append(fullMonths(1, 6, "1250.00", 1), fullMonths(7, 12, "1300.00", 1)...),
				"2026-01-01 2026-01 2026-01-01..2026-01-31 due 2026-01-01 rate 1300.00 amount 1300.00",
				"2026-02-01 2026-02 2026-02-01..2026-02-28 due 2026-02-01 rate 1300.00 amount 1300.00",
				"2026-03-01 2026-03 2026-03-01..2026-03-31 due 2026-03-01 rate 1300.00 amount 1300.00"),
		},
		{
			name: "renewal recorded on the first of July: the next period is August",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn},
				{&LeaseRenewed{PreviousEndDate: dec31, EndDate: NewDate(2026, 12, 31), RentAmount: money("1300.00")}, at(NewDate(2025, 7, 1))},
			},
			wantCharges: func() []string {
				all := append(fullMonths(1, 7, "1250.00", 1), fullMonths(8, 12, "1300.00", 1)...)
				for m := time.January; m <= time.December; m++ {
					d := NewDate(2026, m, 1)
					all = append(all, fmt.Sprintf("%s %s %s..%s due %s rate 1300.00 amount 1300.00", d, PeriodOf(d), d, lastOfMonth(d), d))
				}
				return all
			}(),
		},
		{
			name: "renewing a lease that ends mid-month charges the rest of that month from the renewal's first day",
			history: []recorded{
				{rentSigned(NewDate(2025, 1, 15), NewDate(2025, 3, 14), "1250.00", 1, false), signedOn},
				{&LeaseRenewed{PreviousEndDate: NewDate(2025, 3, 14), EndDate: NewDate(2025, 5, 14)}, at(NewDate(2025, 2, 1))},
			},
			wantCharges: []string{
				"2025-01-15 2025-01 2025-01-15..2025-01-31 due 2025-01-15 rate 1250.00 amount 685.48",
				"2025-02-01 2025-02 2025-02-01..2025-02-28 due 2025-02-01 rate 1250.00 amount 1250.00",
				"2025-03-01 2025-03 2025-03-01..2025-03-14 due 2025-03-01 rate 1250.00 amount 564.52",
				// March's two pieces add up to the rent: 564.52 + 685.48
				"2025-03-15 2025-03 2025-03-15..2025-03-31 due 2025-03-15 rate 1250.00 amount 685.48",
				"2025-04-01 2025-04 2025-04-01..2025-04-30 due 2025-04-01 rate 1250.00 amount 1250.00",
				"2025-05-01 2025-05 2025-05-01..2025-05-14 due 2025-05-01 rate 1250.00 amount 564.52",
			},
		},
		{
			name: "termination mid-month: the month is cut to the effective date, later months are dropped",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn},
				{&LeaseTerminated{EffectiveDate: NewDate(2025, 3, 15), Reason: "moved out"}, at(NewDate(2025, 3, 10))},
			},
			wantCharges: append(fullMonths(1, 2, "1250.00", 1),
				// 1250·15/31 = 604.84, under its own key, replacing the full month
				"2025-03-01/to/2025-03-15 2025-03 2025-03-01..2025-03-15 due 2025-03-01 rate 1250.00 amount 604.84 replaces 2025-03-01"),
			wantCancelled: fullMonths(4, 12, "1250.00", 1),
		},
		{
			name: "termination on a month's last day drops only the later months",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn},
				{&LeaseTerminated{EffectiveDate: NewDate(2025, 3, 31)}, at(NewDate(2025, 3, 10))},
			},
			wantCharges:   fullMonths(1, 3, "1250.00", 1),
			wantCancelled: fullMonths(4, 12, "1250.00", 1),
		},
		{
			name: "an expired lease keeps its whole schedule",
			history: []recorded{
				{rentSigned(jan1, NewDate(2025, 2, 28), "1250.00", 1, false), signedOn},
				{&LeaseExpired{EndDate: NewDate(2025, 2, 28)}, at(NewDate(2025, 3, 1))},
			},
			wantCharges: fullMonths(1, 2, "1250.00", 1),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := MustLeaseHistory(t, tt.history...).RentPlan()
			MustSegments(t, "charges", plan.Charges, tt.wantCharges)
			MustSegments(t, "cancelled", plan.Cancelled, tt.wantCancelled)
		})
	}
}

func TestRentChargeIsDeterministic(t *testing.T) {
	l := MustLeaseHistory(t, recorded{rentSigned(NewDate(2025, 1, 15), NewDate(2025, 3, 14), "1250.00", 1, false), at(NewDate(2025, 1, 2))})
	seg := l.RentPlan().Charges[0]
	got := RentCharge(l, seg)
	notes := "rent 2025-01-15 to 2025-01-31 (prorated)"
	want := &ChargePosted{
		TransactionID: uuid.NewSHA1(RentNamespace, []byte(rentLeaseID.String()+"/rent/2025-01-15")),
		LeaseID:       rentLeaseID, Amount: MustMoney("685.48"), Type: TransactionRent,
		DueDate: NewDate(2025, 1, 15), Notes: &notes, Period: "2025-01",
		Rent: &RentBasis{Key: "2025-01-15", From: NewDate(2025, 1, 15), To: NewDate(2025, 1, 31), Rate: MustMoney("1250.00")},
	}
	MustEvents(t, []Event{got}, []Event{want})
	if again := RentCharge(l, l.RentPlan().Charges[0]); again.TransactionID != got.TransactionID {
		t.Errorf("a second plan gives charge id %s, want %s", again.TransactionID, got.TransactionID)
	}
	if other := RentChargeID(uuid.New(), "2025-01-15"); other == got.TransactionID {
		t.Error("another lease's segment has the same charge id")
	}
	if fee, rent := LateFeeID(rentLeaseID, "2025-01"), got.TransactionID; fee == rent {
		t.Error("the period's late fee has the rent charge's id")
	}
}

func TestRenewAutomatically(t *testing.T) {
	jan1, dec31 := NewDate(2025, 1, 1), NewDate(2025, 12, 31)
	signedOn := at(NewDate(2024, 12, 1))
	tests := []struct {
		name    string
		history []recorded
		today   Date
		want    []Event
		wantErr wantError
	}{
		{
			name:    "a year renews for a year the day after its end",
			history: []recorded{{rentSigned(jan1, dec31, "1250.00", 1, true), signedOn}},
			today:   NewDate(2026, 1, 1),
			want:    []Event{&LeaseRenewed{PreviousEndDate: dec31, EndDate: NewDate(2026, 12, 31), Automatic: true}},
		},
		{
			name:    "two months from the 15th renew for two months",
			history: []recorded{{rentSigned(NewDate(2025, 1, 15), NewDate(2025, 3, 14), "1250.00", 1, true), signedOn}},
			today:   NewDate(2025, 3, 15),
			want:    []Event{&LeaseRenewed{PreviousEndDate: NewDate(2025, 3, 14), EndDate: NewDate(2025, 5, 14), Automatic: true}},
		},
		{
			name:    "a ten-day term renews for ten days",
			history: []recorded{{rentSigned(jan1, NewDate(2025, 1, 10), "100.00", 1, true), signedOn}},
			today:   NewDate(2025, 1, 11),
			want:    []Event{&LeaseRenewed{PreviousEndDate: NewDate(2025, 1, 10), EndDate: NewDate(2025, 1, 20), Automatic: true}},
		},
		{
			name: "the last term's length counts: after a six-month renewal, six months again",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, true), signedOn},
				{&LeaseRenewed{PreviousEndDate: dec31, EndDate: NewDate(2026, 6, 30)}, at(NewDate(2025, 11, 1))},
			},
			today: NewDate(2026, 7, 1),
			want:  []Event{&LeaseRenewed{PreviousEndDate: NewDate(2026, 6, 30), EndDate: NewDate(2026, 12, 31), Automatic: true}},
		},
		{
			name:    "long overdue: as many renewals as it takes to reach today",
			history: []recorded{{rentSigned(NewDate(2023, 1, 1), NewDate(2023, 12, 31), "1250.00", 1, true), signedOn}},
			today:   NewDate(2025, 2, 1),
			want: []Event{
				&LeaseRenewed{PreviousEndDate: NewDate(2023, 12, 31), EndDate: NewDate(2024, 12, 31), Automatic: true},
				&LeaseRenewed{PreviousEndDate: NewDate(2024, 12, 31), EndDate: dec31, Automatic: true},
			},
		},
		{
			name:    "on its last day it is not renewed yet",
			history: []recorded{{rentSigned(jan1, dec31, "1250.00", 1, true), signedOn}},
			today:   dec31,
			wantErr: isErr(ErrLeaseNotYetEnded, ErrConflict),
		},
		{
			name:    "without auto_renew it does not renew",
			history: []recorded{{rentSigned(jan1, dec31, "1250.00", 1, false), signedOn}},
			today:   NewDate(2026, 1, 1),
			wantErr: isErr(ErrLeaseNotAutoRenew, ErrConflict),
		},
		{
			name: "a terminated lease does not renew",
			history: []recorded{
				{rentSigned(jan1, dec31, "1250.00", 1, true), signedOn},
				{&LeaseTerminated{EffectiveDate: NewDate(2025, 6, 30)}, at(NewDate(2025, 6, 1))},
			},
			today:   NewDate(2026, 1, 1),
			wantErr: isErr(ErrLeaseNotActive, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := MustLeaseHistory(t, tt.history...)
			got, err := l.RenewAutomatically(tt.today)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func flat(s string) LateFeePolicy { return LateFeePolicy{GraceDays: 5, FlatAmount: money(s)} }

func TestLateFeePolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		policy  LateFeePolicy
		wantErr wantError
	}{
		{name: "flat, five days' grace", policy: flat("50.00")},
		{name: "percent with a cap", policy: LateFeePolicy{GraceDays: 3, Percent: dec("5.5"), MonthlyCap: money("100.00")}},
		{name: "zero grace and a zero fee (no fees)", policy: LateFeePolicy{FlatAmount: money("0")}},
		{name: "the longest grace, a hundred percent", policy: LateFeePolicy{GraceDays: MaxGraceDays, Percent: dec("100")}},
		{name: "neither flat nor percent", policy: LateFeePolicy{GraceDays: 5}, wantErr: invalid("flat_amount")},
		{name: "both flat and percent", policy: LateFeePolicy{FlatAmount: money("50"), Percent: dec("5")}, wantErr: invalid("percent")},
		{name: "negative grace", policy: LateFeePolicy{GraceDays: -1, FlatAmount: money("50")}, wantErr: invalid("grace_days")},
		{name: "grace too long", policy: LateFeePolicy{GraceDays: MaxGraceDays + 1, FlatAmount: money("50")}, wantErr: invalid("grace_days")},
		{name: "negative flat amount", policy: LateFeePolicy{FlatAmount: money("-0.01")}, wantErr: invalid("flat_amount")},
		{name: "percent over 100", policy: LateFeePolicy{Percent: dec("100.01")}, wantErr: invalid("percent")},
		{name: "percent with three places", policy: LateFeePolicy{Percent: dec("5.125")}, wantErr: invalid("percent")},
		{name: "negative percent", policy: LateFeePolicy{Percent: dec("-1")}, wantErr: invalid("percent")},
		{name: "negative cap", policy: LateFeePolicy{FlatAmount: money("50"), MonthlyCap: money("-1.00")}, wantErr: invalid("monthly_cap")},
		{
			name:    "every field wrong at once",
			policy:  LateFeePolicy{GraceDays: -2, FlatAmount: money("-1"), Percent: dec("101"), MonthlyCap: money("-1")},
			wantErr: invalid("grace_days", "percent", "flat_amount", "percent", "monthly_cap"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Property
			events, err := p.SetLateFeePolicy(tt.policy)
			want := []Event{&PropertyLateFeePolicySet{Policy: tt.policy}}
			MustOutcome(t, events, err, want, tt.wantErr)
		})
	}
}

func TestLateFeeFor(t *testing.T) {
	tests := []struct {
		name   string
		policy LateFeePolicy
		rent   string
		want   string
	}{
		{"flat", flat("50.00"), "1250.00", "50.00"},
		{"flat under the cap", LateFeePolicy{FlatAmount: money("50"), MonthlyCap: money("75")}, "1250.00", "50.00"},
		{"flat over the cap", LateFeePolicy{FlatAmount: money("80"), MonthlyCap: money("75")}, "1250.00", "75.00"},
		// 5% of 685.48 = 34.274 → 34.27
		{"percent rounds to the cent", LateFeePolicy{Percent: dec("5")}, "685.48", "34.27"},
		// 5% of 1250.10 = 62.505 → 62.51 (half away from zero)
		{"percent rounds a tie up", LateFeePolicy{Percent: dec("5")}, "1250.10", "62.51"},
		{"percent capped by the monthly cap", LateFeePolicy{Percent: dec("10"), MonthlyCap: money("100")}, "1250.00", "100.00"},
		{"a zero cap means no fee", LateFeePolicy{Percent: dec("10"), MonthlyCap: money("0")}, "1250.00", "0.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.FeeFor(MustMoney(tt.rent)); got.String() != tt.want {
				t.Errorf("FeeFor(%s) = %s, want %s", tt.rent, got, tt.want)
			}
		})
	}
}

// januaryRent is the scheduled rent charge of January 2025 of a calendar-year lease
// (1250.00 due 2025-01-01) with later events.
func januaryRent(tb testing.TB, later ...Event) *Transaction {
	tb.Helper()
	l := MustLeaseHistory(tb, recorded{rentSigned(NewDate(2025, 1, 1), NewDate(2025, 12, 31), "1250.00", 1, false), at(NewDate(2024, 12, 1))})
	return MustGiven(tb, &Transaction{}, append([]Event{RentCharge(l, l.RentPlan().Charges[0])}, later...)...)
}

func januaryFee(policy LateFeePolicy, source LateFeeSource, amount string) (*ChargePosted, *LateFeeAssessed) {
	id := LateFeeID(rentLeaseID, "2025-01")
	notes := "late fee for the rent due 2025-01-01"
	return &ChargePosted{TransactionID: id, LeaseID: rentLeaseID, Amount: MustMoney(amount), Type: TransactionFee,
			DueDate: NewDate(2025, 1, 1).AddDays(policy.GraceDays + 1), Notes: &notes, Period: "2025-01",
			LateFee: &LateFeeBasis{RentChargeID: RentChargeID(rentLeaseID, "2025-01-01"), RentDueDate: NewDate(2025, 1, 1),
				Policy: policy, Source: source}},
		&LateFeeAssessed{FeeID: id, Period: "2025-01", GraceDays: policy.GraceDays, Amount: MustMoney(amount)}
}

func TestLateFeeDue(t *testing.T) {
	paidOn := func(d Date) Event {
		return &RentPaid{Payment: Payment{PaymentDate: d, PaymentMethod: PaymentBankTransfer}}
	}
	capped := LateFeePolicy{GraceDays: 3, Percent: dec("10"), MonthlyCap: money("100.00")}
	_, assessed := januaryFee(flat("50.00"), LateFeeFromProperty, "50.00")
	manual := MustGiven(t, &Transaction{}, &ChargePosted{TransactionID: txnTestID, LeaseID: rentLeaseID,
		Amount: MustMoney("1250.00"), Type: TransactionRent, DueDate: NewDate(2025, 1, 1)})
	tests := []struct {
		name    string
		rent    *Transaction
		policy  LateFeePolicy
		source  LateFeeSource
		through Date
		want    string // the fee's amount; "" when none is due
	}{
		{name: "on the grace period's last day: no fee yet", rent: januaryRent(t), policy: flat("50.00"), through: NewDate(2025, 1, 6)},
		{name: "the day after the grace period: the flat fee", rent: januaryRent(t), policy: flat("50.00"), source: LateFeeFromProperty, through: NewDate(2025, 1, 7), want: "50.00"},
		{name: "the lease's own policy is recorded as such", rent: januaryRent(t), policy: flat("35.00"), source: LateFeeFromLease, through: NewDate(2025, 2, 20), want: "35.00"},
		{name: "ten percent of 1250.00, capped at 100.00", rent: januaryRent(t), policy: capped, source: LateFeeFromProperty, through: NewDate(2025, 1, 5), want: "100.00"},
		{name: "a failed payment is still unpaid", rent: januaryRent(t, &PaymentFailed{Reason: "declined"}), policy: flat("50.00"), source: LateFeeFromProperty, through: NewDate(2025, 1, 7), want: "50.00"},
		{name: "paid within the grace period: never a fee", rent: januaryRent(t, paidOn(NewDate(2025, 1, 6))), policy: flat("50.00"), through: NewDate(2025, 3, 1)},
		{name: "paid after the grace period but before the fee: it is no longer pending", rent: januaryRent(t, paidOn(NewDate(2025, 1, 9))), policy: flat("50.00"), through: NewDate(2025, 3, 1)},
		{name: "written off: no fee", rent: januaryRent(t, &ChargeWrittenOff{}), policy: flat("50.00"), through: NewDate(2025, 3, 1)},
		{name: "voided: no fee", rent: januaryRent(t, &ChargeVoided{}), policy: flat("50.00"), through: NewDate(2025, 3, 1)},
		{name: "one fee per period: already assessed", rent: januaryRent(t, assessed), policy: flat("50.00"), through: NewDate(2025, 3, 1)},
		{name: "a zero fee is no fee", rent: januaryRent(t), policy: flat("0.00"), through: NewDate(2025, 3, 1)},
		{name: "a rent charge posted by hand is not the schedule's", rent: manual, policy: flat("50.00"), through: NewDate(2025, 3, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fee, mark, err := LateFeeDue(tt.rent, tt.policy, tt.source, tt.through)
			if tt.want == "" {
				if !errors.Is(err, ErrLateFeeNotDue) || fee != nil || mark != nil {
					t.Fatalf("LateFeeDue = %v, %v, %v; want no fee (ErrLateFeeNotDue)", fee, mark, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LateFeeDue: %v", err)
			}
			wantFee, wantMark := januaryFee(tt.policy, tt.source, tt.want)
			MustEvents(t, []Event{fee, mark}, []Event{wantFee, wantMark})
		})
	}
}

func TestPaidWithinGrace(t *testing.T) {
	_, assessed := januaryFee(flat("50.00"), LateFeeFromProperty, "50.00") // grace: 5 days, to 2025-01-06
	pay := func(d Date) Event { return &RentPaid{Payment: Payment{PaymentDate: d, PaymentMethod: PaymentCash}} }
	tests := []struct {
		name    string
		rent    *Transaction
		wantFee bool
	}{
		{"paid on the grace period's last day, recorded after the fee", januaryRent(t, assessed, pay(NewDate(2025, 1, 6))), true},
		{"paid before the due date", januaryRent(t, assessed, pay(NewDate(2024, 12, 28))), true},
		{"paid the day after the grace period", januaryRent(t, assessed, pay(NewDate(2025, 1, 7))), false},
		{"paid, no fee assessed", januaryRent(t, pay(NewDate(2025, 1, 2))), false},
		{"a fee, not paid", januaryRent(t, assessed), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fee, within := tt.rent.PaidWithinGrace()
			if within != tt.wantFee {
				t.Fatalf("PaidWithinGrace = %s, %v; want %v", fee, within, tt.wantFee)
			}
			if within && fee != assessed.FeeID {
				t.Errorf("PaidWithinGrace names fee %s, want %s", fee, assessed.FeeID)
			}
		})
	}
}

// TestRentAutomationTransitions tries void, waive and write-off from every state.
func TestRentAutomationTransitions(t *testing.T) {
	fee, _ := januaryFee(flat("50.00"), LateFeeFromProperty, "50.00")
	paid := &PaymentReceived{Payment: Payment{PaymentDate: NewDate(2025, 1, 10), PaymentMethod: PaymentCash}}
	states := []struct {
		name   string
		events []Event
	}{
		{"pending fee", []Event{fee}},
		{"failed fee", []Event{fee, &PaymentFailed{}}},
		{"completed fee", []Event{fee, paid}},
		{"refunded fee", []Event{fee, paid, &PaymentRefunded{}}},
		{"void fee", []Event{fee, &ChargeVoided{}}},
		{"waived fee", []Event{fee, &FeeWaived{}}},
		{"written-off fee", []Event{fee, &ChargeWrittenOff{}}},
	}
	open := map[string]bool{"pending fee": true, "failed fee": true}
	commands := []struct {
		name string
		run  func(*Transaction) ([]Event, error)
		want Event
	}{
		{"void", func(tr *Transaction) ([]Event, error) { return tr.Void("lease terminated") }, &ChargeVoided{Reason: "lease terminated"}},
		{"waive", func(tr *Transaction) ([]Event, error) { return tr.Waive("first time") }, &FeeWaived{Reason: "first time"}},
		{"write off", func(tr *Transaction) ([]Event, error) { return tr.WriteOff("tenant left") }, &ChargeWrittenOff{Reason: "tenant left"}},
	}
	for _, s := range states {
		for _, c := range commands {
			t.Run(c.name+" from "+s.name, func(t *testing.T) {
				tr := MustGiven(t, &Transaction{}, s.events...)
				got, err := c.run(tr)
				if open[s.name] {
					MustOutcome(t, got, err, []Event{c.want}, wantError{})
					return
				}
				MustOutcome(t, got, err, nil, isErr(ErrIllegalTransition, ErrConflict))
			})
		}
	}
}

func TestWaiveOnlyFees(t *testing.T) {
	for _, tr := range []*Transaction{januaryRent(t), MustGiven(t, &Transaction{}, txnPosted(func(in *NewChargeInput) { in.Type = TransactionMaintenance }))} {
		got, err := tr.Waive("")
		MustOutcome(t, got, err, nil, isErr(ErrNotAFee, ErrConflict))
	}
	// A rent charge is written off, not waived, and its status says so.
	rent := januaryRent(t)
	events, err := rent.WriteOff("tenant left")
	MustOutcome(t, events, err, []Event{&ChargeWrittenOff{Reason: "tenant left"}}, wantError{})
	rent.Apply(events[0], rent.Version()+1, t0)
	if got := rent.Status(); got != TransactionWrittenOff {
		t.Errorf("status after the write-off = %s, want written_off", got)
	}
	fee := MustGiven(t, &Transaction{}, func() Event { f, _ := januaryFee(flat("50.00"), LateFeeFromProperty, "50.00"); return f }())
	events, err = fee.Waive("")
	MustOutcome(t, events, err, []Event{&FeeWaived{}}, wantError{})
	fee.Apply(events[0], fee.Version()+1, t0)
	if got := fee.Status(); got != TransactionWaived {
		t.Errorf("status after the waiver = %s, want waived", got)
	}
	long := string(make([]byte, 1001))
	if _, err := januaryRent(t).WriteOff(long); err == nil {
		t.Error("a write-off reason of 1001 characters was accepted")
	}
}

func TestLateFeePolicyOverride(t *testing.T) {
	property := MustGiven(t, &Property{}, registered(ptr(ownerA), fullDetails()))
	lease := MustLeaseHistory(t, recorded{rentSigned(NewDate(2025, 1, 1), NewDate(2025, 12, 31), "1250.00", 1, false), t0})
	if p, _ := EffectiveLateFeePolicy(lease, property); p != nil {
		t.Fatalf("policy without any set = %+v, want none", p)
	}
	events, err := property.SetLateFeePolicy(flat("50.00"))
	MustOutcome(t, events, err, []Event{&PropertyLateFeePolicySet{Policy: flat("50.00")}}, wantError{})
	property.Apply(events[0], 2, t0)
	if again, err := property.SetLateFeePolicy(flat("50.00")); err != nil || len(again) != 0 {
		t.Errorf("setting the same policy again = %v, %v; want nothing", again, err)
	}
	p, source := EffectiveLateFeePolicy(lease, property)
	if p == nil || !p.Equal(flat("50.00")) || source != LateFeeFromProperty {
		t.Fatalf("effective policy = %+v from %s, want the property's", p, source)
	}
	override := LateFeePolicy{GraceDays: 10, Percent: dec("4")}
	events, err = lease.SetLateFeePolicy(override)
	MustOutcome(t, events, err, []Event{&LeaseLateFeePolicySet{Policy: override}}, wantError{})
	lease.Apply(events[0], 2, t0)
	p, source = EffectiveLateFeePolicy(lease, property)
	if p == nil || !p.Equal(override) || source != LateFeeFromLease {
		t.Errorf("effective policy = %+v from %s, want the lease's override", p, source)
	}
	if _, err := lease.SetLateFeePolicy(LateFeePolicy{}); err == nil {
		t.Error("a policy without a fee was accepted on the lease")
	}
}

func TestRentEventsRoundTrip(t *testing.T) {
	fee, assessed := januaryFee(LateFeePolicy{GraceDays: 3, Percent: dec("7.25"), MonthlyCap: money("90")}, LateFeeFromLease, "90.00")
	l := MustLeaseHistory(t,
		recorded{rentSigned(NewDate(2025, 1, 1), NewDate(2025, 12, 31), "1250.00", 1, false), t0},
		recorded{&LeaseTerminated{EffectiveDate: NewDate(2025, 3, 15)}, t0})
	replacement := RentCharge(l, l.RentPlan().Charges[2])
	if replacement.Rent == nil || replacement.Rent.Replaces == nil || *replacement.Rent.Replaces != RentChargeID(rentLeaseID, "2025-03-01") {
		t.Fatalf("the replacement charge does not name the charge it replaces: %+v", replacement.Rent)
	}
	for _, e := range []Event{fee, assessed, replacement, &PropertyLateFeePolicySet{Policy: flat("50.00")},
		&LeaseLateFeePolicySet{Policy: LateFeePolicy{Percent: decimalPtr(decimal.RequireFromString("2.5"))}},
		&ChargeVoided{Reason: "lease terminated"}, &FeeWaived{Reason: "goodwill"}, &ChargeWrittenOff{Reason: "uncollectable"},
		&LeaseRenewed{PreviousEndDate: NewDate(2025, 12, 31), EndDate: NewDate(2026, 12, 31), Automatic: true}} {
		MustRoundTrip(t, e.EventType(), e)
	}
}

func decimalPtr(d decimal.Decimal) *decimal.Decimal { return &d }
