package http

import (
	"encoding/json"
	"net/http"

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

func (s *Server) putPropertyLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	var req lateFeePolicyRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Properties.SetLateFeePolicy(r.Context(), commands.SetPropertyLateFeePolicy{Target: t, Policy: req.input()})
	}, s.propertyLateFeePolicies().answer)
}

func (s *Server) putLeaseLateFeePolicy(w http.ResponseWriter, r *http.Request) {
	var req lateFeePolicyRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Leases.SetLateFeePolicy(r.Context(), commands.SetLeaseLateFeePolicy{Target: t, Policy: req.input()})
	}, s.leaseLateFeePolicies().answer)
}

// propertyLateFeePolicies are the properties' policies, read at GET
// /properties/{id}/late-fee-policy (404 when the property has none).
func (s *Server) propertyLateFeePolicies() resource[readmodel.LateFeePolicyView] {
	return resource[readmodel.LateFeePolicyView]{s: s, collection: "properties",
		read: s.queries.PropertyLateFeePolicy, version: readmodel.LateFeePolicyVersion}
}

// leaseLateFeePolicies are the policies that apply to leases: a lease's own, or
// its property's (source says which); 404 when neither has one.
func (s *Server) leaseLateFeePolicies() resource[readmodel.LateFeePolicyView] {
	return resource[readmodel.LateFeePolicyView]{s: s, collection: "leases",
		read: s.queries.LeaseLateFeePolicy, version: readmodel.LateFeePolicyVersion}
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
