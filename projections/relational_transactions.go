package projections

import (
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyTransaction(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.ChargePosted); ok {
		t, err := en.create(transactionsTable, e.RecordedAt)
		if err != nil {
			return err
		}
		t.set("lease_id", ev.LeaseID)
		t.set("amount", ev.Amount)
		t.set("type", ev.Type.String())
		t.set("status", domain.TransactionPending.String())
		t.set("due_date", ev.DueDate)
		t.set("notes", ev.Notes)
		t.set("amount_paid", decimal.Zero)
		t.set("balance", ev.Amount)
		return nil
	}
	t, err := en.existing(transactionsTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.RentPaid:
		setPayment(t, ev.Payment)
	case *domain.PaymentReceived:
		setPayment(t, ev.Payment)
	case *domain.CreditAllocated:
		// payment_date is the last day money was applied to the charge, whatever
		// paid it: the aging finds what was settled after its day by it.
		addPaid(t, ev.Amount.Decimal())
		t.set("payment_date", ev.On)
	case *domain.DepositAllocated:
		addPaid(t, ev.Amount.Decimal())
		t.set("payment_date", ev.On)
	case *domain.AllocationReversed:
		addPaid(t, ev.Amount.Decimal().Neg())
		if t.text("status") == domain.TransactionCompleted.String() {
			t.set("status", domain.TransactionPending.String())
		}
	case *domain.PaymentFailed:
		t.set("status", domain.TransactionFailed.String())
	case *domain.PaymentRetried:
		t.set("status", domain.TransactionPending.String())
		t.set("payment_date", nil)
		t.set("payment_method", nil)
		t.set("reference_number", nil)
	case *domain.PaymentRefunded:
		t.set("status", domain.TransactionRefunded.String())
	case *domain.ChargeVoided:
		closeCharge(t, domain.TransactionVoid, e)
	case *domain.FeeWaived:
		closeCharge(t, domain.TransactionWaived, e)
	case *domain.ChargeWrittenOff:
		closeCharge(t, domain.TransactionWrittenOff, e)
	case *domain.LateFeeAssessed:
		// Changes no column: the charge only moves to the event's version.
	default:
		return errNoProjection
	}
	return nil
}

// setPayment records a payment of the charge: of p.Amount, or (events recorded
// before partial payments) of the whole balance. The charge keeps its latest
// payment's date, method and reference.
func setPayment(t *row, p domain.Payment) {
	amount := t.decimal("balance")
	if p.Amount != nil {
		amount = p.Amount.Decimal()
	}
	addPaid(t, amount)
	t.set("payment_date", p.PaymentDate)
	t.set("payment_method", p.PaymentMethod.String())
	t.set("reference_number", p.ReferenceNumber)
}

// addPaid adds amount (negative: takes it back) to what was paid of the charge;
// paid in full, it is completed.
func addPaid(t *row, amount decimal.Decimal) {
	paid := t.decimal("amount_paid").Add(amount)
	balance := t.decimal("amount").Sub(paid)
	t.set("amount_paid", paid)
	t.set("balance", balance)
	if !balance.IsPositive() {
		t.set("status", domain.TransactionCompleted.String())
	}
}
