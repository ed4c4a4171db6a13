package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// portfolio appends a mixed rental history: each unit is an owner with a
// session, a property that changes, a screened tenant, a lease, a paid rent
// charge and a maintenance request; every third lease is terminated and every
// fifth tenant erased. It counts the rows the read model must end up with.
type portfolio struct {
	store   *eventstore.PostgresStore
	adminID uuid.UUID

	mu     sync.Mutex
	rows   map[string]int // expected rows per read-model table
	events int
	last   eventstore.Checkpoint
}

// MustPortfolio registers the acting administrator and returns an empty portfolio.
func MustPortfolio(tb testing.TB, ctx context.Context, store *eventstore.PostgresStore) *portfolio {
	tb.Helper()
	p := &portfolio{store: store, adminID: uuid.New(), rows: map[string]int{}}
	p.append(tb, ctx, eventstore.StreamID{Type: domain.UserStreamType, ID: p.adminID}, 0, &domain.UserRegistered{
		UserID: p.adminID, Email: "admin-" + p.adminID.String()[:8] + "@example.com",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$YWRtaW4", Role: domain.RoleAdmin,
	})
	p.count("users", 1)
	return p
}

func (p *portfolio) count(table string, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows[table] += n
}

// append appends as the administrator, from a fixed address, and records the place.
func (p *portfolio) append(tb testing.TB, ctx context.Context, stream eventstore.StreamID, expected int64, events ...domain.Event) {
	tb.Helper()
	ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &p.adminID, IPAddress: "198.51.100.4", UserAgent: "rebuild-test"})
	res, err := p.store.Append(ctx, stream, expected, newEvents(events...)...)
	if err != nil {
		tb.Errorf("append %d events to %s: %v", len(events), stream, err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.events += len(events)
	p.rows["audit_logs"] += len(events)
	if p.last.Reached(res.Checkpoint) {
		return
	}
	p.last = res.Checkpoint
}

// MustUnit appends one unit of the portfolio; i varies the content.
func (p *portfolio) MustUnit(tb testing.TB, ctx context.Context, i int) {
	tb.Helper()
	owner, session, property, tenant := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	lease, charge, request := uuid.New(), uuid.New(), uuid.New()
	ownerStream := eventstore.StreamID{Type: domain.UserStreamType, ID: owner}
	propertyStream := eventstore.StreamID{Type: domain.PropertyStreamType, ID: property}
	tenantStream := eventstore.StreamID{Type: domain.TenantStreamType, ID: tenant}
	leaseStream := eventstore.StreamID{Type: domain.LeaseStreamType, ID: lease}
	chargeStream := eventstore.StreamID{Type: domain.TransactionStreamType, ID: charge}
	requestStream := eventstore.StreamID{Type: domain.MaintenanceStreamType, ID: request}
	sessionStream := eventstore.StreamID{Type: domain.SessionStreamType, ID: session}

	p.append(tb, ctx, ownerStream, 0, &domain.UserRegistered{
		UserID: owner, Email: fmt.Sprintf("owner-%d-%s@example.com", i, owner.String()[:8]),
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$b3duZXI", FirstName: "Owner", LastName: fmt.Sprint(i),
		Role: domain.RoleUser,
	})
	p.append(tb, ctx, sessionStream, 0, &domain.SessionStarted{
		SessionID: session, UserID: owner, TokenHash: "token-" + session.String(), RefreshTokenHash: "refresh-" + session.String(),
		IPAddress: "203.0.113.9", UserAgent: "curl/8.5", ExpiresAt: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC),
	})
	p.append(tb, ctx, ownerStream, 1, &domain.UserLoggedIn{SessionID: session})
	baths := decimal.RequireFromString("1.5")
	details := domain.PropertyDetails{Name: fmt.Sprintf("Unit %d", i), Address: fmt.Sprintf("%d Elm Street", i),
		City: []string{"Portland", "Salem", "Eugene"}[i%3], State: "OR", ZipCode: "97201",
		PropertyType: domain.PropertyResidential, Bedrooms: ptr(1 + i%4), Bathrooms: &baths}
	p.append(tb, ctx, propertyStream, 0, &domain.PropertyRegistered{PropertyID: property, OwnerID: &owner,
		Status: domain.PropertyActive, Details: details})
	details.Description = ptr(fmt.Sprintf("renovated in %d", 2000+i%25))
	p.append(tb, ctx, propertyStream, 1, &domain.PropertyDetailsChanged{Details: details})
	phone := "+1 503 555 0199"
	p.append(tb, ctx, tenantStream, 0, &domain.TenantRegistered{TenantID: tenant, RegisteredBy: owner,
		Contact:     domain.TenantContact{FirstName: "Tenant", LastName: fmt.Sprint(i), Email: fmt.Sprintf("tenant-%d@example.com", i), Phone: &phone},
		SSNLastFour: ptr("1234")})
	income := decimal.RequireFromString("54000.00")
	p.append(tb, ctx, tenantStream, 1, &domain.TenantScreeningRecorded{Screening: domain.TenantScreening{
		CreditScore: ptr(600 + i%200), Income: &income, BackgroundCheckStatus: ptr("clear")}})
	start := domain.NewDate(2025, time.Month(1+i%12), 1)
	p.append(tb, ctx, leaseStream, 0, &domain.LeaseSigned{LeaseID: lease, PropertyID: property, TenantID: tenant,
		Terms: domain.LeaseTerms{StartDate: start, EndDate: start.AddMonths(12), RentAmount: domain.MustMoney("1250.00"),
			SecurityDeposit: domain.MustMoney("2500.00"), PaymentDay: 1 + i%28}})
	p.append(tb, ctx, chargeStream, 0, &domain.ChargePosted{TransactionID: charge, LeaseID: lease,
		Amount: domain.MustMoney("1250.00"), Type: domain.TransactionRent, DueDate: start})
	p.append(tb, ctx, chargeStream, 1, &domain.RentPaid{Payment: domain.Payment{PaymentDate: start.AddDays(2),
		PaymentMethod: domain.PaymentBankTransfer, ReferenceNumber: ptr(fmt.Sprintf("REF-%d", i))}})
	p.append(tb, ctx, requestStream, 0, &domain.MaintenanceRequested{RequestID: request, PropertyID: property, TenantID: tenant,
		Details: domain.MaintenanceDetails{Title: "Leaking tap", Description: "Kitchen tap drips", Priority: domain.PriorityMedium}})
	p.append(tb, ctx, requestStream, 1, &domain.MaintenanceAssigned{AssignedTo: owner})
	leaseVersion := int64(1)
	if i%2 == 1 {
		// A second tenant joins, becomes the primary, and the first leaves: the
		// lease's parties (lease_tenants) keep both rows.
		co := uuid.New()
		coStream := eventstore.StreamID{Type: domain.TenantStreamType, ID: co}
		p.append(tb, ctx, coStream, 0, &domain.TenantRegistered{TenantID: co, RegisteredBy: owner,
			Contact: domain.TenantContact{FirstName: "Co", LastName: fmt.Sprint(i), Email: fmt.Sprintf("co-%d@example.com", i)}})
		p.append(tb, ctx, leaseStream, 1, &domain.LeaseTenantAdded{TenantID: co})
		p.append(tb, ctx, leaseStream, 2, &domain.LeasePrimaryTenantChanged{PreviousTenantID: tenant, TenantID: co})
		p.append(tb, ctx, leaseStream, 3, &domain.LeaseTenantRemoved{TenantID: tenant})
		leaseVersion = 4
		p.count("tenants", 1)
		p.count("lease_tenants", 1)
	}
	if i%3 == 0 {
		p.append(tb, ctx, leaseStream, leaseVersion, &domain.LeaseTerminated{EffectiveDate: start.AddMonths(6), Reason: "moved out"})
	}
	if i%5 == 0 {
		p.append(tb, ctx, tenantStream, 2, &domain.TenantPersonalDataErased{})
	}
	for _, table := range []string{"users", "user_sessions", "properties", "tenants", "leases", "transactions", "maintenance_requests", "lease_tenants"} {
		p.count(table, 1)
	}
}

// eventCount is how many events were appended so far.
func (p *portfolio) eventCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.events
}

// Last is the place of the newest append.
func (p *portfolio) Last() eventstore.Checkpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// MustRowCounts fails unless every read-model table holds the expected number of rows.
func (p *portfolio) MustRowCounts(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, table := range projections.ReadModelTables() {
		var got int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&got); err != nil {
			tb.Fatalf("count %s: %v", table, err)
		}
		if want := p.rows[table]; got != want {
			tb.Errorf("%s has %d rows, want %d", table, got, want)
		}
	}
}

// catalogShape lists the read-model tables' indexes and foreign keys by name.
type catalogShape struct {
	Indexes     []string // "table.index: definition"
	ForeignKeys []string // "table.constraint -> table"
}

func MustCatalogShape(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) catalogShape {
	tb.Helper()
	var s catalogShape
	rows, err := pool.Query(ctx, `SELECT tablename || '.' || indexname || ': ' || indexdef FROM pg_indexes
		WHERE schemaname = 'public' AND tablename = ANY($1) ORDER BY 1`, projections.ReadModelTables())
	if err == nil {
		s.Indexes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		tb.Fatalf("list indexes: %v", err)
	}
	rows, err = pool.Query(ctx, `SELECT c.conrelid::regclass::text || '.' || c.conname || ' -> ' || n.nspname || '.' || r.relname
		FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace n ON n.oid = r.relnamespace
		WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY($1) ORDER BY 1`, projections.ReadModelTables())
	if err == nil {
		s.ForeignKeys, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		tb.Fatalf("list foreign keys: %v", err)
	}
	return s
}

// seedIndexes are index names the migrations create; a swap must keep them all.
var seedIndexes = []string{"users_pkey", "users_email_key", "idx_users_email", "idx_users_role", "users_email_lower_key",
	"properties_pkey", "idx_properties_owner", "idx_properties_status", "idx_properties_location",
	"tenants_pkey", "idx_tenants_email", "idx_tenants_name", "tenants_registered_by_idx",
	"leases_pkey", "idx_leases_property", "idx_leases_tenant", "idx_leases_status", "idx_leases_dates", "leases_active_end_idx",
	"transactions_pkey", "idx_transactions_lease", "idx_transactions_status", "idx_transactions_type",
	"idx_transactions_dates", "transactions_pending_due_idx",
	"documents_pkey", "idx_documents_entity", "idx_documents_uploader",
	"maintenance_requests_pkey", "idx_maintenance_property", "idx_maintenance_tenant", "idx_maintenance_status",
	"idx_maintenance_assigned",
	"user_sessions_pkey", "idx_sessions_user", "idx_sessions_token", "idx_sessions_expires",
	"audit_logs_pkey", "idx_audit_user", "idx_audit_entity", "idx_audit_action", "idx_audit_created"}

func MustSeedIndexes(tb testing.TB, s catalogShape) {
	tb.Helper()
	for _, name := range seedIndexes {
		if !slices.ContainsFunc(s.Indexes, func(def string) bool { return strings.Contains(def, "."+name+": ") }) {
			tb.Errorf("index %s is missing; indexes:\n%s", name, strings.Join(s.Indexes, "\n"))
		}
	}
	if len(s.ForeignKeys) < 10 {
		tb.Errorf("only %d foreign keys between the read-model tables:\n%s", len(s.ForeignKeys), strings.Join(s.ForeignKeys, "\n"))
	}
	for _, fk := range s.ForeignKeys {
		if !strings.Contains(fk, " -> public.") {
			tb.Errorf("foreign key points outside public: %s", fk)
		}
	}
}

// MustNoScratchSchemas fails if a rebuild left its scratch schema behind.
func MustNoScratchSchemas(tb testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	tb.Helper()
	var left []string
	rows, err := pool.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rebuild\_%'`)
	if err == nil {
		left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		tb.Fatal(err)
	}
	if len(left) > 0 {
		tb.Errorf("scratch schemas left behind: %v", left)
	}
}

// MustVerifyIdentical runs Verify and fails unless the live read model equals a
// rebuild and holds want rows.
func MustVerifyIdentical(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, wantRows int) {
	tb.Helper()
	res, err := projections.Verify(ctx, pool, projections.RebuildOptions{BatchSize: 97})
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	if !res.Identical() || res.Differences != nil {
		tb.Errorf("verify found %d differing rows: %+v", res.Differing, res.Differences)
	}
	if want := len(projections.ReadModelTables()); res.Rows != int64(wantRows) || res.Tables != want {
		tb.Errorf("verify compared %d rows in %d tables, want %d rows in %d", res.Rows, res.Tables, wantRows, want)
	}
	MustNoScratchSchemas(tb, ctx, pool)
}

func (p *portfolio) totalRows() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.rows {
		n += c
	}
	return n
}

// MustVerifyIdenticalWhileWriting runs Verify while writers append and fails
// unless the live read model equals a replay of every event it saw, and holds
// at least least rows.
func MustVerifyIdenticalWhileWriting(tb testing.TB, ctx context.Context, pool *pgxpool.Pool, least int) {
	tb.Helper()
	res, err := projections.Verify(ctx, pool, projections.RebuildOptions{BatchSize: 37})
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	if !res.Identical() || res.Differences != nil {
		tb.Errorf("verify during writes found %d differing rows: %+v", res.Differing, res.Differences)
	}
	if res.Rows < int64(least) {
		tb.Errorf("verify during writes compared %d rows, want at least %d", res.Rows, least)
	}
}

// MustPoolOn is a pool on the database at url, closed when the test ends.
func MustPoolOn(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

func TestRebuildUnderConcurrentWritesEqualsReplay(t *testing.T) {
	ctx := context.Background()
	url := dbtest.MustURL(t)
	// The writers are other processes (serve), with connections of their own.
	pool, writersPool := MustPoolOn(t, url), MustPoolOn(t, url)
	p := MustPortfolio(t, ctx, inline(writersPool))
	for i := range 40 {
		p.MustUnit(t, ctx, i)
	}
	p.MustRowCounts(t, ctx, pool) // inline: the rows are there when Append returns
	shapeBefore := MustCatalogShape(t, ctx, pool)
	MustSeedIndexes(t, shapeBefore)
	rowsBefore := p.totalRows()

	// Three writers keep appending, each append projected in its own
	// transaction, while verify and then the rebuild run.
	done := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 1000 * (w + 1); ; i++ {
				select {
				case <-done:
					return
				default:
				}
				p.MustUnit(t, ctx, i)
				if t.Failed() {
					return // one refused unit says it; a thousand more would bury it
				}
			}
		}()
	}
	before := p.eventCount()
	MustVerifyIdenticalWhileWriting(t, ctx, pool, rowsBefore)
	if during := p.eventCount() - before; during == 0 {
		t.Errorf("no event was appended while verify ran: the test did not exercise concurrent writes")
	}

	var progress []projections.Progress
	before = p.eventCount()
	// A swap that deadlocked with the writers would hang: give up instead.
	bounded, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	res, err := projections.Rebuild(bounded, pool, projections.RebuildOptions{
		BatchSize: 50,
		Progress:  func(pr projections.Progress) { progress = append(progress, pr) },
	})
	during := p.eventCount() - before
	// The writers go on after the swap, onto the rebuilt tables.
	for after, deadline := p.eventCount(), time.Now().Add(30*time.Second); err == nil && p.eventCount() < after+13; {
		if time.Now().After(deadline) {
			t.Errorf("the writers appended %d events in 30s after the swap, want a unit's", p.eventCount()-after)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(done)
	writers.Wait()
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if during < 13 {
		t.Fatalf("%d events were appended while the rebuild ran, want at least a unit's: the test did not exercise concurrent writes", during)
	}
	t.Logf("rebuilt %d events in %s while %d events were appended", res.Events, res.Elapsed, during)
	if res.Events < 40*12 || len(progress) == 0 || progress[len(progress)-1].Done != res.Events {
		t.Errorf("rebuild replayed %d events, progress %d calls ending at %+v", res.Events, len(progress), progress[len(progress)-1])
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Done < progress[i-1].Done || progress[i].Done > progress[i].Total {
			t.Errorf("progress went from %+v to %+v", progress[i-1], progress[i])
		}
	}

	p.MustRowCounts(t, ctx, pool)
	var checkpoints int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM projector_checkpoints`).Scan(&checkpoints); err != nil || checkpoints != 0 {
		t.Errorf("%d projector checkpoints after the rebuild (%v), want none: the read model has no checkpoint", checkpoints, err)
	}
	shapeAfter := MustCatalogShape(t, ctx, pool)
	if !slices.Equal(shapeAfter.Indexes, shapeBefore.Indexes) {
		t.Errorf("indexes after the swap:\n%s\nbefore:\n%s", strings.Join(shapeAfter.Indexes, "\n"), strings.Join(shapeBefore.Indexes, "\n"))
	}
	if !slices.Equal(shapeAfter.ForeignKeys, shapeBefore.ForeignKeys) {
		t.Errorf("foreign keys after the swap:\n%s\nbefore:\n%s", strings.Join(shapeAfter.ForeignKeys, "\n"), strings.Join(shapeBefore.ForeignKeys, "\n"))
	}
	MustSeedIndexes(t, shapeAfter)
	MustNoScratchSchemas(t, ctx, pool)
	MustVerifyIdentical(t, ctx, pool, p.totalRows())
}

func TestVerifyNamesTamperedRowsAndRebuildRepairsThem(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	p := MustPortfolio(t, ctx, inline(pool))
	for i := range 5 {
		p.MustUnit(t, ctx, i)
	}
	MustVerifyIdentical(t, ctx, pool, p.totalRows())

	// Edit the read model behind the projector's back: one changed row, one
	// deleted audit row.
	var propertyID, auditID string
	if err := pool.QueryRow(ctx, `UPDATE properties SET name = 'Tampered' WHERE id = (SELECT min(id::text)::uuid FROM properties)
		RETURNING id::text`).Scan(&propertyID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, `DELETE FROM audit_logs WHERE id = (SELECT max(id::text)::uuid FROM audit_logs)
		RETURNING id::text`).Scan(&auditID); err != nil {
		t.Fatal(err)
	}
	res, err := projections.Verify(ctx, pool, projections.RebuildOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Identical() || res.Differing != 2 || len(res.Differences) != 2 {
		t.Fatalf("verify = %d differing rows %+v, want the tampered property and the deleted audit row", res.Differing, res.Differences)
	}
	byTable := map[string]projections.Difference{}
	for _, d := range res.Differences {
		byTable[d.Table] = d
	}
	prop := byTable["properties"]
	if prop.ID != propertyID || prop.Live == nil || prop.Rebuilt == nil ||
		!strings.Contains(*prop.Live, "Tampered") || strings.Contains(*prop.Rebuilt, "Tampered") {
		t.Errorf("property difference = %+v, want id %s with the tampered name live only", prop, propertyID)
	}
	audit := byTable["audit_logs"]
	if audit.ID != auditID || audit.Live != nil || audit.Rebuilt == nil {
		t.Errorf("audit difference = %+v, want id %s missing live", audit, auditID)
	}
	MustNoScratchSchemas(t, ctx, pool)

	if _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	MustVerifyIdentical(t, ctx, pool, p.totalRows())
	var name string
	if err := pool.QueryRow(ctx, `SELECT name FROM properties WHERE id = $1`, propertyID).Scan(&name); err != nil {
		t.Fatal(err)
	}
	if name == "Tampered" {
		t.Error("the rebuild kept the tampered name")
	}
}

// Rebuild on a database whose read model was never written (events appended
// without projecting, as an import leaves them) projects the whole log, keeps
// no checkpoint, and inline writes carry on from there.
func TestRebuildOfALogNeverProjected(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	p := MustPortfolio(t, ctx, eventstore.NewPostgresStore(pool))
	for i := range 3 {
		p.MustUnit(t, ctx, i)
	}
	// Rebuild covers every event committed before it started, even while
	// transactions elsewhere in the cluster hold the horizon back.
	res, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{})
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if res.Events != int64(p.events) || res.Checkpoint != p.Last() {
		t.Errorf("rebuild = %d events to %+v, want %d to %+v", res.Events, res.Checkpoint, p.events, p.Last())
	}
	p.MustRowCounts(t, ctx, pool)
	var checkpoints, offsets int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM projector_checkpoints), (SELECT count(*) FROM watermill_offsets_events)`).
		Scan(&checkpoints, &offsets); err != nil {
		t.Fatal(err)
	}
	if checkpoints != 0 || offsets != 0 {
		t.Errorf("after the rebuild: %d checkpoints and %d watermill offsets, want none: nothing consumes the log for the read model", checkpoints, offsets)
	}
	p.store = inline(pool)
	p.MustUnit(t, ctx, 99)
	p.MustRowCounts(t, ctx, pool)
	MustVerifyIdentical(t, ctx, pool, p.totalRows())
}

func TestRebuildRefusesAStalledHorizon(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	// A row stamped far in this cluster's future, as a pg_dump restored into a
	// younger cluster leaves them.
	if _, err := pool.Exec(ctx, `INSERT INTO events (transaction_id, event_id, stream_id, stream_type, version,
			event_type, payload, metadata, recorded_at, hash)
		VALUES ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000)::text::xid8, $1, $2, 'user', 1,
			'UserRegistered', '{}', '{}', now(), '\x00')`,
		"01JAAAAAAAAAAAAAAAAAAAAAAA", "user-"+uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() error{
		"rebuild": func() error { _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); return err },
		"verify":  func() error { _, err := projections.Verify(ctx, pool, projections.RebuildOptions{}); return err },
	} {
		if err := run(); !errors.Is(err, eventstore.ErrHorizonStalled) {
			t.Errorf("%s = %v, want ErrHorizonStalled", name, err)
		}
	}
	MustNoScratchSchemas(t, ctx, pool)
}

func TestEntityStateReplaysUpToTheGivenEvents(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	f := MustLog(t, ctx, store)
	events, err := store.ReadStream(ctx, f.propertyStream(), time.Time{})
	if err != nil || len(events) != 4 {
		t.Fatalf("read property stream: %d events, %v", len(events), err)
	}
	q := readmodel.NewQueries(pool)
	for _, tt := range []struct {
		upTo                  int
		name, status, version string
	}{
		{1, "Maple Court", "active", "1"},
		{3, "Maple Court East", "inactive", "3"},
	} {
		raw, err := readmodel.EntityState(ctx, q, domain.PropertyStreamType, events[:tt.upTo])
		if err != nil {
			t.Fatalf("state after %d events: %v", tt.upTo, err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if g := fmt.Sprintf("%v|%v|%v|%v", got["id"], got["name"], got["status"], got["version"]); g != fmt.Sprintf("%s|%s|%s|%s", f.propertyID, tt.name, tt.status, tt.version) {
			t.Errorf("state after %d events = %s", tt.upTo, g)
		}
	}
	userEvents, err := store.ReadStream(ctx, f.ownerStream(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readmodel.EntityState(ctx, q, domain.UserStreamType, userEvents)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "password_hash") || !strings.Contains(string(raw), `"first_name": "Olive"`) {
		t.Errorf("user state = %s, want the row without its password hash", raw)
	}
	// Nothing of the replays stays behind.
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM properties`).Scan(&n); err != nil || n != 0 {
		t.Errorf("properties after replays = %d rows (%v), want 0", n, err)
	}
}

// Objects outside the read model that point at it: a foreign key survives the
// swap (put back onto the new table), a view makes the rebuild refuse before
// anything is replayed, since DROP ... CASCADE would remove it.
func TestRebuildKeepsForeignKeysOntoTheReadModelAndRefusesViews(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	p := MustPortfolio(t, ctx, inline(pool))
	p.MustUnit(t, ctx, 1)
	if _, err := pool.Exec(ctx, `CREATE TABLE user_notes (id uuid PRIMARY KEY,
			user_id uuid NOT NULL CONSTRAINT user_notes_user_fkey REFERENCES users(id), note text);
		INSERT INTO user_notes SELECT gen_random_uuid(), id, 'kept' FROM users`); err != nil {
		t.Fatal(err)
	}
	if _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	var target string
	if err := pool.QueryRow(ctx, `SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'user_notes_user_fkey'`).Scan(&target); err != nil {
		t.Fatalf("the foreign key onto users is gone after the swap: %v", err)
	}
	var notes, users int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM user_notes), (SELECT count(*) FROM users)`).Scan(&notes, &users); err != nil {
		t.Fatal(err)
	}
	if target != "users" || notes != users || notes != 2 {
		t.Errorf("after the swap: foreign key onto %q, %d notes, %d users; want onto users, 2 and 2", target, notes, users)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO user_notes VALUES (gen_random_uuid(), gen_random_uuid(), 'dangling')`); err == nil {
		t.Error("the restored foreign key does not hold: a note of no user was accepted")
	}

	if _, err := pool.Exec(ctx, `CREATE VIEW active_properties AS SELECT * FROM properties WHERE status = 'active'`); err != nil {
		t.Fatal(err)
	}
	_, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{})
	if err == nil || !strings.Contains(err.Error(), "view public.active_properties") {
		t.Fatalf("rebuild with a view on properties = %v, want a refusal naming the view", err)
	}
	MustNoScratchSchemas(t, ctx, pool)
	var views int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_views WHERE viewname = 'active_properties'`).Scan(&views); err != nil || views != 1 {
		t.Errorf("the view after the refused rebuild: %d (%v)", views, err)
	}
}

// EntityState replays into private copies of every table the projector writes:
// a late-fee policy of a property that is not in the live read model replays too.
func TestEntityStateOfAPropertyWithALateFeePolicy(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	owner, property := uuid.New(), uuid.New()
	stream := eventstore.StreamID{Type: domain.PropertyStreamType, ID: property}
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: owner}, 0, &domain.UserRegistered{
		UserID: owner, Email: "fees-" + owner.String()[:8] + "@example.com", PasswordHash: "x", Role: domain.RoleUser})
	MustAppend(t, ctx, store, stream, 0,
		&domain.PropertyRegistered{PropertyID: property, OwnerID: &owner, Status: domain.PropertyActive,
			Details: domain.PropertyDetails{Name: "Fees", Address: "1 Fee St", City: "Bend", State: "OR", ZipCode: "97701",
				PropertyType: domain.PropertyResidential}},
		&domain.PropertyLateFeePolicySet{Policy: domain.LateFeePolicy{GraceDays: 5, FlatAmount: ptr(domain.MustMoney("25.00"))}})
	events, err := store.ReadStream(ctx, stream, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readmodel.EntityState(ctx, readmodel.NewQueries(pool), domain.PropertyStreamType, events)
	if err != nil {
		t.Fatalf("state of a property with a late-fee policy: %v", err)
	}
	var got struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(raw, &got); err != nil || got.Name != "Fees" || got.Version != 2 {
		t.Errorf("state = %s (%v), want Fees at version 2", raw, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM property_late_fee_policies`).Scan(&n); err != nil || n != 0 {
		t.Errorf("property_late_fee_policies after the replay: %d rows (%v), want 0", n, err)
	}
}
