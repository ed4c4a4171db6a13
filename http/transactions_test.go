package http

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// transactionDoc is a transaction as a client reads it.
type transactionDoc struct {
	ID              string  `json:"id"`
	LeaseID         string  `json:"lease_id"`
	Amount          string  `json:"amount"`
	Type            string  `json:"type"`
	Status          string  `json:"status"`
	DueDate         *string `json:"due_date"`
	PaymentDate     *string `json:"payment_date"`
	PaymentMethod   *string `json:"payment_method"`
	ReferenceNumber *string `json:"reference_number"`
	Notes           *string `json:"notes"`
	AmountPaid      string  `json:"amount_paid"`
	Balance         string  `json:"balance"`
	CreatedAt       string  `json:"created_at"`
	UpdatedAt       string  `json:"updated_at"`
	Version         int64   `json:"version"`
}

type transactionPage struct {
	Items      []transactionDoc `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

func (p transactionPage) ids() []string {
	out := make([]string, len(p.Items))
	for i, item := range p.Items {
		out[i] = item.ID
	}
	return out
}

// overdueDoc is a row of the overdue transactions report.
type overdueDoc struct {
	transactionDoc
	PropertyID   string `json:"property_id"`
	PropertyName string `json:"property_name"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
}

type overduePage struct {
	Items      []overdueDoc `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

func (p overduePage) ids() []string {
	out := make([]string, len(p.Items))
	for i, item := range p.Items {
		out[i] = item.ID
	}
	return out
}

// transactionFields are the fields of a transaction answer: the seed's columns and version.
var transactionFields = []string{"amount", "amount_paid", "balance", "created_at", "due_date", "id", "lease_id", "notes", "payment_date",
	"payment_method", "reference_number", "status", "type", "updated_at", "version"}

// chargeBody is a valid charge on lease with overrides applied.
func chargeBody(leaseID uuid.UUID, overrides map[string]any) map[string]any {
	b := map[string]any{"lease_id": leaseID, "amount": "1250.00", "type": "rent", "due_date": "2024-02-01"}
	maps.Copy(b, overrides)
	return b
}

// paymentBody is a valid payment.
func paymentBody() map[string]any {
	return map[string]any{"payment_date": "2024-02-03", "payment_method": "check", "reference_number": "CHK-1001"}
}

// MustChargeableLease gives the owner (with token) a property of its own with an
// active lease to a tenant it registered, and returns the property and the lease.
func (s *stack) MustChargeableLease(tb testing.TB, ownerID uuid.UUID, token string) (uuid.UUID, uuid.UUID) {
	tb.Helper()
	property := s.MustProperty(tb, token)
	tenant := s.MustTenantFixture(tb, ownerID)
	lease := s.MustLeaseFixture(tb, property, tenant, domain.NewDate(2024, time.January, 1), domain.NewDate(2024, time.December, 31), "1250.00")
	return property, lease
}

// MustPostCharge posts body and expects a 201.
func (s *stack) MustPostCharge(tb testing.TB, token string, body any) transactionDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/transactions", body, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var t transactionDoc
	MustDecode(tb, resp, &t)
	return t
}

// MustTransactionCommand posts to /transactions/{id}/{action} and expects a 200.
func (s *stack) MustTransactionCommand(tb testing.TB, token, id, action string, body any) transactionDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/transactions/"+id+"/"+action, body, nil)
	MustStatus(tb, resp, http.StatusOK)
	var t transactionDoc
	MustDecode(tb, resp, &t)
	return t
}

// MustGetTransaction reads one transaction and its ETag.
func (s *stack) MustGetTransaction(tb testing.TB, token, id string) (transactionDoc, string) {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/transactions/"+id, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var t transactionDoc
	MustDecode(tb, resp, &t)
	return t, resp.Header.Get("ETag")
}

// MustListTransactions reads one page of GET /transactions?query.
func (s *stack) MustListTransactions(tb testing.TB, token, query string) transactionPage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/transactions?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page transactionPage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("GET /transactions?%s: items is null or missing, want an array", query)
	}
	return page
}

// MustOverdue reads one page of the overdue transactions report.
func (s *stack) MustOverdue(tb testing.TB, token, query string) overduePage {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/reports/overdue-transactions?"+query, nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var page overduePage
	MustDecode(tb, resp, &page)
	if page.Items == nil {
		tb.Fatalf("overdue report ?%s: items is null or missing, want an array", query)
	}
	return page
}

// MustTransactionHistory reads the event types of a transaction's history.
func (s *stack) MustTransactionHistory(tb testing.TB, token, id string) []historyDoc {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodGet, "/api/v1/transactions/"+id+"/history", nil, nil)
	MustStatus(tb, resp, http.StatusOK)
	var h struct {
		Items []historyDoc `json:"items"`
	}
	MustDecode(tb, resp, &h)
	return h.Items
}

type historyDoc struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	RecordedAt string          `json:"recorded_at"`
	ActorID    *string         `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// canonicalJSON re-encodes raw with sorted keys, so that documents compare by content.
func canonicalJSON(tb testing.TB, raw []byte) string {
	tb.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("decode %s: %v", raw, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func historyTypes(items []historyDoc) []string {
	out := make([]string, len(items))
	for i, h := range items {
		out[i] = h.Type
	}
	return out
}

// transactionWrites is everything a transaction request could write.
type transactionWrites struct{ events, transactions, idempotencyKeys int }

// MustTransactionWrites counts events, transactions rows and idempotency records.
func (s *stack) MustTransactionWrites(tb testing.TB) transactionWrites {
	tb.Helper()
	var c transactionWrites
	err := s.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events),
		(SELECT count(*) FROM transactions), (SELECT count(*) FROM idempotency_keys)`).
		Scan(&c.events, &c.transactions, &c.idempotencyKeys)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// MustNoTransactionWrites fails when anything was written since before was taken.
func (s *stack) MustNoTransactionWrites(tb testing.TB, before transactionWrites, what string) {
	tb.Helper()
	if got := s.MustTransactionWrites(tb); got != before {
		tb.Errorf("%s wrote something: (events, transactions, idempotency keys) went from %+v to %+v", what, before, got)
	}
	if got, want := s.MustEventCount(tb), before.events; got != want {
		tb.Errorf("%s: %d events, want %d", what, got, want)
	}
}

// MustEventsOfType counts the events of one type in a transaction's stream.
func (s *stack) MustEventsOfType(tb testing.TB, transactionID, eventType string) int {
	tb.Helper()
	id, err := uuid.Parse(transactionID)
	if err != nil {
		tb.Fatal(err)
	}
	stream := eventstore.StreamID{Type: domain.TransactionStreamType, ID: id}
	var n int
	if err := s.pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = $2`,
		stream.String(), eventType).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestPostCharge(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)

	t.Run("created with every column", func(t *testing.T) {
		before := s.MustTransactionWrites(t)
		resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions",
			chargeBody(leaseID, map[string]any{"notes": "February rent"}), nil)
		MustStatus(t, resp, http.StatusCreated)
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatal(err)
		}
		if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, transactionFields) {
			t.Errorf("answer fields = %v, want %v", got, transactionFields)
		}
		var got transactionDoc
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		if _, err := uuid.Parse(got.ID); err != nil {
			t.Fatalf("id %q is not a UUID", got.ID)
		}
		due, notes := "2024-02-01", "February rent"
		want := transactionDoc{ID: got.ID, LeaseID: leaseID.String(), Amount: "1250.00", Type: "rent", Status: "pending",
			DueDate: &due, Notes: &notes, AmountPaid: "0.00", Balance: "1250.00", CreatedAt: got.CreatedAt, UpdatedAt: got.UpdatedAt, Version: 1}
		if diff := diffTransaction(got, want); diff != "" {
			t.Errorf("created transaction: %s", diff)
		}
		if got.CreatedAt != got.UpdatedAt {
			t.Errorf("created_at %s != updated_at %s on a new charge", got.CreatedAt, got.UpdatedAt)
		}
		for name, ts := range map[string]string{"created_at": got.CreatedAt, "updated_at": got.UpdatedAt} {
			if tm, err := time.Parse(time.RFC3339Nano, ts); err != nil || tm.Location() != time.UTC {
				t.Errorf("%s = %q, want an RFC 3339 UTC timestamp", name, ts)
			}
		}
		if got, want := resp.Header.Get("Location"), "/api/v1/transactions/"+got.ID; got != want {
			t.Errorf("Location = %q, want %q", got, want)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		after := s.MustTransactionWrites(t)
		if got, want := after.events-before.events, 1; got != want {
			t.Errorf("events appended = %d, want %d", got, want)
		}
		if got, want := after.transactions-before.transactions, 1; got != want {
			t.Errorf("transactions rows added = %d, want %d", got, want)
		}
		if got, want := s.MustEventsOfType(t, got.ID, "ChargePosted"), 1; got != want {
			t.Errorf("ChargePosted events = %d, want %d", got, want)
		}

		// Read-your-writes: the Location answers the same representation at once.
		resp = s.Do(t, token, http.MethodGet, resp.Header.Get("Location"), nil, nil)
		MustStatus(t, resp, http.StatusOK)
		again, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(raw) {
			t.Errorf("GET Location = %s, want the create answer %s", again, raw)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("GET ETag = %s, want %s", got, want)
		}
		page := s.MustListTransactions(t, token, "lease_id="+leaseID.String())
		if !slices.Contains(page.ids(), got.ID) {
			t.Errorf("list right after the create = %v, want it to hold %s", page.ids(), got.ID)
		}
	})

	t.Run("money keeps its exact value", func(t *testing.T) {
		tests := []struct {
			amount any
			want   string
		}{
			{"1250.10", "1250.10"},
			{"0.10", "0.10"},
			{"0.20", "0.20"},
			{json.Number("0.1"), "0.10"},
			{json.Number("0.2"), "0.20"},
			{json.Number("1250"), "1250.00"},
			{"1250", "1250.00"},
			{"1e2", "100.00"},
			{json.Number("1.5e1"), "15.00"},
			{"0.01", "0.01"},
			{"99999999.99", "99999999.99"},
			{json.Number("99999999.99"), "99999999.99"},
			{"1250.100", "1250.10"}, // a trailing zero is not a third decimal place
		}
		for _, tt := range tests {
			t.Run(fmt.Sprint(tt.amount), func(t *testing.T) {
				created := s.MustPostCharge(t, token, chargeBody(leaseID, map[string]any{"amount": tt.amount}))
				if got := created.Amount; got != tt.want {
					t.Errorf("created amount = %s, want %s", got, tt.want)
				}
				read, _ := s.MustGetTransaction(t, token, created.ID)
				if got := read.Amount; got != tt.want {
					t.Errorf("read amount = %s, want %s", got, tt.want)
				}
				var stored string
				if err := s.pool.QueryRow(context.Background(), `SELECT amount::text FROM transactions WHERE id = $1`,
					created.ID).Scan(&stored); err != nil {
					t.Fatal(err)
				}
				if stored != tt.want {
					t.Errorf("stored amount = %s, want %s", stored, tt.want)
				}
			})
		}
		// 0.1 + 0.2: two charges of a fresh lease add up to exactly 0.30.
		_, lease := s.MustChargeableLease(t, ownerID, token)
		a := s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"amount": json.Number("0.1")}))
		b := s.MustPostCharge(t, token, chargeBody(lease, map[string]any{"amount": "0.20"}))
		page := s.MustListTransactions(t, token, "lease_id="+lease.String())
		got := map[string]string{}
		for _, item := range page.Items {
			got[item.ID] = item.Amount
		}
		if want := map[string]string{a.ID: "0.10", b.ID: "0.20"}; !maps.Equal(got, want) {
			t.Errorf("listed amounts = %v, want %v", got, want)
		}
		var sum string
		if err := s.pool.QueryRow(context.Background(), `SELECT sum(amount)::text FROM transactions WHERE lease_id = $1`,
			lease).Scan(&sum); err != nil {
			t.Fatal(err)
		}
		if sum != "0.30" {
			t.Errorf("sum of 0.10 and 0.20 = %s, want 0.30", sum)
		}
	})

	t.Run("every type", func(t *testing.T) {
		for _, kind := range []string{"rent", "deposit", "fee", "maintenance"} {
			created := s.MustPostCharge(t, token, chargeBody(leaseID, map[string]any{"type": kind}))
			if created.Type != kind || created.Status != "pending" {
				t.Errorf("type %s: answered type %s status %s, want %s pending", kind, created.Type, created.Status, kind)
			}
		}
	})

	t.Run("an admin and a manager may charge any lease", func(t *testing.T) {
		for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleManager} {
			_, staff := s.MustUser(t, role)
			created := s.MustPostCharge(t, staff, chargeBody(leaseID, nil))
			if created.LeaseID != leaseID.String() {
				t.Errorf("%s: lease_id = %s, want %s", role, created.LeaseID, leaseID)
			}
			// and the owner sees it
			s.MustGetTransaction(t, token, created.ID)
		}
	})

	t.Run("client id", func(t *testing.T) {
		id := uuid.New()
		body := chargeBody(leaseID, map[string]any{"id": id, "amount": "99.95", "notes": "keys"})
		resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions", body, nil)
		MustStatus(t, resp, http.StatusCreated)
		first, _ := io.ReadAll(resp.Body)
		var created transactionDoc
		if err := json.Unmarshal(first, &created); err != nil {
			t.Fatal(err)
		}
		if got, want := created.ID, id.String(); got != want {
			t.Fatalf("id = %s, want the client's %s", got, want)
		}

		before := s.MustTransactionWrites(t)
		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions", body, nil)
		MustStatus(t, resp, http.StatusOK)
		again, _ := io.ReadAll(resp.Body)
		if string(again) != string(first) {
			t.Errorf("repeated create = %s, want %s", again, first)
		}
		if got, want := resp.Header.Get("ETag"), `"1"`; got != want {
			t.Errorf("repeated create ETag = %s, want %s", got, want)
		}
		if got := resp.Header.Get("Location"); got != "" {
			t.Errorf("repeated create (200) answers Location %q", got)
		}
		s.MustNoTransactionWrites(t, before, "repeated create")

		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions",
			chargeBody(leaseID, map[string]any{"id": id, "amount": "99.96", "notes": "keys"}), nil)
		MustProblem(t, resp, http.StatusConflict)
		s.MustNoTransactionWrites(t, before, "same id, another amount")

		otherID, otherToken := s.MustUser(t, domain.RoleUser)
		_, otherLease := s.MustChargeableLease(t, otherID, otherToken)
		before = s.MustTransactionWrites(t)
		resp = s.Do(t, otherToken, http.MethodPost, "/api/v1/transactions",
			chargeBody(otherLease, map[string]any{"id": id, "amount": "99.95", "notes": "keys"}), nil)
		p := MustProblem(t, resp, http.StatusConflict)
		if strings.Contains(p.Detail, leaseID.String()) || strings.Contains(p.Detail, "99.95") {
			t.Errorf("conflict leaks the other owner's charge: %s", p.Detail)
		}
		s.MustNoTransactionWrites(t, before, "another owner's create with a taken id")
		if got, _ := s.MustGetTransaction(t, token, id.String()); got.Amount != "99.95" || got.Version != 1 {
			t.Errorf("charge is now %s version %d, want 99.95 version 1", got.Amount, got.Version)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		key := map[string]string{"Idempotency-Key": "charge-march"}
		body := chargeBody(leaseID, map[string]any{"due_date": "2024-03-01"})
		resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions", body, key)
		MustStatus(t, resp, http.StatusCreated)
		first, _ := io.ReadAll(resp.Body)
		location := resp.Header.Get("Location")

		before := s.MustTransactionWrites(t)
		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions", body, key)
		MustStatus(t, resp, http.StatusCreated)
		again, _ := io.ReadAll(resp.Body)
		if string(again) != string(first) {
			t.Errorf("replayed body = %s, want %s", again, first)
		}
		if got, want := resp.Header.Get("Idempotent-Replayed"), "true"; got != want {
			t.Errorf("Idempotent-Replayed = %q, want %q", got, want)
		}
		if got := resp.Header.Get("Location"); got != location {
			t.Errorf("replayed Location = %q, want %q", got, location)
		}
		s.MustNoTransactionWrites(t, before, "replayed create")

		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions", chargeBody(leaseID, map[string]any{"due_date": "2024-04-01"}), key)
		MustProblem(t, resp, http.StatusUnprocessableEntity)
		s.MustNoTransactionWrites(t, before, "key reused with another body")

		var created transactionDoc
		if err := json.Unmarshal(first, &created); err != nil {
			t.Fatal(err)
		}
		payKey := map[string]string{"Idempotency-Key": "pay-march"}
		path := "/api/v1/transactions/" + created.ID + "/pay"
		resp = s.Do(t, token, http.MethodPost, path, paymentBody(), payKey)
		MustStatus(t, resp, http.StatusOK)
		paid, _ := io.ReadAll(resp.Body)
		before = s.MustTransactionWrites(t)
		resp = s.Do(t, token, http.MethodPost, path, paymentBody(), payKey)
		MustStatus(t, resp, http.StatusOK) // a replay, not a second payment (409)
		if got, _ := io.ReadAll(resp.Body); string(got) != string(paid) {
			t.Errorf("replayed payment = %s, want %s", got, paid)
		}
		if got, want := resp.Header.Get("ETag"), `"2"`; got != want {
			t.Errorf("replayed payment ETag = %s, want %s", got, want)
		}
		s.MustNoTransactionWrites(t, before, "replayed payment")
		if got, want := s.MustEventsOfType(t, created.ID, "RentPaid"), 1; got != want {
			t.Errorf("RentPaid events = %d, want %d", got, want)
		}
	})
}

// diffTransaction describes how got differs from want, or returns "".
func diffTransaction(got, want transactionDoc) string {
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) == string(w) {
		return ""
	}
	return fmt.Sprintf("\n got  %s\n want %s", g, w)
}

func TestPostChargeRefusals(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)
	otherID, otherToken := s.MustUser(t, domain.RoleUser)
	_, otherLease := s.MustChargeableLease(t, otherID, otherToken)

	tests := []struct {
		name   string
		token  string
		body   any
		header map[string]string
		status int
		fields []string // the 422's fields, sorted
	}{
		{name: "amount with three decimal places", body: chargeBody(leaseID, map[string]any{"amount": "1.001"}), status: 422, fields: []string{"amount"}},
		{name: "amount with three decimal places as a JSON number", body: `{"lease_id":"` + leaseID.String() + `","amount":1.001,"type":"rent","due_date":"2024-02-01"}`, status: 422, fields: []string{"amount"}},
		{name: "zero amount", body: chargeBody(leaseID, map[string]any{"amount": "0.00"}), status: 422, fields: []string{"amount"}},
		{name: "negative amount", body: chargeBody(leaseID, map[string]any{"amount": json.Number("-5")}), status: 422, fields: []string{"amount"}},
		{name: "amount over NUMERIC(10,2)", body: chargeBody(leaseID, map[string]any{"amount": "100000000.00"}), status: 422, fields: []string{"amount"}},
		{name: "amount with a huge exponent", body: chargeBody(leaseID, map[string]any{"amount": json.Number("1e100000")}), status: 422, fields: []string{"amount"}},
		{name: "missing amount", body: map[string]any{"lease_id": leaseID, "type": "rent", "due_date": "2024-02-01"}, status: 422, fields: []string{"amount"}},
		{name: "null amount", body: chargeBody(leaseID, map[string]any{"amount": nil}), status: 422, fields: []string{"amount"}},
		{name: "amount that is not a number (documented as 400)", body: chargeBody(leaseID, map[string]any{"amount": "abc"}), status: 400},
		{name: "amount as a boolean", body: chargeBody(leaseID, map[string]any{"amount": true}), status: 400},
		{name: "unknown type", body: chargeBody(leaseID, map[string]any{"type": "bonus"}), status: 422, fields: []string{"type"}},
		{name: "type in capitals", body: chargeBody(leaseID, map[string]any{"type": "RENT"}), status: 422, fields: []string{"type"}},
		{name: "missing type", body: map[string]any{"lease_id": leaseID, "amount": "1.00", "due_date": "2024-02-01"}, status: 422, fields: []string{"type"}},
		{name: "missing due date", body: map[string]any{"lease_id": leaseID, "amount": "1.00", "type": "fee"}, status: 422, fields: []string{"due_date"}},
		{name: "impossible due date", body: chargeBody(leaseID, map[string]any{"due_date": "2024-02-30"}), status: 422, fields: []string{"due_date"}},
		{name: "due date in another format", body: chargeBody(leaseID, map[string]any{"due_date": "02/01/2024"}), status: 422, fields: []string{"due_date"}},
		{name: "due date with a time", body: chargeBody(leaseID, map[string]any{"due_date": "2024-02-01T00:00:00Z"}), status: 422, fields: []string{"due_date"}},
		{name: "missing lease", body: map[string]any{"amount": "1.00", "type": "fee", "due_date": "2024-02-01"}, status: 422, fields: []string{"lease_id"}},
		{name: "no such lease", body: chargeBody(uuid.New(), nil), status: 422, fields: []string{"lease_id"}},
		{name: "another owner's lease", body: chargeBody(otherLease, nil), status: 422, fields: []string{"lease_id"}},
		{name: "nil id", body: chargeBody(leaseID, map[string]any{"id": uuid.Nil}), status: 422, fields: []string{"id"}},
		{name: "notes with a NUL", body: chargeBody(leaseID, map[string]any{"notes": "a\x00b"}), status: 422, fields: []string{"notes"}},
		{
			name:   "everything wrong at once",
			body:   map[string]any{"id": uuid.Nil, "lease_id": uuid.New(), "amount": "-1.001", "type": "bonus", "due_date": "soon", "notes": "\x00"},
			status: 422, fields: []string{"amount", "due_date", "id", "lease_id", "notes", "type"},
		},
		{name: "unknown field", body: chargeBody(leaseID, map[string]any{"amout": "1.00"}), status: 400},
		{name: "malformed JSON", body: `{"lease_id": `, status: 400},
		{name: "two JSON values", body: `{} {}`, status: 400},
		{name: "empty body", body: ``, status: 400},
		{name: "lease id that is not a UUID", body: chargeBody(leaseID, map[string]any{"lease_id": "lease-1"}), status: 400},
		{name: "due date as a number", body: chargeBody(leaseID, map[string]any{"due_date": 20240201}), status: 400},
		{name: "wrong content type", body: chargeBody(leaseID, nil), header: map[string]string{"Content-Type": "text/plain"}, status: 415},
		{name: "body over 1 MiB", body: chargeBody(leaseID, map[string]any{"notes": strings.Repeat("n", 1<<20)}), status: 413},
		{name: "no token", token: "-", body: chargeBody(leaseID, nil), status: 401},
		{name: "unknown token", token: "not-a-token", body: chargeBody(leaseID, nil), status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := token
			switch tt.token {
			case "-":
				tok = ""
			case "":
			default:
				tok = tt.token
			}
			before := s.MustTransactionWrites(t)
			resp := s.Do(t, tok, http.MethodPost, "/api/v1/transactions", tt.body, tt.header)
			p := MustProblem(t, resp, tt.status)
			if tt.fields != nil {
				if got := p.fields(); !slices.Equal(got, tt.fields) {
					t.Errorf("fields = %v, want %v", got, tt.fields)
				}
				for _, e := range p.Errors {
					if e.Message == "" {
						t.Errorf("field %s has no message", e.Field)
					}
				}
			}
			s.MustNoTransactionWrites(t, before, tt.name)
		})
	}

	t.Run("a hidden lease reads exactly like a missing one", func(t *testing.T) {
		missing := MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/transactions", chargeBody(uuid.New(), nil), nil), 422)
		hidden := MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/transactions", chargeBody(otherLease, nil), nil), 422)
		if fmt.Sprint(missing.Errors) != fmt.Sprint(hidden.Errors) {
			t.Errorf("hidden lease errors %v differ from missing lease errors %v", hidden.Errors, missing.Errors)
		}
		if got, want := fmt.Sprint(hidden.Errors), "[{lease_id not_found no such lease}]"; got != want {
			t.Errorf("errors = %s, want %s", got, want)
		}
	})
	t.Run("the amount's message names the rule", func(t *testing.T) {
		p := MustProblem(t, s.Do(t, token, http.MethodPost, "/api/v1/transactions", chargeBody(leaseID, map[string]any{"amount": "1.001"}), nil), 422)
		if got, want := fmt.Sprint(p.Errors), "[{amount invalid_format has more than two decimal places}]"; got != want {
			t.Errorf("errors = %s, want %s", got, want)
		}
	})
	if got := s.MustListTransactions(t, token, ""); len(got.Items) != 0 {
		t.Errorf("after refusals only, the owner lists %v, want nothing", got.ids())
	}
}

// transactionAction is one status command with a valid body.
type transactionAction struct {
	name      string
	body      any
	status    string // the status it leads to
	eventType string // for a rent charge
}

var (
	actionPay    = transactionAction{"pay", paymentBody(), "completed", "RentPaid"}
	actionFail   = transactionAction{"fail", map[string]any{"reason": "card declined"}, "failed", "PaymentFailed"}
	actionRetry  = transactionAction{"retry", nil, "pending", "PaymentRetried"}
	actionRefund = transactionAction{"refund", map[string]any{"reason": "overpaid"}, "refunded", "PaymentRefunded"}
)

// TestTransactionStatusCommands runs every command from every status through the
// API: the state machine's edges answer 200 and the rest 409, writing nothing.
func TestTransactionStatusCommands(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)

	states := []struct {
		name  string
		setup []transactionAction
	}{
		{"pending", nil},
		{"completed", []transactionAction{actionPay}},
		{"failed", []transactionAction{actionFail}},
		{"refunded", []transactionAction{actionPay, actionRefund}},
		{"pending after a retry", []transactionAction{actionFail, actionRetry}},
	}
	legal := map[string]string{"pending/pay": "", "pending/fail": "", "failed/retry": "", "completed/refund": ""}
	for _, state := range states {
		for _, action := range []transactionAction{actionPay, actionFail, actionRetry, actionRefund} {
			t.Run(action.name+" when "+state.name, func(t *testing.T) {
				// given
				charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
				for _, step := range state.setup {
					s.MustTransactionCommand(t, token, charge.ID, step.name, step.body)
				}
				current, tag := s.MustGetTransaction(t, token, charge.ID)
				before := s.MustTransactionWrites(t)
				// when
				resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions/"+charge.ID+"/"+action.name, action.body, nil)
				// then
				if _, ok := legal[current.Status+"/"+action.name]; !ok {
					p := MustProblem(t, resp, http.StatusConflict)
					if !strings.Contains(p.Detail, "status") {
						t.Errorf("409 detail = %q, want it to name the status change", p.Detail)
					}
					s.MustNoTransactionWrites(t, before, action.name+" when "+state.name)
					if after, afterTag := s.MustGetTransaction(t, token, charge.ID); after.Status != current.Status || afterTag != tag {
						t.Errorf("after the refusal: status %s ETag %s, want %s %s", after.Status, afterTag, current.Status, tag)
					}
					return
				}
				MustStatus(t, resp, http.StatusOK)
				var answered transactionDoc
				MustDecode(t, resp, &answered)
				wantVersion := int64(len(state.setup) + 2)
				if answered.Status != action.status || answered.Version != wantVersion {
					t.Errorf("answer: status %s version %d, want %s %d", answered.Status, answered.Version, action.status, wantVersion)
				}
				if got, want := resp.Header.Get("ETag"), etag(wantVersion); got != want {
					t.Errorf("ETag = %s, want %s", got, want)
				}
				// read-your-writes: the GET right after shows the change
				read, _ := s.MustGetTransaction(t, token, charge.ID)
				if diff := diffTransaction(read, answered); diff != "" {
					t.Errorf("GET after the command: %s", diff)
				}
				// A payment is a record of its own: paying appends PaymentRecorded too.
				wantEvents := 1
				if action.name == "pay" {
					wantEvents = 2
				}
				if got := s.MustTransactionWrites(t).events - before.events; got != wantEvents {
					t.Errorf("events appended = %d, want %d", got, wantEvents)
				}
				history := s.MustTransactionHistory(t, token, charge.ID)
				if got, want := history[len(history)-1].Type, action.eventType; got != want {
					t.Errorf("last event = %s, want %s", got, want)
				}
			})
		}
	}

	t.Run("payment fields are recorded and kept by a refund", func(t *testing.T) {
		charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
		paid := s.MustTransactionCommand(t, token, charge.ID, "pay", map[string]any{
			"payment_date": "2024-02-03", "payment_method": "bank_transfer", "reference_number": "WIRE-77",
		})
		date, method, ref := "2024-02-03", "bank_transfer", "WIRE-77"
		want := charge
		want.Status, want.PaymentDate, want.PaymentMethod, want.ReferenceNumber, want.Version, want.UpdatedAt =
			"completed", &date, &method, &ref, 2, paid.UpdatedAt
		want.AmountPaid, want.Balance = want.Amount, "0.00" // the whole balance is paid
		if diff := diffTransaction(paid, want); diff != "" {
			t.Errorf("paid: %s", diff)
		}
		if paid.UpdatedAt == charge.UpdatedAt {
			t.Errorf("updated_at did not move: %s", paid.UpdatedAt)
		}
		refunded := s.MustTransactionCommand(t, token, charge.ID, "refund", nil)
		want.Status, want.Version, want.UpdatedAt = "refunded", 3, refunded.UpdatedAt
		if diff := diffTransaction(refunded, want); diff != "" {
			t.Errorf("refunded: %s", diff)
		}
	})

	t.Run("a payment without a reference number", func(t *testing.T) {
		charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
		paid := s.MustTransactionCommand(t, token, charge.ID, "pay", map[string]any{"payment_date": "2024-02-05", "payment_method": "cash"})
		if paid.ReferenceNumber != nil || paid.PaymentMethod == nil || *paid.PaymentMethod != "cash" {
			t.Errorf("paid: reference_number %v, payment_method %v, want null and cash", paid.ReferenceNumber, paid.PaymentMethod)
		}
	})

	t.Run("RentPaid for rent, PaymentReceived for anything else", func(t *testing.T) {
		for kind, want := range map[string]string{"rent": "RentPaid", "deposit": "PaymentReceived", "fee": "PaymentReceived", "maintenance": "PaymentReceived"} {
			charge := s.MustPostCharge(t, token, chargeBody(leaseID, map[string]any{"type": kind}))
			s.MustTransactionCommand(t, token, charge.ID, "pay", paymentBody())
			if got := historyTypes(s.MustTransactionHistory(t, token, charge.ID)); !slices.Equal(got, []string{"ChargePosted", want}) {
				t.Errorf("%s: history %v, want [ChargePosted %s]", kind, got, want)
			}
			other := map[string]string{"RentPaid": "PaymentReceived", "PaymentReceived": "RentPaid"}[want]
			if got := s.MustEventsOfType(t, charge.ID, other); got != 0 {
				t.Errorf("%s: %d %s events, want 0", kind, got, other)
			}
		}
	})

	t.Run("history", func(t *testing.T) {
		charge := s.MustPostCharge(t, token, chargeBody(leaseID, map[string]any{"amount": "10.50"}))
		s.MustTransactionCommand(t, token, charge.ID, "fail", map[string]any{"reason": "card declined"})
		s.MustTransactionCommand(t, token, charge.ID, "retry", nil)
		s.MustTransactionCommand(t, token, charge.ID, "pay", paymentBody())
		s.MustTransactionCommand(t, token, charge.ID, "refund", map[string]any{"reason": "overpaid"})
		items := s.MustTransactionHistory(t, token, charge.ID)
		if got, want := historyTypes(items), []string{"ChargePosted", "PaymentFailed", "PaymentRetried", "RentPaid", "PaymentRefunded"}; !slices.Equal(got, want) {
			t.Fatalf("history types = %v, want %v", got, want)
		}
		wantData := []string{
			`{"amount":"10.50","due_date":"2024-02-01","lease_id":"` + leaseID.String() + `","transaction_id":"` + charge.ID + `","type":"rent"}`,
			`{"reason":"card declined"}`,
			`{}`,
			`{"amount":"10.50","payment_date":"2024-02-03","payment_id":"` + s.MustLastPaymentID(t, token, leaseID) + `","payment_method":"check","reference_number":"CHK-1001"}`,
			`{"reason":"overpaid"}`,
		}
		for i, item := range items {
			if item.Version != int64(i+1) {
				t.Errorf("item %d: version %d, want %d", i, item.Version, i+1)
			}
			if item.ActorID == nil || *item.ActorID != ownerID.String() {
				t.Errorf("item %d: actor_id %v, want %s", i, item.ActorID, ownerID)
			}
			if got := canonicalJSON(t, item.Data); got != canonicalJSON(t, []byte(wantData[i])) {
				t.Errorf("item %d data = %s, want %s", i, got, wantData[i])
			}
		}
		final, _ := s.MustGetTransaction(t, token, charge.ID)
		if final.Status != "refunded" || final.Version != 5 {
			t.Errorf("final: status %s version %d, want refunded 5", final.Status, final.Version)
		}
	})
}

func TestTransactionCommandRefusals(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)
	otherID, otherToken := s.MustUser(t, domain.RoleUser)
	_, otherLease := s.MustChargeableLease(t, otherID, otherToken)
	pending := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
	completed := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
	s.MustTransactionCommand(t, token, completed.ID, "pay", paymentBody())
	othersCharge := s.MustPostCharge(t, otherToken, chargeBody(otherLease, nil))

	tests := []struct {
		name   string
		token  string
		path   string
		body   any
		header map[string]string
		status int
		fields []string
	}{
		{name: "pay: unknown payment method", path: pending.ID + "/pay", body: map[string]any{"payment_date": "2024-02-03", "payment_method": "bitcoin"}, status: 422, fields: []string{"payment_method"}},
		{name: "pay: missing payment method", path: pending.ID + "/pay", body: map[string]any{"payment_date": "2024-02-03"}, status: 422, fields: []string{"payment_method"}},
		{name: "pay: missing payment date", path: pending.ID + "/pay", body: map[string]any{"payment_method": "cash"}, status: 422, fields: []string{"payment_date"}},
		{name: "pay: impossible payment date", path: pending.ID + "/pay", body: map[string]any{"payment_date": "2024-13-01", "payment_method": "cash"}, status: 422, fields: []string{"payment_date"}},
		{name: "pay: reference number of 101 characters", path: pending.ID + "/pay", body: map[string]any{"payment_date": "2024-02-03", "payment_method": "cash", "reference_number": strings.Repeat("r", 101)}, status: 422, fields: []string{"reference_number"}},
		{name: "pay: empty object", path: pending.ID + "/pay", body: map[string]any{}, status: 422, fields: []string{"payment_date", "payment_method"}},
		{name: "pay: everything wrong", path: pending.ID + "/pay", body: map[string]any{"payment_date": "3 Feb", "payment_method": "iou", "reference_number": "\x00"}, status: 422, fields: []string{"payment_date", "payment_method", "reference_number"}},
		{name: "pay: no body", path: pending.ID + "/pay", body: nil, status: 415},
		{name: "pay: empty body", path: pending.ID + "/pay", body: "", status: 400},
		{name: "pay: unknown field", path: pending.ID + "/pay", body: map[string]any{"payment_date": "2024-02-03", "payment_method": "cash", "amount": "1.00"}, status: 400},
		{name: "pay: wrong content type", path: pending.ID + "/pay", body: paymentBody(), header: map[string]string{"Content-Type": "application/xml"}, status: 415},
		{name: "pay: completed charge, even with a bad body", path: completed.ID + "/pay", body: map[string]any{"payment_method": "iou"}, status: 409},
		{name: "pay: stale If-Match", path: pending.ID + "/pay", body: paymentBody(), header: map[string]string{"If-Match": `"2"`}, status: 412},
		{name: "pay: malformed If-Match", path: pending.ID + "/pay", body: paymentBody(), header: map[string]string{"If-Match": "yesterday"}, status: 412},
		{name: "pay: no such transaction", path: uuid.NewString() + "/pay", body: paymentBody(), status: 404},
		{name: "pay: malformed id", path: "tx-1/pay", body: paymentBody(), status: 404},
		{name: "pay: another owner's charge", path: othersCharge.ID + "/pay", body: paymentBody(), status: 404},
		{name: "pay: another owner's charge with a bad body", path: othersCharge.ID + "/pay", body: map[string]any{}, status: 404},
		{name: "pay: no token", token: "-", path: pending.ID + "/pay", body: paymentBody(), status: 401},
		{name: "fail: reason of 1001 characters", path: pending.ID + "/fail", body: map[string]any{"reason": strings.Repeat("x", 1001)}, status: 422, fields: []string{"reason"}},
		{name: "fail: reason with a NUL", path: pending.ID + "/fail", body: map[string]any{"reason": "\x00"}, status: 422, fields: []string{"reason"}},
		{name: "fail: unknown field", path: pending.ID + "/fail", body: map[string]any{"reasn": "typo"}, status: 400},
		{name: "fail: malformed JSON", path: pending.ID + "/fail", body: `{"reason":`, status: 400},
		{name: "fail: body with the wrong content type", path: pending.ID + "/fail", body: `{"reason":"x"}`, header: map[string]string{"Content-Type": "text/plain"}, status: 415},
		{name: "fail: completed charge", path: completed.ID + "/fail", body: nil, status: 409},
		{name: "fail: stale If-Match", path: pending.ID + "/fail", body: nil, header: map[string]string{"If-Match": `"7"`}, status: 412},
		{name: "fail: another owner's charge", path: othersCharge.ID + "/fail", body: nil, status: 404},
		{name: "retry: pending charge", path: pending.ID + "/retry", body: nil, status: 409},
		{name: "retry: a body with fields", path: pending.ID + "/retry", body: map[string]any{"reason": "again"}, status: 400},
		{name: "retry: another owner's charge", path: othersCharge.ID + "/retry", body: nil, status: 404},
		{name: "retry: no such transaction", path: uuid.NewString() + "/retry", body: nil, status: 404},
		{name: "refund: pending charge", path: pending.ID + "/refund", body: nil, status: 409},
		{name: "refund: reason of 1001 characters", path: completed.ID + "/refund", body: map[string]any{"reason": strings.Repeat("x", 1001)}, status: 422, fields: []string{"reason"}},
		{name: "refund: stale If-Match", path: completed.ID + "/refund", body: nil, header: map[string]string{"If-Match": `"1"`}, status: 412},
		{name: "refund: another owner's charge", path: othersCharge.ID + "/refund", body: nil, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := token
			if tt.token == "-" {
				tok = ""
			}
			before := s.MustTransactionWrites(t)
			resp := s.Do(t, tok, http.MethodPost, "/api/v1/transactions/"+tt.path, tt.body, tt.header)
			p := MustProblem(t, resp, tt.status)
			if tt.fields != nil {
				if got := p.fields(); !slices.Equal(got, tt.fields) {
					t.Errorf("fields = %v, want %v", got, tt.fields)
				}
			}
			s.MustNoTransactionWrites(t, before, tt.name)
		})
	}
	for _, tx := range []transactionDoc{pending, completed} {
		got, tag := s.MustGetTransaction(t, token, tx.ID)
		want := map[string]string{pending.ID: "pending/" + etag(1), completed.ID: "completed/" + etag(2)}[tx.ID]
		if got.Status+"/"+tag != want {
			t.Errorf("after the refusals %s is %s/%s, want %s", tx.ID, got.Status, tag, want)
		}
	}

	t.Run("If-Match with the current version", func(t *testing.T) {
		charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
		_, tag := s.MustGetTransaction(t, token, charge.ID)
		resp := s.Do(t, token, http.MethodPost, "/api/v1/transactions/"+charge.ID+"/fail", nil, map[string]string{"If-Match": tag})
		MustStatus(t, resp, http.StatusOK)
		if got, want := resp.Header.Get("ETag"), etag(2); got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
		before := s.MustTransactionWrites(t)
		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions/"+charge.ID+"/retry", nil, map[string]string{"If-Match": tag})
		MustProblem(t, resp, http.StatusPreconditionFailed)
		s.MustNoTransactionWrites(t, before, "retry with the version before the failure")
		resp = s.Do(t, token, http.MethodPost, "/api/v1/transactions/"+charge.ID+"/retry", nil, map[string]string{"If-Match": `W/"2"`})
		MustStatus(t, resp, http.StatusOK)
		if got, want := resp.Header.Get("ETag"), etag(3); got != want {
			t.Errorf("ETag = %s, want %s", got, want)
		}
	})

	t.Run("optional bodies", func(t *testing.T) {
		for _, body := range []any{nil, "", "{}", map[string]any{"reason": ""}} {
			charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
			failed := s.MustTransactionCommand(t, token, charge.ID, "fail", body)
			if failed.Status != "failed" {
				t.Errorf("fail with body %#v: status %s, want failed", body, failed.Status)
			}
			if _, ok := body.(map[string]any); ok {
				body = "{}" // retry takes no fields
			}
			retried := s.MustTransactionCommand(t, token, charge.ID, "retry", body)
			if retried.Status != "pending" {
				t.Errorf("retry with body %#v: status %s, want pending", body, retried.Status)
			}
		}
		// an empty body needs no Content-Type at all
		charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
		req, err := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/transactions/"+charge.ID+"/fail", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := s.http.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		MustStatus(t, resp, http.StatusOK)
		got, _ := s.MustGetTransaction(t, token, charge.ID)
		if got.Status != "failed" {
			t.Errorf("status = %s, want failed", got.Status)
		}
	})

	t.Run("no role restriction: admin and manager act on any charge", func(t *testing.T) {
		for _, role := range []domain.Role{domain.RoleAdmin, domain.RoleManager} {
			_, staff := s.MustUser(t, role)
			charge := s.MustPostCharge(t, otherToken, chargeBody(otherLease, nil))
			paid := s.MustTransactionCommand(t, staff, charge.ID, "pay", paymentBody())
			if paid.Status != "completed" {
				t.Errorf("%s: status %s, want completed", role, paid.Status)
			}
			if items := s.MustTransactionHistory(t, otherToken, charge.ID); items[1].ActorID == nil || *items[1].ActorID == otherID.String() {
				t.Errorf("%s: payment actor_id = %v, want the staff member", role, items[1].ActorID)
			}
		}
	})
}

// TestPayRace pays one pending charge 20 times at once: exactly one payment
// succeeds, the others are 409, and the stream holds exactly one RentPaid.
func TestPayRace(t *testing.T) {
	s := MustStack(t)
	ownerID, token := s.MustUser(t, domain.RoleUser)
	_, leaseID := s.MustChargeableLease(t, ownerID, token)
	charge := s.MustPostCharge(t, token, chargeBody(leaseID, nil))
	body, err := json.Marshal(paymentBody())
	if err != nil {
		t.Fatal(err)
	}
	before := s.MustTransactionWrites(t)

	const n = 20
	type outcome struct {
		status int
		body   string
		err    error
	}
	outcomes := make([]outcome, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequest(http.MethodPost, s.http.URL+"/api/v1/transactions/"+charge.ID+"/pay", strings.NewReader(string(body)))
			if err != nil {
				outcomes[i].err = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			<-start
			resp, err := s.http.Client().Do(req)
			if err != nil {
				outcomes[i].err = err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			outcomes[i] = outcome{status: resp.StatusCode, body: string(b)}
		}()
	}
	close(start)
	wg.Wait()

	counts := map[int]int{}
	for i, o := range outcomes {
		if o.err != nil {
			t.Fatalf("request %d: %v", i, o.err)
		}
		counts[o.status]++
		if o.status != http.StatusOK && o.status != http.StatusConflict {
			t.Errorf("request %d: status %d: %s", i, o.status, o.body)
		}
	}
	if got, want := counts, map[int]int{http.StatusOK: 1, http.StatusConflict: n - 1}; !maps.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
	if got, want := s.MustEventsOfType(t, charge.ID, "RentPaid"), 1; got != want {
		t.Errorf("RentPaid events in the stream = %d, want %d", got, want)
	}
	// One payment: its PaymentRecorded and the charge's RentPaid.
	if got, want := s.MustTransactionWrites(t).events-before.events, 2; got != want {
		t.Errorf("events appended = %d, want %d", got, want)
	}
	got, tag := s.MustGetTransaction(t, token, charge.ID)
	if got.Status != "completed" || tag != etag(2) {
		t.Errorf("after the race: status %s ETag %s, want completed %s", got.Status, tag, etag(2))
	}
}

func TestTransactionOwnerIsolationAndLists(t *testing.T) {
	s := MustStack(t)
	aID, tokenA := s.MustUser(t, domain.RoleUser)
	bID, tokenB := s.MustUser(t, domain.RoleUser)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	_, managerToken := s.MustUser(t, domain.RoleManager)
	_, leaseA1 := s.MustChargeableLease(t, aID, tokenA)
	_, leaseA2 := s.MustChargeableLease(t, aID, tokenA)
	_, leaseB := s.MustChargeableLease(t, bID, tokenB)

	rentA1 := s.MustPostCharge(t, tokenA, chargeBody(leaseA1, nil))
	feeA1 := s.MustPostCharge(t, tokenA, chargeBody(leaseA1, map[string]any{"type": "fee", "amount": "35.00"}))
	s.MustTransactionCommand(t, tokenA, feeA1.ID, "pay", paymentBody())
	depositA2 := s.MustPostCharge(t, tokenA, chargeBody(leaseA2, map[string]any{"type": "deposit"}))
	s.MustTransactionCommand(t, tokenA, depositA2.ID, "fail", nil)
	rentA2 := s.MustPostCharge(t, tokenA, chargeBody(leaseA2, nil))
	rentB := s.MustPostCharge(t, tokenB, chargeBody(leaseB, nil))
	allA := []string{rentA1.ID, feeA1.ID, depositA2.ID, rentA2.ID}

	t.Run("owner B sees nothing of owner A's", func(t *testing.T) {
		for _, path := range []string{rentA1.ID, rentA1.ID + "/history"} {
			MustProblem(t, s.Do(t, tokenB, http.MethodGet, "/api/v1/transactions/"+path, nil, nil), http.StatusNotFound)
		}
		missing := MustProblem(t, s.Do(t, tokenB, http.MethodGet, "/api/v1/transactions/"+uuid.NewString(), nil, nil), http.StatusNotFound)
		hidden := MustProblem(t, s.Do(t, tokenB, http.MethodGet, "/api/v1/transactions/"+rentA1.ID, nil, nil), http.StatusNotFound)
		if missing.Detail != hidden.Detail || missing.Title != hidden.Title {
			t.Errorf("a hidden charge answers %q, a missing one %q: they must not differ", hidden.Detail, missing.Detail)
		}
		for _, action := range []transactionAction{actionPay, actionFail, actionRetry, actionRefund} {
			before := s.MustTransactionWrites(t)
			resp := s.Do(t, tokenB, http.MethodPost, "/api/v1/transactions/"+rentA1.ID+"/"+action.name, action.body, nil)
			MustProblem(t, resp, http.StatusNotFound)
			s.MustNoTransactionWrites(t, before, "owner B's "+action.name)
		}
		if got, want := s.MustListTransactions(t, tokenB, "").ids(), []string{rentB.ID}; !slices.Equal(got, want) {
			t.Errorf("B lists %v, want %v", got, want)
		}
		if got := s.MustListTransactions(t, tokenB, "lease_id="+leaseA1.String()).ids(); len(got) != 0 {
			t.Errorf("B lists %v under A's lease, want nothing", got)
		}
		if got, want := s.MustListTransactions(t, tokenA, "").ids(), allA; !slices.Equal(got, want) {
			t.Errorf("A lists %v, want %v", got, want)
		}
		if got, _ := s.MustGetTransaction(t, tokenA, rentA1.ID); got.Status != "pending" || got.Version != 1 {
			t.Errorf("A's charge is now %s version %d, want pending version 1", got.Status, got.Version)
		}
	})

	t.Run("admin and manager see everything", func(t *testing.T) {
		for _, tok := range []string{adminToken, managerToken} {
			if got, want := s.MustListTransactions(t, tok, "").ids(), append(slices.Clone(allA), rentB.ID); !slices.Equal(got, want) {
				t.Errorf("lists %v, want %v", got, want)
			}
			s.MustGetTransaction(t, tok, rentB.ID)
		}
	})

	t.Run("filters", func(t *testing.T) {
		tests := []struct {
			query string
			want  []string
		}{
			{"lease_id=" + leaseA1.String(), []string{rentA1.ID, feeA1.ID}},
			{"lease_id=" + leaseA2.String(), []string{depositA2.ID, rentA2.ID}},
			{"lease_id=" + uuid.NewString(), []string{}},
			{"status=pending", []string{rentA1.ID, rentA2.ID}},
			{"status=completed", []string{feeA1.ID}},
			{"status=failed", []string{depositA2.ID}},
			{"status=refunded", []string{}},
			{"type=rent", []string{rentA1.ID, rentA2.ID}},
			{"type=fee", []string{feeA1.ID}},
			{"type=deposit&status=failed", []string{depositA2.ID}},
			{"type=deposit&status=pending", []string{}},
			{"type=rent&lease_id=" + leaseA2.String() + "&status=pending", []string{rentA2.ID}},
		}
		for _, tt := range tests {
			if got := s.MustListTransactions(t, tokenA, tt.query).ids(); !slices.Equal(got, tt.want) {
				t.Errorf("?%s = %v, want %v", tt.query, got, tt.want)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		var got []string
		query := "limit=3"
		for range 5 {
			page := s.MustListTransactions(t, tokenA, query)
			got = append(got, page.ids()...)
			if page.NextCursor == nil {
				break
			}
			if len(page.Items) != 3 {
				t.Errorf("a page with a next cursor has %d items, want 3", len(page.Items))
			}
			query = "limit=3&cursor=" + *page.NextCursor
		}
		if !slices.Equal(got, allA) {
			t.Errorf("paged = %v, want %v", got, allA)
		}
		if page := s.MustListTransactions(t, tokenA, "limit=4"); page.NextCursor != nil && len(s.MustListTransactions(t, tokenA, "limit=4&cursor="+*page.NextCursor).Items) != 0 {
			t.Errorf("a full last page leads to more items")
		}
	})

	t.Run("bad queries are 400", func(t *testing.T) {
		for _, query := range []string{"status=paid", "status=PENDING", "type=bonus", "type=Rent", "lease_id=lease-1",
			"limit=0", "limit=201", "limit=ten", "cursor=not-a-cursor"} {
			MustProblem(t, s.Do(t, tokenA, http.MethodGet, "/api/v1/transactions?"+query, nil, nil), http.StatusBadRequest)
		}
		MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/transactions", nil, nil), http.StatusUnauthorized)
		MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/transactions/"+rentA1.ID, nil, nil), http.StatusUnauthorized)
		MustProblem(t, s.Do(t, tokenA, http.MethodGet, "/api/v1/transactions/not-a-uuid", nil, nil), http.StatusNotFound)
		MustProblem(t, s.Do(t, tokenA, http.MethodGet, "/api/v1/transactions/"+uuid.NewString()+"/history", nil, nil), http.StatusNotFound)
	})
}

// MustNamedTenant registers a tenant with a given name by appending TenantRegistered.
func (s *stack) MustNamedTenant(tb testing.TB, registeredBy uuid.UUID, first, last string) uuid.UUID {
	tb.Helper()
	id := uuid.New()
	s.MustAppendProjected(tb, eventstore.StreamID{Type: domain.TenantStreamType, ID: id}, 0, &domain.TenantRegistered{
		TenantID: id, RegisteredBy: registeredBy,
		Contact: domain.TenantContact{FirstName: first, LastName: last, Email: strings.ToLower(first) + "-" + id.String()[:8] + "@example.com"},
	})
	return id
}

// MustNamedProperty registers a property with a given name through the API.
func (s *stack) MustNamedProperty(tb testing.TB, token, name string) uuid.UUID {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/properties", map[string]any{
		"name": name, "address": "1 Main St", "city": "Springfield", "state": "IL", "zip_code": "62701", "property_type": "residential",
	}, nil)
	MustStatus(tb, resp, http.StatusCreated)
	var p struct {
		ID uuid.UUID `json:"id"`
	}
	MustDecode(tb, resp, &p)
	return p.ID
}

// TestOverdueTransactionsReport builds a ledger by hand and checks the seed's
// "Overdue Transactions" rows, their order and their columns.
func TestOverdueTransactionsReport(t *testing.T) {
	s := MustStack(t)
	aID, tokenA := s.MustUser(t, domain.RoleUser)
	bID, tokenB := s.MustUser(t, domain.RoleUser)
	_, adminToken := s.MustUser(t, domain.RoleAdmin)
	start, end := domain.NewDate(2024, time.January, 1), domain.NewDate(2024, time.December, 31)

	alder := s.MustNamedProperty(t, tokenA, "Alder House")
	birch := s.MustNamedProperty(t, tokenA, "Birch Flats")
	cedar := s.MustNamedProperty(t, tokenB, "Cedar Court")
	leaseAlder := s.MustLeaseFixture(t, alder, s.MustNamedTenant(t, aID, "Grace", "Hopper"), start, end, "1250.00")
	leaseBirch := s.MustLeaseFixture(t, birch, s.MustNamedTenant(t, aID, "Alan", "Turing"), start, end, "900.00")
	leaseCedar := s.MustLeaseFixture(t, cedar, s.MustNamedTenant(t, bID, "Ada", "Lovelace"), start, end, "700.00")

	post := func(token string, lease uuid.UUID, due string, extra map[string]any) transactionDoc {
		t.Helper()
		return s.MustPostCharge(t, token, chargeBody(lease, maps.Collect(func(yield func(string, any) bool) {
			yield("due_date", due)
			for k, v := range extra {
				if !yield(k, v) {
					return
				}
			}
		})))
	}
	// Two charges due the same day: the one posted first has the larger id, so
	// the report's tie-break by id is visible.
	tieLate := post(tokenA, leaseAlder, "2024-02-01", map[string]any{"id": "ffffffff-ffff-4fff-bfff-ffffffffffff"})
	tieEarly := post(tokenA, leaseBirch, "2024-02-01", map[string]any{"id": "00000000-0000-4000-8000-000000000001", "type": "deposit", "amount": "1800.00"})
	march := post(tokenA, leaseAlder, "2024-03-01", nil)
	january := post(tokenA, leaseBirch, "2024-01-20", map[string]any{"type": "fee", "amount": "35.5"})
	dueOnAsOf := post(tokenA, leaseAlder, "2024-03-15", nil)
	afterAsOf := post(tokenA, leaseBirch, "2024-04-01", nil)
	paid := post(tokenA, leaseAlder, "2024-01-05", nil)
	s.MustTransactionCommand(t, tokenA, paid.ID, "pay", paymentBody())
	failed := post(tokenA, leaseBirch, "2024-01-06", nil)
	s.MustTransactionCommand(t, tokenA, failed.ID, "fail", nil)
	retried := post(tokenA, leaseAlder, "2024-01-07", map[string]any{"notes": "bounced once"})
	s.MustTransactionCommand(t, tokenA, retried.ID, "fail", nil)
	s.MustTransactionCommand(t, tokenA, retried.ID, "retry", nil)
	refunded := post(tokenA, leaseBirch, "2024-01-08", nil)
	s.MustTransactionCommand(t, tokenA, refunded.ID, "pay", paymentBody())
	s.MustTransactionCommand(t, tokenA, refunded.ID, "refund", nil)
	farFuture := post(tokenA, leaseAlder, "2199-12-31", nil) // the last day of the date window
	othersOverdue := post(tokenB, leaseCedar, "2024-01-01", nil)
	_ = farFuture

	wantA := []string{retried.ID, january.ID, tieEarly.ID, tieLate.ID, march.ID}
	t.Run("owner A as of 2024-03-15", func(t *testing.T) {
		page := s.MustOverdue(t, tokenA, "as_of=2024-03-15")
		if got := page.ids(); !slices.Equal(got, wantA) {
			t.Fatalf("rows = %v, want %v", got, wantA)
		}
		if page.NextCursor != nil {
			t.Errorf("next_cursor = %s, want null", *page.NextCursor)
		}
		type row struct{ due, amount, kind, property, first, last string }
		want := []row{
			{"2024-01-07", "1250.00", "rent", "Alder House", "Grace", "Hopper"},
			{"2024-01-20", "35.50", "fee", "Birch Flats", "Alan", "Turing"},
			{"2024-02-01", "1800.00", "deposit", "Birch Flats", "Alan", "Turing"},
			{"2024-02-01", "1250.00", "rent", "Alder House", "Grace", "Hopper"},
			{"2024-03-01", "1250.00", "rent", "Alder House", "Grace", "Hopper"},
		}
		propertyOf := map[string]string{"Alder House": alder.String(), "Birch Flats": birch.String()}
		leaseOf := map[string]string{"Alder House": leaseAlder.String(), "Birch Flats": leaseBirch.String()}
		for i, item := range page.Items {
			w := want[i]
			got := row{*item.DueDate, item.Amount, item.Type, item.PropertyName, item.FirstName, item.LastName}
			if got != w {
				t.Errorf("row %d = %+v, want %+v", i, got, w)
			}
			if item.Status != "pending" || item.PropertyID != propertyOf[w.property] || item.LeaseID != leaseOf[w.property] {
				t.Errorf("row %d: status %s property_id %s lease_id %s, want pending %s %s",
					i, item.Status, item.PropertyID, item.LeaseID, propertyOf[w.property], leaseOf[w.property])
			}
		}
		// The retried charge carries every transaction column, as GET answers it.
		first, _ := s.MustGetTransaction(t, tokenA, retried.ID)
		if diff := diffTransaction(page.Items[0].transactionDoc, first); diff != "" {
			t.Errorf("row 0 columns differ from GET: %s", diff)
		}
		if first.Version != 3 || first.Notes == nil || *first.Notes != "bounced once" {
			t.Errorf("retried charge: version %d notes %v, want 3 and bounced once", first.Version, first.Notes)
		}
	})

	t.Run("every column of a row", func(t *testing.T) {
		resp := s.Do(t, tokenA, http.MethodGet, "/api/v1/reports/overdue-transactions?as_of=2024-03-15&limit=1", nil, nil)
		MustStatus(t, resp, http.StatusOK)
		var page struct {
			Items []map[string]json.RawMessage `json:"items"`
		}
		MustDecode(t, resp, &page)
		if len(page.Items) != 1 {
			t.Fatalf("%d items, want 1", len(page.Items))
		}
		want := slices.Sorted(slices.Values(append(slices.Clone(transactionFields), "property_id", "property_name", "first_name", "last_name")))
		if got := slices.Sorted(maps.Keys(page.Items[0])); !slices.Equal(got, want) {
			t.Errorf("row fields = %v, want %v", got, want)
		}
	})

	t.Run("as_of moves the cut", func(t *testing.T) {
		tests := []struct {
			asOf string
			want []string
		}{
			{"2024-01-07", []string{}}, // due on as_of is not yet overdue
			{"2024-01-08", []string{retried.ID}},
			{"2024-02-01", []string{retried.ID, january.ID}},
			{"2024-02-02", []string{retried.ID, january.ID, tieEarly.ID, tieLate.ID}},
			{"2024-03-16", append(slices.Clone(wantA), dueOnAsOf.ID)},
			{"2025-01-01", append(slices.Clone(wantA), dueOnAsOf.ID, afterAsOf.ID)},
		}
		for _, tt := range tests {
			if got := s.MustOverdue(t, tokenA, "as_of="+tt.asOf).ids(); !slices.Equal(got, tt.want) {
				t.Errorf("as_of=%s: %v, want %v", tt.asOf, got, tt.want)
			}
		}
	})

	t.Run("as_of defaults to today", func(t *testing.T) {
		want := append(slices.Clone(wantA), dueOnAsOf.ID, afterAsOf.ID) // not the charge due in 2199
		if got := s.MustOverdue(t, tokenA, "").ids(); !slices.Equal(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
	})

	t.Run("pages keep the order", func(t *testing.T) {
		var got []string
		query := "as_of=2024-03-15&limit=2"
		for range 5 {
			page := s.MustOverdue(t, tokenA, query)
			got = append(got, page.ids()...)
			if page.NextCursor == nil {
				break
			}
			query = "as_of=2024-03-15&limit=2&cursor=" + *page.NextCursor
		}
		if !slices.Equal(got, wantA) {
			t.Errorf("paged rows = %v, want %v", got, wantA)
		}
	})

	t.Run("each owner sees only its own; admin sees all", func(t *testing.T) {
		page := s.MustOverdue(t, tokenB, "as_of=2024-03-15")
		if got, want := page.ids(), []string{othersOverdue.ID}; !slices.Equal(got, want) {
			t.Errorf("B's rows = %v, want %v", got, want)
		}
		if len(page.Items) == 1 && (page.Items[0].PropertyName != "Cedar Court" || page.Items[0].LastName != "Lovelace") {
			t.Errorf("B's row: %s / %s, want Cedar Court / Lovelace", page.Items[0].PropertyName, page.Items[0].LastName)
		}
		if got, want := s.MustOverdue(t, adminToken, "as_of=2024-03-15").ids(), append([]string{othersOverdue.ID}, wantA...); !slices.Equal(got, want) {
			t.Errorf("admin's rows = %v, want %v", got, want)
		}
	})

	t.Run("read-your-writes: a payment leaves the report at once", func(t *testing.T) {
		s.MustTransactionCommand(t, tokenA, january.ID, "pay", paymentBody())
		want := []string{retried.ID, tieEarly.ID, tieLate.ID, march.ID}
		if got := s.MustOverdue(t, tokenA, "as_of=2024-03-15").ids(); !slices.Equal(got, want) {
			t.Errorf("rows = %v, want %v", got, want)
		}
	})

	t.Run("bad queries are 400", func(t *testing.T) {
		for _, query := range []string{"as_of=2024-02-30", "as_of=yesterday", "as_of=2024-3-1", "as_of=2024-03-15T00:00:00Z",
			"limit=0", "limit=x", "cursor=zzz"} {
			MustProblem(t, s.Do(t, tokenA, http.MethodGet, "/api/v1/reports/overdue-transactions?"+query, nil, nil), http.StatusBadRequest)
		}
		MustProblem(t, s.Do(t, "", http.MethodGet, "/api/v1/reports/overdue-transactions", nil, nil), http.StatusUnauthorized)
	})
}
