package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Leases handles the lease commands.
//
// Every command that changes a lease's hold on its property's dates (signing,
// renewing, terminating, expiring) runs in one transaction under the property's
// lock (propertyLock), which archiving the property takes too. Inside it the
// lease's period is reserved or released (lease_reservations, whose exclusion
// constraint refuses overlaps) and its events are appended, so both commit or
// neither does, however many requests race.
type Leases struct {
	store eventstore.Store
	now   func() time.Time
}

// NewLeases refuses nil dependencies.
func NewLeases(store eventstore.Store) (*Leases, error) {
	if store == nil {
		return nil, errors.New("commands: NewLeases needs a store")
	}
	return &Leases{store: store, now: time.Now}, nil
}

// SignLease signs a new lease. Raw inputs are parsed here, so that a malformed
// value is reported with its field together with what the domain refuses.
type SignLease struct {
	Actor           Actor
	ID              *uuid.UUID // client-supplied id, optional
	PropertyID      *uuid.UUID
	TenantID        *uuid.UUID   // the only tenant; or
	TenantIDs       *[]uuid.UUID // every tenant, the primary first (exactly one of the two)
	StartDate       *string      // YYYY-MM-DD
	EndDate         *string      // YYYY-MM-DD
	RentAmount      *json.Number // a JSON string or number, parsed exactly
	SecurityDeposit *json.Number
	PaymentDay      *int  // default 1
	AutoRenew       *bool // default false
}

// Sign handles SignLease. The property must exist, be active and be visible to the
// actor; the tenant must exist and be visible to the actor. A property or tenant
// the actor may not see is reported exactly like one that does not exist (422 on
// property_id or tenant_id), so that signing cannot probe other owners' ids.
// Repeating a signing with the same id and body answers the existing lease and
// writes nothing; another body is a conflict.
func (h *Leases) Sign(ctx context.Context, cmd SignLease) (Result, error) {
	ctx = withCommand(ctx, "SignLease")
	var f inputFields
	terms := domain.LeaseTerms{
		StartDate:       f.date("start_date", cmd.StartDate),
		EndDate:         f.date("end_date", cmd.EndDate),
		RentAmount:      f.requiredMoney("rent_amount", cmd.RentAmount),
		SecurityDeposit: f.requiredMoney("security_deposit", cmd.SecurityDeposit),
		PaymentDay:      1,
	}
	if cmd.PaymentDay != nil {
		terms.PaymentDay = *cmd.PaymentDay
	}
	if cmd.AutoRenew != nil {
		terms.AutoRenew = *cmd.AutoRenew
	}
	propertyID := f.requiredID("property_id", cmd.PropertyID)
	tenants := f.leaseTenants(cmd.TenantID, cmd.TenantIDs)
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	stream := leaseStream(id)
	signed := once[*domain.Lease]{newAgg: newLease,
		visible: func(l *domain.Lease) error {
			_, err := visibleProperty(ctx, h.store, cmd.Actor, l.PropertyID())
			return err
		},
		same: sameFirst[*domain.Lease](tenants.signed(id, propertyID, terms))}

	return createOnce(ctx, h.store, stream, signed, func() (Result, error) {
		var res Result
		err := h.store.Atomically(ctx, func(store eventstore.Store) error {
			if err := store.Lock(ctx, propertyLock(propertyID)); err != nil {
				return err
			}
			existing, err := loadLease(ctx, store, id)
			if err != nil {
				return err
			}
			if existing.Exists() {
				// A repeat: answered like an append that finds the stream taken (also
				// how a signing with the same id that committed first under another
				// property's lock shows), before its period or property can refuse it.
				return eventstore.ErrConcurrency
			}
			property, err := loadProperty(ctx, store, propertyID)
			if err != nil {
				return err
			}
			if property.Exists() && canSee(cmd.Actor, property) != nil {
				property = &domain.Property{} // invisible: no such property, as far as the actor knows
			}
			signatories, err := tenants.load(ctx, store, cmd.Actor)
			if err != nil {
				return err
			}
			events, err := domain.SignLease(id, property, signatories, terms, domain.DateOf(h.now()))
			if f.Len() > 0 && errors.Is(err, domain.ErrPropertyNotActive) {
				err = nil // bad fields are reported first, as the domain itself does
			}
			if err := f.Join(err); err != nil {
				return err
			}
			err = store.ReservePeriod(ctx, propertyID, id, terms.StartDate.Time(), terms.EndDate.Time())
			if errors.Is(err, eventstore.ErrPeriodTaken) {
				return domain.ErrLeaseOverlap
			}
			if err != nil {
				return err
			}
			res, err = appendCreated(ctx, store, stream, events)
			return err
		})
		return res, err
	})
}

// leaseMayUseTenant is whether the actor may name the tenant on a lease
// (domain.MayLeaseTenant): only with full access, which a lease alone never gives.
func leaseMayUseTenant(actor Actor, t *domain.Tenant) bool {
	return domain.MayLeaseTenant(domain.TenantAccess(actor, t.RegisteredBy(), false))
}

// RenewLease extends an active lease to a later end date, optionally at a new rent.
type RenewLease struct {
	Target
	EndDate    *string      // YYYY-MM-DD, required
	RentAmount *json.Number // optional new rent
}

// Renew handles RenewLease. The longer period is reserved under the property's
// lock: a renewal into another active lease's dates is ErrLeaseOverlap.
func (h *Leases) Renew(ctx context.Context, cmd RenewLease) (Result, error) {
	ctx = withCommand(ctx, "RenewLease")
	var f inputFields
	end := f.date("end_date", cmd.EndDate)
	rent := f.optionalMoney("rent_amount", cmd.RentAmount)
	return h.change(ctx, cmd.Target, func(store eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		events, err := l.Renew(end, rent)
		if err := f.Join(err); err != nil {
			return nil, err
		}
		err = store.ReservePeriod(ctx, l.PropertyID(), l.ID(), l.Terms().StartDate.Time(), end.Time())
		if errors.Is(err, eventstore.ErrPeriodTaken) {
			return nil, domain.ErrLeaseOverlap
		}
		if err != nil {
			return nil, err
		}
		return events, nil
	})
}

// TerminateLease ends an active lease early.
type TerminateLease struct {
	Target
	EffectiveDate *string // YYYY-MM-DD; today (UTC) when absent
	Reason        *string
}

// Terminate handles TerminateLease and releases the lease's dates.
func (h *Leases) Terminate(ctx context.Context, cmd TerminateLease) (Result, error) {
	ctx = withCommand(ctx, "TerminateLease")
	var f inputFields
	effective := f.date("effective_date", cmd.EffectiveDate)
	var reason string
	if cmd.Reason != nil {
		reason = *cmd.Reason
	}
	today := domain.DateOf(h.now())
	return h.change(ctx, cmd.Target, func(store eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		events, err := l.Terminate(effective, reason, today)
		if err := f.Join(err); err != nil {
			return nil, err
		}
		if err := store.ReleasePeriod(ctx, l.ID()); err != nil {
			return nil, err
		}
		return events, nil
	})
}

// ExpireDue ends every active lease whose end date is before today, as EndDue
// does, and returns how many it expired (auto-renewed leases are not counted).
func (h *Leases) ExpireDue(ctx context.Context, today domain.Date) (int, error) {
	report, err := h.EndDue(ctx, today)
	return report.Expired, err
}

// LeaseEndReport tells what EndDue did.
type LeaseEndReport struct {
	Expired     int         // leases expired (overlapping ones included)
	Renewed     int         // leases renewed automatically
	Overlapping []uuid.UUID // auto_renew leases expired because a renewal would overlap another lease
}

// EndDue ends every active lease whose end date is before today, each in its own
// transaction: one with auto_renew renews for the same term length as its last
// term (as often as it takes to reach today), any other expires. A renewal that
// would overlap another lease of the property expires the lease instead, and
// names it in Overlapping. Leases that are no longer active or were renewed
// meanwhile are skipped, so running it again changes nothing. The events carry no
// actor; their command is "ExpireLease" or "AutoRenewLease". A lease that cannot
// be ended does not stop the others: the errors are returned joined.
func (h *Leases) EndDue(ctx context.Context, today domain.Date) (LeaseEndReport, error) {
	ids, err := h.store.PeriodsEndedBefore(ctx, today.Time())
	if err != nil {
		return LeaseEndReport{}, err
	}
	var (
		report LeaseEndReport
		errs   []error
	)
	for _, id := range ids {
		outcome, err := h.end(ctx, id, today)
		if err != nil {
			errs = append(errs, fmt.Errorf("end lease %s: %w", id, err))
			continue
		}
		switch outcome {
		case leaseExpired:
			report.Expired++
		case leaseRenewed:
			report.Renewed++
		case leaseOverlapExpired:
			report.Expired++
			report.Overlapping = append(report.Overlapping, id)
		}
	}
	return report, errors.Join(errs...)
}

type leaseEndOutcome int

const (
	leaseUnchanged leaseEndOutcome = iota
	leaseExpired
	leaseRenewed
	leaseOverlapExpired
)

// end renews or expires one lease if it is active and ended before today.
func (h *Leases) end(ctx context.Context, id uuid.UUID, today domain.Date) (leaseEndOutcome, error) {
	l, err := loadLease(ctx, h.store, id)
	if err != nil || !l.Exists() {
		return leaseUnchanged, err
	}
	command := "ExpireLease"
	if l.Terms().AutoRenew {
		command = "AutoRenewLease"
	}
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{
		CorrelationID: eventstore.MetadataFrom(ctx).CorrelationID, Command: command,
	})
	outcome := leaseUnchanged
	err = atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, propertyLock(l.PropertyID())); err != nil {
			return err
		}
		_, err := update(ctx, store, leaseStream(id), nil, newLease,
			func(*domain.Lease) error { return nil },
			func(l *domain.Lease) ([]domain.Event, error) {
				outcome = leaseUnchanged
				renewal, err := l.RenewAutomatically(today)
				switch {
				case err == nil:
					end := renewal[len(renewal)-1].(*domain.LeaseRenewed).EndDate
					// In a savepoint: an overlap must not abort the transaction.
					err := store.Atomically(ctx, func(sp eventstore.Store) error {
						return sp.ReservePeriod(ctx, l.PropertyID(), l.ID(), l.Terms().StartDate.Time(), end.Time())
					})
					if err == nil {
						outcome = leaseRenewed
						return renewal, nil
					}
					if !errors.Is(err, eventstore.ErrPeriodTaken) {
						return nil, err
					}
					outcome = leaseOverlapExpired
				case !errors.Is(err, domain.ErrLeaseNotAutoRenew):
					return nil, err
				}
				events, err := l.Expire(today)
				if err != nil {
					return nil, err
				}
				if err := store.ReleasePeriod(ctx, l.ID()); err != nil {
					return nil, err
				}
				if outcome == leaseUnchanged {
					outcome = leaseExpired
				}
				return events, nil
			})
		if errors.Is(err, domain.ErrLeaseNotActive) || errors.Is(err, domain.ErrLeaseNotYetEnded) {
			outcome = leaseUnchanged
			return nil // ended otherwise, or renewed meanwhile
		}
		return err
	})
	if err != nil {
		return leaseUnchanged, err
	}
	return outcome, nil
}

// change runs decide on a lease the actor may see, in one transaction under its
// property's lock, and appends the events decide returns.
func (h *Leases) change(ctx context.Context, t Target,
	decide func(eventstore.Store, *domain.Lease) ([]domain.Event, error)) (Result, error) {
	l, err := visibleLease(ctx, h.store, t.Actor, t.ID)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, propertyLock(l.PropertyID())); err != nil {
			return err
		}
		var err error
		res, err = update(ctx, store, leaseStream(t.ID), t.IfMatch, newLease,
			leaseOnVisibleProperty(ctx, store, t.Actor),
			func(l *domain.Lease) ([]domain.Event, error) { return decide(store, l) })
		return err
	})
	return res, err
}

func newLease() *domain.Lease { return &domain.Lease{} }

// leaseOnVisibleProperty is the authorize step of a command on a lease: the actor
// sees the lease's property.
func leaseOnVisibleProperty(ctx context.Context, store eventstore.Store, actor Actor) func(*domain.Lease) error {
	return func(l *domain.Lease) error {
		_, err := visibleProperty(ctx, store, actor, l.PropertyID())
		return err
	}
}
