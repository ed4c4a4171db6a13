package commands

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Properties handles the property commands.
type Properties struct {
	store eventstore.Store
}

// NewProperties refuses nil dependencies.
func NewProperties(store eventstore.Store) (*Properties, error) {
	if store == nil {
		return nil, errors.New("commands: NewProperties needs a store")
	}
	return &Properties{store: store}, nil
}

// propertyLock serialises the commands that read and change a property's leasing
// state together: signing or renewing a lease, and archiving the property.
func propertyLock(id uuid.UUID) string { return "property:" + id.String() }

func propertyStream(id uuid.UUID) eventstore.StreamID {
	return eventstore.StreamID{Type: domain.PropertyStreamType, ID: id}
}

// canSee is ErrNotFound for a property the actor may not see (domain.PropertyAccess).
func canSee(actor Actor, p *domain.Property) error {
	return domain.PropertyAccess(actor, p.OwnerID()).Read()
}

// RegisterProperty registers a property. A user owns what it registers; an admin
// or manager names the owner (or none).
type RegisterProperty struct {
	Actor   Actor
	ID      *uuid.UUID // client-supplied id, optional
	OwnerID *uuid.UUID
	Details domain.PropertyDetails
}

// Register handles RegisterProperty. Repeating a create with the same id and body
// answers the existing property and writes nothing; another body is a conflict.
func (h *Properties) Register(ctx context.Context, cmd RegisterProperty) (Result, error) {
	ctx = withCommand(ctx, "RegisterProperty")
	owner := cmd.OwnerID
	if !domain.NamesOwners(cmd.Actor) {
		if owner != nil && *owner != cmd.Actor.UserID {
			return Result{}, domain.ErrRoleForbidden
		}
		owner = &cmd.Actor.UserID
	} else if owner != nil {
		if err := h.requireUser(ctx, *owner); err != nil {
			return Result{}, err
		}
	}
	id := uuid.New()
	if cmd.ID != nil {
		id = *cmd.ID
	}
	events, err := domain.RegisterProperty(id, owner, cmd.Details)
	if err != nil {
		return Result{}, err
	}
	stream := propertyStream(id)
	return createOnce(ctx, h.store, stream, once[*domain.Property]{newAgg: newProperty,
		visible: func(p *domain.Property) error { return canSee(cmd.Actor, p) }, same: sameFirst[*domain.Property](events[0])}, func() (Result, error) {
		return appendCreated(ctx, h.store, stream, events)
	})
}

func (h *Properties) requireUser(ctx context.Context, id uuid.UUID) error {
	u, err := loadUser(ctx, h.store, id)
	if err != nil {
		return err
	}
	if !u.Exists() {
		return &domain.ValidationError{Fields: []domain.FieldError{{Field: "owner_id", Message: "no such user"}}}
	}
	return nil
}

// PropertyPatch changes some of a property's fields; an unset field stays as it is.
type PropertyPatch struct {
	Name, Address, City, State, ZipCode, PropertyType Optional[string]
	Bedrooms, SquareFeet, YearBuilt                   Optional[int]
	Bathrooms                                         Optional[json.Number]
	Description                                       Optional[string]
	OwnerID                                           Optional[uuid.UUID]
}

// ChangeProperty applies a patch.
type ChangeProperty struct {
	Target
	Patch PropertyPatch
}

// Change handles ChangeProperty: details for anyone who sees the property, the
// owner only for admins and managers.
func (h *Properties) Change(ctx context.Context, cmd ChangeProperty) (Result, error) {
	ctx = withCommand(ctx, "ChangeProperty")
	if cmd.Patch.OwnerID.Set {
		if !domain.NamesOwners(cmd.Actor) {
			return Result{}, domain.ErrRoleForbidden
		}
		if cmd.Patch.OwnerID.Value != nil {
			if err := h.requireUser(ctx, *cmd.Patch.OwnerID.Value); err != nil {
				return Result{}, err
			}
		}
	}
	return updateProperty(ctx, h.store, cmd.Target, func(p *domain.Property) ([]domain.Event, error) {
		details, err := cmd.Patch.apply(p.Details())
		if err != nil {
			return nil, err
		}
		events, err := p.ChangeDetails(details)
		if err != nil {
			return nil, err
		}
		if cmd.Patch.OwnerID.Set {
			owner, _ := p.ChangeOwner(cmd.Patch.OwnerID.Value)
			events = append(events, owner...)
		}
		return events, nil
	})
}

func (patch PropertyPatch) apply(d domain.PropertyDetails) (domain.PropertyDetails, error) {
	patch.Name.applyRequired(&d.Name)
	patch.Address.applyRequired(&d.Address)
	patch.City.applyRequired(&d.City)
	patch.State.applyRequired(&d.State)
	patch.ZipCode.applyRequired(&d.ZipCode)
	if patch.PropertyType.Set {
		var s string
		patch.PropertyType.applyRequired(&s)
		d.PropertyType = domain.ParsePropertyType(s)
	}
	patch.Bedrooms.applyTo(&d.Bedrooms)
	patch.SquareFeet.applyTo(&d.SquareFeet)
	patch.YearBuilt.applyTo(&d.YearBuilt)
	patch.Description.applyTo(&d.Description)
	if patch.Bathrooms.Set {
		b, err := ParseBathrooms(patch.Bathrooms.Value)
		if err != nil {
			return d, err
		}
		d.Bathrooms = b
	}
	return d, nil
}

// ChangePropertyStatus moves a property to another status.
type ChangePropertyStatus struct {
	Target
	Status string
}

// ChangeStatus handles ChangePropertyStatus. Under the property's lock, an active
// lease (a held lease period) blocks archiving even while a signing races it.
func (h *Properties) ChangeStatus(ctx context.Context, cmd ChangePropertyStatus) (Result, error) {
	ctx = withCommand(ctx, "ChangePropertyStatus")
	var res Result
	err := atomically(ctx, h.store, func(store eventstore.Store) error {
		if err := store.Lock(ctx, propertyLock(cmd.ID)); err != nil {
			return err
		}
		var err error
		res, err = updateProperty(ctx, store, cmd.Target, func(p *domain.Property) ([]domain.Event, error) {
			to := domain.ParsePropertyStatus(cmd.Status)
			active, err := store.HasPeriods(ctx, p.ID())
			if err != nil {
				return nil, err
			}
			return p.ChangeStatus(to, active)
		})
		return err
	})
	return res, err
}

func newProperty() *domain.Property { return &domain.Property{} }

// updateProperty runs decide on a property the actor may see.
func updateProperty(ctx context.Context, store eventstore.Store, t Target,
	decide func(*domain.Property) ([]domain.Event, error)) (Result, error) {
	return update(ctx, store, propertyStream(t.ID), t.IfMatch, newProperty,
		func(p *domain.Property) error { return canSee(t.Actor, p) }, decide)
}
