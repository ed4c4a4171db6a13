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
	s.properties().answer(w, r, res, err)
}

func (s *Server) changeProperty(w http.ResponseWriter, r *http.Request) {
	var req propertyPatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Properties.Change(r.Context(), commands.ChangeProperty{Target: t, Patch: req.patch()})
	}, s.properties().answer)
}

func (s *Server) changePropertyStatus(w http.ResponseWriter, r *http.Request) {
	var req statusRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Properties.ChangeStatus(r.Context(), commands.ChangePropertyStatus{Target: t, Status: req.Status})
	}, s.properties().answer)
}

// properties is the collection of properties for the generic handlers.
func (s *Server) properties() resource[readmodel.PropertyView] {
	return resource[readmodel.PropertyView]{s: s, collection: "properties", streamType: domain.PropertyStreamType,
		read: s.queries.Property, version: func(p readmodel.PropertyView) int64 { return p.Version }}
}

// propertyFilter reads GET /properties' filters.
func propertyFilter(q url.Values, p pageParams) (f readmodel.PropertyFilter, err error) {
	f = readmodel.PropertyFilter{City: q.Get("city"), State: q.Get("state"), Cursor: p.cursor, Limit: p.limit}
	if f.Status, err = queryEnum[domain.PropertyStatus](q, "status"); err != nil {
		return f, err
	}
	if f.PropertyType, err = queryEnum[domain.PropertyType](q, "property_type"); err != nil {
		return f, err
	}
	f.OwnerID, err = queryUUID(q, "owner_id")
	return f, err
}
