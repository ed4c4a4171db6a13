package domain

// Lease ledger invariants (docs/rent.md, "Payments, credit and deposits"), on the
// lease's stream:
//   - credit is money received and not yet applied (a prepayment): what payments
//     left over, less what was applied to charges, withdrawn by returns or
//     refunded; it is never negative, and a refund of more than it is refused;
//   - credit is applied to every charge posted while there is some, but never to
//     a deposit (a deposit is paid by a payment that names it);
//   - a deposit paid is held, a liability and never income: held is what the
//     deposit charges received, less what a settlement deducted or refunded;
//   - a deposit is settled once, after the lease ended (terminated or expired):
//     itemized deductions (an unpaid charge of the lease may be settled from it)
//     of at most what is held, and the rest refunded.

import (
	"strconv"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Money arithmetic, within the domain: results of amounts that fit stay exact.
func (m Money) Add(o Money) Money { return Money{d: m.d.Add(o.d)} }
func (m Money) Sub(o Money) Money { return Money{d: m.d.Sub(o.d)} }
func (m Money) IsZero() bool      { return m.d.IsZero() }

func minMoney(a, b Money) Money {
	if a.d.LessThan(b.d) {
		return a
	}
	return b
}

// ZeroMoney is 0.00.
var ZeroMoney = Money{d: decimal.Zero}

// Lease ledger events, on the lease's stream.
type (
	// CreditReceived: a payment left this much over.
	CreditReceived struct {
		PaymentID uuid.UUID `json:"payment_id"`
		Amount    Money     `json:"amount"`
		On        Date      `json:"on"`
	}
	// CreditApplied: credit paid this much of a charge.
	CreditApplied struct {
		TransactionID uuid.UUID `json:"transaction_id"`
		Amount        Money     `json:"amount"`
		On            Date      `json:"on"`
	}
	// CreditUnapplied: a return took back credit applied to a charge, which
	// reopens; the undoing of a CreditApplied, with its fields.
	CreditUnapplied CreditApplied
	// CreditWithdrawn: the credit a returned payment had left is gone; the
	// undoing of the payment's CreditReceived, with its fields.
	CreditWithdrawn CreditReceived
	// CreditRefunded: credit paid back to the tenant.
	CreditRefunded struct {
		RefundID      uuid.UUID     `json:"refund_id"`
		Amount        Money         `json:"amount"`
		PaymentMethod PaymentMethod `json:"payment_method"`
		On            Date          `json:"on"`
	}
	// DepositReceived: a payment paid this much of a deposit charge; it is held.
	DepositReceived struct {
		TransactionID uuid.UUID `json:"transaction_id"`
		PaymentID     uuid.UUID `json:"payment_id"`
		Amount        Money     `json:"amount"`
		On            Date      `json:"on"`
	}
	// DepositReceiptReversed: the payment of a deposit was returned.
	DepositReceiptReversed struct {
		TransactionID uuid.UUID `json:"transaction_id"`
		PaymentID     uuid.UUID `json:"payment_id"`
		Amount        Money     `json:"amount"`
		On            Date      `json:"on"`
	}
	// DepositSettled: the deposit held was settled after the lease ended.
	DepositSettled struct {
		Deductions   []DepositDeduction `json:"deductions"`
		Refunded     Money              `json:"refunded"`
		RefundMethod PaymentMethod      `json:"refund_method"`
		On           Date               `json:"on"`
	}
)

// DepositDeduction is one item kept from a deposit; TransactionID names the
// unpaid charge of the lease it settles, if any.
type DepositDeduction struct {
	Reason        string     `json:"reason"`
	Amount        Money      `json:"amount"`
	DocumentID    *uuid.UUID `json:"document_id,omitempty"`
	TransactionID *uuid.UUID `json:"transaction_id,omitempty"`
}

func (CreditReceived) EventType() string         { return "CreditReceived" }
func (CreditApplied) EventType() string          { return "CreditApplied" }
func (CreditUnapplied) EventType() string        { return "CreditUnapplied" }
func (CreditWithdrawn) EventType() string        { return "CreditWithdrawn" }
func (CreditRefunded) EventType() string         { return "CreditRefunded" }
func (DepositReceived) EventType() string        { return "DepositReceived" }
func (DepositReceiptReversed) EventType() string { return "DepositReceiptReversed" }
func (DepositSettled) EventType() string         { return "DepositSettled" }

var ledgerEvents = map[string]func() Event{
	"CreditReceived":         func() Event { return &CreditReceived{} },
	"CreditApplied":          func() Event { return &CreditApplied{} },
	"CreditUnapplied":        func() Event { return &CreditUnapplied{} },
	"CreditWithdrawn":        func() Event { return &CreditWithdrawn{} },
	"CreditRefunded":         func() Event { return &CreditRefunded{} },
	"DepositReceived":        func() Event { return &DepositReceived{} },
	"DepositReceiptReversed": func() Event { return &DepositReceiptReversed{} },
	"DepositSettled":         func() Event { return &DepositSettled{} },
}

// leaseLedger is the lease's money held: its credit and its deposit.
type leaseLedger struct {
	credit   Money
	applied  []creditApplication // in order
	received Money               // deposit received, net of reversals
	settled  bool
}

type creditApplication struct {
	transactionID uuid.UUID
	left          Money // applied and not taken back
}

func (l *leaseLedger) apply(e Event) {
	switch e := e.(type) {
	case *CreditReceived:
		l.credit = l.credit.Add(e.Amount)
	case *CreditApplied:
		l.credit = l.credit.Sub(e.Amount)
		l.applied = append(l.applied, creditApplication{transactionID: e.TransactionID, left: e.Amount})
	case *CreditUnapplied:
		l.credit = l.credit.Add(e.Amount)
		left := e.Amount
		for i := len(l.applied) - 1; i >= 0 && left.IsPositive(); i-- {
			if a := &l.applied[i]; a.transactionID == e.TransactionID && a.left.IsPositive() {
				part := minMoney(left, a.left)
				a.left, left = a.left.Sub(part), left.Sub(part)
			}
		}
	case *CreditWithdrawn:
		l.credit = l.credit.Sub(e.Amount)
	case *CreditRefunded:
		l.credit = l.credit.Sub(e.Amount)
	case *DepositReceived:
		l.received = l.received.Add(e.Amount)
	case *DepositReceiptReversed:
		l.received = l.received.Sub(e.Amount)
	case *DepositSettled:
		l.settled = true
	}
}

// Credit is the lease's credit: money received and not yet applied.
func (l *Lease) Credit() Money { return l.ledger.credit }

// DepositHeld is the deposit the lease holds.
func (l *Lease) DepositHeld() Money {
	if l.ledger.settled {
		return ZeroMoney
	}
	return l.ledger.received
}

// Ledger refusals.
var (
	ErrLeaseNotEnded      = conflict("the deposit is settled only after the lease ended (terminated or expired)")
	ErrDepositSettled     = conflict("the deposit was settled already")
	ErrDeductionsTooLarge = &ValidationError{Fields: []FieldError{{Field: "deductions", Code: CodeOutOfRange,
		Message: "the deductions exceed the deposit held"}}}
)

// ApplyCredit decides what the lease's credit pays of a charge just posted (or
// reopened): RentPaid-like allocation events on the charge and CreditApplied on
// the lease; nothing when there is no credit, the charge is not open, or it is
// a deposit.
func ApplyCredit(lease *Lease, t *Transaction, on Date) (charge []Event, leaseEvents []Event) {
	credit := lease.ledger.credit
	if !credit.IsPositive() || !t.Open() || t.kind == TransactionDeposit {
		return nil, nil
	}
	part := minMoney(credit, t.Balance())
	return []Event{&CreditAllocated{Amount: part, On: on}},
		[]Event{&CreditApplied{TransactionID: t.id, Amount: part, On: on}}
}

// RefundCredit decides a refund of credit: at most the credit.
func (l *Lease) RefundCredit(id uuid.UUID, amount Money, method PaymentMethod, on Date) ([]Event, error) {
	var v validator
	v.check(amount.IsPositive(), "amount", "must be greater than 0")
	v.check(!amount.d.GreaterThan(l.ledger.credit.d), "amount", "must not exceed the credit "+l.ledger.credit.String())
	v.check(method != PaymentMethod{}, "payment_method", "must be one of "+paymentMethods.list())
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&CreditRefunded{RefundID: id, Amount: amount, PaymentMethod: method, On: on}}, nil
}

// SettleDeposit decides the settlement of the deposit held: deductions of at
// most what is held, each charge a deduction names paid from the deposit, the
// rest refunded by method. charges are the lease's charges (those deductions
// name must be among them, open, and not overpaid).
func (l *Lease) SettleDeposit(deductions []DepositDeduction, method PaymentMethod, charges []*Transaction, on Date) (PaymentDecision, error) {
	if l.status != LeaseStatusTerminated && l.status != LeaseStatusExpired {
		return PaymentDecision{}, ErrLeaseNotEnded
	}
	if l.ledger.settled {
		return PaymentDecision{}, ErrDepositSettled
	}
	var v validator
	v.check(method != PaymentMethod{}, "refund_method", "must be one of "+paymentMethods.list())
	v.check(len(deductions) <= 100, "deductions", "at most 100 items")
	total := ZeroMoney
	owed := map[uuid.UUID]Money{}
	var d PaymentDecision
	for i, ded := range deductions {
		field := "deductions[" + strconv.Itoa(i) + "]"
		textField(&v, field+".reason", ded.Reason, true, 1000)
		v.check(ded.Amount.IsPositive(), field+".amount", "must be greater than 0")
		total = total.Add(ded.Amount)
		if ded.TransactionID == nil {
			continue
		}
		t := chargeIn(charges, *ded.TransactionID)
		if t == nil || !t.Open() || t.kind == TransactionDeposit {
			v.check(false, field+".transaction_id", "must be an open charge of the lease, not a deposit")
			continue
		}
		left, seen := owed[t.id]
		if !seen {
			left = t.Balance()
		}
		if ded.Amount.d.GreaterThan(left.d) {
			v.check(false, field+".amount", "must not exceed the charge's balance "+left.String())
			continue
		}
		owed[t.id] = left.Sub(ded.Amount)
		d.Charges = append(d.Charges, ChargeEvents{Charge: t, Events: []Event{&DepositAllocated{Amount: ded.Amount, Reason: ded.Reason, On: on}}})
	}
	if err := v.err(); err != nil {
		return PaymentDecision{}, err
	}
	held := l.DepositHeld()
	if total.d.GreaterThan(held.d) {
		return PaymentDecision{}, ErrDeductionsTooLarge
	}
	if deductions == nil {
		deductions = []DepositDeduction{}
	}
	d.Lease = []Event{&DepositSettled{Deductions: deductions, Refunded: held.Sub(total), RefundMethod: method, On: on}}
	return d, nil
}
