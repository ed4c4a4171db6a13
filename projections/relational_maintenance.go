package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyMaintenance(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.MaintenanceRequested:
		d := ev.Details
		_, err = tx.Exec(ctx, `INSERT INTO maintenance_requests (id, property_id, tenant_id, title,
			description, priority, status, estimated_cost, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8, $9)`,
			id, ev.PropertyID, ev.TenantID, d.Title, d.Description, d.Priority.String(), d.EstimatedCost, at, v)
	case *domain.MaintenanceDetailsChanged:
		d := ev.Details
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET title = $2, description = $3, priority = $4,
			estimated_cost = $5, updated_at = $6, version = $7 WHERE id = $1`,
			id, d.Title, d.Description, d.Priority.String(), d.EstimatedCost, at, v)
	case *domain.MaintenanceAssigned:
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET assigned_to = $2, status = 'assigned',
			updated_at = $3, version = $4 WHERE id = $1`, id, ev.AssignedTo, at, v)
	case *domain.MaintenanceScheduled:
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET scheduled_date = $2,
			updated_at = $3, version = $4 WHERE id = $1`, id, ev.ScheduledDate.UTC(), at, v)
	case *domain.MaintenanceStarted:
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET status = 'in_progress',
			updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	case *domain.MaintenanceCompleted:
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET status = 'completed', actual_cost = $2,
			completed_date = $3, updated_at = $3, version = $4 WHERE id = $1`, id, ev.ActualCost, at, v)
	case *domain.MaintenanceCancelled:
		_, err = tx.Exec(ctx, `UPDATE maintenance_requests SET status = 'cancelled',
			updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	default:
		return errNoProjection
	}
	return err
}
