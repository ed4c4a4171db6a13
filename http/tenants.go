package http

import "net/http"

// TODO(issue 3): the tenants endpoints.

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) changeTenant(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) recordScreening(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) tenantHistory(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}
