package commands

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Every change of a lease's money (a payment, a return, credit applied or
// refunded, a deposit settled, a charge posted, which takes credit) runs in one
// transaction that first takes the lease's ledger lock: payments on one lease
// are applied one after the other, each on the charges and credit the previous
// one left, so no charge is paid twice and no cent is lost. The appends at the
// streams' versions would catch a race anyway; the lock makes it a wait, not a
// retry.

func ledgerLock(lease uuid.UUID) string { return "ledger:" + lease.String() }

func paymentStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.PaymentStreamType, ID: id}
}

func newPayment() *domain.LeasePayment { return &domain.LeasePayment{} }

// lockedLease takes the lease's ledger lock and loads the lease as it is now.
func lockedLease(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Lease, error) {
	if err := store.Lock(ctx, ledgerLock(id)); err != nil {
		return nil, err
	}
	lease, err := loadLease(ctx, store, id)
	if err == nil && !lease.Exists() {
		err = domain.ErrNotFound
	}
	return lease, err
}

// lockedVisibleLease is lockedLease for a lease the actor may see (the rule of
// visibleLease, on the lease loaded under the lock): how a command on a lease's
// ledger starts.
func lockedVisibleLease(ctx context.Context, store eventstore.Store, actor Actor, id uuid.UUID) (*domain.Lease, error) {
	lease, err := lockedLease(ctx, store, id)
	if err != nil {
		return nil, err
	}
	return lease, leaseVisible(ctx, store, actor, lease)
}

// appender appends events stream by stream inside one transaction, at the
// versions its aggregates were loaded at, and applies them to the aggregates
// so that later decisions see them. A version moved on is ErrLostRace: the
// transaction reruns from the start (atomically).
type appender struct {
	store eventstore.Store
	last  eventstore.Checkpoint
}

func (a *appender) append(ctx context.Context, stream eventstore.StreamID, agg aggregate, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	appended, err := a.store.Append(ctx, stream, agg.Version(), toNew(events)...)
	if errors.Is(err, eventstore.ErrConcurrency) && agg.Version() > 0 {
		return ErrLostRace
	}
	if err != nil {
		return err
	}
	v := appended.Version - int64(len(events))
	for _, e := range events {
		v++
		agg.Apply(e, v, time.Now())
	}
	a.last = appended.Checkpoint
	return nil
}

// decision appends what a payment decision says of charges and lease (the
// payment's own events are the caller's), each charge once, in order.
func (a *appender) decision(ctx context.Context, lease *domain.Lease, d domain.PaymentDecision) error {
	var order []*domain.Transaction
	byCharge := map[*domain.Transaction][]domain.Event{}
	for _, c := range d.Charges {
		if _, seen := byCharge[c.Charge]; !seen {
			order = append(order, c.Charge)
		}
		byCharge[c.Charge] = append(byCharge[c.Charge], c.Events...)
	}
	for _, t := range order {
		if err := a.append(ctx, transactionStream(t.ID()), t, byCharge[t]); err != nil {
			return err
		}
	}
	return a.append(ctx, leaseStream(lease.ID()), lease, d.Lease)
}

// applyCredit applies the lease's credit to charge t, if there is any
// (domain.ApplyCredit); the lease's ledger lock must be held.
func (a *appender) applyCredit(ctx context.Context, lease *domain.Lease, t *domain.Transaction, on domain.Date) error {
	chargeEvents, leaseEvents := domain.ApplyCredit(lease, t, on)
	if err := a.append(ctx, transactionStream(t.ID()), t, chargeEvents); err != nil {
		return err
	}
	return a.append(ctx, leaseStream(lease.ID()), lease, leaseEvents)
}

// postCharge appends a new charge's first events (at version 0) and applies
// the lease's credit to it; the lease's ledger lock must be held. A charge that
// exists already is eventstore.ErrConcurrency, as a plain append.
func (a *appender) postCharge(ctx context.Context, lease *domain.Lease, id uuid.UUID, events []domain.Event,
	on domain.Date) (*domain.Transaction, error) {
	t := &domain.Transaction{}
	if err := a.append(ctx, transactionStream(id), t, events); err != nil {
		return nil, err
	}
	return t, a.applyCredit(ctx, lease, t, on)
}

// postCharge posts a new charge (appender.postCharge) in one transaction under
// the lease's ledger lock, and answers it as posted.
func postCharge(ctx context.Context, store eventstore.Store, leaseID uuid.UUID, id uuid.UUID, events []domain.Event,
	today domain.Date) (Result, *domain.Transaction, error) {
	var res Result
	var t *domain.Transaction
	err := atomically(ctx, store, func(store eventstore.Store) error {
		lease, err := lockedLease(ctx, store, leaseID)
		if err != nil {
			return err
		}
		a := &appender{store: store}
		if t, err = a.postCharge(ctx, lease, id, events, today); err != nil {
			return err
		}
		res = Result{ID: id, Version: t.Version(), Created: true, Checkpoint: a.last}
		return nil
	})
	return res, t, err
}

// loadCharges rebuilds the charges of ids.
func loadCharges(ctx context.Context, store eventstore.Store, ids []uuid.UUID) ([]*domain.Transaction, error) {
	out := make([]*domain.Transaction, 0, len(ids))
	for _, id := range ids {
		t, err := loadTransaction(ctx, store, id)
		if err != nil {
			return nil, err
		}
		if t.Exists() {
			out = append(out, t)
		}
	}
	return out, nil
}

func today(now func() time.Time) domain.Date { return domain.DateOf(now()) }
