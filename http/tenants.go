package http

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections"
)

// tenantRequest is the body of POST /tenants.
type tenantRequest struct {
	ID                    *uuid.UUID   `json:"id"`
	FirstName             string       `json:"first_name"`
	LastName              string       `json:"last_name"`
	Email                 string       `json:"email"`
	Phone                 *string      `json:"phone"`
	SSNLastFour           *string      `json:"ssn_last_four"`
	DateOfBirth           *string      `json:"date_of_birth"`
	CreditScore           *int         `json:"credit_score"`
	Income                *json.Number `json:"income"`
	BackgroundCheckStatus *string      `json:"background_check_status"`
}

func (req tenantRequest) command(actor commands.Actor) commands.RegisterTenant {
	return commands.RegisterTenant{
		Actor: actor, ID: req.ID, FirstName: req.FirstName, LastName: req.LastName, Email: req.Email,
		Phone: req.Phone, SSNLastFour: req.SSNLastFour, DateOfBirth: req.DateOfBirth,
		CreditScore: req.CreditScore, Income: req.Income, BackgroundCheckStatus: req.BackgroundCheckStatus,
	}
}

// tenantPatchRequest is the body of PATCH /tenants/{id}: a JSON merge patch of the
// contact fields.
type tenantPatchRequest struct {
	FirstName commands.Optional[string] `json:"first_name"`
	LastName  commands.Optional[string] `json:"last_name"`
	Email     commands.Optional[string] `json:"email"`
	Phone     commands.Optional[string] `json:"phone"`
}

func (p tenantPatchRequest) patch() commands.TenantContactPatch {
	return commands.TenantContactPatch{FirstName: p.FirstName, LastName: p.LastName, Email: p.Email, Phone: p.Phone}
}

// screeningRequest is the body of POST /tenants/{id}/screening.
type screeningRequest struct {
	CreditScore           *int         `json:"credit_score"`
	Income                *json.Number `json:"income"`
	BackgroundCheckStatus *string      `json:"background_check_status"`
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	var req tenantRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Tenants.Register(r.Context(), req.command(actorOf(r)))
	s.answerTenant(w, r, res, err)
}

func (s *Server) changeTenant(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	var req tenantPatchRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Tenants.ChangeContact(r.Context(), commands.ChangeTenantContact{
		Actor: actorOf(r), ID: id, IfMatch: version, Patch: req.patch(),
	})
	s.answerTenant(w, r, res, err)
}

func (s *Server) recordScreening(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	var req screeningRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Tenants.RecordScreening(r.Context(), commands.RecordTenantScreening{
		Actor: actorOf(r), ID: id, IfMatch: version, CreditScore: req.CreditScore,
		Income: req.Income, BackgroundCheckStatus: req.BackgroundCheckStatus,
	})
	s.answerTenant(w, r, res, err)
}

func (s *Server) answerTenant(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "tenants", s.queries.Tenant, tenantVersion)
}

func tenantVersion(t projections.TenantView) int64 { return t.Version }

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.Tenant, tenantVersion)
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := projections.TenantFilter{Email: q.Get("email"), LastName: q.Get("last_name"), Cursor: q.Get("cursor"), Limit: limit}
	for name, value := range map[string]string{"email": f.Email, "last_name": f.LastName} {
		if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
			Error(w, r, s.log, badRequest(name+" must be UTF-8 text without NUL characters"))
			return
		}
	}
	page, err := s.queries.Tenants(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) tenantHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.TenantStreamType, s.queries.Tenant)
}
