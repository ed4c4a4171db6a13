package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// LeaseCharges finds a lease's charges in the read model. Commands ask it inside
// their unit of work, under the lease's ledger lock, so it sees every charge
// committed before; it reads as the system, whoever the request's viewer is.
type LeaseCharges interface {
	OpenChargeIDs(ctx context.Context, leaseID uuid.UUID) ([]uuid.UUID, error)
}

// Ledger handles the commands on a lease's money: payments, their return,
// credit refunds and the deposit's settlement (docs/rent.md).
type Ledger struct {
	store   eventstore.Store
	charges LeaseCharges
	db      eventstore.DB
	now     func() time.Time
}

// NewLedger refuses nil dependencies. db is where its units of work run (the
// store's pool): the charges are read in the same transaction as the appends.
func NewLedger(store eventstore.Store, charges LeaseCharges, db eventstore.DB) (*Ledger, error) {
	if store == nil || charges == nil || db == nil {
		return nil, errors.New("commands: NewLedger needs a store, a charge index and a database")
	}
	return &Ledger{store: store, charges: charges, db: db, now: time.Now}, nil
}

// unit runs fn in one unit of work (eventstore.InUnit), which it runs again on a
// lost race when it began it; inside a caller's unit the caller reruns.
func (h *Ledger) unit(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, inUnit := eventstore.UnitTx(ctx); inUnit {
		return fn(ctx)
	}
	for attempt := 1; ; attempt++ {
		err := eventstore.InUnit(ctx, h.db, fn)
		if !errors.Is(err, ErrLostRace) || attempt == maxAttempts {
			return err
		}
	}
}

// onLease runs fn in one unit on the lease the actor may see, under the lease's
// ledger lock (lockedVisibleLease): how a command on a lease's ledger runs.
func (h *Ledger) onLease(ctx context.Context, actor Actor, leaseID uuid.UUID,
	fn func(ctx context.Context, lease *domain.Lease) error) error {
	return h.unit(ctx, func(ctx context.Context) error {
		lease, err := lockedVisibleLease(ctx, h.store, actor, leaseID)
		if err != nil {
			return err
		}
		return fn(ctx, lease)
	})
}

// openCharges loads the lease's open charges; the ledger lock must be held.
func (h *Ledger) openCharges(ctx context.Context, leaseID uuid.UUID) ([]*domain.Transaction, error) {
	ids, err := h.charges.OpenChargeIDs(ctx, leaseID)
	if err != nil {
		return nil, err
	}
	return loadCharges(ctx, h.store, ids)
}

// RecordPayment records money received for a lease. The inputs are raw, as the
// client sent them.
type RecordPayment struct {
	Actor           Actor
	LeaseID         uuid.UUID
	Amount          *json.Number
	PaymentDate     *string
	PaymentMethod   string
	ReferenceNumber *string
	TenantID        *uuid.UUID
	AppliesTo       string
}

// Record handles RecordPayment for anyone who sees the lease: the payment is
// applied to the lease's open charges, the rest is credit (domain.RecordPayment).
func (h *Ledger) Record(ctx context.Context, cmd RecordPayment) (Result, error) {
	ctx = withCommand(ctx, "RecordPayment")
	var parsed inputFields
	amount := parsed.requiredMoney("amount", cmd.Amount)
	date := parsed.date("payment_date", cmd.PaymentDate)
	var res Result
	var paid []*domain.Transaction
	err := h.onLease(ctx, cmd.Actor, cmd.LeaseID, func(ctx context.Context, lease *domain.Lease) error {
		paid = nil
		charges, err := h.openCharges(ctx, cmd.LeaseID)
		if err != nil {
			return err
		}
		id := uuid.New()
		d, err := domain.RecordPayment(lease, domain.NewPaymentInput{ID: id, Amount: amount, PaymentDate: date,
			PaymentMethod: domain.ParsePaymentMethod(cmd.PaymentMethod), ReferenceNumber: cmd.ReferenceNumber,
			TenantID: cmd.TenantID, AppliesTo: domain.ParseAppliesTo(cmd.AppliesTo)}, charges)
		if err := parsed.Join(err); err != nil {
			return err
		}
		a := &appender{store: h.store}
		p := newPayment()
		if err := a.append(ctx, paymentStream(id), p, d.Payment); err != nil {
			return err
		}
		if err := a.decision(ctx, lease, d); err != nil {
			return err
		}
		res = Result{ID: id, Version: p.Version(), Created: true, Checkpoint: a.last}
		for _, c := range d.Charges {
			paid = append(paid, c.Charge)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	// Rent paid within its grace period keeps no late fee (docs/rent.md), as with
	// POST /transactions/{id}/pay; should this fail, the schedule's next run voids it.
	for _, t := range paid {
		if err := voidGraceFee(ctx, h.store, t, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ReturnPayment records that a payment's money did not arrive (a bounced cheque).
type ReturnPayment struct {
	Target
	Reason string
	Fee    *json.Number // a returned-payment fee to charge, optional
}

// Return handles ReturnPayment for anyone who sees the payment's lease: its
// allocations are reversed (the charges reopen), its credit withdrawn, the fee
// charged (and paid by any credit left), and a rent charge reopened after its
// grace period gets the late fee its payment had prevented.
func (h *Ledger) Return(ctx context.Context, cmd ReturnPayment) (Result, error) {
	ctx = withCommand(ctx, "ReturnPayment")
	var parsed inputFields
	fee := parsed.optionalMoney("fee", cmd.Fee)
	if fee != nil && !fee.IsPositive() {
		parsed.Add("fee", "must be greater than 0")
	}
	var res Result
	var reopened []*domain.Transaction
	var lease *domain.Lease
	err := h.unit(ctx, func(ctx context.Context) error {
		reopened = nil
		p := newPayment()
		if err := load(ctx, h.store, paymentStream(cmd.ID), p); err != nil {
			return err
		}
		if !p.Exists() {
			return domain.ErrNotFound
		}
		var err error
		if lease, err = lockedVisibleLease(ctx, h.store, cmd.Actor, p.LeaseID()); err != nil {
			return err
		}
		p = newPayment() // as the lock left it
		if err := load(ctx, h.store, paymentStream(cmd.ID), p); err != nil {
			return err
		}
		if cmd.IfMatch != nil && *cmd.IfMatch != p.Version() {
			return domain.ErrPreconditionFailed
		}
		charges, err := loadCharges(ctx, h.store, p.ReturnedCharges(lease))
		if err != nil {
			return err
		}
		on := today(h.now)
		var feeID *uuid.UUID
		if fee != nil {
			id := uuid.New()
			feeID = &id
		}
		d, err := p.Return(lease, charges, cmd.Reason, on, feeID)
		if err := parsed.Join(err); err != nil {
			return err
		}
		a := &appender{store: h.store}
		if err := a.append(ctx, paymentStream(cmd.ID), p, d.Payment); err != nil {
			return err
		}
		if err := a.decision(ctx, lease, d); err != nil {
			return err
		}
		for _, c := range d.Charges {
			if c.Charge.Open() && !slices.Contains(reopened, c.Charge) {
				reopened = append(reopened, c.Charge)
			}
		}
		// Credit left from other payments pays what reopened, then the fee.
		for _, t := range domain.OpenCharges(reopened, domain.AppliesToCharges) {
			if err := a.applyCredit(ctx, lease, t, on); err != nil {
				return err
			}
		}
		if fee != nil {
			notes := "returned payment fee: " + cmd.Reason
			posted, err := domain.PostCharge(lease, domain.NewChargeInput{ID: *feeID, Amount: *fee,
				Type: domain.TransactionFee, DueDate: on, Notes: &notes})
			if err != nil {
				return err
			}
			if _, err := a.postCharge(ctx, lease, *feeID, posted, on); err != nil {
				return err
			}
		}
		res = Result{ID: cmd.ID, Version: p.Version(), Checkpoint: a.last}
		return nil
	})
	if err != nil {
		return res, err
	}
	// The late fees the payment had prevented (docs/rent.md), as the schedule
	// would assess them today.
	run := &leaseRun{h: &Rent{store: h.store}, lease: lease, through: today(h.now)}
	for _, t := range reopened {
		if t.Open() {
			if err := run.lateFee(ctx, t); err != nil {
				return res, err
			}
		}
	}
	if run.report.Last != (eventstore.Checkpoint{}) {
		res.Checkpoint = run.report.Last
	}
	return res, nil
}

// RefundCredit pays a lease's credit back.
type RefundCredit struct {
	Actor         Actor
	LeaseID       uuid.UUID
	Amount        *json.Number
	PaymentMethod string
}

// RefundCredit handles RefundCredit for anyone who sees the lease; more than the
// credit is refused (422). The result's ID is the refund's.
func (h *Ledger) RefundCredit(ctx context.Context, cmd RefundCredit) (Result, error) {
	ctx = withCommand(ctx, "RefundCredit")
	var parsed inputFields
	amount := parsed.requiredMoney("amount", cmd.Amount)
	var res Result
	err := h.onLease(ctx, cmd.Actor, cmd.LeaseID, func(ctx context.Context, lease *domain.Lease) error {
		id := uuid.New()
		events, err := lease.RefundCredit(id, amount, domain.ParsePaymentMethod(cmd.PaymentMethod), today(h.now))
		if err := parsed.Join(err); err != nil {
			return err
		}
		a := &appender{store: h.store}
		if err := a.append(ctx, leaseStream(cmd.LeaseID), lease, events); err != nil {
			return err
		}
		res = Result{ID: cmd.LeaseID, Version: lease.Version(), Checkpoint: a.last}
		return nil
	})
	return res, err
}

// DeductionInput is one deduction from a deposit as the client sent it.
type DeductionInput struct {
	Reason        string
	Amount        *json.Number
	DocumentID    *uuid.UUID
	TransactionID *uuid.UUID
}

// SettleDeposit settles the deposit of a lease that ended.
type SettleDeposit struct {
	Actor        Actor
	LeaseID      uuid.UUID
	Deductions   []DeductionInput
	RefundMethod string
}

// SettleDeposit handles SettleDeposit for anyone who sees the lease: the
// deductions (an unpaid charge of the lease named by one is paid from the
// deposit) and the refund of the rest (domain.Lease.SettleDeposit).
func (h *Ledger) SettleDeposit(ctx context.Context, cmd SettleDeposit) (Result, error) {
	ctx = withCommand(ctx, "SettleDeposit")
	var parsed inputFields
	deductions := make([]domain.DepositDeduction, len(cmd.Deductions))
	for i, in := range cmd.Deductions {
		deductions[i] = domain.DepositDeduction{Reason: in.Reason, DocumentID: in.DocumentID, TransactionID: in.TransactionID,
			Amount: parsed.requiredMoney("deductions["+strconv.Itoa(i)+"].amount", in.Amount)}
	}
	var res Result
	err := h.onLease(ctx, cmd.Actor, cmd.LeaseID, func(ctx context.Context, lease *domain.Lease) error {
		var fields inputFields
		for i, ded := range deductions {
			if ded.DocumentID == nil {
				continue
			}
			var doc domain.Document
			if err := load(ctx, h.store, documentStream(*ded.DocumentID), &doc); err != nil {
				return err
			}
			fields.Check(doc.Exists(), "deductions["+strconv.Itoa(i)+"].document_id", "no such document")
		}
		charges, err := h.openCharges(ctx, cmd.LeaseID)
		if err != nil {
			return err
		}
		d, err := lease.SettleDeposit(deductions, domain.ParsePaymentMethod(cmd.RefundMethod), charges, today(h.now))
		if err := parsed.Join(fields.Join(err)); err != nil {
			return err
		}
		a := &appender{store: h.store}
		if err := a.decision(ctx, lease, d); err != nil {
			return err
		}
		res = Result{ID: cmd.LeaseID, Version: lease.Version(), Checkpoint: a.last}
		return nil
	})
	return res, err
}
