package http

import (
	"encoding/json"
	"net/http"
	"net/url"
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
	s.leases().answer(w, r, res, err)
}

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) {
	var req leaseRenewRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Leases.Renew(r.Context(), commands.RenewLease{
			Target: t, EndDate: req.EndDate, RentAmount: req.RentAmount,
		})
	}, s.leases().answer)
}

func (s *Server) terminateLease(w http.ResponseWriter, r *http.Request) {
	var req leaseTerminateRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Leases.Terminate(r.Context(), commands.TerminateLease{
			Target: t, EffectiveDate: req.EffectiveDate, Reason: req.Reason,
		})
	}, s.leases().answer)
}

// leaseTenantRequest is the body of POST /leases/{id}/tenants.
type leaseTenantRequest struct {
	TenantID *uuid.UUID `json:"tenant_id"`
	Primary  *bool      `json:"primary"`
}

func (s *Server) addLeaseTenant(w http.ResponseWriter, r *http.Request) {
	var req leaseTenantRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Leases.AddTenant(r.Context(), commands.AddLeaseTenant{
			Target: t, TenantID: req.TenantID, Primary: req.Primary,
		})
	}, s.leases().answer)
}

func (s *Server) removeLeaseTenant(w http.ResponseWriter, r *http.Request) {
	tenantID, err := uuid.Parse(chi.URLParam(r, "tenant_id"))
	if err != nil {
		Error(w, r, s.log, domain.ErrNotLeaseParty)
		return
	}
	s.entityCommand(w, r, nil, noBody, func(t commands.Target) (commands.Result, error) {
		return s.Leases.RemoveTenant(r.Context(), commands.RemoveLeaseTenant{Target: t, TenantID: tenantID})
	}, s.leases().answer)
}

// leases is the collection of leases for the generic handlers.
func (s *Server) leases() resource[readmodel.LeaseView] {
	return resource[readmodel.LeaseView]{s: s, collection: "leases", streamType: domain.LeaseStreamType,
		read: s.queries.Lease, version: func(l readmodel.LeaseView) int64 { return l.Version }}
}

// leaseFilter reads GET /leases' filters.
func leaseFilter(q url.Values, p pageParams) (f readmodel.LeaseFilter, err error) {
	f = readmodel.LeaseFilter{Cursor: p.cursor, Limit: p.limit}
	if f.PropertyID, err = queryUUID(q, "property_id"); err != nil {
		return f, err
	}
	if f.TenantID, err = queryUUID(q, "tenant_id"); err != nil {
		return f, err
	}
	f.Status, err = queryEnum[domain.LeaseStatus](q, "status")
	return f, err
}

// activeLeases answers the seed's "Active Leases for Property".
func (s *Server) activeLeases(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	today, err := reportDate(r.URL.Query())
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
	today, err := reportDate(r.URL.Query())
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
