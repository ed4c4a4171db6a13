package http

import (
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// rentRollDoc, agingDoc and occupancyDoc are the reports as a client reads them.
type rentRollDoc struct {
	AsOf   string `json:"as_of"`
	Totals struct {
		Properties    int    `json:"properties"`
		Occupied      int    `json:"occupied"`
		Vacant        int    `json:"vacant"`
		ScheduledRent string `json:"scheduled_rent"`
	} `json:"totals"`
	Items []struct {
		PropertyID  string  `json:"property_id"`
		Occupancy   string  `json:"occupancy"`
		LeaseID     *string `json:"lease_id"`
		TenantFirst *string `json:"tenant_first_name"`
		StartDate   *string `json:"start_date"`
		EndDate     *string `json:"end_date"`
		RentAmount  *string `json:"rent_amount"`
		DepositHeld *string `json:"deposit_held"`
		BalanceDue  *string `json:"balance_due"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// lines renders the rent roll as "property occupancy lease rent deposit balance" lines.
func (r rentRollDoc) lines() []string {
	out := make([]string, len(r.Items))
	for i, p := range r.Items {
		out[i] = strings.Join([]string{p.PropertyID, p.Occupancy, derefOr(p.LeaseID, "-"), derefOr(p.RentAmount, "-"),
			derefOr(p.DepositHeld, "-"), derefOr(p.BalanceDue, "-")}, " ")
	}
	return out
}

type agingBucketsDoc struct {
	Days0To30  string `json:"days_0_30"`
	Days31To60 string `json:"days_31_60"`
	Days61To90 string `json:"days_61_90"`
	Over90     string `json:"days_over_90"`
	Total      string `json:"total"`
}

func (b agingBucketsDoc) String() string {
	return strings.Join([]string{b.Days0To30, b.Days31To60, b.Days61To90, b.Over90, b.Total}, " ")
}

type agingDoc struct {
	AsOf   string          `json:"as_of"`
	Totals agingBucketsDoc `json:"totals"`
	Items  []struct {
		LeaseID     string `json:"lease_id"`
		PropertyID  string `json:"property_id"`
		TenantFirst string `json:"tenant_first_name"`
		Charges     int    `json:"charges"`
		agingBucketsDoc
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// lines renders the aging as "lease charges 0-30 31-60 61-90 90+ total" lines.
func (a agingDoc) lines() []string {
	out := make([]string, len(a.Items))
	for i, l := range a.Items {
		out[i] = l.LeaseID + " " + string(rune('0'+l.Charges)) + " " + l.agingBucketsDoc.String()
	}
	return out
}

type occupancyFiguresDoc struct {
	Active    int     `json:"active_properties"`
	Leased    int     `json:"leased_properties"`
	Physical  *string `json:"physical_occupancy"`
	Scheduled string  `json:"rent_scheduled"`
	Collected string  `json:"rent_collected"`
	Economic  *string `json:"economic_occupancy"`
}

func (f occupancyFiguresDoc) String() string {
	return strings.Join([]string{string(rune('0' + f.Active)), string(rune('0' + f.Leased)), derefOr(f.Physical, "null"),
		f.Scheduled, f.Collected, derefOr(f.Economic, "null")}, " ")
}

type occupancyDoc struct {
	AsOf        string              `json:"as_of"`
	PeriodStart string              `json:"period_start"`
	PeriodEnd   string              `json:"period_end"`
	Overall     occupancyFiguresDoc `json:"overall"`
	Owners      []struct {
		OwnerID *string `json:"owner_id"`
		occupancyFiguresDoc
	} `json:"owners"`
}

func (o occupancyDoc) byOwner() map[string]string {
	out := map[string]string{}
	for _, owner := range o.Owners {
		out[derefOr(owner.OwnerID, "none")] = owner.occupancyFiguresDoc.String()
	}
	return out
}

// reportScenario is a small portfolio whose reports are worked out by hand below.
type reportScenario struct {
	a, b, manager, admin string // tokens
	aID, bID             uuid.UUID
	p1, p2, p3, p4, p5   uuid.UUID // A's: let, ended lease, terminated lease, archived, never let
	pb                   uuid.UUID // B's, let
	l1, l2, l3, lb       uuid.UUID
}

// MustReportScenario builds, for owner A:
//
//	P1, L1 2024-01-01..2024-12-31 at 1000.00:
//	  rent 1000.00 due 03-01, pending            (106 days late on 06-15: 90+)
//	  rent 1000.00 due 04-01, paid 06-20         (unpaid on 06-15, 75 days: 61–90)
//	  rent 1000.00 due 05-01, pending            (45 days: 31–60)
//	  rent 1000.00 due 06-01, paid 06-03
//	  fee 50.00 due 06-10, pending               (5 days: 0–30)
//	  deposit 1500.00 due 01-01, paid 01-01      (held; never in aging)
//	  maintenance 80.00 due 06-15, pending       (0 days: 0–30)
//	  rent 1000.00 due 07-01, pending            (not yet due on 06-15)
//	P2, L2 2023-01-01..2023-12-31 at 900.00:
//	  rent 900.00 due 2023-12-01, pending        (197 days on 06-15: 90+)
//	P3, L3 2024-02-01..2025-01-31 at 1200.00, terminated effective 2024-05-31:
//	  rent 1200.00 due 04-01, paid 04-02
//	  rent 1200.00 due 05-01, written off today  (still owed on 06-15, 45 days: 31–60)
//	P4 archived, never let; P5 never let.
//
// and for owner B: PB, LB 2024-01-01..2024-12-31 at 700.00, rent due 06-01 pending.
func (s *stack) MustReportScenario(t *testing.T) reportScenario {
	t.Helper()
	var sc reportScenario
	sc.aID, sc.a = s.MustUser(t, domain.RoleUser)
	sc.bID, sc.b = s.MustUser(t, domain.RoleUser)
	_, sc.manager = s.MustUser(t, domain.RoleManager)
	_, sc.admin = s.MustUser(t, domain.RoleAdmin)
	tenantA, tenantB := s.MustTenantFixture(t, sc.aID), s.MustTenantFixture(t, sc.bID)
	for _, p := range []*uuid.UUID{&sc.p1, &sc.p2, &sc.p3, &sc.p4, &sc.p5} {
		*p = s.MustProperty(t, sc.a)
	}
	sc.pb = s.MustProperty(t, sc.b)
	sc.l1 = s.MustLeaseFixture(t, sc.p1, tenantA, domain.NewDate(2024, 1, 1), domain.NewDate(2024, 12, 31), "1000.00")
	sc.l2 = s.MustLeaseFixture(t, sc.p2, tenantA, domain.NewDate(2023, 1, 1), domain.NewDate(2023, 12, 31), "900.00")
	sc.l3 = s.MustLeaseFixture(t, sc.p3, tenantA, domain.NewDate(2024, 2, 1), domain.NewDate(2025, 1, 31), "1200.00")
	sc.lb = s.MustLeaseFixture(t, sc.pb, tenantB, domain.NewDate(2024, 1, 1), domain.NewDate(2024, 12, 31), "700.00")
	MustStatus(t, s.Do(t, sc.a, http.MethodPost, "/api/v1/leases/"+sc.l3.String()+"/terminate",
		map[string]any{"effective_date": "2024-05-31", "reason": "moved out"}, nil), http.StatusOK)
	MustStatus(t, s.Do(t, sc.a, http.MethodPost, "/api/v1/properties/"+sc.p4.String()+"/status",
		map[string]any{"status": "archived"}, nil), http.StatusOK)

	charge := func(token string, lease uuid.UUID, kind, amount, due, paidOn string) string {
		t.Helper()
		c := s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"type": kind, "amount": amount, "due_date": due}))
		if paidOn != "" {
			s.MustTransactionCommand(t, token, c.ID, "pay", map[string]any{"payment_date": paidOn, "payment_method": "bank_transfer"})
		}
		return c.ID
	}
	charge(sc.a, sc.l1, "rent", "1000.00", "2024-03-01", "")
	charge(sc.a, sc.l1, "rent", "1000.00", "2024-04-01", "2024-06-20")
	charge(sc.a, sc.l1, "rent", "1000.00", "2024-05-01", "")
	charge(sc.a, sc.l1, "rent", "1000.00", "2024-06-01", "2024-06-03")
	charge(sc.a, sc.l1, "fee", "50.00", "2024-06-10", "")
	charge(sc.a, sc.l1, "deposit", "1500.00", "2024-01-01", "2024-01-01")
	charge(sc.a, sc.l1, "maintenance", "80.00", "2024-06-15", "")
	charge(sc.a, sc.l1, "rent", "1000.00", "2024-07-01", "")
	charge(sc.a, sc.l2, "rent", "900.00", "2023-12-01", "")
	charge(sc.a, sc.l3, "rent", "1200.00", "2024-04-01", "2024-04-02")
	s.MustTransactionCommand(t, sc.manager, charge(sc.a, sc.l3, "rent", "1200.00", "2024-05-01", ""), "write-off", nil)
	charge(sc.b, sc.lb, "rent", "700.00", "2024-06-01", "")
	return sc
}

func (s *stack) MustReport(t *testing.T, token, path string, v any) {
	t.Helper()
	resp := s.Do(t, token, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", path, ct)
	}
	MustDecode(t, resp, v)
}

func (s *stack) MustReportCSV(t *testing.T, token, path string) [][]string {
	t.Helper()
	resp := s.Do(t, token, http.MethodGet, path, nil, nil)
	MustStatus(t, resp, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("%s: Content-Type %q, want text/csv; charset=utf-8", path, ct)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment; filename=") {
		t.Errorf("%s: Content-Disposition %q, want an attachment", path, cd)
	}
	records, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return records
}

func TestRentRollReport(t *testing.T) {
	s := MustStack(t)
	sc := s.MustReportScenario(t)
	vacant := func(p uuid.UUID) string { return p.String() + " vacant - - - -" }

	tests := []struct {
		name, token, query string
		wantLines          []string
		wantTotals         string // properties occupied vacant scheduled
	}{
		// On 06-15: L1 owes 5630.00 due (4 rents, the fee, the deposit, the maintenance)
		// less 2500.00 settled by then (June's rent, the deposit); P3's lease ended
		// on 05-31; P4 is archived and left out.
		{"A on 2024-06-15", sc.a, "?as_of=2024-06-15", []string{
			sc.p1.String() + " occupied " + sc.l1.String() + " 1000.00 1500.00 3130.00",
			vacant(sc.p2), vacant(sc.p3), vacant(sc.p5)}, "4 1 3 1000.00"},
		// On 05-15: L1 owes 3000.00 (March, April, May); L3 owes May's rent, written
		// off only today.
		{"A on 2024-05-15", sc.a, "?as_of=2024-05-15", []string{
			sc.p1.String() + " occupied " + sc.l1.String() + " 1000.00 1500.00 3000.00",
			vacant(sc.p2),
			sc.p3.String() + " occupied " + sc.l3.String() + " 1200.00 0.00 1200.00",
			vacant(sc.p5)}, "4 2 2 2200.00"},
		// On 2023-06-15 L2 was in force; its December rent was not yet due.
		{"A on 2023-06-15", sc.a, "?as_of=2023-06-15", []string{
			vacant(sc.p1), sc.p2.String() + " occupied " + sc.l2.String() + " 900.00 0.00 0.00",
			vacant(sc.p3), vacant(sc.p5)}, "4 1 3 900.00"},
		{"B sees only B's", sc.b, "?as_of=2024-06-15", []string{
			sc.pb.String() + " occupied " + sc.lb.String() + " 700.00 0.00 700.00"}, "1 1 0 700.00"},
		{"the manager sees everyone's", sc.manager, "?as_of=2024-06-15", []string{
			sc.p1.String() + " occupied " + sc.l1.String() + " 1000.00 1500.00 3130.00",
			vacant(sc.p2), vacant(sc.p3), vacant(sc.p5),
			sc.pb.String() + " occupied " + sc.lb.String() + " 700.00 0.00 700.00"}, "5 2 3 1700.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got rentRollDoc
			s.MustReport(t, tt.token, "/api/v1/reports/rent-roll"+tt.query, &got)
			if lines := got.lines(); !slices.Equal(lines, tt.wantLines) {
				t.Errorf("rent roll:\n got  %q\n want %q", lines, tt.wantLines)
			}
			totals := strings.Join([]string{string(rune('0' + got.Totals.Properties)), string(rune('0' + got.Totals.Occupied)),
				string(rune('0' + got.Totals.Vacant)), got.Totals.ScheduledRent}, " ")
			if totals != tt.wantTotals || got.NextCursor != nil {
				t.Errorf("totals = %s (next cursor %v), want %s and no next page", totals, got.NextCursor, tt.wantTotals)
			}
		})
	}

	t.Run("a row carries the tenant and the lease dates", func(t *testing.T) {
		var got rentRollDoc
		s.MustReport(t, sc.a, "/api/v1/reports/rent-roll?as_of=2024-06-15", &got)
		p := got.Items[0]
		if derefOr(p.TenantFirst, "") != "Ada" || derefOr(p.StartDate, "") != "2024-01-01" || derefOr(p.EndDate, "") != "2024-12-31" || got.AsOf != "2024-06-15" {
			t.Errorf("P1's row = %+v (as of %s), want tenant Ada, 2024-01-01 to 2024-12-31, as of 2024-06-15", p, got.AsOf)
		}
	})

	t.Run("pages keep the totals of the whole roll", func(t *testing.T) {
		var first, second rentRollDoc
		s.MustReport(t, sc.a, "/api/v1/reports/rent-roll?as_of=2024-06-15&limit=3", &first)
		if len(first.Items) != 3 || first.NextCursor == nil || first.Totals.Properties != 4 {
			t.Fatalf("first page: %d items, next cursor %v, %d properties; want 3 of 4 and a cursor", len(first.Items), first.NextCursor, first.Totals.Properties)
		}
		s.MustReport(t, sc.a, "/api/v1/reports/rent-roll?as_of=2024-06-15&limit=3&cursor="+*first.NextCursor, &second)
		if second.lines()[0] != vacant(sc.p5) || len(second.Items) != 1 || second.NextCursor != nil || second.Totals.Vacant != 3 {
			t.Errorf("second page = %q (next %v, totals %+v), want P5 alone, no cursor, 3 vacant", second.lines(), second.NextCursor, second.Totals)
		}
	})

	t.Run("csv", func(t *testing.T) {
		records := s.MustReportCSV(t, sc.a, "/api/v1/reports/rent-roll?as_of=2024-06-15&format=csv&limit=1")
		if len(records) != 5 {
			t.Fatalf("%d CSV records, want a header and 4 rows (CSV is never paged)", len(records))
		}
		header, p1 := records[0], records[1]
		want := map[string]string{"property_id": sc.p1.String(), "occupancy": "occupied", "lease_id": sc.l1.String(),
			"tenant_first_name": "Ada", "rent_amount": "1000.00", "deposit_held": "1500.00", "balance_due": "3130.00"}
		for i, column := range header {
			if w, ok := want[column]; ok && p1[i] != w {
				t.Errorf("CSV column %s = %q, want %q", column, p1[i], w)
			}
			delete(want, column)
		}
		if len(want) != 0 {
			t.Errorf("CSV header %v lacks %v", header, want)
		}
	})

	for _, query := range []string{"?as_of=2024-02-30", "?as_of=today", "?format=xml", "?limit=0", "?cursor=nonsense"} {
		t.Run("bad query "+query, func(t *testing.T) {
			MustProblem(t, s.Do(t, sc.a, http.MethodGet, "/api/v1/reports/rent-roll"+query, nil, nil), http.StatusBadRequest)
		})
	}
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/reports/rent-roll", nil, nil), http.StatusUnauthorized)
}

func TestAgingReport(t *testing.T) {
	s := MustStack(t)
	sc := s.MustReportScenario(t)

	tests := []struct {
		name, token, query string
		wantLines          []string // lease charges 0–30 31–60 61–90 90+ total
		wantTotals         string
	}{
		{"A on 2024-06-15", sc.a, "?as_of=2024-06-15", []string{
			sc.l1.String() + " 5 130.00 1000.00 1000.00 1000.00 3130.00",
			sc.l2.String() + " 1 0.00 0.00 0.00 900.00 900.00",
			sc.l3.String() + " 1 0.00 1200.00 0.00 0.00 1200.00"}, "130.00 2200.00 1000.00 1900.00 5230.00"},
		// Today April's rent is paid and L3's May rent written off; everything
		// else is long overdue. The ended lease keeps its balance.
		{"A today", sc.a, "", []string{
			sc.l1.String() + " 5 0.00 0.00 0.00 3130.00 3130.00",
			sc.l2.String() + " 1 0.00 0.00 0.00 900.00 900.00"}, "0.00 0.00 0.00 4030.00 4030.00"},
		{"A before anything was due", sc.a, "?as_of=2023-11-30", []string{}, "0.00 0.00 0.00 0.00 0.00"},
		{"B sees only B's", sc.b, "?as_of=2024-06-15", []string{
			sc.lb.String() + " 1 700.00 0.00 0.00 0.00 700.00"}, "700.00 0.00 0.00 0.00 700.00"},
		{"the admin sees everyone's", sc.admin, "?as_of=2024-06-15", []string{
			sc.l1.String() + " 5 130.00 1000.00 1000.00 1000.00 3130.00",
			sc.l2.String() + " 1 0.00 0.00 0.00 900.00 900.00",
			sc.l3.String() + " 1 0.00 1200.00 0.00 0.00 1200.00",
			sc.lb.String() + " 1 700.00 0.00 0.00 0.00 700.00"}, "830.00 2200.00 1000.00 1900.00 5930.00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got agingDoc
			s.MustReport(t, tt.token, "/api/v1/reports/aging"+tt.query, &got)
			if lines := got.lines(); !slices.Equal(lines, tt.wantLines) {
				t.Errorf("aging:\n got  %q\n want %q", lines, tt.wantLines)
			}
			if got.Totals.String() != tt.wantTotals || got.NextCursor != nil {
				t.Errorf("totals = %s (next cursor %v), want %s", got.Totals, got.NextCursor, tt.wantTotals)
			}
		})
	}

	// The aging total is the sum of the tenant ledgers' balances, on any day: every
	// deposit of the scenario is paid, and no charge was paid before it was due.
	for _, day := range []string{"2024-04-15", "2024-06-15", ""} {
		t.Run("ties to the ledgers on "+day, func(t *testing.T) {
			query := ""
			if day != "" {
				query = "?as_of=" + day
			}
			var aging agingDoc
			s.MustReport(t, sc.admin, "/api/v1/reports/aging"+query, &aging)
			sum := decimal.Zero
			for _, lease := range []uuid.UUID{sc.l1, sc.l2, sc.l3, sc.lb} {
				var ledger ledgerDoc
				s.MustReport(t, sc.admin, "/api/v1/leases/"+lease.String()+"/ledger"+query, &ledger)
				sum = sum.Add(decimal.RequireFromString(ledger.Balance))
			}
			if sum.StringFixed(2) != aging.Totals.Total {
				t.Errorf("ledgers add up to %s, aging total %s", sum.StringFixed(2), aging.Totals.Total)
			}
		})
	}

	t.Run("pages keep the totals", func(t *testing.T) {
		var first, second agingDoc
		s.MustReport(t, sc.a, "/api/v1/reports/aging?as_of=2024-06-15&limit=2", &first)
		if len(first.Items) != 2 || first.NextCursor == nil || first.Totals.Total != "5230.00" {
			t.Fatalf("first page: %q, next %v, totals %s", first.lines(), first.NextCursor, first.Totals)
		}
		s.MustReport(t, sc.a, "/api/v1/reports/aging?as_of=2024-06-15&limit=2&cursor="+*first.NextCursor, &second)
		if len(second.Items) != 1 || second.Items[0].LeaseID != sc.l3.String() || second.NextCursor != nil || second.Totals.Total != "5230.00" {
			t.Errorf("second page: %q, next %v, totals %s; want L3 alone", second.lines(), second.NextCursor, second.Totals)
		}
	})

	t.Run("csv", func(t *testing.T) {
		records := s.MustReportCSV(t, sc.a, "/api/v1/reports/aging?as_of=2024-06-15&format=csv")
		want := []string{"lease_id", "lease_status", "property_id", "property_name", "tenant_id", "tenant_first_name",
			"tenant_last_name", "charges", "days_0_30", "days_31_60", "days_61_90", "days_over_90", "total"}
		if len(records) != 4 || !slices.Equal(records[0], want) {
			t.Fatalf("CSV = %q, want the header %q and 3 rows", records, want)
		}
		if got := strings.Join(append([]string{records[1][0], records[1][7]}, records[1][8:]...), " "); got != sc.l1.String()+" 5 130.00 1000.00 1000.00 1000.00 3130.00" {
			t.Errorf("L1's CSV row = %q", got)
		}
	})
	MustProblem(t, s.Do(t, sc.a, http.MethodGet, "/api/v1/reports/aging?as_of=June", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/reports/aging", nil, nil), http.StatusUnauthorized)
}

func TestOccupancyReport(t *testing.T) {
	s := MustStack(t)
	sc := s.MustReportScenario(t)
	a, b := sc.aID.String(), sc.bID.String()

	tests := []struct {
		name, token, query string
		wantOwners         map[string]string // owner: active leased physical scheduled collected economic
		wantOverall        string
	}{
		// A's active properties are P1, P2, P3, P5 (P4 is archived). On 04-15 L1 and
		// L3 are in force; April's rent is 1000.00 (L1, paid only on 06-20) and
		// 1200.00 (L3, paid 04-02): 1200 of 2200 collected is 54.5454…%.
		{"A on 2024-04-15", sc.a, "?as_of=2024-04-15",
			map[string]string{a: "4 2 50.00 2200.00 1200.00 54.55"}, "4 2 50.00 2200.00 1200.00 54.55"},
		// On 06-15 L3 has ended; June's rent of L1 is paid.
		{"A on 2024-06-15", sc.a, "?as_of=2024-06-15",
			map[string]string{a: "4 1 25.00 1000.00 1000.00 100.00"}, "4 1 25.00 1000.00 1000.00 100.00"},
		// On 04-30 April's rent of L1 is still unpaid: as_of bounds what was collected.
		{"the admin on 2024-04-30", sc.admin, "?as_of=2024-04-30", map[string]string{
			a: "4 2 50.00 2200.00 1200.00 54.55",
			b: "1 1 100.00 0.00 0.00 null"}, "5 3 60.00 2200.00 1200.00 54.55"},
		{"B on 2024-06-15", sc.b, "?as_of=2024-06-15",
			map[string]string{b: "1 1 100.00 700.00 0.00 0.00"}, "1 1 100.00 700.00 0.00 0.00"},
		{"A before any lease", sc.a, "?as_of=2022-06-15",
			map[string]string{a: "4 0 0.00 0.00 0.00 null"}, "4 0 0.00 0.00 0.00 null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got occupancyDoc
			s.MustReport(t, tt.token, "/api/v1/reports/occupancy"+tt.query, &got)
			if owners := got.byOwner(); !mapsEqual(owners, tt.wantOwners) {
				t.Errorf("owners = %v, want %v", owners, tt.wantOwners)
			}
			if got.Overall.String() != tt.wantOverall {
				t.Errorf("overall = %s, want %s", got.Overall, tt.wantOverall)
			}
		})
	}

	var got occupancyDoc
	s.MustReport(t, sc.a, "/api/v1/reports/occupancy?as_of=2024-02-29", &got)
	if got.AsOf != "2024-02-29" || got.PeriodStart != "2024-02-01" || got.PeriodEnd != "2024-02-29" {
		t.Errorf("as_of %s, period %s..%s; want 2024-02-29 and February 2024", got.AsOf, got.PeriodStart, got.PeriodEnd)
	}
	records := s.MustReportCSV(t, sc.a, "/api/v1/reports/occupancy?as_of=2024-04-15&format=csv")
	if len(records) != 3 || records[1][0] != a || records[2][0] != "overall" || records[2][6] != "50.00" || records[2][9] != "54.55" {
		t.Errorf("CSV = %q, want A's row and the overall row", records)
	}
	MustProblem(t, s.Do(t, sc.a, http.MethodGet, "/api/v1/reports/occupancy?format=pdf", nil, nil), http.StatusBadRequest)
	MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/reports/occupancy", nil, nil), http.StatusUnauthorized)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestReportCSVDefusesFormulas: a name a spreadsheet would run as a formula comes
// out quoted by an apostrophe.
func TestReportCSVDefusesFormulas(t *testing.T) {
	for field, want := range map[string]string{
		"=HYPERLINK(\"http://x\")": "'=HYPERLINK(\"http://x\")", "+1": "'+1", "@SUM(A1)": "'@SUM(A1)",
		"-1+2": "'-1+2", "-12.50": "-12.50", "Ada": "Ada", "": "",
	} {
		if got := csvCell(field); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", field, got, want)
		}
	}
}
