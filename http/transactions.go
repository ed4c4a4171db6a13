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
	s.transactions().answer(w, r, res, err)
}

func (s *Server) payTransaction(w http.ResponseWriter, r *http.Request) {
	var req paymentRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Transactions.Pay(r.Context(), commands.PayTransaction{
			Target: t, PaymentDate: req.PaymentDate,
			PaymentMethod: req.PaymentMethod, ReferenceNumber: req.ReferenceNumber,
		})
	}, s.transactions().answer)
}

// transactions is the collection of transactions for the generic handlers.
func (s *Server) transactions() resource[readmodel.TransactionView] {
	return resource[readmodel.TransactionView]{s: s, collection: "transactions", streamType: domain.TransactionStreamType,
		read: s.queries.Transaction, version: func(t readmodel.TransactionView) int64 { return t.Version }}
}

// transactionFilter reads GET /transactions' filters.
func transactionFilter(q url.Values, p pageParams) (f readmodel.TransactionFilter, err error) {
	f = readmodel.TransactionFilter{Cursor: p.cursor, Limit: p.limit}
	if f.LeaseID, err = queryUUID(q, "lease_id"); err != nil {
		return f, err
	}
	if f.Status, err = queryEnum[domain.TransactionStatus](q, "status"); err != nil {
		return f, err
	}
	if f.Type, err = queryEnum[domain.TransactionType](q, "type"); err != nil {
		return f, err
	}
	return f, nil
}

// overdueFilter reads GET /reports/overdue-transactions' ?as_of: the seed's
// "Overdue Transactions", pending charges due before that day (default: the
// server's UTC date), earliest due first.
func overdueFilter(q url.Values, p pageParams) (readmodel.OverdueFilter, error) {
	asOf, err := reportDate(q)
	return readmodel.OverdueFilter{AsOf: asOf, Cursor: p.cursor, Limit: p.limit}, err
}
