package http

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections"
)

// paymentDoc is a payment as a client reads it.
type paymentDoc struct {
	ID          string `json:"id"`
	LeaseID     string `json:"lease_id"`
	Amount      string `json:"amount"`
	PaymentDate string `json:"payment_date"`
	Status      string `json:"status"`
	Allocations []struct {
		TransactionID string `json:"transaction_id"`
		Amount        string `json:"amount"`
	} `json:"allocations"`
	Credit      string  `json:"credit"`
	ReturnFeeID *string `json:"return_fee_id"`
	Version     int64   `json:"version"`
}

// allocations renders a payment's allocations as "charge amount" lines.
func (p paymentDoc) allocations() []string {
	out := []string{}
	for _, a := range p.Allocations {
		out = append(out, a.TransactionID+" "+a.Amount)
	}
	return out
}

// depositDoc is a lease's deposit as a client reads it.
type depositDoc struct {
	Required   string `json:"required"`
	Held       string `json:"held"`
	Deductions []struct {
		Reason        string  `json:"reason"`
		Amount        string  `json:"amount"`
		TransactionID *string `json:"transaction_id"`
	} `json:"deductions"`
	Refunded  string `json:"refunded"`
	Forfeited string `json:"forfeited"`
	Credit    string `json:"credit"`
}

// ledgerTotals is a ledger's summary as a client reads it.
type ledgerTotals struct {
	Balance     string `json:"balance"`
	OpenBalance string `json:"open_balance"`
	Credit      string `json:"credit"`
	DepositHeld string `json:"deposit_held"`
}

// MustPayLease records a payment for a lease and answers it.
func (s *stack) MustPayLease(tb testing.TB, token string, lease uuid.UUID, body map[string]any) paymentDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var p paymentDoc
	MustDecode(tb, resp, &p)
	if loc := resp.Header.Get("Location"); loc != "/api/v1/payments/"+p.ID {
		tb.Errorf("Location = %q, want /api/v1/payments/%s", loc, p.ID)
	}
	return p
}

// MustLastPaymentID is the id of the latest payment of a lease.
func (s *stack) MustLastPaymentID(t *testing.T, token string, lease uuid.UUID) string {
	t.Helper()
	var page struct {
		Items []paymentDoc `json:"items"`
	}
	s.MustReport(t, token, "/api/v1/leases/"+lease.String()+"/payments?limit=200", &page)
	if len(page.Items) == 0 {
		t.Fatalf("lease %s has no payments", lease)
	}
	return page.Items[len(page.Items)-1].ID
}

// MustCharge answers a charge as GET reads it.
func (s *stack) MustCharge(tb testing.TB, token, id string) transactionDoc {
	tb.Helper()
	doc, _ := s.MustGetTransaction(tb, token, id)
	return doc
}

// MustBooks reads a lease's ledger, its aging row and its rent-roll row on a day
// ("" for today) and checks that they tie: the ledger's balance is its open
// balance less its credit, the aging's total for the lease is the open balance
// of its charges other than deposits (want: no deposit is open here), and the
// rent roll's balance due and credit are the ledger's.
func (s *stack) MustBooks(t *testing.T, token string, lease uuid.UUID, day string) (ledgerDoc, ledgerTotals) {
	t.Helper()
	query := ""
	if day != "" {
		query = "?as_of=" + day
	}
	var ledger ledgerDoc
	var totals ledgerTotals
	s.MustReport(t, token, "/api/v1/leases/"+lease.String()+"/ledger"+query, &ledger)
	s.MustReport(t, token, "/api/v1/leases/"+lease.String()+"/ledger"+query, &totals)
	open, credit := decimal.RequireFromString(totals.OpenBalance), decimal.RequireFromString(totals.Credit)
	if got := open.Sub(credit).StringFixed(2); got != ledger.Balance {
		t.Errorf("%s: ledger balance %s, want open %s − credit %s = %s", day, ledger.Balance, totals.OpenBalance, totals.Credit, got)
	}
	var aging agingDoc
	s.MustReport(t, token, "/api/v1/reports/aging"+query, &aging)
	agingTotal := "0.00"
	for _, row := range aging.Items {
		if row.LeaseID == lease.String() {
			agingTotal = row.agingBucketsDoc.Total
		}
	}
	if agingTotal != totals.OpenBalance {
		t.Errorf("%s: aging total %s, want the ledger's open balance %s", day, agingTotal, totals.OpenBalance)
	}
	var roll struct {
		Items []struct {
			LeaseID     *string `json:"lease_id"`
			BalanceDue  *string `json:"balance_due"`
			Credit      *string `json:"credit"`
			DepositHeld *string `json:"deposit_held"`
		} `json:"items"`
	}
	s.MustReport(t, token, "/api/v1/reports/rent-roll"+query, &roll)
	for _, row := range roll.Items {
		if row.LeaseID != nil && *row.LeaseID == lease.String() {
			if *row.BalanceDue != totals.OpenBalance || *row.Credit != totals.Credit || *row.DepositHeld != totals.DepositHeld {
				t.Errorf("%s: rent roll balance due %s credit %s deposit held %s, want the ledger's %s %s %s", day,
					*row.BalanceDue, *row.Credit, *row.DepositHeld, totals.OpenBalance, totals.Credit, totals.DepositHeld)
			}
		}
	}
	return ledger, totals
}

// MustVerifyReadModel replays the whole log into scratch tables and fails on any
// row that differs from the live read model (payments, lease_accounts and the
// charges' amount_paid and balance included).
func (s *stack) MustVerifyReadModel(t *testing.T) {
	t.Helper()
	res, err := projections.Verify(context.Background(), s.pool, projections.RebuildOptions{Keyring: s.keyring})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Identical() {
		for _, d := range res.Differences {
			t.Errorf("verify: %s %s: live %v, rebuilt %v", d.Table, d.ID, derefOr(d.Live, "<none>"), derefOr(d.Rebuilt, "<none>"))
		}
	}
}

// ledgerSetup is an owner with a property and a tenant, ready to sign a lease.
type ledgerSetup struct {
	token    string
	property uuid.UUID
	tenant   uuid.UUID
}

func (s *stack) MustLedgerSetup(t *testing.T) ledgerSetup {
	t.Helper()
	id, token := s.MustUser(t, domain.RoleUser)
	return ledgerSetup{token: token, property: s.MustProperty(t, token), tenant: s.MustTenantFixture(t, id)}
}

func (s *stack) MustLedgerLease(t *testing.T, a ledgerSetup, overrides map[string]any) uuid.UUID {
	t.Helper()
	return uuid.MustParse(s.MustSignLease(t, a.token, leaseBody(a.property, a.tenant, overrides)).ID)
}

func (s *stack) MustLedgerCharge(t *testing.T, token string, lease uuid.UUID, kind, amount, due string) string {
	t.Helper()
	return s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"type": kind, "amount": amount, "due_date": due})).ID
}

// A month with a partial payment: rent 1250.00 due 01-01 and maintenance 80.00
// due 01-10; 600.00 paid on 01-05 goes to the rent (oldest due first), which
// stays pending with 650.00 left; 730.00 on 01-20 pays the 650.00 and the 80.00.
func TestLedgerPartialPayment(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-01-01", "end_date": "2024-12-31", "security_deposit": "0"})
	rent := s.MustLedgerCharge(t, a.token, lease, "rent", "1250.00", "2024-01-01")
	maintenance := s.MustLedgerCharge(t, a.token, lease, "maintenance", "80.00", "2024-01-10")

	first := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "600", "payment_date": "2024-01-05", "payment_method": "check", "reference_number": "CHK-1"})
	if got, want := first.allocations(), []string{rent + " 600.00"}; !slices.Equal(got, want) || first.Credit != "0.00" || first.Status != "applied" {
		t.Errorf("first payment: allocations %q credit %s status %s, want %q 0.00 applied", got, first.Credit, first.Status, want)
	}
	if c := s.MustCharge(t, a.token, rent); c.Status != "pending" || c.AmountPaid != "600.00" || c.Balance != "650.00" {
		t.Errorf("rent after 600.00: %s paid %s balance %s, want pending 600.00 650.00", c.Status, c.AmountPaid, c.Balance)
	}
	if got := s.MustEventsOfType(t, rent, "RentPaid"); got != 1 {
		t.Errorf("RentPaid events = %d, want 1 per allocation", got)
	}

	// On 01-15: 1250.00 − 600.00 + 80.00 = 730.00 owed, all of it 0–30 days.
	ledger, _ := s.MustBooks(t, a.token, lease, "2024-01-15")
	if got, want := ledger.lines(), []string{
		"2024-01-01 charge rent 1250.00 1250.00",
		"2024-01-05 payment rent -600.00 650.00",
		"2024-01-10 charge maintenance 80.00 730.00",
	}; !slices.Equal(got, want) {
		t.Errorf("ledger on 01-15:\n got  %q\n want %q", got, want)
	}

	second := s.MustPayLease(t, a.token, lease, map[string]any{"amount": 730, "payment_date": "2024-01-20", "payment_method": "cash"})
	if got, want := second.allocations(), []string{rent + " 650.00", maintenance + " 80.00"}; !slices.Equal(got, want) || second.Credit != "0.00" {
		t.Errorf("second payment: %q credit %s, want %q 0.00", got, second.Credit, want)
	}
	for _, id := range []string{rent, maintenance} {
		if c := s.MustCharge(t, a.token, id); c.Status != "completed" || c.Balance != "0.00" {
			t.Errorf("charge %s: %s balance %s, want completed 0.00", id, c.Status, c.Balance)
		}
	}
	if got := s.MustEventsOfType(t, maintenance, "PaymentReceived"); got != 1 {
		t.Errorf("PaymentReceived events of the maintenance charge = %d, want 1", got)
	}
	ledger, totals := s.MustBooks(t, a.token, lease, "")
	if ledger.Balance != "0.00" || totals.Credit != "0.00" || len(ledger.Items) != 5 {
		t.Errorf("final ledger: balance %s credit %s, %d lines %q; want 0.00 0.00 and 5 lines", ledger.Balance, totals.Credit, len(ledger.Items), ledger.lines())
	}

	// /pay of a charge with nothing left is refused; a bad payment writes nothing.
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/transactions/"+rent+"/pay",
		map[string]any{"payment_date": "2024-01-21", "payment_method": "cash"}, nil), http.StatusConflict)
	_, other := s.MustUser(t, domain.RoleUser)
	before := s.MustTransactionWrites(t)
	for _, body := range []map[string]any{
		{"amount": "0", "payment_date": "2024-01-21", "payment_method": "cash"},
		{"amount": "10.001", "payment_date": "2024-01-21", "payment_method": "cash"},
		{"amount": "100000000", "payment_date": "2024-01-21", "payment_method": "cash"},
		{"amount": "10", "payment_date": "2024-01-21", "payment_method": "barter"},
		{"amount": "10", "payment_date": "2024-01-21", "payment_method": "cash", "tenant_id": uuid.NewString()},
		{"amount": "10", "payment_date": "2024-01-21", "payment_method": "cash", "applies_to": "rent"},
		{"amount": "10", "payment_method": "cash"},
	} {
		p := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments", body, nil), http.StatusUnprocessableEntity)
		if len(p.Errors) == 0 {
			t.Errorf("%v: a 422 without field errors", body)
		}
		s.MustNoTransactionWrites(t, before, fmt.Sprint(body))
	}
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments",
		map[string]any{"amount": "10", "payment_date": "2024-01-21", "payment_method": "cash", "tip": 1}, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, other, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments",
		map[string]any{"amount": "10", "payment_date": "2024-01-21", "payment_method": "cash"}, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, other, http.MethodGet, "/api/v1/payments/"+first.ID, nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, other, http.MethodGet, "/api/v1/leases/"+lease.String()+"/payments", nil, nil), http.StatusNotFound)
	s.MustNoTransactionWrites(t, before, "refused payments")

	// The payer may be named: a party of the lease.
	named := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "5", "payment_date": "2024-01-22", "payment_method": "cash", "tenant_id": a.tenant})
	if named.Credit != "5.00" {
		t.Errorf("a payment with nothing open: credit %s, want 5.00", named.Credit)
	}
	s.MustVerifyReadModel(t)
}

// A prepayment of two months: rent 1000.00 a month; 3500.00 paid on 01-01 pays
// January and leaves 2500.00 of credit, which pays February and March as they
// are posted; 500.00 is left, and refunded.
func TestLedgerPrepayment(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-01-01", "end_date": "2024-12-31", "rent_amount": "1000", "security_deposit": "0"})
	jan := s.MustLedgerCharge(t, a.token, lease, "rent", "1000.00", "2024-01-01")
	pay := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "3500.00", "payment_date": "2024-01-01", "payment_method": "bank_transfer"})
	if got, want := pay.allocations(), []string{jan + " 1000.00"}; !slices.Equal(got, want) || pay.Credit != "2500.00" {
		t.Errorf("prepayment: %q credit %s, want %q 2500.00", got, pay.Credit, want)
	}
	var dep depositDoc
	s.MustReport(t, a.token, "/api/v1/leases/"+lease.String()+"/deposit", &dep)
	if dep.Credit != "2500.00" {
		t.Errorf("credit after the prepayment = %s, want 2500.00", dep.Credit)
	}
	var leaseAnswer struct {
		Credit string `json:"credit"`
	}
	s.MustReport(t, a.token, "/api/v1/leases/"+lease.String(), &leaseAnswer)
	if leaseAnswer.Credit != "2500.00" {
		t.Errorf("the lease answers credit %s, want 2500.00", leaseAnswer.Credit)
	}
	// On 01-15 the books show the credit: 0.00 owed, 2500.00 credit, balance −2500.00.
	if _, totals := s.MustBooks(t, a.token, lease, "2024-01-15"); totals.OpenBalance != "0.00" || totals.Credit != "2500.00" {
		t.Errorf("books on 01-15: open %s credit %s, want 0.00 2500.00", totals.OpenBalance, totals.Credit)
	}

	feb := s.MustLedgerCharge(t, a.token, lease, "rent", "1000.00", "2024-02-01")
	mar := s.MustLedgerCharge(t, a.token, lease, "rent", "1000.00", "2024-03-01")
	for _, id := range []string{feb, mar} {
		if c := s.MustCharge(t, a.token, id); c.Status != "completed" || c.AmountPaid != "1000.00" {
			t.Errorf("charge %s posted with credit: %s paid %s, want completed 1000.00", id, c.Status, c.AmountPaid)
		}
	}
	ledger, totals := s.MustBooks(t, a.token, lease, "")
	if ledger.Balance != "-500.00" || totals.Credit != "500.00" || totals.OpenBalance != "0.00" {
		t.Errorf("after March: balance %s credit %s open %s, want -500.00 500.00 0.00 (%q)", ledger.Balance, totals.Credit, totals.OpenBalance, ledger.lines())
	}
	wantStart := []string{
		"2024-01-01 charge rent 1000.00 1000.00",
		"2024-01-01 payment rent -1000.00 0.00",
		"2024-01-01 prepayment  -2500.00 -2500.00",
		"2024-02-01 charge rent 1000.00 -1500.00",
		"2024-03-01 charge rent 1000.00 -500.00",
	}
	if got := ledger.lines(); len(got) != 7 || !slices.Equal(got[:5], wantStart) ||
		!strings.Contains(got[5], " credit_applied rent 0.00 -500.00") || !strings.Contains(got[6], " credit_applied rent 0.00 -500.00") {
		t.Errorf("ledger lines:\n got  %q\n want %q and two credit_applied lines", got, wantStart)
	}

	// Refunds: more than the credit is a 422 and writes nothing; the credit itself empties it.
	before := s.MustTransactionWrites(t)
	p := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/credit/refund",
		map[string]any{"amount": "500.01", "payment_method": "check"}, nil), http.StatusUnprocessableEntity)
	if len(p.Errors) != 1 || p.Errors[0].Field != "amount" {
		t.Errorf("refund beyond the credit: errors %+v, want one on amount", p.Errors)
	}
	s.MustNoTransactionWrites(t, before, "a refund beyond the credit")
	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/credit/refund",
		map[string]any{"amount": "500.00", "payment_method": "check"}, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &dep)
	if dep.Credit != "0.00" {
		t.Errorf("credit after the refund = %s, want 0.00", dep.Credit)
	}
	ledger, _ = s.MustBooks(t, a.token, lease, "")
	if last := ledger.Items[len(ledger.Items)-1]; ledger.Balance != "0.00" || last.Entry != "credit_refunded" || last.Amount != "500.00" {
		t.Errorf("after the refund: balance %s, last line %+v; want 0.00 and the refund of 500.00", ledger.Balance, last)
	}
	s.MustVerifyReadModel(t)
}

// A bounced payment with its fee: March's rent of 1200.00 (due 03-01, five days'
// grace, a late fee of 50.00) paid on 03-03 by a cheque that bounces. The return
// reopens the rent, charges a returned-payment fee of 35.00 and the late fee the
// payment had prevented: 1200.00 + 50.00 + 35.00 = 1285.00 owed.
func TestLedgerReturnedPayment(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	MustPolicy(t, s.Do(t, a.token, http.MethodPut, "/api/v1/properties/"+a.property.String()+"/late-fee-policy",
		map[string]any{"grace_days": 5, "flat_amount": "50.00"}, nil))
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-03-01", "end_date": "2024-12-31", "rent_amount": "1200", "security_deposit": "0"})
	s.MustRentRun(t, domain.NewDate(2024, 3, 2))
	rent := domain.RentChargeID(lease, "2024-03-01").String()
	pay := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "1200", "payment_date": "2024-03-03", "payment_method": "check", "reference_number": "CHK-77"})
	if got := s.MustRentRun(t, domain.NewDate(2024, 3, 10)); got.Fees != 0 {
		t.Fatalf("run after the payment charged %d fees, want none", got.Fees)
	}

	before := s.MustTransactionWrites(t)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/payments/"+pay.ID+"/return", map[string]any{"reason": ""}, nil), http.StatusUnprocessableEntity)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/payments/"+pay.ID+"/return", map[string]any{"reason": "NSF", "fee": "-1"}, nil), http.StatusUnprocessableEntity)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/payments/"+pay.ID+"/return", map[string]any{"reason": "NSF"},
		map[string]string{"If-Match": `"9"`}), http.StatusPreconditionFailed)
	s.MustNoTransactionWrites(t, before, "refused returns")

	returnedAt := time.Now()
	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/payments/"+pay.ID+"/return", map[string]any{"reason": "NSF", "fee": "35.00"}, nil)
	MustStatus(t, resp, http.StatusOK)
	var returned paymentDoc
	MustDecode(t, resp, &returned)
	if returned.Status != "returned" || returned.ReturnFeeID == nil || returned.Version != 2 {
		t.Fatalf("returned payment: %+v", returned)
	}
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/payments/"+pay.ID+"/return", map[string]any{"reason": "NSF"}, nil), http.StatusConflict)
	if c := s.MustCharge(t, a.token, rent); c.Status != "pending" || c.Balance != "1200.00" {
		t.Errorf("rent after the return: %s balance %s, want pending 1200.00", c.Status, c.Balance)
	}
	if c := s.MustCharge(t, a.token, *returned.ReturnFeeID); c.Type != "fee" || c.Amount != "35.00" || c.Status != "pending" {
		t.Errorf("returned-payment fee: %+v", c)
	}
	lateFee := domain.LateFeeID(lease, "2024-03").String()
	if c := s.MustCharge(t, a.token, lateFee); c.Amount != "50.00" || c.Status != "pending" || derefOr(c.DueDate, "") != "2024-03-07" {
		t.Errorf("the late fee the payment had prevented: %+v", c)
	}
	today := leaseToday().String()
	ledger, totals := s.MustBooks(t, a.token, lease, "")
	if got, want := ledger.lines(), []string{
		"2024-03-01 charge rent 1200.00 1200.00",
		"2024-03-03 payment rent -1200.00 0.00",
		"2024-03-07 charge fee 50.00 50.00",
		today + " charge fee 35.00 85.00",
		today + " return rent 1200.00 1285.00",
	}; !slices.Equal(got, want) || totals.OpenBalance != "1285.00" {
		t.Errorf("ledger after the return (open %s):\n got  %q\n want %q", totals.OpenBalance, got, want)
	}
	// As it stood on 03-10 the cheque had paid March (it was returned only today);
	// the late fee, charged today, counts from its due date, 03-07, as every charge.
	if _, totals := s.MustBooks(t, a.token, lease, "2024-03-10"); totals.OpenBalance != "50.00" {
		t.Errorf("books on 03-10: open %s, want the late fee's 50.00", totals.OpenBalance)
	}
	// The payment as it stood before its return, replayed from its stream.
	var then paymentDoc
	s.MustReport(t, a.token, "/api/v1/payments/"+pay.ID+"?as_of="+url.QueryEscape(returnedAt.Add(-time.Microsecond).Format(time.RFC3339Nano)), &then)
	if then.Status != "applied" || then.Version != 1 {
		t.Errorf("payment as of before its return: status %s version %d, want applied 1", then.Status, then.Version)
	}
	s.MustVerifyReadModel(t)
}

// A deposit settled with two deductions: a deposit of 1500.00 paid on 01-01 is
// held; January's rent of 1000.00 is never paid. After the lease ended, 1000.00 is
// kept for the rent (paying it) and 200.00 for cleaning; 300.00 is refunded.
func TestLedgerDepositSettlement(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-01-01", "end_date": "2024-12-31", "rent_amount": "1000", "security_deposit": "1500"})
	deposit := s.MustLedgerCharge(t, a.token, lease, "deposit", "1500.00", "2024-01-01")
	rent := s.MustLedgerCharge(t, a.token, lease, "rent", "1000.00", "2024-01-01")
	// A payment that does not name the deposit leaves it open: it pays the rent.
	p := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "1500", "payment_date": "2024-01-01", "payment_method": "check", "applies_to": "deposit"})
	if got, want := p.allocations(), []string{deposit + " 1500.00"}; !slices.Equal(got, want) {
		t.Errorf("deposit payment: %q, want %q", got, want)
	}
	var dep depositDoc
	s.MustReport(t, a.token, "/api/v1/leases/"+lease.String()+"/deposit", &dep)
	if dep.Required != "1500.00" || dep.Held != "1500.00" || dep.Refunded != "0.00" || dep.Forfeited != "0.00" || len(dep.Deductions) != 0 {
		t.Errorf("deposit held: %+v", dep)
	}
	// On 01-15: 1000.00 rent owed (aging leaves the paid deposit out), 1500.00 held.
	if _, totals := s.MustBooks(t, a.token, lease, "2024-01-15"); totals.OpenBalance != "1000.00" || totals.DepositHeld != "1500.00" {
		t.Errorf("books on 01-15: open %s held %s, want 1000.00 1500.00", totals.OpenBalance, totals.DepositHeld)
	}

	settle := map[string]any{"refund_method": "check", "deductions": []map[string]any{
		{"reason": "unpaid January rent", "amount": "1000.00", "transaction_id": rent},
		{"reason": "carpet cleaning", "amount": "200.00"},
	}}
	before := s.MustTransactionWrites(t)
	if p := MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/deposit/settle", settle, nil), http.StatusConflict); p.Type != "https://assetanchor.dev/problems/conflict/lease-in-force" {
		t.Errorf("settling before the lease ended: type %s, want conflict/lease-in-force", p.Type)
	}
	s.MustNoTransactionWrites(t, before, "a settlement before the lease ended")
	MustStatus(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/terminate",
		map[string]any{"effective_date": "2024-01-31", "reason": "moved out"}, nil), http.StatusOK)
	before = s.MustTransactionWrites(t)
	tooMuch := map[string]any{"refund_method": "check", "deductions": []map[string]any{
		{"reason": "unpaid January rent", "amount": "1000.00", "transaction_id": rent},
		{"reason": "new carpet", "amount": "600.00"},
	}}
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/deposit/settle", tooMuch, nil), http.StatusUnprocessableEntity)
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/deposit/settle", map[string]any{"refund_method": "check",
		"deductions": []map[string]any{{"reason": "rent", "amount": "1000.01", "transaction_id": rent}}}, nil), http.StatusUnprocessableEntity)
	s.MustNoTransactionWrites(t, before, "refused settlements")

	resp := s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/deposit/settle", settle, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &dep)
	if dep.Held != "0.00" || dep.Refunded != "300.00" || dep.Forfeited != "1200.00" || len(dep.Deductions) != 2 ||
		dep.Deductions[0].TransactionID == nil || *dep.Deductions[0].TransactionID != rent || dep.Deductions[1].Amount != "200.00" {
		t.Errorf("settled deposit: %+v", dep)
	}
	MustProblem(t, s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/deposit/settle", settle, nil), http.StatusConflict)
	if c := s.MustCharge(t, a.token, rent); c.Status != "completed" || c.AmountPaid != "1000.00" {
		t.Errorf("rent settled from the deposit: %s paid %s, want completed 1000.00", c.Status, c.AmountPaid)
	}
	today := leaseToday().String()
	ledger, totals := s.MustBooks(t, a.token, lease, "")
	if got, want := ledger.lines(), []string{
		"2024-01-01 charge deposit 1500.00 1500.00",
		"2024-01-01 charge rent 1000.00 2500.00",
		"2024-01-01 payment deposit -1500.00 1000.00",
		"2024-01-01 deposit_held deposit 0.00 1000.00",
		today + " deposit_deducted rent -1000.00 0.00",
		today + " deposit_deducted  0.00 0.00",
		today + " deposit_refunded  0.00 0.00",
	}; !slices.Equal(got, want) || totals.DepositHeld != "0.00" {
		t.Errorf("ledger after the settlement (held %s):\n got  %q\n want %q", totals.DepositHeld, got, want)
	}
	s.MustVerifyReadModel(t)
}

// Two payments racing on one lease: two charges of 500.00, two payments of
// 600.00 at once. Whatever the order, the charges are paid once each and the
// 200.00 left is credit: no charge paid twice, no cent lost.
func TestLedgerConcurrentPayments(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-01-01", "end_date": "2024-12-31", "security_deposit": "0"})
	charges := []string{
		s.MustLedgerCharge(t, a.token, lease, "rent", "500.00", "2024-01-01"),
		s.MustLedgerCharge(t, a.token, lease, "rent", "500.00", "2024-02-01"),
	}
	const n = 4
	var wg sync.WaitGroup
	results := make([]paymentDoc, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = s.MustPayLease(t, a.token, lease, map[string]any{"amount": "300.00", "payment_date": "2024-01-02", "payment_method": "cash"})
		}()
	}
	close(start)
	wg.Wait()
	allocated := decimal.Zero
	credit := decimal.Zero
	for _, p := range results {
		for _, al := range p.Allocations {
			allocated = allocated.Add(decimal.RequireFromString(al.Amount))
		}
		credit = credit.Add(decimal.RequireFromString(p.Credit))
	}
	if allocated.StringFixed(2) != "1000.00" || credit.StringFixed(2) != "200.00" {
		t.Errorf("payments allocated %s and left %s credit, want 1000.00 and 200.00", allocated.StringFixed(2), credit.StringFixed(2))
	}
	for _, id := range charges {
		if c := s.MustCharge(t, a.token, id); c.Status != "completed" || c.AmountPaid != "500.00" {
			t.Errorf("charge %s: %s paid %s, want completed 500.00", id, c.Status, c.AmountPaid)
		}
	}
	if _, totals := s.MustBooks(t, a.token, lease, ""); totals.Credit != "200.00" || totals.OpenBalance != "0.00" {
		t.Errorf("books: credit %s open %s, want 200.00 0.00", totals.Credit, totals.OpenBalance)
	}
}

// An Idempotency-Key retry of a payment records it once and answers the same.
func TestLedgerPaymentIdempotent(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-01-01", "end_date": "2024-12-31", "security_deposit": "0"})
	s.MustLedgerCharge(t, a.token, lease, "rent", "1250.00", "2024-01-01")
	body := map[string]any{"amount": "100.00", "payment_date": "2024-01-02", "payment_method": "cash"}
	key := map[string]string{"Idempotency-Key": uuid.NewString()}
	first := s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments", body, key)
	MustStatus(t, first, http.StatusCreated)
	var p1, p2 paymentDoc
	MustDecode(t, first, &p1)
	before := s.MustTransactionWrites(t)
	again := s.Do(t, a.token, http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments", body, key)
	MustStatus(t, again, http.StatusCreated)
	MustDecode(t, again, &p2)
	if p1.ID != p2.ID || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry answered payment %s (replayed %q), want %s again", p2.ID, again.Header.Get("Idempotent-Replayed"), p1.ID)
	}
	s.MustNoTransactionWrites(t, before, "the retry")
	var page struct {
		Items []paymentDoc `json:"items"`
	}
	s.MustReport(t, a.token, "/api/v1/leases/"+lease.String()+"/payments", &page)
	if len(page.Items) != 1 {
		t.Errorf("%d payments recorded, want 1", len(page.Items))
	}
}

// Rent paid within its grace period keeps no late fee, whether it is paid with
// POST /transactions/{id}/pay or a payment of the lease recorded late.
func TestLedgerPaymentWithinGraceVoidsTheFee(t *testing.T) {
	s := MustStack(t)
	a := s.MustLedgerSetup(t)
	MustPolicy(t, s.Do(t, a.token, http.MethodPut, "/api/v1/properties/"+a.property.String()+"/late-fee-policy",
		map[string]any{"grace_days": 5, "flat_amount": "50.00"}, nil))
	lease := s.MustLedgerLease(t, a, map[string]any{"start_date": "2024-03-01", "end_date": "2024-12-31", "rent_amount": "1200", "security_deposit": "0"})
	if got := s.MustRentRun(t, domain.NewDate(2024, 3, 10)); got.Fees != 1 {
		t.Fatalf("run through 03-10 charged %d fees, want March's", got.Fees)
	}
	fee := domain.LateFeeID(lease, "2024-03").String()
	// 1200.00 paid on 03-04, recorded only now: March's rent first (due 03-01),
	// then 0.00 is left for the fee, which is void.
	p := s.MustPayLease(t, a.token, lease, map[string]any{"amount": "1200", "payment_date": "2024-03-04", "payment_method": "cash"})
	if got, want := p.allocations(), []string{domain.RentChargeID(lease, "2024-03-01").String() + " 1200.00"}; !slices.Equal(got, want) {
		t.Errorf("allocations %q, want %q", got, want)
	}
	if c := s.MustCharge(t, a.token, fee); c.Status != "void" {
		t.Errorf("the late fee after rent paid within the grace period: %s, want void", c.Status)
	}
	if _, totals := s.MustBooks(t, a.token, lease, ""); totals.OpenBalance != "0.00" {
		t.Errorf("open balance %s, want 0.00", totals.OpenBalance)
	}
}
