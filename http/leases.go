package http

import "net/http"

// TODO(issue 3): the leases endpoints.

func (s *Server) signLease(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) listLeases(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) getLease(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) renewLease(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) terminateLease(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) leaseHistory(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) activeLeases(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) expiringLeases(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}
