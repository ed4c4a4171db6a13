package domain

// Late-fee invariants:
//   - a policy has a grace period of 0..MaxGraceDays days and exactly one of a flat
//     amount or a percentage of the overdue rent (0..100, two decimal places at
//     most), and may cap the fee of a month; amounts are non-negative money, and a
//     zero amount, percentage or cap means no fee;
//   - a policy is set on a property, and may be overridden on a lease: the lease's
//     own policy, when it has one, is the one that applies;
//   - a scheduled rent charge still unpaid (pending or failed) after its due date
//     plus the grace period gets exactly one fee for its period: the fee's id is
//     derived from the lease and the period, and the policy is recorded on the fee;
//   - a rent charge paid within the grace period never keeps a fee: recording such
//     a payment, however late, voids a fee already assessed on it.

import (
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// MaxGraceDays bounds a late-fee policy's grace period.
const MaxGraceDays = 90

// LateFeePolicy is when and how much a late rent payment costs.
type LateFeePolicy struct {
	GraceDays  int              `json:"grace_days"`
	FlatAmount *Money           `json:"flat_amount,omitempty"`
	Percent    *decimal.Decimal `json:"percent,omitempty"`
	MonthlyCap *Money           `json:"monthly_cap,omitempty"`
}

var hundred = decimal.NewFromInt(100)

// Validate checks a policy against the invariants.
func (p LateFeePolicy) Validate() error {
	var v validator
	p.validate(&v)
	return v.err()
}

func (p LateFeePolicy) validate(v *validator) {
	v.check(p.GraceDays >= 0 && p.GraceDays <= MaxGraceDays, "grace_days", "must be between 0 and 90")
	switch {
	case p.FlatAmount == nil && p.Percent == nil:
		v.check(false, "flat_amount", "one of flat_amount or percent is required")
	case p.FlatAmount != nil && p.Percent != nil:
		v.check(false, "percent", "give flat_amount or percent, not both")
	}
	if p.FlatAmount != nil {
		v.check(!p.FlatAmount.IsNegative(), "flat_amount", "must not be negative")
	}
	if p.Percent != nil {
		pc := *p.Percent
		v.check(!pc.IsNegative() && !pc.GreaterThan(hundred) && pc.Round(2).Equal(pc),
			"percent", "must be between 0 and 100 with at most two decimal places")
	}
	if p.MonthlyCap != nil {
		v.check(!p.MonthlyCap.IsNegative(), "monthly_cap", "must not be negative")
	}
}

// FeeFor is the fee for an overdue rent charge of amount rent: the flat amount, or
// the percentage of rent rounded half away from zero to the cent, at most the cap.
func (p LateFeePolicy) FeeFor(rent Money) Money {
	var fee decimal.Decimal
	switch {
	case p.FlatAmount != nil:
		fee = p.FlatAmount.d
	case p.Percent != nil:
		fee = rent.d.Mul(*p.Percent).DivRound(hundred, 2)
	}
	if p.MonthlyCap != nil && fee.GreaterThan(p.MonthlyCap.d) {
		fee = p.MonthlyCap.d
	}
	return Money{d: fee}
}

// Equal reports whether two policies say the same.
func (p LateFeePolicy) Equal(o LateFeePolicy) bool {
	return p.GraceDays == o.GraceDays && moneyPtrEqual(p.FlatAmount, o.FlatAmount) &&
		decimalPtrEqual(p.Percent, o.Percent) && moneyPtrEqual(p.MonthlyCap, o.MonthlyCap)
}

func moneyPtrEqual(a, b *Money) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.d.Equal(b.d)
}

// LateFeeSource is where the policy of a fee was set.
type LateFeeSource struct{ name string }

var (
	LateFeeFromProperty = LateFeeSource{"property"}
	LateFeeFromLease    = LateFeeSource{"lease"}
)

var lateFeeSources = enumOf(LateFeeFromProperty, LateFeeFromLease)

func (s LateFeeSource) String() string                { return s.name }
func (s LateFeeSource) MarshalText() ([]byte, error)  { return []byte(s.name), nil }
func (s *LateFeeSource) UnmarshalText(b []byte) error { return lateFeeSources.parse(string(b), s) }

// Late-fee policy events, on the property's and the lease's streams.
type (
	PropertyLateFeePolicySet struct {
		Policy LateFeePolicy `json:"policy"`
	}
	LeaseLateFeePolicySet struct {
		Policy LateFeePolicy `json:"policy"`
	}
)

func (PropertyLateFeePolicySet) EventType() string { return "PropertyLateFeePolicySet" }
func (LeaseLateFeePolicySet) EventType() string    { return "LeaseLateFeePolicySet" }

// SetLateFeePolicy sets the property's late-fee policy; the same policy again
// records nothing.
func (p *Property) SetLateFeePolicy(policy LateFeePolicy) ([]Event, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if p.lateFee != nil && p.lateFee.Equal(policy) {
		return nil, nil
	}
	return []Event{&PropertyLateFeePolicySet{Policy: policy}}, nil
}

// LateFeePolicy is the property's late-fee policy, if it has one.
func (p *Property) LateFeePolicy() *LateFeePolicy { return p.lateFee }

// SetLateFeePolicy sets the lease's own late-fee policy, which overrides its
// property's; the same policy again records nothing.
func (l *Lease) SetLateFeePolicy(policy LateFeePolicy) ([]Event, error) {
	if err := policy.Validate(); err != nil {
		return nil, err
	}
	if l.lateFee != nil && l.lateFee.Equal(policy) {
		return nil, nil
	}
	return []Event{&LeaseLateFeePolicySet{Policy: policy}}, nil
}

// LateFeePolicy is the lease's own late-fee policy, if it has one.
func (l *Lease) LateFeePolicy() *LateFeePolicy { return l.lateFee }

// EffectiveLateFeePolicy is the policy that applies to the lease: its own, or else
// its property's; nil when neither has one.
func EffectiveLateFeePolicy(l *Lease, p *Property) (*LateFeePolicy, LateFeeSource) {
	if l.lateFee != nil {
		return l.lateFee, LateFeeFromLease
	}
	if p != nil && p.lateFee != nil {
		return p.lateFee, LateFeeFromProperty
	}
	return nil, LateFeeSource{}
}

// LateFeeBasis records, on a fee's ChargePosted, what it was charged for and under
// which policy.
type LateFeeBasis struct {
	RentChargeID uuid.UUID     `json:"rent_charge_id"`
	RentDueDate  Date          `json:"rent_due_date"`
	Policy       LateFeePolicy `json:"policy"`
	Source       LateFeeSource `json:"source"`
}

// RentBasis records, on a rent charge's ChargePosted, the schedule segment it is.
type RentBasis struct {
	Key      string     `json:"key"`
	From     Date       `json:"from"`
	To       Date       `json:"to"`
	Rate     Money      `json:"rate"`
	Replaces *uuid.UUID `json:"replaces,omitempty"`
}

// Rent schedule events on transaction streams.
type (
	// ChargeVoided cancels a charge that is no longer owed (a termination dropped
	// its days, or the rent it was a fee for was paid within the grace period).
	ChargeVoided struct {
		Reason string `json:"reason,omitempty"`
	}
	// FeeWaived forgives a fee.
	FeeWaived struct {
		Reason string `json:"reason,omitempty"`
	}
	// ChargeWrittenOff gives up collecting a charge.
	ChargeWrittenOff struct {
		Reason string `json:"reason,omitempty"`
	}
	// LateFeeAssessed notes on a rent charge that its period's late fee was charged.
	LateFeeAssessed struct {
		FeeID     uuid.UUID `json:"fee_id"`
		Period    string    `json:"period"`
		GraceDays int       `json:"grace_days"`
		Amount    Money     `json:"amount"`
	}
)

func (ChargeVoided) EventType() string     { return "ChargeVoided" }
func (FeeWaived) EventType() string        { return "FeeWaived" }
func (ChargeWrittenOff) EventType() string { return "ChargeWrittenOff" }
func (LateFeeAssessed) EventType() string  { return "LateFeeAssessed" }

// rentEvents are the event types of rent automation, on property, lease and
// transaction streams.
var rentEvents = map[string]func() Event{
	"PropertyLateFeePolicySet": func() Event { return &PropertyLateFeePolicySet{} },
	"LeaseLateFeePolicySet":    func() Event { return &LeaseLateFeePolicySet{} },
	"ChargeVoided":             func() Event { return &ChargeVoided{} },
	"FeeWaived":                func() Event { return &FeeWaived{} },
	"ChargeWrittenOff":         func() Event { return &ChargeWrittenOff{} },
	"LateFeeAssessed":          func() Event { return &LateFeeAssessed{} },
}

// Rent schedule refusals.
var (
	ErrNotAFee           = conflict("only a fee can be waived")
	ErrLateFeeNotDue     = conflict("no late fee is due on this charge")
	ErrLeaseNotAutoRenew = conflict("the lease does not renew automatically")
)

// RentCharge is the ChargePosted of one schedule segment of lease.
func RentCharge(lease *Lease, s RentSegment) *ChargePosted {
	basis := &RentBasis{Key: s.Key, From: s.From, To: s.To, Rate: s.Rate}
	if s.Replaces != "" {
		replaced := RentChargeID(lease.ID(), s.Replaces)
		basis.Replaces = &replaced
	}
	notes := "rent " + s.From.String() + " to " + s.To.String()
	if s.Partial() {
		notes += " (prorated)"
	}
	return &ChargePosted{TransactionID: s.ChargeID(lease.ID()), LeaseID: lease.ID(), Amount: s.Amount,
		Type: TransactionRent, DueDate: s.DueDate, Notes: &notes, Period: s.Period, Rent: basis}
}

// LateFeeDue decides the late fee of a scheduled rent charge as of day through:
// the fee's ChargePosted, and the LateFeeAssessed to append to the rent charge.
// It refuses (ErrLateFeeNotDue) unless the charge is a scheduled rent charge that
// is still unpaid after the grace period, has no fee yet, and the fee is positive.
func LateFeeDue(rent *Transaction, policy LateFeePolicy, source LateFeeSource, through Date) (*ChargePosted, *LateFeeAssessed, error) {
	if rent.kind != TransactionRent || rent.period == "" || rent.lateFee != nil ||
		(rent.status != TransactionPending && rent.status != TransactionFailed) {
		return nil, nil, ErrLateFeeNotDue
	}
	if !through.After(rent.dueDate.AddDays(policy.GraceDays)) {
		return nil, nil, ErrLateFeeNotDue
	}
	amount := policy.FeeFor(rent.amount)
	if !amount.IsPositive() {
		return nil, nil, ErrLateFeeNotDue
	}
	id := LateFeeID(rent.leaseID, rent.period)
	notes := "late fee for the rent due " + rent.dueDate.String()
	fee := &ChargePosted{TransactionID: id, LeaseID: rent.leaseID, Amount: amount, Type: TransactionFee,
		DueDate: rent.dueDate.AddDays(policy.GraceDays + 1), Notes: &notes, Period: rent.period,
		LateFee: &LateFeeBasis{RentChargeID: rent.id, RentDueDate: rent.dueDate, Policy: policy, Source: source}}
	return fee, &LateFeeAssessed{FeeID: id, Period: rent.period, GraceDays: policy.GraceDays, Amount: amount}, nil
}

// PaidWithinGrace reports whether the charge was paid no later than the last day
// of the grace period of its late fee; it names the fee, which must not stand.
func (t *Transaction) PaidWithinGrace() (uuid.UUID, bool) {
	if t.lateFee == nil || t.payment == nil || (t.status != TransactionCompleted && t.status != TransactionRefunded) {
		return uuid.Nil, false
	}
	return t.lateFee.FeeID, !t.payment.PaymentDate.After(t.dueDate.AddDays(t.lateFee.GraceDays))
}

// Void cancels a pending or failed charge.
func (t *Transaction) Void(reason string) ([]Event, error) {
	if t.status != TransactionPending && t.status != TransactionFailed {
		return nil, ErrIllegalTransition
	}
	if err := validateTransactionReason(reason); err != nil {
		return nil, err
	}
	return []Event{&ChargeVoided{Reason: reason}}, nil
}

// Waive forgives a pending or failed fee.
func (t *Transaction) Waive(reason string) ([]Event, error) {
	if t.kind != TransactionFee {
		return nil, ErrNotAFee
	}
	if t.status != TransactionPending && t.status != TransactionFailed {
		return nil, ErrIllegalTransition
	}
	if err := validateTransactionReason(reason); err != nil {
		return nil, err
	}
	return []Event{&FeeWaived{Reason: reason}}, nil
}

// WriteOff gives up collecting a pending or failed charge.
func (t *Transaction) WriteOff(reason string) ([]Event, error) {
	if t.status != TransactionPending && t.status != TransactionFailed {
		return nil, ErrIllegalTransition
	}
	if err := validateTransactionReason(reason); err != nil {
		return nil, err
	}
	return []Event{&ChargeWrittenOff{Reason: reason}}, nil
}

// Period is the rent period of a charge the schedule posted ("" for others).
func (t *Transaction) Period() string { return t.period }

// LateFee is the late fee assessed on this rent charge, if any.
func (t *Transaction) LateFee() *LateFeeAssessed { return t.lateFee }
