package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
)

// embeddedEnv is the environment of the embedded default: no DATABASE_URL, a
// private data dir, port 0, a given administrator and master key.
func embeddedEnv(t *testing.T) (env func(string) string, dataDir string) {
	t.Helper()
	if _, err := pgcluster.BinDir(); err != nil {
		t.Skip(err)
	}
	dataDir = t.TempDir()
	vars := map[string]string{
		"ASSETANCHOR_DATA_DIR":       dataDir,
		"ASSETANCHOR_ADDR":           "127.0.0.1:0",
		"ASSETANCHOR_ADMIN_EMAIL":    "ops@example.com",
		"ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	}
	return func(key string) string { return vars[key] }, dataDir
}

// syncBuffer is a buffer that serve writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runningServe is `assetanchor serve` run by the test.
type runningServe struct {
	addr           string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

var servingLine = regexp.MustCompile(`serving on http://(\S+) `)

// MustServe runs `assetanchor serve` (through run) until the test ends or Stop,
// and waits until it listens.
func MustServe(t testing.TB, env func(string) string) *runningServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServe{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"serve"}, env, s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if m := servingLine.FindStringSubmatch(s.stdout.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-s.done:
			s.done <- err
			t.Fatalf("serve ended before listening: %v\nstderr:\n%s", err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not listen\nstderr:\n%s", s.stderr.String())
		}
	}
}

// Stop ends serve as SIGTERM does and returns what it returned.
func (s *runningServe) Stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("serve did not stop")
		return nil
	}
}

// MustLogin logs the administrator in and returns the token.
func (s *runningServe) MustLogin(t testing.TB) string {
	t.Helper()
	resp, err := http.Post("http://"+s.addr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"ops@example.com","password":"a long enough password"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK || body.Token == "" {
		t.Fatalf("login = %d (%v)", resp.StatusCode, err)
	}
	return body.Token
}

// get requests path with the token and returns the answer, body read.
func (s *runningServe) get(t *testing.T, path, token string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	if _, err := body.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return resp, body.String()
}

// MustServeAnswers fails unless serve is ready and answers an API request.
func (s *runningServe) MustServeAnswers(t *testing.T, when string) {
	t.Helper()
	if resp, body := s.get(t, "/readyz", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: /readyz = %d %s, want 200", when, resp.StatusCode, body)
	}
	token := s.MustLogin(t)
	if resp, body := s.get(t, "/api/v1/properties", token); resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: GET /api/v1/properties = %d %s, want 200", when, resp.StatusCode, body)
	}
}

// mustPostmaster returns the pid of the running server of the embedded cluster.
func mustPostmaster(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "postmaster.pid"))
	if err != nil {
		t.Fatalf("no server runs on the embedded cluster: %v", err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// mustBeGone fails unless the embedded cluster's server pid has stopped.
func mustBeGone(t *testing.T, dataDir string, pid int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("postmaster.pid after the last process ended: %v, want none", err)
	}
	// The postmaster removes its pid file just before it exits.
	for deadline := time.Now().Add(10 * time.Second); processRuns(pid); {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still runs after the last process ended", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processRuns reports whether pid runs (a zombie waiting for its reaper does not).
func processRuns(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	rest := string(b[bytes.LastIndexByte(b, ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// On the embedded default, operator commands run beside serve attach to the
// cluster serve runs: serve keeps answering, and its cluster stops with it.
func TestCommandsBesideServeShareItsCluster(t *testing.T) {
	env, dataDir := embeddedEnv(t)
	s := MustServe(t, env)
	s.MustServeAnswers(t, "serve alone")
	pid := mustPostmaster(t, dataDir)

	for _, args := range [][]string{{"projections", "status"}, {"audit", "verify"}, {"projections", "rebuild", "--all"}} {
		_, stderr := MustRun(t, env, args...)
		if !strings.Contains(stderr, "already running for another process") {
			t.Errorf("assetanchor %s did not attach to serve's cluster; stderr:\n%s", strings.Join(args, " "), stderr)
		}
		s.MustServeAnswers(t, "after assetanchor "+strings.Join(args, " "))
		if got := mustPostmaster(t, dataDir); got != pid {
			t.Fatalf("assetanchor %s restarted the server (postmaster %d, was %d)", strings.Join(args, " "), got, pid)
		}
	}

	if err := s.Stop(t); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
	mustBeGone(t, dataDir, pid)

	// serve's stream is JSON, the cluster manager's lines included.
	var fromCluster int
	for _, line := range strings.Split(strings.TrimSpace(s.stderr.String()), "\n") {
		var record map[string]any
		if err := json.Unmarshal([]byte(line), &record); err != nil {
			t.Errorf("serve wrote a line that is not JSON: %q", line)
			continue
		}
		if record["component"] == "postgres" {
			fromCluster++
		}
	}
	if fromCluster < 2 {
		t.Errorf("serve logged %d JSON lines of the cluster manager, want its start and stop:\n%s", fromCluster, s.stderr.String())
	}
}

// Operator commands run at the same time share the embedded cluster: none stops
// it under another, and the last one stops it.
func TestConcurrentCommandsShareTheEmbeddedCluster(t *testing.T) {
	env, dataDir := embeddedEnv(t)
	MustRun(t, env, "users", "create-admin", "--email", "root@example.com", "--password", "a long enough password")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 4 {
		wg.Go(func() {
			for _, args := range [][]string{{"projections", "status"}, {"audit", "verify"}} {
				if stdout, stderr, err := runTool(env, args...); err != nil {
					errs <- fmt.Errorf("caller %d: assetanchor %s: %w\nstdout:\n%s\nstderr:\n%s",
						i, strings.Join(args, " "), err, stdout, stderr)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "postgres", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid after every command ended: %v, want none", err)
	}
}

// A database that cannot be reached is a 503 with Retry-After, never a 500.
func TestUnreachableDatabaseIs503(t *testing.T) {
	env, _ := embeddedEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{Dir: filepath.Join(t.TempDir(), "postgres")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Stop(context.Background()) })
	withURL := func(key string) string {
		if key == "DATABASE_URL" {
			return cluster.URL()
		}
		return env(key)
	}
	s := MustServe(t, withURL)
	token := s.MustLogin(t)
	s.MustServeAnswers(t, "with the database up")

	if err := cluster.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// The first requests meet pooled connections the shutdown broke, the later
	// ones a refused connect: each is a 503.
	for i := range 4 {
		for _, path := range []string{"/api/v1/properties", "/api/v1/me"} {
			resp, body := s.get(t, path, token)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
				resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("request %d: GET %s without a database = %d, Retry-After %q, %s %s; want a 503 problem with Retry-After",
					i, path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"), body)
			}
		}
	}
	if resp, _ := s.get(t, "/readyz", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz without a database = %d, want 503", resp.StatusCode)
	}
	_ = s.Stop(t) // its projector's last checkpoint cannot be written: an error is expected
}
