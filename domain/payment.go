package domain

// Payment invariants (docs/rent.md, "Payments, credit and deposits"):
//   - a payment is money received for one lease: an amount > 0 (money bounds), a
//     payment date, a method, optionally a reference and the party that paid, who
//     must be a party of the lease;
//   - it is applied when it is recorded, to the lease's open charges (pending or
//     failed, with a balance), earliest due first, then in the order they were
//     posted, then by id. Deposit charges are left out unless the payment says
//     applies_to "deposit": then it is applied to the open deposit charges only;
//   - its allocations and its credit (what is left, the lease's prepayment) add up
//     to its amount, cent for cent; no charge gets more than its balance;
//   - a payment is returned at most once; its allocations are reversed and its
//     credit withdrawn.

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// PaymentStreamType names payment streams.
const PaymentStreamType = "payment"

// PaymentAppliesTo says which open charges a payment is applied to.
type PaymentAppliesTo struct{ name string }

var (
	AppliesToCharges = PaymentAppliesTo{"charges"} // every open charge but deposits
	AppliesToDeposit = PaymentAppliesTo{"deposit"} // the open deposit charges only
)

var appliesTo = enumOf(AppliesToCharges, AppliesToDeposit)

func (a PaymentAppliesTo) String() string                { return a.name }
func (a PaymentAppliesTo) MarshalText() ([]byte, error)  { return []byte(a.name), nil }
func (a *PaymentAppliesTo) UnmarshalText(b []byte) error { return appliesTo.parse(string(b), a) }

// ParseAppliesTo returns the named choice; "" is AppliesToCharges, anything
// unknown the zero value (refused by validation).
func ParseAppliesTo(s string) PaymentAppliesTo {
	if s == "" {
		return AppliesToCharges
	}
	var a PaymentAppliesTo
	_ = appliesTo.parse(s, &a)
	return a
}

// PaymentStatus is where a payment stands.
type PaymentStatus struct{ name string }

var (
	PaymentStatusApplied  = PaymentStatus{"applied"}
	PaymentStatusReturned = PaymentStatus{"returned"}
)

func (s PaymentStatus) String() string { return s.name }

// Allocation is the part of a payment applied to one charge.
type Allocation struct {
	TransactionID uuid.UUID `json:"transaction_id"`
	Amount        Money     `json:"amount"`
}

// Payment events.
type (
	PaymentRecorded struct {
		PaymentID       uuid.UUID        `json:"payment_id"`
		LeaseID         uuid.UUID        `json:"lease_id"`
		TenantID        *uuid.UUID       `json:"tenant_id,omitempty"`
		Amount          Money            `json:"amount"`
		PaymentDate     Date             `json:"payment_date"`
		PaymentMethod   PaymentMethod    `json:"payment_method"`
		ReferenceNumber *string          `json:"reference_number,omitempty"`
		AppliesTo       PaymentAppliesTo `json:"applies_to"`
		Allocations     []Allocation     `json:"allocations"`
		Credit          Money            `json:"credit"`
	}
	// PaymentReturned: the money did not arrive after all (a bounced cheque).
	PaymentReturned struct {
		Reason     string     `json:"reason"`
		ReturnedOn Date       `json:"returned_on"`
		FeeID      *uuid.UUID `json:"fee_id,omitempty"`
	}
)

func (PaymentRecorded) EventType() string { return "PaymentRecorded" }
func (PaymentReturned) EventType() string { return "PaymentReturned" }

var paymentEvents = map[string]func() Event{
	"PaymentRecorded": func() Event { return &PaymentRecorded{} },
	"PaymentReturned": func() Event { return &PaymentReturned{} },
}

// LeasePayment is the payment aggregate: money received for a lease, and how it
// was applied.
type LeasePayment struct {
	version  int64
	recorded PaymentRecorded
	status   PaymentStatus
}

// Apply records a fact.
func (p *LeasePayment) Apply(e Event, version int64, _ time.Time) {
	switch e := e.(type) {
	case *PaymentRecorded:
		p.recorded, p.status = *e, PaymentStatusApplied
	case *PaymentReturned:
		p.status = PaymentStatusReturned
	}
	p.version = version
}

func (p *LeasePayment) Version() int64     { return p.version }
func (p *LeasePayment) Exists() bool       { return p.version > 0 }
func (p *LeasePayment) LeaseID() uuid.UUID { return p.recorded.LeaseID }

// Refusals of a return.
var (
	ErrPaymentReturned = conflict("the payment was returned already")
	// ErrCreditRefunded: the credit the payment left was paid back to the tenant
	// already, so its return cannot withdraw it; charge the tenant instead.
	ErrCreditRefunded = conflict("the credit this payment left was refunded already")
)

// NewPaymentInput is what recording a payment needs.
type NewPaymentInput struct {
	ID              uuid.UUID
	Amount          Money
	PaymentDate     Date
	PaymentMethod   PaymentMethod
	ReferenceNumber *string
	TenantID        *uuid.UUID
	AppliesTo       PaymentAppliesTo
}

// PaymentDecision is what recording or returning a payment appends, stream by
// stream: the payment's own events, each charge's (in allocation order), and
// the lease's.
type PaymentDecision struct {
	Payment []Event
	Charges []ChargeEvents
	Lease   []Event
}

// ChargeEvents are the events for one charge.
type ChargeEvents struct {
	Charge *Transaction
	Events []Event
}

// RecordPayment validates a payment for lease and applies it to the open charges
// among charges (the lease's, in any order): the allocations and the credit
// left. A rent charge's allocation is RentPaid, any other PaymentReceived; a
// deposit's also DepositReceived on the lease.
func RecordPayment(lease *Lease, in NewPaymentInput, charges []*Transaction) (PaymentDecision, error) {
	var v validator
	v.check(in.ID != uuid.Nil, "id", "must not be the nil UUID")
	v.check(in.Amount.IsPositive(), "amount", "must be greater than 0")
	paymentFields(&v, in.PaymentDate, in.PaymentMethod, in.ReferenceNumber)
	v.check(in.AppliesTo != PaymentAppliesTo{}, "applies_to", "must be one of "+appliesTo.list())
	if in.TenantID != nil {
		v.check(lease.HasParty(*in.TenantID), "tenant_id", "is not a party of the lease")
	}
	if err := v.err(); err != nil {
		return PaymentDecision{}, err
	}
	allocations, credit := Allocate(in.Amount, charges, in.AppliesTo)
	d := PaymentDecision{}
	for _, a := range allocations {
		t := chargeIn(charges, a.TransactionID)
		d.Charges = append(d.Charges, ChargeEvents{Charge: t, Events: []Event{t.paidBy(Payment{
			PaymentDate: in.PaymentDate, PaymentMethod: in.PaymentMethod, ReferenceNumber: in.ReferenceNumber,
			Amount: &a.Amount, PaymentID: &in.ID,
		})}})
		if t.kind == TransactionDeposit {
			d.Lease = append(d.Lease, &DepositReceived{TransactionID: t.id, PaymentID: in.ID, Amount: a.Amount, On: in.PaymentDate})
		}
	}
	if credit.IsPositive() {
		d.Lease = append(d.Lease, &CreditReceived{PaymentID: in.ID, Amount: credit, On: in.PaymentDate})
	}
	if allocations == nil {
		allocations = []Allocation{}
	}
	d.Payment = []Event{&PaymentRecorded{PaymentID: in.ID, LeaseID: lease.ID(), TenantID: in.TenantID, Amount: in.Amount,
		PaymentDate: in.PaymentDate, PaymentMethod: in.PaymentMethod, ReferenceNumber: in.ReferenceNumber,
		AppliesTo: in.AppliesTo, Allocations: allocations, Credit: credit}}
	return d, nil
}

func chargeIn(charges []*Transaction, id uuid.UUID) *Transaction {
	for _, t := range charges {
		if t.id == id {
			return t
		}
	}
	return nil
}

// Allocate splits amount over the open charges that to selects, earliest due
// first (then as posted, then by id), each up to its balance; what is left is
// credit.
func Allocate(amount Money, charges []*Transaction, to PaymentAppliesTo) ([]Allocation, Money) {
	open := OpenCharges(charges, to)
	left := amount
	var out []Allocation
	for _, t := range open {
		if !left.IsPositive() {
			break
		}
		part := minMoney(left, t.Balance())
		out = append(out, Allocation{TransactionID: t.id, Amount: part})
		left = left.Sub(part)
	}
	return out, left
}

// OpenCharges are the charges that to selects still owed (pending or failed,
// with a balance), in the order payments apply to them.
func OpenCharges(charges []*Transaction, to PaymentAppliesTo) []*Transaction {
	var open []*Transaction
	for _, t := range charges {
		if !t.Open() || (t.kind == TransactionDeposit) != (to == AppliesToDeposit) {
			continue
		}
		open = append(open, t)
	}
	slices.SortStableFunc(open, func(a, b *Transaction) int {
		switch {
		case a.dueDate.Before(b.dueDate):
			return -1
		case a.dueDate.After(b.dueDate):
			return 1
		case a.postedAt.Before(b.postedAt):
			return -1
		case a.postedAt.After(b.postedAt):
			return 1
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	return open
}

// Return decides the return of the payment (a bounced cheque): every allocation
// is reversed on its charge (which reopens), a deposit's receipt is reversed,
// and the credit it left is withdrawn from the lease. When the lease's credit
// has been applied meanwhile, the latest applications are reversed first, so
// that the charges they paid reopen. fee, if given, is the returned-payment fee
// to post (its ChargePosted is the caller's, on its own stream).
func (p *LeasePayment) Return(lease *Lease, charges []*Transaction, reason string, on Date, feeID *uuid.UUID) (PaymentDecision, error) {
	if p.status == PaymentStatusReturned {
		return PaymentDecision{}, ErrPaymentReturned
	}
	var v validator
	textField(&v, "reason", reason, true, 1000)
	if err := v.err(); err != nil {
		return PaymentDecision{}, err
	}
	d := PaymentDecision{Payment: []Event{&PaymentReturned{Reason: reason, ReturnedOn: on, FeeID: feeID}}}
	for _, a := range p.recorded.Allocations {
		t := chargeIn(charges, a.TransactionID)
		if t == nil {
			continue
		}
		if t.kind == TransactionDeposit && lease.ledger.settled {
			return PaymentDecision{}, ErrDepositSettled // the deposit it paid was settled meanwhile
		}
		d.Charges = append(d.Charges, ChargeEvents{Charge: t, Events: []Event{&AllocationReversed{
			PaymentID: &p.recorded.PaymentID, Amount: a.Amount, Reason: reason, On: on}}})
		if t.kind == TransactionDeposit {
			d.Lease = append(d.Lease, &DepositReceiptReversed{TransactionID: t.id, PaymentID: p.recorded.PaymentID, Amount: a.Amount, On: on})
		}
	}
	if credit := p.recorded.Credit; credit.IsPositive() {
		short := credit.Sub(lease.ledger.credit)
		for i := len(lease.ledger.applied) - 1; i >= 0 && short.IsPositive(); i-- {
			app := lease.ledger.applied[i]
			if !app.left.IsPositive() {
				continue
			}
			part := minMoney(short, app.left)
			if t := chargeIn(charges, app.transactionID); t != nil {
				d.Charges = append(d.Charges, ChargeEvents{Charge: t, Events: []Event{&AllocationReversed{
					FromCredit: true, Amount: part, Reason: reason, On: on}}})
			}
			d.Lease = append(d.Lease, &CreditUnapplied{TransactionID: app.transactionID, Amount: part, On: on})
			short = short.Sub(part)
		}
		if short.IsPositive() {
			return PaymentDecision{}, ErrCreditRefunded
		}
		d.Lease = append(d.Lease, &CreditWithdrawn{PaymentID: p.recorded.PaymentID, Amount: credit, On: on})
	}
	return d, nil
}

// ReturnedCharges are the charges a return reverses allocations on: the
// payment's allocations, and the latest credit applications a withdrawal of its
// credit may reach.
func (p *LeasePayment) ReturnedCharges(lease *Lease) []uuid.UUID {
	var ids []uuid.UUID
	for _, a := range p.recorded.Allocations {
		ids = append(ids, a.TransactionID)
	}
	for _, app := range lease.ledger.applied {
		if app.left.IsPositive() && !slices.Contains(ids, app.transactionID) {
			ids = append(ids, app.transactionID)
		}
	}
	return ids
}

// PayBalance decides a payment of a charge's whole balance (POST
// /transactions/{id}/pay): the charge's RentPaid or PaymentReceived, and the
// payment, recorded as one of its own with this one allocation.
func PayBalance(lease *Lease, t *Transaction, id uuid.UUID, p Payment) (PaymentDecision, error) {
	balance := t.Balance()
	p.Amount, p.PaymentID = &balance, &id
	events, err := t.Pay(p)
	if err != nil {
		return PaymentDecision{}, err
	}
	to := AppliesToCharges
	d := PaymentDecision{Charges: []ChargeEvents{{Charge: t, Events: events}}}
	if t.kind == TransactionDeposit {
		to = AppliesToDeposit
		d.Lease = []Event{&DepositReceived{TransactionID: t.id, PaymentID: id, Amount: balance, On: p.PaymentDate}}
	}
	d.Payment = []Event{&PaymentRecorded{PaymentID: id, LeaseID: lease.ID(), Amount: balance, PaymentDate: p.PaymentDate,
		PaymentMethod: p.PaymentMethod, ReferenceNumber: p.ReferenceNumber, AppliesTo: to,
		Allocations: []Allocation{{TransactionID: t.id, Amount: balance}}, Credit: ZeroMoney}}
	return d, nil
}
