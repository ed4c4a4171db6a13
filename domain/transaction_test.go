package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	txnTestID       = uuid.MustParse("8e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b")
	txnTestLease    = uuid.MustParse("1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d")
	txnTestProperty = uuid.MustParse("2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e")
	txnTestTenant   = uuid.MustParse("3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f")
	txnTestDue      = NewDate(2024, time.February, 1)
	txnTestPaidOn   = NewDate(2024, time.February, 3)
)

// txnLease is a signed lease to post charges on.
func txnLease(t *testing.T) *Lease {
	t.Helper()
	return MustGiven(t, &Lease{}, &LeaseSigned{
		LeaseID: txnTestLease, PropertyID: txnTestProperty, TenantID: txnTestTenant,
		Terms: LeaseTerms{StartDate: NewDate(2024, time.January, 1), EndDate: NewDate(2024, time.December, 31),
			RentAmount: MustMoney("1250.00"), SecurityDeposit: MustMoney("2500.00"), PaymentDay: 1},
	})
}

// txnCharge is a valid charge input, changed by edit when edit is not nil.
func txnCharge(edit func(*NewChargeInput)) NewChargeInput {
	in := NewChargeInput{ID: txnTestID, Amount: MustMoney("1250.00"), Type: TransactionRent, DueDate: txnTestDue}
	if edit != nil {
		edit(&in)
	}
	return in
}

// txnPosted is the ChargePosted that txnCharge(edit) records.
func txnPosted(edit func(*NewChargeInput)) *ChargePosted {
	in := txnCharge(edit)
	return &ChargePosted{TransactionID: in.ID, LeaseID: txnTestLease, Amount: in.Amount, Type: in.Type,
		DueDate: in.DueDate, Notes: in.Notes}
}

// txnPayment is a valid payment, changed by edit when edit is not nil.
func txnPayment(edit func(*Payment)) Payment {
	p := Payment{PaymentDate: txnTestPaidOn, PaymentMethod: PaymentCheck, ReferenceNumber: ptr("CHK-1001")}
	if edit != nil {
		edit(&p)
	}
	return p
}

func TestPostCharge(t *testing.T) {
	tests := []struct {
		name    string
		noLease bool
		in      NewChargeInput
		want    []Event
		wantErr wantError
	}{
		{name: "a rent charge", in: txnCharge(nil), want: []Event{txnPosted(nil)}},
		{
			name: "a deposit with notes",
			in:   txnCharge(func(in *NewChargeInput) { in.Type, in.Notes = TransactionDeposit, ptr("first month") }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Type, in.Notes = TransactionDeposit, ptr("first month") })},
		},
		{
			name: "a fee",
			in:   txnCharge(func(in *NewChargeInput) { in.Type = TransactionFee }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Type = TransactionFee })},
		},
		{
			name: "a maintenance charge",
			in:   txnCharge(func(in *NewChargeInput) { in.Type = TransactionMaintenance }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Type = TransactionMaintenance })},
		},
		{
			name: "the smallest amount, one cent",
			in:   txnCharge(func(in *NewChargeInput) { in.Amount = MustMoney("0.01") }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Amount = MustMoney("0.01") })},
		},
		{
			name: "the largest NUMERIC(10,2) amount",
			in:   txnCharge(func(in *NewChargeInput) { in.Amount = MustMoney("99999999.99") }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Amount = MustMoney("99999999.99") })},
		},
		{
			name: "notes of 10000 runes",
			in:   txnCharge(func(in *NewChargeInput) { in.Notes = ptr(strings.Repeat("é", 10000)) }),
			want: []Event{txnPosted(func(in *NewChargeInput) { in.Notes = ptr(strings.Repeat("é", 10000)) })},
		},
		{name: "nil id", in: txnCharge(func(in *NewChargeInput) { in.ID = uuid.Nil }), wantErr: invalid("id")},
		{name: "no such lease", noLease: true, in: txnCharge(nil), wantErr: invalid("lease_id")},
		{name: "zero amount", in: txnCharge(func(in *NewChargeInput) { in.Amount = MustMoney("0") }), wantErr: invalid("amount")},
		{name: "missing amount", in: txnCharge(func(in *NewChargeInput) { in.Amount = Money{} }), wantErr: invalid("amount")},
		{name: "negative amount", in: txnCharge(func(in *NewChargeInput) { in.Amount = MustMoney("-0.01") }), wantErr: invalid("amount")},
		{name: "missing type", in: txnCharge(func(in *NewChargeInput) { in.Type = TransactionType{} }), wantErr: invalid("type")},
		{name: "unknown type", in: txnCharge(func(in *NewChargeInput) { in.Type = ParseTransactionType("bonus") }), wantErr: invalid("type")},
		{name: "type in the wrong case", in: txnCharge(func(in *NewChargeInput) { in.Type = ParseTransactionType("Rent") }), wantErr: invalid("type")},
		{name: "missing due date", in: txnCharge(func(in *NewChargeInput) { in.DueDate = Date{} }), wantErr: invalid("due_date")},
		{name: "notes of 10001 runes", in: txnCharge(func(in *NewChargeInput) { in.Notes = ptr(strings.Repeat("n", 10001)) }), wantErr: invalid("notes")},
		{name: "notes with a NUL", in: txnCharge(func(in *NewChargeInput) { in.Notes = ptr("a\x00b") }), wantErr: invalid("notes")},
		{
			name: "everything wrong at once lists every field", noLease: true,
			in:      NewChargeInput{Amount: MustMoney("-5"), Type: ParseTransactionType("bonus"), Notes: ptr("\x00")},
			wantErr: invalid("id", "lease_id", "amount", "type", "due_date", "notes"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given a signed lease, or none
			lease := txnLease(t)
			if tt.noLease {
				lease = &Lease{}
			}
			// when
			got, err := PostCharge(lease, tt.in)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

// txnState is a transaction's history leading to one status.
type txnState struct {
	status TransactionStatus
	given  []Event
}

// txnStates are histories reaching every status, including pending again after a retry.
func txnStates() []txnState {
	posted := txnPosted(nil)
	paid := &RentPaid{Payment: txnPayment(nil)}
	failed := &PaymentFailed{Reason: "card declined"}
	return []txnState{
		{TransactionPending, []Event{posted}},
		{TransactionCompleted, []Event{posted, paid}},
		{TransactionFailed, []Event{posted, failed}},
		{TransactionRefunded, []Event{posted, paid, &PaymentRefunded{Reason: "overpaid"}}},
		{TransactionPending, []Event{posted, failed, &PaymentRetried{}}},
		{TransactionCompleted, []Event{posted, failed, &PaymentRetried{}, paid}},
	}
}

// TestTransactionTransitions tries every command from every status: exactly the
// state machine's edges record an event; everything else is ErrIllegalTransition.
func TestTransactionTransitions(t *testing.T) {
	commands := []struct {
		name string
		from TransactionStatus // the one status it is legal from
		run  func(*Transaction) ([]Event, error)
		want Event
	}{
		{"pay", TransactionPending, func(tr *Transaction) ([]Event, error) { return tr.Pay(txnPayment(nil)) }, &RentPaid{Payment: txnPayment(nil)}},
		{"fail", TransactionPending, func(tr *Transaction) ([]Event, error) { return tr.Fail("insufficient funds") }, &PaymentFailed{Reason: "insufficient funds"}},
		{"retry", TransactionFailed, func(tr *Transaction) ([]Event, error) { return tr.Retry() }, &PaymentRetried{}},
		{"refund", TransactionCompleted, func(tr *Transaction) ([]Event, error) { return tr.Refund("tenant moved out") }, &PaymentRefunded{Reason: "tenant moved out"}},
	}
	n := 0
	for _, state := range txnStates() {
		for _, cmd := range commands {
			n++
			name := cmd.name + " when " + state.status.String() + " after " + describeTypes(state.given)
			t.Run(name, func(t *testing.T) {
				// given
				tr := MustGiven(t, &Transaction{}, state.given...)
				// when
				got, err := cmd.run(tr)
				// then
				if state.status == cmd.from {
					MustOutcome(t, got, err, []Event{cmd.want}, wantError{})
					return
				}
				MustOutcome(t, got, err, nil, isErr(ErrIllegalTransition, ErrConflict))
			})
		}
	}
	if got, want := n, 6*4; got != want {
		t.Fatalf("%d cases, want %d", got, want)
	}
}

func describeTypes(events []Event) string {
	names := make([]string, len(events))
	for i, e := range events {
		names[i] = e.EventType()
	}
	return strings.Join(names, ",")
}

func TestTransactionPayRecordsByType(t *testing.T) {
	tests := []struct {
		kind TransactionType
		want Event
	}{
		{TransactionRent, &RentPaid{Payment: txnPayment(nil)}},
		{TransactionDeposit, &PaymentReceived{Payment: txnPayment(nil)}},
		{TransactionFee, &PaymentReceived{Payment: txnPayment(nil)}},
		{TransactionMaintenance, &PaymentReceived{Payment: txnPayment(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			tr := MustGiven(t, &Transaction{}, txnPosted(func(in *NewChargeInput) { in.Type = tt.kind }))
			got, err := tr.Pay(txnPayment(nil))
			MustOutcome(t, got, err, []Event{tt.want}, wantError{})
		})
	}
}

func TestTransactionPayValidation(t *testing.T) {
	tests := []struct {
		name    string
		given   []Event
		payment Payment
		want    []Event
		wantErr wantError
	}{
		{
			name: "without a reference number", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.ReferenceNumber = nil }),
			want:    []Event{&RentPaid{Payment: txnPayment(func(p *Payment) { p.ReferenceNumber = nil })}},
		},
		{
			name: "a reference number of 100 characters", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.ReferenceNumber = ptr(strings.Repeat("r", 100)) }),
			want:    []Event{&RentPaid{Payment: txnPayment(func(p *Payment) { p.ReferenceNumber = ptr(strings.Repeat("r", 100)) })}},
		},
		{
			name: "every payment method", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentBankTransfer }),
			want:    []Event{&RentPaid{Payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentBankTransfer })}},
		},
		{
			name: "credit card", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentCreditCard }),
			want:    []Event{&RentPaid{Payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentCreditCard })}},
		},
		{
			name: "cash", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentCash }),
			want:    []Event{&RentPaid{Payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentCash })}},
		},
		{
			name: "missing payment date", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentDate = Date{} }), wantErr: invalid("payment_date"),
		},
		{
			name: "missing payment method", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentMethod = PaymentMethod{} }), wantErr: invalid("payment_method"),
		},
		{
			name: "unknown payment method", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.PaymentMethod = ParsePaymentMethod("bitcoin") }), wantErr: invalid("payment_method"),
		},
		{
			name: "a reference number of 101 characters", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.ReferenceNumber = ptr(strings.Repeat("r", 101)) }), wantErr: invalid("reference_number"),
		},
		{
			name: "a reference number with a NUL", given: []Event{txnPosted(nil)},
			payment: txnPayment(func(p *Payment) { p.ReferenceNumber = ptr("\x00") }), wantErr: invalid("reference_number"),
		},
		{
			name: "everything wrong at once", given: []Event{txnPosted(nil)},
			payment: Payment{PaymentMethod: ParsePaymentMethod("iou"), ReferenceNumber: ptr(strings.Repeat("r", 101))},
			wantErr: invalid("payment_date", "payment_method", "reference_number"),
		},
		{
			name: "the status is checked before the payment", given: []Event{txnPosted(nil), &RentPaid{Payment: txnPayment(nil)}},
			payment: Payment{}, wantErr: isErr(ErrIllegalTransition, ErrConflict),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := MustGiven(t, &Transaction{}, tt.given...)
			got, err := tr.Pay(tt.payment)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestTransactionReasonValidation(t *testing.T) {
	posted, paid := txnPosted(nil), &RentPaid{Payment: txnPayment(nil)}
	tests := []struct {
		name    string
		given   []Event
		run     func(*Transaction) ([]Event, error)
		want    []Event
		wantErr wantError
	}{
		{
			name: "fail without a reason", given: []Event{posted},
			run:  func(tr *Transaction) ([]Event, error) { return tr.Fail("") },
			want: []Event{&PaymentFailed{}},
		},
		{
			name: "fail with a reason of 1000 runes", given: []Event{posted},
			run:  func(tr *Transaction) ([]Event, error) { return tr.Fail(strings.Repeat("é", 1000)) },
			want: []Event{&PaymentFailed{Reason: strings.Repeat("é", 1000)}},
		},
		{
			name: "fail with a reason of 1001 runes", given: []Event{posted},
			run:     func(tr *Transaction) ([]Event, error) { return tr.Fail(strings.Repeat("x", 1001)) },
			wantErr: invalid("reason"),
		},
		{
			name: "fail with a NUL in the reason", given: []Event{posted},
			run:     func(tr *Transaction) ([]Event, error) { return tr.Fail("bank\x00") },
			wantErr: invalid("reason"),
		},
		{
			name: "refund without a reason", given: []Event{posted, paid},
			run:  func(tr *Transaction) ([]Event, error) { return tr.Refund("") },
			want: []Event{&PaymentRefunded{}},
		},
		{
			name: "refund with a reason of 1001 runes", given: []Event{posted, paid},
			run:     func(tr *Transaction) ([]Event, error) { return tr.Refund(strings.Repeat("x", 1001)) },
			wantErr: invalid("reason"),
		},
		{
			name: "refund with a NUL in the reason", given: []Event{posted, paid},
			run:     func(tr *Transaction) ([]Event, error) { return tr.Refund("\x00") },
			wantErr: invalid("reason"),
		},
		{
			name: "the status is checked before the reason", given: []Event{posted},
			run:     func(tr *Transaction) ([]Event, error) { return tr.Refund(strings.Repeat("x", 1001)) },
			wantErr: isErr(ErrIllegalTransition),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := MustGiven(t, &Transaction{}, tt.given...)
			got, err := tt.run(tr)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestTransactionApplyRebuildsState(t *testing.T) {
	fresh := &Transaction{}
	if fresh.Exists() || fresh.Version() != 0 {
		t.Errorf("fresh transaction: Exists() = %v, Version() = %d, want false, 0", fresh.Exists(), fresh.Version())
	}

	posted := txnPosted(func(in *NewChargeInput) { in.Type, in.Amount = TransactionFee, MustMoney("75.50") })
	tr := MustGiven(t, &Transaction{}, posted)
	if !tr.Exists() {
		t.Error("Exists() = false after ChargePosted")
	}
	if got, want := tr.ID(), txnTestID; got != want {
		t.Errorf("ID() = %s, want %s", got, want)
	}
	if got, want := tr.LeaseID(), txnTestLease; got != want {
		t.Errorf("LeaseID() = %s, want %s", got, want)
	}
	if got, want := tr.Amount().String(), "75.50"; got != want {
		t.Errorf("Amount() = %s, want %s", got, want)
	}
	if got, want := tr.Type(), TransactionFee; got != want {
		t.Errorf("Type() = %s, want %s", got, want)
	}
	if got, want := tr.DueDate(), txnTestDue; got != want {
		t.Errorf("DueDate() = %s, want %s", got, want)
	}
	if got, want := tr.Status(), TransactionPending; got != want {
		t.Errorf("Status() = %s, want %s", got, want)
	}
	if tr.Payment() != nil {
		t.Errorf("Payment() = %+v before any payment, want nil", tr.Payment())
	}

	payment := txnPayment(nil)
	tr = MustGiven(t, &Transaction{}, posted, &PaymentReceived{Payment: payment})
	if got, want := tr.Status(), TransactionCompleted; got != want {
		t.Errorf("after PaymentReceived: Status() = %s, want %s", got, want)
	}
	if got := tr.Payment(); got == nil || got.PaymentDate != payment.PaymentDate ||
		got.PaymentMethod != payment.PaymentMethod || !ptrEqual(got.ReferenceNumber, payment.ReferenceNumber) {
		t.Errorf("after PaymentReceived: Payment() = %+v, want %+v", got, payment)
	}

	tr = MustGiven(t, &Transaction{}, posted, &PaymentFailed{}, &PaymentRetried{})
	if got, want := tr.Status(), TransactionPending; got != want {
		t.Errorf("after a retry: Status() = %s, want %s", got, want)
	}
	if got, want := tr.Version(), int64(3); got != want {
		t.Errorf("after a retry: Version() = %d, want %d", got, want)
	}

	tr = MustGiven(t, &Transaction{}, posted, &PaymentReceived{Payment: payment}, &PaymentRefunded{})
	if got, want := tr.Status(), TransactionRefunded; got != want {
		t.Errorf("after a refund: Status() = %s, want %s", got, want)
	}
	if tr.Payment() == nil {
		t.Error("after a refund: Payment() = nil, want the refunded payment")
	}
}

// TestTransactionEventsKeepTheirJSON pins the stored shapes: money as a two-place
// string, dates as YYYY-MM-DD, optional fields left out.
func TestTransactionEventsKeepTheirJSON(t *testing.T) {
	tests := []struct {
		event Event
		want  string
	}{
		{txnPosted(nil), `{"transaction_id":"8e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","lease_id":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","amount":"1250.00","type":"rent","due_date":"2024-02-01"}`},
		{txnPosted(func(in *NewChargeInput) { in.Amount, in.Notes = MustMoney("0.1"), ptr("n") }),
			`{"transaction_id":"8e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","lease_id":"1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d","amount":"0.10","type":"rent","due_date":"2024-02-01","notes":"n"}`},
		{&RentPaid{Payment: txnPayment(nil)}, `{"payment_date":"2024-02-03","payment_method":"check","reference_number":"CHK-1001"}`},
		{&PaymentReceived{Payment: txnPayment(func(p *Payment) { p.ReferenceNumber = nil })}, `{"payment_date":"2024-02-03","payment_method":"check"}`},
		{&PaymentFailed{}, `{}`},
		{&PaymentFailed{Reason: "declined"}, `{"reason":"declined"}`},
		{&PaymentRetried{}, `{}`},
		{&PaymentRefunded{Reason: "overpaid"}, `{"reason":"overpaid"}`},
	}
	for _, tt := range tests {
		t.Run(tt.event.EventType(), func(t *testing.T) {
			b, err := json.Marshal(tt.event)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.want {
				t.Errorf("marshal %s = %s, want %s", tt.event.EventType(), got, tt.want)
			}
			back, err := DecodeEvent(tt.event.EventType(), b)
			if err != nil {
				t.Fatal(err)
			}
			MustEvents(t, []Event{back}, []Event{tt.event})
		})
	}
}

func TestTransactionEnumsAcceptOnlyTheirMembers(t *testing.T) {
	for _, want := range []TransactionType{TransactionRent, TransactionDeposit, TransactionFee, TransactionMaintenance} {
		if got := ParseTransactionType(want.String()); got != want {
			t.Errorf("ParseTransactionType(%q) = %q, want %q", want, got, want)
		}
	}
	for _, s := range []string{"", "bonus", "Rent", "rent ", "late_fee"} {
		if got := ParseTransactionType(s); got != (TransactionType{}) {
			t.Errorf("ParseTransactionType(%q) = %q, want the zero type", s, got)
		}
	}
	for _, want := range []PaymentMethod{PaymentCreditCard, PaymentBankTransfer, PaymentCash, PaymentCheck} {
		if got := ParsePaymentMethod(want.String()); got != want {
			t.Errorf("ParsePaymentMethod(%q) = %q, want %q", want, got, want)
		}
	}
	for _, s := range []string{"", "bitcoin", "Cash", "credit card", "wire"} {
		if got := ParsePaymentMethod(s); got != (PaymentMethod{}) {
			t.Errorf("ParsePaymentMethod(%q) = %q, want the zero method", s, got)
		}
	}
	for _, want := range []TransactionStatus{TransactionPending, TransactionCompleted, TransactionFailed, TransactionRefunded} {
		var got TransactionStatus
		if err := got.UnmarshalText([]byte(want.String())); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %q, %v, want %q", want, got, err, want)
		}
	}
	for _, s := range []string{"paid", "PENDING", "overdue"} {
		var got TransactionStatus
		if err := got.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) = %q, want an error", s, got)
		}
	}
	var e ChargePosted
	err := json.Unmarshal([]byte(`{"transaction_id":"8e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b","amount":"1.001","type":"rent"}`), &e)
	if err == nil {
		t.Errorf("decoding an amount of 1.001 succeeded with %s, want an error", e.Amount)
	}
	if err := json.Unmarshal([]byte(`{"type":"bonus"}`), &e); err == nil {
		t.Errorf("decoding type bonus succeeded with %q, want an error", e.Type)
	}
	if !errors.Is(ErrIllegalTransition, ErrConflict) {
		t.Error("ErrIllegalTransition is not an ErrConflict (409)")
	}
}
