// Benchmarks for the HTTP API; `make bench` runs them on a durable (fsync on)
// throwaway cluster.
//
// Timing scheme: the benchmarks time themselves and ignore b.N beyond repeating
// the whole measurement (the Makefile passes -benchtime=1x). BenchmarkPostProperties
// starts the whole service (MustStack), warms up, then runs benchRounds rounds;
// each round runs, for benchPhase each and in alternating order, the HTTP workload
// (POST /api/v1/properties, every answer must be 201) and its baseline (one plain
// INSERT of an equivalent row into properties), both at benchConcurrency. Both go
// through the stack's pool, sized as serve's (eventstore.DefaultMaxConns, logged),
// so neither workload gets more database connections than the other. Rates are
// requests over total wall time; latencies are the p50/p99 of every request of
// the workload; ratio = req/s ÷ sql_inserts/s, and p99_over_sql_mean is the
// POST's p99 over the plain INSERT's mean latency. The HTTP path authenticates,
// appends the event and writes its read-model and audit rows in one transaction,
// then reads the entity back for the answer. The machine is
// shared, so read the ratio, not the absolute figures. ns/op is suppressed (it
// would be the wall time of the whole run); -benchmem's B/op and allocs/op cover
// both workloads and the server together.
package http

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

const (
	benchConcurrency = 16
	benchRounds      = 4 // even, so that each workload goes first equally often
	benchPhase       = 1500 * time.Millisecond
	benchWarmup      = 300 * time.Millisecond
)

func BenchmarkPostProperties(b *testing.B) {
	b.Run(fmt.Sprintf("concurrency=%d", benchConcurrency), func(b *testing.B) {
		ctx := context.Background()
		s := MustStack(b, WithPoolSize(eventstore.DefaultMaxConns))
		ownerID, token := s.MustUser(b, domain.RoleUser)
		client := benchClient(b, s, benchConcurrency)

		post := func(ctx context.Context, worker, seq int) error {
			body := fmt.Sprintf(`{"name": "Elm Court %d-%d-%s", "address": "1742 Evergreen Terrace, Unit 4B",
				"city": "Springfield", "state": "IL", "zip_code": "62704", "property_type": "residential",
				"bedrooms": 3, "bathrooms": "2.5", "square_feet": 1840, "year_built": 1987,
				"description": "Corner unit with a garden view"}`, worker, seq, uuid.NewString()[:8])
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.http.URL+"/api/v1/properties",
				strings.NewReader(body))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("POST /api/v1/properties: status %d, want %d: %s", resp.StatusCode, http.StatusCreated, got)
			}
			return nil
		}
		insert := func(ctx context.Context, worker, seq int) error {
			now := time.Now().UTC()
			_, err := s.pool.Exec(ctx, `INSERT INTO properties (id, name, address, city, state, zip_code,
				owner_id, property_type, status, bedrooms, bathrooms, square_feet, year_built,
				description, created_at, updated_at, version)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)`,
				uuid.New(), fmt.Sprintf("Elm Court %d-%d-%s", worker, seq, uuid.NewString()[:8]),
				"1742 Evergreen Terrace, Unit 4B", "Springfield", "IL", "62704", ownerID, "residential",
				"active", 3, 2.5, 1840, 1987, "Corner unit with a garden view", now, 1)
			return err
		}

		// Open connections (client and pool) and prepare statements before timing.
		MustBenchRun(b, ctx, benchConcurrency, benchWarmup, post)
		MustBenchRun(b, ctx, benchConcurrency, benchWarmup, insert)

		var web, plain benchTally
		b.ResetTimer()
		for range b.N {
			for round := range benchRounds {
				var rw, rs benchTally
				if round%2 == 0 {
					rw = MustBenchRun(b, ctx, benchConcurrency, benchPhase, post)
					rs = MustBenchRun(b, ctx, benchConcurrency, benchPhase, insert)
				} else {
					rs = MustBenchRun(b, ctx, benchConcurrency, benchPhase, insert)
					rw = MustBenchRun(b, ctx, benchConcurrency, benchPhase, post)
				}
				b.Logf("round %d: %.0f req/s (p50 %.1f ms, p99 %.1f ms), %.0f sql inserts/s (p50 %.2f ms, p99 %.2f ms)",
					round+1, rw.rate(), rw.quantileMs(0.50), rw.quantileMs(0.99),
					rs.rate(), rs.quantileMs(0.50), rs.quantileMs(0.99))
				web.add(rw)
				plain.add(rs)
			}
		}
		b.StopTimer()
		b.Logf("pool max conns %d (serve's default, eventstore.DefaultMaxConns), shared by both workloads",
			s.pool.Config().MaxConns)
		b.Logf("p99 of POST %.1f ms = %.1f × the mean latency of a plain INSERT (%.2f ms)",
			web.quantileMs(0.99), web.quantileMs(0.99)/plain.meanMs(), plain.meanMs())
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(web.rate(), "req/s")
		b.ReportMetric(web.quantileMs(0.50), "p50_ms")
		b.ReportMetric(web.quantileMs(0.99), "p99_ms")
		b.ReportMetric(plain.rate(), "sql_inserts/s")
		b.ReportMetric(plain.quantileMs(0.50), "sql_p50_ms")
		b.ReportMetric(plain.quantileMs(0.99), "sql_p99_ms")
		b.ReportMetric(web.rate()/plain.rate(), "ratio")
		b.ReportMetric(web.quantileMs(0.99)/plain.meanMs(), "p99_over_sql_mean")
	})
}

// benchClient is the test server's client with room for conc idle connections, so
// that concurrent requests reuse connections instead of dialling anew.
func benchClient(b *testing.B, s *stack, conc int) *http.Client {
	b.Helper()
	base, ok := s.http.Client().Transport.(*http.Transport)
	if !ok {
		b.Fatalf("test server transport is %T, want *http.Transport", s.http.Client().Transport)
	}
	t := base.Clone()
	t.MaxIdleConns = conc
	t.MaxIdleConnsPerHost = conc
	b.Cleanup(t.CloseIdleConnections)
	return &http.Client{Transport: t, Timeout: time.Minute}
}

// benchTally is what timed runs did: the latency of every operation and the wall
// time they took.
type benchTally struct {
	latencies []time.Duration
	elapsed   time.Duration
}

func (t *benchTally) add(o benchTally) {
	t.latencies = append(t.latencies, o.latencies...)
	t.elapsed += o.elapsed
}

func (t benchTally) rate() float64 { return float64(len(t.latencies)) / t.elapsed.Seconds() }

// meanMs is the mean latency in milliseconds.
func (t benchTally) meanMs() float64 {
	var sum time.Duration
	for _, l := range t.latencies {
		sum += l
	}
	return sum.Seconds() * 1000 / float64(max(len(t.latencies), 1))
}

// quantileMs is the q-quantile latency in milliseconds (nearest rank).
func (t benchTally) quantileMs(q float64) float64 {
	if len(t.latencies) == 0 {
		return 0
	}
	sorted := slices.Clone(t.latencies)
	slices.Sort(sorted)
	i := max(int(float64(len(sorted))*q+0.5)-1, 0)
	return float64(sorted[min(i, len(sorted)-1)]) / float64(time.Millisecond)
}

// MustBenchRun runs op on conc goroutines, each starting operations until d has
// passed. The wall time runs until the last operation finished. Any error fails
// the benchmark.
func MustBenchRun(b *testing.B, ctx context.Context, conc int, d time.Duration,
	op func(ctx context.Context, worker, seq int) error) benchTally {
	b.Helper()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	perWorker := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for w := range conc {
		wg.Go(func() {
			for seq := 0; ctx.Err() == nil; seq++ {
				began := time.Now()
				if !began.Before(deadline) {
					return
				}
				if err := op(ctx, w, seq); err != nil {
					cancel(err)
					return
				}
				perWorker[w] = append(perWorker[w], time.Since(began))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		b.Fatalf("benchmark operation: %v", err)
	}
	return benchTally{latencies: slices.Concat(perWorker...), elapsed: elapsed}
}
