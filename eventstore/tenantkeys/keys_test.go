package tenantkeys_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// MustKeyring is a keyring with a fresh random master key.
func MustKeyring(tb testing.TB) *tenantkeys.Keyring {
	tb.Helper()
	master, err := tenantkeys.NewMasterKey()
	if err != nil {
		tb.Fatal(err)
	}
	k, err := tenantkeys.NewKeyring(master)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// MustDataKey creates owner's data key in store.
func MustDataKey(tb testing.TB, ctx context.Context, k *tenantkeys.Keyring, store eventstore.Store, owner uuid.UUID) *tenantkeys.DataKey {
	tb.Helper()
	key, err := k.Create(ctx, store, owner)
	if err != nil {
		tb.Fatalf("create data key of %s: %v", owner, err)
	}
	return key
}

func personal(name string) bool {
	return name == "first_name" || name == "email" || name == "credit_score" || name == "phone"
}

func TestNewKeyringRefusesShortKeys(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := tenantkeys.NewKeyring(make([]byte, n)); err == nil {
			t.Errorf("NewKeyring(%d bytes) = nil error, want a refusal", n)
		}
	}
}

// Sealing moves each personal member, at any depth, into the sealed member and
// leaves the rest in clear; opening puts every value back.
func TestSealAndOpenPayload(t *testing.T) {
	ctx := t.Context()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	owner := uuid.New()
	key := MustDataKey(t, ctx, MustKeyring(t), store, owner)
	payload := json.RawMessage(`{"tenant_id":"` + owner.String() + `","contact":{"first_name":"Zephyrine","email":"z@example.org","phone":null},` +
		`"screening":{"credit_score":731,"note":"kept"},"registered_by":"someone"}`)

	sealed, err := key.Seal(payload, personal)
	if err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{"Zephyrine", "z@example.org", "731"} {
		if bytes.Contains(sealed, []byte(clear)) {
			t.Errorf("sealed payload holds %q in clear: %s", clear, sealed)
		}
	}
	var shape struct {
		TenantID  string            `json:"tenant_id"`
		Contact   map[string]any    `json:"contact"`
		Screening map[string]any    `json:"screening"`
		Sealed    map[string]string `json:"sealed"`
	}
	if err := json.Unmarshal(sealed, &shape); err != nil {
		t.Fatal(err)
	}
	if shape.TenantID != owner.String() || shape.Screening["note"] != "kept" {
		t.Errorf("sealed payload lost its clear members: %s", sealed)
	}
	if _, ok := shape.Contact["phone"]; !ok || len(shape.Contact) != 1 {
		t.Errorf("contact = %v, want only the null phone left in it", shape.Contact)
	}
	var paths []string
	for path, value := range shape.Sealed {
		paths = append(paths, path)
		if !strings.HasPrefix(value, "v1:") {
			t.Errorf("sealed %s = %q, want a v1: value", path, value)
		}
	}
	if got, want := strings.Join(slices.Sorted(slices.Values(paths)), ","), "contact.email,contact.first_name,screening.credit_score"; got != want {
		t.Errorf("sealed paths = %s, want %s", got, want)
	}
	if !tenantkeys.Sealed(sealed) || tenantkeys.Sealed(payload) {
		t.Errorf("Sealed() = %v for the sealed payload, %v for the clear one; want true, false",
			tenantkeys.Sealed(sealed), tenantkeys.Sealed(payload))
	}

	opened, err := key.Open(sealed)
	if err != nil {
		t.Fatal(err)
	}
	var got, want map[string]any
	if err := json.Unmarshal(opened, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	delete(got, tenantkeys.SealedKey) // opening keeps it, for projections that store a ciphertext
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("opened = %s, want %s", g, w)
	}

	nothing := json.RawMessage(`{"contact":{"last_name":"x"}}`)
	if same, err := key.Seal(nothing, personal); err != nil || !bytes.Equal(same, nothing) {
		t.Errorf("sealing a payload without personal members = %s, %v; want it unchanged", same, err)
	}
}

// A sealed value opens only with its owner's key, in its own field, untouched.
func TestSealedFieldIsBoundToOwnerFieldAndContent(t *testing.T) {
	ctx := t.Context()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	keyring := MustKeyring(t)
	alice, bob := uuid.New(), uuid.New()
	aliceKey := MustDataKey(t, ctx, keyring, store, alice)
	bobKey := MustDataKey(t, ctx, keyring, store, bob)
	sealed, err := aliceKey.SealField("email", json.RawMessage(`"alice@example.org"`))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := aliceKey.OpenField("email", sealed); err != nil || string(got) != `"alice@example.org"` {
		t.Fatalf("OpenField = %s, %v; want the email", got, err)
	}
	tampered := []byte(sealed)
	tampered[len(tampered)-2] ^= 'A' ^ 'B'
	cases := map[string]func() error{
		"another field":   func() error { _, err := aliceKey.OpenField("first_name", sealed); return err },
		"another owner":   func() error { _, err := bobKey.OpenField("email", sealed); return err },
		"tampered":        func() error { _, err := aliceKey.OpenField("email", string(tampered)); return err },
		"not sealed":      func() error { _, err := aliceKey.OpenField("email", "alice@example.org"); return err },
		"truncated value": func() error { _, err := aliceKey.OpenField("email", sealed[:8]); return err },
	}
	for name, open := range cases {
		if err := open(); err == nil {
			t.Errorf("%s: opened, want a refusal", name)
		}
	}
}

// Keys are created once, found again with the same master key, refused under
// another, and gone for good once shredded.
func TestDataKeyLifecycle(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	keyring := MustKeyring(t)
	owner := uuid.New()
	key := MustDataKey(t, ctx, keyring, store, owner)
	sealed, err := key.SealField("phone", json.RawMessage(`"+1 555 0100"`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Create(ctx, store, owner); !errors.Is(err, tenantkeys.ErrKeyExists) {
		t.Errorf("second Create = %v, want ErrKeyExists", err)
	}
	again, err := keyring.Key(ctx, store, owner)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := again.OpenField("phone", sealed); err != nil || string(got) != `"+1 555 0100"` {
		t.Errorf("the key found again opens %s, %v; want the phone", got, err)
	}
	var masterKeyID string
	if err := pool.QueryRow(ctx, `SELECT master_key_id FROM tenant_keys WHERE tenant_id = $1`, owner).Scan(&masterKeyID); err != nil {
		t.Fatal(err)
	}
	if masterKeyID != keyring.MasterKeyID() {
		t.Errorf("master_key_id = %s, want %s", masterKeyID, keyring.MasterKeyID())
	}
	if _, err := MustKeyring(t).Key(ctx, store, owner); !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
		t.Errorf("Key under another master key = %v, want ErrWrongMasterKey", err)
	}
	if err := store.ShredDataKey(ctx, owner); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.Key(ctx, store, owner); !errors.Is(err, tenantkeys.ErrKeyShredded) {
		t.Errorf("Key after shredding = %v, want ErrKeyShredded", err)
	}
	if err := store.ShredDataKey(ctx, owner); err != nil {
		t.Errorf("shredding twice = %v, want nil", err)
	}
}

// Shredding forgets the stored idempotent answers that mention the owner, and
// only those.
func TestShredForgetsStoredAnswers(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	owner := uuid.New()
	MustDataKey(t, ctx, MustKeyring(t), store, owner)
	user := uuid.New()
	for key, body := range map[string]string{
		"mentions": `{"id":"` + owner.String() + `","first_name":"Zephyrine"}`,
		"other":    `{"id":"` + uuid.NewString() + `","first_name":"Someone"}`,
	} {
		if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
			VALUES ($1, $2, '\x00', 201, $3)`, user, key, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES ($1, 'in-flight', '\x00')`, user); err != nil {
		t.Fatal(err)
	}
	if err := store.ShredDataKey(ctx, owner); err != nil {
		t.Fatal(err)
	}
	var left []string
	rows, err := pool.Query(ctx, `SELECT key FROM idempotency_keys ORDER BY key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		left = append(left, k)
	}
	if got, want := strings.Join(left, ","), "in-flight,other"; got != want {
		t.Errorf("idempotency keys left = %s, want %s", got, want)
	}
}

// A shredding rolled back with its transaction leaves the key in place.
func TestShredIsTransactional(t *testing.T) {
	ctx := t.Context()
	store := eventstore.NewPostgresStore(dbtest.MustPool(t))
	keyring := MustKeyring(t)
	owner := uuid.New()
	MustDataKey(t, ctx, keyring, store, owner)
	boom := errors.New("boom")
	err := store.Atomically(ctx, func(tx eventstore.Store) error {
		if err := tx.ShredDataKey(ctx, owner); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Atomically = %v, want boom", err)
	}
	if _, err := keyring.Key(ctx, store, owner); err != nil {
		t.Errorf("Key after a rolled-back shred = %v, want the key", err)
	}
}

// Rotation rewraps every key under the new master key in one transaction: the
// new key opens what the old one sealed, the old key opens nothing any more, and
// a rotation from the wrong key changes nothing.
func TestRotateMasterKey(t *testing.T) {
	ctx := t.Context()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	oldKeyring, newKeyring := MustKeyring(t), MustKeyring(t)
	owners := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	sealed := map[uuid.UUID]string{}
	for _, owner := range owners {
		key := MustDataKey(t, ctx, oldKeyring, store, owner)
		s, err := key.SealField("email", json.RawMessage(`"`+owner.String()+`@example.org"`))
		if err != nil {
			t.Fatal(err)
		}
		sealed[owner] = s
	}
	snapshot := func() string {
		var s string
		if err := pool.QueryRow(ctx, `SELECT string_agg(tenant_id::text || encode(wrapped_key, 'hex') || master_key_id, ',' ORDER BY tenant_id)
			FROM tenant_keys`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	before := snapshot()
	if _, err := eventstore.RotateMasterKey(ctx, pool, MustKeyring(t), newKeyring); !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
		t.Errorf("rotation from a wrong key = %v, want ErrWrongMasterKey", err)
	}
	if got := snapshot(); got != before {
		t.Errorf("a refused rotation changed the keys:\n got  %s\n want %s", got, before)
	}

	n, err := eventstore.RotateMasterKey(ctx, pool, oldKeyring, newKeyring)
	if err != nil {
		t.Fatal(err)
	}
	if n != len(owners) {
		t.Errorf("rotated %d keys, want %d", n, len(owners))
	}
	ids, err := eventstore.MasterKeyIDs(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != newKeyring.MasterKeyID() {
		t.Errorf("master key ids after rotation = %v, want only %s", ids, newKeyring.MasterKeyID())
	}
	for _, owner := range owners {
		key, err := newKeyring.Key(ctx, store, owner)
		if err != nil {
			t.Fatalf("new keyring, key of %s: %v", owner, err)
		}
		if got, err := key.OpenField("email", sealed[owner]); err != nil || string(got) != `"`+owner.String()+`@example.org"` {
			t.Errorf("after rotation %s opens %s, %v; want its email", owner, got, err)
		}
		if _, err := oldKeyring.Key(ctx, store, owner); !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
			t.Errorf("old keyring, key of %s after rotation = %v, want ErrWrongMasterKey", owner, err)
		}
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
