package domain

// Property invariants:
//   - name, address, city, state, zip_code and property_type are always present;
//   - property_type is residential, commercial, industrial, land or mixed_use;
//   - status is active, inactive or archived;
//   - a property with an active lease cannot be archived;
//   - bedrooms, square_feet and year_built are sane non-negative counts, and
//     bathrooms fits NUMERIC(3,1).

import (
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// PropertyStreamType names property streams ("property-<uuid>").
const PropertyStreamType = "property"

// PropertyType is a kind of property.
type PropertyType struct{ name string }

var (
	PropertyResidential = PropertyType{"residential"}
	PropertyCommercial  = PropertyType{"commercial"}
	PropertyIndustrial  = PropertyType{"industrial"}
	PropertyLand        = PropertyType{"land"}
	PropertyMixedUse    = PropertyType{"mixed_use"}
)

var propertyTypes = enumOf(PropertyResidential, PropertyCommercial, PropertyIndustrial, PropertyLand, PropertyMixedUse)

func (t PropertyType) String() string                { return t.name }
func (t PropertyType) MarshalText() ([]byte, error)  { return []byte(t.name), nil }
func (t *PropertyType) UnmarshalText(b []byte) error { return propertyTypes.parse(string(b), t) }

// PropertyStatus is where a property stands.
type PropertyStatus struct{ name string }

var (
	PropertyActive   = PropertyStatus{"active"}
	PropertyInactive = PropertyStatus{"inactive"}
	PropertyArchived = PropertyStatus{"archived"}
)

var propertyStatuses = enumOf(PropertyActive, PropertyInactive, PropertyArchived)

func (s PropertyStatus) String() string                { return s.name }
func (s PropertyStatus) MarshalText() ([]byte, error)  { return []byte(s.name), nil }
func (s *PropertyStatus) UnmarshalText(b []byte) error { return propertyStatuses.parse(string(b), s) }

// PropertyDetails are the descriptive fields of a property.
type PropertyDetails struct {
	Name         string           `json:"name"`
	Address      string           `json:"address"`
	City         string           `json:"city"`
	State        string           `json:"state"`
	ZipCode      string           `json:"zip_code"`
	PropertyType PropertyType     `json:"property_type"`
	Bedrooms     *int             `json:"bedrooms,omitempty"`
	Bathrooms    *decimal.Decimal `json:"bathrooms,omitempty"`
	SquareFeet   *int             `json:"square_feet,omitempty"`
	YearBuilt    *int             `json:"year_built,omitempty"`
	Description  *string          `json:"description,omitempty"`
}

// Validate checks the details against the invariants.
func (d PropertyDetails) Validate() error {
	var v validator
	d.validate(&v)
	return v.err()
}

func (d PropertyDetails) validate(v *validator) {
	textField(v, "name", d.Name, true, 255)
	textField(v, "address", d.Address, true, 0)
	textField(v, "city", d.City, true, 100)
	textField(v, "state", d.State, true, 50)
	textField(v, "zip_code", d.ZipCode, true, 20)
	v.check(d.PropertyType != PropertyType{}, "property_type", "must be one of "+propertyTypes.list())
	if d.Bedrooms != nil {
		v.check(*d.Bedrooms >= 0 && *d.Bedrooms <= 1000, "bedrooms", "must be between 0 and 1000")
	}
	if d.Bathrooms != nil {
		b := *d.Bathrooms
		v.check(!b.IsNegative() && b.LessThan(decimal.NewFromInt(100)) && b.Round(1).Equal(b),
			"bathrooms", "must be between 0 and 99.9 with at most one decimal place")
	}
	if d.SquareFeet != nil {
		v.check(*d.SquareFeet > 0 && *d.SquareFeet <= math.MaxInt32, "square_feet", "must be positive and fit an INTEGER")
	}
	if d.Description != nil {
		textField(v, "description", *d.Description, false, 0)
	}
	if d.YearBuilt != nil {
		v.check(*d.YearBuilt >= 1000 && *d.YearBuilt <= 9999, "year_built", "must be a four-digit year")
	}
}

// Property events.
type (
	PropertyRegistered struct {
		PropertyID uuid.UUID       `json:"property_id"`
		OwnerID    *uuid.UUID      `json:"owner_id,omitempty"`
		Status     PropertyStatus  `json:"status"`
		Details    PropertyDetails `json:"details"`
	}
	PropertyDetailsChanged struct {
		Details PropertyDetails `json:"details"`
	}
	PropertyStatusChanged struct {
		From PropertyStatus `json:"from"`
		To   PropertyStatus `json:"to"`
	}
	PropertyOwnerChanged struct {
		OwnerID *uuid.UUID `json:"owner_id,omitempty"`
	}
)

func (PropertyRegistered) EventType() string     { return "PropertyRegistered" }
func (PropertyDetailsChanged) EventType() string { return "PropertyDetailsChanged" }
func (PropertyStatusChanged) EventType() string  { return "PropertyStatusChanged" }
func (PropertyOwnerChanged) EventType() string   { return "PropertyOwnerChanged" }

var propertyEvents = map[string]func() Event{
	"PropertyRegistered":     func() Event { return &PropertyRegistered{} },
	"PropertyDetailsChanged": func() Event { return &PropertyDetailsChanged{} },
	"PropertyStatusChanged":  func() Event { return &PropertyStatusChanged{} },
	"PropertyOwnerChanged":   func() Event { return &PropertyOwnerChanged{} },
}

// Property is the aggregate. It is rebuilt from its events; its fields change only
// through them.
type Property struct {
	id        uuid.UUID
	version   int64
	ownerID   *uuid.UUID
	status    PropertyStatus
	details   PropertyDetails
	lateFee   *LateFeePolicy
	createdAt time.Time
	updatedAt time.Time
}

// RegisterProperty validates a new property and records it.
func RegisterProperty(id uuid.UUID, ownerID *uuid.UUID, d PropertyDetails) ([]Event, error) {
	var v validator
	v.check(id != uuid.Nil, "id", "must not be the nil UUID")
	d.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&PropertyRegistered{PropertyID: id, OwnerID: ownerID, Status: PropertyActive, Details: d}}, nil
}

// ChangeDetails replaces the descriptive fields; unchanged details record nothing.
func (p *Property) ChangeDetails(d PropertyDetails) ([]Event, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if propertyDetailsEqual(p.details, d) {
		return nil, nil
	}
	return []Event{&PropertyDetailsChanged{Details: d}}, nil
}

// ChangeStatus moves the property to another status. Archiving is refused while
// the property has an active lease.
func (p *Property) ChangeStatus(to PropertyStatus, hasActiveLease bool) ([]Event, error) {
	var v validator
	v.check(to != PropertyStatus{}, "status", "must be one of "+propertyStatuses.list())
	if err := v.err(); err != nil {
		return nil, err
	}
	if to == p.status {
		return nil, nil
	}
	if to == PropertyArchived && hasActiveLease {
		return nil, ErrPropertyHasActiveLease
	}
	return []Event{&PropertyStatusChanged{From: p.status, To: to}}, nil
}

// ChangeOwner hands the property to another owner.
func (p *Property) ChangeOwner(ownerID *uuid.UUID) ([]Event, error) {
	if uuidPtrEqual(p.ownerID, ownerID) {
		return nil, nil
	}
	return []Event{&PropertyOwnerChanged{OwnerID: ownerID}}, nil
}

// Apply records a fact. It never validates: history is fact.
func (p *Property) Apply(e Event, version int64, at time.Time) {
	switch e := e.(type) {
	case *PropertyRegistered:
		p.id, p.ownerID, p.status, p.details = e.PropertyID, e.OwnerID, e.Status, e.Details
		p.createdAt = at
	case *PropertyDetailsChanged:
		p.details = e.Details
	case *PropertyStatusChanged:
		p.status = e.To
	case *PropertyOwnerChanged:
		p.ownerID = e.OwnerID
	case *PropertyLateFeePolicySet:
		policy := e.Policy
		p.lateFee = &policy
	}
	p.version = version
	p.updatedAt = at
}

func (p *Property) ID() uuid.UUID            { return p.id }
func (p *Property) Version() int64           { return p.version }
func (p *Property) Exists() bool             { return p.version > 0 }
func (p *Property) OwnerID() *uuid.UUID      { return p.ownerID }
func (p *Property) Status() PropertyStatus   { return p.status }
func (p *Property) Details() PropertyDetails { return p.details }
func (p *Property) CreatedAt() time.Time     { return p.createdAt }
func (p *Property) UpdatedAt() time.Time     { return p.updatedAt }

func propertyDetailsEqual(a, b PropertyDetails) bool {
	return a.Name == b.Name && a.Address == b.Address && a.City == b.City && a.State == b.State &&
		a.ZipCode == b.ZipCode && a.PropertyType == b.PropertyType &&
		ptrEqual(a.Bedrooms, b.Bedrooms) && ptrEqual(a.SquareFeet, b.SquareFeet) &&
		ptrEqual(a.YearBuilt, b.YearBuilt) && ptrEqual(a.Description, b.Description) &&
		decimalPtrEqual(a.Bathrooms, b.Bathrooms)
}

// ParsePropertyType returns the named type, or the zero type (refused by validation).
func ParsePropertyType(s string) PropertyType {
	var t PropertyType
	_ = propertyTypes.parse(s, &t)
	return t
}

// ParsePropertyStatus returns the named status, or the zero status (refused by validation).
func ParsePropertyStatus(s string) PropertyStatus {
	var st PropertyStatus
	_ = propertyStatuses.parse(s, &st)
	return st
}
