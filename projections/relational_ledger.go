package projections

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// The ledger's events (docs/rent.md, "Payments, credit and deposits"): payments
// into payments, a lease's credit and deposit into lease_accounts.

func applyPayment(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.PaymentRecorded); ok {
		p, err := en.create(paymentsTable, e.RecordedAt)
		if err != nil {
			return err
		}
		allocations := make(jsonbArray, len(ev.Allocations))
		for i, a := range ev.Allocations {
			allocations[i] = jsonbObject{{"transaction_id", a.TransactionID}, {"amount", a.Amount}}
		}
		p.set("lease_id", ev.LeaseID)
		p.set("tenant_id", ev.TenantID)
		p.set("amount", ev.Amount)
		p.set("payment_date", ev.PaymentDate)
		p.set("payment_method", ev.PaymentMethod.String())
		p.set("reference_number", ev.ReferenceNumber)
		p.set("applies_to", ev.AppliesTo.String())
		p.set("status", domain.PaymentStatusApplied.String())
		p.set("allocations", allocations)
		p.set("credit", ev.Credit)
		return nil
	}
	p, err := en.existing(paymentsTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.PaymentReturned:
		p.set("status", domain.PaymentStatusReturned.String())
		p.set("returned_on", ev.ReturnedOn)
		p.set("return_reason", ev.Reason)
		p.set("return_fee_id", ev.FeeID)
	default:
		return errNoProjection
	}
	return nil
}

// isLedgerEvent reports whether a lease event is one of the lease's money.
func isLedgerEvent(de domain.Event) bool {
	switch de.(type) {
	case *domain.CreditReceived, *domain.CreditApplied, *domain.CreditUnapplied, *domain.CreditWithdrawn,
		*domain.CreditRefunded, *domain.DepositReceived, *domain.DepositReceiptReversed, *domain.DepositSettled:
		return true
	}
	return false
}

// applyLeaseLedger projects a lease's money event into its lease_accounts row.
func applyLeaseLedger(en *entity, e eventstore.Event, de domain.Event) error {
	a, err := en.row(leaseAccountsTable)
	if err != nil {
		return err
	}
	if a == nil {
		if a, err = en.create(leaseAccountsTable, e.RecordedAt); err != nil {
			return err
		}
		for _, c := range []string{"credit", "deposit_received", "deposit_held", "deposit_forfeited", "deposit_refunded"} {
			a.set(c, decimal.Zero)
		}
		a.set("deductions", jsonbArray{})
		a.set("entries", jsonbArray{})
	}
	add := func(col string, amount domain.Money, sign int64) {
		a.set(col, a.decimal(col).Add(amount.Decimal().Mul(decimal.NewFromInt(sign))))
	}
	entry := func(kind string, on domain.Date, amount domain.Money, transaction, payment *uuid.UUID, reason *string, document *uuid.UUID) {
		entries, err := appendJSONB(a.raw("entries"), jsonbObject{{"kind", kind}, {"on", on}, {"at", e.RecordedAt}, {"amount", amount},
			{"transaction_id", transaction}, {"payment_id", payment}, {"reason", reason}, {"document_id", document}})
		if err != nil {
			a.fail(err)
			return
		}
		a.set("entries", entries)
	}
	switch ev := de.(type) {
	case *domain.CreditReceived:
		add("credit", ev.Amount, 1)
		entry("credit_received", ev.On, ev.Amount, nil, &ev.PaymentID, nil, nil)
	case *domain.CreditApplied:
		add("credit", ev.Amount, -1)
		entry("credit_applied", ev.On, ev.Amount, &ev.TransactionID, nil, nil, nil)
	case *domain.CreditUnapplied:
		add("credit", ev.Amount, 1)
		entry("credit_unapplied", ev.On, ev.Amount, &ev.TransactionID, nil, nil, nil)
	case *domain.CreditWithdrawn:
		add("credit", ev.Amount, -1)
		entry("credit_withdrawn", ev.On, ev.Amount, nil, &ev.PaymentID, nil, nil)
	case *domain.CreditRefunded:
		add("credit", ev.Amount, -1)
		method := ev.PaymentMethod.String()
		entry("credit_refunded", ev.On, ev.Amount, nil, nil, &method, nil)
	case *domain.DepositReceived:
		add("deposit_received", ev.Amount, 1)
		add("deposit_held", ev.Amount, 1)
		entry("deposit_received", ev.On, ev.Amount, &ev.TransactionID, &ev.PaymentID, nil, nil)
	case *domain.DepositReceiptReversed:
		add("deposit_received", ev.Amount, -1)
		add("deposit_held", ev.Amount, -1)
		entry("deposit_reversed", ev.On, ev.Amount, &ev.TransactionID, &ev.PaymentID, nil, nil)
	case *domain.DepositSettled:
		deductions := make(jsonbArray, len(ev.Deductions))
		for i, d := range ev.Deductions {
			deductions[i] = jsonbObject{{"reason", d.Reason}, {"amount", d.Amount}, {"document_id", d.DocumentID},
				{"transaction_id", d.TransactionID}}
			add("deposit_forfeited", d.Amount, 1)
			add("deposit_held", d.Amount, -1)
			reason := d.Reason
			entry("deposit_deducted", ev.On, d.Amount, d.TransactionID, nil, &reason, d.DocumentID)
		}
		a.set("deductions", deductions)
		add("deposit_refunded", ev.Refunded, 1)
		add("deposit_held", ev.Refunded, -1)
		method := ev.RefundMethod.String()
		entry("deposit_refunded", ev.On, ev.Refunded, nil, nil, &method, nil)
	default:
		return errNoProjection
	}
	a.set("updated_at", e.RecordedAt)
	return nil
}

// appendJSONB appends an object to a JSONB array as PostgreSQL renders it.
func appendJSONB(array json.RawMessage, o jsonbObject) (json.RawMessage, error) {
	item, err := jsonbArray{o}.appendPG(nil)
	if err != nil {
		return nil, fmt.Errorf("render a lease account entry: %w", err)
	}
	if string(array) == "[]" || string(array) == "null" {
		return item, nil
	}
	out := append([]byte(nil), array[:len(array)-1]...)
	out = append(out, ',', ' ')
	return append(out, item[1:]...), nil
}
