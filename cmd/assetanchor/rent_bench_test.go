// BenchmarkRentPost times `assetanchor rent post` for a portfolio of 15,000 leases
// and one month, beside a plain-SQL INSERT … SELECT that generates the same rows.
//
// Timing scheme: like the other benchmarks it times itself and ignores b.N beyond
// repeating the measurement (the Makefile passes -benchtime=1x). Setup appends
// 15,000 LeaseSigned events (a year from 2025-01-01 at 1250.00, due on the 1st)
// straight to the store, 16 at a time. Then:
//
//   - rent: `run(rent post --through 2025-01-01)`, the command an operator types
//     (migration check, pool, keyring and all): it reads every lease from the event
//     store, and for each reads its January charge and appends it: 15,000 events,
//     eight leases at a time. charges/s = 15,000 ÷ its wall time.
//   - rerun: the same command again, which posts nothing (every charge exists).
//   - sql: one INSERT … SELECT over the LeaseSigned events into a scratch table shaped
//     like transactions, computing the same ids (uuid_generate_v5 of the same
//     namespace and key), amounts, due dates and notes; sql_rows/s over its wall time.
//     A sample of its ids is checked against the charges rent post appended.
//
// Neither includes the relational projector applying the 15,000 events (it runs
// asynchronously inside serve); ratio = charges/s ÷ sql_rows/s. The machine is
// shared: read the ratio, not the absolute figures.
package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

const rentBenchLeases = 15000

func BenchmarkRentPost(b *testing.B) {
	b.Run(fmt.Sprintf("leases=%d/month=1", rentBenchLeases), func(b *testing.B) {
		ctx := context.Background()
		url := dbtest.MustURL(b)
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		mustBenchLeases(b, pool, rentBenchLeases)
		env := func(key string) string { return map[string]string{"DATABASE_URL": url}[key] }

		var out strings.Builder
		started := time.Now()
		if err := run(ctx, []string{"rent", "post", "--through", "2025-01-01"}, env, &out, io.Discard); err != nil {
			b.Fatalf("rent post: %v", err)
		}
		rent := time.Since(started)
		if want := fmt.Sprintf("%d leases: %d rent charges and 0 late fees posted", rentBenchLeases, rentBenchLeases); !strings.HasPrefix(out.String(), want) {
			b.Fatalf("rent post said %q, want %q", out.String(), want)
		}

		out.Reset()
		started = time.Now()
		if err := run(ctx, []string{"rent", "post", "--through", "2025-01-01"}, env, &out, io.Discard); err != nil {
			b.Fatalf("rent post again: %v", err)
		}
		rerun := time.Since(started)
		if !strings.Contains(out.String(), " 0 rent charges") {
			b.Fatalf("the second rent post said %q, want nothing posted", out.String())
		}

		if _, err := pool.Exec(ctx, `CREATE TABLE bench_rent (LIKE transactions INCLUDING DEFAULTS)`); err != nil {
			b.Fatal(err)
		}
		started = time.Now()
		tag, err := pool.Exec(ctx, `INSERT INTO bench_rent (id, lease_id, amount, type, status, due_date, notes,
				created_at, updated_at, version)
			SELECT uuid_generate_v5($1, (payload->>'lease_id') || '/rent/2025-01-01'), (payload->>'lease_id')::uuid,
				(payload->'terms'->>'rent_amount')::numeric, 'rent', 'pending',
				make_date(2025, 1, (payload->'terms'->>'payment_day')::int), 'rent 2025-01-01 to 2025-01-31',
				now(), now(), 1
			FROM events WHERE event_type = 'LeaseSigned'`, domain.RentNamespace)
		if err != nil {
			b.Fatal(err)
		}
		plain := time.Since(started)
		if tag.RowsAffected() != rentBenchLeases {
			b.Fatalf("INSERT … SELECT made %d rows, want %d", tag.RowsAffected(), rentBenchLeases)
		}
		var same int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT id FROM bench_rent LIMIT 100) r
			JOIN events e ON e.stream_id = 'transaction-' || r.id AND e.version = 1
			AND (e.payload->>'amount')::numeric = (SELECT amount FROM bench_rent WHERE id = r.id)`).Scan(&same); err != nil {
			b.Fatal(err)
		}
		if same != 100 {
			b.Fatalf("%d of 100 rows of the INSERT … SELECT match a charge rent post appended, want all", same)
		}

		b.ReportMetric(0, "ns/op")
		b.ReportMetric(rentBenchLeases/rent.Seconds(), "charges/s")
		b.ReportMetric(rerun.Seconds(), "rerun_s")
		b.ReportMetric(rentBenchLeases/plain.Seconds(), "sql_rows/s")
		b.ReportMetric(plain.Seconds()/rent.Seconds(), "ratio")
	})
}

// mustBenchLeases appends n signed leases, each a year from 2025-01-01.
func mustBenchLeases(b *testing.B, pool *pgxpool.Pool, n int) {
	b.Helper()
	ctx := context.Background()
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{})
	// The leases' property and tenant, which their rows refer to.
	admin := MustAccount(b, store, pool, domain.RoleAdmin)
	properties, err := commands.NewProperties(store)
	if err != nil {
		b.Fatal(err)
	}
	registered, err := properties.Register(ctx, commands.RegisterProperty{Actor: admin, Details: domain.PropertyDetails{
		Name: "Elm Court", Address: "1 Elm St", City: "Springfield", State: "IL", ZipCode: "62701",
		PropertyType: domain.PropertyResidential,
	}})
	if err != nil {
		b.Fatal(err)
	}
	property, tenant := registered.ID, uuid.New()
	if _, err := store.Append(ctx, eventstore.StreamID{Type: domain.TenantStreamType, ID: tenant}, 0,
		eventstore.NewEvent{Type: "TenantRegistered", Data: &domain.TenantRegistered{TenantID: tenant, RegisteredBy: admin.UserID,
			Contact: domain.TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com"}}}); err != nil {
		b.Fatal(err)
	}
	work := make(chan int)
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				id := uuid.New()
				_, err := store.Append(ctx, eventstore.StreamID{Type: domain.LeaseStreamType, ID: id}, 0,
					eventstore.NewEvent{Type: "LeaseSigned", Data: &domain.LeaseSigned{LeaseID: id, PropertyID: property,
						TenantID: tenant, Terms: domain.LeaseTerms{StartDate: domain.NewDate(2025, 1, 1),
							EndDate: domain.NewDate(2025, 12, 31), RentAmount: domain.MustMoney("1250.00"),
							SecurityDeposit: domain.MustMoney("0"), PaymentDay: 1}}})
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}
