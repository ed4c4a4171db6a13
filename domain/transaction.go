package domain

// Transaction invariants:
//   - amount > 0 with at most two decimal places (NUMERIC(10,2)), never a float;
//   - type is rent, deposit, fee or maintenance; it never changes;
//   - status moves pending → completed | failed, failed → pending (retry),
//     completed → refunded; a pending or failed charge may also be voided (void),
//     written off (written_off) or, a fee only, waived (waived); those three end it;
//   - a payment names its date and a method: credit_card, bank_transfer, cash or check.

import (
	"time"

	"github.com/google/uuid"
)

// TransactionStreamType names transaction streams.
const TransactionStreamType = "transaction"

// TransactionType is what a charge is for.
type TransactionType struct{ name string }

var (
	TransactionRent        = TransactionType{"rent"}
	TransactionDeposit     = TransactionType{"deposit"}
	TransactionFee         = TransactionType{"fee"}
	TransactionMaintenance = TransactionType{"maintenance"}
)

var transactionTypes = enumOf(TransactionRent, TransactionDeposit, TransactionFee, TransactionMaintenance)

func (t TransactionType) String() string                { return t.name }
func (t TransactionType) MarshalText() ([]byte, error)  { return []byte(t.name), nil }
func (t *TransactionType) UnmarshalText(b []byte) error { return transactionTypes.parse(string(b), t) }

// ParseTransactionType returns the named type, or the zero type (refused by validation).
func ParseTransactionType(s string) TransactionType {
	var t TransactionType
	_ = transactionTypes.parse(s, &t)
	return t
}

// TransactionStatus is where a charge stands.
type TransactionStatus struct{ name string }

var (
	TransactionPending   = TransactionStatus{"pending"}
	TransactionCompleted = TransactionStatus{"completed"}
	TransactionFailed    = TransactionStatus{"failed"}
	TransactionRefunded  = TransactionStatus{"refunded"}
	// Statuses of rent automation (docs/rent.md): a charge no longer owed.
	TransactionVoid       = TransactionStatus{"void"}
	TransactionWaived     = TransactionStatus{"waived"}
	TransactionWrittenOff = TransactionStatus{"written_off"}
)

var transactionStatuses = enumOf(TransactionPending, TransactionCompleted, TransactionFailed, TransactionRefunded,
	TransactionVoid, TransactionWaived, TransactionWrittenOff)

func (s TransactionStatus) String() string               { return s.name }
func (s TransactionStatus) MarshalText() ([]byte, error) { return []byte(s.name), nil }
func (s *TransactionStatus) UnmarshalText(b []byte) error {
	return transactionStatuses.parse(string(b), s)
}

// PaymentMethod is how a charge was paid.
type PaymentMethod struct{ name string }

var (
	PaymentCreditCard   = PaymentMethod{"credit_card"}
	PaymentBankTransfer = PaymentMethod{"bank_transfer"}
	PaymentCash         = PaymentMethod{"cash"}
	PaymentCheck        = PaymentMethod{"check"}
)

var paymentMethods = enumOf(PaymentCreditCard, PaymentBankTransfer, PaymentCash, PaymentCheck)

func (m PaymentMethod) String() string                { return m.name }
func (m PaymentMethod) MarshalText() ([]byte, error)  { return []byte(m.name), nil }
func (m *PaymentMethod) UnmarshalText(b []byte) error { return paymentMethods.parse(string(b), m) }

// ParsePaymentMethod returns the named method, or the zero method (refused by validation).
func ParsePaymentMethod(s string) PaymentMethod {
	var m PaymentMethod
	_ = paymentMethods.parse(s, &m)
	return m
}

// ErrIllegalTransition refuses a status change the state machine does not allow.
var ErrIllegalTransition = conflict("this status change is not allowed from the current status")

// Transaction events.
type (
	ChargePosted struct {
		TransactionID uuid.UUID       `json:"transaction_id"`
		LeaseID       uuid.UUID       `json:"lease_id"`
		Amount        Money           `json:"amount"`
		Type          TransactionType `json:"type"`
		DueDate       Date            `json:"due_date"`
		Notes         *string         `json:"notes,omitempty"`
		// Set on the charges the rent schedule posts (docs/rent.md).
		Period  string        `json:"period,omitempty"`
		Rent    *RentBasis    `json:"rent,omitempty"`
		LateFee *LateFeeBasis `json:"late_fee,omitempty"`
	}
	// Payment is the content of RentPaid and PaymentReceived.
	Payment struct {
		PaymentDate     Date          `json:"payment_date"`
		PaymentMethod   PaymentMethod `json:"payment_method"`
		ReferenceNumber *string       `json:"reference_number,omitempty"`
		// The part of the payment applied to the charge, and the payment it is
		// part of (domain/payment.go). Without an amount (events recorded before
		// partial payments) it paid the whole balance.
		Amount    *Money     `json:"amount,omitempty"`
		PaymentID *uuid.UUID `json:"payment_id,omitempty"`
	}
	RentPaid        struct{ Payment }
	PaymentReceived struct{ Payment }
	PaymentFailed   struct {
		Reason string `json:"reason,omitempty"`
	}
	PaymentRetried  struct{}
	PaymentRefunded struct {
		Reason string `json:"reason,omitempty"`
	}
)

// Allocations that are not payments, and their reversal (domain/ledger.go).
type (
	// CreditAllocated: the lease's credit paid this much of the charge.
	CreditAllocated struct {
		Amount Money `json:"amount"`
		On     Date  `json:"on"`
	}
	// DepositAllocated: a deposit settlement paid this much of the charge.
	DepositAllocated struct {
		Amount Money  `json:"amount"`
		Reason string `json:"reason,omitempty"`
		On     Date   `json:"on"`
	}
	// AllocationReversed: a returned payment (PaymentID), or credit it had left
	// (FromCredit), no longer pays this much of the charge, which reopens.
	AllocationReversed struct {
		PaymentID  *uuid.UUID `json:"payment_id,omitempty"`
		FromCredit bool       `json:"from_credit,omitempty"`
		Amount     Money      `json:"amount"`
		Reason     string     `json:"reason,omitempty"`
		On         Date       `json:"on"`
	}
)

func (CreditAllocated) EventType() string    { return "CreditAllocated" }
func (DepositAllocated) EventType() string   { return "DepositAllocated" }
func (AllocationReversed) EventType() string { return "AllocationReversed" }

func (ChargePosted) EventType() string    { return "ChargePosted" }
func (RentPaid) EventType() string        { return "RentPaid" }
func (PaymentReceived) EventType() string { return "PaymentReceived" }
func (PaymentFailed) EventType() string   { return "PaymentFailed" }
func (PaymentRetried) EventType() string  { return "PaymentRetried" }
func (PaymentRefunded) EventType() string { return "PaymentRefunded" }

var transactionEvents = map[string]func() Event{
	"ChargePosted":       func() Event { return &ChargePosted{} },
	"RentPaid":           func() Event { return &RentPaid{} },
	"PaymentReceived":    func() Event { return &PaymentReceived{} },
	"PaymentFailed":      func() Event { return &PaymentFailed{} },
	"PaymentRetried":     func() Event { return &PaymentRetried{} },
	"PaymentRefunded":    func() Event { return &PaymentRefunded{} },
	"CreditAllocated":    func() Event { return &CreditAllocated{} },
	"DepositAllocated":   func() Event { return &DepositAllocated{} },
	"AllocationReversed": func() Event { return &AllocationReversed{} },
}

// NewChargeInput is what posting a charge needs.
type NewChargeInput struct {
	ID      uuid.UUID
	Amount  Money
	Type    TransactionType
	DueDate Date
	Notes   *string
}

// PostCharge validates a charge against its lease and records it as pending.
func PostCharge(lease *Lease, in NewChargeInput) ([]Event, error) {
	var v validator
	v.check(in.ID != uuid.Nil, "id", "must not be the nil UUID")
	v.check(lease.Exists(), "lease_id", "no such lease")
	v.check(in.Amount.IsPositive(), "amount", "must be greater than 0")
	v.check(in.Type != TransactionType{}, "type", "must be one of "+transactionTypes.list())
	dateField(&v, "due_date", in.DueDate, true)
	if in.Notes != nil {
		textField(&v, "notes", *in.Notes, false, 10000)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&ChargePosted{TransactionID: in.ID, LeaseID: lease.ID(), Amount: in.Amount,
		Type: in.Type, DueDate: in.DueDate, Notes: in.Notes}}, nil
}

// Transaction is the aggregate: one charge and what became of it.
type Transaction struct {
	id       uuid.UUID
	version  int64
	leaseID  uuid.UUID
	amount   Money
	kind     TransactionType
	status   TransactionStatus
	dueDate  Date
	payment  *Payment
	period   string           // the rent period of a scheduled charge
	lateFee  *LateFeeAssessed // the late fee assessed on this rent charge
	paid     Money            // what payments, credit and the deposit paid of it
	postedAt time.Time
}

// Apply records a fact.
func (t *Transaction) Apply(e Event, version int64, at time.Time) {
	switch e := e.(type) {
	case *ChargePosted:
		t.id, t.leaseID, t.amount, t.kind, t.dueDate, t.status = e.TransactionID, e.LeaseID, e.Amount, e.Type, e.DueDate, TransactionPending
		t.period, t.postedAt = e.Period, at
	case *RentPaid:
		t.applyPaid(e.Payment)
	case *PaymentReceived:
		t.applyPaid(e.Payment)
	case *CreditAllocated:
		t.applyAllocated(e.Amount)
	case *DepositAllocated:
		t.applyAllocated(e.Amount)
	case *AllocationReversed:
		t.paid = t.paid.Sub(e.Amount)
		if t.status == TransactionCompleted {
			t.status = TransactionPending
		}
	case *PaymentFailed:
		t.status = TransactionFailed
	case *PaymentRetried:
		t.payment, t.status = nil, TransactionPending
	case *PaymentRefunded:
		t.status = TransactionRefunded
	case *ChargeVoided:
		t.status = TransactionVoid
	case *FeeWaived:
		t.status = TransactionWaived
	case *ChargeWrittenOff:
		t.status = TransactionWrittenOff
	case *LateFeeAssessed:
		fee := *e
		t.lateFee = &fee
	}
	t.version = version
}

// applyPaid records a payment of the charge: of p.Amount, or of the whole balance.
func (t *Transaction) applyPaid(p Payment) {
	amount := t.Balance()
	if p.Amount != nil {
		amount = *p.Amount
	}
	t.payment = &p
	t.applyAllocated(amount)
}

func (t *Transaction) applyAllocated(amount Money) {
	t.paid = t.paid.Add(amount)
	if !t.Balance().IsPositive() {
		t.status = TransactionCompleted
	}
}

// paidBy is the event of a payment of the charge: RentPaid for rent,
// PaymentReceived otherwise.
func (t *Transaction) paidBy(p Payment) Event {
	if t.kind == TransactionRent {
		return &RentPaid{Payment: p}
	}
	return &PaymentReceived{Payment: p}
}

// Balance is what is left to pay of the charge.
func (t *Transaction) Balance() Money { return t.amount.Sub(t.paid) }

// AmountPaid is what payments, credit and the deposit paid of the charge.
func (t *Transaction) AmountPaid() Money { return t.paid }

// Open reports whether the charge is still owed: pending or failed, with a balance.
func (t *Transaction) Open() bool {
	return (t.status == TransactionPending || t.status == TransactionFailed) && t.Balance().IsPositive()
}

// Pay completes a pending charge: RentPaid for rent, PaymentReceived otherwise.
func (t *Transaction) Pay(p Payment) ([]Event, error) {
	if t.status != TransactionPending {
		return nil, ErrIllegalTransition
	}
	var v validator
	paymentFields(&v, p.PaymentDate, p.PaymentMethod, p.ReferenceNumber)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{t.paidBy(p)}, nil
}

// paymentFields checks what every payment says, whether it pays one charge
// (Pay) or a lease's account (RecordPayment): when, how, and its reference.
func paymentFields(v *validator, date Date, method PaymentMethod, reference *string) {
	dateField(v, "payment_date", date, true)
	v.check(method != PaymentMethod{}, "payment_method", "must be one of "+paymentMethods.list())
	if reference != nil {
		textField(v, "reference_number", *reference, false, 100)
	}
}

// Fail marks a pending payment as failed.
func (t *Transaction) Fail(reason string) ([]Event, error) {
	if t.status != TransactionPending {
		return nil, ErrIllegalTransition
	}
	if err := validateTransactionReason(reason); err != nil {
		return nil, err
	}
	return []Event{&PaymentFailed{Reason: reason}}, nil
}

// Retry puts a failed payment back to pending.
func (t *Transaction) Retry() ([]Event, error) {
	if t.status != TransactionFailed {
		return nil, ErrIllegalTransition
	}
	return []Event{&PaymentRetried{}}, nil
}

// Refund returns a completed payment.
func (t *Transaction) Refund(reason string) ([]Event, error) {
	if t.status != TransactionCompleted {
		return nil, ErrIllegalTransition
	}
	if err := validateTransactionReason(reason); err != nil {
		return nil, err
	}
	return []Event{&PaymentRefunded{Reason: reason}}, nil
}

// validateTransactionReason bounds the free-text reason of a failure or refund, as a lease
// termination's: at most 1000 characters, and no NUL, which jsonb cannot hold.
func validateTransactionReason(reason string) error {
	var v validator
	textField(&v, "reason", reason, false, 1000)
	return v.err()
}

func (t *Transaction) ID() uuid.UUID             { return t.id }
func (t *Transaction) Version() int64            { return t.version }
func (t *Transaction) Exists() bool              { return t.version > 0 }
func (t *Transaction) LeaseID() uuid.UUID        { return t.leaseID }
func (t *Transaction) Amount() Money             { return t.amount }
func (t *Transaction) Type() TransactionType     { return t.kind }
func (t *Transaction) Status() TransactionStatus { return t.status }
func (t *Transaction) DueDate() Date             { return t.dueDate }
func (t *Transaction) Payment() *Payment         { return t.payment }
