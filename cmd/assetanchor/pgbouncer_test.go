package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/cmd/internal/pgbouncer"
	"github.com/assetanchor/assetanchor/eventstore/relay/natstest"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// mustPgBouncer starts PgBouncer in front of the server of url; without the
// binary the test is skipped, or fails when CI=true.
func mustPgBouncer(t *testing.T, url string) *pgbouncer.Bouncer {
	t.Helper()
	if _, err := pgbouncer.Binary(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	b, err := pgbouncer.Start(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Stop() })
	return b
}

// TestThreeNodesThroughPgBouncer runs three serve processes whose
// DATABASE_URL is a PgBouncer in transaction pooling mode (only migrations go
// direct). The cross-stream rules hold across them, a command answered by one
// node is read at once on another, operator commands work through the pooler,
// and a node killed with SIGKILL under load loses no command it answered.
// The nodes' background jobs hold their leases and the NATS relay publishes
// every event once and in order, all through the pooler. PgBouncer's own
// SHOW STATS shows the traffic went through it.
func TestThreeNodesThroughPgBouncer(t *testing.T) {
	url := dbtest.MustURL(t)
	bouncer := mustPgBouncer(t, url)
	natsServer := natstest.MustStart(t)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := bouncer.Stats(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{
		"DATABASE_URL":                    bouncer.URL(cfg.Database),
		"ASSETANCHOR_DIRECT_DATABASE_URL": url,
		"ASSETANCHOR_DATA_DIR":            t.TempDir(), // the deployment's shared volume
		"ASSETANCHOR_ADDR":                "127.0.0.1:0",
		"ASSETANCHOR_ADMIN_EMAIL":         "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD":      "a long enough password",
		"ASSETANCHOR_MASTER_KEY":          base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)),
		// The background jobs, the relay among them, run through PgBouncer too.
		"ASSETANCHOR_NATS_URL":      natsServer.ClientURL(),
		"ASSETANCHOR_JOB_LEASE_TTL": "2s",
	}
	env := func(key string) string { return vars[key] }
	direct := mustPool(t, url) // the test's own look at the database, past PgBouncer
	js := mustJetStream(t, natsServer.ClientURL())

	// allJobsHeld waits until each job has one holder, a node alive.
	allJobsHeld := func(t *testing.T, alive ...string) map[string]string {
		t.Helper()
		jobs := []string{jobAnchors, jobAuditPartitions, jobBlobSweep, jobEventRelay, jobLeaseExpiry, jobRentSchedule}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			h := jobHolders(t, direct)
			ok := len(h) == len(jobs)
			for _, job := range jobs {
				ok = ok && slices.Contains(alive, h[job])
			}
			if ok {
				return h
			}
			if time.Now().After(deadline) {
				t.Fatalf("the jobs are held as %v, want each of %v by one of %v", h, jobs, alive)
			}
		}
	}

	// Node c starts first and takes every job, so that the kill under load
	// below takes the relay and every lease down mid-work.
	c := MustServeProcess(t, "c", vars)
	t.Run("every job is held by one node through the pooler", func(t *testing.T) {
		t.Logf("jobs held as %v", allJobsHeld(t, "c"))
	})
	nodes := []*serveProcess{MustServeProcess(t, "a", vars), MustServeProcess(t, "b", vars), c}
	addrs := []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}
	token := loginAt(t, addrs[0])

	t.Run("the cross-stream rules hold across nodes", func(t *testing.T) {
		raceOnNodes(t, addrs, token, url, env)
	})

	t.Run("a command answered on one node is read on the others", func(t *testing.T) {
		for i := range 30 {
			status, body := callAt(t, addrs[i%3], token, http.MethodPost, "/api/v1/properties", propertyBody(fmt.Sprintf("Read %d", i)))
			if status != http.StatusCreated {
				t.Fatalf("create = %d %s", status, body)
			}
			id := body["id"].(string)
			for _, other := range []string{addrs[(i+1)%3], addrs[(i+2)%3]} {
				if status, got := callAt(t, other, token, http.MethodGet, "/api/v1/properties/"+id, ""); status != http.StatusOK {
					t.Fatalf("GET on %s right after the create on %s = %d %v", other, addrs[i%3], status, got)
				}
			}
		}
	})

	t.Run("a node killed under load loses nothing it answered", func(t *testing.T) {
		var (
			mu       sync.Mutex
			answered []string
			wg       sync.WaitGroup
		)
		loadCtx, stopLoad := context.WithCancel(ctx)
		for w := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; loadCtx.Err() == nil; i++ {
					status, body, err := tryCall(addrs[w%3], token, http.MethodPost, "/api/v1/properties",
						propertyBody(fmt.Sprintf("Load %d-%d", w, i)))
					if err != nil {
						continue // the killed node's connections break
					}
					if status == http.StatusCreated {
						mu.Lock()
						answered = append(answered, body["id"].(string))
						mu.Unlock()
					} else if status >= 500 && w%3 != 2 {
						t.Errorf("a surviving node answered %d %v", status, body)
					}
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		nodes[2].Kill(t)
		t.Logf("killed c, the relay's node, with %d messages in the stream", streamCount(js))
		time.Sleep(time.Second)
		stopLoad()
		wg.Wait()
		if len(answered) < 30 {
			t.Fatalf("only %d creates were answered under load", len(answered))
		}
		for _, id := range answered {
			if status, body := callAt(t, addrs[0], token, http.MethodGet, "/api/v1/properties/"+id, ""); status != http.StatusOK {
				t.Errorf("property %s was answered 201 but reads %d %v", id, status, body)
			}
		}
		stdout, stderr := MustRun(t, env, "projections", "verify")
		if !strings.Contains(stdout, "identical") {
			t.Errorf("projections verify after the kill:\n%s\n%s", stdout, stderr)
		}
		MustRun(t, env, "audit", "verify") // every hash chain holds: exit 0
		t.Logf("%d creates answered under load, one node of three killed", len(answered))
	})

	t.Run("operator commands work through the pooler", func(t *testing.T) {
		MustRun(t, env, "projections", "rebuild", "--all")
		file := filepath.Join(t.TempDir(), "log.ndjson")
		MustRun(t, env, "events", "export", file)
		urlB := dbtest.MustURL(t)
		cfgB, err := pgx.ParseConfig(urlB)
		if err != nil {
			t.Fatal(err)
		}
		varsB := map[string]string{"DATABASE_URL": bouncer.URL(cfgB.Database), "ASSETANCHOR_DIRECT_DATABASE_URL": urlB,
			"ASSETANCHOR_DATA_DIR": t.TempDir(), "ASSETANCHOR_MASTER_KEY": vars["ASSETANCHOR_MASTER_KEY"]}
		envB := func(key string) string { return varsB[key] }
		MustRun(t, envB, "events", "import", file)
		MustRun(t, envB, "audit", "verify")
		if stdout, stderr := MustRun(t, envB, "projections", "verify"); !strings.Contains(stdout, "identical") {
			t.Errorf("projections verify after the import:\n%s\n%s", stdout, stderr)
		}
	})

	t.Run("the relay publishes every event once, in order, through the pooler", func(t *testing.T) {
		// Node c was killed holding every job: the others take them over.
		t.Logf("jobs held as %v after the kill", allJobsHeld(t, "a", "b"))
		want := logEventIDs(t, direct)
		for deadline := time.Now().Add(2 * time.Minute); streamCount(js) < uint64(len(want)); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the stream has %d of %d events:\n%s\n%s", streamCount(js), len(want),
					nodes[0].stderr.String(), nodes[1].stderr.String())
			}
		}
		time.Sleep(300 * time.Millisecond) // a duplicate would land now
		got := streamEventIDs(t, js)
		if len(got) != len(want) {
			t.Fatalf("the stream has %d messages for %d events", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("message %d is event %s, the log's is %s", i+1, got[i], want[i])
			}
		}
		t.Logf("%d events relayed", len(want))
		if stdout, stderr := MustRun(t, env, "projections", "status"); !regexp.MustCompile(`nats-relay .* caught up`).MatchString(stdout) {
			t.Errorf("projections status through the pooler does not show the relay caught up:\n%s\n%s", stdout, stderr)
		}

		// No request now: what PgBouncer passes on is the jobs' own traffic
		// (the relay polling, the leases renewed).
		time.Sleep(1100 * time.Millisecond) // stats_period
		quiet, err := bouncer.Stats(ctx, cfg.Database)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second)
		later, err := bouncer.Stats(ctx, cfg.Database)
		if err != nil {
			t.Fatal(err)
		}
		if got := later.Transactions - quiet.Transactions; got < 20 {
			t.Errorf("PgBouncer passed on %d transactions of the idle nodes in 3 s, want the relay's polls and the leases' renewals", got)
		}
		t.Logf("idle nodes, 3 s: %d transactions through PgBouncer", later.Transactions-quiet.Transactions)
	})

	time.Sleep(1100 * time.Millisecond) // stats_period
	after, err := bouncer.Stats(ctx, cfg.Database)
	if err != nil {
		t.Fatal(err)
	}
	// Each command is at least one transaction, each read one more.
	if got := after.Transactions - before.Transactions; got < 200 {
		t.Errorf("PgBouncer passed on %d transactions of database %s, want the nodes' traffic (>= 200)", got, cfg.Database)
	}
	t.Logf("PgBouncer SHOW STATS: %d transactions, %d queries", after.Transactions-before.Transactions, after.Queries-before.Queries)
}

func propertyBody(name string) string {
	return fmt.Sprintf(`{"name": %q, "address": "1 Elm St", "city": "Springfield", "state": "IL",
		"zip_code": "62701", "property_type": "residential"}`, name)
}

// loginAt logs the administrator in at addr and returns the token.
func loginAt(t *testing.T, addr string) string {
	t.Helper()
	status, body, err := tryCall(addr, "", http.MethodPost, "/api/v1/auth/login",
		`{"email":"ops@example.com","password":"a long enough password"}`)
	if err != nil || status != http.StatusOK {
		t.Fatalf("login = %d %v (%v)", status, body, err)
	}
	return body["token"].(string)
}

// callAt sends a request with the token and returns the status and JSON body.
func callAt(t *testing.T, addr, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	status, out, err := tryCall(addr, token, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return status, out
}

func tryCall(addr, token, method, path, body string) (int, map[string]any, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out, nil
}
