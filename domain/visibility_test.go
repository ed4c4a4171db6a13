package domain

import (
	"errors"
	"testing"

	"github.com/google/uuid"
)

func TestTenantAccess(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	tests := []struct {
		name   string
		viewer Viewer
		leased bool
		want   Access
		change error
	}{
		{"admin", Viewer{uuid.New(), RoleAdmin}, false, AccessFull, nil},
		{"manager", Viewer{uuid.New(), RoleManager}, false, AccessFull, nil},
		{"the registrar", Viewer{a, RoleUser}, false, AccessFull, nil},
		{"a lessor of another's tenant", Viewer{b, RoleUser}, true, AccessContact, ErrRoleForbidden},
		{"anyone else", Viewer{b, RoleUser}, false, AccessNone, ErrNotFound},
		{"no viewer", Viewer{}, true, AccessContact, ErrRoleForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TenantAccess(tt.viewer, a, tt.leased)
			if got != tt.want {
				t.Fatalf("TenantAccess = %s, want %s", got, tt.want)
			}
			if err := got.Change(); !errors.Is(err, tt.change) {
				t.Errorf("Change() = %v, want %v", err, tt.change)
			}
			if MayLeaseTenant(got) != (got == AccessFull) {
				t.Errorf("MayLeaseTenant(%s) = %v", got, MayLeaseTenant(got))
			}
		})
	}
	if got := TenantAccess(Viewer{}, uuid.Nil, false); got != AccessNone {
		t.Errorf("the nil viewer of a tenant nobody registered = %s, want none", got)
	}
}

func TestDocumentsAndAuditFollowFullAccess(t *testing.T) {
	user, manager := Viewer{uuid.New(), RoleUser}, Viewer{uuid.New(), RoleManager}
	for _, tt := range []struct {
		name         string
		viewer       Viewer
		entity       Access
		confidential bool
		want         Access
	}{
		{"the owner's own", user, AccessFull, true, AccessFull},
		{"a tenant seen at contact level", user, AccessContact, false, AccessNone},
		{"a manager, confidential", manager, AccessFull, true, AccessNone},
		{"a manager, not confidential", manager, AccessFull, false, AccessFull},
		{"an assignee's request", user, AccessAssigned, false, AccessNone},
	} {
		if got := DocumentAccess(tt.viewer, tt.entity, tt.confidential); got != tt.want {
			t.Errorf("%s: DocumentAccess = %s, want %s", tt.name, got, tt.want)
		}
	}
	if SeesAudit(AccessContact) || !SeesAudit(AccessFull) || !SeesAudit(AccessAssigned) || SeesAudit(AccessNone) {
		t.Error("audit rows follow full access (and an assignee's request)")
	}
}

func TestAccountTrail(t *testing.T) {
	self := uuid.New()
	for _, tt := range []struct {
		name   string
		viewer Viewer
		trail  bool
		reads  bool
	}{
		{"admin", Viewer{uuid.New(), RoleAdmin}, true, true},
		{"manager", Viewer{uuid.New(), RoleManager}, false, true},
		{"the user itself", Viewer{self, RoleUser}, true, true},
		{"another user", Viewer{uuid.New(), RoleUser}, false, false},
	} {
		if got := SeesAccountTrail(tt.viewer, self); got != tt.trail {
			t.Errorf("%s: SeesAccountTrail = %v, want %v", tt.name, got, tt.trail)
		}
		if got := ReadsUser(tt.viewer, self); got != tt.reads {
			t.Errorf("%s: ReadsUser = %v, want %v", tt.name, got, tt.reads)
		}
	}
}
