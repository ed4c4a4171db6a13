package commands

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// personalFixture is a registration whose every personal value is distinctive,
// so that finding it anywhere is a finding.
type personalFixture struct {
	cmd    RegisterTenant
	values []string // every personal value, as text
}

func newPersonalFixture(actor Actor) personalFixture {
	id := uuid.New()
	tag := strings.ReplaceAll(id.String()[:8], "-", "")
	phone, ssn, dob, bg := "+1 555 01"+tag[:4], "8437", "1961-07-23", "cleared-"+tag
	score, income := 731, json.Number("87654.32")
	return personalFixture{
		cmd: RegisterTenant{Actor: actor, ID: &id, FirstName: "Zephyrine" + tag, LastName: "Quillfeather" + tag,
			Email: "zq-" + tag + "@example.org", Phone: &phone, SSNLastFour: &ssn, DateOfBirth: &dob,
			CreditScore: &score, Income: &income, BackgroundCheckStatus: &bg},
		values: []string{"Zephyrine" + tag, "Quillfeather" + tag, "zq-" + tag + "@example.org", phone, dob,
			"87654.32", bg},
	}
}

// MustRawPayloads reads a tenant's raw payloads straight from the events table.
func MustRawPayloads(tb testing.TB, pool *pgxpool.Pool, id uuid.UUID) []string {
	tb.Helper()
	rows, err := pool.Query(context.Background(), `SELECT payload::text FROM events WHERE stream_id = $1 ORDER BY version`,
		tenantStream(id).String())
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func sealedPaths(tb testing.TB, payload string) []string {
	tb.Helper()
	fields, err := tenantkeys.SealedFields(json.RawMessage(payload))
	if err != nil {
		tb.Fatal(err)
	}
	var paths []string
	for p := range fields {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}

// The handler seals every personal field before the store sees it, and opens
// them again when it loads the tenant: a no-op change records nothing, and a
// partial screening keeps the earlier results it could only know decrypted.
func TestTenantPersonalDataIsSealedInEvents(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	keyring := MustKeyring(t)
	h, err := NewTenants(store, readmodel.NewQueries(pool), keyring)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	f := newPersonalFixture(actor)
	id := *f.cmd.ID
	if _, err := h.Register(ctx, f.cmd); err != nil {
		t.Fatal(err)
	}

	payloads := MustRawPayloads(t, pool, id)
	if len(payloads) != 1 {
		t.Fatalf("%d events, want 1", len(payloads))
	}
	for _, v := range f.values {
		if strings.Contains(payloads[0], v) {
			t.Errorf("TenantRegistered holds %q in clear: %s", v, payloads[0])
		}
	}
	if got, want := strings.Join(sealedPaths(t, payloads[0]), ","), "contact.email,contact.first_name,contact.last_name,"+
		"contact.phone,date_of_birth,screening.background_check_status,screening.credit_score,screening.income,ssn_last_four"; got != want {
		t.Errorf("sealed paths = %s, want %s", got, want)
	}
	var clear struct {
		TenantID     uuid.UUID      `json:"tenant_id"`
		RegisteredBy uuid.UUID      `json:"registered_by"`
		Contact      map[string]any `json:"contact"`
		Screening    map[string]any `json:"screening"`
	}
	if err := json.Unmarshal([]byte(payloads[0]), &clear); err != nil {
		t.Fatal(err)
	}
	if clear.TenantID != id || clear.RegisteredBy != actor.UserID || len(clear.Contact) != 0 || len(clear.Screening) != 0 {
		t.Errorf("clear part of the payload = %+v, want the ids and empty contact and screening", clear)
	}
	var keyID string
	if err := pool.QueryRow(ctx, `SELECT master_key_id FROM tenant_keys WHERE tenant_id = $1`, id).Scan(&keyID); err != nil {
		t.Fatalf("the tenant's key row: %v", err)
	}
	if keyID != keyring.MasterKeyID() {
		t.Errorf("key wrapped by %s, want %s", keyID, keyring.MasterKeyID())
	}

	// The same first name: the loaded (opened) contact equals it, nothing to record.
	res, err := h.ChangeContact(ctx, ChangeTenantContact{Target: Target{Actor: actor, ID: id},
		Patch: TenantContactPatch{FirstName: Optional[string]{Set: true, Value: &f.cmd.FirstName}}})
	if err != nil || res.Version != 1 || res.Checkpoint != (eventstore.Checkpoint{}) {
		t.Errorf("unchanged contact = %+v, %v; want version 1 and nothing appended", res, err)
	}
	// A partial screening merges with the earlier, sealed, results.
	score := 745
	if _, err := h.RecordScreening(ctx, RecordTenantScreening{Target: Target{Actor: actor, ID: id}, CreditScore: &score}); err != nil {
		t.Fatal(err)
	}
	payloads = MustRawPayloads(t, pool, id)
	if got, want := strings.Join(sealedPaths(t, payloads[1]), ","),
		"screening.background_check_status,screening.credit_score,screening.income"; got != want {
		t.Errorf("screening sealed paths = %s, want %s", got, want)
	}
	if strings.Contains(payloads[1], "745") || strings.Contains(payloads[1], "87654.32") {
		t.Errorf("TenantScreeningRecorded holds a value in clear: %s", payloads[1])
	}
	t.Run("opened by the handler's store", func(t *testing.T) {
		events, err := h.store.ReadStream(ctx, tenantStream(id), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		de, err := domain.DecodeEvent(events[1].Type, events[1].Data)
		if err != nil {
			t.Fatal(err)
		}
		s := de.(*domain.TenantScreeningRecorded).Screening
		if s.CreditScore == nil || *s.CreditScore != 745 || s.Income == nil || s.Income.String() != "87654.32" ||
			s.BackgroundCheckStatus == nil || *s.BackgroundCheckStatus != *f.cmd.BackgroundCheckStatus {
			t.Errorf("opened screening = %+v, want 745, 87654.32 and %s", s, *f.cmd.BackgroundCheckStatus)
		}
	})
	t.Run("another master key opens nothing", func(t *testing.T) {
		other, err := NewTenants(store, readmodel.NewQueries(pool), MustKeyring(t))
		if err != nil {
			t.Fatal(err)
		}
		last := "Other"
		_, err = other.ChangeContact(ctx, ChangeTenantContact{Target: Target{Actor: actor, ID: id},
			Patch: TenantContactPatch{LastName: Optional[string]{Set: true, Value: &last}}})
		if !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
			t.Errorf("change under another master key = %v, want ErrWrongMasterKey", err)
		}
		if got := len(MustRawPayloads(t, pool, id)); got != 2 {
			t.Errorf("%d events after the refusal, want 2", got)
		}
	})
}

// Erasure shreds the key and forgets the stored answers in the transaction that
// records it; the stream then opens to no personal data at all. A user who may not
// see the tenant erases nothing.
func TestEraseShredsTheKey(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	keyring := MustKeyring(t)
	h, err := NewTenants(store, readmodel.NewQueries(pool), keyring)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	f := newPersonalFixture(actor)
	id := *f.cmd.ID
	if _, err := h.Register(ctx, f.cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash, status, body)
		VALUES ($1, 'create-tenant', '\x00', 201, $2)`, actor.UserID,
		[]byte(`{"id":"`+id.String()+`","first_name":"`+f.cmd.FirstName+`"}`)); err != nil {
		t.Fatal(err)
	}
	keyRows := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	stranger := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	if _, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: stranger, ID: id}}, nil); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("erase by a stranger = %v, want ErrNotFound", err)
	}
	stale := int64(0)
	if _, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: actor, ID: id, IfMatch: &stale}}, nil); !errors.Is(err, domain.ErrPreconditionFailed) {
		t.Errorf("erase with a stale If-Match = %v, want ErrPreconditionFailed", err)
	}
	if got := keyRows(); got != 1 {
		t.Fatalf("refused erasures left %d key rows, want 1", got)
	}
	if got := len(MustRawPayloads(t, pool, id)); got != 1 {
		t.Fatalf("refused erasures left %d events, want 1", got)
	}

	res, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: actor, ID: id}}, nil)
	if err != nil || res.Version != 2 {
		t.Fatalf("erase = %+v, %v; want version 2", res, err)
	}
	if got := keyRows(); got != 0 {
		t.Errorf("%d key rows after erasure, want 0", got)
	}
	var answers int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM idempotency_keys`).Scan(&answers); err != nil {
		t.Fatal(err)
	}
	if answers != 0 {
		t.Errorf("%d stored answers after erasure, want 0", answers)
	}
	events, err := h.store.ReadStream(ctx, tenantStream(id), time.Time{})
	if err != nil {
		t.Fatalf("reading an erased tenant: %v", err)
	}
	for _, e := range events {
		for _, v := range f.values {
			if strings.Contains(string(e.Data), v) {
				t.Errorf("%s opens to %q after erasure: %s", e.Type, v, e.Data)
			}
		}
		if tenantkeys.Sealed(e.Data) {
			t.Errorf("%s still carries its sealed member when opened without a key: %s", e.Type, e.Data)
		}
	}
	if got, want := events[len(events)-1].Type, "TenantPersonalDataErased"; got != want {
		t.Errorf("last event = %s, want %s", got, want)
	}
}

// Racing registrations of one id make one tenant, one key and one event; the
// others answer the same tenant again.
func TestConcurrentRegistrationsMakeOneKey(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	h, err := NewTenants(store, readmodel.NewQueries(pool), MustKeyring(t))
	if err != nil {
		t.Fatal(err)
	}
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	f := newPersonalFixture(actor)
	var wg sync.WaitGroup
	results := make([]Result, 8)
	errs := make([]error, 8)
	for i := range results {
		wg.Go(func() { results[i], errs[i] = h.Register(context.Background(), f.cmd) })
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		if err != nil {
			t.Errorf("registration %d: %v", i, err)
		}
		if results[i].Created {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d registrations created the tenant, want 1", created)
	}
	var keys, events int
	if err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM tenant_keys), (SELECT count(*) FROM events)`).
		Scan(&keys, &events); err != nil {
		t.Fatal(err)
	}
	if keys != 1 || events != 1 {
		t.Errorf("%d keys and %d events, want 1 and 1", keys, events)
	}
}

// A tenant whose registration was stored in clear (before sealing existed, or
// by a fixture) has no key: its first change creates one and is sealed with it;
// the old event stays as it was.
func TestTenantRegisteredInClearGetsAKeyOnItsFirstChange(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	h, err := NewTenants(store, readmodel.NewQueries(pool), MustKeyring(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	id := uuid.New()
	if _, err := store.Append(ctx, tenantStream(id), 0, toNew([]domain.Event{&domain.TenantRegistered{
		TenantID: id, RegisteredBy: actor.UserID,
		Contact: domain.TenantContact{FirstName: "Clara", LastName: "Clearwater", Email: "clara@example.org"},
	}})...); err != nil {
		t.Fatal(err)
	}
	last := "Sealwater"
	res, err := h.ChangeContact(ctx, ChangeTenantContact{Target: Target{Actor: actor, ID: id},
		Patch: TenantContactPatch{LastName: Optional[string]{Set: true, Value: &last}}})
	if err != nil || res.Version != 2 {
		t.Fatalf("change = %+v, %v; want version 2", res, err)
	}
	payloads := MustRawPayloads(t, pool, id)
	if !strings.Contains(payloads[0], "Clearwater") {
		t.Errorf("the registration was rewritten: %s", payloads[0])
	}
	if strings.Contains(payloads[1], "Sealwater") || strings.Contains(payloads[1], "clara@example.org") {
		t.Errorf("the change holds personal data in clear: %s", payloads[1])
	}
	var keys int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1`, id).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 1 {
		t.Errorf("%d keys after the first sealed change, want 1", keys)
	}
	events, err := h.store.ReadStream(ctx, tenantStream(id), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	de, err := domain.DecodeEvent(events[1].Type, events[1].Data)
	if err != nil {
		t.Fatal(err)
	}
	if c := de.(*domain.TenantContactChanged).Contact; c.LastName != "Sealwater" || c.Email != "clara@example.org" {
		t.Errorf("opened change = %+v, want Sealwater and the email", c)
	}
}

// An append that read the tenant before its erasure loses the version race; the
// key it would have made goes with its transaction.
func TestAppendAfterAnErasureMakesNoKey(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	keyring := MustKeyring(t)
	h, err := NewTenants(store, readmodel.NewQueries(pool), keyring)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := Actor{UserID: uuid.New(), Role: domain.RoleUser}
	f := newPersonalFixture(actor)
	id := *f.cmd.ID
	if _, err := h.Register(ctx, f.cmd); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Erase(ctx, EraseTenant{Target: Target{Actor: actor, ID: id}}, nil); err != nil {
		t.Fatal(err)
	}
	late := sealingStore{Store: store, keyring: keyring}
	_, err = late.Append(ctx, tenantStream(id), 1, toNew([]domain.Event{&domain.TenantContactChanged{
		Contact: domain.TenantContact{FirstName: "Late", LastName: "Writer", Email: "late@example.org"}}})...)
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Errorf("append at the version before the erasure = %v, want ErrConcurrency", err)
	}
	var keys int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tenant_keys WHERE tenant_id = $1`, id).Scan(&keys); err != nil {
		t.Fatal(err)
	}
	if keys != 0 {
		t.Errorf("%d keys after the lost append, want 0: the erased tenant must stay without a key", keys)
	}
}
