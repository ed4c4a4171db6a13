package domain

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

var (
	maintRequestID = uuid.MustParse("5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716")
	maintTenantID  = uuid.MustParse("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f")
	maintOtherUser = uuid.MustParse("8a9b0c1d-2e3f-4051-8263-748596a7b8c9")
)

// maintDetails are valid details with every field set; edit changes them.
func maintDetails(edit func(*MaintenanceDetails)) MaintenanceDetails {
	cost := MustMoney("120.00")
	d := MaintenanceDetails{
		Title: "Leaking tap", Description: "The kitchen tap drips day and night.",
		Priority: PriorityHigh, EstimatedCost: &cost,
	}
	if edit != nil {
		edit(&d)
	}
	return d
}

func maintMoney(s string) *Money {
	m := MustMoney(s)
	return &m
}

// maintProperty and maintTenant are an existing property and tenant.
func maintProperty(tb testing.TB) *Property {
	tb.Helper()
	return MustGiven(tb, &Property{}, registered(ptr(ownerA), fullDetails()))
}

func maintTenant(tb testing.TB) *Tenant {
	tb.Helper()
	return MustGiven(tb, &Tenant{}, &TenantRegistered{
		TenantID: maintTenantID, RegisteredBy: ownerA,
		Contact: TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"},
	})
}

// maintAssignee is an existing user to assign work to.
func maintAssignee(tb testing.TB, id uuid.UUID) *User {
	tb.Helper()
	return MustGiven(tb, &User{}, userRegistered(user(func(in *NewUserInput) { in.ID = id })))
}

func maintRequested(d MaintenanceDetails) *MaintenanceRequested {
	return &MaintenanceRequested{RequestID: maintRequestID, PropertyID: propertyID, TenantID: maintTenantID, Details: d}
}

// maintHistories are histories that leave a request in each of its statuses.
func maintHistories() []struct {
	status MaintenanceStatus
	given  []Event
} {
	requested := maintRequested(maintDetails(nil))
	assigned := &MaintenanceAssigned{AssignedTo: userID}
	return []struct {
		status MaintenanceStatus
		given  []Event
	}{
		{MaintenanceStatusOpen, []Event{requested}},
		{MaintenanceStatusAssigned, []Event{requested, assigned}},
		{MaintenanceStatusInProgress, []Event{requested, assigned, &MaintenanceStarted{}}},
		{MaintenanceStatusCompleted, []Event{requested, assigned, &MaintenanceStarted{},
			&MaintenanceCompleted{ActualCost: MustMoney("95.50")}}},
		{MaintenanceStatusCancelled, []Event{requested, &MaintenanceCancelled{Reason: "tenant fixed it"}}},
	}
}

func TestRequestMaintenance(t *testing.T) {
	tests := []struct {
		name     string
		id       uuid.UUID
		property *Property
		tenant   *Tenant
		details  MaintenanceDetails
		wantErr  wantError
	}{
		{name: "every field", id: maintRequestID, details: maintDetails(nil)},
		{name: "no estimated cost", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = nil })},
		{name: "a zero estimated cost", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = maintMoney("0") })},
		{name: "the largest estimated cost", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = maintMoney("99999999.99") })},
		{name: "low priority", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityLow })},
		{name: "medium priority", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityMedium })},
		{name: "emergency priority", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityEmergency })},
		{name: "a 255-rune title", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Title = strings.Repeat("é", 255) })},
		{name: "nil id", id: uuid.Nil, details: maintDetails(nil), wantErr: invalid("id")},
		{name: "no such property", id: maintRequestID, property: &Property{}, details: maintDetails(nil), wantErr: invalid("property_id")},
		{name: "no such tenant", id: maintRequestID, tenant: &Tenant{}, details: maintDetails(nil), wantErr: invalid("tenant_id")},
		{name: "missing title", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Title = "" }), wantErr: invalid("title")},
		{name: "blank title", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Title = " \n\t" }), wantErr: invalid("title")},
		{name: "a 256-rune title", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Title = strings.Repeat("é", 256) }), wantErr: invalid("title")},
		{name: "NUL in the title", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Title = "tap\x00" }), wantErr: invalid("title")},
		{name: "missing description", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Description = "" }), wantErr: invalid("description")},
		{name: "NUL in the description", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Description = "a\x00b" }), wantErr: invalid("description")},
		{name: "no priority", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Priority = Priority{} }), wantErr: invalid("priority")},
		{name: "an unknown priority", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.Priority = ParsePriority("urgent") }), wantErr: invalid("priority")},
		{name: "a negative estimated cost", id: maintRequestID, details: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = maintMoney("-0.01") }), wantErr: invalid("estimated_cost")},
		{
			name: "everything wrong at once lists every field", id: uuid.Nil, property: &Property{}, tenant: &Tenant{},
			details: MaintenanceDetails{EstimatedCost: maintMoney("-5")},
			wantErr: invalid("id", "property_id", "tenant_id", "title", "description", "priority", "estimated_cost"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given an existing property and tenant unless the case says otherwise
			property, tenant := tt.property, tt.tenant
			if property == nil {
				property = maintProperty(t)
			}
			if tenant == nil {
				tenant = maintTenant(t)
			}
			// when
			got, err := RequestMaintenance(tt.id, property, tenant, tt.details)
			// then
			var want []Event
			if tt.wantErr.none() {
				want = []Event{maintRequested(tt.details)}
			}
			MustOutcome(t, got, err, want, tt.wantErr)
		})
	}
}

// TestMaintenanceTransitions runs every action from every status: the legal ones
// record their event, the illegal ones are ErrIllegalTransition (a conflict).
func TestMaintenanceTransitions(t *testing.T) {
	scheduled := time.Date(2025, 6, 2, 10, 0, 0, 123456789, time.FixedZone("EDT", -4*3600))
	changed := maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityEmergency })
	actions := []struct {
		name  string
		legal []MaintenanceStatus
		when  func(tb testing.TB, m *MaintenanceRequest) ([]Event, error)
		want  Event
	}{
		{
			name:  "change details",
			legal: []MaintenanceStatus{MaintenanceStatusOpen, MaintenanceStatusAssigned, MaintenanceStatusInProgress},
			when: func(_ testing.TB, m *MaintenanceRequest) ([]Event, error) {
				return m.ChangeDetails(changed)
			},
			want: &MaintenanceDetailsChanged{Details: changed},
		},
		{
			name:  "assign",
			legal: []MaintenanceStatus{MaintenanceStatusOpen, MaintenanceStatusAssigned},
			when: func(tb testing.TB, m *MaintenanceRequest) ([]Event, error) {
				return m.Assign(maintAssignee(tb, maintOtherUser))
			},
			want: &MaintenanceAssigned{AssignedTo: maintOtherUser},
		},
		{
			name:  "schedule",
			legal: []MaintenanceStatus{MaintenanceStatusOpen, MaintenanceStatusAssigned, MaintenanceStatusInProgress},
			when: func(_ testing.TB, m *MaintenanceRequest) ([]Event, error) {
				return m.Schedule(scheduled)
			},
			// in UTC, to the microsecond that TIMESTAMP keeps
			want: &MaintenanceScheduled{ScheduledDate: time.Date(2025, 6, 2, 14, 0, 0, 123456000, time.UTC)},
		},
		{
			name:  "start",
			legal: []MaintenanceStatus{MaintenanceStatusAssigned},
			when:  func(_ testing.TB, m *MaintenanceRequest) ([]Event, error) { return m.Start() },
			want:  &MaintenanceStarted{},
		},
		{
			name:  "complete",
			legal: []MaintenanceStatus{MaintenanceStatusInProgress},
			when: func(_ testing.TB, m *MaintenanceRequest) ([]Event, error) {
				return m.Complete(maintMoney("130.25"))
			},
			want: &MaintenanceCompleted{ActualCost: MustMoney("130.25")},
		},
		{
			name:  "cancel",
			legal: []MaintenanceStatus{MaintenanceStatusOpen, MaintenanceStatusAssigned, MaintenanceStatusInProgress},
			when: func(_ testing.TB, m *MaintenanceRequest) ([]Event, error) {
				return m.Cancel("duplicate request")
			},
			want: &MaintenanceCancelled{Reason: "duplicate request"},
		},
	}
	cases := 0
	for _, h := range maintHistories() {
		for _, a := range actions {
			legal := false
			for _, s := range a.legal {
				legal = legal || s == h.status
			}
			cases++
			t.Run(a.name+" when "+h.status.String(), func(t *testing.T) {
				// given
				m := MustGiven(t, &MaintenanceRequest{}, h.given...)
				if got := m.Status(); got != h.status {
					t.Fatalf("given status = %s, want %s", got, h.status)
				}
				// when
				got, err := a.when(t, m)
				// then
				if legal {
					MustOutcome(t, got, err, []Event{a.want}, wantError{})
				} else {
					MustOutcome(t, got, err, nil, isErr(ErrIllegalTransition, ErrConflict))
				}
			})
		}
	}
	if got, want := cases, 5*6; got != want {
		t.Errorf("%d cases, want %d (every status × every action)", got, want)
	}
}

// TestMaintenanceStatusAfterEachEvent checks that applying each legal
// transition's event lands in the status the state machine names.
func TestMaintenanceStatusAfterEachEvent(t *testing.T) {
	for _, h := range maintHistories() {
		t.Run(h.status.String(), func(t *testing.T) {
			m := MustGiven(t, &MaintenanceRequest{}, h.given...)
			if got := m.Status(); got != h.status {
				t.Errorf("Status() = %s, want %s", got, h.status)
			}
		})
	}
	// Scheduling and details changes leave the status as it was.
	m := MustGiven(t, &MaintenanceRequest{}, maintRequested(maintDetails(nil)), &MaintenanceAssigned{AssignedTo: userID},
		&MaintenanceScheduled{ScheduledDate: t0}, &MaintenanceDetailsChanged{Details: maintDetails(nil)})
	if got, want := m.Status(), MaintenanceStatusAssigned; got != want {
		t.Errorf("Status() after schedule and details = %s, want %s", got, want)
	}
}

func TestMaintenanceChangeDetails(t *testing.T) {
	requested := maintRequested(maintDetails(nil))
	tests := []struct {
		name    string
		given   []Event
		when    MaintenanceDetails
		want    []Event
		wantErr wantError
	}{
		{
			name: "a new title records all the details", given: []Event{requested},
			when: maintDetails(func(d *MaintenanceDetails) { d.Title = "Dripping tap" }),
			want: []Event{&MaintenanceDetailsChanged{Details: maintDetails(func(d *MaintenanceDetails) { d.Title = "Dripping tap" })}},
		},
		{
			name: "clearing the estimated cost", given: []Event{requested},
			when: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = nil }),
			want: []Event{&MaintenanceDetailsChanged{Details: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = nil })}},
		},
		{
			name:  "setting an estimated cost that was absent",
			given: []Event{maintRequested(maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = nil }))},
			when:  maintDetails(nil),
			want:  []Event{&MaintenanceDetailsChanged{Details: maintDetails(nil)}},
		},
		{name: "the same details record nothing", given: []Event{requested}, when: maintDetails(nil)},
		{
			name: "the same cost written as 120 records nothing", given: []Event{requested},
			when: maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = maintMoney("120") }),
		},
		{
			name:  "the details of the last change record nothing",
			given: []Event{requested, &MaintenanceDetailsChanged{Details: maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityLow })}},
			when:  maintDetails(func(d *MaintenanceDetails) { d.Priority = PriorityLow }),
		},
		{
			name: "invalid details are refused, every field at once", given: []Event{requested},
			when:    MaintenanceDetails{Title: strings.Repeat("x", 256), Priority: ParsePriority("soon"), EstimatedCost: maintMoney("-1")},
			wantErr: invalid("title", "description", "priority", "estimated_cost"),
		},
		{
			name: "a completed request is final before its details are checked",
			given: []Event{requested, &MaintenanceAssigned{AssignedTo: userID}, &MaintenanceStarted{},
				&MaintenanceCompleted{ActualCost: MustMoney("1")}},
			when:    MaintenanceDetails{},
			wantErr: isErr(ErrIllegalTransition),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustGiven(t, &MaintenanceRequest{}, tt.given...)
			got, err := m.ChangeDetails(tt.when)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestMaintenanceAssign(t *testing.T) {
	requested := maintRequested(maintDetails(nil))
	tests := []struct {
		name     string
		given    []Event
		assignee func(testing.TB) *User
		want     []Event
		wantErr  wantError
	}{
		{
			name: "an open request to an existing user", given: []Event{requested},
			assignee: func(tb testing.TB) *User { return maintAssignee(tb, userID) },
			want:     []Event{&MaintenanceAssigned{AssignedTo: userID}},
		},
		{
			name: "reassigning to another user", given: []Event{requested, &MaintenanceAssigned{AssignedTo: userID}},
			assignee: func(tb testing.TB) *User { return maintAssignee(tb, maintOtherUser) },
			want:     []Event{&MaintenanceAssigned{AssignedTo: maintOtherUser}},
		},
		{
			name: "a user that does not exist", given: []Event{requested},
			assignee: func(testing.TB) *User { return &User{} },
			wantErr:  invalid("assigned_to"),
		},
		{
			name:     "a request in progress is refused before the assignee is checked",
			given:    []Event{requested, &MaintenanceAssigned{AssignedTo: userID}, &MaintenanceStarted{}},
			assignee: func(testing.TB) *User { return &User{} },
			wantErr:  isErr(ErrIllegalTransition),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustGiven(t, &MaintenanceRequest{}, tt.given...)
			got, err := m.Assign(tt.assignee(t))
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestMaintenanceScheduleValidation(t *testing.T) {
	requested := maintRequested(maintDetails(nil))
	m := MustGiven(t, &MaintenanceRequest{}, requested)
	got, err := m.Schedule(time.Time{})
	MustOutcome(t, got, err, nil, invalid("scheduled_date"))

	// A new date replaces the last one.
	m = MustGiven(t, &MaintenanceRequest{}, requested, &MaintenanceScheduled{ScheduledDate: t0})
	at := t0.Add(48 * time.Hour)
	got, err = m.Schedule(at)
	MustOutcome(t, got, err, []Event{&MaintenanceScheduled{ScheduledDate: at}}, wantError{})

	// A cancelled request is final before the date is checked.
	m = MustGiven(t, &MaintenanceRequest{}, requested, &MaintenanceCancelled{})
	got, err = m.Schedule(time.Time{})
	MustOutcome(t, got, err, nil, isErr(ErrIllegalTransition))
}

func TestMaintenanceComplete(t *testing.T) {
	inProgress := []Event{maintRequested(maintDetails(nil)), &MaintenanceAssigned{AssignedTo: userID}, &MaintenanceStarted{}}
	tests := []struct {
		name    string
		given   []Event
		cost    *Money
		want    []Event
		wantErr wantError
	}{
		{name: "at a cost", given: inProgress, cost: maintMoney("99.99"), want: []Event{&MaintenanceCompleted{ActualCost: MustMoney("99.99")}}},
		{name: "at no cost", given: inProgress, cost: maintMoney("0"), want: []Event{&MaintenanceCompleted{ActualCost: MustMoney("0")}}},
		{name: "without a cost", given: inProgress, wantErr: invalid("actual_cost")},
		{name: "at a negative cost", given: inProgress, cost: maintMoney("-0.01"), wantErr: invalid("actual_cost")},
		{
			name: "an open request is refused before the cost is checked", given: inProgress[:1],
			wantErr: isErr(ErrIllegalTransition),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustGiven(t, &MaintenanceRequest{}, tt.given...)
			got, err := m.Complete(tt.cost)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestMaintenanceCancel(t *testing.T) {
	requested := maintRequested(maintDetails(nil))
	tests := []struct {
		name    string
		reason  string
		want    []Event
		wantErr wantError
	}{
		{name: "without a reason", want: []Event{&MaintenanceCancelled{}}},
		{name: "with a reason", reason: "tenant moved out", want: []Event{&MaintenanceCancelled{Reason: "tenant moved out"}}},
		{name: "a reason with NUL", reason: "no\x00", wantErr: invalid("reason")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := MustGiven(t, &MaintenanceRequest{}, requested)
			got, err := m.Cancel(tt.reason)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestMaintenanceApplyRebuildsState(t *testing.T) {
	fresh := &MaintenanceRequest{}
	if fresh.Exists() || fresh.Version() != 0 || fresh.AssignedTo() != nil {
		t.Errorf("fresh request: Exists() = %v, Version() = %d, AssignedTo() = %v, want false, 0, nil",
			fresh.Exists(), fresh.Version(), fresh.AssignedTo())
	}
	changed := maintDetails(func(d *MaintenanceDetails) { d.Description = "Now the bathroom tap too." })
	m := MustGiven(t, &MaintenanceRequest{},
		maintRequested(maintDetails(nil)),
		&MaintenanceAssigned{AssignedTo: userID},
		&MaintenanceDetailsChanged{Details: changed},
		&MaintenanceAssigned{AssignedTo: maintOtherUser},
		&MaintenanceScheduled{ScheduledDate: t0},
		&MaintenanceStarted{},
	)
	if !m.Exists() {
		t.Error("Exists() = false after MaintenanceRequested")
	}
	if got, want := m.ID(), maintRequestID; got != want {
		t.Errorf("ID() = %s, want %s", got, want)
	}
	if got, want := m.Version(), int64(6); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if got, want := m.PropertyID(), propertyID; got != want {
		t.Errorf("PropertyID() = %s, want %s", got, want)
	}
	if got, want := m.TenantID(), maintTenantID; got != want {
		t.Errorf("TenantID() = %s, want %s", got, want)
	}
	if got, want := m.Status(), MaintenanceStatusInProgress; got != want {
		t.Errorf("Status() = %s, want %s", got, want)
	}
	if got := m.AssignedTo(); got == nil || *got != maintOtherUser {
		t.Errorf("AssignedTo() = %v, want %s", got, maintOtherUser)
	}
	MustEvents(t, []Event{&MaintenanceDetailsChanged{Details: m.Details()}}, []Event{&MaintenanceDetailsChanged{Details: changed}})
}

func TestMaintenanceEnums(t *testing.T) {
	for _, want := range []Priority{PriorityLow, PriorityMedium, PriorityHigh, PriorityEmergency} {
		if got := ParsePriority(want.String()); got != want {
			t.Errorf("ParsePriority(%q) = %q, want %q", want, got, want)
		}
	}
	if got, want := ParsePriority(""), PriorityMedium; got != want {
		t.Errorf(`ParsePriority("") = %q, want the default %q`, got, want)
	}
	for _, s := range []string{"urgent", "High", " low", "emergency "} {
		if got := ParsePriority(s); got != (Priority{}) {
			t.Errorf("ParsePriority(%q) = %q, want the zero priority", s, got)
		}
	}
	for _, want := range []MaintenanceStatus{MaintenanceStatusOpen, MaintenanceStatusAssigned,
		MaintenanceStatusInProgress, MaintenanceStatusCompleted, MaintenanceStatusCancelled} {
		var got MaintenanceStatus
		if err := got.UnmarshalText([]byte(want.String())); err != nil || got != want {
			t.Errorf("UnmarshalText(%q) = %q, %v; want %q", want, got, err, want)
		}
	}
	for _, s := range []string{"closed", "in-progress", "Open"} {
		var got MaintenanceStatus
		if err := got.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) = %q, want an error", s, got)
		}
	}
	var e MaintenanceRequested
	if err := json.Unmarshal([]byte(`{"details":{"priority":"urgent"}}`), &e); err == nil {
		t.Errorf("decoding priority urgent succeeded with %q, want an error", e.Details.Priority)
	}
}

func TestMaintenanceEventsRoundTrip(t *testing.T) {
	samples := []Event{
		maintRequested(maintDetails(nil)),
		maintRequested(maintDetails(func(d *MaintenanceDetails) { d.EstimatedCost = nil })),
		&MaintenanceDetailsChanged{Details: maintDetails(nil)},
		&MaintenanceAssigned{AssignedTo: userID},
		&MaintenanceScheduled{ScheduledDate: time.Date(2025, 6, 2, 14, 0, 0, 123456000, time.UTC)},
		&MaintenanceStarted{},
		&MaintenanceCompleted{ActualCost: MustMoney("95.50")},
		&MaintenanceCancelled{Reason: "duplicate"},
	}
	for _, e := range samples {
		t.Run(e.EventType(), func(t *testing.T) {
			MustRoundTrip(t, e.EventType(), e)
		})
	}
	b, err := json.Marshal(&MaintenanceCompleted{ActualCost: MustMoney("95.5")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"actual_cost":"95.50"}`; got != want {
		t.Errorf("marshal MaintenanceCompleted = %s, want %s", got, want)
	}
	if _, err := DecodeEvent("MaintenanceCompleted", []byte(`{"actual_cost":"1.001"}`)); err == nil {
		t.Error("decoding an actual cost of 1.001 succeeded, want an error")
	}
	if !errors.Is(ErrIllegalTransition, ErrConflict) {
		t.Error("ErrIllegalTransition is not a conflict (409)")
	}
}
