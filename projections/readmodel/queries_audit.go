package readmodel

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// AuditLogView is an audit_logs row.
type AuditLogView struct {
	ID         uuid.UUID       `json:"id"`
	UserID     *uuid.UUID      `json:"user_id"`
	Action     string          `json:"action"`
	EntityType string          `json:"entity_type"`
	EntityID   *uuid.UUID      `json:"entity_id"`
	OldValues  json.RawMessage `json:"old_values"`
	NewValues  json.RawMessage `json:"new_values"`
	IPAddress  *string         `json:"ip_address"`
	UserAgent  *string         `json:"user_agent"`
	CreatedAt  Timestamp       `json:"created_at"`
}

// AuditFilter narrows the audit log; zero fields do not filter.
type AuditFilter struct {
	EntityType string
	EntityID   *uuid.UUID
	UserID     *uuid.UUID
	Action     string
	From, To   time.Time // created_at >= From, created_at < To
	Cursor     string
	Limit      int
}

// auditFrom is the audit log with, for each row, the entity whose visibility
// decides the row's (e): the audited entity itself, or for a document the entity
// the document is attached to (d).
const auditFrom = `audit_logs a
	LEFT JOIN documents d ON a.entity_type = 'document' AND d.id = a.entity_id
	CROSS JOIN LATERAL (SELECT coalesce(d.entity_type, a.entity_type) AS type,
		coalesce(d.entity_id, a.entity_id) AS id) e`

// auditVisible is "the viewer may see the audited entity", the same owner
// isolation as the entities' own queries ($1 sees all, $2 the viewer's id, $3
// sees confidential documents, $4 sees every account's rows): accounts are the
// exception to "sees all", since user administration is the admins' alone. A
// user's and a session's rows (registration, role changes, every login and
// refresh, with their IP address and user agent) are the admins' and that user's
// own, as user_sessions' own policy has it; a manager reads users, not their
// account trail. A document's rows are visible with its entity,
// as visibleDocument has it (so a manager does not see those of confidential
// documents). The property of a maintenance request is joined outer: its
// assignee may not see the property (row-level security hides it), only the
// request. One CASE serves documents and entities alike: a second one for
// documents would double what the planner has to weigh on every call.
const auditVisible = `(a.entity_type <> 'document' OR (d.id IS NOT NULL AND (NOT coalesce(d.is_confidential, FALSE) OR $3)))
	AND ($4 OR ($1 AND e.type NOT IN ('user', 'session')) OR CASE e.type
	WHEN 'property' THEN EXISTS (SELECT 1 FROM properties p WHERE p.id = e.id AND p.owner_id = $2)
	WHEN 'lease' THEN EXISTS (SELECT 1 FROM leases l JOIN properties p ON p.id = l.property_id
		WHERE l.id = e.id AND p.owner_id = $2)
	WHEN 'transaction' THEN EXISTS (SELECT 1 FROM transactions t JOIN leases l ON l.id = t.lease_id
		JOIN properties p ON p.id = l.property_id WHERE t.id = e.id AND p.owner_id = $2)
	WHEN 'maintenance_request' THEN EXISTS (SELECT 1 FROM maintenance_requests m
		LEFT JOIN properties p ON p.id = m.property_id
		WHERE m.id = e.id AND (p.owner_id = $2 OR m.assigned_to = $2))
	WHEN 'tenant' THEN EXISTS (SELECT 1 FROM tenants tn WHERE tn.id = e.id AND tn.registered_by = $2)
	WHEN 'user' THEN e.id = $2
	WHEN 'session' THEN EXISTS (SELECT 1 FROM user_sessions s WHERE s.id = e.id AND s.user_id = $2)
	ELSE FALSE END)`

// AuditLogs lists audit rows the viewer may see, oldest first.
func (q *Queries) AuditLogs(ctx context.Context, v Viewer, f AuditFilter) (Page[AuditLogView], error) {
	l := newList(auditVisible, append(documentArgs(v), v.Role.SeesAllAccounts())...)
	if f.EntityType != "" {
		l.and("a.entity_type = %s", f.EntityType)
	}
	if f.EntityID != nil {
		l.and("a.entity_id = %s", *f.EntityID)
	}
	if f.UserID != nil {
		l.and("a.user_id = %s", *f.UserID)
	}
	if f.Action != "" {
		l.and("a.action = %s", f.Action)
	}
	if !f.From.IsZero() {
		l.and("a.created_at >= %s", f.From.UTC())
	}
	if !f.To.IsZero() {
		l.and("a.created_at < %s", f.To.UTC())
	}
	return listPage(ctx, q, l, `SELECT a.id, a.user_id, a.action, a.entity_type, a.entity_id,
		a.old_values, a.new_values, a.ip_address, a.user_agent, a.created_at
		FROM `+auditFrom, byCreated("a."), f.Cursor, f.Limit, func(row pgx.CollectableRow) (AuditLogView, error) {
		var a AuditLogView
		err := row.Scan(&a.ID, &a.UserID, &a.Action, &a.EntityType, &a.EntityID, &a.OldValues,
			&a.NewValues, &a.IPAddress, &a.UserAgent, &a.CreatedAt)
		return a, err
	}, func(a AuditLogView) (time.Time, uuid.UUID) { return time.Time(a.CreatedAt), a.ID }, "list audit logs")
}
