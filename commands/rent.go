package commands

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// StreamLister lists the streams of one type; *eventstore.PostgresStore is one.
type StreamLister interface {
	StreamIDs(ctx context.Context, streamType string) ([]uuid.UUID, error)
}

// Rent is the rent schedule's process manager (docs/rent.md). For a lease it posts
// every rent charge of the schedule that is due, charges the late fees that are
// due, and voids what a termination dropped. It runs as the system: its events
// carry a command name and no actor.
//
// It never posts anything twice, however many runs overlap: every charge it posts
// has an id derived from the lease and the segment (or, for a fee, the period),
// so a second append of it fails with eventstore.ErrConcurrency, which means
// "already posted". A fee is appended in one transaction with the LateFeeAssessed
// that marks its rent charge, at the rent charge's version: a payment recorded
// meanwhile makes that append fail, and no fee is left on a charge paid in time.
type Rent struct {
	store   eventstore.Store
	leases  StreamLister
	workers int
}

// NewRent refuses nil dependencies.
func NewRent(store eventstore.Store, leases StreamLister) (*Rent, error) {
	if store == nil || leases == nil {
		return nil, errors.New("commands: NewRent needs a store and a lease lister")
	}
	return &Rent{store: store, leases: leases, workers: 8}, nil
}

// RentReport counts what a run changed.
type RentReport struct {
	Leases  int // leases looked at
	Charges int // rent charges posted
	Fees    int // late fees posted
	Voided  int // charges and fees voided
	// Last is the place of the run's last event in the global log (zero when it
	// appended nothing): wait for it to read the run's effect from the read model.
	Last eventstore.Checkpoint
}

func (r *RentReport) add(o RentReport) {
	r.Leases += o.Leases
	r.Charges += o.Charges
	r.Fees += o.Fees
	r.Voided += o.Voided
	r.appended(o.Last)
}

// appended notes the checkpoint of an append.
func (r *RentReport) appended(cp eventstore.Checkpoint) {
	if !r.Last.Reached(cp) {
		r.Last = cp
	}
}

// Commands named in the metadata of the schedule's events.
const (
	cmdPostRent      = "PostRent"
	cmdAssessLateFee = "AssessLateFee"
	cmdVoidCharge    = "VoidCharge"
)

// systemContext carries metadata without an actor: the system acts.
func systemContext(ctx context.Context, command string) context.Context {
	return eventstore.WithMetadata(ctx, eventstore.Metadata{
		CorrelationID: eventstore.MetadataFrom(ctx).CorrelationID, Command: command,
	})
}

// PostDue runs the schedule of every lease through day through: every rent charge
// due on or before it and every late fee whose grace period ended before it. A
// lease that fails does not stop the others; the errors are returned joined.
func (h *Rent) PostDue(ctx context.Context, through domain.Date) (RentReport, error) {
	ids, err := h.leases.StreamIDs(ctx, domain.LeaseStreamType)
	if err != nil {
		return RentReport{}, err
	}
	var (
		mu     sync.Mutex
		report RentReport
		errs   []error
		wg     sync.WaitGroup
	)
	work := make(chan uuid.UUID)
	for range min(h.workers, max(len(ids), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range work {
				rep, err := h.PostLease(ctx, id, through)
				mu.Lock()
				report.add(rep)
				if err != nil {
					errs = append(errs, fmt.Errorf("post rent of lease %s: %w", id, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		work <- id
	}
	close(work)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	return report, errors.Join(errs...)
}

// PostLease runs the schedule of one lease through day through.
func (h *Rent) PostLease(ctx context.Context, id uuid.UUID, through domain.Date) (RentReport, error) {
	lease, err := loadLease(ctx, h.store, id)
	if err != nil || !lease.Exists() {
		return RentReport{}, err
	}
	run := &leaseRun{h: h, lease: lease, through: through, report: RentReport{Leases: 1}}
	return run.report, run.do(ctx)
}

// leaseRun is one pass of the schedule over one lease.
type leaseRun struct {
	h       *Rent
	lease   *domain.Lease
	through domain.Date
	report  RentReport

	policyLoaded bool
	policy       *domain.LateFeePolicy
	source       domain.LateFeeSource
}

func (r *leaseRun) do(ctx context.Context) error {
	plan := r.lease.RentPlan()
	charged := map[string]bool{}
	for _, seg := range plan.Charges {
		charged[seg.Period] = true
	}
	// What a termination dropped: the charges and, for a month left without rent,
	// its late fee.
	dropped := map[string]bool{}
	for _, seg := range plan.Cancelled {
		if err := r.void(ctx, seg.ChargeID(r.lease.ID()), "the lease was terminated"); err != nil {
			return err
		}
		if !charged[seg.Period] && !dropped[seg.Period] {
			dropped[seg.Period] = true
			if err := r.void(ctx, domain.LateFeeID(r.lease.ID(), seg.Period), "the lease was terminated"); err != nil {
				return err
			}
		}
	}
	for _, seg := range plan.Charges {
		if seg.DueDate.After(r.through) {
			continue
		}
		if err := r.segment(ctx, seg); err != nil {
			return err
		}
	}
	return nil
}

// segment posts one segment's charge if it is missing, charges its period's late
// fee if one is due, and voids a fee its timely payment cancels.
func (r *leaseRun) segment(ctx context.Context, seg domain.RentSegment) error {
	if seg.Replaces != "" {
		// A termination cut this segment short. A base charge already paid or
		// written off stands (a refund of the difference is the landlord's call);
		// an open one is voided, and the shorter charge takes its place.
		base, err := loadTransaction(ctx, r.h.store, domain.RentChargeID(r.lease.ID(), seg.Replaces))
		if err != nil {
			return err
		}
		switch base.Status() {
		case domain.TransactionCompleted, domain.TransactionRefunded, domain.TransactionWrittenOff:
			return nil
		}
		if err := r.void(ctx, base.ID(), "the lease was terminated; replaced by a prorated charge"); err != nil {
			return err
		}
	}
	charge, err := r.ensureCharge(ctx, seg)
	if err != nil {
		return err
	}
	if fee, within := charge.PaidWithinGrace(); within {
		return r.void(ctx, fee, "rent paid within the grace period")
	}
	return r.lateFee(ctx, charge)
}

// ensureCharge loads the segment's charge, posting it first if it does not exist.
func (r *leaseRun) ensureCharge(ctx context.Context, seg domain.RentSegment) (*domain.Transaction, error) {
	id := seg.ChargeID(r.lease.ID())
	charge, err := loadTransaction(ctx, r.h.store, id)
	if err != nil || charge.Exists() {
		return charge, err
	}
	// The lease's credit, if any, pays it at once (commands/ledger.go).
	res, posted, err := postCharge(systemContext(ctx, cmdPostRent), r.h.store, r.lease.ID(), id,
		[]domain.Event{domain.RentCharge(r.lease, seg)}, r.through)
	if errors.Is(err, eventstore.ErrConcurrency) {
		return loadTransaction(ctx, r.h.store, id) // posted by a concurrent run
	}
	if err != nil {
		return nil, err
	}
	r.report.Charges++
	r.report.appended(res.Checkpoint)
	return posted, nil // as the store now holds it, credit applied: not read back
}

// lateFee charges the period's late fee on charge when one is due.
func (r *leaseRun) lateFee(ctx context.Context, charge *domain.Transaction) error {
	if charge.LateFee() != nil || (charge.Status() != domain.TransactionPending && charge.Status() != domain.TransactionFailed) ||
		!r.through.After(charge.DueDate()) {
		return nil // no fee is possible (yet): the policy need not be read
	}
	policy, source, err := r.effectivePolicy(ctx)
	if err != nil || policy == nil {
		return err
	}
	fee, mark, err := domain.LateFeeDue(charge, *policy, source, r.through)
	if errors.Is(err, domain.ErrLateFeeNotDue) {
		return nil
	}
	if err != nil {
		return err
	}
	existing, err := loadTransaction(ctx, r.h.store, fee.TransactionID)
	if err != nil || existing.Exists() {
		return err // one fee per period: another segment of the month has it
	}
	ctx = systemContext(ctx, cmdAssessLateFee)
	var last eventstore.Checkpoint
	err = r.h.store.Atomically(ctx, func(store eventstore.Store) error {
		lease, err := lockedLease(ctx, store, r.lease.ID())
		if err != nil {
			return err
		}
		a := &appender{store: store} // the lease's credit, if any, pays the fee at once
		if _, err := a.postCharge(ctx, lease, fee.TransactionID, []domain.Event{fee}, r.through); err != nil {
			return err
		}
		if err := a.append(ctx, transactionStream(charge.ID()), charge, []domain.Event{mark}); err != nil {
			return err
		}
		last = a.last
		return nil
	})
	if errors.Is(err, ErrLostRace) {
		return nil // the lease's credit moved meanwhile: the next run decides again
	}
	if errors.Is(err, eventstore.ErrConcurrency) {
		return nil // a concurrent run charged it, or the charge moved on: the next run decides again
	}
	if err != nil {
		return err
	}
	r.report.Fees++
	r.report.appended(last)
	return nil
}

// effectivePolicy loads the lease's policy, or else its property's, once.
func (r *leaseRun) effectivePolicy(ctx context.Context) (*domain.LateFeePolicy, domain.LateFeeSource, error) {
	if !r.policyLoaded {
		property, err := loadProperty(ctx, r.h.store, r.lease.PropertyID())
		if err != nil {
			return nil, domain.LateFeeSource{}, err
		}
		r.policy, r.source = domain.EffectiveLateFeePolicy(r.lease, property)
		r.policyLoaded = true
	}
	return r.policy, r.source, nil
}

// void voids a charge if it exists and is still open.
func (r *leaseRun) void(ctx context.Context, id uuid.UUID, reason string) error {
	res, err := voidCharge(systemContext(ctx, cmdVoidCharge), r.h.store, id, reason)
	if res.Checkpoint != (eventstore.Checkpoint{}) {
		r.report.Voided++
		r.report.appended(res.Checkpoint)
	}
	return err
}

// voidCharge voids a pending or failed charge; one that does not exist or is no
// longer open is left as it is (Result without a checkpoint).
func voidCharge(ctx context.Context, store eventstore.Store, id uuid.UUID, reason string) (Result, error) {
	res, err := update(ctx, store, transactionStream(id), nil, newTransaction,
		func(*domain.Transaction) error { return nil },
		func(t *domain.Transaction) ([]domain.Event, error) {
			events, err := t.Void(reason)
			if errors.Is(err, domain.ErrIllegalTransition) {
				return nil, nil
			}
			return events, err
		})
	if errors.Is(err, domain.ErrNotFound) {
		return Result{}, nil
	}
	return res, err
}

// loadTransaction rebuilds a transaction; it may not exist.
func loadTransaction(ctx context.Context, store eventstore.Store, id uuid.UUID) (*domain.Transaction, error) {
	return loadNew(ctx, store, transactionStream(id), newTransaction)
}
