package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyTenant(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.TenantRegistered); ok {
		ssn, err := sealedSSN(e, ev.SSNLastFour)
		if err != nil {
			return err
		}
		t, err := en.create(tenantsTable, e.RecordedAt)
		if err != nil {
			return err
		}
		setTenantContact(t, ev.Contact)
		t.set("ssn_last_four", ssn)
		t.set("date_of_birth", ev.DateOfBirth)
		setTenantScreening(t, ev.Screening)
		t.set("registered_by", ev.RegisteredBy)
		return nil
	}
	t, err := en.existing(tenantsTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.TenantContactChanged:
		setTenantContact(t, ev.Contact)
	case *domain.TenantScreeningRecorded:
		setTenantScreening(t, ev.Screening)
	case *domain.TenantPersonalDataErased:
		// The seed's NOT NULL columns get neutral placeholders; the rest is blanked.
		setTenantContact(t, domain.TenantContact{FirstName: ErasedName, LastName: ErasedName, Email: ErasedEmail})
		t.set("ssn_last_four", nil)
		t.set("date_of_birth", nil)
		setTenantScreening(t, domain.TenantScreening{})
	default:
		return errNoProjection
	}
	return nil
}

func setTenantContact(t *row, c domain.TenantContact) {
	t.set("first_name", c.FirstName)
	t.set("last_name", c.LastName)
	t.set("email", c.Email)
	t.set("phone", c.Phone)
}

func setTenantScreening(t *row, s domain.TenantScreening) {
	t.set("credit_score", s.CreditScore)
	t.set("income", s.Income)
	t.set("background_check_status", s.BackgroundCheckStatus)
}
