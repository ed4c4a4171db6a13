package http

import (
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// maintenanceRequest is the body of POST /maintenance-requests.
type maintenanceRequest struct {
	ID            *uuid.UUID   `json:"id"`
	PropertyID    uuid.UUID    `json:"property_id"`
	TenantID      uuid.UUID    `json:"tenant_id"`
	Title         string       `json:"title"`
	Description   string       `json:"description"`
	Priority      *string      `json:"priority"`
	EstimatedCost *json.Number `json:"estimated_cost"`
}

// maintenancePatchRequest is the body of PATCH /maintenance-requests/{id}: a JSON merge patch.
type maintenancePatchRequest struct {
	Title         commands.Optional[string]      `json:"title"`
	Description   commands.Optional[string]      `json:"description"`
	Priority      commands.Optional[string]      `json:"priority"`
	EstimatedCost commands.Optional[json.Number] `json:"estimated_cost"`
}

type maintenanceAssignRequest struct {
	AssignedTo uuid.UUID `json:"assigned_to"`
}

type maintenanceScheduleRequest struct {
	ScheduledDate *string `json:"scheduled_date"`
}

type maintenanceCompleteRequest struct {
	ActualCost *json.Number `json:"actual_cost"`
}

func (s *Server) requestMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Maintenance.Request(r.Context(), commands.RequestMaintenance{
		Actor: actorOf(r), ID: req.ID, PropertyID: req.PropertyID, TenantID: req.TenantID,
		Title: req.Title, Description: req.Description, Priority: req.Priority, EstimatedCost: req.EstimatedCost,
	})
	s.maintenance().answer(w, r, res, err)
}

func (s *Server) changeMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenancePatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Maintenance.Change(r.Context(), commands.ChangeMaintenance{
			Target: t, Patch: commands.MaintenancePatch{
				Title: req.Title, Description: req.Description, Priority: req.Priority, EstimatedCost: req.EstimatedCost,
			},
		})
	}, s.maintenance().answer)
}

func (s *Server) assignMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceAssignRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Maintenance.Assign(r.Context(), commands.AssignMaintenance{Target: t, AssignedTo: req.AssignedTo})
	}, s.maintenance().answer)
}

func (s *Server) scheduleMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceScheduleRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Maintenance.Schedule(r.Context(), commands.ScheduleMaintenance{
			Target: t, ScheduledDate: req.ScheduledDate,
		})
	}, s.maintenance().answer)
}

func (s *Server) completeMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceCompleteRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Maintenance.Complete(r.Context(), commands.CompleteMaintenance{Target: t, ActualCost: req.ActualCost})
	}, s.maintenance().answer)
}

// maintenance is the collection of maintenance requests for the generic handlers.
func (s *Server) maintenance() resource[readmodel.MaintenanceView] {
	return resource[readmodel.MaintenanceView]{s: s, collection: "maintenance-requests", streamType: domain.MaintenanceStreamType,
		read: s.queries.MaintenanceRequest, version: func(m readmodel.MaintenanceView) int64 { return m.Version }}
}

// maintenanceFilter reads GET /maintenance-requests' filters.
func maintenanceFilter(q url.Values, p pageParams) (f readmodel.MaintenanceFilter, err error) {
	f = readmodel.MaintenanceFilter{Cursor: p.cursor, Limit: p.limit}
	if f.PropertyID, err = queryUUID(q, "property_id"); err != nil {
		return f, err
	}
	if f.AssignedTo, err = queryUUID(q, "assigned_to"); err != nil {
		return f, err
	}
	if f.Status, err = queryEnum[domain.MaintenanceStatus](q, "status"); err != nil {
		return f, err
	}
	if f.Priority, err = queryEnum[domain.Priority](q, "priority"); err != nil {
		return f, err
	}
	return f, nil
}
