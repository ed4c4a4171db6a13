package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// rentWorld is a fresh database with the lease, transaction and rent commands.
type rentWorld struct {
	*leaseWorld
	pool         *pgxpool.Pool
	transactions *Transactions
	rent         *Rent
}

func MustRentWorld(t *testing.T) *rentWorld {
	t.Helper()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	leases, err := NewLeases(store)
	if err != nil {
		t.Fatal(err)
	}
	properties, err := NewProperties(store)
	if err != nil {
		t.Fatal(err)
	}
	transactions, err := NewTransactions(store)
	if err != nil {
		t.Fatal(err)
	}
	rent, err := NewRent(store, store)
	if err != nil {
		t.Fatal(err)
	}
	return &rentWorld{
		leaseWorld: &leaseWorld{store: store, leases: leases, properties: properties,
			owner: Actor{UserID: uuid.New(), Role: domain.RoleUser}},
		pool: pool, transactions: transactions, rent: rent,
	}
}

// MustLease signs a lease on a new property of the world's owner.
func (w *rentWorld) MustLease(t *testing.T, start, end string, edit func(*SignLease)) (lease, property uuid.UUID) {
	t.Helper()
	property = w.MustProperty(t)
	cmd := w.signCommand(property, w.MustTenant(t), start, end)
	if edit != nil {
		edit(&cmd)
	}
	res, err := w.leases.Sign(context.Background(), cmd)
	if err != nil {
		t.Fatalf("sign %s..%s: %v", start, end, err)
	}
	return res.ID, property
}

// MustPolicy sets a property's late-fee policy.
func (w *rentWorld) MustPolicy(t *testing.T, property uuid.UUID, grace int, flat string) {
	t.Helper()
	amount := json.Number(flat)
	if _, err := w.properties.SetLateFeePolicy(context.Background(), SetPropertyLateFeePolicy{
		Target: Target{Actor: w.owner, ID: property}, Policy: LateFeePolicyInput{GraceDays: &grace, FlatAmount: &amount},
	}); err != nil {
		t.Fatal(err)
	}
}

// MustPost runs the schedule over every lease through day.
func (w *rentWorld) MustPost(t *testing.T, through string) RentReport {
	t.Helper()
	day, err := domain.ParseDate(through)
	if err != nil {
		t.Fatal(err)
	}
	report, err := w.rent.PostDue(context.Background(), day)
	if err != nil {
		t.Fatalf("post rent through %s: %v", through, err)
	}
	return counts(report)
}

// counts is a report without its checkpoint, to compare counts.
func counts(r RentReport) RentReport {
	r.Last = eventstore.Checkpoint{}
	return r
}

// MustTransaction loads a transaction's stream.
func (w *rentWorld) MustTransaction(t *testing.T, id uuid.UUID) (*domain.Transaction, []string) {
	t.Helper()
	events, err := w.store.ReadStream(context.Background(), transactionStream(id), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var tr domain.Transaction
	if err := load(context.Background(), w.store, transactionStream(id), &tr); err != nil {
		t.Fatal(err)
	}
	return &tr, leaseEventTypes(events)
}

// MustEventCounts counts the stored events by type.
func (w *rentWorld) MustEventCounts(t *testing.T) map[string]int {
	t.Helper()
	rows, err := w.pool.Query(context.Background(), `SELECT event_type, count(*) FROM events GROUP BY event_type`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			t.Fatal(err)
		}
		counts[name] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}

func rentID(lease uuid.UUID, key string) uuid.UUID { return domain.RentChargeID(lease, key) }

func TestRentPostDueIsIdempotent(t *testing.T) {
	w := MustRentWorld(t)
	lease, _ := w.MustLease(t, "2025-01-15", "2026-01-14", nil)

	if got, want := w.MustPost(t, "2025-03-10"), (RentReport{Leases: 1, Charges: 3}); got != want {
		t.Fatalf("first run = %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		key, amount, due string
	}{
		{"2025-01-15", "685.48", "2025-01-15"}, // 1250 − 1250·14/31, due on the first day
		{"2025-02-01", "1250.00", "2025-02-01"},
		{"2025-03-01", "1250.00", "2025-03-01"},
	} {
		tr, types := w.MustTransaction(t, rentID(lease, c.key))
		if !slices.Equal(types, []string{"ChargePosted"}) {
			t.Fatalf("charge %s events = %v, want one ChargePosted", c.key, types)
		}
		if tr.Amount().String() != c.amount || tr.DueDate().String() != c.due || tr.Type() != domain.TransactionRent ||
			tr.Status() != domain.TransactionPending || tr.LeaseID() != lease {
			t.Errorf("charge %s = %s due %s (%s, %s), want %s due %s, pending rent of the lease",
				c.key, tr.Amount(), tr.DueDate(), tr.Type(), tr.Status(), c.amount, c.due)
		}
	}
	before := w.MustEventCounts(t)
	if got, want := w.MustPost(t, "2025-03-10"), (RentReport{Leases: 1}); got != want {
		t.Errorf("second run = %+v, want nothing posted: %+v", got, want)
	}
	if after := w.MustEventCounts(t); !mapsEqual(before, after) {
		t.Errorf("a second run wrote events: before %v, after %v", before, after)
	}
	if got, want := w.MustPost(t, "2025-04-01"), (RentReport{Leases: 1, Charges: 1}); got != want {
		t.Errorf("a run through April 1 = %+v, want April's charge: %+v", got, want)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRentConcurrentRunsPostEachMonthOnce runs the whole schedule twice at once,
// charges and late fees included: every month is posted once, every fee once.
func TestRentConcurrentRunsPostEachMonthOnce(t *testing.T) {
	w := MustRentWorld(t)
	const leases = 8
	var ids []uuid.UUID
	for range leases {
		lease, property := w.MustLease(t, "2024-01-01", "2025-12-31", nil)
		w.MustPolicy(t, property, 5, "25.00")
		ids = append(ids, lease)
	}
	// Through 2025-06-30: January 2024 to June 2025 is 18 months, each due on the
	// 1st and unpaid after the 6th, so each gets its fee.
	const months = 18
	var (
		start   = make(chan struct{})
		wg      sync.WaitGroup
		reports [2]RentReport
		errs    [2]error
	)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			reports[i], errs[i] = w.rent.PostDue(context.Background(), domain.NewDate(2025, 6, 30))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if got, want := reports[0].Charges+reports[1].Charges, leases*months; got != want {
		t.Errorf("the two runs posted %d + %d charges, want %d in all", reports[0].Charges, reports[1].Charges, want)
	}
	if got, want := reports[0].Fees+reports[1].Fees, leases*months; got != want {
		t.Errorf("the two runs posted %d + %d fees, want %d in all", reports[0].Fees, reports[1].Fees, want)
	}
	counts := w.MustEventCounts(t)
	if got, want := counts["ChargePosted"], 2*leases*months; got != want {
		t.Errorf("ChargePosted events = %d, want %d (a rent charge and a fee per month)", got, want)
	}
	if got, want := counts["LateFeeAssessed"], leases*months; got != want {
		t.Errorf("LateFeeAssessed events = %d, want %d", got, want)
	}
	var perMonth int
	if err := w.pool.QueryRow(context.Background(), `SELECT max(n) FROM (SELECT count(*) AS n FROM events
		WHERE event_type = 'ChargePosted' GROUP BY payload->>'lease_id', payload->>'period', payload->>'type') x`).Scan(&perMonth); err != nil {
		t.Fatal(err)
	}
	if perMonth != 1 {
		t.Errorf("some lease has %d charges of one type for one period, want 1", perMonth)
	}
	fee, types := w.MustTransaction(t, domain.LateFeeID(ids[0], "2024-01"))
	if fee.Amount().String() != "25.00" || fee.Type() != domain.TransactionFee || !slices.Equal(types, []string{"ChargePosted"}) {
		t.Errorf("January 2024's fee = %s %s %v, want one 25.00 fee", fee.Amount(), fee.Type(), types)
	}
}

func TestRentTerminationVoidsLaterCharges(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	lease, _ := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
	if got := w.MustPost(t, "2025-06-01"); got.Charges != 6 {
		t.Fatalf("run through June = %+v, want 6 charges", got)
	}
	paidOn := "2025-01-03"
	if _, err := w.transactions.Pay(ctx, PayTransaction{Target: Target{Actor: w.owner, ID: rentID(lease, "2025-01-01")},
		PaymentDate: &paidOn, PaymentMethod: "cash"}); err != nil {
		t.Fatal(err)
	}
	effective := "2025-03-15"
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: lease}, EffectiveDate: &effective}); err != nil {
		t.Fatal(err)
	}

	report, err := w.rent.PostLease(ctx, lease, domain.NewDate(2025, 6, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Voided: March's full charge (replaced), April, May and June.
	if want := (RentReport{Leases: 1, Charges: 1, Voided: 4}); counts(report) != want {
		t.Errorf("run after the termination = %+v, want %+v", report, want)
	}
	for key, want := range map[string]struct {
		status domain.TransactionStatus
		amount string
		events []string
	}{
		"2025-01-01":               {domain.TransactionCompleted, "1250.00", []string{"ChargePosted", "RentPaid"}},
		"2025-02-01":               {domain.TransactionPending, "1250.00", []string{"ChargePosted"}},
		"2025-03-01":               {domain.TransactionVoid, "1250.00", []string{"ChargePosted", "ChargeVoided"}},
		"2025-03-01/to/2025-03-15": {domain.TransactionPending, "604.84", []string{"ChargePosted"}}, // 1250·15/31
		"2025-04-01":               {domain.TransactionVoid, "1250.00", []string{"ChargePosted", "ChargeVoided"}},
		"2025-06-01":               {domain.TransactionVoid, "1250.00", []string{"ChargePosted", "ChargeVoided"}},
	} {
		tr, types := w.MustTransaction(t, rentID(lease, key))
		if tr.Status() != want.status || tr.Amount().String() != want.amount || !slices.Equal(types, want.events) {
			t.Errorf("charge %s = %s %s %v, want %s %s %v", key, tr.Status(), tr.Amount(), types, want.status, want.amount, want.events)
		}
	}
	if tr, _ := w.MustTransaction(t, rentID(lease, "2025-07-01")); tr.Exists() {
		t.Error("July was charged after the termination")
	}
	again, err := w.rent.PostLease(ctx, lease, domain.NewDate(2025, 12, 31))
	if err != nil || again != (RentReport{Leases: 1}) { // nothing appended: no checkpoint either
		t.Errorf("a later run = %+v, %v; want nothing more", again, err)
	}
}

// TestRentTerminationKeepsAPaidMonth: a month paid in full before the termination
// cut it short stands; no shorter charge is added.
func TestRentTerminationKeepsAPaidMonth(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	lease, _ := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
	w.MustPost(t, "2025-03-01")
	paidOn := "2025-03-01"
	if _, err := w.transactions.Pay(ctx, PayTransaction{Target: Target{Actor: w.owner, ID: rentID(lease, "2025-03-01")},
		PaymentDate: &paidOn, PaymentMethod: "check"}); err != nil {
		t.Fatal(err)
	}
	effective := "2025-03-15"
	if _, err := w.leases.Terminate(ctx, TerminateLease{Target: Target{Actor: w.owner, ID: lease}, EffectiveDate: &effective}); err != nil {
		t.Fatal(err)
	}
	if report := w.MustPost(t, "2025-12-31"); report != (RentReport{Leases: 1}) {
		t.Errorf("run after the termination = %+v, want nothing", report)
	}
	if tr, _ := w.MustTransaction(t, rentID(lease, "2025-03-01/to/2025-03-15")); tr.Exists() {
		t.Error("a prorated March was charged beside the March already paid")
	}
}

func TestRentBackdatedLeaseGetsEveryMissedMonth(t *testing.T) {
	w := MustRentWorld(t)
	today := domain.DateOf(time.Now())
	start := domain.NewDate(today.Year(), today.Month(), 1).AddMonths(-4)
	lease, _ := w.MustLease(t, start.String(), start.AddMonths(12).AddDays(-1).String(), func(c *SignLease) { c.PaymentDay = leasePtr(5) })
	report, err := w.rent.PostLease(context.Background(), lease, today)
	if err != nil {
		t.Fatal(err)
	}
	wantCharges := 4
	if !today.Before(domain.NewDate(today.Year(), today.Month(), 5)) {
		wantCharges = 5 // this month's is due too
	}
	if report.Charges != wantCharges {
		t.Fatalf("posted %d charges for a lease signed four months back on %s, want %d", report.Charges, today, wantCharges)
	}
	for i := range 4 {
		month := start.AddMonths(i)
		tr, _ := w.MustTransaction(t, rentID(lease, month.String()))
		if want := domain.NewDate(month.Year(), month.Month(), 5); !tr.DueDate().Equal(want) {
			t.Errorf("month %d is due %s, want its true due date %s", i, tr.DueDate(), want)
		}
	}
}

func TestRentRenewalChangesRentFromTheNextPeriod(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	today := domain.DateOf(time.Now())
	thisMonth := domain.NewDate(today.Year(), today.Month(), 1)
	lease, _ := w.MustLease(t, thisMonth.AddMonths(-2).String(), thisMonth.AddMonths(1).AddDays(-1).String(), nil)
	w.MustPost(t, today.String())
	end, rent := thisMonth.AddMonths(3).AddDays(-1).String(), json.Number("1300.00")
	if _, err := w.leases.Renew(ctx, RenewLease{Target: Target{Actor: w.owner, ID: lease}, EndDate: &end, RentAmount: &rent}); err != nil {
		t.Fatal(err)
	}
	w.MustPost(t, end)
	for i, want := range []string{"1250.00", "1250.00", "1250.00", "1300.00", "1300.00"} {
		month := thisMonth.AddMonths(i - 2)
		if tr, _ := w.MustTransaction(t, rentID(lease, month.String())); tr.Amount().String() != want {
			t.Errorf("rent of %s = %s, want %s (the renewal was recorded on %s)", month, tr.Amount(), want, today)
		}
	}
}

func TestEndDueRenewsAutoRenewingLeases(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	autoRenew := func(c *SignLease) { c.AutoRenew = leasePtr(true) }
	renewing, _ := w.MustLease(t, "2025-01-01", "2025-06-30", autoRenew)
	expiring, _ := w.MustLease(t, "2025-01-01", "2025-06-30", nil)
	blocked, property := w.MustLease(t, "2025-01-01", "2025-06-30", autoRenew)
	next := w.MustSign(t, property, w.MustTenant(t), "2025-08-01", "2026-07-31")

	report, err := w.leases.EndDue(ctx, domain.NewDate(2025, 7, 1))
	if err != nil {
		t.Fatal(err)
	}
	if report.Renewed != 1 || report.Expired != 2 || !slices.Equal(report.Overlapping, []uuid.UUID{blocked}) {
		t.Fatalf("EndDue = %+v, want 1 renewed, 2 expired, %s overlapping", report, blocked)
	}
	events := w.MustLeaseEvents(t, renewing)
	if got := leaseEventTypes(events); !slices.Equal(got, []string{"LeaseSigned", "LeaseRenewed"}) {
		t.Fatalf("auto-renewing lease events = %v", got)
	}
	var renewed domain.LeaseRenewed
	if err := json.Unmarshal(events[1].Data, &renewed); err != nil {
		t.Fatal(err)
	}
	if !renewed.Automatic || renewed.EndDate.String() != "2025-12-31" || renewed.RentAmount != nil || events[1].Metadata.Command != "AutoRenewLease" || events[1].Metadata.ActorID != nil {
		t.Errorf("renewal = %+v with metadata %+v, want automatic, to 2025-12-31, no actor", renewed, events[1].Metadata)
	}
	for _, id := range []uuid.UUID{expiring, blocked} {
		if got := leaseEventTypes(w.MustLeaseEvents(t, id)); !slices.Equal(got, []string{"LeaseSigned", "LeaseExpired"}) {
			t.Errorf("lease %s events = %v, want it expired", id, got)
		}
	}
	if got := leaseEventTypes(w.MustLeaseEvents(t, next)); !slices.Equal(got, []string{"LeaseSigned"}) {
		t.Errorf("the next lease's events = %v, want it untouched", got)
	}
	again, err := w.leases.EndDue(ctx, domain.NewDate(2025, 7, 1))
	if err != nil || again.Renewed+again.Expired != 0 {
		t.Errorf("a second run = %+v, %v; want nothing", again, err)
	}
	// The renewed lease's rent goes on: July to December are charged.
	if report := w.MustPost(t, "2025-12-31"); report.Charges != 12+6+6+5 {
		t.Errorf("charges through December = %d, want 29 (12 of the renewed lease, 6 each of the expired ones, 5 of the next lease)", report.Charges)
	}
}

// TestLateRecordedPaymentWithinGraceNeverKeepsAFee is the case of the issue: a rent
// charge paid within the grace period never gets a fee, even when the payment is
// recorded late with a payment_date inside the grace period.
func TestLateRecordedPaymentWithinGraceNeverKeepsAFee(t *testing.T) {
	ctx := context.Background()
	pay := func(t *testing.T, w *rentWorld, id uuid.UUID, on string) Result {
		t.Helper()
		res, err := w.transactions.Pay(ctx, PayTransaction{Target: Target{Actor: w.owner, ID: id}, PaymentDate: &on, PaymentMethod: "bank_transfer"})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t.Run("recorded after the grace period, before the schedule ran: no fee", func(t *testing.T) {
		w := MustRentWorld(t)
		lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
		w.MustPolicy(t, property, 5, "50.00")
		w.MustPost(t, "2025-01-02")
		pay(t, w, rentID(lease, "2025-01-01"), "2025-01-06") // the grace period's last day
		report := w.MustPost(t, "2025-02-10")
		if report.Fees != 1 {
			t.Errorf("fees = %d, want 1 (February's, unpaid)", report.Fees)
		}
		if fee, _ := w.MustTransaction(t, domain.LateFeeID(lease, "2025-01")); fee.Exists() {
			t.Error("January, paid within the grace period, got a fee")
		}
	})
	t.Run("recorded after the fee was charged: the fee is voided", func(t *testing.T) {
		w := MustRentWorld(t)
		lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
		w.MustPolicy(t, property, 5, "50.00")
		if report := w.MustPost(t, "2025-01-10"); report.Fees != 1 {
			t.Fatalf("fees through January 10 = %d, want January's", report.Fees)
		}
		feeID := domain.LateFeeID(lease, "2025-01")
		res := pay(t, w, rentID(lease, "2025-01-01"), "2025-01-06")
		fee, types := w.MustTransaction(t, feeID)
		if fee.Status() != domain.TransactionVoid || !slices.Equal(types, []string{"ChargePosted", "ChargeVoided"}) {
			t.Fatalf("the fee after a payment within the grace period = %s %v, want void", fee.Status(), types)
		}
		events, err := w.store.ReadStream(ctx, transactionStream(feeID), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Checkpoint != events[1].Checkpoint() {
			t.Errorf("the payment's answer waits for %v, want the fee's void %v", res.Checkpoint, events[1].Checkpoint())
		}
		if report := w.MustPost(t, "2025-01-31"); report.Fees != 0 {
			t.Errorf("a later run charged %d fees, want none", report.Fees)
		}
	})
	t.Run("paid the day after the grace period: the fee stands", func(t *testing.T) {
		w := MustRentWorld(t)
		lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
		w.MustPolicy(t, property, 5, "50.00")
		w.MustPost(t, "2025-01-10")
		pay(t, w, rentID(lease, "2025-01-01"), "2025-01-07")
		if fee, _ := w.MustTransaction(t, domain.LateFeeID(lease, "2025-01")); fee.Status() != domain.TransactionPending {
			t.Errorf("the fee of a late payment = %s, want pending", fee.Status())
		}
	})
	t.Run("a payment appended past the command: the next run voids the fee", func(t *testing.T) {
		w := MustRentWorld(t)
		lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
		w.MustPolicy(t, property, 5, "50.00")
		w.MustPost(t, "2025-01-10")
		rent, _ := w.MustTransaction(t, rentID(lease, "2025-01-01"))
		paid := &domain.RentPaid{Payment: domain.Payment{PaymentDate: domain.NewDate(2025, 1, 2), PaymentMethod: domain.PaymentCash}}
		if _, err := w.store.Append(ctx, transactionStream(rent.ID()), rent.Version(), toNew([]domain.Event{paid})...); err != nil {
			t.Fatal(err)
		}
		if report := w.MustPost(t, "2025-01-10"); report.Voided != 1 {
			t.Errorf("run = %+v, want the fee voided", report)
		}
		if fee, _ := w.MustTransaction(t, domain.LateFeeID(lease, "2025-01")); fee.Status() != domain.TransactionVoid {
			t.Errorf("fee = %s, want void", fee.Status())
		}
	})
}

func TestLateFeeLeaseOverrideWithCap(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
	w.MustPolicy(t, property, 5, "50.00")
	grace, percent, limit := 2, json.Number("10"), json.Number("100.00")
	if _, err := w.leases.SetLateFeePolicy(ctx, SetLeaseLateFeePolicy{Target: Target{Actor: w.owner, ID: lease},
		Policy: LateFeePolicyInput{GraceDays: &grace, Percent: &percent, MonthlyCap: &limit}}); err != nil {
		t.Fatal(err)
	}
	w.MustPost(t, "2025-01-04") // January 1 plus 2 days' grace: late from the 4th
	events, err := w.store.ReadStream(ctx, transactionStream(domain.LateFeeID(lease, "2025-01")), time.Time{})
	if err != nil || len(events) != 1 {
		t.Fatalf("January's fee events = %d, %v; want 1", len(events), err)
	}
	var fee domain.ChargePosted
	if err := json.Unmarshal(events[0].Data, &fee); err != nil {
		t.Fatal(err)
	}
	// 10% of 1250.00 is 125.00, capped at 100.00; the lease's own policy is recorded.
	if fee.Amount.String() != "100.00" || fee.LateFee == nil || fee.LateFee.Source != domain.LateFeeFromLease ||
		fee.LateFee.Policy.GraceDays != 2 || fee.LateFee.RentChargeID != rentID(lease, "2025-01-01") ||
		fee.DueDate.String() != "2025-01-04" || events[0].Metadata.Command != "AssessLateFee" || events[0].Metadata.ActorID != nil {
		t.Errorf("fee = %+v (basis %+v), metadata %+v", fee, fee.LateFee, events[0].Metadata)
	}
}

func TestWaiveAndWriteOffCommands(t *testing.T) {
	w := MustRentWorld(t)
	ctx := context.Background()
	lease, property := w.MustLease(t, "2025-01-01", "2025-12-31", nil)
	w.MustPolicy(t, property, 0, "40.00")
	w.MustPost(t, "2025-01-02")
	rent, fee := rentID(lease, "2025-01-01"), domain.LateFeeID(lease, "2025-01")

	if _, err := w.transactions.Waive(ctx, Transition{Target: Target{Actor: w.owner, ID: rent}}); !errors.Is(err, domain.ErrNotAFee) {
		t.Errorf("waiving rent: err = %v, want ErrNotAFee", err)
	}
	if _, err := w.transactions.WriteOff(ctx, Transition{Target: Target{Actor: w.owner, ID: rent}}); !errors.Is(err, domain.ErrRoleForbidden) {
		t.Errorf("a user writing off: err = %v, want ErrRoleForbidden", err)
	}
	stranger := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	if _, err := w.transactions.WriteOff(ctx, Transition{Target: Target{Actor: stranger, ID: rent}}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("another owner writing off: err = %v, want ErrNotFound", err)
	}
	if _, err := w.transactions.Waive(ctx, Transition{Target: Target{Actor: w.owner, ID: fee}, Reason: "first time"}); err != nil {
		t.Fatalf("waiving the fee: %v", err)
	}
	manager := Actor{UserID: uuid.New(), Role: domain.RoleManager}
	if _, err := w.transactions.WriteOff(ctx, Transition{Target: Target{Actor: manager, ID: rent}, Reason: "tenant left"}); err != nil {
		t.Fatalf("a manager writing off: %v", err)
	}
	for id, want := range map[uuid.UUID][]string{rent: {"ChargePosted", "LateFeeAssessed", "ChargeWrittenOff"}, fee: {"ChargePosted", "FeeWaived"}} {
		if _, got := w.MustTransaction(t, id); !slices.Equal(got, want) {
			t.Errorf("events of %s = %v, want %v", id, got, want)
		}
	}
}
