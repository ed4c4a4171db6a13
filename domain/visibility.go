package domain

// Visibility is API.md's Roles table, stated once: who may see which entity, at
// which level, and who may change it. Commands ask it before they decide, and the
// HTTP layer asks it which of a tenant's fields to show. The same rule exists in
// SQL, as the row-level security policies (migrations 000005, 000010, 000015, 000017) and
// the read-model queries' predicates (projections/queries*.go); projections'
// TestVisibilityMatrix checks, cell by cell, that the two agree.
//
// The rules:
//   - admins and managers see every property and everything under it (leases,
//     transactions, maintenance requests, documents); a user the properties it
//     owns and everything under those;
//   - a tenant: admins and managers in full, a user the tenants it registered in
//     full, and a tenant another account registered that a lease on one of the
//     user's properties names as a party (the primary or a co-tenant, a removed
//     party too; any lease status) at AccessContact: its id, names, email and
//     phone, read-only;
//   - a lease's parties: with the lease;
//   - a maintenance request: with its property, and its assignee at AccessAssigned
//     (the work, not the owner's actions);
//   - a document: with its entity, in full only (a tenant seen at AccessContact
//     shows none of its documents); confidential ones not to managers;
//   - an audit row: with its entity, in full only; a user's and a session's rows
//     (the account trail) only to admins and to that user;
//   - users: admins in full, managers read every user, a user itself.

import "github.com/google/uuid"

// Viewer is who is asking.
type Viewer struct {
	UserID uuid.UUID
	Role   Role
}

// Access is how much of an entity a viewer may see, and whether it may change it.
type Access int

const (
	// AccessNone: the entity reads as missing (404).
	AccessNone Access = iota
	// AccessContact: a tenant's id, names, email and phone, read-only.
	AccessContact
	// AccessAssigned: a maintenance request's assignee; it does the work but takes
	// none of the owner's actions.
	AccessAssigned
	// AccessFull: every field, and the entity's documents and audit rows.
	AccessFull
)

func (a Access) String() string {
	return [...]string{"none", "contact", "assigned", "full"}[a]
}

// Sees reports whether the entity is visible at all.
func (a Access) Sees() bool { return a != AccessNone }

// Read is the error of reading at this level: ErrNotFound for AccessNone.
func (a Access) Read() error {
	if a == AccessNone {
		return ErrNotFound
	}
	return nil
}

// Change is the error of changing at this level: ErrNotFound for what the viewer
// may not see, ErrRoleForbidden for what it sees but may not change.
func (a Access) Change() error {
	switch a {
	case AccessFull:
		return nil
	case AccessNone:
		return ErrNotFound
	default:
		return ErrRoleForbidden
	}
}

// SeesAllProperties reports whether the viewer sees every owner's portfolio.
func (v Viewer) SeesAllProperties() bool { return v.Role.SeesAllProperties() }

// PropertyAccess is the access to a property with this owner (nil: none), and to
// everything under it: its leases, their transactions, its late-fee policies.
func PropertyAccess(v Viewer, owner *uuid.UUID) Access {
	if v.SeesAllProperties() || (owner != nil && *owner == v.UserID) {
		return AccessFull
	}
	return AccessNone
}

// TenantAccess is the access to a tenant that registeredBy registered; leased
// says whether a lease (any status) on one of the viewer's properties names it
// as a party, now or before.
// Callers may pass leased false first and look it up only when the answer is
// not AccessFull.
func TenantAccess(v Viewer, registeredBy uuid.UUID, leased bool) Access {
	switch {
	case v.SeesAllProperties() || (registeredBy == v.UserID && v.UserID != uuid.Nil):
		return AccessFull
	case leased:
		return AccessContact
	default:
		return AccessNone
	}
}

// MayLeaseTenant reports whether a viewer with this access to a tenant may name
// it on a new lease: only with full access (a manager links across owners).
func MayLeaseTenant(a Access) bool { return a == AccessFull }

// MayReferTenant reports whether a viewer with this access to a tenant may name
// it on a maintenance request of one of its properties.
func MayReferTenant(a Access) bool { return a.Sees() }

// MaintenanceAccess is the access to a maintenance request of a property with
// this owner, assigned to assignee (nil: nobody).
func MaintenanceAccess(v Viewer, propertyOwner, assignee *uuid.UUID) Access {
	if a := PropertyAccess(v, propertyOwner); a == AccessFull {
		return a
	}
	if assignee != nil && *assignee == v.UserID && v.UserID != uuid.Nil {
		return AccessAssigned
	}
	return AccessNone
}

// DocumentAccess is the access to a document attached to an entity the viewer
// has entity access to: only full access to the entity shows its documents, and
// confidential documents are not the managers'.
func DocumentAccess(v Viewer, entity Access, confidential bool) Access {
	if entity != AccessFull || (confidential && !SeesConfidentialDocuments(v.Role)) {
		return AccessNone
	}
	return AccessFull
}

// SeesAudit reports whether the viewer sees the audit rows (and the history) of
// an entity it has this access to: only with full access. A maintenance
// request's assignee sees the request's rows: they are the work it is given.
// Users' and sessions' rows are SeesAccountTrail's.
func SeesAudit(entity Access) bool { return entity == AccessFull || entity == AccessAssigned }

// SeesAccountTrail reports whether the viewer sees the account trail of user:
// its history, its sessions and their audit rows (logins with IP address and user
// agent, role changes). Admins and the user itself; managers read users, not
// their trail.
func SeesAccountTrail(v Viewer, user uuid.UUID) bool {
	return v.Role.SeesAllAccounts() || (user == v.UserID && v.UserID != uuid.Nil)
}

// ReadsUser reports whether the viewer may read the user's account: admins and
// managers every user, anyone itself.
func ReadsUser(v Viewer, user uuid.UUID) bool {
	return v.SeesAllProperties() || (user == v.UserID && v.UserID != uuid.Nil)
}

// ReadsUsers reports whether the viewer may list and read every user.
func ReadsUsers(v Viewer) bool { return v.SeesAllProperties() }

// ChangesUsers reports whether the viewer administers users.
func ChangesUsers(v Viewer) bool { return v.Role == RoleAdmin }

// NamesOwners reports whether the viewer gives a property its owner, or changes
// it: admins and managers; a user owns what it registers.
func NamesOwners(v Viewer) bool { return v.SeesAllProperties() }

// WritesOff reports whether the viewer may write a charge off as uncollectable:
// admins and managers.
func WritesOff(v Viewer) bool { return v.SeesAllProperties() }
