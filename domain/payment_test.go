package domain

import (
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	payTestID    = uuid.MustParse("4d5e6f7a-8b9c-4d0e-8f1a-2b3c4d5e6f7a")
	payTestDay   = NewDate(2024, time.January, 5)
	ledgerRent   = uuid.MustParse("5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b")
	ledgerRent2  = uuid.MustParse("6f7a8b9c-0d1e-4f2a-8b3c-4d5e6f7a8b9c")
	ledgerFee    = uuid.MustParse("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d")
	ledgerMaint  = uuid.MustParse("8b9c0d1e-2f3a-4b4c-8d5e-6f7a8b9c0d1e")
	ledgerDeposi = uuid.MustParse("9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f")
)

// ledgerCharge is a charge of the test lease, posted minute minutes after t0,
// and then the given events.
func ledgerCharge(t *testing.T, id uuid.UUID, kind TransactionType, amount string, due Date, minute int, then ...Event) *Transaction {
	t.Helper()
	c := &Transaction{}
	c.Apply(&ChargePosted{TransactionID: id, LeaseID: txnTestLease, Amount: MustMoney(amount), Type: kind, DueDate: due},
		1, t0.Add(time.Duration(minute)*time.Minute))
	for i, e := range then {
		c.Apply(e, int64(i+2), t0)
	}
	return c
}

// ledgerLease is the test lease with the given ledger events after its signing.
func ledgerLease(t *testing.T, then ...Event) *Lease {
	t.Helper()
	l := txnLease(t)
	for i, e := range then {
		l.Apply(e, int64(i+2), t0)
	}
	return l
}

func payment(amount string, edit func(*NewPaymentInput)) NewPaymentInput {
	in := NewPaymentInput{ID: payTestID, Amount: MustMoney(amount), PaymentDate: payTestDay, PaymentMethod: PaymentCheck,
		AppliesTo: AppliesToCharges}
	if edit != nil {
		edit(&in)
	}
	return in
}

// paid is a charge's allocation event of the test payment.
func paid(kind TransactionType, amount string) Event {
	m := MustMoney(amount)
	id := payTestID
	p := Payment{PaymentDate: payTestDay, PaymentMethod: PaymentCheck, Amount: &m, PaymentID: &id}
	if kind == TransactionRent {
		return &RentPaid{Payment: p}
	}
	return &PaymentReceived{Payment: p}
}

// decided flattens a decision stream by stream: the payment's events, each
// charge's, the lease's.
func decided(d PaymentDecision) []Event {
	out := append([]Event(nil), d.Payment...)
	for _, c := range d.Charges {
		out = append(out, c.Events...)
	}
	return append(out, d.Lease...)
}

func paymentRecorded(amount, credit string, allocations ...Allocation) *PaymentRecorded {
	if allocations == nil {
		allocations = []Allocation{}
	}
	return &PaymentRecorded{PaymentID: payTestID, LeaseID: txnTestLease, Amount: MustMoney(amount), PaymentDate: payTestDay,
		PaymentMethod: PaymentCheck, AppliesTo: AppliesToCharges, Allocations: allocations, Credit: MustMoney(credit)}
}

func alloc(id uuid.UUID, amount string) Allocation {
	return Allocation{TransactionID: id, Amount: MustMoney(amount)}
}

func TestRecordPayment(t *testing.T) {
	jan10 := NewDate(2024, time.January, 10)
	feb1 := NewDate(2024, time.February, 1)
	// given: February's rent, a fee and a maintenance charge both due January 10
	// (the fee posted first), and an open deposit.
	charges := func(t *testing.T) []*Transaction {
		return []*Transaction{
			ledgerCharge(t, ledgerRent, TransactionRent, "1250.00", feb1, 0),
			ledgerCharge(t, ledgerMaint, TransactionMaintenance, "80.00", jan10, 2),
			ledgerCharge(t, ledgerFee, TransactionFee, "50.00", jan10, 1),
			ledgerCharge(t, ledgerDeposi, TransactionDeposit, "2500.00", NewDate(2024, time.January, 1), 0),
		}
	}
	tests := []struct {
		name    string
		lease   func(*testing.T) *Lease
		in      NewPaymentInput
		want    []Event
		wantErr wantError
	}{
		{
			name: "oldest due first, then as posted; the deposit is left alone",
			in:   payment("1300.00", nil),
			want: []Event{paymentRecorded("1300.00", "0.00", alloc(ledgerFee, "50.00"), alloc(ledgerMaint, "80.00"), alloc(ledgerRent, "1170.00")),
				paid(TransactionFee, "50.00"), paid(TransactionMaintenance, "80.00"), paid(TransactionRent, "1170.00")},
		},
		{
			name: "a partial payment pays the oldest charge in part",
			in:   payment("30.00", nil),
			want: []Event{paymentRecorded("30.00", "0.00", alloc(ledgerFee, "30.00")), paid(TransactionFee, "30.00")},
		},
		{
			name: "an overpayment leaves credit",
			in:   payment("1400.00", nil),
			want: []Event{paymentRecorded("1400.00", "20.00", alloc(ledgerFee, "50.00"), alloc(ledgerMaint, "80.00"), alloc(ledgerRent, "1250.00")),
				paid(TransactionFee, "50.00"), paid(TransactionMaintenance, "80.00"), paid(TransactionRent, "1250.00"),
				&CreditReceived{PaymentID: payTestID, Amount: MustMoney("20.00"), On: payTestDay}},
		},
		{
			name: "a payment that names the deposit pays it alone, and is held",
			in:   payment("3000.00", func(in *NewPaymentInput) { in.AppliesTo = AppliesToDeposit }),
			want: []Event{func() Event {
				r := paymentRecorded("3000.00", "500.00", alloc(ledgerDeposi, "2500.00"))
				r.AppliesTo = AppliesToDeposit
				return r
			}(), paid(TransactionDeposit, "2500.00"),
				&DepositReceived{TransactionID: ledgerDeposi, PaymentID: payTestID, Amount: MustMoney("2500.00"), On: payTestDay},
				&CreditReceived{PaymentID: payTestID, Amount: MustMoney("500.00"), On: payTestDay}},
		},
		{
			name: "the lease's tenant may be named as the payer",
			in:   payment("10.00", func(in *NewPaymentInput) { in.TenantID = ptr(txnTestTenant) }),
			want: []Event{func() Event {
				r := paymentRecorded("10.00", "0.00", alloc(ledgerFee, "10.00"))
				r.TenantID = ptr(txnTestTenant)
				return r
			}(), paid(TransactionFee, "10.00")},
		},
		{
			name: "bad input",
			in: payment("0.00", func(in *NewPaymentInput) {
				in.PaymentDate, in.PaymentMethod, in.AppliesTo, in.TenantID = Date{}, PaymentMethod{}, PaymentAppliesTo{}, ptr(uuid.New())
			}),
			wantErr: invalid("amount", "payment_date", "payment_method", "applies_to", "tenant_id"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			lease := txnLease(t)
			// when
			d, err := RecordPayment(lease, tt.in, charges(t))
			// then
			MustOutcome(t, decided(d), err, tt.want, tt.wantErr)
		})
	}
}

func TestPartialPaymentsAddUp(t *testing.T) {
	// given a rent charge of 1250.00 paid 600.00
	rent := ledgerCharge(t, ledgerRent, TransactionRent, "1250.00", txnTestDue, 0, paid(TransactionRent, "600.00"))
	if rent.Status() != TransactionPending || rent.Balance().String() != "650.00" || rent.AmountPaid().String() != "600.00" {
		t.Fatalf("paid in part: %s balance %s paid %s, want pending 650.00 600.00", rent.Status(), rent.Balance(), rent.AmountPaid())
	}
	// when 1000.00 more comes
	d, err := RecordPayment(txnLease(t), payment("1000.00", nil), []*Transaction{rent})
	// then 650.00 completes it and 350.00 is credit
	MustOutcome(t, decided(d), err, []Event{paymentRecorded("1000.00", "350.00", alloc(ledgerRent, "650.00")), paid(TransactionRent, "650.00"),
		&CreditReceived{PaymentID: payTestID, Amount: MustMoney("350.00"), On: payTestDay}}, wantError{})
	rent.Apply(d.Charges[0].Events[0], 3, t0)
	if rent.Status() != TransactionCompleted || !rent.Balance().IsZero() {
		t.Errorf("paid in full: %s balance %s, want completed 0.00", rent.Status(), rent.Balance())
	}
	// and /pay of a charge paid in part pays what is left
	half := ledgerCharge(t, ledgerRent2, TransactionRent, "1250.00", txnTestDue, 0, paid(TransactionRent, "600.00"))
	id := uuid.MustParse("0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a")
	pd, err := PayBalance(txnLease(t), half, id, txnPayment(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := pd.Payment[0].(*PaymentRecorded); got.Amount.String() != "650.00" || len(got.Allocations) != 1 || got.Allocations[0].Amount.String() != "650.00" {
		t.Errorf("/pay of a charge paid in part records %+v, want 650.00", got)
	}
}

func TestApplyCredit(t *testing.T) {
	credit := &CreditReceived{PaymentID: payTestID, Amount: MustMoney("350.00"), On: payTestDay}
	tests := []struct {
		name       string
		lease      []Event
		charge     *Transaction
		wantCharge []Event
		wantLease  []Event
	}{
		{
			name: "credit pays a later charge in part", lease: []Event{credit},
			charge:     ledgerCharge(t, ledgerRent2, TransactionRent, "1250.00", txnTestDue, 0),
			wantCharge: []Event{&CreditAllocated{Amount: MustMoney("350.00"), On: payTestDay}},
			wantLease:  []Event{&CreditApplied{TransactionID: ledgerRent2, Amount: MustMoney("350.00"), On: payTestDay}},
		},
		{
			name: "credit pays a small charge whole", lease: []Event{credit},
			charge:     ledgerCharge(t, ledgerFee, TransactionFee, "50.00", txnTestDue, 0),
			wantCharge: []Event{&CreditAllocated{Amount: MustMoney("50.00"), On: payTestDay}},
			wantLease:  []Event{&CreditApplied{TransactionID: ledgerFee, Amount: MustMoney("50.00"), On: payTestDay}},
		},
		{
			name: "never a deposit", lease: []Event{credit},
			charge: ledgerCharge(t, ledgerDeposi, TransactionDeposit, "2500.00", txnTestDue, 0),
		},
		{
			name:   "no credit, nothing",
			charge: ledgerCharge(t, ledgerRent2, TransactionRent, "1250.00", txnTestDue, 0),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			lease := ledgerLease(t, tt.lease...)
			// when
			gotCharge, gotLease := ApplyCredit(lease, tt.charge, payTestDay)
			// then
			MustEvents(t, gotCharge, tt.wantCharge)
			MustEvents(t, gotLease, tt.wantLease)
		})
	}
	lease := ledgerLease(t, credit)
	MustOutcome(t, nil, mustErr(lease.RefundCredit(payTestID, MustMoney("350.01"), PaymentCheck, payTestDay)), nil, invalid("amount"))
	events, err := lease.RefundCredit(payTestID, MustMoney("350.00"), PaymentCheck, payTestDay)
	MustOutcome(t, events, err, []Event{&CreditRefunded{RefundID: payTestID, Amount: MustMoney("350.00"), PaymentMethod: PaymentCheck, On: payTestDay}}, wantError{})
}

func mustErr(_ []Event, err error) error { return err }

func TestReturnPayment(t *testing.T) {
	returnDay := NewDate(2024, time.January, 20)
	// given a payment of 1000.00: 600.00 to January's rent, 400.00 credit, of
	// which 300.00 then paid February's rent.
	given := func(t *testing.T) (*LeasePayment, *Lease, []*Transaction) {
		p := MustGiven(t, &LeasePayment{}, paymentRecorded("1000.00", "400.00", alloc(ledgerRent, "600.00")))
		lease := ledgerLease(t, &CreditReceived{PaymentID: payTestID, Amount: MustMoney("400.00"), On: payTestDay},
			&CreditApplied{TransactionID: ledgerRent2, Amount: MustMoney("300.00"), On: payTestDay})
		jan := ledgerCharge(t, ledgerRent, TransactionRent, "600.00", txnTestDue, 0, paid(TransactionRent, "600.00"))
		feb := ledgerCharge(t, ledgerRent2, TransactionRent, "1250.00", txnTestDue, 1, &CreditAllocated{Amount: MustMoney("300.00"), On: payTestDay})
		return p, lease, []*Transaction{jan, feb}
	}
	p, lease, charges := given(t)
	if got := p.ReturnedCharges(lease); len(got) != 2 || got[0] != ledgerRent || got[1] != ledgerRent2 {
		t.Errorf("ReturnedCharges = %v, want January's and February's", got)
	}
	fee := uuid.MustParse("1e2f3a4b-5c6d-4e7f-8a8b-9c0d1e2f3a4b")
	// when it is returned
	d, err := p.Return(lease, charges, "NSF", returnDay, &fee)
	// then January reopens, February loses the 300.00 of credit the payment had
	// left (only 100.00 is left), and the credit is withdrawn.
	MustOutcome(t, decided(d), err, []Event{
		&PaymentReturned{Reason: "NSF", ReturnedOn: returnDay, FeeID: &fee},
		&AllocationReversed{PaymentID: ptr(payTestID), Amount: MustMoney("600.00"), Reason: "NSF", On: returnDay},
		&AllocationReversed{FromCredit: true, Amount: MustMoney("300.00"), Reason: "NSF", On: returnDay},
		&CreditUnapplied{TransactionID: ledgerRent2, Amount: MustMoney("300.00"), On: returnDay},
		&CreditWithdrawn{PaymentID: payTestID, Amount: MustMoney("400.00"), On: returnDay},
	}, wantError{})
	for i, c := range d.Charges {
		for _, e := range c.Events {
			c.Charge.Apply(e, c.Charge.Version()+1, t0)
		}
		if !c.Charge.Open() {
			t.Errorf("charge %d after the return: %s balance %s, want it open", i, c.Charge.Status(), c.Charge.Balance())
		}
	}
	for _, e := range d.Lease {
		lease.Apply(e, lease.Version()+1, t0)
	}
	if !lease.Credit().IsZero() {
		t.Errorf("credit after the return = %s, want 0.00", lease.Credit())
	}
	p.Apply(d.Payment[0], 2, t0)
	_, err = p.Return(lease, charges, "NSF", returnDay, nil)
	MustOutcome(t, nil, err, nil, isErr(ErrPaymentReturned, ErrConflict))
	p, lease, charges = given(t)
	_, err = p.Return(lease, charges, "", returnDay, nil)
	MustOutcome(t, nil, err, nil, invalid("reason"))
	// given the 100.00 of credit left was refunded, it cannot be withdrawn: the
	// 300.00 applied to February can be taken back, the 100.00 paid out cannot
	p, lease, charges = given(t)
	lease.Apply(&CreditRefunded{RefundID: payTestID, Amount: MustMoney("100.00"), PaymentMethod: PaymentCheck, On: payTestDay}, lease.Version()+1, t0)
	_, err = p.Return(lease, charges, "NSF", returnDay, nil)
	MustOutcome(t, nil, err, nil, isErr(ErrCreditRefunded, ErrConflict))
	lease = ledgerLease(t, &CreditReceived{PaymentID: payTestID, Amount: MustMoney("400.00"), On: payTestDay},
		&CreditRefunded{RefundID: payTestID, Amount: MustMoney("400.00"), PaymentMethod: PaymentCheck, On: payTestDay})
	_, err = p.Return(lease, charges, "NSF", returnDay, nil)
	MustOutcome(t, nil, err, nil, isErr(ErrCreditRefunded, ErrConflict))
	// a payment of a deposit since settled cannot be returned
	dp := MustGiven(t, &LeasePayment{}, paymentRecorded("1500.00", "0.00", alloc(ledgerDeposi, "1500.00")))
	settled := ledgerLease(t, &DepositReceived{TransactionID: ledgerDeposi, PaymentID: payTestID, Amount: MustMoney("1500.00"), On: payTestDay},
		&LeaseTerminated{EffectiveDate: returnDay}, &DepositSettled{Refunded: MustMoney("1500.00"), RefundMethod: PaymentCheck, On: returnDay})
	deposit := ledgerCharge(t, ledgerDeposi, TransactionDeposit, "1500.00", txnTestDue, 0, paid(TransactionDeposit, "1500.00"))
	_, err = dp.Return(settled, []*Transaction{deposit}, "NSF", returnDay, nil)
	MustOutcome(t, nil, err, nil, isErr(ErrDepositSettled))
}

func TestSettleDeposit(t *testing.T) {
	settleDay := NewDate(2025, time.January, 10)
	held := &DepositReceived{TransactionID: ledgerDeposi, PaymentID: payTestID, Amount: MustMoney("1500.00"), On: payTestDay}
	ended := &LeaseTerminated{EffectiveDate: NewDate(2024, time.June, 30)}
	rent := func(t *testing.T) []*Transaction {
		return []*Transaction{ledgerCharge(t, ledgerRent, TransactionRent, "1000.00", txnTestDue, 0)}
	}
	rentDeduction := DepositDeduction{Reason: "unpaid rent", Amount: MustMoney("1000.00"), TransactionID: ptr(ledgerRent)}
	cleaning := DepositDeduction{Reason: "cleaning", Amount: MustMoney("200.00")}
	tests := []struct {
		name       string
		lease      []Event
		deductions []DepositDeduction
		want       []Event
		wantErr    wantError
	}{
		{
			name: "two deductions, one paying a charge; the rest refunded", lease: []Event{held, ended},
			deductions: []DepositDeduction{rentDeduction, cleaning},
			want: []Event{&DepositAllocated{Amount: MustMoney("1000.00"), Reason: "unpaid rent", On: settleDay},
				&DepositSettled{Deductions: []DepositDeduction{rentDeduction, cleaning}, Refunded: MustMoney("300.00"),
					RefundMethod: PaymentCheck, On: settleDay}},
		},
		{
			name: "no deductions: all of it refunded", lease: []Event{held, ended},
			want: []Event{&DepositSettled{Deductions: []DepositDeduction{}, Refunded: MustMoney("1500.00"), RefundMethod: PaymentCheck, On: settleDay}},
		},
		{
			name: "before the lease ended", lease: []Event{held},
			deductions: []DepositDeduction{cleaning}, wantErr: isErr(ErrLeaseNotEnded, ErrConflict),
		},
		{
			name: "twice", lease: []Event{held, ended, &DepositSettled{Refunded: MustMoney("1500.00"), RefundMethod: PaymentCheck, On: settleDay}},
			wantErr: isErr(ErrDepositSettled),
		},
		{
			name: "more than is held", lease: []Event{held, ended},
			deductions: []DepositDeduction{rentDeduction, {Reason: "new carpet", Amount: MustMoney("600.00")}},
			wantErr:    invalid("deductions"),
		},
		{
			name: "more than the charge owes, and a charge of another lease", lease: []Event{held, ended},
			deductions: []DepositDeduction{
				{Reason: "rent", Amount: MustMoney("1000.01"), TransactionID: ptr(ledgerRent)},
				{Reason: "other", Amount: MustMoney("1.00"), TransactionID: ptr(ledgerFee)},
				{Reason: "", Amount: MustMoney("0.00")},
			},
			wantErr: invalid("deductions[0].amount", "deductions[1].transaction_id", "deductions[2].reason", "deductions[2].amount"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given
			lease := ledgerLease(t, tt.lease...)
			// when
			d, err := lease.SettleDeposit(tt.deductions, PaymentCheck, rent(t), settleDay)
			// then
			MustOutcome(t, decided(d), err, tt.want, tt.wantErr)
		})
	}
}
