package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyLease(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.LeaseSigned); ok {
		l, err := en.create(leasesTable, e.RecordedAt)
		if err != nil {
			return err
		}
		t := ev.Terms
		l.set("property_id", ev.PropertyID)
		l.set("tenant_id", ev.TenantID)
		l.set("start_date", t.StartDate)
		l.set("end_date", t.EndDate)
		l.set("rent_amount", t.RentAmount)
		l.set("security_deposit", t.SecurityDeposit)
		l.set("payment_day", t.PaymentDay)
		l.set("status", "active")
		l.set("auto_renew", t.AutoRenew)
		return nil
	}
	l, err := en.existing(leasesTable)
	if err != nil {
		return err
	}
	if isLedgerEvent(de) {
		return applyLeaseLedger(en, e, de)
	}
	switch ev := de.(type) {
	case *domain.LeaseRenewed:
		l.set("end_date", ev.EndDate)
		if ev.RentAmount != nil {
			l.set("rent_amount", ev.RentAmount)
		}
	case *domain.LeaseTerminated:
		l.set("status", "terminated")
		l.set("terminated_on", ev.EffectiveDate)
		l.set("termination_reason", nilIfEmpty(ev.Reason))
	case *domain.LeaseExpired:
		l.set("status", "expired")
	case *domain.LeaseLateFeePolicySet:
		return setLateFeePolicy(en, leasePoliciesTable, ev.Policy, e)
	default:
		return errNoProjection
	}
	return nil
}
