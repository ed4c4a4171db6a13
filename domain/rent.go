package domain

// Rent schedule invariants (docs/rent.md has the worked rules):
//   - rent is charged per calendar month, the "period" (YYYY-MM); a lease's term is
//     its start date to its end date, or to its termination's effective date;
//   - the term is cut into segments: the days of one month that one stretch of the
//     term covers. Signing gives one stretch, each renewal one more (from the day
//     after the previous end date), so a month holds two segments only when a
//     renewal begins inside it;
//   - a segment of days a..b of an n-day month at monthly rent R costs
//     round(R·b/n) − round(R·(a−1)/n), rounded half away from zero to the cent: a
//     full month costs exactly R, and the pieces of one month always add up;
//   - a segment is due on the lease's payment_day of its month, or on its first day
//     when it starts later than that;
//   - the rent of a month is the lease's rent in force on the month's first day: a
//     renewal's new rent applies from the first month that begins after the day the
//     renewal was recorded;
//   - a termination drops the segments that begin after its effective date and
//     replaces the one it cuts short with a shorter one (its own key);
//   - a segment's charge id is UUIDv5 of the lease id and the segment's key, and a
//     period's late fee id UUIDv5 of the lease id and the period: posting twice is
//     impossible, however many processes post at once.

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// RentNamespace is the UUIDv5 namespace of the charges the rent schedule posts.
// It is fixed forever: the ids of posted charges derive from it.
var RentNamespace = uuid.MustParse("6d0f7a2c-58b1-4c3e-9e7a-2f1b3c4d5e6f")

// RentChargeID is the id of the rent charge of one segment of a lease.
func RentChargeID(lease uuid.UUID, key string) uuid.UUID {
	return uuid.NewSHA1(RentNamespace, []byte(lease.String()+"/rent/"+key))
}

// LateFeeID is the id of the one late fee a lease may be charged for a period.
func LateFeeID(lease uuid.UUID, period string) uuid.UUID {
	return uuid.NewSHA1(RentNamespace, []byte(lease.String()+"/fee/"+period))
}

// PeriodOf names the rent period (calendar month) of a day: "2025-01".
func PeriodOf(d Date) string { return d.t.Format("2006-01") }

// RentSegment is one rent charge of a lease's schedule.
type RentSegment struct {
	Key      string // stable name within the lease: the first day, plus "/to/<day>" for a replacement
	Period   string // YYYY-MM
	From, To Date   // the days charged, both included
	DueDate  Date
	Rate     Money  // the month's full rent
	Amount   Money  // the prorated charge
	Replaces string // for a replacement: the key of the segment it replaces
}

// ChargeID is the segment's charge id on lease.
func (s RentSegment) ChargeID(lease uuid.UUID) uuid.UUID { return RentChargeID(lease, s.Key) }

// Partial reports whether the segment covers less than its whole month.
func (s RentSegment) Partial() bool {
	return s.From.Day() != 1 || !s.To.Equal(lastOfMonth(s.To))
}

// RentPlan is what the schedule charges for a lease.
type RentPlan struct {
	Charges   []RentSegment // in date order
	Cancelled []RentSegment // segments a termination dropped entirely (void them if posted)
}

// rentChange is a monthly rent and the first month it applies to.
type rentChange struct {
	from   Date // first day of the first month it applies to; zero: from the start
	amount Money
}

// RentPlan is the lease's rent schedule, as its events have shaped it.
func (l *Lease) RentPlan() RentPlan {
	var plan RentPlan
	if !l.Exists() {
		return plan
	}
	from := l.terms.StartDate
	for _, end := range l.ends {
		for _, seg := range l.segments(from, end) {
			switch c := l.terminatedOn; {
			case c == nil || !seg.To.After(*c):
				plan.Charges = append(plan.Charges, seg)
			case seg.From.After(*c):
				plan.Cancelled = append(plan.Cancelled, seg)
			default: // cut short by the termination
				plan.Charges = append(plan.Charges, l.segment(seg.From, *c, seg.Key+"/to/"+c.String(), seg.Key))
			}
		}
		from = end.AddDays(1)
	}
	return plan
}

// segments cuts the stretch [from, to] into monthly segments.
func (l *Lease) segments(from, to Date) []RentSegment {
	var out []RentSegment
	for day := from; !day.After(to); {
		last := lastOfMonth(day)
		if last.After(to) {
			last = to
		}
		out = append(out, l.segment(day, last, day.String(), ""))
		day = last.AddDays(1)
	}
	return out
}

func (l *Lease) segment(from, to Date, key, replaces string) RentSegment {
	rate := l.rentFor(firstOfMonth(from))
	due := NewDate(from.Year(), from.Month(), l.terms.PaymentDay)
	if from.After(due) {
		due = from
	}
	return RentSegment{Key: key, Period: PeriodOf(from), From: from, To: to, DueDate: due, Rate: rate,
		Amount: ProrateRent(rate, from, to), Replaces: replaces}
}

// rentFor is the monthly rent in force on the first day of a month.
func (l *Lease) rentFor(month Date) Money {
	var rate Money
	for _, c := range l.rentChanges {
		if !c.from.After(month) {
			rate = c.amount
		}
	}
	return rate
}

// ProrateRent is the rent of the days from..to of one month at monthly rent rate:
// round(rate·b/n) − round(rate·(a−1)/n) for days a..b of an n-day month.
func ProrateRent(rate Money, from, to Date) Money {
	n := decimal.NewFromInt(int64(lastOfMonth(from).Day()))
	upTo := func(day int) decimal.Decimal {
		return rate.d.Mul(decimal.NewFromInt(int64(day))).DivRound(n, 2)
	}
	return Money{d: upTo(to.Day()).Sub(upTo(from.Day() - 1))}
}

func firstOfMonth(d Date) Date { return NewDate(d.Year(), d.Month(), 1) }

func lastOfMonth(d Date) Date { return firstOfMonth(d).AddMonths(1).AddDays(-1) }

// addMonthsClamped adds n months, keeping the day of month where the target month
// has it and taking the month's last day where it has not (Jan 31 + 1 = Feb 28).
func addMonthsClamped(d Date, n int) Date {
	first := NewDate(d.Year(), d.Month(), 1).AddMonths(n)
	if last := lastOfMonth(first); d.Day() > last.Day() {
		return last
	}
	return NewDate(first.Year(), first.Month(), d.Day())
}

// nextTermEnd is the end of a renewal for the same term length as [termStart, end]:
// whole months when the term is whole months (it ends the day before the start's
// day of month), otherwise the same number of days.
func nextTermEnd(termStart, end Date) Date {
	next := end.AddDays(1)
	months := (next.Year()-termStart.Year())*12 + int(next.Month()) - int(termStart.Month())
	if months > 0 && addMonthsClamped(termStart, months).Equal(next) {
		return addMonthsClamped(next, months).AddDays(-1)
	}
	return end.AddDays(termStart.DaysUntil(next))
}

// Equal reports whether d and o are the same day.
func (d Date) Equal(o Date) bool { return d.t.Equal(o.t) }

// dateOfRecord is the UTC day an event was recorded.
func dateOfRecord(at time.Time) Date {
	if at.IsZero() {
		return Date{}
	}
	return DateOf(at)
}
