package commands

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// TenantVisibility answers whether a user may see a tenant because the tenant
// leases one of the user's properties (registering it is the other way).
type TenantVisibility interface {
	TenantLeasesFrom(ctx context.Context, tenantID, ownerID uuid.UUID) (bool, error)
	// LiveDocumentsOf lists the documents attached to an entity and not deleted.
	LiveDocumentsOf(ctx context.Context, entityType string, entityID uuid.UUID) ([]uuid.UUID, error)
}

// Tenants handles the tenant commands. Its store seals the tenants' personal data
// with their data keys (tenantdata.go).
type Tenants struct {
	store      eventstore.Store
	visibility TenantVisibility
	now        func() time.Time
}

// NewTenants refuses nil dependencies. keyring holds the master key that wraps
// every tenant's data key.
func NewTenants(store eventstore.Store, visibility TenantVisibility, keyring *eventstore.Keyring) (*Tenants, error) {
	if store == nil || visibility == nil || keyring == nil {
		return nil, errors.New("commands: NewTenants needs a store, a visibility check and a keyring")
	}
	return &Tenants{store: sealingStore{Store: store, keyring: keyring}, visibility: visibility, now: time.Now}, nil
}

func newTenant() *domain.Tenant { return &domain.Tenant{} }

// mayChange is the rule for changing one tenant (domain.TenantAccess): full access
// changes it; a tenant seen only for its contact (another account registered it,
// a lease on one of the actor's properties names it) is ErrRoleForbidden; anything
// else is ErrNotFound.
func (h *Tenants) mayChange(ctx context.Context, actor Actor, id uuid.UUID, t *domain.Tenant) error {
	a, err := tenantAccess(ctx, h.visibility, actor, id, t)
	if err != nil {
		return err
	}
	return a.Change()
}

// tenantFieldErrors collects the input problems found before the domain decides, so
// that they come back together with the domain's own in one ValidationError.
type tenantFieldErrors []domain.FieldError

func (f *tenantFieldErrors) add(field, message string) {
	*f = append(*f, domain.FieldError{Field: field, Message: message})
}

// join returns every field problem of f and of err as one error; any other error
// is returned as it is.
func (f tenantFieldErrors) join(err error) error {
	var ve *domain.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	all := append([]domain.FieldError(nil), f...)
	if ve != nil {
		all = append(all, ve.Fields...)
	}
	if len(all) == 0 {
		return nil
	}
	return &domain.ValidationError{Fields: all}
}

// parseIncome reads an exact income; the domain checks its range and places.
func (f *tenantFieldErrors) parseIncome(n *json.Number) *decimal.Decimal {
	if n == nil {
		return nil
	}
	d, err := domain.ParseDecimal(n.String())
	if err != nil {
		f.add("income", err.Error())
		return nil
	}
	return &d
}

// RegisterTenant registers a tenant, registered by the actor.
type RegisterTenant struct {
	Actor                 Actor
	ID                    *uuid.UUID // client-supplied id, optional
	FirstName             string
	LastName              string
	Email                 string
	Phone                 *string
	SSNLastFour           *string
	DateOfBirth           *string // YYYY-MM-DD
	CreditScore           *int
	Income                *json.Number
	BackgroundCheckStatus *string
}

// Register handles RegisterTenant. Repeating a create with the same id and body
// answers the existing tenant and writes nothing; another body is a conflict.
func (h *Tenants) Register(ctx context.Context, cmd RegisterTenant) (Result, error) {
	ctx = withCommand(ctx, "RegisterTenant")
	var bad tenantFieldErrors
	var dob *domain.Date
	if cmd.DateOfBirth != nil {
		d, err := domain.ParseDate(*cmd.DateOfBirth)
		if err != nil {
			bad.add("date_of_birth", err.Error())
		} else {
			dob = &d
		}
	}
	income := bad.parseIncome(cmd.Income)
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	events, err := domain.RegisterTenant(domain.NewTenantInput{
		ID: id, RegisteredBy: cmd.Actor.UserID,
		Contact:     domain.TenantContact{FirstName: cmd.FirstName, LastName: cmd.LastName, Email: cmd.Email, Phone: cmd.Phone},
		SSNLastFour: cmd.SSNLastFour, DateOfBirth: dob,
		Screening: domain.TenantScreening{
			CreditScore: cmd.CreditScore, Income: income, BackgroundCheckStatus: cmd.BackgroundCheckStatus,
		},
	}, domain.DateOf(h.now()))
	if err := bad.join(err); err != nil {
		return Result{}, err
	}
	stream := tenantStream(id)
	appended, err := h.store.Append(ctx, stream, 0, toNew(events)...)
	if errors.Is(err, eventstore.ErrConcurrency) {
		return h.repeatedCreate(ctx, cmd.Actor, stream, events[0])
	}
	if err != nil {
		return Result{}, err
	}
	return Result{ID: id, Version: appended.Version, Created: true, Checkpoint: appended.Checkpoint}, nil
}

// repeatedCreate answers a create whose id exists: the same registration is the
// same tenant again, anything else (another body, another registrar, a tenant the
// actor may not see, an erased tenant) is a conflict.
func (h *Tenants) repeatedCreate(ctx context.Context, actor Actor, stream eventstore.StreamID, want domain.Event) (Result, error) {
	t, err := loadTenant(ctx, h.store, stream.ID)
	if err != nil {
		return Result{}, err
	}
	if err := h.mayChange(ctx, actor, stream.ID, t); errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrRoleForbidden) {
		return Result{}, domain.ErrAlreadyExists // the id is taken, by something that is not the actor's
	} else if err != nil {
		return Result{}, err
	}
	if t.Erased() {
		return Result{}, domain.ErrAlreadyExists
	}
	got, err := firstEvent(ctx, h.store, stream)
	if err != nil {
		return Result{}, err
	}
	if got == nil {
		return Result{}, domain.ErrAlreadyExists
	}
	same, err := sameJSON(got, want)
	if err != nil {
		return Result{}, err
	}
	if !same {
		return Result{}, domain.ErrAlreadyExists
	}
	return Result{ID: stream.ID, Version: t.Version()}, nil
}

// TenantContactPatch changes some contact fields; an unset field stays as it is.
type TenantContactPatch struct {
	FirstName, LastName, Email, Phone Optional[string]
}

func (patch TenantContactPatch) apply(c domain.TenantContact) domain.TenantContact {
	patch.FirstName.applyRequired(&c.FirstName)
	patch.LastName.applyRequired(&c.LastName)
	patch.Email.applyRequired(&c.Email)
	patch.Phone.applyTo(&c.Phone)
	return c
}

// ChangeTenantContact applies a contact patch.
type ChangeTenantContact struct {
	Actor   Actor
	ID      uuid.UUID
	IfMatch *int64
	Patch   TenantContactPatch
}

// ChangeContact handles ChangeTenantContact; the same contact again records nothing.
func (h *Tenants) ChangeContact(ctx context.Context, cmd ChangeTenantContact) (Result, error) {
	ctx = withCommand(ctx, "ChangeTenantContact")
	return update(ctx, h.store, tenantStream(cmd.ID), cmd.IfMatch, newTenant,
		func(t *domain.Tenant) error { return h.mayChange(ctx, cmd.Actor, cmd.ID, t) },
		func(t *domain.Tenant) ([]domain.Event, error) {
			return t.ChangeContact(cmd.Patch.apply(t.Contact()))
		})
}

// RecordTenantScreening records a screening result; fields not given keep their
// earlier result.
type RecordTenantScreening struct {
	Actor                 Actor
	ID                    uuid.UUID
	IfMatch               *int64
	CreditScore           *int
	Income                *json.Number
	BackgroundCheckStatus *string
}

// RecordScreening handles RecordTenantScreening.
func (h *Tenants) RecordScreening(ctx context.Context, cmd RecordTenantScreening) (Result, error) {
	ctx = withCommand(ctx, "RecordTenantScreening")
	return update(ctx, h.store, tenantStream(cmd.ID), cmd.IfMatch, newTenant,
		func(t *domain.Tenant) error { return h.mayChange(ctx, cmd.Actor, cmd.ID, t) },
		func(t *domain.Tenant) ([]domain.Event, error) {
			var bad tenantFieldErrors
			s := domain.TenantScreening{
				CreditScore: cmd.CreditScore, Income: bad.parseIncome(cmd.Income),
				BackgroundCheckStatus: cmd.BackgroundCheckStatus,
			}
			if len(bad) > 0 && s.CreditScore == nil && s.BackgroundCheckStatus == nil {
				// Only the income was given, and it is not a number: that is the one problem.
				return nil, bad.join(nil)
			}
			events, err := t.RecordScreening(s)
			if err := bad.join(err); err != nil {
				return nil, err
			}
			return events, nil
		})
}

// EraseTenant erases a tenant's personal data.
type EraseTenant struct {
	Actor   Actor
	ID      uuid.UUID
	IfMatch *int64
}

// Erase handles EraseTenant: in one transaction it shreds the tenant's data key,
// so that every sealed field of its events is unreadable for good, forgets the
// stored answers that held its data in clear, and records TenantPersonalDataErased.
// Only an admin or the owning user may erase (domain.Tenant.MayErase): others who
// may see the tenant are refused with ErrEraseForbidden, anyone else gets
// ErrNotFound. Erasing again records nothing.
func (h *Tenants) Erase(ctx context.Context, cmd EraseTenant) (Result, error) {
	ctx = withCommand(ctx, "EraseTenant")
	return update(ctx, h.store, tenantStream(cmd.ID), cmd.IfMatch, newTenant,
		func(t *domain.Tenant) error {
			if err := h.mayChange(ctx, cmd.Actor, cmd.ID, t); err != nil {
				return err
			}
			if !t.MayErase(cmd.Actor.UserID, cmd.Actor.Role) {
				return domain.ErrEraseForbidden
			}
			return nil
		},
		func(t *domain.Tenant) ([]domain.Event, error) { return t.ErasePersonalData(), nil })
}
