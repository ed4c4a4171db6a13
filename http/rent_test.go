package http

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// policyDoc is a late-fee policy as a client reads it.
type policyDoc struct {
	Source     string  `json:"source"`
	PropertyID string  `json:"property_id"`
	LeaseID    *string `json:"lease_id"`
	GraceDays  int     `json:"grace_days"`
	FlatAmount *string `json:"flat_amount"`
	Percent    *string `json:"percent"`
	MonthlyCap *string `json:"monthly_cap"`
	UpdatedAt  string  `json:"updated_at"`
	Version    int64   `json:"version"`
}

// ledgerDoc is a tenant ledger as a client reads it.
type ledgerDoc struct {
	LeaseID string  `json:"lease_id"`
	AsOf    *string `json:"as_of"`
	Items   []struct {
		Date          string  `json:"date"`
		Entry         string  `json:"entry"`
		TransactionID string  `json:"transaction_id"`
		Type          string  `json:"type"`
		Status        string  `json:"status"`
		Description   *string `json:"description"`
		Amount        string  `json:"amount"`
		Balance       string  `json:"balance"`
	} `json:"items"`
	Balance string `json:"balance"`
}

// lines renders the ledger as "date entry type amount balance" lines.
func (l ledgerDoc) lines() []string {
	out := make([]string, len(l.Items))
	for i, e := range l.Items {
		out[i] = e.Date + " " + e.Entry + " " + e.Type + " " + e.Amount + " " + e.Balance
	}
	return out
}

func derefOr(s *string, none string) string {
	if s == nil {
		return none
	}
	return *s
}

// MustRentRun runs the rent schedule of every lease through day, as `rent post`
// does, and waits until the read model has what it posted.
func (s *stack) MustRentRun(tb testing.TB, through domain.Date) commands.RentReport {
	tb.Helper()
	ctx := context.Background()
	rent, err := commands.NewRent(s.store, s.store)
	if err != nil {
		tb.Fatal(err)
	}
	report, err := rent.PostDue(ctx, through)
	if err != nil {
		tb.Fatalf("rent post --through %s: %v", through, err)
	}
	return report
}

// MustPolicy decodes a 200 policy answer and checks its ETag against its version.
func MustPolicy(tb testing.TB, resp *http.Response) policyDoc {
	tb.Helper()
	MustStatus(tb, resp, http.StatusOK)
	var p policyDoc
	MustDecode(tb, resp, &p)
	if got, want := resp.Header.Get("ETag"), etag(p.Version); got != want {
		tb.Errorf("ETag = %s, want %s (the policy's version)", got, want)
	}
	return p
}

func TestLateFeePolicyEndpoints(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, otherToken := s.MustUser(t, domain.RoleUser)
	_, managerToken := s.MustUser(t, domain.RoleManager)
	propertyID, leaseID := s.MustChargeableLease(t, ownerID, token)
	propertyPath := "/api/v1/properties/" + propertyID.String() + "/late-fee-policy"
	leasePath := "/api/v1/leases/" + leaseID.String() + "/late-fee-policy"

	// Nothing set yet: no policy applies.
	MustProblem(t, s.Do(t, token, http.MethodGet, propertyPath, nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, token, http.MethodGet, leasePath, nil, nil), http.StatusNotFound)

	set := MustPolicy(t, s.Do(t, token, http.MethodPut, propertyPath, map[string]any{"grace_days": 5, "flat_amount": "50.00"}, nil))
	if set.Source != "property" || set.PropertyID != propertyID.String() || set.LeaseID != nil || set.GraceDays != 5 ||
		derefOr(set.FlatAmount, "") != "50.00" || set.Percent != nil || set.MonthlyCap != nil || set.Version != 2 || set.UpdatedAt == "" {
		t.Errorf("PUT property policy = %+v, want the property's: 5 days, 50.00 flat, no percent or cap, version 2", set)
	}
	if got := MustPolicy(t, s.Do(t, token, http.MethodGet, propertyPath, nil, nil)); got.Version != 2 || derefOr(got.FlatAmount, "null") != "50.00" {
		t.Errorf("GET property policy = %+v, want the one set", got)
	}
	t.Run("the same policy again writes nothing", func(t *testing.T) {
		before := s.MustEventCount(t)
		again := MustPolicy(t, s.Do(t, token, http.MethodPut, propertyPath, map[string]any{"grace_days": 5, "flat_amount": 50}, nil))
		if again.Version != 2 || s.MustEventCount(t) != before {
			t.Errorf("repeated PUT: version %d, events %d → %d; want version 2 and nothing written", again.Version, before, s.MustEventCount(t))
		}
	})
	t.Run("a lease follows its property's policy", func(t *testing.T) {
		got := MustPolicy(t, s.Do(t, token, http.MethodGet, leasePath, nil, nil))
		if got.Source != "property" || derefOr(got.LeaseID, "") != leaseID.String() || derefOr(got.FlatAmount, "") != "50.00" || got.Version != 1 {
			t.Errorf("GET lease policy = %+v, want the property's, with the lease's version 1", got)
		}
	})
	t.Run("a lease overrides it", func(t *testing.T) {
		got := MustPolicy(t, s.Do(t, token, http.MethodPut, leasePath, map[string]any{
			"grace_days": 3, "percent": 7.5, "monthly_cap": "60.00",
		}, map[string]string{"If-Match": `"1"`}))
		if got.Source != "lease" || got.GraceDays != 3 || derefOr(got.Percent, "") != "7.50" || derefOr(got.MonthlyCap, "") != "60.00" ||
			got.FlatAmount != nil || got.Version != 2 {
			t.Errorf("PUT lease policy = %+v, want the lease's own: 3 days, 7.50%%, cap 60.00, version 2", got)
		}
		if got := MustPolicy(t, s.Do(t, token, http.MethodGet, leasePath, nil, nil)); got.Source != "lease" || got.Version != 2 {
			t.Errorf("GET lease policy after the override = %+v", got)
		}
		if got := MustPolicy(t, s.Do(t, token, http.MethodGet, propertyPath, nil, nil)); derefOr(got.FlatAmount, "") != "50.00" {
			t.Errorf("the property's policy changed with the lease's: %+v", got)
		}
	})
	t.Run("a manager may set a property's policy", func(t *testing.T) {
		got := MustPolicy(t, s.Do(t, managerToken, http.MethodPut, propertyPath, map[string]any{"grace_days": 0, "flat_amount": "0"}, nil))
		if derefOr(got.FlatAmount, "") != "0.00" || got.GraceDays != 0 || got.Version != 3 {
			t.Errorf("manager's PUT = %+v, want no fees (0.00), version 3", got)
		}
	})

	refusals := []struct {
		name, token, path string
		body              any
		header            map[string]string
		status            int
		fields            []string
	}{
		{name: "flat and percent", token: token, path: propertyPath, body: map[string]any{"grace_days": 5, "flat_amount": "50", "percent": "5"}, status: 422, fields: []string{"percent"}},
		{name: "neither flat nor percent", token: token, path: propertyPath, body: map[string]any{"grace_days": 5}, status: 422, fields: []string{"flat_amount"}},
		{name: "no grace_days", token: token, path: propertyPath, body: map[string]any{"flat_amount": "50"}, status: 422, fields: []string{"grace_days"}},
		{name: "negative grace", token: token, path: leasePath, body: map[string]any{"grace_days": -1, "flat_amount": "50"}, status: 422, fields: []string{"grace_days"}},
		{name: "three decimal places", token: token, path: leasePath, body: map[string]any{"grace_days": 5, "flat_amount": "10.005"}, status: 422, fields: []string{"flat_amount"}},
		{name: "negative cap", token: token, path: leasePath, body: map[string]any{"grace_days": 5, "percent": "5", "monthly_cap": "-1"}, status: 422, fields: []string{"monthly_cap"}},
		{name: "percent over 100", token: token, path: propertyPath, body: map[string]any{"grace_days": 5, "percent": "100.5"}, status: 422, fields: []string{"percent"}},
		{name: "percent not a number", token: token, path: propertyPath, body: map[string]any{"grace_days": 5, "percent": "lots"}, status: 400},
		{name: "unknown field", token: token, path: propertyPath, body: map[string]any{"grace_days": 5, "flat_amount": "50", "flat": "50"}, status: 400},
		{name: "grace_days a string", token: token, path: propertyPath, body: `{"grace_days": "5", "flat_amount": "50"}`, status: 400},
		{name: "not JSON", token: token, path: propertyPath, body: "grace=5", header: map[string]string{"Content-Type": "text/plain"}, status: 415},
		{name: "stale If-Match", token: token, path: leasePath, body: map[string]any{"grace_days": 9, "flat_amount": "5"}, header: map[string]string{"If-Match": `"1"`}, status: 412},
		{name: "another owner's property", token: otherToken, path: propertyPath, body: map[string]any{"grace_days": 5, "flat_amount": "5"}, status: 404},
		{name: "another owner's lease", token: otherToken, path: leasePath, body: map[string]any{"grace_days": 5, "flat_amount": "5"}, status: 404},
		{name: "no such lease", token: token, path: "/api/v1/leases/" + uuid.NewString() + "/late-fee-policy", body: map[string]any{"grace_days": 5, "flat_amount": "5"}, status: 404},
	}
	for _, tt := range refusals {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			before := s.MustTransactionWrites(t)
			p := MustProblem(t, s.Do(t, tt.token, http.MethodPut, tt.path, tt.body, tt.header), tt.status)
			if tt.fields != nil && !slices.Equal(p.fields(), tt.fields) {
				t.Errorf("invalid fields = %v, want %v", p.fields(), tt.fields)
			}
			s.MustNoTransactionWrites(t, before, tt.name)
		})
	}
	t.Run("the entities replay their policy events (as_of)", func(t *testing.T) {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		for path, want := range map[string]int64{"/api/v1/properties/" + propertyID.String(): 3, "/api/v1/leases/" + leaseID.String(): 2} {
			resp := s.Do(t, token, http.MethodGet, path+"?as_of="+now, nil, nil)
			MustStatus(t, resp, http.StatusOK)
			var entity struct {
				Version int64 `json:"version"`
			}
			MustDecode(t, resp, &entity)
			if entity.Version != want {
				t.Errorf("%s as of now: version %d, want %d", path, entity.Version, want)
			}
		}
	})
	t.Run("others see nothing", func(t *testing.T) {
		MustProblem(t, s.Do(t, otherToken, http.MethodGet, propertyPath, nil, nil), http.StatusNotFound)
		MustProblem(t, s.Do(t, otherToken, http.MethodGet, leasePath, nil, nil), http.StatusNotFound)
	})
}

func TestWaiveAndWriteOffEndpoints(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, otherToken := s.MustUser(t, domain.RoleUser)
	_, managerToken := s.MustUser(t, domain.RoleManager)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)
	fee := s.MustPostCharge(t, token, chargeBody(leaseID, map[string]any{"type": "fee", "amount": "35.00"}))
	rent := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
	paid := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
	s.MustTransactionCommand(t, token, paid.ID, "pay", paymentBody())

	refusals := []struct {
		name, token, path string
		body              any
		status            int
	}{
		{"waiving rent", token, rent.ID + "/waive", nil, http.StatusConflict},
		{"waiving a paid charge", token, paid.ID + "/waive", nil, http.StatusConflict},
		{"a user writing off", token, rent.ID + "/write-off", map[string]any{"reason": "gone"}, http.StatusForbidden},
		{"another owner waiving", otherToken, fee.ID + "/waive", nil, http.StatusNotFound},
		{"another owner writing off", otherToken, rent.ID + "/write-off", nil, http.StatusNotFound},
		{"writing off a paid charge", managerToken, paid.ID + "/write-off", nil, http.StatusConflict},
		{"a reason too long", managerToken, rent.ID + "/write-off", map[string]any{"reason": string(make([]byte, 1001))}, http.StatusUnprocessableEntity},
		{"an unknown field", token, fee.ID + "/waive", map[string]any{"why": "x"}, http.StatusBadRequest},
		{"no such transaction", adminToken, uuid.NewString() + "/write-off", nil, http.StatusNotFound},
	}
	for _, tt := range refusals {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			before := s.MustTransactionWrites(t)
			MustProblem(t, s.Do(t, tt.token, http.MethodPost, "/api/v1/transactions/"+tt.path, tt.body, nil), tt.status)
			s.MustNoTransactionWrites(t, before, tt.name)
		})
	}

	waived := s.MustTransactionCommand(t, token, fee.ID, "waive", map[string]any{"reason": "first time"})
	if waived.Status != "waived" || waived.Version != 2 {
		t.Errorf("waived fee = %s v%d, want waived v2", waived.Status, waived.Version)
	}
	MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/transactions/"+fee.ID+"/waive", nil, nil), http.StatusConflict)

	writtenOff := s.MustTransactionCommand(t, managerToken, rent.ID, "write-off", nil)
	if writtenOff.Status != "written_off" || writtenOff.Version != 2 {
		t.Errorf("written-off charge = %s v%d, want written_off v2", writtenOff.Status, writtenOff.Version)
	}
	history := s.MustTransactionHistory(t, token, rent.ID)
	if got := historyTypes(history); !slices.Equal(got, []string{"ChargePosted", "ChargeWrittenOff"}) {
		t.Errorf("history = %v, want the write-off recorded as an event", got)
	}
	for status, want := range map[string][]string{"written_off": {rent.ID}, "waived": {fee.ID}, "void": {}} {
		if got := s.MustListTransactions(t, token, "lease_id="+leaseID.String()+"&status="+status).ids(); !slices.Equal(got, want) {
			t.Errorf("?status=%s lists %v, want %v", status, got, want)
		}
	}
	if got := s.MustOverdue(t, token, "as_of=2030-01-01").ids(); slices.Contains(got, rent.ID) || slices.Contains(got, fee.ID) {
		t.Errorf("the overdue report still lists the written-off or waived charge: %v", got)
	}
}

// TestLeaseLedgerRunningBalance builds a lease's books through the rent schedule
// and the API and compares its ledger with balances worked out by hand.
func TestLeaseLedgerRunningBalance(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, managerToken := s.MustUser(t, domain.RoleManager)
	_, otherToken := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	lease := s.MustLeaseFixture(t, property, s.MustTenantFixture(t, ownerID),
		domain.NewDate(2024, 1, 15), domain.NewDate(2024, 12, 31), "1000.00")
	MustPolicy(t, s.Do(t, token, http.MethodPut, "/api/v1/properties/"+property.String()+"/late-fee-policy",
		map[string]any{"grace_days": 5, "flat_amount": "25.00"}, nil))
	charge := func(key string) string { return domain.RentChargeID(lease, key).String() }
	fee := func(period string) string { return domain.LateFeeID(lease, period).String() }

	// January: 2024-01-15 to 31 of 1000.00 is 1000.00 − 1000·14/31 (451.61) = 548.39,
	// due on the 15th, paid on the 18th (within the five days' grace): no fee.
	if got := s.MustRentRun(t, domain.NewDate(2024, 1, 16)); got.Charges != 1 || got.Fees != 0 {
		t.Fatalf("run through January 16 = %+v, want January's charge alone", got)
	}
	s.MustTransactionCommand(t, token, charge("2024-01-15"), "pay", map[string]any{"payment_date": "2024-01-18", "payment_method": "cash"})
	// February and March are due on the 1st and unpaid after the 6th: a 25.00 fee
	// each, due on the 7th. A maintenance charge of 120.00 is due on February 10.
	if got := s.MustRentRun(t, domain.NewDate(2024, 3, 10)); got.Charges != 2 || got.Fees != 2 {
		t.Fatalf("run through March 10 = %+v, want 2 charges and 2 fees", got)
	}
	maintenance := s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"type": "maintenance", "amount": "120.00", "due_date": "2024-02-10"}))
	s.MustTransactionCommand(t, token, charge("2024-02-01"), "pay", map[string]any{"payment_date": "2024-02-20", "payment_method": "check", "reference_number": "CHK-9"})
	s.MustTransactionCommand(t, managerToken, fee("2024-02"), "write-off", nil)
	s.MustTransactionCommand(t, token, fee("2024-03"), "waive", map[string]any{"reason": "goodwill"})
	today := domain.DateOf(time.Now()).String()

	upToMarch := []string{
		"2024-01-15 charge rent 548.39 548.39",
		"2024-01-18 payment rent -548.39 0.00",
		"2024-02-01 charge rent 1000.00 1000.00",
		"2024-02-07 charge fee 25.00 1025.00",
		"2024-02-10 charge maintenance 120.00 1145.00",
		"2024-02-20 payment rent -1000.00 145.00",
		"2024-03-01 charge rent 1000.00 1145.00",
		"2024-03-07 charge fee 25.00 1170.00",
	}
	tests := []struct {
		query       string
		wantLines   []string
		wantBalance string
	}{
		// The write-off and the waiver happened today, after both fees were due.
		{"", append(slices.Clone(upToMarch), today+" write_off fee -25.00 1145.00", today+" waiver fee -25.00 1120.00"), "1120.00"},
		{"?as_of=2024-02-15", upToMarch[:5], "1145.00"},
		// As of March 10 both fees were still owed.
		{"?as_of=2024-03-10", upToMarch, "1170.00"},
		{"?as_of=2023-12-31", []string{}, "0.00"},
	}
	for _, tt := range tests {
		t.Run("ledger"+tt.query, func(t *testing.T) {
			resp := s.Do(t, token, http.MethodGet, "/api/v1/leases/"+lease.String()+"/ledger"+tt.query, nil, nil)
			MustStatus(t, resp, http.StatusOK)
			var got ledgerDoc
			MustDecode(t, resp, &got)
			if lines := got.lines(); !slices.Equal(lines, tt.wantLines) {
				t.Errorf("ledger lines:\n got  %q\n want %q", lines, tt.wantLines)
			}
			if got.Balance != tt.wantBalance || got.LeaseID != lease.String() {
				t.Errorf("balance = %s (lease %s), want %s", got.Balance, got.LeaseID, tt.wantBalance)
			}
		})
	}

	// The balance ties to what is still owed: the pending and failed charges.
	owed := 0.0
	for _, status := range []string{"pending", "failed"} {
		for _, item := range s.MustListTransactions(t, token, "lease_id="+lease.String()+"&status="+status+"&limit=200").Items {
			amount, err := strconv.ParseFloat(item.Amount, 64)
			if err != nil {
				t.Fatal(err)
			}
			owed += amount
		}
	}
	if got := strconv.FormatFloat(owed, 'f', 2, 64); got != "1120.00" {
		t.Errorf("pending and failed charges add up to %s, want the ledger's balance 1120.00", got)
	}
	var ledger ledgerDoc
	resp := s.Do(t, token, http.MethodGet, "/api/v1/leases/"+lease.String()+"/ledger", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &ledger)
	if e := ledger.Items[2]; e.TransactionID != charge("2024-02-01") || e.Status != "completed" || derefOr(ledger.Items[5].Description, "") != "check CHK-9" {
		t.Errorf("February's lines = %+v / %+v, want the charge (completed) and its payment by check CHK-9", e, ledger.Items[5])
	}
	if e := ledger.Items[4]; e.TransactionID != maintenance.ID {
		t.Errorf("February 10's line is %s, want the maintenance charge %s", e.TransactionID, maintenance.ID)
	}

	t.Run("csv", func(t *testing.T) {
		records := s.MustReportCSV(t, token, "/api/v1/leases/"+lease.String()+"/ledger?as_of=2024-03-10&format=csv")
		if want := []string{"date", "entry", "transaction_id", "type", "status", "description", "amount", "balance", "payment_id"}; len(records) == 0 || !slices.Equal(records[0], want) {
			t.Fatalf("CSV header = %q, want %q", records[:min(1, len(records))], want)
		}
		lines := make([]string, 0, len(records)-1)
		for _, rec := range records[1:] {
			lines = append(lines, rec[0]+" "+rec[1]+" "+rec[3]+" "+rec[6]+" "+rec[7])
		}
		if !slices.Equal(lines, upToMarch) {
			t.Errorf("CSV lines:\n got  %q\n want %q", lines, upToMarch)
		}
		MustProblem(t, s.Do(t, token, http.MethodGet, "/api/v1/leases/"+lease.String()+"/ledger?format=pdf", nil, nil), http.StatusBadRequest)
	})

	MustProblem(t, s.Do(t, otherToken, http.MethodGet, "/api/v1/leases/"+lease.String()+"/ledger", nil, nil), http.StatusNotFound)
	MustProblem(t, s.Do(t, token, http.MethodGet, "/api/v1/leases/"+lease.String()+"/ledger?as_of=March", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, token, http.MethodGet, "/api/v1/leases/"+uuid.NewString()+"/ledger", nil, nil), http.StatusNotFound)
}

// TestRentScheduleThroughTheAPI: a backdated lease signed through the API gets
// its missed months, a termination voids what follows it, and the voided charges
// stay readable.
func TestRentScheduleThroughTheAPI(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	tenant := s.MustTenantFixture(t, ownerID)
	resp := s.Do(t, token, http.MethodPost, "/api/v1/leases", map[string]any{
		"property_id": property, "tenant_id": tenant, "start_date": "2024-01-01", "end_date": "2024-12-31",
		"rent_amount": "1500.00", "security_deposit": "0", "payment_day": 3,
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	var lease struct {
		ID string `json:"id"`
	}
	MustDecode(t, resp, &lease)
	leaseID := uuid.MustParse(lease.ID)
	if got := s.MustRentRun(t, domain.NewDate(2024, 4, 30)); got.Charges != 4 {
		t.Fatalf("run through April = %+v, want January to April", got)
	}
	resp = s.Do(t, token, http.MethodPost, "/api/v1/leases/"+lease.ID+"/terminate", map[string]any{"effective_date": "2024-02-29"}, nil)
	MustStatus(t, resp, http.StatusOK)
	if got := s.MustRentRun(t, domain.NewDate(2024, 4, 30)); got.Voided != 2 || got.Charges != 0 {
		t.Fatalf("run after the termination = %+v, want March and April voided", got)
	}
	page := s.MustListTransactions(t, token, "lease_id="+lease.ID+"&status=void")
	if got, want := page.ids(), []string{domain.RentChargeID(leaseID, "2024-03-01").String(), domain.RentChargeID(leaseID, "2024-04-01").String()}; !slices.Equal(sortedCopy(got), sortedCopy(want)) {
		t.Errorf("void charges = %v, want March and April %v", got, want)
	}
	for _, item := range page.Items {
		if derefOr(item.DueDate, "") != "2024-03-03" && derefOr(item.DueDate, "") != "2024-04-03" {
			t.Errorf("a voided charge is due %s, want the 3rd of March or April", derefOr(item.DueDate, "null"))
		}
	}
	var ledger ledgerDoc
	resp = s.Do(t, token, http.MethodGet, "/api/v1/leases/"+lease.ID+"/ledger", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	MustDecode(t, resp, &ledger)
	if ledger.Balance != "3000.00" {
		t.Errorf("balance after the termination = %s, want January and February: 3000.00 (%q)", ledger.Balance, ledger.lines())
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
