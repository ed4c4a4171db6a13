package commands

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
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
	journal    ErasureJournal // nil: erasures are recorded nowhere else
	log        *slog.Logger
}

// NewTenants refuses nil dependencies. keyring holds the master key that wraps
// every tenant's data key.
func NewTenants(store eventstore.Store, visibility TenantVisibility, keyring *tenantkeys.Keyring) (*Tenants, error) {
	if store == nil || visibility == nil || keyring == nil {
		return nil, errors.New("commands: NewTenants needs a store, a visibility check and a keyring")
	}
	return &Tenants{store: sealingStore{Store: store, keyring: keyring}, visibility: visibility, now: time.Now}, nil
}

func newTenant() *domain.Tenant { return &domain.Tenant{} }

// update runs decide on a tenant the actor may change (mayChange).
func (h *Tenants) update(ctx context.Context, target Target,
	decide func(*domain.Tenant) ([]domain.Event, error)) (Result, error) {
	return update(ctx, h.store, tenantStream(target.ID), target.IfMatch, newTenant,
		func(t *domain.Tenant) error { return h.mayChange(ctx, target.Actor, target.ID, t) }, decide)
}

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
	var bad inputFields
	var dob *domain.Date
	if cmd.DateOfBirth != nil {
		d, err := domain.ParseDate(*cmd.DateOfBirth)
		if err != nil {
			bad.Add("date_of_birth", err.Error())
		} else {
			dob = &d
		}
	}
	income := bad.optionalDecimal("income", cmd.Income)
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
	if err := bad.Join(err); err != nil {
		return Result{}, err
	}
	stream := tenantStream(id)
	return createOnce(ctx, h.store, stream, once[*domain.Tenant]{newAgg: newTenant,
		visible: func(t *domain.Tenant) error {
			if err := h.mayChange(ctx, cmd.Actor, id, t); errors.Is(err, domain.ErrRoleForbidden) {
				return domain.ErrNotFound // seen as a contact only: not the actor's to register again
			} else {
				return err
			}
		},
		same: func(t *domain.Tenant, first domain.Event) (bool, error) {
			if t.Erased() {
				return false, nil // its registration can no longer be compared
			}
			return sameJSON(first, events[0])
		}}, func() (Result, error) {
		return appendCreated(ctx, h.store, stream, events)
	})
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
	Target
	Patch TenantContactPatch
}

// ChangeContact handles ChangeTenantContact; the same contact again records nothing.
func (h *Tenants) ChangeContact(ctx context.Context, cmd ChangeTenantContact) (Result, error) {
	ctx = withCommand(ctx, "ChangeTenantContact")
	return h.update(ctx, cmd.Target, func(t *domain.Tenant) ([]domain.Event, error) {
		return t.ChangeContact(cmd.Patch.apply(t.Contact()))
	})
}

// RecordTenantScreening records a screening result; fields not given keep their
// earlier result.
type RecordTenantScreening struct {
	Target
	CreditScore           *int
	Income                *json.Number
	BackgroundCheckStatus *string
}

// RecordScreening handles RecordTenantScreening.
func (h *Tenants) RecordScreening(ctx context.Context, cmd RecordTenantScreening) (Result, error) {
	ctx = withCommand(ctx, "RecordTenantScreening")
	return h.update(ctx, cmd.Target, func(t *domain.Tenant) ([]domain.Event, error) {
		var bad inputFields
		s := domain.TenantScreening{
			CreditScore: cmd.CreditScore, Income: bad.optionalDecimal("income", cmd.Income),
			BackgroundCheckStatus: cmd.BackgroundCheckStatus,
		}
		if bad.Len() > 0 && s.CreditScore == nil && s.BackgroundCheckStatus == nil {
			// Only the income was given, and it is not a number: that is the one problem.
			return nil, bad.Join(nil)
		}
		return bad.decided(t.RecordScreening(s))
	})
}
