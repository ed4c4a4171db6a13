package http

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// floodServer is the real binary, serving on a test database in its own process.
type floodServer struct {
	cmd  *exec.Cmd
	base string // http://host:port
	pid  string
}

// MustServeBinary builds ./cmd/assetanchor (without the race detector, so that
// its memory is the program's own) and starts `assetanchor serve` on a fresh
// database; it stops at the end of the test.
func MustServeBinary(tb testing.TB, env map[string]string) *floodServer {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "assetanchor")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	build := exec.Command(goTool, "build", "-o", bin, "github.com/assetanchor/assetanchor/cmd/assetanchor")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("build the binary: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"DATABASE_URL=" + dbtest.MustURL(tb), "ASSETANCHOR_ADDR=127.0.0.1:0",
		"ASSETANCHOR_DATA_DIR=" + filepath.Join(dir, "data"), "HOME=" + dir}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("serve after SIGTERM: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			tb.Errorf("serve did not stop within 30 s of SIGTERM")
		}
	})
	addr := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if _, rest, ok := strings.Cut(scanner.Text(), "serving on http://"); ok {
				addr <- strings.Fields(rest)[0]
			}
		}
	}()
	select {
	case a := <-addr:
		return &floodServer{cmd: cmd, base: "http://" + a, pid: strconv.Itoa(cmd.Process.Pid)}
	case <-time.After(2 * time.Minute):
		tb.Fatal("serve did not start listening")
		return nil
	}
}

// clientFrom is an HTTP client whose connections come from ip, a loopback
// address: the server sees each flooding client as its own peer, as a
// distributed flood would be, so the per-IP rate limit lets every login reach
// the password check.
func clientFrom(ip net.IP) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	return &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{DialContext: dialer.DialContext}}
}

func postJSON(client *http.Client, url, token, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// 200 bad logins at once (half for unknown emails, half wrong passwords of real
// accounts, each from its own address) leave the server's resident memory under
// 300 MiB: argon2id takes 19 MiB a hash, and the hashing semaphore lets only a
// few run at once. Meanwhile the server keeps answering other requests, every bad
// login gets its 401, and a good login afterwards succeeds.
func TestLoginFloodKeepsServerMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc and binds 127.0.0.0/8 addresses")
	}
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	adminEmail, adminPassword := "flood-admin@example.com", "flood admin password"
	srv := MustServeBinary(t, map[string]string{
		"ASSETANCHOR_MASTER_KEY":     base64.StdEncoding.EncodeToString(master),
		"ASSETANCHOR_ADMIN_EMAIL":    adminEmail,
		"ASSETANCHOR_ADMIN_PASSWORD": adminPassword,
	})
	local := clientFrom(net.IPv4(127, 0, 0, 1))
	token := MustBinaryLogin(t, local, srv, adminEmail, adminPassword)
	const accounts = 10 // the per-email limit lets 10 attempts through at once
	emails := make([]string, accounts)
	for i := range emails {
		emails[i] = fmt.Sprintf("flooded-%d@example.com", i)
		status, err := postJSON(local, srv.base+"/api/v1/users", token,
			fmt.Sprintf(`{"email": %q, "password": "the real password of %d", "role": "user"}`, emails[i], i))
		if err != nil || status != http.StatusCreated {
			t.Fatalf("create account %d: %d, %v", i, status, err)
		}
	}
	idle := MustProcStatus(t, srv.pid, "VmRSS")

	var flooding atomic.Bool
	flooding.Store(true)
	var served, unhealthy atomic.Int64
	var sampler sync.WaitGroup
	sampler.Go(func() {
		me, _ := http.NewRequest(http.MethodGet, srv.base+"/api/v1/me", nil)
		me.Header.Set("Authorization", "Bearer "+token)
		pace := time.NewTicker(20 * time.Millisecond) // a steady trickle of ordinary requests
		defer pace.Stop()
		for ; flooding.Load(); <-pace.C {
			resp, err := local.Do(me)
			if err != nil || resp.StatusCode != http.StatusOK {
				unhealthy.Add(1)
			} else {
				served.Add(1)
			}
			if resp != nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	})

	statuses := make([]int, floodLogins)
	errs := make([]error, floodLogins)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range floodLogins {
		client := clientFrom(net.IPv4(127, 0, 1, byte(1+i)))
		email, password := fmt.Sprintf("nobody-%d@example.com", i), "whatever it is"
		if i%2 == 1 {
			email, password = emails[i/2%accounts], "not the real password"
		}
		wg.Go(func() {
			<-start
			statuses[i], errs[i] = postJSON(client, srv.base+"/api/v1/auth/login", "",
				fmt.Sprintf(`{"email": %q, "password": %q}`, email, password))
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	flooding.Store(false)
	sampler.Wait()

	peak := MustProcStatus(t, srv.pid, "VmHWM")
	t.Logf("%d bad logins in %v; server RSS idle %d MiB, peak %d MiB; %d other requests served meanwhile",
		floodLogins, took.Round(time.Millisecond), idle>>20, peak>>20, served.Load())
	for i := range statuses {
		if errs[i] != nil || statuses[i] != http.StatusUnauthorized {
			t.Errorf("bad login %d: status %d, %v; want 401", i, statuses[i], errs[i])
		}
	}
	if peak >= maxFloodRSS {
		t.Errorf("peak server RSS = %d MiB, want under %d MiB", peak>>20, maxFloodRSS>>20)
	}
	if served.Load() == 0 || unhealthy.Load() != 0 {
		t.Errorf("during the flood the server answered %d requests and failed %d; want it to keep serving",
			served.Load(), unhealthy.Load())
	}
	MustBinaryLogin(t, local, srv, adminEmail, adminPassword)
}

// MustBinaryLogin logs in to the binary and returns the access token.
func MustBinaryLogin(tb testing.TB, client *http.Client, srv *floodServer, email, password string) string {
	tb.Helper()
	body := fmt.Sprintf(`{"email": %q, "password": %q}`, email, password)
	resp, err := client.Post(srv.base+"/api/v1/auth/login", "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("login: status %d: %s", resp.StatusCode, b)
	}
	var l loginDoc
	MustDecode(tb, resp, &l)
	return l.Token
}
