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
	TenantID        *uuid.UUID
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
	var f leaseFieldErrors
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
	propertyID, tenantID := f.requiredID("property_id", cmd.PropertyID), f.requiredID("tenant_id", cmd.TenantID)
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	want := &domain.LeaseSigned{LeaseID: id, PropertyID: propertyID, TenantID: tenantID, Terms: terms}

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
			res, err = repeatedSign(ctx, store, cmd.Actor, existing, want)
			return err
		}
		property, err := loadProperty(ctx, store, propertyID)
		if err != nil {
			return err
		}
		if property.Exists() && canSee(cmd.Actor, property) != nil {
			property = &domain.Property{} // invisible: no such property, as far as the actor knows
		}
		tenant, err := loadTenant(ctx, store, tenantID)
		if err != nil {
			return err
		}
		if tenant.Exists() && !leaseMayUseTenant(cmd.Actor, tenant) {
			tenant = &domain.Tenant{}
		}
		events, err := domain.SignLease(id, property, tenant, terms, domain.DateOf(h.now()))
		if len(f) > 0 && errors.Is(err, domain.ErrPropertyNotActive) {
			err = nil // bad fields are reported first, as the domain itself does
		}
		if err := f.join(err); err != nil {
			return err
		}
		err = store.ReservePeriod(ctx, propertyID, id, terms.StartDate.Time(), terms.EndDate.Time())
		if errors.Is(err, eventstore.ErrPeriodTaken) {
			return domain.ErrLeaseOverlap
		}
		if err != nil {
			return err
		}
		appended, err := store.Append(ctx, leaseStream(id), 0, toNew(events)...)
		if err != nil {
			return err
		}
		res = Result{ID: id, Version: appended.Version, Created: true, Checkpoint: appended.Checkpoint}
		return nil
	})
	if errors.Is(err, eventstore.ErrConcurrency) {
		// A signing with the same id committed first, under another property's lock.
		existing, err := loadLease(ctx, h.store, id)
		if err != nil {
			return Result{}, err
		}
		return repeatedSign(ctx, h.store, cmd.Actor, existing, want)
	}
	return res, err
}

// repeatedSign answers a signing whose id exists: the same body is the same lease
// again, anything else (or a lease the actor may not see) is a conflict.
func repeatedSign(ctx context.Context, store eventstore.Store, actor Actor, existing *domain.Lease, want *domain.LeaseSigned) (Result, error) {
	if _, err := visibleProperty(ctx, store, actor, existing.PropertyID()); err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return Result{}, domain.ErrAlreadyExists // the id is taken, by something the actor may not see
		}
		return Result{}, err
	}
	events, err := store.ReadStream(ctx, leaseStream(existing.ID()), time.Time{})
	if err != nil {
		return Result{}, err
	}
	if len(events) == 0 {
		return Result{}, domain.ErrAlreadyExists
	}
	got, err := domain.DecodeEvent(events[0].Type, events[0].Data)
	if err != nil {
		return Result{}, err
	}
	same, err := sameJSON(got, want)
	if err != nil {
		return Result{}, err
	}
	if !same {
		return Result{}, domain.ErrAlreadyExists
	}
	// The checkpoint of the lease's last event: the answer waits until the read
	// model has it, even when the first signing is still being projected.
	last := events[len(events)-1]
	return Result{ID: existing.ID(), Version: last.Version, Checkpoint: last.Checkpoint()}, nil
}

// leaseMayUseTenant is whether the actor may name the tenant on a lease
// (domain.MayLeaseTenant): only with full access, which a lease alone never gives.
func leaseMayUseTenant(actor Actor, t *domain.Tenant) bool {
	return domain.MayLeaseTenant(domain.TenantAccess(actor, t.RegisteredBy(), false))
}

// RenewLease extends an active lease to a later end date, optionally at a new rent.
type RenewLease struct {
	Actor      Actor
	ID         uuid.UUID
	IfMatch    *int64
	EndDate    *string      // YYYY-MM-DD, required
	RentAmount *json.Number // optional new rent
}

// Renew handles RenewLease. The longer period is reserved under the property's
// lock: a renewal into another active lease's dates is ErrLeaseOverlap.
func (h *Leases) Renew(ctx context.Context, cmd RenewLease) (Result, error) {
	ctx = withCommand(ctx, "RenewLease")
	var f leaseFieldErrors
	end := f.date("end_date", cmd.EndDate)
	rent := f.optionalMoney("rent_amount", cmd.RentAmount)
	return h.change(ctx, cmd.Actor, cmd.ID, cmd.IfMatch, func(store eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		events, err := l.Renew(end, rent)
		if err := f.join(err); err != nil {
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
	Actor         Actor
	ID            uuid.UUID
	IfMatch       *int64
	EffectiveDate *string // YYYY-MM-DD; today (UTC) when absent
	Reason        *string
}

// Terminate handles TerminateLease and releases the lease's dates.
func (h *Leases) Terminate(ctx context.Context, cmd TerminateLease) (Result, error) {
	ctx = withCommand(ctx, "TerminateLease")
	var f leaseFieldErrors
	effective := f.date("effective_date", cmd.EffectiveDate)
	var reason string
	if cmd.Reason != nil {
		reason = *cmd.Reason
	}
	today := domain.DateOf(h.now())
	return h.change(ctx, cmd.Actor, cmd.ID, cmd.IfMatch, func(store eventstore.Store, l *domain.Lease) ([]domain.Event, error) {
		events, err := l.Terminate(effective, reason, today)
		if err := f.join(err); err != nil {
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
func (h *Leases) change(ctx context.Context, actor Actor, id uuid.UUID, ifMatch *int64,
	decide func(eventstore.Store, *domain.Lease) ([]domain.Event, error)) (Result, error) {
	l, err := visibleLease(ctx, h.store, actor, id)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, propertyLock(l.PropertyID())); err != nil {
			return err
		}
		var err error
		res, err = update(ctx, store, leaseStream(id), ifMatch, newLease,
			func(l *domain.Lease) error {
				_, err := visibleProperty(ctx, store, actor, l.PropertyID())
				return err
			},
			func(l *domain.Lease) ([]domain.Event, error) { return decide(store, l) })
		return err
	})
	return res, err
}

func newLease() *domain.Lease { return &domain.Lease{} }

// leaseFieldErrors collects input that could not be parsed, so that it is reported
// in one 422 together with what the domain refuses.
type leaseFieldErrors []domain.FieldError

func (f *leaseFieldErrors) add(field, message string) {
	*f = append(*f, domain.FieldError{Field: field, Message: message})
}

// date parses a YYYY-MM-DD date; absent is the zero date, which the domain
// refuses where a date is required.
func (f *leaseFieldErrors) date(field string, s *string) domain.Date {
	if s == nil {
		return domain.Date{}
	}
	d, err := domain.ParseDate(*s)
	if err != nil {
		f.add(field, err.Error())
	}
	return d
}

// requiredMoney parses an exact amount with at most two decimal places.
func (f *leaseFieldErrors) requiredMoney(field string, n *json.Number) domain.Money {
	if n == nil {
		f.add(field, "is required")
		return domain.Money{}
	}
	if m := f.optionalMoney(field, n); m != nil {
		return *m
	}
	return domain.Money{}
}

// optionalMoney is requiredMoney for an amount that may be absent (nil).
func (f *leaseFieldErrors) optionalMoney(field string, n *json.Number) *domain.Money {
	if n == nil {
		return nil
	}
	m, err := domain.ParseMoneyText(n.String())
	if err != nil {
		f.add(field, err.Error())
		return nil
	}
	return &m
}

func (f *leaseFieldErrors) requiredID(field string, id *uuid.UUID) uuid.UUID {
	if id == nil || *id == uuid.Nil {
		f.add(field, "is required")
		return uuid.Nil
	}
	return *id
}

// join adds the collected field errors to the domain's verdict: one
// ValidationError holds them all, and a field that failed to parse is reported
// once, with the parse problem (the domain only saw a zero value). Any other
// refusal (a state conflict) wins as it is.
func (f leaseFieldErrors) join(err error) error {
	if len(f) == 0 {
		return err
	}
	if err == nil {
		return &domain.ValidationError{Fields: f}
	}
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	fields := append([]domain.FieldError(nil), f...)
	for _, fe := range ve.Fields {
		if !f.has(fe.Field) {
			fields = append(fields, fe)
		}
	}
	return &domain.ValidationError{Fields: fields}
}

func (f leaseFieldErrors) has(field string) bool {
	for _, fe := range f {
		if fe.Field == field {
			return true
		}
	}
	return false
}
