package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Transactions handles the transaction commands.
type Transactions struct {
	store eventstore.Store
	now   func() time.Time
}

// NewTransactions refuses nil dependencies.
func NewTransactions(store eventstore.Store) (*Transactions, error) {
	if store == nil {
		return nil, errors.New("commands: NewTransactions needs a store")
	}
	return &Transactions{store: store, now: time.Now}, nil
}

// PostCharge posts a pending charge on a lease the actor may see. The inputs are
// raw, as the client sent them, so that every bad value comes back as a field error.
type PostCharge struct {
	Actor   Actor
	ID      *uuid.UUID // client-supplied id, optional
	LeaseID *uuid.UUID
	Amount  *json.Number // a JSON string or number, parsed exactly
	Type    string
	DueDate *string // YYYY-MM-DD
	Notes   *string
}

// Post handles PostCharge. A lease the actor may not see is reported like a lease
// that does not exist: a field error on lease_id, since the body names it.
// Repeating a post with the same id and body answers the existing charge and
// writes nothing; another body is a conflict.
func (h *Transactions) Post(ctx context.Context, cmd PostCharge) (Result, error) {
	ctx = withCommand(ctx, "PostCharge")
	var parsed inputFields
	amount := parsed.requiredMoney("amount", cmd.Amount)
	dueDate := parsed.date("due_date", cmd.DueDate)

	lease := &domain.Lease{} // no lease: the domain refuses it as lease_id "no such lease"
	if cmd.LeaseID == nil {
		parsed.Add("lease_id", "is required")
	} else {
		l, err := visibleLease(ctx, h.store, cmd.Actor, *cmd.LeaseID)
		switch {
		case err == nil:
			lease = l
		case !errors.Is(err, domain.ErrNotFound):
			return Result{}, err
		}
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	events, err := domain.PostCharge(lease, domain.NewChargeInput{
		ID: id, Amount: amount, Type: domain.ParseTransactionType(cmd.Type), DueDate: dueDate, Notes: cmd.Notes,
	})
	if err := parsed.Join(err); err != nil {
		return Result{}, err
	}
	stream := transactionStream(id)
	return createOnce(ctx, h.store, stream, once[*domain.Transaction]{newAgg: newTransaction,
		visible: func(t *domain.Transaction) error { return h.canSee(ctx, cmd.Actor, t) }, same: sameFirst[*domain.Transaction](events[0])}, func() (Result, error) {
		// The lease's credit, if any, pays it at once (commands/ledger.go).
		res, _, err := postCharge(ctx, h.store, lease.ID(), id, events, today(h.now))
		return res, err
	})
}

// canSee is the owner isolation rule for a transaction: the actor must see its lease.
func (h *Transactions) canSee(ctx context.Context, actor Actor, t *domain.Transaction) error {
	_, err := visibleLease(ctx, h.store, actor, t.LeaseID())
	return err
}

// PayTransaction completes a pending charge.
type PayTransaction struct {
	Target
	PaymentDate     *string // YYYY-MM-DD, required
	PaymentMethod   string
	ReferenceNumber *string
}

// Pay handles PayTransaction: it pays the charge's remaining balance, recorded as
// a payment of its own (RentPaid for a rent charge, PaymentReceived for any
// other), under the lease's ledger lock. Of concurrent payments of one charge
// exactly one succeeds; the others find it completed and are refused as an
// illegal transition. A rent charge paid within its grace period has its late
// fee voided.
func (h *Transactions) Pay(ctx context.Context, cmd PayTransaction) (Result, error) {
	ctx = withCommand(ctx, "PayTransaction")
	var parsed inputFields
	date := parsed.date("payment_date", cmd.PaymentDate)
	var paid *domain.Transaction // the charge as the payment left it
	var res Result
	err := atomically(ctx, h.store, func(store eventstore.Store) error {
		t, err := loadTransaction(ctx, store, cmd.ID)
		if err != nil {
			return err
		}
		if !t.Exists() {
			return domain.ErrNotFound
		}
		lease, err := lockedVisibleLease(ctx, store, cmd.Actor, t.LeaseID())
		if err != nil {
			return err
		}
		if t, err = loadTransaction(ctx, store, cmd.ID); err != nil { // as the lock left it
			return err
		}
		if cmd.IfMatch != nil && *cmd.IfMatch != t.Version() {
			return domain.ErrPreconditionFailed
		}
		paymentID := uuid.New()
		d, err := domain.PayBalance(lease, t, paymentID, domain.Payment{
			PaymentDate: date, PaymentMethod: domain.ParsePaymentMethod(cmd.PaymentMethod),
			ReferenceNumber: cmd.ReferenceNumber,
		})
		if err := parsed.Join(err); err != nil {
			return err
		}
		a := &appender{store: store}
		if err := a.append(ctx, paymentStream(paymentID), newPayment(), d.Payment); err != nil {
			return err
		}
		if err := a.decision(ctx, lease, d); err != nil {
			return err
		}
		res, paid = Result{ID: t.ID(), Version: t.Version(), Checkpoint: a.last}, t
		return nil
	})
	if err != nil {
		return res, err
	}
	return res, voidGraceFee(ctx, h.store, paid, &res) // rent paid within the grace period keeps no fee (docs/rent.md)
}

// Fail marks a pending payment as failed.
func (h *Transactions) Fail(ctx context.Context, cmd Transition) (Result, error) {
	ctx = withCommand(ctx, "FailTransaction")
	return h.update(ctx, cmd.Target, func(t *domain.Transaction) ([]domain.Event, error) {
		return t.Fail(cmd.Reason)
	})
}

// Retry puts a failed payment back to pending.
func (h *Transactions) Retry(ctx context.Context, target Target) (Result, error) {
	ctx = withCommand(ctx, "RetryTransaction")
	return h.update(ctx, target, func(t *domain.Transaction) ([]domain.Event, error) {
		return t.Retry()
	})
}

// Refund returns a completed payment.
func (h *Transactions) Refund(ctx context.Context, cmd Transition) (Result, error) {
	ctx = withCommand(ctx, "RefundTransaction")
	return h.update(ctx, cmd.Target, func(t *domain.Transaction) ([]domain.Event, error) {
		return t.Refund(cmd.Reason)
	})
}

// update runs decide on a transaction the actor may see.
func (h *Transactions) update(ctx context.Context, target Target,
	decide func(*domain.Transaction) ([]domain.Event, error)) (Result, error) {
	return update(ctx, h.store, transactionStream(target.ID), target.IfMatch, newTransaction,
		func(t *domain.Transaction) error { return h.canSee(ctx, target.Actor, t) }, decide)
}

func newTransaction() *domain.Transaction { return &domain.Transaction{} }
