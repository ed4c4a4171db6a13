// BenchmarkPortfolio loads a realistic portfolio through the command path and then
// times the seed's three common queries over HTTP beside the same SQL run directly
// through pgx; `make bench` runs it on a durable (fsync on) throwaway cluster.
//
// The portfolio (full size; ASSETANCHOR_BENCH_SCALE, e.g. 0.1, shrinks every
// count for quick local runs): 200 owner users, 10,000 properties spread over them,
// 12,000 tenants, 15,000 leases and 180,000 transactions. A tenth of the
// properties are vacant; of the leased ones, 6,000 had a one-year lease that ended
// in the past year and have its one-year successor running now, the others have
// one two-year lease running now. The current leases end on days spread over the
// coming year. Each lease has its deposit and a rent charge for every month due
// before today; fees and maintenance charges fill up to 180,000. Every twentieth
// rent charge (5% of rent) is left pending, so it is overdue; every other charge
// is paid. The ended leases are expired with the daily expiry command.
//
// Everything goes through the command handlers (commands.Users.CreateAsAdmin,
// Properties.Register, Tenants.Register, Leases.Sign, Transactions.Post and Pay,
// Leases.ExpireDue) as an admin, on portfolioConcurrency workers. The handlers run
// on a pool of their own on the stack's database (dbtest's pool has 4
// connections), so that the workers are not queued behind it.
// events/s is the events appended over the wall time from the first command to
// the last; each command writes its read-model rows in its own transaction.
//
// After the load the read-model tables are vacuumed and analysed (what autovacuum
// does to a live database) and the rows are checked against the plan. Then each
// query runs portfolioCalls times over HTTP as an admin (who sees everything: the
// worst case), alternating call by call with the seed's SQL text run directly on
// the same parameters: the endpoint's date (the server's UTC date) and, for the
// overdue report, the endpoint's page (limit 50, fetched as LIMIT 51 to know
// whether a next page exists). Each call's latency is request to last byte read
// (HTTP) or query to last row decoded (SQL); ratio_p99 = http_p99 ÷ sql_p99. The
// plan of each endpoint's own SQL, captured from the query code with a pgx tracer,
// is taken with EXPLAIN (ANALYZE, BUFFERS) after the statement has been executed
// as often as the prepared-statement cache needs to settle on its plan, as the
// viewer (the same role and settings as the endpoint: row-level security), and
// must read every table it joins through an index; the seed SQL's plan is logged
// beside it. The go tool cuts a benchmark's log to
// ten lines, so plans are logged on one line each; -v logs them in full.
//
// At full scale the run takes longer than go test's default -timeout of ten
// minutes (15 to 26 minutes on a shared 2-CPU machine, nearly all of it the load:
// about 450 events/s, bounded by the projector). MustBenchTimeout fails it at
// once when -timeout is too short, instead of letting the go tool panic midway.
package http

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oklog/ulid/v2"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

const (
	portfolioOwners       = 200
	portfolioProperties   = 10_000
	portfolioTenants      = 12_000
	portfolioLeases       = 15_000
	portfolioTransactions = 180_000
	portfolioConcurrency  = 8
	portfolioCalls        = 1_000
	portfolioWarmup       = 50
	// portfolioFullRun bounds a run at full scale: it took 15 to 26 minutes on a
	// shared 2-CPU machine (see MustBenchTimeout).
	portfolioFullRun = 45 * time.Minute
	// The seed's "Overdue Transactions" as the endpoint pages it: 50 rows, and one
	// more to learn whether another page follows.
	portfolioReportPage = 50
)

// The seed's SQL (../shared/seed/schema.md, "Common Queries") with the literal
// property id and CURRENT_DATE replaced by parameters, so that they run on the
// endpoint's values, and the overdue report limited to the endpoint's page.
const (
	seedActiveLeasesSQL = `SELECT l.*, t.first_name, t.last_name, t.email
FROM leases l
JOIN tenants t ON l.tenant_id = t.id
WHERE l.property_id = $1
AND l.status = 'active'
AND l.end_date >= $2::date`

	seedOverdueSQL = `SELECT t.*, l.property_id, p.name as property_name, tn.first_name, tn.last_name
FROM transactions t
JOIN leases l ON t.lease_id = l.id
JOIN properties p ON l.property_id = p.id
JOIN tenants tn ON l.tenant_id = tn.id
WHERE t.status = 'pending'
AND t.due_date < $1::date
ORDER BY t.due_date ASC
LIMIT $2`

	seedExpiringSQL = `SELECT p.*, l.end_date, t.first_name, t.last_name, t.email, t.phone
FROM properties p
JOIN leases l ON p.id = l.property_id
JOIN tenants t ON l.tenant_id = t.id
WHERE l.status = 'active'
AND l.end_date BETWEEN $1::date AND ($1::date + INTERVAL '30 days')
ORDER BY l.end_date ASC
LIMIT $2`
)

func BenchmarkPortfolio(b *testing.B) {
	began := time.Now()
	scale := dbtest.MustBenchScale(b)
	MustBenchTimeout(b, scale)
	ctx := context.Background()
	s := MustStack(b)
	adminID, token := s.MustUser(b, domain.RoleAdmin)
	admin := commands.Actor{UserID: adminID, Role: domain.RoleAdmin}
	pool := MustBenchPool(b, s, portfolioConcurrency+2, nil)

	// The parent of sub-benchmarks prints its log only with -v: the load's notes
	// are printed by the "load" sub-benchmark.
	var notes []string
	note := func(format string, args ...any) { notes = append(notes, fmt.Sprintf(format, args...)) }

	plan := planPortfolio(scale, domain.DateOf(time.Now()))
	note("portfolio (scale %g): %d owners, %d properties (%d vacant), %d tenants, %d leases (%d ended), "+
		"%d transactions (%d rent, %d overdue), concurrency %d",
		scale, plan.owners, plan.properties, plan.properties-plan.leased, plan.tenants, len(plan.leases),
		plan.ended, len(plan.charges), plan.rent, plan.overdue, portfolioConcurrency)

	load := MustLoadPortfolio(b, ctx, s, pool, admin, plan, note)
	raw := MustRawInsertRate(b, ctx, pool, portfolioConcurrency)
	loadRate := float64(load.events) / load.wall.Seconds()
	note("load: %d events in %.1f s = %.0f events/s, read model included; raw one-row INSERT of an "+
		"event-shaped row at concurrency %d: %.0f rows/s; ratio %.3f",
		load.events, load.wall.Seconds(), loadRate, portfolioConcurrency, raw, loadRate/raw)

	vacuumed := time.Now()
	for _, table := range []string{"users", "user_sessions", "properties", "tenants", "leases", "transactions"} {
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+table); err != nil {
			b.Fatalf("vacuum %s: %v", table, err)
		}
	}
	note("read model vacuumed and analysed in %.1f s, and as planned", time.Since(vacuumed).Seconds())
	MustPortfolioRows(b, ctx, pool, plan)
	MustBatchQueryPlan(b, ctx, pool, note)

	b.Run("load", func(b *testing.B) {
		for _, n := range notes {
			b.Log(n)
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(load.events), "events")
		b.ReportMetric(loadRate, "events/s")
		b.ReportMetric(raw, "raw_inserts/s")
		b.ReportMetric(loadRate/raw, "ratio")
		b.ReportMetric(load.wall.Seconds(), "wall_s")
	})

	client := benchClient(b, s, 2)
	get := func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.http.URL+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: status %d, want %d: %s", path, resp.StatusCode, http.StatusOK, body)
		}
		return body, nil
	}
	today := func() domain.Date { return domain.DateOf(time.Now()) }
	viewer := readmodel.Viewer{UserID: adminID, Role: domain.RoleAdmin}

	// Active Leases for Property: properties in a scattered order, vacant ones included.
	propertyOf := func(i int) int { return ((i*7919)%plan.properties + plan.properties) % plan.properties }
	b.Run("active-leases", func(b *testing.B) {
		for _, p := range []int{propertyOf(1), propertyOf(2), propertyOf(3), 0, plan.leased - 1, plan.properties - 1} {
			var got struct {
				Items []struct {
					ID         uuid.UUID `json:"id"`
					PropertyID uuid.UUID `json:"property_id"`
				} `json:"items"`
			}
			MustJSON(b, get, "/api/v1/properties/"+load.properties[p].String()+"/active-leases", &got)
			want := 0
			if p < plan.leased {
				want = 1 // the current lease; an ended one is expired
			}
			n := MustSQLRows(b, ctx, pool, seedActiveLeasesSQL, load.properties[p], today())
			if len(got.Items) != want || n != want {
				b.Fatalf("property %d: %d active leases over HTTP, %d by SQL, want %d", p, len(got.Items), n, want)
			}
			if want == 1 && got.Items[0].PropertyID != load.properties[p] {
				b.Fatalf("property %d: active lease of property %s", p, got.Items[0].PropertyID)
			}
		}
		MustExplainEndpoint(b, ctx, s, "active-leases", viewer, func(ctx context.Context, q *readmodel.Queries) error {
			_, err := q.ActiveLeases(ctx, viewer, load.properties[0], today()) // a leased one
			return err
		}, "leases", "properties", "tenants")
		MustExplainPrepared(b, ctx, pool, "seed SQL", nil, seedActiveLeasesSQL, load.properties[0], today())
		MustReportQuery(b, func(i int) error {
			_, err := get("/api/v1/properties/" + load.properties[propertyOf(i)].String() + "/active-leases")
			return err
		}, func(i int) error {
			_, err := sqlRows(ctx, pool, seedActiveLeasesSQL, load.properties[propertyOf(i)], today())
			return err
		})
	})

	b.Run("overdue-transactions", func(b *testing.B) {
		var got struct {
			Items []struct {
				ID      uuid.UUID   `json:"id"`
				Status  string      `json:"status"`
				DueDate domain.Date `json:"due_date"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		MustJSON(b, get, "/api/v1/reports/overdue-transactions", &got)
		rows := MustSQLDueDates(b, ctx, pool, seedOverdueSQL, today(), portfolioReportPage+1)
		want := min(plan.overdue, portfolioReportPage)
		if len(got.Items) != want || (got.NextCursor != nil) != (plan.overdue > portfolioReportPage) {
			b.Fatalf("overdue report: %d items (next cursor %v), want %d of %d", len(got.Items), got.NextCursor != nil, want, plan.overdue)
		}
		if len(rows) != min(plan.overdue, portfolioReportPage+1) {
			b.Fatalf("seed's overdue SQL: %d rows, want %d", len(rows), min(plan.overdue, portfolioReportPage+1))
		}
		for i, item := range got.Items {
			if item.Status != "pending" || item.DueDate.String() != rows[i].String() {
				b.Fatalf("overdue item %d: %s due %s, want pending due %s (the seed's SQL)", i, item.Status, item.DueDate, rows[i])
			}
		}
		MustExplainEndpoint(b, ctx, s, "overdue-transactions", viewer, func(ctx context.Context, q *readmodel.Queries) error {
			_, err := q.OverdueTransactions(ctx, viewer, readmodel.OverdueFilter{AsOf: today(), Limit: portfolioReportPage})
			return err
		}, "transactions", "leases", "properties", "tenants")
		MustExplainPrepared(b, ctx, pool, "seed SQL", nil, seedOverdueSQL, today(), portfolioReportPage+1)
		MustReportQuery(b, func(int) error {
			_, err := get("/api/v1/reports/overdue-transactions")
			return err
		}, func(int) error {
			_, err := sqlRows(ctx, pool, seedOverdueSQL, today(), portfolioReportPage+1)
			return err
		})
	})

	b.Run("expiring-leases", func(b *testing.B) {
		var got struct {
			Items []struct {
				ID      uuid.UUID   `json:"id"`
				LeaseID uuid.UUID   `json:"lease_id"`
				EndDate domain.Date `json:"end_date"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		day := today()
		MustJSON(b, get, "/api/v1/reports/expiring-leases?days=30", &got)
		rows := MustSQLRows(b, ctx, pool, seedExpiringSQL, day, portfolioReportPage+1)
		expiring := plan.expiring(day, 30)
		want := min(expiring, portfolioReportPage)
		if len(got.Items) != want || (got.NextCursor != nil) != (expiring > portfolioReportPage) {
			b.Fatalf("expiring leases: %d over HTTP (next cursor %v), want %d of %d", len(got.Items), got.NextCursor != nil, want, expiring)
		}
		if rows != min(expiring, portfolioReportPage+1) {
			b.Fatalf("seed's expiring SQL: %d rows, want %d", rows, min(expiring, portfolioReportPage+1))
		}
		for _, item := range got.Items {
			if item.EndDate.Before(day) || item.EndDate.After(day.AddDays(30)) {
				b.Fatalf("expiring lease %s ends %s, outside %s + 30 days", item.LeaseID, item.EndDate, day)
			}
		}
		b.Logf("%d leases expire within 30 days; the first page of %d is timed", expiring, portfolioReportPage)
		MustExplainEndpoint(b, ctx, s, "expiring-leases", viewer, func(ctx context.Context, q *readmodel.Queries) error {
			_, err := q.ExpiringLeases(ctx, viewer, readmodel.ExpiringFilter{Today: today(), Days: 30, Limit: portfolioReportPage})
			return err
		}, "leases", "properties", "tenants")
		MustExplainPrepared(b, ctx, pool, "seed SQL", nil, seedExpiringSQL, today(), portfolioReportPage+1)
		MustReportQuery(b, func(int) error {
			_, err := get("/api/v1/reports/expiring-leases?days=30")
			return err
		}, func(int) error {
			_, err := sqlRows(ctx, pool, seedExpiringSQL, today(), portfolioReportPage+1)
			return err
		})
	})

	// The landlord reports: each over HTTP beside its own SQL run directly through
	// pgx as the connecting role (no HTTP, no row-level security), one page.
	system := readmodel.AsSystem(ctx)
	direct := readmodel.NewQueries(pool)
	for _, report := range []struct {
		name, path string
		query      func() error
	}{
		{"rent-roll", "/api/v1/reports/rent-roll", func() error {
			_, err := direct.RentRoll(system, viewer, today(), readmodel.ReportPage{Limit: portfolioReportPage})
			return err
		}},
		{"aging", "/api/v1/reports/aging", func() error {
			_, err := direct.Aging(system, viewer, today(), readmodel.ReportPage{Limit: portfolioReportPage})
			return err
		}},
		{"occupancy", "/api/v1/reports/occupancy", func() error {
			_, err := direct.Occupancy(system, viewer, today())
			return err
		}},
	} {
		b.Run(report.name, func(b *testing.B) {
			MustTimeReport(b, func(int) error {
				_, err := get(report.path)
				return err
			}, func(int) error { return report.query() })
		})
	}
	b.Logf("whole benchmark: %.1f s", time.Since(began).Seconds())
}

// MustBenchTimeout fails at once, rather than let the go tool panic midway and
// lose every result of the package, when -timeout leaves too little time for the
// portfolio at this scale.
func MustBenchTimeout(b *testing.B, scale float64) {
	b.Helper()
	f := flag.Lookup("test.timeout")
	if f == nil {
		return
	}
	getter, ok := f.Value.(flag.Getter)
	if !ok {
		return
	}
	timeout, ok := getter.Get().(time.Duration)
	if !ok || timeout <= 0 {
		return
	}
	if need := time.Duration(scale*float64(portfolioFullRun)) + 2*time.Minute; timeout < need {
		b.Fatalf("the portfolio at scale %g needs -timeout %v or more, have %v: pass a longer -timeout, or shrink it with ASSETANCHOR_BENCH_SCALE (e.g. 0.1)",
			scale, need.Round(time.Minute), timeout)
	}
}

// MustBenchPool opens another pool on the stack's database.
func MustBenchPool(b *testing.B, s *stack, maxConns int32, tracer pgx.QueryTracer) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(s.pool.Config().ConnString())
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.Tracer = tracer
	pguuid.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}

// portfolioPlan is the portfolio to load, decided before anything is written.
type portfolioPlan struct {
	today                       domain.Date
	owners, properties, tenants int
	leased                      int // properties 0..leased-1 have leases; the rest are vacant
	ended                       int // leases that ended before today
	rent, overdue               int // rent charges, and those left pending
	leases                      []plannedLease
	charges                     []plannedCharge
}

type plannedLease struct {
	property, tenant int
	start, end       domain.Date
	paymentDay       int
	rent             decimal.Decimal
}

type plannedCharge struct {
	lease  int
	amount decimal.Decimal
	kind   string // rent, deposit, fee, maintenance
	due    domain.Date
	paidOn *domain.Date // nil: left pending
	method string
}

// planPortfolio scales the full portfolio by scale and lays it out around today.
func planPortfolio(scale float64, today domain.Date) portfolioPlan {
	n := func(full int) int { return max(1, int(math.Round(float64(full)*scale))) }
	p := portfolioPlan{today: today, owners: n(portfolioOwners), properties: n(portfolioProperties), tenants: n(portfolioTenants)}
	leases, transactions := n(portfolioLeases), n(portfolioTransactions)
	p.leased = min(p.properties-p.properties/10, leases)
	twice := min(leases-p.leased, p.leased) // properties with an ended lease and its successor

	for prop := range p.leased {
		// The current lease ends 0..363 days from today; the ended one a year earlier.
		first := today.AddMonths(-24).AddDays(1 + (prop*7919)%364)
		rent := decimal.New(int64(85_000+(prop*3761)%170_000), -2)
		add := func(start, end domain.Date) {
			p.leases = append(p.leases, plannedLease{property: prop, tenant: len(p.leases) % p.tenants,
				start: start, end: end, paymentDay: min(start.Day(), 28), rent: rent})
		}
		if prop < twice {
			add(first, first.AddMonths(12).AddDays(-1))
			add(first.AddMonths(12), first.AddMonths(24).AddDays(-1))
			p.ended++
			continue
		}
		add(first, first.AddMonths(24).AddDays(-1))
	}

	methods := []string{"bank_transfer", "credit_card", "check", "cash"}
	pay := func(c plannedCharge, k int) plannedCharge {
		on := c.due.AddDays(k % 5)
		if !on.Before(today) {
			on = today
		}
		c.paidOn, c.method = &on, methods[k%len(methods)]
		return c
	}
	var rents []plannedCharge
	for i, l := range p.leases {
		p.charges = append(p.charges, pay(plannedCharge{lease: i, amount: l.rent, kind: "deposit", due: l.start}, i))
		for m := 0; ; m++ {
			month := l.start.AddDays(1 - l.start.Day()).AddMonths(m)
			due := domain.NewDate(month.Year(), month.Month(), l.paymentDay)
			if due.Before(l.start) {
				continue
			}
			if due.After(l.end) || !due.Before(today) {
				break
			}
			rents = append(rents, plannedCharge{lease: i, amount: l.rent, kind: "rent", due: due})
		}
	}
	rents = rents[:min(len(rents), max(transactions-len(p.charges), 0))]
	for k, c := range rents {
		if k%20 == 19 {
			p.overdue++ // 5% of rent stays pending, and is overdue
		} else {
			c = pay(c, k)
		}
		p.charges = append(p.charges, c)
	}
	p.rent = len(rents)
	for k := 0; len(p.charges) < transactions; k++ {
		i := (k * 97) % len(p.leases)
		l := p.leases[i]
		due := l.start.AddDays(15 + 30*(k%12))
		if !due.Before(today) {
			due = today.AddDays(-1)
		}
		kind := []string{"fee", "maintenance"}[k%2]
		p.charges = append(p.charges, pay(plannedCharge{lease: i, amount: decimal.New(int64(2_500+(k*131)%40_000), -2),
			kind: kind, due: due}, k))
	}
	return p
}

// expiring counts the planned leases still active on day that end from day to day + days.
func (p portfolioPlan) expiring(day domain.Date, days int) int {
	n := 0
	for _, l := range p.leases {
		if !l.end.Before(p.today) && !l.end.Before(day) && !l.end.After(day.AddDays(days)) {
			n++
		}
	}
	return n
}

// portfolioLoad is what loading a portfolio created and how long it took.
type portfolioLoad struct {
	properties, tenants, leases []uuid.UUID
	events                      int
	wall                        time.Duration
}

// MustLoadPortfolio carries out plan through the command handlers.
func MustLoadPortfolio(b *testing.B, ctx context.Context, s *stack, pool *pgxpool.Pool, admin commands.Actor,
	plan portfolioPlan, note func(format string, args ...any)) portfolioLoad {
	b.Helper()
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: s.keyring})
	queries := readmodel.NewQueries(pool)
	users, err := commands.NewUsers(store, queries)
	if err != nil {
		b.Fatal(err)
	}
	properties, err := commands.NewProperties(store)
	if err != nil {
		b.Fatal(err)
	}
	tenants, err := commands.NewTenants(store, queries, s.keyring)
	if err != nil {
		b.Fatal(err)
	}
	leases, err := commands.NewLeases(store)
	if err != nil {
		b.Fatal(err)
	}
	transactions, err := commands.NewTransactions(store)
	if err != nil {
		b.Fatal(err)
	}

	load := portfolioLoad{
		properties: make([]uuid.UUID, plan.properties),
		tenants:    make([]uuid.UUID, plan.tenants),
		leases:     make([]uuid.UUID, len(plan.leases)),
	}
	owners := make([]uuid.UUID, plan.owners)
	before := s.MustEventCount(b)
	start := time.Now()
	phase := func(name string, n int, job func(ctx context.Context, i int) error) {
		began := time.Now()
		MustRunJobs(b, ctx, n, portfolioConcurrency, job)
		d := time.Since(began)
		note("  %-24s %7d commands in %6.1f s = %6.0f/s", name, n, d.Seconds(), float64(n)/d.Seconds())
	}

	run := uuid.NewString()[:8]
	phase("create owners", plan.owners, func(ctx context.Context, i int) error {
		res, err := users.CreateAsAdmin(ctx, admin, commands.CreateUser{
			Email: fmt.Sprintf("owner-%03d-%s@example.com", i, run), Password: testPassword,
			FirstName: "Owner", LastName: strconv.Itoa(i), Role: domain.RoleUser.String(),
		})
		owners[i] = res.ID
		return err
	})
	cities := [][3]string{{"Springfield", "IL", "62704"}, {"Portland", "OR", "97205"}, {"Austin", "TX", "78701"},
		{"Columbus", "OH", "43215"}, {"Raleigh", "NC", "27601"}, {"Madison", "WI", "53703"}}
	kinds := []string{"residential", "residential", "residential", "commercial", "mixed_use"}
	phase("register properties", plan.properties, func(ctx context.Context, i int) error {
		city := cities[i%len(cities)]
		bedrooms, squareFeet, yearBuilt := 1+i%5, 550+(i*37)%2400, 1950+i%74
		bathrooms := decimal.New(int64(10+5*(i%4)), -1)
		description := "Unit with on-site laundry and parking"
		res, err := properties.Register(ctx, commands.RegisterProperty{
			Actor: admin, OwnerID: &owners[i%len(owners)],
			Details: domain.PropertyDetails{
				Name: fmt.Sprintf("Maple Court %05d", i), Address: fmt.Sprintf("%d Elm Street, Unit %d", 100+i/10, 1+i%10),
				City: city[0], State: city[1], ZipCode: city[2], PropertyType: domain.ParsePropertyType(kinds[i%len(kinds)]),
				Bedrooms: &bedrooms, Bathrooms: &bathrooms, SquareFeet: &squareFeet, YearBuilt: &yearBuilt,
				Description: &description,
			},
		})
		load.properties[i] = res.ID
		return err
	})
	firstNames := []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis"}
	lastNames := []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie", "Kay"}
	phase("register tenants", plan.tenants, func(ctx context.Context, i int) error {
		phone := fmt.Sprintf("555-%03d-%04d", i%1000, (i*7)%10000)
		score := 560 + (i*13)%290
		income := json.Number(fmt.Sprintf("%d.00", 28_000+(i*389)%150_000))
		check := "passed"
		res, err := tenants.Register(ctx, commands.RegisterTenant{
			Actor: admin, FirstName: firstNames[i%len(firstNames)], LastName: lastNames[(i/3)%len(lastNames)],
			Email: fmt.Sprintf("tenant-%05d-%s@example.com", i, run), Phone: &phone,
			CreditScore: &score, Income: &income, BackgroundCheckStatus: &check,
		})
		load.tenants[i] = res.ID
		return err
	})
	phase("sign leases", len(plan.leases), func(ctx context.Context, i int) error {
		l := plan.leases[i]
		start, end := l.start.String(), l.end.String()
		rent := json.Number(l.rent.StringFixed(2))
		res, err := leases.Sign(ctx, commands.SignLease{
			Actor: admin, PropertyID: &load.properties[l.property], TenantID: &load.tenants[l.tenant],
			StartDate: &start, EndDate: &end, RentAmount: &rent, SecurityDeposit: &rent, PaymentDay: &l.paymentDay,
		})
		load.leases[i] = res.ID
		return err
	})
	paid := 0
	for _, c := range plan.charges {
		if c.paidOn != nil {
			paid++
		}
	}
	phase(fmt.Sprintf("post charges, pay %d", paid), len(plan.charges), func(ctx context.Context, i int) error {
		c := plan.charges[i]
		amount, due := json.Number(c.amount.StringFixed(2)), c.due.String()
		res, err := transactions.Post(ctx, commands.PostCharge{
			Actor: admin, LeaseID: &load.leases[c.lease], Amount: &amount, Type: c.kind, DueDate: &due,
		})
		if err != nil || c.paidOn == nil {
			return err
		}
		on, ref := c.paidOn.String(), fmt.Sprintf("REF-%07d", i)
		_, err = transactions.Pay(ctx, commands.PayTransaction{
			Target: commands.Target{Actor: admin, ID: res.ID}, PaymentDate: &on, PaymentMethod: c.method, ReferenceNumber: &ref,
		})
		return err
	})
	began := time.Now()
	expired, err := leases.ExpireDue(ctx, plan.today)
	if err != nil {
		b.Fatalf("expire leases: %v", err)
	}
	if expired != plan.ended {
		b.Fatalf("expired %d leases, want %d", expired, plan.ended)
	}
	note("  %-24s %7d commands in %6.1f s", "expire ended leases", expired, time.Since(began).Seconds())

	// The read model is written inline: when the last command returns, it is complete.
	load.wall = time.Since(start)
	load.events = s.MustEventCount(b) - before
	return load
}

// MustBatchQueryPlan checks the plan of the projector's batch query (watermill's
// subscriber runs it for every 100 events) on the full event log: it must walk
// events_horizon_idx in order and stop at the limit, never read and sort all the
// events after the offset, or a projector that has fallen behind catches up in
// time quadratic in its backlog.
func MustBatchQueryPlan(b *testing.B, ctx context.Context, pool *pgxpool.Pool, note func(string, ...any)) {
	b.Helper()
	q, err := eventstore.WatermillSchema{}.SelectQuery(wsql.SelectQueryParams{Topic: eventstore.Topic,
		ConsumerGroup: projections.RelationalName, OffsetsAdapter: eventstore.WatermillOffsets()})
	if err != nil {
		b.Fatal(err)
	}
	rows, err := pool.Query(ctx, "EXPLAIN "+q.Query, q.Args...)
	if err != nil {
		b.Fatalf("explain the projector's batch query: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("explain the projector's batch query: %v", err)
	}
	plan := strings.Join(lines, "\n")
	note("projector's batch query: %s", planSummary(lines))
	if !strings.Contains(plan, "Index Scan using events_horizon_idx") || strings.Contains(plan, "Sort") {
		b.Errorf("the projector's batch query sorts its backlog instead of walking events_horizon_idx:\n%s", plan)
	}
}

// MustRunJobs runs job(0..n-1) on conc workers; the first error stops them and
// fails the benchmark.
func MustRunJobs(b *testing.B, ctx context.Context, n, conc int, job func(ctx context.Context, i int) error) {
	b.Helper()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := job(ctx, i); err != nil {
					cancel(fmt.Errorf("job %d: %w", i, err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		b.Fatal(err)
	}
}

// MustPortfolioRows checks the read model against the plan.
func MustPortfolioRows(b *testing.B, ctx context.Context, pool *pgxpool.Pool, plan portfolioPlan) {
	b.Helper()
	var got [7]int
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM properties),
		(SELECT count(DISTINCT owner_id) FROM properties),
		(SELECT count(*) FROM tenants),
		(SELECT count(*) FROM leases WHERE status = 'active'),
		(SELECT count(*) FROM leases WHERE status = 'expired'),
		(SELECT count(*) FROM transactions),
		(SELECT count(*) FROM transactions WHERE status = 'pending' AND due_date < $1)`, plan.today).Scan(
		&got[0], &got[1], &got[2], &got[3], &got[4], &got[5], &got[6])
	if err != nil {
		b.Fatal(err)
	}
	want := [7]int{plan.properties, plan.owners, plan.tenants, len(plan.leases) - plan.ended, plan.ended,
		len(plan.charges), plan.overdue}
	if got != want {
		b.Fatalf("read model (properties, owners, tenants, active leases, expired leases, transactions, overdue): got %v, want %v", got, want)
	}
}

// MustJSON GETs path and decodes the answer into v.
func MustJSON(b *testing.B, get func(string) ([]byte, error), path string, v any) {
	b.Helper()
	body, err := get(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		b.Fatalf("decode GET %s: %v", path, err)
	}
}

// sqlRows runs a query and decodes every row, as the endpoint does; it returns
// the number of rows.
func sqlRows(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (int, error) {
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func MustSQLRows(b *testing.B, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) int {
	b.Helper()
	n, err := sqlRows(ctx, pool, sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// MustSQLDueDates runs the seed's overdue SQL and returns the due dates in order.
func MustSQLDueDates(b *testing.B, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) []domain.Date {
	b.Helper()
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	dates, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Date, error) {
		var d domain.Date
		for i, f := range row.FieldDescriptions() {
			if f.Name == "due_date" {
				values, err := row.Values()
				if err != nil {
					return d, err
				}
				t, ok := values[i].(time.Time)
				if !ok {
					return d, fmt.Errorf("due_date is %T", values[i])
				}
				return domain.DateOf(t), nil
			}
		}
		return d, fmt.Errorf("no due_date column")
	})
	if err != nil {
		b.Fatal(err)
	}
	return dates
}

// MustReportQuery times portfolioCalls calls of each workload, alternating which
// goes first, after portfolioWarmup untimed calls of each, and reports the
// latency quantiles.
func MustReportQuery(b *testing.B, web, plain func(i int) error) {
	b.Helper()
	hp99, sp99 := MustTimeReport(b, web, plain)
	verdict := "met"
	if hp99 > 3*sp99 || hp99 >= 20 {
		verdict = "MISSED"
	}
	b.Logf("target: HTTP p99 <= 3 x SQL p99 and < 20 ms: %s", verdict)
}

// MustTimeReport times portfolioCalls calls of web and of plain, interleaved and
// alternating which goes first, and prints their p50 and p99; it returns the p99s.
func MustTimeReport(b *testing.B, web, plain func(i int) error) (httpP99, sqlP99 float64) {
	b.Helper()
	var httpT, sqlT benchTally
	timed := func(i int, op func(int) error, t *benchTally) {
		began := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		if i >= 0 {
			t.latencies = append(t.latencies, time.Since(began))
		}
	}
	b.ResetTimer()
	for range b.N {
		httpT, sqlT = benchTally{}, benchTally{}
		for i := -portfolioWarmup; i < portfolioCalls; i++ {
			if i%2 == 0 {
				timed(i, web, &httpT)
				timed(i, plain, &sqlT)
			} else {
				timed(i, plain, &sqlT)
				timed(i, web, &httpT)
			}
		}
	}
	b.StopTimer()
	hp50, hp99 := httpT.quantileMs(0.50), httpT.quantileMs(0.99)
	sp50, sp99 := sqlT.quantileMs(0.50), sqlT.quantileMs(0.99)
	b.Logf("%d calls: HTTP p50 %.2f ms, p99 %.2f ms; SQL p50 %.2f ms, p99 %.2f ms; p99 ratio %.2f",
		len(httpT.latencies), hp50, hp99, sp50, sp99, hp99/sp99)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(hp50, "http_p50_ms")
	b.ReportMetric(hp99, "http_p99_ms")
	b.ReportMetric(sp50, "sql_p50_ms")
	b.ReportMetric(sp99, "sql_p99_ms")
	b.ReportMetric(hp99/sp99, "ratio_p99")
	return hp99, sp99
}

// capturedSQL records the statements a query method runs, alone or in a pipeline
// (a viewer's query goes in one with the settings that make it the viewer's).
type capturedSQL struct {
	mu      sync.Mutex
	queries []capturedQuery
}

type capturedQuery struct {
	sql  string
	args []any
}

func (c *capturedSQL) add(sql string, args []any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, capturedQuery{sql: sql, args: args})
}

func (c *capturedSQL) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.add(d.SQL, d.Args)
	return ctx
}

func (c *capturedSQL) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *capturedSQL) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (c *capturedSQL) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	c.add(d.SQL, d.Args)
}

func (c *capturedSQL) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// MustExplainEndpoint captures the statements query runs for the viewer; the
// last is the endpoint's report query. It logs the plan MustExplainPrepared finds
// for it after replaying the statements before it in the same transaction, so
// that it runs as the endpoint runs it (the same role and settings). Each of
// tables must be read through an index, never by a sequential scan.
func MustExplainEndpoint(b *testing.B, ctx context.Context, s *stack, name string, viewer readmodel.Viewer,
	query func(context.Context, *readmodel.Queries) error, tables ...string) {
	b.Helper()
	capture := &capturedSQL{}
	pool := MustBenchPool(b, s, 1, capture)
	if err := query(readmodel.WithViewer(ctx, viewer), readmodel.NewQueries(pool)); err != nil {
		b.Fatal(err)
	}
	if len(capture.queries) == 0 {
		b.Fatalf("%s: no statement captured", name)
	}
	statements := len(capture.queries)
	last := capture.queries[statements-1]
	b.Logf("endpoint SQL (the last of its %d statements besides authentication): %s",
		statements, strings.Join(strings.Fields(last.sql), " "))
	lines := MustExplainPrepared(b, ctx, pool, "endpoint", capture.queries[:statements-1], last.sql, last.args...)
	plan := strings.Join(lines, "\n")
	for _, table := range tables {
		var rows int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&rows); err != nil {
			b.Fatal(err)
		}
		if rows < 1000 {
			continue // a small table is rightly read whole (small ASSETANCHOR_BENCH_SCALE)
		}
		if strings.Contains(plan, "Seq Scan on "+table) || !strings.Contains(plan, "Index") {
			b.Errorf("%s: the plan reads %s (%d rows) by a sequential scan, want an index", name, table, rows)
		}
	}
}

// MustExplainPrepared runs, in one transaction, the setup statements, then
// prepares sql, executes it with args as often as the plan cache needs to choose
// between custom and generic plans (it decides after five custom plans; pgx's
// statement cache prepares statements the same way), and returns EXPLAIN
// (ANALYZE, BUFFERS) of the next execution: the plan a client that runs the
// statement again and again gets. It logs the plan on one line, and in full
// with -v. The transaction is rolled back.
func MustExplainPrepared(b *testing.B, ctx context.Context, pool *pgxpool.Pool, label string,
	setup []capturedQuery, sql string, args ...any) []string {
	b.Helper()
	literals := make([]string, len(args))
	for i, a := range args {
		literals[i] = MustSQLLiteral(b, a)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := tx.Rollback(ctx); err != nil {
			b.Errorf("%s: roll back: %v", label, err)
		}
	}()
	for _, q := range setup {
		rows, err := tx.Query(ctx, q.sql, q.args...)
		if err != nil {
			b.Fatalf("%s: replay: %v", label, err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			b.Fatalf("%s: replay: %v", label, err)
		}
	}
	exec := "EXECUTE bench_plan(" + strings.Join(literals, ", ") + ")"
	if _, err := tx.Exec(ctx, "PREPARE bench_plan AS "+sql); err != nil {
		b.Fatalf("%s: prepare: %v", label, err)
	}
	for range 6 {
		if _, err := tx.Exec(ctx, exec); err != nil {
			b.Fatalf("%s: execute: %v", label, err)
		}
	}
	rows, err := tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+exec)
	if err != nil {
		b.Fatalf("%s: explain: %v", label, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		b.Fatalf("%s: explain: %v", label, err)
	}
	if _, err := tx.Exec(ctx, "DEALLOCATE bench_plan"); err != nil {
		b.Fatalf("%s: deallocate: %v", label, err)
	}
	b.Logf("%s plan after 6 executions: %s", label, planSummary(lines))
	if testing.Verbose() {
		b.Logf("EXPLAIN (ANALYZE, BUFFERS) %s:\n%s", exec, strings.Join(lines, "\n"))
	}
	return lines
}

// planSummary is an EXPLAIN on one line: its nodes, without costs, with the rows
// they returned when the plan was run, and the execution time.
func planSummary(lines []string) string {
	var nodes []string
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "Execution Time: ") {
			nodes = append(nodes, strings.TrimPrefix(t, "Execution Time: ")+" in all")
		}
		if i > 0 && !strings.HasPrefix(t, "->") {
			continue
		}
		node, rest, _ := strings.Cut(strings.TrimPrefix(t, "->  "), "  (")
		if _, actual, ok := strings.Cut(rest, "(actual "); ok {
			if _, rows, ok := strings.Cut(actual, "rows="); ok {
				node += " [" + strings.Fields(rows)[0] + " rows]"
			}
		}
		nodes = append(nodes, node)
	}
	return strings.Join(nodes, " > ")
}

// MustSQLLiteral renders a query argument as an SQL literal for EXECUTE.
func MustSQLLiteral(b *testing.B, a any) string {
	b.Helper()
	switch v := a.(type) {
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case uuid.UUID:
		return "'" + v.String() + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case domain.Date:
		return "'" + v.String() + "'"
	default:
		b.Fatalf("no SQL literal for %T", a)
		return ""
	}
}

// MustRawInsertRate is the baseline of the portfolio load: plain one-row INSERTs
// of an event-shaped row (a copy of the events table with its indexes, no
// append_events, no read model) at conc workers for a few seconds, on the same
// pool and cluster; it returns rows per second.
func MustRawInsertRate(b *testing.B, ctx context.Context, pool *pgxpool.Pool, conc int) float64 {
	b.Helper()
	if _, err := pool.Exec(ctx, `CREATE TABLE raw_events (LIKE events INCLUDING ALL)`); err != nil {
		b.Fatal(err)
	}
	defer pool.Exec(context.WithoutCancel(ctx), `DROP TABLE raw_events`) //nolint:errcheck // the database is dropped with the test
	payload := `{"name": "Elm Court", "address": "1742 Evergreen Terrace", "city": "Springfield", "state": "IL",
		"zip_code": "62704", "property_type": "residential", "bedrooms": 3, "bathrooms": "2.5"}`
	metadata := `{"actor_id": "3f1c2a4e-7d1b-4c59-9a63-2b8f0e6d5c41", "ip_address": "192.0.2.7", "command": "RegisterProperty"}`
	insert := func(ctx context.Context, worker, seq int) error {
		_, err := pool.Exec(ctx, `INSERT INTO raw_events (event_id, stream_id, stream_type, version, event_type,
			schema_version, payload, metadata, recorded_at, hash) VALUES ($1, $2, 'property', 1, 'PropertyRegistered',
			1, $3, $4, now(), sha256(convert_to($1, 'UTF8')))`,
			ulid.Make().String(), "property-"+uuid.NewString(), payload, metadata)
		return err
	}
	MustBenchRun(b, ctx, conc, benchWarmup, insert)
	return MustBenchRun(b, ctx, conc, 3*time.Second, insert).rate()
}
