package http

import (
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// The ledger's routes (docs/rent.md, "Payments, credit and deposits").

// leasePaymentRequest is the body of POST /leases/{id}/payments.
type leasePaymentRequest struct {
	Amount          *json.Number `json:"amount"`
	PaymentDate     *string      `json:"payment_date"`
	PaymentMethod   string       `json:"payment_method"`
	ReferenceNumber *string      `json:"reference_number"`
	TenantID        *uuid.UUID   `json:"tenant_id"`
	AppliesTo       string       `json:"applies_to"`
}

// returnPaymentRequest is the body of POST /payments/{id}/return.
type returnPaymentRequest struct {
	Reason string       `json:"reason"`
	Fee    *json.Number `json:"fee"`
}

// creditRefundRequest is the body of POST /leases/{id}/credit/refund.
type creditRefundRequest struct {
	Amount        *json.Number `json:"amount"`
	PaymentMethod string       `json:"payment_method"`
}

// settleDepositRequest is the body of POST /leases/{id}/deposit/settle.
type settleDepositRequest struct {
	Deductions []struct {
		Reason        string       `json:"reason"`
		Amount        *json.Number `json:"amount"`
		DocumentID    *uuid.UUID   `json:"document_id"`
		TransactionID *uuid.UUID   `json:"transaction_id"`
	} `json:"deductions"`
	RefundMethod string `json:"refund_method"`
}

func (s *Server) recordPayment(w http.ResponseWriter, r *http.Request) {
	var req leasePaymentRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, _ *int64) (commands.Result, error) {
		return s.Ledger.Record(r.Context(), commands.RecordPayment{Actor: actor, LeaseID: id, Amount: req.Amount,
			PaymentDate: req.PaymentDate, PaymentMethod: req.PaymentMethod, ReferenceNumber: req.ReferenceNumber,
			TenantID: req.TenantID, AppliesTo: req.AppliesTo})
	}, s.answerPayment)
}

func (s *Server) returnPayment(w http.ResponseWriter, r *http.Request) {
	var req returnPaymentRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Ledger.Return(r.Context(), commands.ReturnPayment{Actor: actor, ID: id, IfMatch: version, Reason: req.Reason, Fee: req.Fee})
	}, s.answerPayment)
}

func (s *Server) answerPayment(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "payments", s.queries.Payment, paymentVersion)
}

func paymentVersion(p readmodel.PaymentView) int64 { return p.Version }

func (s *Server) getPayment(w http.ResponseWriter, r *http.Request) {
	answerEntity(s, w, r, s.queries.Payment, paymentVersion)
}

func (s *Server) paymentHistory(w http.ResponseWriter, r *http.Request) {
	answerHistory(s, w, r, domain.PaymentStreamType, s.queries.Payment)
}

func (s *Server) listLeasePayments(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	page, err := s.queries.LeasePayments(r.Context(), viewerOf(r), id, q.Get("cursor"), limit)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) refundCredit(w http.ResponseWriter, r *http.Request) {
	var req creditRefundRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, _ *int64) (commands.Result, error) {
		return s.Ledger.RefundCredit(r.Context(), commands.RefundCredit{Actor: actor, LeaseID: id, Amount: req.Amount,
			PaymentMethod: req.PaymentMethod})
	}, s.answerDeposit)
}

func (s *Server) settleDeposit(w http.ResponseWriter, r *http.Request) {
	var req settleDepositRequest
	s.entityCommand(w, r, &req, jsonBody, func(actor commands.Actor, id uuid.UUID, _ *int64) (commands.Result, error) {
		deductions := make([]commands.DeductionInput, len(req.Deductions))
		for i, d := range req.Deductions {
			deductions[i] = commands.DeductionInput{Reason: d.Reason, Amount: d.Amount, DocumentID: d.DocumentID, TransactionID: d.TransactionID}
		}
		return s.Ledger.SettleDeposit(r.Context(), commands.SettleDeposit{Actor: actor, LeaseID: id, Deductions: deductions,
			RefundMethod: req.RefundMethod})
	}, s.answerDeposit)
}

// answerDeposit answers a lease's money held: its deposit and its credit.
func (s *Server) answerDeposit(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "leases", s.queries.Deposit, readmodel.DepositVersion)
}

func (s *Server) getDeposit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	d, err := s.queries.Deposit(r.Context(), viewerOf(r), id)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, d.Version)
	writeJSON(w, http.StatusOK, d)
}
