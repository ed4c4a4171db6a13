package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// tenantPersonal names the members that the tenant commands seal, for tests
// that append sealed events directly.
func tenantPersonal(name string) bool { return slices.Contains(domain.TenantPersonalFields, name) }

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

// MustAppendSealed appends tenant events sealed with key, as the tenant commands
// store them.
func MustAppendSealed(tb testing.TB, ctx context.Context, store eventstore.Store, key *tenantkeys.DataKey,
	stream eventstore.StreamID, expected int64, events ...domain.Event) eventstore.AppendResult {
	tb.Helper()
	news := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		raw, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		sealed, err := key.Seal(raw, tenantPersonal)
		if err != nil {
			tb.Fatal(err)
		}
		news[i] = eventstore.NewEvent{Type: e.EventType(), Data: json.RawMessage(sealed)}
	}
	res, err := store.Append(ctx, stream, expected, news...)
	if err != nil {
		tb.Fatalf("append to %s: %v", stream, err)
	}
	return res
}

// MustApplyWith delivers one event to a relational projector with keyring.
func MustApplyWith(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, keyring *tenantkeys.Keyring, e eventstore.Event) {
	tb.Helper()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return projections.Relational{Keyring: keyring}.Apply(ctx, tx, e)
	})
	if err != nil {
		tb.Fatalf("apply %s %s v%d: %v", e.Type, e.Stream, e.Version, err)
	}
}

// MustAllRows returns every row of every read-model table as text.
func MustAllRows(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for _, table := range projections.ReadModelTables() {
		rows, err := pool.Query(ctx, `SELECT t::text FROM `+table+` t ORDER BY 1`)
		if err != nil {
			tb.Fatalf("read %s: %v", table, err)
		}
		out[table], err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatalf("read %s: %v", table, err)
		}
	}
	return out
}

// erasureWorld is an owner, a property, a tenant with every personal field and a
// full history (screened, contact changed), a lease and a paid rent charge.
type erasureWorld struct {
	ownerID, tenantID, leaseID, chargeID uuid.UUID
	values                               []string // the tenant's personal values as text
	ssn                                  string
}

func MustErasureWorld(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore, keyring *tenantkeys.Keyring) erasureWorld {
	tb.Helper()
	w := erasureWorld{ownerID: uuid.New(), tenantID: uuid.New(), leaseID: uuid.New(), chargeID: uuid.New(), ssn: "8437"}
	tag := w.tenantID.String()[:8]
	property := uuid.New()
	MustAppend(tb, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: w.ownerID}, 0, &domain.UserRegistered{
		UserID: w.ownerID, Email: "owner-" + tag + "@example.com", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		Role: domain.RoleUser,
	})
	MustAppend(tb, ctx, store, eventstore.StreamID{Type: domain.PropertyStreamType, ID: property}, 0, &domain.PropertyRegistered{
		PropertyID: property, OwnerID: &w.ownerID, Status: domain.PropertyActive,
		Details: domain.PropertyDetails{Name: "Maple Court", Address: "12 Maple Street", City: "Portland", State: "OR",
			ZipCode: "97201", PropertyType: domain.PropertyResidential},
	})
	key, err := keyring.Create(ctx, store, w.tenantID)
	if err != nil {
		tb.Fatal(err)
	}
	phone, newPhone := "+1 555 01"+tag[:4], "+1 555 02"+tag[:4]
	dob := domain.NewDate(1961, 7, 23)
	income := decimal.RequireFromString("87654.32")
	score, bg := 731, "cleared-"+tag
	tenant := eventstore.StreamID{Type: domain.TenantStreamType, ID: w.tenantID}
	MustAppendSealed(tb, ctx, store, key, tenant, 0, &domain.TenantRegistered{
		TenantID: w.tenantID, RegisteredBy: w.ownerID,
		Contact:     domain.TenantContact{FirstName: "Zephyrine" + tag, LastName: "Quillfeather" + tag, Email: "zq-" + tag + "@example.org", Phone: &phone},
		SSNLastFour: &w.ssn, DateOfBirth: &dob,
	})
	MustAppendSealed(tb, ctx, store, key, tenant, 1, &domain.TenantScreeningRecorded{Screening: domain.TenantScreening{
		CreditScore: &score, Income: &income, BackgroundCheckStatus: &bg}})
	MustAppendSealed(tb, ctx, store, key, tenant, 2, &domain.TenantContactChanged{Contact: domain.TenantContact{
		FirstName: "Zephyrine" + tag, LastName: "Marchbanks" + tag, Email: "zm-" + tag + "@example.org", Phone: &newPhone}})
	w.values = []string{"Zephyrine" + tag, "Quillfeather" + tag, "Marchbanks" + tag, "zq-" + tag + "@example.org",
		"zm-" + tag + "@example.org", phone, newPhone, "1961-07-23", "87654.32", bg}
	start := domain.NewDate(2026, 1, 1)
	MustAppend(tb, ctx, store, eventstore.StreamID{Type: domain.LeaseStreamType, ID: w.leaseID}, 0, &domain.LeaseSigned{
		LeaseID: w.leaseID, PropertyID: property, TenantID: w.tenantID,
		Terms: domain.LeaseTerms{StartDate: start, EndDate: start.AddMonths(12), RentAmount: domain.MustMoney("1250.00"),
			SecurityDeposit: domain.MustMoney("2500.00"), PaymentDay: 1}})
	charge := eventstore.StreamID{Type: domain.TransactionStreamType, ID: w.chargeID}
	MustAppend(tb, ctx, store, charge, 0, &domain.ChargePosted{TransactionID: w.chargeID, LeaseID: w.leaseID,
		Amount: domain.MustMoney("1250.00"), Type: domain.TransactionRent, DueDate: start})
	MustAppend(tb, ctx, store, charge, 1, &domain.RentPaid{Payment: domain.Payment{PaymentDate: start.AddDays(2),
		PaymentMethod: domain.PaymentBankTransfer}})
	return w
}

// MustErase erases the tenant as the erase command does: key shredded and the
// event appended in one transaction.
func (w erasureWorld) MustErase(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore) {
	tb.Helper()
	err := store.Atomically(ctx, func(tx eventstore.Store) error {
		if err := tx.ShredDataKey(ctx, w.tenantID); err != nil {
			return err
		}
		_, err := tx.Append(ctx, eventstore.StreamID{Type: domain.TenantStreamType, ID: w.tenantID}, 3,
			eventstore.NewEvent{Type: "TenantPersonalDataErased", Data: &domain.TenantPersonalDataErased{}})
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// MustNoPersonalValue fails if any read-model row holds one of the tenant's values.
func (w erasureWorld) MustNoPersonalValue(tb testing.TB, rows map[string][]string) {
	tb.Helper()
	for table, rs := range rows {
		for _, r := range rs {
			for _, v := range w.values {
				if strings.Contains(r, v) {
					tb.Errorf("%s row holds %q after erasure: %s", table, v, r)
				}
			}
		}
	}
}

// The projector opens sealed tenant events: names in clear (the seed's indexes
// need them), ssn_last_four exactly as the event sealed it. After the erasure the
// tenant's row holds placeholders and its audit rows no personal value, leases
// and transactions stay, and a full rebuild without the key, whose events can no
// longer be opened, gives the very same rows instead of a poison event.
func TestErasedTenantRebuildsToTheSameRows(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	keyring := MustKeyring(t)
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: keyring})
	w := MustErasureWorld(t, ctx, store, keyring)
	events := MustReadLog(t, ctx, store, 8)

	var first, last, email string
	var ssn *string
	if err := pool.QueryRow(ctx, `SELECT first_name, last_name, email, ssn_last_four FROM tenants WHERE id = $1`, w.tenantID).
		Scan(&first, &last, &email, &ssn); err != nil {
		t.Fatal(err)
	}
	if first != w.values[0] || last != w.values[2] || email != w.values[4] {
		t.Errorf("before erasure: %s %s <%s>, want the opened contact %s %s <%s>", first, last, email, w.values[0], w.values[2], w.values[4])
	}
	sealed, err := tenantkeys.SealedFields(events[2].Data)
	if err != nil {
		t.Fatal(err)
	}
	if ssn == nil || *ssn != sealed["ssn_last_four"] || *ssn == w.ssn {
		t.Errorf("ssn_last_four = %v, want the event's sealed value %s", ssn, sealed["ssn_last_four"])
	}

	w.MustErase(t, ctx, store)
	live := MustAllRows(t, ctx, pool)
	w.MustNoPersonalValue(t, live)
	var row string
	if err := pool.QueryRow(ctx, `SELECT concat_ws('|', first_name, last_name, email, coalesce(phone, '-'),
			coalesce(ssn_last_four, '-'), coalesce(date_of_birth::text, '-'), coalesce(credit_score::text, '-'),
			coalesce(income::text, '-'), coalesce(background_check_status, '-'), version)
		FROM tenants WHERE id = $1`, w.tenantID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if want := "erased|erased|erased@invalid|-|-|-|-|-|-|4"; row != want {
		t.Errorf("erased tenant row = %s, want %s", row, want)
	}
	var auditLeft int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM audit_logs WHERE entity_id = $1 AND
			(coalesce(old_values, '{}') ?| $2 OR coalesce(new_values, '{}') ?| $2)`,
		w.tenantID, []string{"first_name", "last_name", "email", "phone", "ssn_last_four", "date_of_birth",
			"credit_score", "income", "background_check_status"}).Scan(&auditLeft); err != nil {
		t.Fatal(err)
	}
	if auditLeft != 0 {
		t.Errorf("%d audit rows of the tenant still have personal columns", auditLeft)
	}
	var leases, charges int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM leases WHERE tenant_id = $1 AND rent_amount = 1250),
			(SELECT count(*) FROM transactions WHERE lease_id = $2 AND status = 'completed')`, w.tenantID, w.leaseID).
		Scan(&leases, &charges); err != nil {
		t.Fatal(err)
	}
	if leases != 1 || charges != 1 {
		t.Errorf("after erasure: %d leases and %d paid charges, want 1 and 1 (the books stay)", leases, charges)
	}

	res, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{Keyring: keyring})
	if err != nil {
		t.Fatalf("rebuild after erasure: %v", err)
	}
	if res.Events != 9 {
		t.Errorf("rebuild replayed %d events, want 9", res.Events)
	}
	rebuilt := MustAllRows(t, ctx, pool)
	for _, table := range projections.ReadModelTables() {
		if got, want := strings.Join(rebuilt[table], "\n"), strings.Join(live[table], "\n"); got != want {
			t.Errorf("%s after rebuild:\n%s\nwant (live):\n%s", table, got, want)
		}
	}
	if len(live["audit_logs"]) != 9 || len(live["tenants"]) != 1 {
		t.Errorf("live read model has %d audit rows and %d tenants, want 9 and 1", len(live["audit_logs"]), len(live["tenants"]))
	}
}

// A projector built without the keyring refuses a sealed event, and writes
// nothing, rather than projecting an empty tenant.
func TestSealedEventNeedsTheKeyring(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	keyring := MustKeyring(t)
	w := MustErasureWorld(t, ctx, store, keyring)
	events := MustReadLog(t, ctx, store, 8)
	MustApplyWith(t, ctx, pool, keyring, events[0])
	MustApplyWith(t, ctx, pool, keyring, events[1])
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return projections.Relational{}.Apply(ctx, tx, events[2]) })
	if err == nil || !strings.Contains(err.Error(), "keyring") {
		t.Errorf("apply a sealed event without a keyring = %v, want a refusal naming the keyring", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return projections.Relational{Keyring: MustKeyring(t)}.Apply(ctx, tx, events[2])
	})
	if !errors.Is(err, tenantkeys.ErrWrongMasterKey) {
		t.Errorf("apply a sealed event under another master key = %v, want ErrWrongMasterKey", err)
	}
	var tenants int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM tenants WHERE id = $1`, w.tenantID).Scan(&tenants); err != nil {
		t.Fatal(err)
	}
	if tenants != 0 {
		t.Errorf("%d tenant rows after the refusals, want 0", tenants)
	}
}
