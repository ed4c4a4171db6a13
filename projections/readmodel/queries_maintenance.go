package readmodel

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaintenanceView is a maintenance_requests row.
type MaintenanceView struct {
	ID            uuid.UUID  `json:"id"`
	PropertyID    uuid.UUID  `json:"property_id"`
	TenantID      uuid.UUID  `json:"tenant_id"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Priority      string     `json:"priority"`
	Status        string     `json:"status"`
	AssignedTo    *uuid.UUID `json:"assigned_to"`
	EstimatedCost *Money     `json:"estimated_cost"`
	ActualCost    *Money     `json:"actual_cost"`
	ScheduledDate *Timestamp `json:"scheduled_date"`
	CompletedDate *Timestamp `json:"completed_date"`
	CreatedAt     Timestamp  `json:"created_at"`
	UpdatedAt     Timestamp  `json:"updated_at"`
	Version       int64      `json:"version"`
}

const maintenanceColumns = `m.id, m.property_id, m.tenant_id, m.title, m.description, m.priority, m.status,
	m.assigned_to, m.estimated_cost, m.actual_cost, m.scheduled_date, m.completed_date, m.created_at,
	m.updated_at, m.version`

// visibleMaintenance is the SQL condition "request m of property p is visible to
// the viewer", with $1 = sees everything and $2 = the viewer's user id: a user sees
// the requests of its properties and those assigned to it. Queries LEFT JOIN the
// property: every live request has one (the column is a NOT NULL foreign key), but
// an ?as_of replay holds the request's own stream only.
const visibleMaintenance = `($1 OR p.owner_id = $2 OR m.assigned_to = $2)`

func scanMaintenance(row pgx.CollectableRow) (MaintenanceView, error) {
	var m MaintenanceView
	err := row.Scan(&m.ID, &m.PropertyID, &m.TenantID, &m.Title, &m.Description, &m.Priority, &m.Status,
		&m.AssignedTo, &m.EstimatedCost, &m.ActualCost, &m.ScheduledDate, &m.CompletedDate, &m.CreatedAt, &m.UpdatedAt, &m.Version)
	return m, err
}

// MaintenanceRequest returns one request the viewer may see, or domain.ErrNotFound.
func (q *Queries) MaintenanceRequest(ctx context.Context, v Viewer, id uuid.UUID) (MaintenanceView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+maintenanceColumns+` FROM maintenance_requests m
		LEFT JOIN properties p ON p.id = m.property_id
		WHERE `+visibleMaintenance+` AND m.id = $3`, seesAll(v), v.UserID, id)
	return collectOne(rows, err, scanMaintenance, "read maintenance request")
}

// MaintenanceFilter narrows a maintenance request list; empty fields do not filter.
type MaintenanceFilter struct {
	PropertyID, AssignedTo *uuid.UUID
	Status, Priority       string
	Cursor                 string
	Limit                  int
}

// MaintenanceRequests lists the requests the viewer may see, oldest first.
func (q *Queries) MaintenanceRequests(ctx context.Context, v Viewer, f MaintenanceFilter) (Page[MaintenanceView], error) {
	l := newList(visibleMaintenance, seesAll(v), v.UserID)
	if f.PropertyID != nil {
		l.and("m.property_id = %s", *f.PropertyID)
	}
	if f.AssignedTo != nil {
		l.and("m.assigned_to = %s", *f.AssignedTo)
	}
	if f.Status != "" {
		l.and("m.status = %s", f.Status)
	}
	if f.Priority != "" {
		l.and("m.priority = %s", f.Priority)
	}
	return listPage(ctx, q, l, `SELECT `+maintenanceColumns+` FROM maintenance_requests m
		LEFT JOIN properties p ON p.id = m.property_id`, byCreated("m."), f.Cursor, f.Limit, scanMaintenance,
		func(m MaintenanceView) (time.Time, uuid.UUID) { return time.Time(m.CreatedAt), m.ID }, "list maintenance requests")
}
