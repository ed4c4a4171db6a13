package http

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// lateFeePolicyRequest is the body of PUT /properties/{id}/late-fee-policy and
// PUT /leases/{id}/late-fee-policy. Amounts stay raw: the command parses them.
type lateFeePolicyRequest struct {
	GraceDays  *int         `json:"grace_days"`
	FlatAmount *json.Number `json:"flat_amount"`
	Percent    *json.Number `json:"percent"`
	MonthlyCap *json.Number `json:"monthly_cap"`
}

func (req lateFeePolicyRequest) input() commands.LateFeePolicyInput {
	return commands.LateFeePolicyInput{GraceDays: req.GraceDays, FlatAmount: req.FlatAmount,
		Percent: req.Percent, MonthlyCap: req.MonthlyCap}
}

// putLateFeePolicy decodes a policy, runs set and answers the policy in force.
func (s *Server) putLateFeePolicy(w http.ResponseWriter, r *http.Request, collection string,
	set func(actor commands.Actor, id uuid.UUID, version *int64, in commands.LateFeePolicyInput) (commands.Result, error),
	read func(context.Context, readmodel.Viewer, uuid.UUID) (readmodel.LateFeePolicyView, error)) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	var req lateFeePolicyRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := set(actorOf(r), id, version, req.input())
	answerCommand(s, w, r, res, err, collection, read, readmodel.LateFeePolicyVersion)
}

func (s *Server) putPropertyLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	s.putLateFeePolicy(w, r, "properties",
		func(actor commands.Actor, id uuid.UUID, version *int64, in commands.LateFeePolicyInput) (commands.Result, error) {
			return s.Properties.SetLateFeePolicy(r.Context(), commands.SetPropertyLateFeePolicy{
				Actor: actor, ID: id, IfMatch: version, Policy: in})
		}, s.queries.PropertyLateFeePolicy)
}

func (s *Server) putLeaseLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	s.putLateFeePolicy(w, r, "leases",
		func(actor commands.Actor, id uuid.UUID, version *int64, in commands.LateFeePolicyInput) (commands.Result, error) {
			return s.Leases.SetLateFeePolicy(r.Context(), commands.SetLeaseLateFeePolicy{
				Actor: actor, ID: id, IfMatch: version, Policy: in})
		}, s.queries.LeaseLateFeePolicy)
}

// getPropertyLateFeePolicy answers the property's policy; 404 when it has none.
func (s *Server) getPropertyLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	s.getLateFeePolicy(w, r, s.queries.PropertyLateFeePolicy)
}

// getLeaseLateFeePolicy answers the policy that applies to the lease: its own, or
// its property's (source says which); 404 when neither has one.
func (s *Server) getLeaseLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	s.getLateFeePolicy(w, r, s.queries.LeaseLateFeePolicy)
}

func (s *Server) getLateFeePolicy(w http.ResponseWriter, r *http.Request,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (readmodel.LateFeePolicyView, error)) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	policy, err := read(r.Context(), viewerOf(r), id)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, policy.Version)
	writeJSON(w, http.StatusOK, policy)
}

// waiveTransaction forgives a fee: 409 for any other type of charge.
func (s *Server) waiveTransaction(w http.ResponseWriter, r *http.Request) {
	var req transactionReasonRequest
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.Waive(r.Context(), commands.WaiveFee{Actor: actor, ID: id, IfMatch: version, Reason: req.Reason})
	}, s.answerTransaction)
}

// writeOffTransaction gives up collecting a charge: admins and managers only.
func (s *Server) writeOffTransaction(w http.ResponseWriter, r *http.Request) {
	var req transactionReasonRequest
	s.entityCommand(w, r, &req, optionalBody, func(actor commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Transactions.WriteOff(r.Context(), commands.WriteOffCharge{Actor: actor, ID: id, IfMatch: version, Reason: req.Reason})
	}, s.answerTransaction)
}

// leaseLedger answers the tenant ledger of a lease, as of ?as_of=YYYY-MM-DD when
// given; in CSV with ?format=csv.
func (s *Server) leaseLedger(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	var asOf *domain.Date
	if raw := r.URL.Query().Get("as_of"); raw != "" {
		d, err := queryDate("as_of", raw)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		asOf = &d
	}
	csv, err := wantsCSV(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	ledger, err := s.queries.Ledger(r.Context(), viewerOf(r), id, asOf)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !csv {
		writeJSON(w, http.StatusOK, ledger)
		return
	}
	name := "ledger-" + id.String()
	if asOf != nil {
		name += "-" + asOf.String()
	}
	records := make([][]string, 0, len(ledger.Items))
	for _, e := range ledger.Items {
		records = append(records, []string{e.Date.String(), e.Entry, csvUUID(e.TransactionID), csvString(e.Type),
			csvString(e.Status), csvString(e.Description), e.Amount.StringFixed(2), e.Balance.StringFixed(2), csvUUID(e.PaymentID)})
	}
	writeCSV(w, name, []string{"date", "entry", "transaction_id", "type", "status", "description", "amount", "balance",
		"payment_id"}, records)
}
