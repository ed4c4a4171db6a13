package projections

import (
	"cmp"
	"encoding/json"
	"slices"

	"github.com/google/uuid"

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
		return changeParties(en, len(ev.CoTenantIDs) > 0, func(parties *memberRows) {
			addParty(parties, en.id, ev.TenantID, true, e)
			for _, id := range ev.CoTenantIDs {
				addParty(parties, en.id, id, false, e)
			}
		})
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
	case *domain.LeaseTenantAdded:
		return changeParties(en, true, func(parties *memberRows) { addParty(parties, en.id, ev.TenantID, false, e) })
	case *domain.LeaseTenantRemoved:
		return changeParties(en, true, func(parties *memberRows) {
			parties.put(en.id, ev.TenantID).set("removed_at", e.RecordedAt)
		})
	case *domain.LeasePrimaryTenantChanged:
		l.set("tenant_id", ev.TenantID)
		return changeParties(en, true, func(parties *memberRows) {
			parties.put(en.id, ev.PreviousTenantID).set("is_primary", false)
			parties.put(en.id, ev.TenantID).set("is_primary", true)
		})
	default:
		return errNoProjection
	}
	return nil
}

// addParty makes id a party of the lease from the event on (again, if it was
// removed before).
func addParty(parties *memberRows, lease, id uuid.UUID, primary bool, e eventstore.Event) {
	last := 0
	parties.each(func(r *row) {
		var p int
		if json.Unmarshal(r.raw("position"), &p) == nil {
			last = max(last, p)
		}
	})
	r := parties.put(lease, id)
	r.set("position", last+1)
	r.set("is_primary", primary)
	r.set("added_at", e.RecordedAt)
	r.set("removed_at", nil)
}

// changeParties changes the lease's lease_tenants rows; audited, the event's
// audit row records the parties before and after as "tenants" (the lease's
// own row shows only a new primary).
func changeParties(en *entity, audited bool, edit func(*memberRows)) error {
	parties, err := en.members(leaseTenantsTable)
	if err != nil {
		return err
	}
	before := partiesJSON(parties)
	edit(parties)
	if audited {
		if string(before) == "[]" {
			before = nil // a new lease had none
		}
		en.extra = append(en.extra, change{column: "tenants", old: before, new: partiesJSON(parties)})
	}
	return nil
}

// partiesJSON is the lease's parties now, as the API renders them
// ([{"id", "primary"}], the primary first, then in the order they joined).
func partiesJSON(parties *memberRows) json.RawMessage {
	type party struct {
		ID      string `json:"id"`
		Primary bool   `json:"primary"`
		at      int
	}
	var list []party
	parties.each(func(r *row) {
		if string(r.raw("removed_at")) != "null" {
			return
		}
		id, _ := r.uuidOf("tenant_id")
		p := party{ID: id.String(), Primary: string(r.raw("is_primary")) == "true"}
		_ = json.Unmarshal(r.raw("position"), &p.at)
		list = append(list, p)
	})
	slices.SortStableFunc(list, func(a, b party) int {
		switch {
		case a.Primary != b.Primary:
			if a.Primary {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.at, b.at)
	})
	if list == nil {
		return json.RawMessage("[]")
	}
	b, _ := json.Marshal(list)
	return b
}
