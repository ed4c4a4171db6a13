package http

import "net/http"

// TODO(issue 3): the transactions endpoints.

func (s *Server) postCharge(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNotBuilt) }

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) payTransaction(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) failTransaction(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) retryTransaction(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) refundTransaction(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) transactionHistory(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}

func (s *Server) overdueTransactions(w http.ResponseWriter, r *http.Request) {
	Error(w, r, s.log, errNotBuilt)
}
