package http

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// propertyRequest is the body of POST /properties.
type propertyRequest struct {
	ID           *uuid.UUID   `json:"id"`
	Name         string       `json:"name"`
	Address      string       `json:"address"`
	City         string       `json:"city"`
	State        string       `json:"state"`
	ZipCode      string       `json:"zip_code"`
	OwnerID      *uuid.UUID   `json:"owner_id"`
	PropertyType string       `json:"property_type"`
	Bedrooms     *int         `json:"bedrooms"`
	Bathrooms    *json.Number `json:"bathrooms"`
	SquareFeet   *int         `json:"square_feet"`
	YearBuilt    *int         `json:"year_built"`
	Description  *string      `json:"description"`
}

func (req propertyRequest) command(actor commands.Actor) (commands.RegisterProperty, error) {
	bathrooms, err := commands.ParseBathrooms(req.Bathrooms)
	if err != nil {
		return commands.RegisterProperty{}, err
	}
	return commands.RegisterProperty{
		Actor: actor, ID: req.ID, OwnerID: req.OwnerID,
		Details: domain.PropertyDetails{
			Name: req.Name, Address: req.Address, City: req.City, State: req.State, ZipCode: req.ZipCode,
			PropertyType: domain.ParsePropertyType(req.PropertyType), Bedrooms: req.Bedrooms,
			Bathrooms: bathrooms, SquareFeet: req.SquareFeet, YearBuilt: req.YearBuilt, Description: req.Description,
		},
	}, nil
}

// propertyPatchRequest is the body of PATCH /properties/{id}: a JSON merge patch.
type propertyPatchRequest struct {
	Name         commands.Optional[string]      `json:"name"`
	Address      commands.Optional[string]      `json:"address"`
	City         commands.Optional[string]      `json:"city"`
	State        commands.Optional[string]      `json:"state"`
	ZipCode      commands.Optional[string]      `json:"zip_code"`
	PropertyType commands.Optional[string]      `json:"property_type"`
	Bedrooms     commands.Optional[int]         `json:"bedrooms"`
	Bathrooms    commands.Optional[json.Number] `json:"bathrooms"`
	SquareFeet   commands.Optional[int]         `json:"square_feet"`
	YearBuilt    commands.Optional[int]         `json:"year_built"`
	Description  commands.Optional[string]      `json:"description"`
	OwnerID      commands.Optional[uuid.UUID]   `json:"owner_id"`
}

func (p propertyPatchRequest) patch() commands.PropertyPatch {
	return commands.PropertyPatch{
		Name: p.Name, Address: p.Address, City: p.City, State: p.State, ZipCode: p.ZipCode,
		PropertyType: p.PropertyType, Bedrooms: p.Bedrooms, Bathrooms: p.Bathrooms,
		SquareFeet: p.SquareFeet, YearBuilt: p.YearBuilt, Description: p.Description, OwnerID: p.OwnerID,
	}
}

type statusRequest struct {
	Status string `json:"status"`
}

func (s *Server) createProperty(w http.ResponseWriter, r *http.Request) {
	var req propertyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	cmd, err := req.command(actorOf(r))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Properties.Register(r.Context(), cmd)
	s.answerProperty(w, r, res, err)
}

func (s *Server) changeProperty(w http.ResponseWriter, r *http.Request) {
	var req propertyPatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Properties.Change(r.Context(), commands.ChangeProperty{
			Actor: actor, ID: id, IfMatch: version, Patch: req.patch(),
		})
	}, s.answerProperty)
}

func (s *Server) changePropertyStatus(w http.ResponseWriter, r *http.Request) {
	var req statusRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Properties.ChangeStatus(r.Context(), commands.ChangePropertyStatus{
			Actor: actor, ID: id, IfMatch: version, Status: req.Status,
		})
	}, s.answerProperty)
}

func (s *Server) answerProperty(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "properties", s.queries.Property, propertyVersion)
}

func propertyVersion(p readmodel.PropertyView) int64 { return p.Version }

func (s *Server) getProperty(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.Property, propertyVersion)
}

func (s *Server) listProperties(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := readmodel.PropertyFilter{
		Status: q.Get("status"), City: q.Get("city"), State: q.Get("state"),
		PropertyType: q.Get("property_type"), Cursor: q.Get("cursor"), Limit: limit,
	}
	if f.OwnerID, err = queryUUID(q, "owner_id"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	page, err := s.queries.Properties(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) propertyHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.PropertyStreamType, s.queries.Property)
}
