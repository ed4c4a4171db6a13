package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/relay"
	"github.com/assetanchor/assetanchor/eventstore/relay/natstest"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

var (
	binaryOnce sync.Once
	binaryDir  string
	binaryErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
	os.Exit(code)
}

// mustBinary builds the assetanchor binary once for the package's tests, so
// that a test can kill -9 a real serve process.
func mustBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "assetanchor-bin-"); binaryErr != nil {
			return
		}
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		out, err := exec.Command(goTool, "build", "-o", filepath.Join(binaryDir, "assetanchor"), ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("build the binary: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return filepath.Join(binaryDir, "assetanchor")
}

// serveProcess is `assetanchor serve` in its own process.
type serveProcess struct {
	cmd    *exec.Cmd
	addr   string
	node   string
	stderr *syncBuffer
	done   chan struct{}
}

// MustServeProcess starts serve as node with vars and waits until it listens.
// It is stopped with SIGTERM when the test ends, unless killed before.
func MustServeProcess(t *testing.T, node string, vars map[string]string) *serveProcess {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(mustBinary(t), "serve")
	cmd.Env = []string{"HOME=" + dir, "ASSETANCHOR_ADDR=127.0.0.1:0", "ASSETANCHOR_NODE_ID=" + node,
		"ASSETANCHOR_DATA_DIR=" + filepath.Join(dir, "data")}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &serveProcess{cmd: cmd, node: node, stderr: &syncBuffer{}, done: make(chan struct{})}
	stdout := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("serve %s did not stop on SIGTERM", node)
		}
	})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if m := servingLine.FindStringSubmatch(stdout.String()); m != nil {
			p.addr = m[1]
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("serve %s ended before listening:\n%s", node, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve %s did not listen:\n%s", node, p.stderr.String())
		}
	}
}

// Kill ends serve with SIGKILL: no drain, no lease released.
func (p *serveProcess) Kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

func nodeVars(url, natsURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":               url,
		"ASSETANCHOR_NATS_URL":       natsURL,
		"ASSETANCHOR_JOB_LEASE_TTL":  "2s",
		"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)),
	}
}

func mustPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func mustJetStream(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// streamCount is how many messages the relay's stream holds (0 before it exists).
func streamCount(js jetstream.JetStream) uint64 {
	s, err := js.Stream(context.Background(), relay.StreamName)
	if err != nil {
		return 0
	}
	info, err := s.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// TestRelaySurvivesKill9OfServe kills serve with SIGKILL while it relays a
// backlog, starts it again, and finds the stream equal to the log: every event
// once, in commit order.
func TestRelaySurvivesKill9OfServe(t *testing.T) {
	url := dbtest.MustURL(t)
	pool := mustPool(t, url)
	natsServer := natstest.MustStart(t)
	js := mustJetStream(t, natsServer.ClientURL())
	store := eventstore.NewPostgresStore(pool)
	for range 60 {
		batch := make([]eventstore.NewEvent, 250)
		for i := range batch {
			batch[i] = eventstore.NewEvent{Type: "WidgetTurned", SchemaVersion: 1, Data: map[string]int{"turn": i}}
		}
		if _, err := store.Append(context.Background(), eventstore.StreamID{Type: "widget", ID: uuid.New()}, 0, batch...); err != nil {
			t.Fatal(err)
		}
	}

	first := MustServeProcess(t, "first", nodeVars(url, natsServer.ClientURL()))
	for deadline := time.Now().Add(time.Minute); streamCount(js) < 500; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not start:\n%s", first.stderr.String())
		}
	}
	first.Kill(t)
	total := uint64(len(logEventIDs(t, pool)))
	killedAt := streamCount(js)
	if killedAt >= total {
		t.Fatalf("the relay had published all %d events before the kill; the test needs a larger backlog", total)
	}
	t.Logf("killed serve after %d of %d events", killedAt, total)

	// A new node takes the relay over once the dead one's lease expires.
	second := MustServeProcess(t, "second", nodeVars(url, natsServer.ClientURL()))
	if _, err := store.Append(context.Background(), eventstore.StreamID{Type: "widget", ID: uuid.New()}, 0,
		eventstore.NewEvent{Type: "WidgetMade", SchemaVersion: 1, Data: map[string]int{}}); err != nil {
		t.Fatal(err)
	}
	want := logEventIDs(t, pool)
	for deadline := time.Now().Add(2 * time.Minute); streamCount(js) < uint64(len(want)); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the stream has %d of %d events:\n%s", streamCount(js), len(want), second.stderr.String())
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
}

func logEventIDs(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id FROM events ORDER BY transaction_id, position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// streamEventIDs reads the stream through an ordered consumer, as a consumer
// on another machine would.
func streamEventIDs(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total := streamCount(js)
	c, err := js.OrderedConsumer(ctx, relay.StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for uint64(len(ids)) < total {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			ids = append(ids, m.Headers().Get(jetstream.MsgIDHeader))
		}
		if batch.Error() != nil {
			t.Fatal(batch.Error())
		}
	}
	return ids
}

// TestJobsMoveToAnotherNodeWhenTheirHolderDies runs three nodes, kills the one
// that holds the event relay with SIGKILL, and sees every job held by a living
// node within the lease's bound; /metrics tells who holds what.
func TestJobsMoveToAnotherNodeWhenTheirHolderDies(t *testing.T) {
	url := dbtest.MustURL(t)
	pool := mustPool(t, url)
	natsServer := natstest.MustStart(t)
	nodes := map[string]*serveProcess{}
	for _, name := range []string{"n1", "n2", "n3"} {
		nodes[name] = MustServeProcess(t, name, nodeVars(url, natsServer.ClientURL()))
	}
	all := []string{jobAnchors, jobAuditPartitions, jobBlobSweep, jobEventRelay, jobLeaseExpiry, jobRentSchedule}
	holders := func() map[string]string { return jobHolders(t, pool) }
	waitHeld := func(alive func(string) bool, within time.Duration) (map[string]string, time.Duration) {
		start := time.Now()
		for {
			h := holders()
			ok := len(h) == len(all)
			for _, node := range h {
				ok = ok && alive(node)
			}
			if ok {
				return h, time.Since(start)
			}
			if time.Since(start) > within {
				t.Fatalf("after %s the jobs are held as %v", within, h)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	before, _ := waitHeld(func(string) bool { return true }, time.Minute)
	victim := before[jobEventRelay]
	nodes[victim].Kill(t)
	killed := time.Now()
	// The bound: the lease (2 s) plus one renewal interval of the others
	// (2/3 s), plus slack for a loaded machine.
	after, took := waitHeld(func(n string) bool { return n != victim }, 2*time.Second+700*time.Millisecond+3*time.Second)
	t.Logf("%s held %v; %s after the kill the jobs are held as %v", victim, before, time.Since(killed).Round(time.Millisecond), after)
	if took > 5*time.Second {
		t.Errorf("takeover took %s", took)
	}

	var survivor *serveProcess
	for name, p := range nodes {
		if name != victim {
			survivor = p
		}
	}
	token := mustLoginAt(t, survivor.addr)
	req, _ := http.NewRequest(http.MethodGet, "http://"+survivor.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, job := range all {
		line := fmt.Sprintf(`assetanchor_job_lease_holder{job=%q,node=%q} 1`, job, after[job])
		if !strings.Contains(string(body), line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if line := fmt.Sprintf(`assetanchor_node_info{node=%q} 1`, survivor.node); !strings.Contains(string(body), line) {
		t.Errorf("/metrics lacks %s", line)
	}
}

// jobHolders is who holds each job's lease now (job_leases: one row per job).
func jobHolders(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT job, holder FROM job_leases WHERE expires_at > now()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	h := map[string]string{}
	for rows.Next() {
		var job, node string
		if err := rows.Scan(&job, &node); err != nil {
			t.Fatal(err)
		}
		h[job] = node
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return h
}

func mustLoginAt(t *testing.T, addr string) string {
	t.Helper()
	s := &runningServe{addr: addr}
	return s.MustLogin(t)
}
