package projections

import (
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

func setPayment(t *row, p domain.Payment) {
	t.set("status", domain.TransactionCompleted.String())
	t.set("payment_date", p.PaymentDate)
	t.set("payment_method", p.PaymentMethod.String())
	t.set("reference_number", p.ReferenceNumber)
}
