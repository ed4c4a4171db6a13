package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyMaintenance(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.MaintenanceRequested); ok {
		m, err := en.create(maintenanceTable, e.RecordedAt)
		if err != nil {
			return err
		}
		m.set("property_id", ev.PropertyID)
		m.set("tenant_id", ev.TenantID)
		setMaintenanceDetails(m, ev.Details)
		m.set("status", "open")
		return nil
	}
	m, err := en.existing(maintenanceTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.MaintenanceDetailsChanged:
		setMaintenanceDetails(m, ev.Details)
	case *domain.MaintenanceAssigned:
		m.set("assigned_to", ev.AssignedTo)
		m.set("status", "assigned")
	case *domain.MaintenanceScheduled:
		m.set("scheduled_date", ev.ScheduledDate)
	case *domain.MaintenanceStarted:
		m.set("status", "in_progress")
	case *domain.MaintenanceCompleted:
		m.set("status", "completed")
		m.set("actual_cost", ev.ActualCost)
		m.set("completed_date", e.RecordedAt)
	case *domain.MaintenanceCancelled:
		m.set("status", "cancelled")
	default:
		return errNoProjection
	}
	return nil
}

func setMaintenanceDetails(m *row, d domain.MaintenanceDetails) {
	m.set("title", d.Title)
	m.set("description", d.Description)
	m.set("priority", d.Priority.String())
	m.set("estimated_cost", d.EstimatedCost)
}
