package http

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/oklog/ulid/v2"

	"github.com/assetanchor/assetanchor/domain"
)

type auditRow struct {
	ID         uuid.UUID                  `json:"id"`
	UserID     *uuid.UUID                 `json:"user_id"`
	Action     string                     `json:"action"`
	EntityType string                     `json:"entity_type"`
	EntityID   uuid.UUID                  `json:"entity_id"`
	OldValues  map[string]json.RawMessage `json:"old_values"`
	NewValues  map[string]json.RawMessage `json:"new_values"`
	IPAddress  *string                    `json:"ip_address"`
	UserAgent  *string                    `json:"user_agent"`
}

func TestAuditLogFollowsTheEvents(t *testing.T) {
	s := MustStack(t)
	ownerA, tokenA := s.MustUser(t, domain.RoleUser)
	_, tokenB := s.MustUser(t, domain.RoleUser)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	id := s.MustProperty(t, tokenA)
	resp := s.Do(t, tokenA, http.MethodPatch, "/api/v1/properties/"+id.String(),
		map[string]any{"description": "Corner lot"}, map[string]string{"User-Agent": "audit-test/1"})
	MustStatus(t, resp, http.StatusOK)

	var page struct {
		Items []auditRow `json:"items"`
	}
	resp = s.Do(t, tokenA, http.MethodGet, "/api/v1/audit-logs?entity_type=property&entity_id="+id.String(), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &page)
	if got, want := len(page.Items), 2; got != want {
		t.Fatalf("audit rows = %d, want %d: %+v", got, want, page.Items)
	}
	created, changed := page.Items[0], page.Items[1]
	if created.Action != "PropertyRegistered" || changed.Action != "PropertyDetailsChanged" {
		t.Errorf("actions = %s, %s; want PropertyRegistered, PropertyDetailsChanged", created.Action, changed.Action)
	}
	if created.OldValues != nil {
		t.Errorf("old_values of a creation = %v, want null", created.OldValues)
	}
	if got := string(created.NewValues["owner_id"]); got != `"`+ownerA.String()+`"` {
		t.Errorf("new owner_id = %s, want %s", got, ownerA)
	}
	if got, want := string(changed.NewValues["description"]), `"Corner lot"`; got != want {
		t.Errorf("new description = %s, want %s", got, want)
	}
	if got, want := string(changed.OldValues["description"]), `null`; got != want {
		t.Errorf("old description = %s, want %s", got, want)
	}
	if len(changed.NewValues) != 1 || len(changed.OldValues) != 1 {
		t.Errorf("a description change must record only that field: old %v new %v", changed.OldValues, changed.NewValues)
	}
	if changed.UserID == nil || *changed.UserID != ownerA {
		t.Errorf("user_id = %v, want %s", changed.UserID, ownerA)
	}
	if changed.IPAddress == nil || *changed.IPAddress != "127.0.0.1" {
		t.Errorf("ip_address = %v, want 127.0.0.1", changed.IPAddress)
	}
	if changed.UserAgent == nil || *changed.UserAgent != "audit-test/1" {
		t.Errorf("user_agent = %v, want audit-test/1", changed.UserAgent)
	}

	// The audit id is the event id, so a rebuild reproduces it.
	var history struct {
		Items []struct {
			EventID string `json:"event_id"`
		} `json:"items"`
	}
	resp = s.Do(t, tokenA, http.MethodGet, "/api/v1/properties/"+id.String()+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &history)
	for i, item := range history.Items {
		if got, want := page.Items[i].ID, uuid.UUID(ulid.MustParse(item.EventID)); got != want {
			t.Errorf("audit id %d = %s, want the event id %s", i, got, want)
		}
	}

	// Owner isolation: another owner sees none of it, an admin sees it.
	for _, c := range []struct {
		token string
		want  int
	}{{tokenB, 0}, {admin, 2}} {
		resp = s.Do(t, c.token, http.MethodGet, "/api/v1/audit-logs?entity_id="+id.String(), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		MustDecode(t, resp, &page)
		if got := len(page.Items); got != c.want {
			t.Errorf("rows visible = %d, want %d", got, c.want)
		}
	}

	// No secret ever reaches the audit log.
	resp = s.Do(t, admin, http.MethodGet, "/api/v1/audit-logs?entity_type=user&limit=200", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &page)
	for _, row := range page.Items {
		for _, values := range []map[string]json.RawMessage{row.OldValues, row.NewValues} {
			if _, leaked := values["password_hash"]; leaked {
				t.Errorf("password_hash in audit row %s", row.ID)
			}
		}
	}
}

func TestAuditLogBadFilters(t *testing.T) {
	s := MustStack(t)
	_, token := s.MustUser(t, domain.RoleAdmin)
	for _, query := range []string{"entity_id=nope", "user_id=1", "from=yesterday", "to=2026-13-01", "limit=0", "cursor=notacursor"} {
		resp := s.Do(t, token, http.MethodGet, "/api/v1/audit-logs?"+query, nil, nil)
		MustStatus(t, resp, http.StatusBadRequest)
	}
}

// Accounts' audit rows (registrations, logins and refreshes with their IP address
// and user agent, role changes) are the admins' and each user's own: a manager,
// who sees every property, sees only its own account's.
func TestAuditLogOfAccountsIsTheAdminsAndTheirOwn(t *testing.T) {
	s := MustStack(t)
	adminID, admin := s.MustUser(t, domain.RoleAdmin)
	managerID, manager := s.MustUser(t, domain.RoleManager)
	ownerID, owner := s.MustUser(t, domain.RoleUser)
	s.MustProperty(t, owner)

	rows := func(token, query string) []auditRow {
		t.Helper()
		var page struct {
			Items []auditRow `json:"items"`
		}
		resp := s.Do(t, token, http.MethodGet, "/api/v1/audit-logs?limit=200&"+query, nil, nil)
		MustStatus(t, resp, http.StatusOK)
		MustDecode(t, resp, &page)
		return page.Items
	}
	// accountsOf lists whose account rows token sees: the users acting in them.
	accountsOf := func(token string) map[uuid.UUID]int {
		seen := map[uuid.UUID]int{}
		for _, entityType := range []string{"user", "session"} {
			for _, row := range rows(token, "entity_type="+entityType) {
				if row.UserID != nil {
					seen[*row.UserID]++
				}
			}
		}
		return seen
	}
	if got := accountsOf(manager); len(got) != 1 || got[managerID] == 0 {
		t.Errorf("a manager sees the account rows of %v, want only its own (%s)", got, managerID)
	}
	if got := accountsOf(owner); len(got) != 1 || got[ownerID] == 0 {
		t.Errorf("an owner sees the account rows of %v, want only its own (%s)", got, ownerID)
	}
	if got := accountsOf(admin); got[adminID] == 0 || got[managerID] == 0 || got[ownerID] == 0 {
		t.Errorf("an admin sees the account rows of %v, want every user's", got)
	}
	// Filters do not reach past it, and the manager still sees the portfolio's rows.
	for _, id := range []uuid.UUID{adminID, ownerID} {
		for _, row := range rows(manager, "user_id="+id.String()) {
			if row.EntityType == "user" || row.EntityType == "session" {
				t.Errorf("a manager filtering by user_id %s sees the account row %+v", id, row)
			}
		}
	}
	if got := rows(manager, "entity_type=property"); len(got) != 1 {
		t.Errorf("a manager sees %d property rows, want the owner's 1", len(got))
	}
}
