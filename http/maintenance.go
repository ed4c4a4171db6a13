package http

import "net/http"

// TODO(issue 3): the maintenance endpoints.

func (s *Server) requestMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) listMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) getMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) changeMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) assignMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) scheduleMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) startMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) completeMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) cancelMaintenance(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) maintenanceHistory(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}
