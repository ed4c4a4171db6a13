package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/anchor"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// audit anchor generates the key once (0600), writes anchors and the public key
// into the data dir; audit verify --anchors passes an intact log and names the
// stream of a tampered one that plain audit verify passes.
func TestAuditAnchorAndVerifyCommands(t *testing.T) {
	url := dbtest.MustURL(t)
	env := toolEnv(t, url)
	pool := MustPoolOf(t, url)
	f := MustToolFixture(t, env, pool)
	dataDir := env("ASSETANCHOR_DATA_DIR")
	dir := filepath.Join(dataDir, "anchors")

	dbtest.MustReachHorizon(t, pool) // an anchor covers the events below it
	out, _ := MustRun(t, env, "audit", "anchor")
	if !strings.Contains(out, "anchored every stream (2)") {
		t.Errorf("audit anchor said %q, want every stream (2) anchored", out)
	}
	info, err := os.Stat(filepath.Join(dataDir, anchorKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("anchor key file: %v, %v; want it generated with mode 0600", info, err)
	}
	keyBefore, _ := os.ReadFile(filepath.Join(dataDir, anchorKeyFile))
	if out, _ := MustRun(t, env, "audit", "anchor"); !strings.Contains(out, "nothing to anchor") {
		t.Errorf("audit anchor without change said %q, want nothing to anchor", out)
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dataDir, anchorKeyFile)); !bytes.Equal(keyBefore, keyAfter) {
		t.Error("the anchor key file changed: it is generated once")
	}
	if out, _ := MustRun(t, env, "audit", "verify", "--anchors", dir); !strings.Contains(out, "holds against the 1 anchor(s)") {
		t.Errorf("audit verify --anchors said %q", out)
	}
	trusted := filepath.Join(t.TempDir(), "trusted.pub") // the auditor's own copy
	pub, err := os.ReadFile(filepath.Join(dir, anchor.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trusted, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	MustRun(t, env, "audit", "verify", "--anchors", dir, "--public-key", trusted)

	// The console's view of one stream.
	console, err := anchorVerifier(loadConfig(env), pool)
	if err != nil || console == nil {
		t.Fatalf("anchorVerifier = %v, %v", console, err)
	}
	property := eventstore.StreamID{Type: domain.PropertyStreamType, ID: f.propertyID}
	if in, err := console.Stream(context.Background(), property); err != nil || !in.OK() || in.Anchor == nil || in.Anchor.Version != 3 {
		t.Fatalf("console Stream = %+v, %v; want OK, anchored at version 3", in, err)
	}

	// The property's second version is edited and its chain recomputed in SQL.
	stream := property.String()
	for _, q := range []string{
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`UPDATE events SET payload = jsonb_set(payload, '{details,name}', '"Forged"') WHERE stream_id = '` + stream + `' AND version = 2`,
		`DO $$ DECLARE r record; h bytea := NULL; BEGIN
			FOR r IN SELECT * FROM events WHERE stream_id = '` + stream + `' ORDER BY version LOOP
				h := event_hash(h, r.event_id, r.stream_id, r.version, r.event_type, r.schema_version, r.payload, r.metadata, r.recorded_at);
				UPDATE events SET hash = h WHERE position = r.position;
			END LOOP; END $$`,
		`ALTER TABLE events ENABLE TRIGGER USER`,
	} {
		if _, err := pool.Exec(context.Background(), q); err != nil {
			t.Fatalf("tamper: %v", err)
		}
	}
	MustRun(t, env, "audit", "verify")
	if in, err := console.Stream(context.Background(), property); err != nil || in.OK() || in.Findings[0].Kind != anchor.Changed {
		t.Fatalf("console Stream of the edited property = %+v, %v; want changed", in, err)
	}
	out = MustFail(t, env, "1 stream(s) changed", "audit", "verify", "--anchors", dir, "--public-key", trusted)
	if !strings.Contains(out, "TAMPERED stream "+stream+": changed") || strings.Count(out, "TAMPERED") != 1 {
		t.Errorf("audit verify --anchors printed:\n%s\nwant one line naming %s as changed", out, stream)
	}
}

func TestAuditVerifyAnchorsTrustsOnlyItsKey(t *testing.T) {
	url := dbtest.MustURL(t)
	env := toolEnv(t, url)
	pool := MustPoolOf(t, url)
	MustToolFixture(t, env, pool)
	dir := t.TempDir()
	dbtest.MustReachHorizon(t, pool)
	MustRun(t, env, "audit", "anchor", "--out", dir)

	other, _, _ := ed25519.GenerateKey(rand.Reader)
	otherFile := filepath.Join(t.TempDir(), "other.pub")
	if err := os.WriteFile(otherFile, anchor.EncodePublicKey(other), 0o644); err != nil {
		t.Fatal(err)
	}
	// Replacing the copy beside the anchors does not make them trusted.
	if err := os.WriteFile(filepath.Join(dir, anchor.PublicKeyFile), anchor.EncodePublicKey(other), 0o644); err != nil {
		t.Fatal(err)
	}
	out := MustFail(t, env, "bad signature", "audit", "verify", "--anchors", dir, "--public-key", otherFile)
	if !strings.Contains(out, "ANCHOR anchor anchor-000000000001-") || !strings.Contains(out, "not the trusted key") {
		t.Errorf("audit verify with another key printed:\n%s", out)
	}
	MustRun(t, env, "audit", "verify", "--anchors", dir) // the configured key's public half

	// Without a configured key nor --public-key there is nothing to trust.
	bare := func(key string) string {
		if key == "ASSETANCHOR_DATA_DIR" {
			return t.TempDir()
		}
		return env(key)
	}
	MustUsageError(t, bare, "audit", "verify", "--anchors", dir)
	MustUsageError(t, env, "audit", "verify", "--public-key", otherFile)
	MustUsageError(t, env, "audit", "verify", "--anchors", dir, "--public-key", filepath.Join(dir, "missing.pub"))
}

func TestAnchorSettingsAreChecked(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"ASSETANCHOR_ANCHOR_EVERY", "hourly", "ASSETANCHOR_ANCHOR_EVERY must be a duration"},
		{"ASSETANCHOR_ANCHOR_EVERY", "-1h", "ASSETANCHOR_ANCHOR_EVERY must be a duration"},
		{"ASSETANCHOR_ANCHOR_KEY", "c2hvcnQ=", "the anchor key must be 32 bytes"},
	} {
		dir, env := MustDeadEnv(t)
		withVar := func(key string) string {
			if key == c.name {
				return c.value
			}
			return env(key)
		}
		_, _, err := runCLI(t, withVar, "serve")
		var usage usageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve with %s=%s: %v, want a usage error saying %q", c.name, c.value, err, c.want)
		}
		MustBeEmpty(t, dir, "serve with a bad "+c.name)
	}
	cfg := loadConfig(func(string) string { return "" })
	if d, err := cfg.anchorEvery(); err != nil || d != time.Hour {
		t.Errorf("default anchorEvery = %v, %v; want 1h", d, err)
	}
}

// serve anchors when its job starts and once more when it stops, so that after
// a clean stop every event is anchored.
func TestServeAnchorsOnScheduleAndShutdown(t *testing.T) {
	url := dbtest.MustURL(t)
	dataDir := t.TempDir()
	env := func(key string) string {
		return map[string]string{
			"DATABASE_URL": url, "ASSETANCHOR_DATA_DIR": dataDir, "ASSETANCHOR_ADDR": "127.0.0.1:0",
			"ASSETANCHOR_ADMIN_EMAIL": "boot@example.com", "ASSETANCHOR_ADMIN_PASSWORD": "a long enough password",
			"ASSETANCHOR_ANCHOR_EVERY": "1h",
		}[key]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, loadConfig(env), io.Discard, io.Discard, func(addr string) { addrs <- addr })
	}()
	var addr string
	select {
	case addr = <-addrs:
	case err := <-done:
		t.Fatalf("serve ended before listening: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve did not start listening")
	}
	dir := filepath.Join(dataDir, "anchors")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if names, _ := filepath.Glob(filepath.Join(dir, "anchor-*.json")); len(names) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve wrote no anchor when its job started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A sign-in appends a session event after the first anchor.
	resp, err := http.Post("http://"+addr+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"boot@example.com","password":"a long enough password"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login = %d", resp.StatusCode)
	}
	dbtest.MustReachHorizon(t, MustPoolOf(t, url)) // so the shutdown anchor covers the sign-in
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
	names, _ := filepath.Glob(filepath.Join(dir, "anchor-*.json"))
	if len(names) != 2 {
		t.Fatalf("anchor files %v, want the one at start and the one at shutdown", names)
	}
	toolEnv := func(key string) string {
		return map[string]string{"DATABASE_URL": url, "ASSETANCHOR_DATA_DIR": dataDir}[key]
	}
	if out, _ := MustRun(t, toolEnv, "audit", "anchor"); !strings.Contains(out, "nothing to anchor") {
		t.Errorf("audit anchor after serve stopped said %q: the shutdown anchor missed events", out)
	}
	MustRun(t, toolEnv, "audit", "verify", "--anchors", dir)
}
