package http

import (
	"encoding/json"
	"net/http"

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

type maintenanceCancelRequest struct {
	Reason string `json:"reason"`
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
	s.answerMaintenance(w, r, res, err)
}

func (s *Server) changeMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenancePatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Change(r.Context(), commands.ChangeMaintenance{
			Actor: actor, ID: id, IfMatch: version, Patch: commands.MaintenancePatch{
				Title: req.Title, Description: req.Description, Priority: req.Priority, EstimatedCost: req.EstimatedCost,
			},
		})
	}, s.answerMaintenance)
}

func (s *Server) assignMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceAssignRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Assign(r.Context(), commands.AssignMaintenance{
			Actor: actor, ID: id, IfMatch: version, AssignedTo: req.AssignedTo,
		})
	}, s.answerMaintenance)
}

func (s *Server) scheduleMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceScheduleRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Schedule(r.Context(), commands.ScheduleMaintenance{
			Actor: actor, ID: id, IfMatch: version, ScheduledDate: req.ScheduledDate,
		})
	}, s.answerMaintenance)
}

func (s *Server) startMaintenance(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Start(r.Context(), commands.StartMaintenance{Actor: actor, ID: id, IfMatch: version})
	}, s.answerMaintenance)
}

func (s *Server) completeMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceCompleteRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Complete(r.Context(), commands.CompleteMaintenance{
			Actor: actor, ID: id, IfMatch: version, ActualCost: req.ActualCost,
		})
	}, s.answerMaintenance)
}

func (s *Server) cancelMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceCancelRequest
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Maintenance.Cancel(r.Context(), commands.CancelMaintenance{
			Actor: actor, ID: id, IfMatch: version, Reason: req.Reason,
		})
	}, s.answerMaintenance)
}

func (s *Server) answerMaintenance(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "maintenance-requests", s.queries.MaintenanceRequest, maintenanceVersion)
}

func maintenanceVersion(m readmodel.MaintenanceView) int64 { return m.Version }

func (s *Server) getMaintenance(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.MaintenanceRequest, maintenanceVersion)
}

func (s *Server) listMaintenance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := readmodel.MaintenanceFilter{Cursor: q.Get("cursor"), Limit: limit}
	if f.PropertyID, err = queryUUID(q, "property_id"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if f.AssignedTo, err = queryUUID(q, "assigned_to"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if raw := q.Get("status"); raw != "" {
		var status domain.MaintenanceStatus
		if err := status.UnmarshalText([]byte(raw)); err != nil {
			Error(w, r, s.log, badRequest("status must be one of open, assigned, in_progress, completed, cancelled"))
			return
		}
		f.Status = status.String()
	}
	if raw := q.Get("priority"); raw != "" {
		var priority domain.Priority
		if err := priority.UnmarshalText([]byte(raw)); err != nil {
			Error(w, r, s.log, badRequest("priority must be one of low, medium, high, emergency"))
			return
		}
		f.Priority = priority.String()
	}
	page, err := s.queries.MaintenanceRequests(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) maintenanceHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.MaintenanceStreamType, s.queries.MaintenanceRequest)
}
