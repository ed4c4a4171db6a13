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

// Maintenance handles the maintenance request commands.
//
// Who may act: admins and managers on every request; a user on the requests of
// the properties it owns; a user who is a request's assignee on the work itself
// (schedule, start, complete), but not on what the work is or who does it
// (details, assign, cancel), which is 403 since it can see the request. Anyone
// else gets 404.
type Maintenance struct {
	store   eventstore.Store
	tenants TenantVisibility
	now     func() time.Time
}

// NewMaintenance refuses nil dependencies.
func NewMaintenance(store eventstore.Store, tenants TenantVisibility) (*Maintenance, error) {
	if store == nil || tenants == nil {
		return nil, errors.New("commands: NewMaintenance needs a store and a tenant visibility check")
	}
	return &Maintenance{store: store, tenants: tenants, now: time.Now}, nil
}

// RequestMaintenance files a new request on a property for a tenant. Costs are
// the client's raw numbers, parsed exactly here.
type RequestMaintenance struct {
	Actor         Actor
	ID            *uuid.UUID // client-supplied id, optional
	PropertyID    uuid.UUID
	TenantID      uuid.UUID
	Title         string
	Description   string
	Priority      *string // nil is medium
	EstimatedCost *json.Number
}

// Request handles RequestMaintenance. The property and the tenant must exist and
// be visible to the actor; one the actor may not see is reported exactly like one
// that does not exist, so that a request cannot probe another owner's ids. Repeating a create with the same id and
// body answers the existing request and writes nothing; another body is a conflict.
func (h *Maintenance) Request(ctx context.Context, cmd RequestMaintenance) (Result, error) {
	ctx = withCommand(ctx, "RequestMaintenance")
	var parsed inputFields
	cost := parsed.optionalMoney("estimated_cost", cmd.EstimatedCost)
	priority := domain.PriorityMedium
	if cmd.Priority != nil {
		priority = strictMaintenancePriority(*cmd.Priority)
	}
	property, err := loadProperty(ctx, h.store, cmd.PropertyID)
	if err != nil {
		return Result{}, err
	}
	if property.Exists() && canSee(cmd.Actor, property) != nil {
		property = &domain.Property{} // invisible is absent: never leak another owner's property
	}
	tenant, err := loadTenant(ctx, h.store, cmd.TenantID)
	if err != nil {
		return Result{}, err
	}
	if tenant.Exists() {
		access, err := tenantAccess(ctx, h.tenants, cmd.Actor, cmd.TenantID, tenant)
		if err != nil {
			return Result{}, err
		}
		if !domain.MayReferTenant(access) {
			tenant = &domain.Tenant{}
		}
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	events, err := domain.RequestMaintenance(id, property, tenant, domain.MaintenanceDetails{
		Title: cmd.Title, Description: cmd.Description, Priority: priority, EstimatedCost: cost,
	})
	if err := parsed.Join(err); err != nil {
		return Result{}, err
	}
	stream := maintenanceStream(id)
	return createOnce(ctx, h.store, stream, once[*domain.MaintenanceRequest]{newAgg: newMaintenanceRequest,
		visible: func(m *domain.MaintenanceRequest) error { return h.authorize(ctx, cmd.Actor, m, maintenanceForWork) },
		same:    sameFirst[*domain.MaintenanceRequest](events[0])}, func() (Result, error) {
		return appendCreated(ctx, h.store, stream, events)
	})
}

// MaintenancePatch changes some of a request's details; an unset field stays as it is.
type MaintenancePatch struct {
	Title, Description, Priority Optional[string]
	EstimatedCost                Optional[json.Number]
}

// apply returns the patched details and what of the patch could not be parsed.
func (patch MaintenancePatch) apply(d domain.MaintenanceDetails) (domain.MaintenanceDetails, inputFields) {
	var parsed inputFields
	patch.Title.applyRequired(&d.Title)
	patch.Description.applyRequired(&d.Description)
	if patch.Priority.Set {
		var s string
		patch.Priority.applyRequired(&s)
		d.Priority = strictMaintenancePriority(s)
	}
	if patch.EstimatedCost.Set {
		d.EstimatedCost = parsed.optionalMoney("estimated_cost", patch.EstimatedCost.Value)
	}
	return d, parsed
}

// ChangeMaintenance applies a merge patch to a request's details.
type ChangeMaintenance struct {
	Target
	Patch MaintenancePatch
}

// Change handles ChangeMaintenance.
func (h *Maintenance) Change(ctx context.Context, cmd ChangeMaintenance) (Result, error) {
	ctx = withCommand(ctx, "ChangeMaintenance")
	return h.update(ctx, cmd.Target, maintenanceForOwner,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) {
			details, parsed := cmd.Patch.apply(m.Details())
			return parsed.decided(m.ChangeDetails(details))
		})
}

// AssignMaintenance hands a request to an existing user.
type AssignMaintenance struct {
	Target
	AssignedTo uuid.UUID
}

// Assign handles AssignMaintenance.
func (h *Maintenance) Assign(ctx context.Context, cmd AssignMaintenance) (Result, error) {
	ctx = withCommand(ctx, "AssignMaintenance")
	return h.update(ctx, cmd.Target, maintenanceForOwner,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) {
			assignee, err := loadUser(ctx, h.store, cmd.AssignedTo)
			if err != nil {
				return nil, err
			}
			return m.Assign(assignee)
		})
}

// ScheduleMaintenance plans the work; ScheduledDate is an RFC 3339 timestamp.
type ScheduleMaintenance struct {
	Target
	ScheduledDate *string
}

// Schedule handles ScheduleMaintenance.
func (h *Maintenance) Schedule(ctx context.Context, cmd ScheduleMaintenance) (Result, error) {
	ctx = withCommand(ctx, "ScheduleMaintenance")
	return h.update(ctx, cmd.Target, maintenanceForWork,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) {
			var parsed inputFields
			at := parsed.timestamp("scheduled_date", cmd.ScheduledDate)
			if err := parsed.Join(nil); err != nil {
				return nil, err
			}
			return m.Schedule(at)
		})
}

// Start begins work on an assigned request.
func (h *Maintenance) Start(ctx context.Context, target Target) (Result, error) {
	ctx = withCommand(ctx, "StartMaintenance")
	return h.update(ctx, target, maintenanceForWork,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) { return m.Start() })
}

// CompleteMaintenance finishes a request in progress at its actual cost.
type CompleteMaintenance struct {
	Target
	ActualCost *json.Number
}

// Complete handles CompleteMaintenance.
func (h *Maintenance) Complete(ctx context.Context, cmd CompleteMaintenance) (Result, error) {
	ctx = withCommand(ctx, "CompleteMaintenance")
	return h.update(ctx, cmd.Target, maintenanceForWork,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) {
			var parsed inputFields
			cost := parsed.optionalMoney("actual_cost", cmd.ActualCost)
			if err := parsed.Join(nil); err != nil {
				return nil, err
			}
			return m.Complete(cost)
		})
}

// Cancel withdraws a request.
func (h *Maintenance) Cancel(ctx context.Context, cmd Transition) (Result, error) {
	ctx = withCommand(ctx, "CancelMaintenance")
	return h.update(ctx, cmd.Target, maintenanceForOwner,
		func(m *domain.MaintenanceRequest) ([]domain.Event, error) { return m.Cancel(cmd.Reason) })
}

// maintenanceAccess is what a command needs of the actor.
type maintenanceAccess int

const (
	// maintenanceForOwner: admin, manager or the property's owner.
	maintenanceForOwner maintenanceAccess = iota
	// maintenanceForWork: those, or the request's assignee.
	maintenanceForWork
)

// authorize is the owner isolation rule for one request: ErrNotFound for what the
// actor may not see, ErrRoleForbidden for an assignee asking for an owner's action.
func (h *Maintenance) authorize(ctx context.Context, actor Actor, m *domain.MaintenanceRequest, need maintenanceAccess) error {
	var owner *uuid.UUID
	if !actor.SeesAllProperties() {
		p, err := loadProperty(ctx, h.store, m.PropertyID())
		if err != nil {
			return err
		}
		owner = p.OwnerID()
	}
	a := domain.MaintenanceAccess(actor, owner, m.AssignedTo())
	if a == domain.AccessAssigned && need == maintenanceForWork {
		return nil
	}
	return a.Change()
}

func (h *Maintenance) update(ctx context.Context, t Target, need maintenanceAccess,
	decide func(*domain.MaintenanceRequest) ([]domain.Event, error)) (Result, error) {
	return update(ctx, h.store, maintenanceStream(t.ID), t.IfMatch, newMaintenanceRequest,
		func(m *domain.MaintenanceRequest) error { return h.authorize(ctx, t.Actor, m, need) },
		decide)
}

func newMaintenanceRequest() *domain.MaintenanceRequest { return &domain.MaintenanceRequest{} }

// strictMaintenancePriority parses a priority the client sent; unlike domain.ParsePriority,
// an explicit empty string is refused rather than read as the default.
func strictMaintenancePriority(s string) domain.Priority {
	if s == "" {
		return domain.Priority{}
	}
	return domain.ParsePriority(s)
}
