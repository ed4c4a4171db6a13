package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
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
	s.tenants().answer(w, r, res, err)
}

func (s *Server) changeTenant(w http.ResponseWriter, r *http.Request) {
	var req tenantPatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Tenants.ChangeContact(r.Context(), commands.ChangeTenantContact{Target: t, Patch: req.patch()})
	}, s.tenants().answer)
}

func (s *Server) recordScreening(w http.ResponseWriter, r *http.Request) {
	var req screeningRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Tenants.RecordScreening(r.Context(), commands.RecordTenantScreening{
			Target: t, CreditScore: req.CreditScore,
			Income: req.Income, BackgroundCheckStatus: req.BackgroundCheckStatus,
		})
	}, s.tenants().answer)
}

func (s *Server) eraseTenant(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	s.entityCommand(w, r, &req, optionalBody, func(t commands.Target) (commands.Result, error) {
		return s.Tenants.Erase(r.Context(), commands.EraseTenant{Target: t}, s.Documents)
	}, s.tenants().answer)
}

// tenants is the collection of tenants for the generic handlers.
func (s *Server) tenants() resource[readmodel.TenantView] {
	return resource[readmodel.TenantView]{s: s, collection: "tenants", streamType: domain.TenantStreamType,
		read: s.readTenant, version: func(t readmodel.TenantView) int64 { return t.Version }}
}

// readTenant reads a tenant the viewer may see, with its ssn_last_four opened:
// the read model holds it sealed with the tenant's data key.
func (s *Server) readTenant(ctx context.Context, v readmodel.Viewer, id uuid.UUID) (readmodel.TenantView, error) {
	t, err := s.queries.Tenant(ctx, v, id)
	if err != nil {
		return t, err
	}
	return t, s.openTenant(ctx, &t)
}

// openTenant replaces the sealed ssn_last_four of a tenant the caller may see by
// its four digits. An erased tenant has none.
func (s *Server) openTenant(ctx context.Context, t *readmodel.TenantView) error {
	if t.SSNLastFour == nil {
		return nil
	}
	key, err := s.Keyring.Key(ctx, s.Store, t.ID)
	if errors.Is(err, tenantkeys.ErrKeyShredded) {
		t.SSNLastFour = nil // erased while this was read
		return nil
	}
	if err != nil {
		return fmt.Errorf("open tenant %s: %w", t.ID, err)
	}
	raw, err := key.OpenField("ssn_last_four", *t.SSNLastFour)
	if err != nil {
		return fmt.Errorf("open tenant %s: %w", t.ID, err)
	}
	var ssn string
	if err := json.Unmarshal(raw, &ssn); err != nil {
		return fmt.Errorf("open tenant %s: %w", t.ID, err)
	}
	t.SSNLastFour = &ssn
	return nil
}

// getTenant answers GET /tenants/{id}, and with ?as_of= the tenant as it stood
// then, replayed from its events opened with the tenant's key (without the key,
// after an erasure, the personal data is gone from the past too).
//
// A tenant seen at contact level (domain.AccessContact) answers its id, names,
// email and phone, without an ETag: the viewer may not change it. Its past is not
// the viewer's (404), like its history.
func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	if !r.URL.Query().Has("as_of") {
		id, err := pathID(r)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		t, err := s.readTenant(r.Context(), viewerOf(r), id)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		if t.Access == domain.AccessFull {
			setETag(w, t.Version)
		}
		writeJSON(w, http.StatusOK, t)
		return
	}
	t, err := s.tenantAsOf(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, t.Version)
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) tenantAsOf(r *http.Request) (readmodel.TenantView, error) {
	ctx := r.Context()
	id, err := pathID(r)
	if err != nil {
		return readmodel.TenantView{}, err
	}
	// The caller may see the tenant in full now, which is what entitles it to its past.
	if _, err := s.queries.TenantInFull(ctx, viewerOf(r), id); err != nil {
		return readmodel.TenantView{}, err
	}
	asOf, err := queryTime("as_of", r.URL.Query().Get("as_of"))
	if err != nil {
		return readmodel.TenantView{}, err
	}
	events, err := s.Store.ReadStream(ctx, eventstore.StreamID{Type: domain.TenantStreamType, ID: id}, asOf)
	if err != nil {
		return readmodel.TenantView{}, err
	}
	if events = recordedBy(events, asOf); len(events) == 0 {
		return readmodel.TenantView{}, domain.ErrNotFound // it did not exist yet
	}
	return s.replayTenant(ctx, viewerOf(r), id, events)
}

// replayTenant is the tenant as its events leave it, with its sealed fields
// opened; after an erasure its past has no personal data either and reads as
// erased. The caller has checked that the viewer may see the tenant in full.
func (s *Server) replayTenant(ctx context.Context, v readmodel.Viewer, id uuid.UUID, events []eventstore.Event) (readmodel.TenantView, error) {
	opened, err := commands.OpenTenantEvents(ctx, s.Keyring, s.Store, events)
	if err != nil {
		return readmodel.TenantView{}, err
	}
	t, err := replayAs(ctx, s, v, id, opened, s.readTenant)
	if err == nil && shredded(events, opened) {
		t.FirstName, t.LastName, t.Email = projections.ErasedName, projections.ErasedName, projections.ErasedEmail
	}
	return t, err
}

// shredded reports whether sealed events could not be opened: their key is gone.
func shredded(stored, opened []eventstore.Event) bool {
	for i := range stored {
		if tenantkeys.Sealed(stored[i].Data) && !tenantkeys.Sealed(opened[i].Data) {
			return true
		}
	}
	return false
}

// tenantFilter reads GET /tenants' filters.
func tenantFilter(q url.Values, p pageParams) (readmodel.TenantFilter, error) {
	f := readmodel.TenantFilter{Email: q.Get("email"), LastName: q.Get("last_name"), Cursor: p.cursor, Limit: p.limit}
	for name, value := range map[string]string{"email": f.Email, "last_name": f.LastName} {
		if !utf8.ValidString(value) || strings.ContainsRune(value, 0) {
			return f, badRequest(name + " must be UTF-8 text without NUL characters")
		}
	}
	return f, nil
}

// tenantPage reads a page of tenants with their ssn_last_four opened.
func (s *Server) tenantPage(ctx context.Context, v readmodel.Viewer, f readmodel.TenantFilter) (readmodel.Page[readmodel.TenantView], error) {
	page, err := s.queries.Tenants(ctx, v, f)
	if err != nil {
		return page, err
	}
	for i := range page.Items {
		if err := s.openTenant(ctx, &page.Items[i]); err != nil {
			return page, err
		}
	}
	return page, nil
}

func (s *Server) tenantHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.TenantStreamType, s.queries.TenantInFull)
}
