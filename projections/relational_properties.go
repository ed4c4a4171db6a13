package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyProperty(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.PropertyRegistered); ok {
		p, err := en.create(propertiesTable, e.RecordedAt)
		if err != nil {
			return err
		}
		setPropertyDetails(p, ev.Details)
		p.set("owner_id", ev.OwnerID)
		p.set("status", ev.Status.String())
		return nil
	}
	p, err := en.existing(propertiesTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.PropertyDetailsChanged:
		setPropertyDetails(p, ev.Details)
	case *domain.PropertyStatusChanged:
		p.set("status", ev.To.String())
	case *domain.PropertyOwnerChanged:
		p.set("owner_id", ev.OwnerID)
	case *domain.PropertyLateFeePolicySet:
		return setLateFeePolicy(en, propertyPoliciesTable, ev.Policy, e)
	default:
		return errNoProjection
	}
	return nil
}

func setPropertyDetails(p *row, d domain.PropertyDetails) {
	p.set("name", d.Name)
	p.set("address", d.Address)
	p.set("city", d.City)
	p.set("state", d.State)
	p.set("zip_code", d.ZipCode)
	p.set("property_type", d.PropertyType.String())
	p.set("bedrooms", d.Bedrooms)
	p.set("bathrooms", d.Bathrooms)
	p.set("square_feet", d.SquareFeet)
	p.set("year_built", d.YearBuilt)
	p.set("description", d.Description)
}
