package http

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

// maintenanceDoc is a maintenance request as a client reads it. Money fields are
// `any` so that a number where a string is due shows up as a mismatch.
type maintenanceDoc struct {
	ID            string  `json:"id"`
	PropertyID    string  `json:"property_id"`
	TenantID      string  `json:"tenant_id"`
	Title         string  `json:"title"`
	Description   string  `json:"description"`
	Priority      string  `json:"priority"`
	Status        string  `json:"status"`
	AssignedTo    *string `json:"assigned_to"`
	EstimatedCost any     `json:"estimated_cost"`
	ActualCost    any     `json:"actual_cost"`
	ScheduledDate *string `json:"scheduled_date"`
	CompletedDate *string `json:"completed_date"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	Version       int64   `json:"version"`
}

type maintenancePage struct {
	Items      []maintenanceDoc `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func (p maintenancePage) ids() []string {
	out := make([]string, len(p.Items))
	for i, item := range p.Items {
		out[i] = item.ID
	}
	return out
}

const maintenancePath = "/api/v1/maintenance-requests"

// maintenanceBody is a valid create body with overrides applied.
func maintenanceBody(propertyID, tenantID uuid.UUID, overrides map[string]any) map[string]any {
	b := map[string]any{
		"property_id": propertyID, "tenant_id": tenantID, "title": "Leaking tap",
		"description": "The kitchen tap drips day and night.", "priority": "high", "estimated_cost": "120",
	}
	maps.Copy(b, overrides)
	for k, v := range b {
		if v == nil {
			delete(b, k) // a nil override leaves the field out
		}
	}
	return b
}

// MustCreateMaintenance posts body and expects a 201.
func (s *stack) MustCreateMaintenance(tb testing.TB, token string, body any) maintenanceDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, maintenancePath, body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var m maintenanceDoc
	MustDecode(tb, resp, &m)
	return m
}

// MustMaintenanceAction posts to /maintenance-requests/{id}/{action} and expects a 200.
func (s *stack) MustMaintenanceAction(tb testing.TB, token, id, action string, body any) maintenanceDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, maintenancePath+"/"+id+"/"+action, body, nil)
	MustStatus(tb, resp, http.StatusOK)
	var m maintenanceDoc
	MustDecode(tb, resp, &m)
	if got, want := resp.Header.Get("ETag"), etag(m.Version); got != want {
		tb.Errorf("%s ETag = %s, want %s", action, got, want)
	}
	return m
}

// MustGetMaintenance reads one request and its ETag.
func (s *stack) MustGetMaintenance(tb testing.TB, token, id string) (maintenanceDoc, string) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, maintenancePath+"/"+id, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var m maintenanceDoc
	MustDecode(tb, resp, &m)
	return m, resp.Header.Get("ETag")
}

// MustListMaintenance reads one page of GET /maintenance-requests?query.
func (s *stack) MustListMaintenance(tb testing.TB, token, query string) maintenancePage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, maintenancePath+"?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page maintenancePage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("GET %s?%s: items is null or missing, want an array", maintenancePath, query)
	}
	return page
}

// MustMaintenanceInStatus creates a request on propertyID as token and moves it
// to status (assigning it to assignee on the way when needed).
func (s *stack) MustMaintenanceInStatus(tb testing.TB, token string, propertyID, tenantID, assignee uuid.UUID, status string) maintenanceDoc {
	tb.Helper()
	m := s.MustCreateMaintenance(tb, token, maintenanceBody(propertyID, tenantID, nil))
	steps := map[string][]struct {
		action string
		body   any
	}{
		"open":        nil,
		"assigned":    {{"assign", map[string]any{"assigned_to": assignee}}},
		"in_progress": {{"assign", map[string]any{"assigned_to": assignee}}, {"start", nil}},
		"completed":   {{"assign", map[string]any{"assigned_to": assignee}}, {"start", nil}, {"complete", map[string]any{"actual_cost": "10"}}},
		"cancelled":   {{"cancel", nil}},
	}
	path, ok := steps[status]
	if !ok {
		tb.Fatalf("no way to status %q", status)
	}
	for _, step := range path {
		m = s.MustMaintenanceAction(tb, token, m.ID, step.action, step.body)
	}
	if m.Status != status {
		tb.Fatalf("request is %s, want %s", m.Status, status)
	}
	return m
}

// maintenanceCounts is everything a maintenance request could write: events,
// maintenance rows (and a digest of their content, which catches updates),
// stored idempotent answers.
type maintenanceCounts struct {
	events, rows, idempotencyKeys int
	digest                        string
}

// MustMaintenanceCounts takes a snapshot of what a maintenance request could write.
func (s *stack) MustMaintenanceCounts(tb testing.TB) maintenanceCounts {
	tb.Helper()
	var c maintenanceCounts
	err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events),
		(SELECT count(*) FROM maintenance_requests), (SELECT count(*) FROM idempotency_keys),
		(SELECT md5(coalesce(string_agg(m::text, '|' ORDER BY m.id), '')) FROM maintenance_requests m)`).
		Scan(&c.events, &c.rows, &c.idempotencyKeys, &c.digest)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MustMaintenanceUnchanged fails when anything was written since before was taken.
func (s *stack) MustMaintenanceUnchanged(tb testing.TB, before maintenanceCounts, what string) {
	tb.Helper()
	if got := s.MustMaintenanceCounts(tb); got != before {
		tb.Errorf("%s wrote something: (events, maintenance rows, idempotency keys, rows digest) went from %+v to %+v",
			what, before, got)
	}
}

// MustMaintenanceTimestamp parses an RFC 3339 timestamp that must be in UTC.
func MustMaintenanceTimestamp(tb testing.TB, name, value string) time.Time {
	tb.Helper()
	ts, err := time.Parse(time.RFC3339Nano, value)
	if err != nil || !strings.HasSuffix(value, "Z") {
		tb.Fatalf("%s = %q, want an RFC 3339 timestamp in UTC", name, value)
	}
	return ts
}

func TestMaintenanceLifecycle(t *testing.T) {
	s := MustStack(t)
	ownerID, owner := s.MustUser(t, domain.RoleUser)
	workerID, _ := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, owner)
	tenant := s.MustTenantFixture(t, ownerID)

	// Create.
	before := s.MustMaintenanceCounts(t)
	resp := s.Do(t, owner, http.MethodPost, maintenancePath, maintenanceBody(property, tenant, nil), nil)
	MustStatus(t, resp, http.StatusCreated)
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var created maintenanceDoc
	if err := json.Unmarshal(raw, &created); err != nil {
		t.Fatal(err)
	}
	if _, err := uuid.Parse(created.ID); err != nil {
		t.Fatalf("id %q is not a UUID", created.ID)
	}
	if got, want := resp.Header.Get("Location"), maintenancePath+"/"+created.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
		t.Errorf("ETag = %s, want %s", got, want)
	}
	want := maintenanceDoc{
		ID: created.ID, PropertyID: property.String(), TenantID: tenant.String(), Title: "Leaking tap",
		Description: "The kitchen tap drips day and night.", Priority: "high", Status: "open",
		EstimatedCost: "120.00", CreatedAt: created.CreatedAt, UpdatedAt: created.CreatedAt, Version: 1,
	}
	MustSameMaintenance(t, "created", created, want)
	MustMaintenanceTimestamp(t, "created_at", created.CreatedAt)
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"actual_cost", "assigned_to", "completed_date", "created_at", "description", "estimated_cost",
		"id", "priority", "property_id", "scheduled_date", "status", "tenant_id", "title", "updated_at", "version"}
	if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, wantKeys) {
		t.Errorf("response fields = %q, want the seed's columns and version %q", got, wantKeys)
	}
	after := s.MustMaintenanceCounts(t)
	if after.events-before.events != 1 || after.rows-before.rows != 1 {
		t.Errorf("create wrote %d events and %d rows, want 1 and 1", after.events-before.events, after.rows-before.rows)
	}
	resp = s.Do(t, owner, http.MethodGet, resp.Header.Get("Location"), nil, nil)
	MustStatus(t, resp, http.StatusOK)
	if got, _ := io.ReadAll(resp.Body); string(got) != string(raw) {
		t.Errorf("GET Location = %s, want the create answer %s", got, raw)
	}

	t.Run("defaults and number input", func(t *testing.T) {
		m := s.MustCreateMaintenance(t, owner, maintenanceBody(property, tenant, map[string]any{"priority": nil, "estimated_cost": 99.5}))
		if m.Priority != "medium" || m.EstimatedCost != "99.50" {
			t.Errorf("priority %q, estimated_cost %#v; want medium and \"99.50\"", m.Priority, m.EstimatedCost)
		}
		m = s.MustCreateMaintenance(t, owner, maintenanceBody(property, tenant, map[string]any{"estimated_cost": nil, "priority": "emergency"}))
		if m.Priority != "emergency" || m.EstimatedCost != nil {
			t.Errorf("priority %q, estimated_cost %#v; want emergency and null", m.Priority, m.EstimatedCost)
		}
	})

	// Assign, schedule, start, complete; each answer and the next GET show the change.
	steps := []struct {
		action string
		body   any
		check  func(t *testing.T, m maintenanceDoc)
	}{
		{"assign", map[string]any{"assigned_to": workerID}, func(t *testing.T, m maintenanceDoc) {
			if m.Status != "assigned" || m.AssignedTo == nil || *m.AssignedTo != workerID.String() {
				t.Errorf("status %q, assigned_to %v; want assigned to %s", m.Status, m.AssignedTo, workerID)
			}
		}},
		{"schedule", map[string]any{"scheduled_date": "2025-07-01T09:30:00.5+02:00"}, func(t *testing.T, m maintenanceDoc) {
			if m.Status != "assigned" || m.ScheduledDate == nil || *m.ScheduledDate != "2025-07-01T07:30:00.5Z" {
				t.Errorf("status %q, scheduled_date %v; want assigned, 2025-07-01T07:30:00.5Z", m.Status, m.ScheduledDate)
			}
		}},
		{"start", nil, func(t *testing.T, m maintenanceDoc) {
			if m.Status != "in_progress" || m.CompletedDate != nil {
				t.Errorf("status %q, completed_date %v; want in_progress, null", m.Status, m.CompletedDate)
			}
		}},
		{"complete", map[string]any{"actual_cost": 130.25}, func(t *testing.T, m maintenanceDoc) {
			if m.Status != "completed" || m.ActualCost != "130.25" || m.CompletedDate == nil {
				t.Fatalf("status %q, actual_cost %#v, completed_date %v; want completed, \"130.25\", set",
					m.Status, m.ActualCost, m.CompletedDate)
			}
			done := MustMaintenanceTimestamp(t, "completed_date", *m.CompletedDate)
			if *m.CompletedDate != m.UpdatedAt {
				t.Errorf("completed_date %s, want the completion's time, updated_at %s", *m.CompletedDate, m.UpdatedAt)
			}
			if done.Before(MustMaintenanceTimestamp(t, "created_at", m.CreatedAt)) {
				t.Errorf("completed_date %s is before created_at %s", *m.CompletedDate, m.CreatedAt)
			}
			if m.EstimatedCost != "120.00" {
				t.Errorf("estimated_cost = %#v after completion, want \"120.00\"", m.EstimatedCost)
			}
		}},
	}
	for i, step := range steps {
		m := s.MustMaintenanceAction(t, owner, created.ID, step.action, step.body)
		if got, want := m.Version, int64(i+2); got != want {
			t.Errorf("%s: version = %d, want %d", step.action, got, want)
		}
		step.check(t, m)
		read, tag := s.MustGetMaintenance(t, owner, created.ID)
		MustSameMaintenance(t, "GET after "+step.action, read, m)
		if tag != etag(m.Version) {
			t.Errorf("GET after %s: ETag %s, want %s", step.action, tag, etag(m.Version))
		}
	}

	t.Run("history", func(t *testing.T) {
		resp := s.Do(t, owner, http.MethodGet, maintenancePath+"/"+created.ID+"/history", nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var h struct {
			Items []struct {
				EventID    string          `json:"event_id"`
				Type       string          `json:"type"`
				Version    int64           `json:"version"`
				RecordedAt string          `json:"recorded_at"`
				ActorID    *string         `json:"actor_id"`
				Data       json.RawMessage `json:"data"`
			} `json:"items"`
		}
		MustDecode(t, resp, &h)
		wantTypes := []string{"MaintenanceRequested", "MaintenanceAssigned", "MaintenanceScheduled", "MaintenanceStarted", "MaintenanceCompleted"}
		var gotTypes []string
		for i, item := range h.Items {
			gotTypes = append(gotTypes, item.Type)
			if item.Version != int64(i+1) {
				t.Errorf("item %d version = %d, want %d", i, item.Version, i+1)
			}
			if item.ActorID == nil || *item.ActorID != ownerID.String() {
				t.Errorf("item %d actor_id = %v, want %s", i, item.ActorID, ownerID)
			}
			MustMaintenanceTimestamp(t, "recorded_at", item.RecordedAt)
		}
		if !slices.Equal(gotTypes, wantTypes) {
			t.Fatalf("history types = %q, want %q", gotTypes, wantTypes)
		}
		if got, want := compactJSON(h.Items[4].Data), `{"actual_cost":"130.25"}`; got != want {
			t.Errorf("MaintenanceCompleted data = %s, want %s", got, want)
		}
	})

	t.Run("as of a past moment", func(t *testing.T) {
		resp := s.Do(t, owner, http.MethodGet, maintenancePath+"/"+created.ID+"/history", nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var h struct {
			Items []struct {
				RecordedAt time.Time `json:"recorded_at"`
			} `json:"items"`
		}
		MustDecode(t, resp, &h)
		if len(h.Items) != 5 {
			t.Fatalf("history has %d events, want 5", len(h.Items))
		}
		asOf := func(at time.Time) string {
			return maintenancePath + "/" + created.ID + "?as_of=" + url.QueryEscape(at.Format(time.RFC3339Nano))
		}
		resp = s.Do(t, owner, http.MethodGet, asOf(h.Items[1].RecordedAt), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var then maintenanceDoc
		MustDecode(t, resp, &then)
		if then.Status != "assigned" || then.Version != 2 || then.ScheduledDate != nil || then.ActualCost != nil {
			t.Errorf("as of the assignment: status %q v%d scheduled_date %v actual_cost %#v; want assigned v2, null, null",
				then.Status, then.Version, then.ScheduledDate, then.ActualCost)
		}
		if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
			t.Errorf("as-of ETag = %s, want %s", got, want)
		}
		MustProblem(t, s.Do(t, owner, http.MethodGet, asOf(h.Items[0].RecordedAt.Add(-time.Microsecond)), nil, nil), http.StatusNotFound)
		if live, _ := s.MustGetMaintenance(t, owner, created.ID); live.Status != "completed" || live.Version != 5 {
			t.Errorf("live request after the replay: %s v%d, want completed v5", live.Status, live.Version)
		}
	})

	t.Run("a completed request is final", func(t *testing.T) {
		path := maintenancePath + "/" + created.ID
		refusals := []struct {
			name, method, path string
			body               any
		}{
			{"cancel", http.MethodPost, path + "/cancel", nil},
			{"start", http.MethodPost, path + "/start", nil},
			{"complete", http.MethodPost, path + "/complete", map[string]any{"actual_cost": "1"}},
			{"assign", http.MethodPost, path + "/assign", map[string]any{"assigned_to": ownerID}},
			{"schedule", http.MethodPost, path + "/schedule", map[string]any{"scheduled_date": "2025-08-01T00:00:00Z"}},
			{"PATCH", http.MethodPatch, path, map[string]any{"title": "Too late"}},
		}
		for _, c := range refusals {
			t.Run(c.name, func(t *testing.T) {
				before := s.MustMaintenanceCounts(t)
				MustProblem(t, s.Do(t, owner, c.method, c.path, c.body, nil), http.StatusConflict)
				s.MustMaintenanceUnchanged(t, before, c.name+" of a completed request")
			})
		}
	})

	t.Run("cancel", func(t *testing.T) {
		cases := []struct {
			name       string
			from       string
			body       any
			header     map[string]string
			wantReason string
		}{
			{name: "open, no body at all", from: "open"},
			{name: "open, an empty JSON body", from: "open", body: ""},
			{name: "assigned, {}", from: "assigned", body: map[string]any{}},
			{name: "in progress, with a reason", from: "in_progress", body: map[string]any{"reason": "duplicate"}, wantReason: "duplicate"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				m := s.MustMaintenanceInStatus(t, owner, property, tenant, workerID, c.from)
				resp := s.Do(t, owner, http.MethodPost, maintenancePath+"/"+m.ID+"/cancel", c.body, c.header)
				MustStatus(t, resp, http.StatusOK)
				var got maintenanceDoc
				MustDecode(t, resp, &got)
				if got.Status != "cancelled" || got.Version != m.Version+1 || got.CompletedDate != nil {
					t.Errorf("status %q version %d completed_date %v; want cancelled, %d, null", got.Status, got.Version, got.CompletedDate, m.Version+1)
				}
				if read, _ := s.MustGetMaintenance(t, owner, m.ID); read.Status != "cancelled" {
					t.Errorf("GET status = %q, want cancelled", read.Status)
				}
				resp = s.Do(t, owner, http.MethodGet, maintenancePath+"/"+m.ID+"/history", nil, nil)
				MustStatus(t, resp, http.StatusOK)
				var h struct {
					Items []struct {
						Type string          `json:"type"`
						Data json.RawMessage `json:"data"`
					} `json:"items"`
				}
				MustDecode(t, resp, &h)
				last := h.Items[len(h.Items)-1]
				var data struct {
					Reason string `json:"reason"`
				}
				if err := json.Unmarshal(last.Data, &data); err != nil {
					t.Fatal(err)
				}
				if last.Type != "MaintenanceCancelled" || data.Reason != c.wantReason {
					t.Errorf("last event %s with reason %q, want MaintenanceCancelled with %q", last.Type, data.Reason, c.wantReason)
				}
				before := s.MustMaintenanceCounts(t)
				MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath+"/"+m.ID+"/cancel", nil, nil), http.StatusConflict)
				MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath+"/"+m.ID+"/assign",
					map[string]any{"assigned_to": workerID}, nil), http.StatusConflict)
				s.MustMaintenanceUnchanged(t, before, "commands on a cancelled request")
			})
		}
	})

	t.Run("illegal transitions", func(t *testing.T) {
		cases := []struct {
			from, action string
			body         any
		}{
			{"open", "start", nil},
			{"open", "complete", map[string]any{"actual_cost": "5"}},
			{"assigned", "complete", map[string]any{"actual_cost": "5"}},
			{"in_progress", "start", nil},
			{"in_progress", "assign", map[string]any{"assigned_to": ownerID}},
		}
		for _, c := range cases {
			t.Run(c.action+" when "+c.from, func(t *testing.T) {
				m := s.MustMaintenanceInStatus(t, owner, property, tenant, workerID, c.from)
				before := s.MustMaintenanceCounts(t)
				MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath+"/"+m.ID+"/"+c.action, c.body, nil), http.StatusConflict)
				s.MustMaintenanceUnchanged(t, before, c.action+" when "+c.from)
				if read, _ := s.MustGetMaintenance(t, owner, m.ID); read.Status != c.from || read.Version != m.Version {
					t.Errorf("request is %s v%d, want %s v%d", read.Status, read.Version, c.from, m.Version)
				}
			})
		}
	})

	t.Run("reassign and schedule while in progress", func(t *testing.T) {
		otherID, _ := s.MustUser(t, domain.RoleUser)
		m := s.MustMaintenanceInStatus(t, owner, property, tenant, workerID, "assigned")
		m = s.MustMaintenanceAction(t, owner, m.ID, "assign", map[string]any{"assigned_to": otherID})
		if m.Status != "assigned" || m.AssignedTo == nil || *m.AssignedTo != otherID.String() {
			t.Errorf("after reassignment: status %q assigned_to %v, want assigned to %s", m.Status, m.AssignedTo, otherID)
		}
		m = s.MustMaintenanceAction(t, owner, m.ID, "start", map[string]any{})
		m = s.MustMaintenanceAction(t, owner, m.ID, "schedule", map[string]any{"scheduled_date": "2030-01-02T03:04:05Z"})
		if m.Status != "in_progress" || m.ScheduledDate == nil || *m.ScheduledDate != "2030-01-02T03:04:05Z" {
			t.Errorf("status %q scheduled_date %v, want in_progress and 2030-01-02T03:04:05Z", m.Status, m.ScheduledDate)
		}
		m = s.MustMaintenanceAction(t, owner, m.ID, "complete", map[string]any{"actual_cost": "0"})
		if m.ActualCost != "0.00" || m.CompletedDate == nil {
			t.Errorf("actual_cost %#v completed_date %v, want \"0.00\" and set", m.ActualCost, m.CompletedDate)
		}
	})
}

// MustSameMaintenance compares two representations field by field (through JSON).
func MustSameMaintenance(tb testing.TB, what string, got, want maintenanceDoc) {
	tb.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		tb.Errorf("%s:\n got  %s\n want %s", what, g, w)
	}
}

func TestMaintenanceRefusals(t *testing.T) {
	s := MustStack(t)
	ownerID, owner := s.MustUser(t, domain.RoleUser)
	strangerID, stranger := s.MustUser(t, domain.RoleUser)
	workerID, _ := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, owner)
	strangersProperty := s.MustProperty(t, stranger)
	tenant := s.MustTenantFixture(t, ownerID)
	open := s.MustMaintenanceInStatus(t, owner, property, tenant, workerID, "open")
	inProgress := s.MustMaintenanceInStatus(t, owner, property, tenant, workerID, "in_progress")
	openPath := maintenancePath + "/" + open.ID
	inProgressPath := maintenancePath + "/" + inProgress.ID
	nowhere := maintenancePath + "/" + uuid.NewString()
	body := func(overrides map[string]any) map[string]any { return maintenanceBody(property, tenant, overrides) }

	cases := []struct {
		name         string
		token        string
		method, path string
		body         any
		header       map[string]string
		want         int
		wantFields   []string // for a 422, sorted
	}{
		{name: "malformed JSON", token: owner, method: http.MethodPost, path: maintenancePath, body: `{"title":`, want: http.StatusBadRequest},
		{name: "unknown field", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"titel": "x"}), want: http.StatusBadRequest},
		{name: "wrong JSON type", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"title": 7}), want: http.StatusBadRequest},
		{name: "cost of the wrong JSON type", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"estimated_cost": true}), want: http.StatusBadRequest},
		{name: "cost that is not a number", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"estimated_cost": "12abc"}), want: http.StatusBadRequest},
		{name: "property_id not a UUID", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"property_id": "nope"}), want: http.StatusBadRequest},
		{name: "two JSON values", token: owner, method: http.MethodPost, path: maintenancePath, body: `{} {}`, want: http.StatusBadRequest},
		{name: "unknown field in cancel", token: owner, method: http.MethodPost, path: openPath + "/cancel", body: map[string]any{"reson": "x"}, want: http.StatusBadRequest},
		{name: "start with a body that is not JSON", token: owner, method: http.MethodPost, path: openPath + "/start", body: `x`, want: http.StatusBadRequest},
		{name: "PATCH with an unknown field", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"status": "completed"}, want: http.StatusBadRequest},
		{name: "assign without a body or content type", token: owner, method: http.MethodPost, path: openPath + "/assign", want: http.StatusUnsupportedMediaType},
		{name: "assign with an empty JSON body", token: owner, method: http.MethodPost, path: openPath + "/assign", body: "", want: http.StatusBadRequest},

		{name: "create without a token", method: http.MethodPost, path: maintenancePath, body: body(nil), want: http.StatusUnauthorized},
		{name: "list without a token", method: http.MethodGet, path: maintenancePath, want: http.StatusUnauthorized},
		{name: "GET without a token", method: http.MethodGet, path: openPath, want: http.StatusUnauthorized},
		{name: "cancel with a bad token", token: "not-a-token", method: http.MethodPost, path: openPath + "/cancel", want: http.StatusUnauthorized},

		{name: "GET of no request", token: owner, method: http.MethodGet, path: nowhere, want: http.StatusNotFound},
		{name: "GET of a malformed id", token: owner, method: http.MethodGet, path: maintenancePath + "/not-a-uuid", want: http.StatusNotFound},
		{name: "history of no request", token: owner, method: http.MethodGet, path: nowhere + "/history", want: http.StatusNotFound},
		{name: "PATCH of no request", token: owner, method: http.MethodPatch, path: nowhere, body: map[string]any{"title": "x"}, want: http.StatusNotFound},
		{name: "assign of no request", token: owner, method: http.MethodPost, path: nowhere + "/assign", body: map[string]any{"assigned_to": workerID}, want: http.StatusNotFound},
		{name: "start of no request", token: owner, method: http.MethodPost, path: nowhere + "/start", want: http.StatusNotFound},
		{name: "method not allowed", token: owner, method: http.MethodDelete, path: openPath, want: http.StatusMethodNotAllowed},

		{name: "start an open request", token: owner, method: http.MethodPost, path: openPath + "/start", want: http.StatusConflict},
		{name: "client id taken with another body", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"id": open.ID, "title": "Other"}), want: http.StatusConflict},

		{name: "stale If-Match on PATCH", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"title": "x"}, header: map[string]string{"If-Match": `"7"`}, want: http.StatusPreconditionFailed},
		{name: "malformed If-Match on PATCH", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"title": "x"}, header: map[string]string{"If-Match": `abc`}, want: http.StatusPreconditionFailed},
		{name: "stale If-Match on complete", token: owner, method: http.MethodPost, path: inProgressPath + "/complete", body: map[string]any{"actual_cost": "1"}, header: map[string]string{"If-Match": `"1"`}, want: http.StatusPreconditionFailed},

		{name: "body too large", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"description": strings.Repeat("x", 1<<20)}), want: http.StatusRequestEntityTooLarge},
		{name: "wrong content type", token: owner, method: http.MethodPost, path: maintenancePath, body: `{}`, header: map[string]string{"Content-Type": "text/plain"}, want: http.StatusUnsupportedMediaType},
		{name: "cancel with a body of the wrong content type", token: owner, method: http.MethodPost, path: openPath + "/cancel", body: `{"reason":"x"}`, header: map[string]string{"Content-Type": "text/plain"}, want: http.StatusUnsupportedMediaType},

		{name: "empty create", token: owner, method: http.MethodPost, path: maintenancePath, body: map[string]any{}, want: http.StatusUnprocessableEntity,
			wantFields: []string{"description", "property_id", "tenant_id", "title"}},
		{name: "no such tenant", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"tenant_id": uuid.New()}), want: http.StatusUnprocessableEntity, wantFields: []string{"tenant_id"}},
		{name: "no such property", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"property_id": uuid.New()}), want: http.StatusUnprocessableEntity, wantFields: []string{"property_id"}},
		{name: "another owner's property", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"property_id": strangersProperty}), want: http.StatusUnprocessableEntity, wantFields: []string{"property_id"}},
		{name: "unknown priority", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"priority": "urgent"}), want: http.StatusUnprocessableEntity, wantFields: []string{"priority"}},
		{name: "empty priority", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"priority": ""}), want: http.StatusUnprocessableEntity, wantFields: []string{"priority"}},
		{name: "estimated cost with three places, string", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"estimated_cost": "1.001"}), want: http.StatusUnprocessableEntity, wantFields: []string{"estimated_cost"}},
		{name: "estimated cost with three places, number", token: owner, method: http.MethodPost, path: maintenancePath, body: `{"property_id":"` + property.String() + `","tenant_id":"` + tenant.String() + `","title":"t","description":"d","estimated_cost":1.001}`, want: http.StatusUnprocessableEntity, wantFields: []string{"estimated_cost"}},
		{name: "negative estimated cost", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"estimated_cost": -1}), want: http.StatusUnprocessableEntity, wantFields: []string{"estimated_cost"}},
		{name: "estimated cost beyond NUMERIC(10,2)", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"estimated_cost": "100000000"}), want: http.StatusUnprocessableEntity, wantFields: []string{"estimated_cost"}},
		{name: "NUL in the title", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"title": "tap\u0000"}), want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "title longer than its column", token: owner, method: http.MethodPost, path: maintenancePath, body: body(map[string]any{"title": strings.Repeat("é", 256)}), want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "every problem at once", token: owner, method: http.MethodPost, path: maintenancePath,
			body: body(map[string]any{"title": " ", "description": "", "priority": "soon", "estimated_cost": "0.001", "tenant_id": uuid.New()}),
			want: http.StatusUnprocessableEntity, wantFields: []string{"description", "estimated_cost", "priority", "tenant_id", "title"}},
		{name: "assign to no such user", token: owner, method: http.MethodPost, path: openPath + "/assign", body: map[string]any{"assigned_to": uuid.New()}, want: http.StatusUnprocessableEntity, wantFields: []string{"assigned_to"}},
		{name: "assign to nobody", token: owner, method: http.MethodPost, path: openPath + "/assign", body: map[string]any{}, want: http.StatusUnprocessableEntity, wantFields: []string{"assigned_to"}},
		{name: "schedule a date without a time", token: owner, method: http.MethodPost, path: openPath + "/schedule", body: map[string]any{"scheduled_date": "2025-07-01"}, want: http.StatusUnprocessableEntity, wantFields: []string{"scheduled_date"}},
		{name: "schedule without a zone", token: owner, method: http.MethodPost, path: openPath + "/schedule", body: map[string]any{"scheduled_date": "2025-07-01T09:00:00"}, want: http.StatusUnprocessableEntity, wantFields: []string{"scheduled_date"}},
		{name: "schedule tomorrow", token: owner, method: http.MethodPost, path: openPath + "/schedule", body: map[string]any{"scheduled_date": "tomorrow"}, want: http.StatusUnprocessableEntity, wantFields: []string{"scheduled_date"}},
		{name: "schedule without a date", token: owner, method: http.MethodPost, path: openPath + "/schedule", body: map[string]any{}, want: http.StatusUnprocessableEntity, wantFields: []string{"scheduled_date"}},
		{name: "complete without a cost", token: owner, method: http.MethodPost, path: inProgressPath + "/complete", body: map[string]any{}, want: http.StatusUnprocessableEntity, wantFields: []string{"actual_cost"}},
		{name: "complete at 1.001", token: owner, method: http.MethodPost, path: inProgressPath + "/complete", body: map[string]any{"actual_cost": "1.001"}, want: http.StatusUnprocessableEntity, wantFields: []string{"actual_cost"}},
		{name: "complete at a negative cost", token: owner, method: http.MethodPost, path: inProgressPath + "/complete", body: map[string]any{"actual_cost": -5}, want: http.StatusUnprocessableEntity, wantFields: []string{"actual_cost"}},
		{name: "PATCH title to null", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"title": nil}, want: http.StatusUnprocessableEntity, wantFields: []string{"title"}},
		{name: "PATCH priority to null", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"priority": nil}, want: http.StatusUnprocessableEntity, wantFields: []string{"priority"}},
		{name: "PATCH priority to empty", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"priority": ""}, want: http.StatusUnprocessableEntity, wantFields: []string{"priority"}},
		{name: "PATCH estimated cost with three places", token: owner, method: http.MethodPatch, path: openPath, body: map[string]any{"estimated_cost": "0.001", "description": ""}, want: http.StatusUnprocessableEntity, wantFields: []string{"description", "estimated_cost"}},
		{name: "cancel with NUL in the reason", token: owner, method: http.MethodPost, path: openPath + "/cancel", body: map[string]any{"reason": "x\u0000"}, want: http.StatusUnprocessableEntity, wantFields: []string{"reason"}},

		{name: "stranger's GET", token: stranger, method: http.MethodGet, path: openPath, want: http.StatusNotFound},
		{name: "stranger's cancel", token: stranger, method: http.MethodPost, path: openPath + "/cancel", want: http.StatusNotFound},
		{name: "stranger assigns themself", token: stranger, method: http.MethodPost, path: openPath + "/assign", body: map[string]any{"assigned_to": strangerID}, want: http.StatusNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.MustMaintenanceCounts(t)
			p := MustProblem(t, s.Do(t, c.token, c.method, c.path, c.body, c.header), c.want)
			if got, want := p.Title, http.StatusText(c.want); got != want {
				t.Errorf("title = %q, want %q", got, want)
			}
			if c.want == http.StatusUnprocessableEntity {
				if got := p.fields(); !slices.Equal(got, c.wantFields) {
					t.Errorf("errors[].field = %q, want %q", got, c.wantFields)
				}
			}
			s.MustMaintenanceUnchanged(t, before, c.name)
		})
	}
	for _, m := range []maintenanceDoc{open, inProgress} {
		if got, tag := s.MustGetMaintenance(t, owner, m.ID); got.Status != m.Status || tag != etag(m.Version) {
			t.Errorf("after the refusals %s is %s with ETag %s, want %s and %s", m.ID, got.Status, tag, m.Status, etag(m.Version))
		}
	}
}

func TestMaintenanceOwnerIsolation(t *testing.T) {
	s := MustStack(t)
	ownerAID, ownerA := s.MustUser(t, domain.RoleUser)
	ownerBID, ownerB := s.MustUser(t, domain.RoleUser)
	workerID, worker := s.MustUser(t, domain.RoleUser)
	_, manager := s.MustUser(t, domain.RoleManager)
	_, admin := s.MustUser(t, domain.RoleAdmin)
	propertyA := s.MustProperty(t, ownerA)
	propertyB := s.MustProperty(t, ownerB)
	tenantA := s.MustTenantFixture(t, ownerAID)
	tenantB := s.MustTenantFixture(t, ownerBID)

	assigned := s.MustMaintenanceInStatus(t, ownerA, propertyA, tenantA, workerID, "assigned") // A's, assigned to the worker
	unassigned := s.MustMaintenanceInStatus(t, ownerA, propertyA, tenantA, workerID, "open")   // A's, nobody's
	ofB := s.MustMaintenanceInStatus(t, ownerB, propertyB, tenantB, workerID, "open")          // B's
	assignedPath := maintenancePath + "/" + assigned.ID
	nowhere := maintenancePath + "/" + uuid.NewString()

	commandCases := []struct {
		name, method, suffix string
		body                 any
		header               map[string]string
	}{
		{"GET", http.MethodGet, "", nil, nil},
		{"history", http.MethodGet, "/history", nil, nil},
		{"PATCH", http.MethodPatch, "", map[string]any{"title": "Mine now"}, nil},
		{"PATCH with If-Match", http.MethodPatch, "", map[string]any{"title": "Mine now"}, map[string]string{"If-Match": `"2"`}},
		{"assign", http.MethodPost, "/assign", map[string]any{"assigned_to": ownerBID}, nil},
		{"schedule", http.MethodPost, "/schedule", map[string]any{"scheduled_date": "2025-07-01T09:00:00Z"}, nil},
		{"start", http.MethodPost, "/start", nil, nil},
		{"start with Idempotency-Key", http.MethodPost, "/start", nil, map[string]string{"Idempotency-Key": "b-start"}},
		{"complete", http.MethodPost, "/complete", map[string]any{"actual_cost": "1"}, nil},
		{"cancel", http.MethodPost, "/cancel", nil, nil},
	}
	t.Run("another owner sees nothing", func(t *testing.T) {
		for _, c := range commandCases {
			t.Run(c.name, func(t *testing.T) {
				before := s.MustMaintenanceCounts(t)
				got := MustProblem(t, s.Do(t, ownerB, c.method, assignedPath+c.suffix, c.body, c.header), http.StatusNotFound)
				s.MustMaintenanceUnchanged(t, before, "B's "+c.name+" of A's request")
				// The answer is the one for a request that does not exist at all.
				want := MustProblem(t, s.Do(t, ownerB, c.method, nowhere+c.suffix, c.body, c.header), http.StatusNotFound)
				if got.Title != want.Title || got.Detail != want.Detail || got.Type != want.Type {
					t.Errorf("404 for A's request %+v differs from 404 for no request %+v", got, want)
				}
			})
		}
		if got, want := s.MustListMaintenance(t, ownerB, "").ids(), []string{ofB.ID}; !slices.Equal(got, want) {
			t.Errorf("B's list = %v, want only B's %v", got, want)
		}
		for _, q := range []string{"property_id=" + propertyA.String(), "assigned_to=" + workerID.String(), "status=assigned"} {
			if got := s.MustListMaintenance(t, ownerB, q).ids(); len(got) != 0 {
				t.Errorf("B's list ?%s = %v, want empty", q, got)
			}
		}
		before := s.MustMaintenanceCounts(t)
		p := MustProblem(t, s.Do(t, ownerB, http.MethodPost, maintenancePath, maintenanceBody(propertyA, tenantB, nil), nil), http.StatusUnprocessableEntity)
		if got := p.fields(); !slices.Equal(got, []string{"property_id"}) {
			t.Errorf("B's request on A's property: errors on %q, want property_id", got)
		}
		s.MustMaintenanceUnchanged(t, before, "B's request on A's property")
	})

	t.Run("the owner sees its own", func(t *testing.T) {
		got := s.MustListMaintenance(t, ownerA, "").ids()
		if want := []string{assigned.ID, unassigned.ID}; !slices.Equal(got, want) {
			t.Errorf("A's list = %v, want %v", got, want)
		}
	})

	t.Run("the assignee sees what is assigned to it", func(t *testing.T) {
		got, tag := s.MustGetMaintenance(t, worker, assigned.ID)
		if got.ID != assigned.ID || tag != etag(assigned.Version) {
			t.Errorf("assignee's GET = %s with ETag %s, want %s with %s", got.ID, tag, assigned.ID, etag(assigned.Version))
		}
		MustStatus(t, s.Do(t, worker, http.MethodGet, assignedPath+"/history", nil, nil), http.StatusOK)
		for _, q := range []string{"", "assigned_to=" + workerID.String(), "property_id=" + propertyA.String(), "status=assigned"} {
			if got, want := s.MustListMaintenance(t, worker, q).ids(), []string{assigned.ID}; !slices.Equal(got, want) {
				t.Errorf("assignee's list ?%s = %v, want %v", q, got, want)
			}
		}
		for _, id := range []string{unassigned.ID, ofB.ID} {
			MustProblem(t, s.Do(t, worker, http.MethodGet, maintenancePath+"/"+id, nil, nil), http.StatusNotFound)
			before := s.MustMaintenanceCounts(t)
			MustProblem(t, s.Do(t, worker, http.MethodPost, maintenancePath+"/"+id+"/assign",
				map[string]any{"assigned_to": workerID}, nil), http.StatusNotFound)
			s.MustMaintenanceUnchanged(t, before, "the worker assigning itself a request it cannot see")
		}
	})

	t.Run("the assignee may not decide what or who", func(t *testing.T) {
		forbidden := []struct {
			name, method, suffix string
			body                 any
		}{
			{"cancel", http.MethodPost, "/cancel", nil},
			{"cancel with a reason", http.MethodPost, "/cancel", map[string]any{"reason": "not my job"}},
			{"reassign to someone else", http.MethodPost, "/assign", map[string]any{"assigned_to": ownerBID}},
			{"reassign to itself", http.MethodPost, "/assign", map[string]any{"assigned_to": workerID}},
			{"PATCH", http.MethodPatch, "", map[string]any{"estimated_cost": "1000"}},
		}
		for _, c := range forbidden {
			t.Run(c.name, func(t *testing.T) {
				before := s.MustMaintenanceCounts(t)
				MustProblem(t, s.Do(t, worker, c.method, assignedPath+c.suffix, c.body, nil), http.StatusForbidden)
				s.MustMaintenanceUnchanged(t, before, "the assignee's "+c.name)
			})
		}
	})

	t.Run("the assignee schedules, starts and completes", func(t *testing.T) {
		m := s.MustMaintenanceAction(t, worker, assigned.ID, "schedule", map[string]any{"scheduled_date": "2025-07-01T09:00:00Z"})
		if m.ScheduledDate == nil || *m.ScheduledDate != "2025-07-01T09:00:00Z" {
			t.Errorf("scheduled_date = %v, want 2025-07-01T09:00:00Z", m.ScheduledDate)
		}
		m = s.MustMaintenanceAction(t, worker, assigned.ID, "start", nil)
		if m.Status != "in_progress" {
			t.Errorf("status = %q, want in_progress", m.Status)
		}
		m = s.MustMaintenanceAction(t, worker, assigned.ID, "complete", map[string]any{"actual_cost": "88.80"})
		if m.Status != "completed" || m.ActualCost != "88.80" || m.CompletedDate == nil {
			t.Errorf("status %q actual_cost %#v completed_date %v, want completed, \"88.80\", set", m.Status, m.ActualCost, m.CompletedDate)
		}
		if got, _ := s.MustGetMaintenance(t, ownerA, assigned.ID); got.Status != "completed" || got.Version != m.Version {
			t.Errorf("owner reads %s v%d, want completed v%d", got.Status, got.Version, m.Version)
		}
		before := s.MustMaintenanceCounts(t)
		// Neither A's property nor A's tenant is the assignee's to see: both are refused as absent.
		p := MustProblem(t, s.Do(t, worker, http.MethodPost, maintenancePath, maintenanceBody(propertyA, tenantA, nil), nil), http.StatusUnprocessableEntity)
		if got := p.fields(); !slices.Equal(got, []string{"property_id", "tenant_id"}) {
			t.Errorf("the assignee's new request on A's property: errors on %q, want property_id and tenant_id", got)
		}
		s.MustMaintenanceUnchanged(t, before, "the assignee's new request")
	})

	t.Run("reassigned away, the former assignee sees it no more", func(t *testing.T) {
		m := s.MustMaintenanceInStatus(t, ownerA, propertyA, tenantA, workerID, "assigned")
		MustStatus(t, s.Do(t, worker, http.MethodGet, maintenancePath+"/"+m.ID, nil, nil), http.StatusOK)
		s.MustMaintenanceAction(t, ownerA, m.ID, "assign", map[string]any{"assigned_to": ownerAID})
		MustProblem(t, s.Do(t, worker, http.MethodGet, maintenancePath+"/"+m.ID, nil, nil), http.StatusNotFound)
		before := s.MustMaintenanceCounts(t)
		MustProblem(t, s.Do(t, worker, http.MethodPost, maintenancePath+"/"+m.ID+"/start", nil, nil), http.StatusNotFound)
		s.MustMaintenanceUnchanged(t, before, "the former assignee's start")
		if got := s.MustListMaintenance(t, worker, "").ids(); slices.Contains(got, m.ID) {
			t.Errorf("former assignee's list %v still holds %s", got, m.ID)
		}
	})

	t.Run("managers and admins act on everything", func(t *testing.T) {
		for _, token := range []string{manager, admin} {
			got := s.MustListMaintenance(t, token, "").ids()
			for _, id := range []string{assigned.ID, unassigned.ID, ofB.ID} {
				if !slices.Contains(got, id) {
					t.Errorf("list %v lacks %s", got, id)
				}
			}
		}
		m := s.MustMaintenanceAction(t, manager, ofB.ID, "assign", map[string]any{"assigned_to": workerID})
		if m.AssignedTo == nil || *m.AssignedTo != workerID.String() {
			t.Errorf("manager's assignment: assigned_to = %v, want %s", m.AssignedTo, workerID)
		}
		resp := s.Do(t, admin, http.MethodPatch, maintenancePath+"/"+unassigned.ID, map[string]any{"priority": "low"}, nil)
		MustStatus(t, resp, http.StatusOK)
		var patched maintenanceDoc
		MustDecode(t, resp, &patched)
		if patched.Priority != "low" {
			t.Errorf("admin's PATCH: priority = %q, want low", patched.Priority)
		}
		s.MustMaintenanceAction(t, manager, unassigned.ID, "cancel", nil)
		// A manager files requests on any owner's property.
		created := s.MustCreateMaintenance(t, manager, maintenanceBody(propertyB, tenantB, nil))
		if created.PropertyID != propertyB.String() {
			t.Errorf("manager's request is on %s, want %s", created.PropertyID, propertyB)
		}
		if got := s.MustListMaintenance(t, ownerB, "").ids(); !slices.Contains(got, created.ID) {
			t.Errorf("B's list %v lacks the manager's request %s on B's property", got, created.ID)
		}
	})
}

func TestMaintenanceListFiltersAndPages(t *testing.T) {
	s := MustStack(t)
	ownerID, owner := s.MustUser(t, domain.RoleUser)
	workerID, _ := s.MustUser(t, domain.RoleUser)
	otherWorkerID, _ := s.MustUser(t, domain.RoleUser)
	p1 := s.MustProperty(t, owner)
	p2 := s.MustProperty(t, owner)
	tenant := s.MustTenantFixture(t, ownerID)

	// In creation order: the list is oldest first.
	r1 := s.MustCreateMaintenance(t, owner, maintenanceBody(p1, tenant, map[string]any{"priority": "low"}))
	r2 := s.MustCreateMaintenance(t, owner, maintenanceBody(p1, tenant, map[string]any{"priority": "emergency"}))
	r3 := s.MustCreateMaintenance(t, owner, maintenanceBody(p2, tenant, map[string]any{"priority": "low"}))
	r4 := s.MustCreateMaintenance(t, owner, maintenanceBody(p2, tenant, map[string]any{"priority": nil}))
	r5 := s.MustCreateMaintenance(t, owner, maintenanceBody(p2, tenant, map[string]any{"priority": "high"}))
	s.MustMaintenanceAction(t, owner, r2.ID, "assign", map[string]any{"assigned_to": workerID})
	s.MustMaintenanceAction(t, owner, r3.ID, "assign", map[string]any{"assigned_to": otherWorkerID})
	s.MustMaintenanceAction(t, owner, r3.ID, "start", nil)
	s.MustMaintenanceAction(t, owner, r4.ID, "cancel", nil)

	filters := []struct {
		query string
		want  []maintenanceDoc
	}{
		{"", []maintenanceDoc{r1, r2, r3, r4, r5}},
		{"property_id=" + p1.String(), []maintenanceDoc{r1, r2}},
		{"property_id=" + uuid.NewString(), nil},
		{"status=open", []maintenanceDoc{r1, r5}},
		{"status=assigned", []maintenanceDoc{r2}},
		{"status=in_progress", []maintenanceDoc{r3}},
		{"status=cancelled", []maintenanceDoc{r4}},
		{"status=completed", nil},
		{"priority=low", []maintenanceDoc{r1, r3}},
		{"priority=medium", []maintenanceDoc{r4}},
		{"priority=emergency", []maintenanceDoc{r2}},
		{"assigned_to=" + workerID.String(), []maintenanceDoc{r2}},
		{"assigned_to=" + otherWorkerID.String() + "&status=in_progress&priority=low&property_id=" + p2.String(), []maintenanceDoc{r3}},
		{"assigned_to=" + otherWorkerID.String() + "&status=open", nil},
		{"priority=low&property_id=" + p2.String(), []maintenanceDoc{r3}},
	}
	for _, f := range filters {
		t.Run("?"+f.query, func(t *testing.T) {
			want := []string{}
			for _, m := range f.want {
				want = append(want, m.ID)
			}
			if got := s.MustListMaintenance(t, owner, f.query).ids(); !slices.Equal(got, want) {
				t.Errorf("ids = %v, want %v", got, want)
			}
		})
	}

	t.Run("list items are the entities", func(t *testing.T) {
		page := s.MustListMaintenance(t, owner, "status=in_progress")
		read, _ := s.MustGetMaintenance(t, owner, r3.ID)
		if len(page.Items) != 1 {
			t.Fatalf("items = %v, want one", page.ids())
		}
		MustSameMaintenance(t, "list item", page.Items[0], read)
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		cursor := ""
		for range 4 {
			page := s.MustListMaintenance(t, owner, "limit=2&cursor="+cursor)
			if len(page.Items) > 2 {
				t.Fatalf("page of %d items, want at most 2", len(page.Items))
			}
			got = append(got, page.ids()...)
			if page.NextCursor == nil {
				break
			}
			cursor = *page.NextCursor
		}
		if want := []string{r1.ID, r2.ID, r3.ID, r4.ID, r5.ID}; !slices.Equal(got, want) {
			t.Errorf("paged ids = %v, want %v", got, want)
		}
		last := s.MustListMaintenance(t, owner, "limit=5")
		if last.NextCursor != nil {
			t.Errorf("a page holding the last item has next_cursor %q, want null", *last.NextCursor)
		}
		filtered := s.MustListMaintenance(t, owner, "priority=low&limit=1")
		if got, want := filtered.ids(), []string{r1.ID}; !slices.Equal(got, want) || filtered.NextCursor == nil {
			t.Fatalf("first filtered page = %v (next %v), want %v and a cursor", got, filtered.NextCursor, want)
		}
		second := s.MustListMaintenance(t, owner, "priority=low&limit=1&cursor="+*filtered.NextCursor)
		if got, want := second.ids(), []string{r3.ID}; !slices.Equal(got, want) {
			t.Errorf("second filtered page = %v, want %v", got, want)
		}
	})

	t.Run("bad query parameters", func(t *testing.T) {
		for _, q := range []string{
			"property_id=nope", "assigned_to=12345", "status=closed", "status=OPEN", "priority=urgent",
			"priority=Low", "limit=0", "limit=201", "limit=ten", "cursor=%21%21", "cursor=" + strings.Repeat("A", 12),
		} {
			t.Run(q, func(t *testing.T) {
				MustProblem(t, s.Do(t, owner, http.MethodGet, maintenancePath+"?"+q, nil, nil), http.StatusBadRequest)
			})
		}
	})
}

func TestMaintenanceWriteConventions(t *testing.T) {
	s := MustStack(t)
	ownerID, owner := s.MustUser(t, domain.RoleUser)
	_, stranger := s.MustUser(t, domain.RoleUser)
	workerID, _ := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, owner)
	tenant := s.MustTenantFixture(t, ownerID)

	t.Run("ETag and If-Match on PATCH", func(t *testing.T) {
		m := s.MustCreateMaintenance(t, owner, maintenanceBody(property, tenant, nil))
		path := maintenancePath + "/" + m.ID
		_, tag := s.MustGetMaintenance(t, owner, m.ID)
		if tag != `"1"` {
			t.Fatalf("GET ETag = %s, want \"1\"", tag)
		}
		resp := s.Do(t, owner, http.MethodPatch, path, map[string]any{"title": "Dripping tap"}, map[string]string{"If-Match": tag})
		MustStatus(t, resp, http.StatusOK)
		if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
			t.Errorf("PATCH ETag = %s, want %s", got, want)
		}
		before := s.MustMaintenanceCounts(t)
		MustProblem(t, s.Do(t, owner, http.MethodPatch, path, map[string]any{"title": "Lost update"}, map[string]string{"If-Match": tag}), http.StatusPreconditionFailed)
		MustProblem(t, s.Do(t, owner, http.MethodPost, path+"/assign", map[string]any{"assigned_to": workerID}, map[string]string{"If-Match": tag}), http.StatusPreconditionFailed)
		s.MustMaintenanceUnchanged(t, before, "stale If-Match")
		if got, tag := s.MustGetMaintenance(t, owner, m.ID); got.Title != "Dripping tap" || tag != `"2"` {
			t.Errorf("after the refusals: title %q ETag %s, want Dripping tap and \"2\"", got.Title, tag)
		}
		resp = s.Do(t, owner, http.MethodPost, path+"/assign", map[string]any{"assigned_to": workerID}, map[string]string{"If-Match": `W/"2"`})
		MustStatus(t, resp, http.StatusOK)
		if got, want := resp.Header.Get("ETag"), `"3"`; got != want {
			t.Errorf("assign ETag = %s, want %s", got, want)
		}
	})

	t.Run("PATCH is a merge patch", func(t *testing.T) {
		m := s.MustCreateMaintenance(t, owner, maintenanceBody(property, tenant, nil))
		path := maintenancePath + "/" + m.ID
		patch := func(t *testing.T, body any) maintenanceDoc {
			t.Helper()
			resp := s.Do(t, owner, http.MethodPatch, path, body, nil)
			MustStatus(t, resp, http.StatusOK)
			var got maintenanceDoc
			MustDecode(t, resp, &got)
			read, _ := s.MustGetMaintenance(t, owner, m.ID)
			MustSameMaintenance(t, "GET after PATCH", read, got)
			return got
		}
		got := patch(t, map[string]any{"description": "Both taps now.", "priority": "emergency"})
		want := m
		want.Description, want.Priority, want.Version, want.UpdatedAt = "Both taps now.", "emergency", 2, got.UpdatedAt
		MustSameMaintenance(t, "after patching description and priority", got, want)
		if got.UpdatedAt == m.UpdatedAt || got.CreatedAt != m.CreatedAt {
			t.Errorf("updated_at %s created_at %s; want a new updated_at and created_at %s", got.UpdatedAt, got.CreatedAt, m.CreatedAt)
		}

		got = patch(t, map[string]any{"estimated_cost": nil})
		want.EstimatedCost, want.Version, want.UpdatedAt = nil, 3, got.UpdatedAt
		MustSameMaintenance(t, "after clearing estimated_cost", got, want)

		got = patch(t, map[string]any{"estimated_cost": 75})
		want.EstimatedCost, want.Version, want.UpdatedAt = "75.00", 4, got.UpdatedAt
		MustSameMaintenance(t, "after setting estimated_cost", got, want)

		before := s.MustMaintenanceCounts(t)
		got = patch(t, map[string]any{"estimated_cost": "75.0", "title": m.Title})
		MustSameMaintenance(t, "after a patch that changes nothing", got, want)
		got = patch(t, map[string]any{})
		MustSameMaintenance(t, "after an empty patch", got, want)
		s.MustMaintenanceUnchanged(t, before, "patches that change nothing")
	})

	t.Run("client id", func(t *testing.T) {
		id := uuid.New()
		body := maintenanceBody(property, tenant, map[string]any{"id": id, "estimated_cost": "50"})
		resp := s.Do(t, owner, http.MethodPost, maintenancePath, body, nil)
		MustStatus(t, resp, http.StatusCreated)
		var first maintenanceDoc
		MustDecode(t, resp, &first)
		if first.ID != id.String() {
			t.Fatalf("id = %s, want the client's %s", first.ID, id)
		}
		if got, want := resp.Header.Get("Location"), maintenancePath+"/"+id.String(); got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}

		before := s.MustMaintenanceCounts(t)
		// The same body again, even with the amount written differently.
		again := maintenanceBody(property, tenant, map[string]any{"id": id, "estimated_cost": 50.00})
		resp = s.Do(t, owner, http.MethodPost, maintenancePath, again, nil)
		MustStatus(t, resp, http.StatusOK)
		var repeated maintenanceDoc
		MustDecode(t, resp, &repeated)
		MustSameMaintenance(t, "repeated create", repeated, first)
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		s.MustMaintenanceUnchanged(t, before, "repeated create")

		MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath,
			maintenanceBody(property, tenant, map[string]any{"id": id, "estimated_cost": "51"}), nil), http.StatusConflict)
		MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath,
			maintenanceBody(property, tenant, map[string]any{"id": id, "priority": nil}), nil), http.StatusConflict)
		s.MustMaintenanceUnchanged(t, before, "conflicting creates")

		// A stranger can see neither the property nor the tenant, so the same body is refused as such.
		p := MustProblem(t, s.Do(t, stranger, http.MethodPost, maintenancePath, body, nil), http.StatusUnprocessableEntity)
		if got := p.fields(); !slices.Equal(got, []string{"property_id", "tenant_id"}) {
			t.Errorf("stranger's repeat: errors on %q, want property_id and tenant_id", got)
		}
		s.MustMaintenanceUnchanged(t, before, "stranger's repeat")
		if got, _ := s.MustGetMaintenance(t, owner, id.String()); got.EstimatedCost != "50.00" || got.Version != 1 {
			t.Errorf("request is now %#v v%d, want 50.00 v1", got.EstimatedCost, got.Version)
		}
	})

	t.Run("Idempotency-Key", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "maintenance-create-1"}
		body := maintenanceBody(property, tenant, map[string]any{"title": "Keyed"})
		first := s.Do(t, owner, http.MethodPost, maintenancePath, body, key)
		MustStatus(t, first, http.StatusCreated)
		firstBody, err := io.ReadAll(first.Body)
		if err != nil {
			t.Fatal(err)
		}

		before := s.MustMaintenanceCounts(t)
		resp := s.Do(t, owner, http.MethodPost, maintenancePath, body, key)
		MustStatus(t, resp, http.StatusCreated)
		if got, _ := io.ReadAll(resp.Body); string(got) != string(firstBody) {
			t.Errorf("replayed body = %s, want %s", got, firstBody)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		for _, h := range []string{"Location", "ETag"} {
			if got, want := resp.Header.Get(h), first.Header.Get(h); got != want {
				t.Errorf("replayed %s = %q, want %q", h, got, want)
			}
		}
		s.MustMaintenanceUnchanged(t, before, "replayed create")

		MustProblem(t, s.Do(t, owner, http.MethodPost, maintenancePath,
			maintenanceBody(property, tenant, map[string]any{"title": "Other"}), key), http.StatusUnprocessableEntity)
		s.MustMaintenanceUnchanged(t, before, "reused key with another body")

		// A command replays too: the second start is the first answer, not a 409.
		var created maintenanceDoc
		if err := json.Unmarshal(firstBody, &created); err != nil {
			t.Fatal(err)
		}
		s.MustMaintenanceAction(t, owner, created.ID, "assign", map[string]any{"assigned_to": workerID})
		startKey := map[string]string{"Idempotency-Key": "maintenance-start-1"}
		startPath := maintenancePath + "/" + created.ID + "/start"
		resp = s.Do(t, owner, http.MethodPost, startPath, nil, startKey)
		MustStatus(t, resp, http.StatusOK)
		started, _ := io.ReadAll(resp.Body)
		before = s.MustMaintenanceCounts(t)
		resp = s.Do(t, owner, http.MethodPost, startPath, nil, startKey)
		MustStatus(t, resp, http.StatusOK)
		if got, _ := io.ReadAll(resp.Body); string(got) != string(started) {
			t.Errorf("replayed start = %s, want %s", got, started)
		}
		s.MustMaintenanceUnchanged(t, before, "replayed start")
	})
}
