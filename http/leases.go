package http

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// leaseRequest is the body of POST /leases. Amounts and dates stay raw here: the
// command parses them, so that a bad value is a 422 naming its field.
type leaseRequest struct {
	ID              *uuid.UUID   `json:"id"`
	PropertyID      *uuid.UUID   `json:"property_id"`
	TenantID        *uuid.UUID   `json:"tenant_id"`
	TenantIDs       *[]uuid.UUID `json:"tenant_ids"`
	StartDate       *string      `json:"start_date"`
	EndDate         *string      `json:"end_date"`
	RentAmount      *json.Number `json:"rent_amount"`
	SecurityDeposit *json.Number `json:"security_deposit"`
	PaymentDay      *int         `json:"payment_day"`
	AutoRenew       *bool        `json:"auto_renew"`
}

// leaseRenewRequest is the body of POST /leases/{id}/renew.
type leaseRenewRequest struct {
	EndDate    *string      `json:"end_date"`
	RentAmount *json.Number `json:"rent_amount"`
}

// leaseTerminateRequest is the body of POST /leases/{id}/terminate.
type leaseTerminateRequest struct {
	EffectiveDate *string `json:"effective_date"`
	Reason        *string `json:"reason"`
}

func (s *Server) signLease(w http.ResponseWriter, r *http.Request) {
	var req leaseRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Leases.Sign(r.Context(), commands.SignLease{
		Actor: actorOf(r), ID: req.ID, PropertyID: req.PropertyID, TenantID: req.TenantID, TenantIDs: req.TenantIDs,
		StartDate: req.StartDate, EndDate: req.EndDate, RentAmount: req.RentAmount,
		SecurityDeposit: req.SecurityDeposit, PaymentDay: req.PaymentDay, AutoRenew: req.AutoRenew,
	})
	s.answerLease(w, r, res, err)
}

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) {
	var req leaseRenewRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Leases.Renew(r.Context(), commands.RenewLease{
			Actor: actor, ID: id, IfMatch: version, EndDate: req.EndDate, RentAmount: req.RentAmount,
		})
	}, s.answerLease)
}

func (s *Server) terminateLease(w http.ResponseWriter, r *http.Request) {
	var req leaseTerminateRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Leases.Terminate(r.Context(), commands.TerminateLease{
			Actor: actor, ID: id, IfMatch: version, EffectiveDate: req.EffectiveDate, Reason: req.Reason,
		})
	}, s.answerLease)
}

// leaseTenantRequest is the body of POST /leases/{id}/tenants.
type leaseTenantRequest struct {
	TenantID *uuid.UUID `json:"tenant_id"`
	Primary  *bool      `json:"primary"`
}

func (s *Server) addLeaseTenant(w http.ResponseWriter, r *http.Request) {
	var req leaseTenantRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Leases.AddTenant(r.Context(), commands.AddLeaseTenant{
			Actor: actor, LeaseID: id, IfMatch: version, TenantID: req.TenantID, Primary: req.Primary,
		})
	}, s.answerLease)
}

func (s *Server) removeLeaseTenant(w http.ResponseWriter, r *http.Request) {
	tenantID, err := uuid.Parse(chi.URLParam(r, "tenant_id"))
	if err != nil {
		Error(w, r, s.log, domain.ErrNotLeaseParty)
		return
	}
	s.entityCommand(w, r, nil, noBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Leases.RemoveTenant(r.Context(), commands.RemoveLeaseTenant{
			Actor: actor, LeaseID: id, IfMatch: version, TenantID: tenantID,
		})
	}, s.answerLease)
}

func (s *Server) answerLease(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "leases", s.queries.Lease, leaseVersion)
}

func leaseVersion(l readmodel.LeaseView) int64 { return l.Version }

func (s *Server) getLease(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.Lease, leaseVersion)
}

func (s *Server) leaseHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.LeaseStreamType, s.queries.Lease)
}

func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := readmodel.LeaseFilter{Cursor: q.Get("cursor"), Limit: limit}
	if f.PropertyID, err = queryUUID(q, "property_id"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if f.TenantID, err = queryUUID(q, "tenant_id"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if status := q.Get("status"); status != "" {
		var st domain.LeaseStatus
		if err := st.UnmarshalText([]byte(status)); err != nil {
			Error(w, r, s.log, badRequest("status must be one of active, expired, terminated"))
			return
		}
		f.Status = st.String()
	}
	page, err := s.queries.Leases(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// activeLeases answers the seed's "Active Leases for Property".
func (s *Server) activeLeases(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	today, err := reportDate(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	items, err := s.queries.ActiveLeases(r.Context(), viewerOf(r), id, today)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

// expiringLeases answers the seed's "Properties with Expiring Leases".
func (s *Server) expiringLeases(w http.ResponseWriter, r *http.Request) {
	today, err := reportDate(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	days := 30
	if raw := r.URL.Query().Get("days"); raw != "" {
		days, err = strconv.Atoi(raw)
		if err != nil || days < 0 || days > readmodel.MaxExpiringDays {
			Error(w, r, s.log, badRequest("days must be an integer from 0 to "+strconv.Itoa(readmodel.MaxExpiringDays)))
			return
		}
	}
	limit, err := listLimit(r.URL.Query().Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	page, err := s.queries.ExpiringLeases(r.Context(), viewerOf(r), readmodel.ExpiringFilter{
		Today: today, Days: days, Cursor: r.URL.Query().Get("cursor"), Limit: limit})
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
