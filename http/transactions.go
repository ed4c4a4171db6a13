package http

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// chargeRequest is the body of POST /transactions: a pending charge.
type chargeRequest struct {
	ID      *uuid.UUID   `json:"id"`
	LeaseID *uuid.UUID   `json:"lease_id"`
	Amount  *json.Number `json:"amount"`
	Type    string       `json:"type"`
	DueDate *string      `json:"due_date"`
	Notes   *string      `json:"notes"`
}

// paymentRequest is the body of POST /transactions/{id}/pay.
type paymentRequest struct {
	PaymentDate     *string `json:"payment_date"`
	PaymentMethod   string  `json:"payment_method"`
	ReferenceNumber *string `json:"reference_number"`
}

// transactionReasonRequest is the optional body of /fail and /refund.
type transactionReasonRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) postCharge(w http.ResponseWriter, r *http.Request) {
	var req chargeRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Transactions.Post(r.Context(), commands.PostCharge{
		Actor: actorOf(r), ID: req.ID, LeaseID: req.LeaseID, Amount: req.Amount,
		Type: req.Type, DueDate: req.DueDate, Notes: req.Notes,
	})
	s.answerTransaction(w, r, res, err)
}

func (s *Server) payTransaction(w http.ResponseWriter, r *http.Request) {
	var req paymentRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.Pay(r.Context(), commands.PayTransaction{
			Actor: actor, ID: id, IfMatch: version, PaymentDate: req.PaymentDate,
			PaymentMethod: req.PaymentMethod, ReferenceNumber: req.ReferenceNumber,
		})
	}, s.answerTransaction)
}

func (s *Server) failTransaction(w http.ResponseWriter, r *http.Request) {
	var req transactionReasonRequest
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.Fail(r.Context(), commands.FailTransaction{Actor: actor, ID: id, IfMatch: version, Reason: req.Reason})
	}, s.answerTransaction)
}

func (s *Server) retryTransaction(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.Retry(r.Context(), commands.RetryTransaction{Actor: actor, ID: id, IfMatch: version})
	}, s.answerTransaction)
}

func (s *Server) refundTransaction(w http.ResponseWriter, r *http.Request) {
	var req transactionReasonRequest
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.Refund(r.Context(), commands.RefundTransaction{Actor: actor, ID: id, IfMatch: version, Reason: req.Reason})
	}, s.answerTransaction)
}

func (s *Server) answerTransaction(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "transactions", s.queries.Transaction, transactionVersion)
}

func transactionVersion(t readmodel.TransactionView) int64 { return t.Version }

func (s *Server) getTransaction(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.Transaction, transactionVersion)
}

func (s *Server) transactionHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.TransactionStreamType, s.queries.Transaction)
}

func (s *Server) listTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := readmodel.TransactionFilter{Cursor: q.Get("cursor"), Limit: limit}
	if f.LeaseID, err = queryUUID(q, "lease_id"); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if raw := q.Get("status"); raw != "" {
		var status domain.TransactionStatus
		if err := status.UnmarshalText([]byte(raw)); err != nil {
			Error(w, r, s.log, badRequest("status "+err.Error()))
			return
		}
		f.Status = status.String()
	}
	if raw := q.Get("type"); raw != "" {
		var kind domain.TransactionType
		if err := kind.UnmarshalText([]byte(raw)); err != nil {
			Error(w, r, s.log, badRequest("type "+err.Error()))
			return
		}
		f.Type = kind.String()
	}
	page, err := s.queries.Transactions(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// overdueTransactions is the seed's "Overdue Transactions": pending charges due
// before ?as_of= (default: the server's UTC date), earliest due first.
func (s *Server) overdueTransactions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	asOf, err := reportDate(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	f := readmodel.OverdueFilter{AsOf: asOf, Cursor: q.Get("cursor"), Limit: limit}
	page, err := s.queries.OverdueTransactions(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
