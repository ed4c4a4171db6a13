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
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Ledger.Record(r.Context(), commands.RecordPayment{Actor: t.Actor, LeaseID: t.ID, Amount: req.Amount,
			PaymentDate: req.PaymentDate, PaymentMethod: req.PaymentMethod, ReferenceNumber: req.ReferenceNumber,
			TenantID: req.TenantID, AppliesTo: req.AppliesTo})
	}, s.payments().answer)
}

func (s *Server) returnPayment(w http.ResponseWriter, r *http.Request) {
	var req returnPaymentRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Ledger.Return(r.Context(), commands.ReturnPayment{Target: t, Reason: req.Reason, Fee: req.Fee})
	}, s.payments().answer)
}

// payments is the collection of payments for the generic handlers.
func (s *Server) payments() resource[readmodel.PaymentView] {
	return resource[readmodel.PaymentView]{s: s, collection: "payments", streamType: domain.PaymentStreamType,
		read: s.queries.Payment, version: func(p readmodel.PaymentView) int64 { return p.Version }}
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
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Ledger.RefundCredit(r.Context(), commands.RefundCredit{Actor: t.Actor, LeaseID: t.ID, Amount: req.Amount,
			PaymentMethod: req.PaymentMethod})
	}, s.deposits().answer)
}

func (s *Server) settleDeposit(w http.ResponseWriter, r *http.Request) {
	var req settleDepositRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		deductions := make([]commands.DeductionInput, len(req.Deductions))
		for i, d := range req.Deductions {
			deductions[i] = commands.DeductionInput{Reason: d.Reason, Amount: d.Amount, DocumentID: d.DocumentID, TransactionID: d.TransactionID}
		}
		return s.Ledger.SettleDeposit(r.Context(), commands.SettleDeposit{Actor: t.Actor, LeaseID: t.ID, Deductions: deductions,
			RefundMethod: req.RefundMethod})
	}, s.deposits().answer)
}

// deposits is a lease's money held, its deposit and its credit, for the
// generic handlers: one per lease, read at GET /leases/{id}/deposit.
func (s *Server) deposits() resource[readmodel.DepositView] {
	return resource[readmodel.DepositView]{s: s, collection: "leases", read: s.queries.Deposit, version: readmodel.DepositVersion}
}
