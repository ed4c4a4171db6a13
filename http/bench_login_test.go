// Login benchmark (`make bench`). BenchmarkLogin starts the whole service
// (MustStack, rate limits lifted: they would answer 429 without hashing), gives
// each of benchConcurrency workers its own account, warms up, then runs
// benchRounds rounds; each round runs, for benchLoginPhase each and in
// alternating order, the HTTP workload (POST /api/v1/auth/login with the right
// password, every answer must be 200) and its baseline: a bare argon2id hash with
// the same parameters (commands.HashPassword: m=19 MiB, t=2, p=1), both at
// benchConcurrency. Logins pass through the server's hashing semaphore; the bare
// hashes do not, so the two columns show what the bound and the rest of a login
// (session stream, events, read model wait) cost next to the hash itself.
//
// Memory: peak_rss_MiB is the process's peak resident set (VmHWM) during the
// login phases only: before each, the heap is returned to the OS and the peak is
// reset (/proc/self/clear_refs); the bare-hash phases, which run 16 hashes at
// once without the bound, are not counted. flood_peak_rss_MiB is the peak while
// 200 bad logins (unknown emails) arrive at once; the benchmark fails if it
// reaches 300 MiB. Both include the benchmark's own client, which is small. The
// test TestLoginFloodKeepsServerMemoryBounded checks the same bound on the real
// binary in its own process.
package http

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// benchLoginPhase is longer than benchPhase: at concurrency 16 one login takes
// about a second on a small machine, and a phase should hold dozens of them.
const benchLoginPhase = 6 * time.Second

// floodLogins is how many bad logins arrive at once in the memory check.
const floodLogins = 200

// maxFloodRSS is the bound the issue sets on the server under that flood.
const maxFloodRSS = 300 << 20

func BenchmarkLogin(b *testing.B) {
	b.Run(fmt.Sprintf("concurrency=%d", benchConcurrency), func(b *testing.B) {
		ctx := context.Background()
		s := MustStack(b, WithDeps(func(d *Deps) {
			d.LoginLimitPerIP = RateLimit{Burst: 1e9, PerSecond: 1e9}
			d.LoginLimitPerEmail = RateLimit{Burst: 1e9, PerSecond: 1e9}
		}))
		client := benchClient(b, s, floodLogins)
		emails := make([]string, benchConcurrency)
		for w := range emails {
			emails[w] = fmt.Sprintf("bench-login-%d-%s@example.com", w, uuid.NewString()[:8])
			if _, err := s.users.Create(ctx, commands.CreateUser{Email: emails[w], Password: testPassword,
				Role: domain.RoleUser.String()}); err != nil {
				b.Fatal(err)
			}
		}
		login := func(email, password string, want int) func(ctx context.Context, worker, seq int) error {
			return func(ctx context.Context, worker, seq int) error {
				body := fmt.Sprintf(`{"email": %q, "password": %q}`, email, password)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.http.URL+"/api/v1/auth/login", strings.NewReader(body))
				if err != nil {
					return err
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				got, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				if resp.StatusCode != want {
					return fmt.Errorf("POST /api/v1/auth/login: status %d, want %d: %s", resp.StatusCode, want, got)
				}
				return nil
			}
		}
		goodLogin := func(ctx context.Context, worker, seq int) error {
			return login(emails[worker], testPassword, http.StatusOK)(ctx, worker, seq)
		}
		bareHash := func(ctx context.Context, worker, seq int) error {
			_, err := commands.HashPassword(testPassword)
			return err
		}

		MustBenchRun(b, ctx, benchConcurrency, benchWarmup, goodLogin)
		MustBenchRun(b, ctx, benchConcurrency, benchWarmup, bareHash)

		var logins, hashes benchTally
		var peak int64
		loginPhase := func() benchTally {
			MustResetPeakRSS(b)
			t := MustBenchRun(b, ctx, benchConcurrency, benchLoginPhase, goodLogin)
			peak = max(peak, MustPeakRSS(b))
			return t
		}
		b.ResetTimer()
		for range b.N {
			for round := range benchRounds {
				var rl, rh benchTally
				if round%2 == 0 {
					rl = loginPhase()
					rh = MustBenchRun(b, ctx, benchConcurrency, benchLoginPhase, bareHash)
				} else {
					rh = MustBenchRun(b, ctx, benchConcurrency, benchLoginPhase, bareHash)
					rl = loginPhase()
				}
				b.Logf("round %d: %.1f logins/s (p50 %.1f ms, p99 %.1f ms), %.1f bare hashes/s (p50 %.1f ms, p99 %.1f ms)",
					round+1, rl.rate(), rl.quantileMs(0.50), rl.quantileMs(0.99),
					rh.rate(), rh.quantileMs(0.50), rh.quantileMs(0.99))
				logins.add(rl)
				hashes.add(rh)
			}
		}
		b.StopTimer()

		// The flood: every bad login at once, each its own connection.
		MustResetPeakRSS(b)
		var wg sync.WaitGroup
		errs := make(chan error, floodLogins)
		start := make(chan struct{})
		for i := range floodLogins {
			wg.Go(func() {
				<-start
				if err := login(fmt.Sprintf("nobody-%d-%s@example.com", i, uuid.NewString()[:8]), "not the password",
					http.StatusUnauthorized)(ctx, i, 0); err != nil {
					errs <- err
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatalf("flood: %v", err)
		}
		flood := MustPeakRSS(b)
		if flood >= maxFloodRSS {
			b.Errorf("peak RSS during %d concurrent bad logins = %d MiB, want under %d MiB", floodLogins, flood>>20, maxFloodRSS>>20)
		}
		if err := goodLogin(ctx, 0, 0); err != nil {
			b.Errorf("login after the flood: %v", err)
		}

		b.ReportMetric(0, "ns/op")
		b.ReportMetric(logins.rate(), "logins/s")
		b.ReportMetric(logins.quantileMs(0.50), "p50_ms")
		b.ReportMetric(logins.quantileMs(0.99), "p99_ms")
		b.ReportMetric(hashes.rate(), "hashes/s")
		b.ReportMetric(hashes.quantileMs(0.50), "hash_p50_ms")
		b.ReportMetric(hashes.quantileMs(0.99), "hash_p99_ms")
		b.ReportMetric(logins.rate()/hashes.rate(), "ratio")
		b.ReportMetric(float64(peak)/(1<<20), "peak_rss_MiB")
		b.ReportMetric(float64(flood)/(1<<20), "flood_peak_rss_MiB")
	})
}

// MustResetPeakRSS returns freed memory to the OS and resets the process's peak
// resident set to its current one (Linux: clear_refs 5).
func MustResetPeakRSS(tb testing.TB) {
	tb.Helper()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Fatalf("reset the peak RSS: %v", err)
	}
}

// MustPeakRSS is the process's peak resident set since the last reset, in bytes.
func MustPeakRSS(tb testing.TB) int64 {
	tb.Helper()
	return MustProcStatus(tb, "self", "VmHWM")
}

// MustProcStatus reads one kB figure of /proc/<pid>/status, in bytes.
func MustProcStatus(tb testing.TB, pid, field string) int64 {
	tb.Helper()
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		tb.Fatalf("read /proc/%s/status: %v", pid, err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, field+":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			tb.Fatalf("parse %s of /proc/%s/status: %q", field, pid, line)
		}
		return kb << 10
	}
	tb.Fatalf("no %s in /proc/%s/status", field, pid)
	return 0
}
