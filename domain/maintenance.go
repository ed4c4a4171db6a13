package domain

// MaintenanceRequest invariants:
//   - title and description are present; priority is low, medium, high or emergency;
//   - costs are >= 0 with at most two decimal places;
//   - status moves open → assigned → in_progress → completed, and to cancelled from
//     any state but completed and cancelled; a completed or cancelled request is final;
//   - it is assigned to an existing user.

import (
	"time"

	"github.com/google/uuid"
)

// MaintenanceStreamType names maintenance request streams.
const MaintenanceStreamType = "maintenance_request"

// Priority is how urgent a request is.
type Priority struct{ name string }

var (
	PriorityLow       = Priority{"low"}
	PriorityMedium    = Priority{"medium"}
	PriorityHigh      = Priority{"high"}
	PriorityEmergency = Priority{"emergency"}
)

var priorities = enumOf(PriorityLow, PriorityMedium, PriorityHigh, PriorityEmergency)

func (p Priority) String() string                { return p.name }
func (p Priority) MarshalText() ([]byte, error)  { return []byte(p.name), nil }
func (p *Priority) UnmarshalText(b []byte) error { return priorities.parse(string(b), p) }

// ParsePriority returns the named priority; "" is medium, anything unknown is the
// zero priority (refused by validation).
func ParsePriority(s string) Priority {
	if s == "" {
		return PriorityMedium
	}
	var p Priority
	_ = priorities.parse(s, &p)
	return p
}

// MaintenanceStatus is where a request stands.
type MaintenanceStatus struct{ name string }

var (
	MaintenanceStatusOpen       = MaintenanceStatus{"open"}
	MaintenanceStatusAssigned   = MaintenanceStatus{"assigned"}
	MaintenanceStatusInProgress = MaintenanceStatus{"in_progress"}
	MaintenanceStatusCompleted  = MaintenanceStatus{"completed"}
	MaintenanceStatusCancelled  = MaintenanceStatus{"cancelled"}
)

var maintenanceStatuses = enumOf(MaintenanceStatusOpen, MaintenanceStatusAssigned, MaintenanceStatusInProgress,
	MaintenanceStatusCompleted, MaintenanceStatusCancelled)

func (s MaintenanceStatus) String() string               { return s.name }
func (s MaintenanceStatus) MarshalText() ([]byte, error) { return []byte(s.name), nil }
func (s *MaintenanceStatus) UnmarshalText(b []byte) error {
	return maintenanceStatuses.parse(string(b), s)
}

// MaintenanceDetails are the descriptive fields of a request.
type MaintenanceDetails struct {
	Title         string   `json:"title"`
	Description   string   `json:"description"`
	Priority      Priority `json:"priority"`
	EstimatedCost *Money   `json:"estimated_cost,omitempty"`
}

func (d MaintenanceDetails) validate(v *validator) {
	textField(v, "title", d.Title, true, 255)
	textField(v, "description", d.Description, true, 0)
	v.check(d.Priority != Priority{}, "priority", "must be one of "+priorities.list())
	if d.EstimatedCost != nil {
		v.check(!d.EstimatedCost.IsNegative(), "estimated_cost", "must not be negative")
	}
}

// Maintenance events.
type (
	MaintenanceRequested struct {
		RequestID  uuid.UUID          `json:"request_id"`
		PropertyID uuid.UUID          `json:"property_id"`
		TenantID   uuid.UUID          `json:"tenant_id"`
		Details    MaintenanceDetails `json:"details"`
	}
	MaintenanceDetailsChanged struct {
		Details MaintenanceDetails `json:"details"`
	}
	MaintenanceAssigned struct {
		AssignedTo uuid.UUID `json:"assigned_to"`
	}
	MaintenanceScheduled struct {
		ScheduledDate time.Time `json:"scheduled_date"`
	}
	MaintenanceStarted   struct{}
	MaintenanceCompleted struct {
		ActualCost Money `json:"actual_cost"`
	}
	MaintenanceCancelled struct {
		Reason string `json:"reason,omitempty"`
	}
)

func (MaintenanceRequested) EventType() string      { return "MaintenanceRequested" }
func (MaintenanceDetailsChanged) EventType() string { return "MaintenanceDetailsChanged" }
func (MaintenanceAssigned) EventType() string       { return "MaintenanceAssigned" }
func (MaintenanceScheduled) EventType() string      { return "MaintenanceScheduled" }
func (MaintenanceStarted) EventType() string        { return "MaintenanceStarted" }
func (MaintenanceCompleted) EventType() string      { return "MaintenanceCompleted" }
func (MaintenanceCancelled) EventType() string      { return "MaintenanceCancelled" }

var maintenanceEvents = map[string]func() Event{
	"MaintenanceRequested":      func() Event { return &MaintenanceRequested{} },
	"MaintenanceDetailsChanged": func() Event { return &MaintenanceDetailsChanged{} },
	"MaintenanceAssigned":       func() Event { return &MaintenanceAssigned{} },
	"MaintenanceScheduled":      func() Event { return &MaintenanceScheduled{} },
	"MaintenanceStarted":        func() Event { return &MaintenanceStarted{} },
	"MaintenanceCompleted":      func() Event { return &MaintenanceCompleted{} },
	"MaintenanceCancelled":      func() Event { return &MaintenanceCancelled{} },
}

// RequestMaintenance validates and records a new request on a property for a tenant.
func RequestMaintenance(id uuid.UUID, property *Property, tenant *Tenant, d MaintenanceDetails) ([]Event, error) {
	var v validator
	v.check(id != uuid.Nil, "id", "must not be the nil UUID")
	v.check(property.Exists(), "property_id", "no such property")
	v.check(tenant.Exists(), "tenant_id", "no such tenant")
	d.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&MaintenanceRequested{RequestID: id, PropertyID: property.ID(), TenantID: tenant.ID(), Details: d}}, nil
}

// MaintenanceRequest is the aggregate.
type MaintenanceRequest struct {
	id         uuid.UUID
	version    int64
	propertyID uuid.UUID
	tenantID   uuid.UUID
	details    MaintenanceDetails
	status     MaintenanceStatus
	assignedTo *uuid.UUID
}

// Apply records a fact.
func (m *MaintenanceRequest) Apply(e Event, version int64, _ time.Time) {
	switch e := e.(type) {
	case *MaintenanceRequested:
		m.id, m.propertyID, m.tenantID, m.details, m.status = e.RequestID, e.PropertyID, e.TenantID, e.Details, MaintenanceStatusOpen
	case *MaintenanceDetailsChanged:
		m.details = e.Details
	case *MaintenanceAssigned:
		to := e.AssignedTo
		m.assignedTo, m.status = &to, MaintenanceStatusAssigned
	case *MaintenanceStarted:
		m.status = MaintenanceStatusInProgress
	case *MaintenanceCompleted:
		m.status = MaintenanceStatusCompleted
	case *MaintenanceCancelled:
		m.status = MaintenanceStatusCancelled
	}
	m.version = version
}

func (m *MaintenanceRequest) final() bool {
	return m.status == MaintenanceStatusCompleted || m.status == MaintenanceStatusCancelled
}

// ChangeDetails replaces the descriptive fields of an unfinished request.
func (m *MaintenanceRequest) ChangeDetails(d MaintenanceDetails) ([]Event, error) {
	if m.final() {
		return nil, ErrIllegalTransition
	}
	var v validator
	d.validate(&v)
	if err := v.err(); err != nil {
		return nil, err
	}
	same := d.Title == m.details.Title && d.Description == m.details.Description && d.Priority == m.details.Priority &&
		((d.EstimatedCost == nil && m.details.EstimatedCost == nil) ||
			(d.EstimatedCost != nil && m.details.EstimatedCost != nil && d.EstimatedCost.Decimal().Equal(m.details.EstimatedCost.Decimal())))
	if same {
		return nil, nil
	}
	return []Event{&MaintenanceDetailsChanged{Details: d}}, nil
}

// Assign hands an open or assigned request to a user who exists.
func (m *MaintenanceRequest) Assign(assignee *User) ([]Event, error) {
	if m.status != MaintenanceStatusOpen && m.status != MaintenanceStatusAssigned {
		return nil, ErrIllegalTransition
	}
	if !assignee.Exists() {
		return nil, &ValidationError{Fields: []FieldError{{Field: "assigned_to", Message: "no such user"}}}
	}
	return []Event{&MaintenanceAssigned{AssignedTo: assignee.ID()}}, nil
}

// Schedule sets when the work is planned; it does not change the status.
func (m *MaintenanceRequest) Schedule(at time.Time) ([]Event, error) {
	if m.final() {
		return nil, ErrIllegalTransition
	}
	if at.IsZero() {
		return nil, &ValidationError{Fields: []FieldError{{Field: "scheduled_date", Message: "is required"}}}
	}
	if !TimeInWindow(at) {
		return nil, &ValidationError{Fields: []FieldError{{Field: "scheduled_date", Message: windowMessage}}}
	}
	return []Event{&MaintenanceScheduled{ScheduledDate: at.UTC().Truncate(time.Microsecond)}}, nil
}

// Start begins work on an assigned request.
func (m *MaintenanceRequest) Start() ([]Event, error) {
	if m.status != MaintenanceStatusAssigned {
		return nil, ErrIllegalTransition
	}
	return []Event{&MaintenanceStarted{}}, nil
}

// Complete finishes a request in progress at its actual cost.
func (m *MaintenanceRequest) Complete(actualCost *Money) ([]Event, error) {
	if m.status != MaintenanceStatusInProgress {
		return nil, ErrIllegalTransition
	}
	var v validator
	v.check(actualCost != nil, "actual_cost", "is required")
	if actualCost != nil {
		v.check(!actualCost.IsNegative(), "actual_cost", "must not be negative")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&MaintenanceCompleted{ActualCost: *actualCost}}, nil
}

// Cancel withdraws a request that is not completed or cancelled.
func (m *MaintenanceRequest) Cancel(reason string) ([]Event, error) {
	if m.final() {
		return nil, ErrIllegalTransition
	}
	var v validator
	textField(&v, "reason", reason, false, 0)
	if err := v.err(); err != nil {
		return nil, err
	}
	return []Event{&MaintenanceCancelled{Reason: reason}}, nil
}

func (m *MaintenanceRequest) ID() uuid.UUID               { return m.id }
func (m *MaintenanceRequest) Version() int64              { return m.version }
func (m *MaintenanceRequest) Exists() bool                { return m.version > 0 }
func (m *MaintenanceRequest) PropertyID() uuid.UUID       { return m.propertyID }
func (m *MaintenanceRequest) TenantID() uuid.UUID         { return m.tenantID }
func (m *MaintenanceRequest) Details() MaintenanceDetails { return m.details }
func (m *MaintenanceRequest) Status() MaintenanceStatus   { return m.status }
func (m *MaintenanceRequest) AssignedTo() *uuid.UUID      { return m.assignedTo }
