package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// keysWorld is a database with sealed tenants, and the environment to reach it.
type keysWorld struct {
	url     string
	dataDir string
	pool    *pgxpool.Pool
	tenants []uuid.UUID // registered, not erased
	erased  uuid.UUID
}

func (w keysWorld) env(extra map[string]string) func(string) string {
	m := map[string]string{"DATABASE_URL": w.url, "ASSETANCHOR_DATA_DIR": w.dataDir}
	for k, v := range extra {
		m[k] = v
	}
	return func(key string) string { return m[key] }
}

func randomKey(tb testing.TB) []byte {
	tb.Helper()
	key := make([]byte, tenantkeys.MasterKeySize)
	if _, err := rand.Read(key); err != nil {
		tb.Fatal(err)
	}
	return key
}

// MustKeysWorld registers two tenants and erases a third under keyring.
func MustKeysWorld(tb testing.TB, keyring func(pool *pgxpool.Pool) *tenantkeys.Keyring, dataDir string) keysWorld {
	tb.Helper()
	w := keysWorld{url: dbtest.MustURL(tb), dataDir: dataDir}
	pool, err := pgxpool.New(context.Background(), w.url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	w.pool = pool
	k := keyring(pool)
	h, err := commands.NewTenants(eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: k}),
		readmodel.NewQueries(pool), k)
	if err != nil {
		tb.Fatal(err)
	}
	actor := MustAccount(tb, eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{}), pool, domain.RoleAdmin)
	for i := range 3 {
		id := uuid.New()
		if _, err := h.Register(context.Background(), commands.RegisterTenant{Actor: actor, ID: &id,
			FirstName: "Tenant", LastName: id.String()[:8], Email: "t-" + id.String()[:8] + "@example.org"}); err != nil {
			tb.Fatal(err)
		}
		if i == 2 {
			if _, err := h.Erase(context.Background(), commands.EraseTenant{Target: commands.Target{Actor: actor, ID: id}}, nil); err != nil {
				tb.Fatal(err)
			}
			w.erased = id
			continue
		}
		w.tenants = append(w.tenants, id)
	}
	return w
}

// MustOpenTenants fails unless keyring opens every live tenant's last name.
func (w keysWorld) MustOpenTenants(tb testing.TB, keyring *tenantkeys.Keyring) {
	tb.Helper()
	store := eventstore.NewPostgresStore(w.pool)
	for _, id := range w.tenants {
		events, err := store.ReadStream(context.Background(), eventstore.StreamID{Type: domain.TenantStreamType, ID: id}, time.Time{})
		if err != nil {
			tb.Fatal(err)
		}
		opened, err := commands.OpenTenantEvents(context.Background(), keyring, store, events)
		if err != nil {
			tb.Fatalf("open tenant %s: %v", id, err)
		}
		if !strings.Contains(string(opened[0].Data), `"last_name":"`+id.String()[:8]+`"`) {
			tb.Errorf("tenant %s opens to %s, want its last name", id, opened[0].Data)
		}
	}
}

func keyringOf(tb testing.TB, key []byte) *tenantkeys.Keyring {
	tb.Helper()
	k, err := tenantkeys.NewKeyring(key)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// The first openKeyring that may generate writes master.key with mode 0600 and
// reuses it afterwards; one that may not generate finds no key and makes none.
func TestMasterKeyIsGeneratedOnceIntoTheDataDir(t *testing.T) {
	w := MustKeysWorld(t, func(*pgxpool.Pool) *tenantkeys.Keyring { return keyringOf(t, randomKey(t)) }, t.TempDir())
	ctx := context.Background()
	cfg := loadConfig(w.env(nil))
	path := filepath.Join(w.dataDir, masterKeyFile)

	// Operator commands that seal nothing run without a key, and make none.
	if err := run(ctx, []string{"audit", "verify"}, w.env(nil), io.Discard, io.Discard); err != nil {
		t.Errorf("audit verify without a master key: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an operator command generated a key file: %v", err)
	}
	// The world's tenants were sealed under a key that is not configured: no new
	// key may be generated over them.
	if _, err := openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "set ASSETANCHOR_MASTER_KEY or run where the data dir holds master.key") {
		t.Errorf("openKeyring over keys without a master key = %v, want a refusal", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file was generated over existing tenant keys: %v", err)
	}
	if _, err := w.pool.Exec(ctx, `DELETE FROM tenant_keys`); err != nil {
		t.Fatal(err)
	}
	none, err := openKeyring(ctx, cfg, w.pool, false, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || none != nil {
		t.Fatalf("openKeyring without a key, not generating = %v, %v; want nil, nil", none, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file appeared without generating: %v", err)
	}
	var stderr bytes.Buffer
	first, err := openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewJSONHandler(&stderr, nil)))
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode = %v, want 0600", info.Mode().Perm())
	}
	if !strings.Contains(stderr.String(), "generated the master key") {
		t.Errorf("generating said %q, want a notice", stderr.String())
	}
	again, err := openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || again.MasterKeyID() != first.MasterKeyID() {
		t.Errorf("second openKeyring = %v, %v; want the same key %s", again, err, first.MasterKeyID())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("openKeyring with a world-readable key file = %v, want a refusal", err)
	}
}

// keys rotate with the key file: every live tenant key is rewrapped, master.key
// holds the new key afterwards, the new key opens every tenant and the old one
// none, and a server with the old key refuses to start.
func TestKeysRotateTheKeyFile(t *testing.T) {
	dataDir := t.TempDir()
	old := randomKey(t)
	if err := writeKeyFile(filepath.Join(dataDir, masterKeyFile), old); err != nil {
		t.Fatal(err)
	}
	w := MustKeysWorld(t, func(*pgxpool.Pool) *tenantkeys.Keyring { return keyringOf(t, old) }, dataDir)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"keys", "rotate"}, w.env(nil), &out, io.Discard); err != nil {
		t.Fatalf("keys rotate: %v (%s)", err, out.String())
	}
	if !strings.Contains(out.String(), "rewrapped 2 tenant data key(s)") {
		t.Errorf("keys rotate said %q, want 2 keys rewrapped (the erased tenant has none)", out.String())
	}
	next, err := readKeyFile(filepath.Join(dataDir, masterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(next, old) {
		t.Fatal("master.key still holds the old key")
	}
	if _, err := os.Stat(filepath.Join(dataDir, nextMasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("master.key.next is left behind: %v", err)
	}
	w.MustOpenTenants(t, keyringOf(t, next))
	if _, err := keyringOf(t, old).Key(context.Background(), eventstore.NewPostgresStore(w.pool), w.tenants[0]); !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
		t.Errorf("the old key after rotation = %v, want ErrWrongMasterKey", err)
	}
	started, err := openKeyring(context.Background(), loadConfig(w.env(nil)), w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || started.MasterKeyID() != tenantkeys.MasterKeyID(next) {
		t.Errorf("starting after rotation = %v, %v; want the new key", started, err)
	}
	oldEnv := w.env(map[string]string{"ASSETANCHOR_MASTER_KEY": base64.StdEncoding.EncodeToString(old)})
	if _, err := openKeyring(context.Background(), loadConfig(oldEnv), w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("starting with the old key after rotation succeeded, want a refusal")
	}
}

// keys rotate with ASSETANCHOR_MASTER_KEY: the given new key, or a generated
// one printed once, takes over; the variable's old value opens nothing.
func TestKeysRotateTheEnvironmentKey(t *testing.T) {
	old := randomKey(t)
	w := MustKeysWorld(t, func(*pgxpool.Pool) *tenantkeys.Keyring { return keyringOf(t, old) }, t.TempDir())
	given := randomKey(t)
	oldEnv := map[string]string{"ASSETANCHOR_MASTER_KEY": base64.StdEncoding.EncodeToString(old)}
	var out bytes.Buffer
	err := run(context.Background(), []string{"keys", "rotate", "--new-key", base64.StdEncoding.EncodeToString(given)},
		w.env(oldEnv), &out, io.Discard)
	if err != nil {
		t.Fatalf("keys rotate --new-key: %v", err)
	}
	if strings.Contains(out.String(), base64.StdEncoding.EncodeToString(given)) {
		t.Errorf("a given key was printed: %s", out.String())
	}
	if _, err := os.Stat(filepath.Join(w.dataDir, masterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a key file was written though the key comes from the environment: %v", err)
	}
	w.MustOpenTenants(t, keyringOf(t, given))

	// Without --new-key: the generated key is printed once, on the last line.
	givenEnv := map[string]string{"ASSETANCHOR_MASTER_KEY": base64.StdEncoding.EncodeToString(given)}
	out.Reset()
	if err := run(context.Background(), []string{"keys", "rotate"}, w.env(givenEnv), &out, io.Discard); err != nil {
		t.Fatalf("keys rotate: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	generated, err := decodeMasterKey(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("the last line of %q is not the new key: %v", out.String(), err)
	}
	w.MustOpenTenants(t, keyringOf(t, generated))
	for name, env := range map[string]map[string]string{"first": oldEnv, "second": givenEnv} {
		if _, err := openKeyring(context.Background(), loadConfig(w.env(env)), w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
			t.Errorf("starting with the %s, rotated-away key succeeded, want a refusal", name)
		}
	}
}

func TestKeysRotateRefusals(t *testing.T) {
	for _, args := range [][]string{{"keys"}, {"keys", "spin"}, {"keys", "rotate", "extra"}, {"keys", "rotate", "--bogus"}} {
		var usage usageError
		if err := run(context.Background(), args, func(string) string { return "" }, io.Discard, io.Discard); !errors.As(err, &usage) {
			t.Errorf("run %q = %v, want a usage error", args, err)
		}
	}
	old := randomKey(t)
	w := MustKeysWorld(t, func(*pgxpool.Pool) *tenantkeys.Keyring { return keyringOf(t, old) }, t.TempDir())
	snapshot := func() string {
		var s string
		if err := w.pool.QueryRow(context.Background(), `SELECT string_agg(encode(wrapped_key, 'hex'), ',' ORDER BY tenant_id)
			FROM tenant_keys`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := snapshot()
	oldEnv := map[string]string{"ASSETANCHOR_MASTER_KEY": base64.StdEncoding.EncodeToString(old)}
	wrongEnv := map[string]string{"ASSETANCHOR_MASTER_KEY": base64.StdEncoding.EncodeToString(randomKey(t))}
	for name, c := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"no key configured":   {nil, []string{"keys", "rotate"}},
		"the wrong old key":   {wrongEnv, []string{"keys", "rotate"}},
		"a new key too short": {oldEnv, []string{"keys", "rotate", "--new-key", base64.StdEncoding.EncodeToString(make([]byte, 16))}},
		"the same key again":  {oldEnv, []string{"keys", "rotate", "--new-key", base64.StdEncoding.EncodeToString(old)}},
	} {
		if err := run(context.Background(), c.args, w.env(c.env), io.Discard, io.Discard); err == nil {
			t.Errorf("%s: keys rotate succeeded, want a refusal", name)
		}
		if got := snapshot(); got != before {
			t.Errorf("%s: the refused rotation changed the keys", name)
		}
	}
	w.MustOpenTenants(t, keyringOf(t, old))
}

// A rotation that committed but stopped before replacing master.key is finished
// by the next start; one that never committed leaves master.key as it was.
func TestInterruptedRotationIsFinishedAtStart(t *testing.T) {
	dataDir := t.TempDir()
	old, next := randomKey(t), randomKey(t)
	if err := writeKeyFile(filepath.Join(dataDir, masterKeyFile), old); err != nil {
		t.Fatal(err)
	}
	w := MustKeysWorld(t, func(*pgxpool.Pool) *tenantkeys.Keyring { return keyringOf(t, old) }, dataDir)
	cfg := loadConfig(w.env(nil))
	ctx := context.Background()

	// Not committed: master.key.next is written, the database still has the old key.
	if err := writeKeyFile(filepath.Join(dataDir, nextMasterKeyFile), next); err != nil {
		t.Fatal(err)
	}
	k, err := openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || k.MasterKeyID() != tenantkeys.MasterKeyID(old) {
		t.Fatalf("start after an uncommitted rotation = %v, %v; want the old key", k, err)
	}

	// Committed, then interrupted before master.key was replaced.
	if _, err := eventstore.RotateMasterKey(ctx, w.pool, keyringOf(t, old), keyringOf(t, next)); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	k, err = openKeyring(ctx, cfg, w.pool, true, slog.New(slog.NewJSONHandler(&stderr, nil)))
	if err != nil || k.MasterKeyID() != tenantkeys.MasterKeyID(next) {
		t.Fatalf("start after a committed rotation = %v, %v; want the new key", k, err)
	}
	if onDisk, err := readKeyFile(filepath.Join(dataDir, masterKeyFile)); err != nil || !bytes.Equal(onDisk, next) {
		t.Errorf("master.key after finishing = %v; want the new key", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, nextMasterKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("master.key.next is left behind: %v", err)
	}
	if !strings.Contains(stderr.String(), "finished an interrupted master key rotation") {
		t.Errorf("finishing said %q, want a notice", stderr.String())
	}
	w.MustOpenTenants(t, k)
}
