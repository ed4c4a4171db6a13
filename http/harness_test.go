package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
	"github.com/assetanchor/assetanchor/eventstore/pguuid"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// stack is the whole service on a fresh database: commands, the projection
// runtime and the HTTP API, served by httptest.
type stack struct {
	pool   *pgxpool.Pool
	store  *eventstore.PostgresStore
	users  *commands.Users
	server *Server
	http   *httptest.Server
	blobs  *blobs.Local // document bytes, under the test's temp dir
	// keyring holds the test's random master key (tenant data keys).
	keyring *tenantkeys.Keyring
}

const testPassword = "correct horse battery staple"

// MustStack starts the service; it stops when the test ends. Options (at the end
// of this file) capture logs or adjust dependencies.
func MustStack(tb testing.TB, opts ...StackOption) *stack {
	tb.Helper()
	o := stackOptionsOf(opts)
	keyring := MustKeyring(tb)
	cfg, err := pgxpool.ParseConfig(dbtest.MustURL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if o.poolSize > 0 {
		cfg.MaxConns = int32(o.poolSize)
	}
	pguuid.Configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	store := eventstore.NewPostgresStore(pool).WithProjector(projections.Relational{Keyring: keyring})
	queries := readmodel.NewQueries(pool)
	users, err := commands.NewUsers(store, queries)
	if err != nil {
		tb.Fatal(err)
	}
	properties, err := commands.NewProperties(store)
	if err != nil {
		tb.Fatal(err)
	}
	tenants, err := commands.NewTenants(store, queries, keyring)
	if err != nil {
		tb.Fatal(err)
	}
	leases, err := commands.NewLeases(store)
	if err != nil {
		tb.Fatal(err)
	}
	transactions, err := commands.NewTransactions(store)
	if err != nil {
		tb.Fatal(err)
	}
	maintenance, err := commands.NewMaintenance(store, queries)
	if err != nil {
		tb.Fatal(err)
	}
	ledger, err := commands.NewLedger(store, queries, pool)
	if err != nil {
		tb.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(o.logs, nil))
	blobs, err := blobs.NewLocal(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	documents, err := commands.NewDocuments(store, blobs, queries, log)
	if err != nil {
		tb.Fatal(err)
	}
	server, err := NewServer(o.deps(Deps{
		Log: log, Pool: pool, Store: store, Queries: queries,
		Checkpoints: projections.NewCheckpoints(pool), Users: users, Properties: properties,
		Tenants: tenants, Leases: leases, Transactions: transactions, Ledger: ledger, Maintenance: maintenance,
		Documents: documents, Blobs: blobs,
		SchemaCurrent: func(context.Context) error { return nil }, Keyring: keyring,
	}))
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(server.Handler())
	tb.Cleanup(ts.Close)
	if _, bench := tb.(*testing.B); !bench {
		ts.Client().Transport = validatingTransport{base: ts.Client().Transport, tb: tb}
	}
	return &stack{pool: pool, store: store, users: users, server: server, http: ts, blobs: blobs, keyring: keyring}
}

// MustUser creates an account with the given role and logs it in; it returns the
// user id and a bearer token.
func (s *stack) MustUser(tb testing.TB, role domain.Role) (uuid.UUID, string) {
	tb.Helper()
	email := role.String() + "-" + uuid.NewString()[:8] + "@example.com"
	res, err := s.users.Create(context.Background(), commands.CreateUser{Email: email, Password: testPassword, Role: role.String()})
	if err != nil {
		tb.Fatal(err)
	}
	var body struct {
		Token string `json:"token"`
	}
	resp := s.Do(tb, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, nil)
	MustStatus(tb, resp, http.StatusOK)
	MustDecode(tb, resp, &body)
	return res.ID, body.Token
}

// Do sends a request; body is JSON-encoded unless it is a string or []byte.
func (s *stack) Do(tb testing.TB, token, method, path string, body any, header map[string]string) *http.Response {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.http.URL+path, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	return resp
}

// MustEventCount counts every event in the store.
func (s *stack) MustEventCount(tb testing.TB) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func MustStatus(tb testing.TB, resp *http.Response, want int) {
	tb.Helper()
	if resp.StatusCode != want {
		body, _ := io.ReadAll(resp.Body)
		tb.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

func MustDecode(tb testing.TB, resp *http.Response, v any) {
	tb.Helper()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("decode %s %s: %v", resp.Request.Method, resp.Request.URL.Path, err)
	}
}

// MustProperty registers a property through the API as the holder of token.
func (s *stack) MustProperty(tb testing.TB, token string) uuid.UUID {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/properties", map[string]any{
		"name": "Property " + uuid.NewString()[:8], "address": "1 Main St", "city": "Springfield",
		"state": "IL", "zip_code": "62701", "property_type": "residential",
	}, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var p struct {
		ID uuid.UUID `json:"id"`
	}
	MustDecode(tb, resp, &p)
	return p.ID
}

// MustAppendProjected appends events straight to the store (a fixture that skips the
// command layer) and waits until the read model has them.
func (s *stack) MustAppendProjected(tb testing.TB, stream eventstore.StreamID, expected int64, events ...domain.Event) {
	tb.Helper()
	ctx := context.Background()
	news := make([]eventstore.NewEvent, len(events))
	for i, e := range events {
		news[i] = eventstore.NewEvent{Type: e.EventType(), Data: e}
	}
	if _, err := s.store.Append(ctx, stream, expected, news...); err != nil {
		tb.Fatal(err)
	}
}

// MustTenantFixture registers a tenant by appending TenantRegistered directly.
func (s *stack) MustTenantFixture(tb testing.TB, registeredBy uuid.UUID) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	s.MustAppendProjected(tb, eventstore.StreamID{Type: domain.TenantStreamType, ID: id}, 0, &domain.TenantRegistered{
		TenantID: id, RegisteredBy: registeredBy,
		Contact: domain.TenantContact{FirstName: "Ada", LastName: "Lovelace", Email: "ada-" + id.String()[:8] + "@example.com"},
	})
	return id
}

// MustLeaseFixture signs an active lease by appending LeaseSigned directly and
// reserving its period, as the lease command does.
func (s *stack) MustLeaseFixture(tb testing.TB, propertyID, tenantID uuid.UUID, start, end domain.Date, rent string) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	if err := s.store.ReservePeriod(context.Background(), propertyID, id, start.Time(), end.Time()); err != nil {
		tb.Fatal(err)
	}
	s.MustAppendProjected(tb, eventstore.StreamID{Type: domain.LeaseStreamType, ID: id}, 0, &domain.LeaseSigned{
		LeaseID: id, PropertyID: propertyID, TenantID: tenantID,
		Terms: domain.LeaseTerms{StartDate: start, EndDate: end, RentAmount: domain.MustMoney(rent),
			SecurityDeposit: domain.MustMoney("0.00"), PaymentDay: 1},
	})
	return id
}

// StackOption adjusts MustStack.
type StackOption func(*stackOptions)

type stackOptions struct {
	logs      io.Writer
	configure []func(*Deps)
	poolSize  int // 0: dbtest's default
}

func stackOptionsOf(opts []StackOption) stackOptions {
	o := stackOptions{logs: io.Discard}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

func (o stackOptions) deps(d Deps) Deps {
	for _, f := range o.configure {
		f(&d)
	}
	return d
}

// WithLogs sends the service's JSON logs (HTTP and projector) to w instead of
// discarding them. w must be safe for concurrent writes.
func WithLogs(w io.Writer) StackOption { return func(o *stackOptions) { o.logs = w } }

// WithPoolSize gives the stack a pool of n connections, such as serve's
// (eventstore.DefaultMaxConns), instead of dbtest's small default.
func WithPoolSize(n int) StackOption { return func(o *stackOptions) { o.poolSize = n } }

// WithDeps lets a test adjust the server's dependencies, such as rate limits.
func WithDeps(f func(*Deps)) StackOption {
	return func(o *stackOptions) { o.configure = append(o.configure, f) }
}

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
