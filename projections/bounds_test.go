package projections_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
	"github.com/assetanchor/assetanchor/projections"
)

// A log that already holds dates no DATE or TIMESTAMP column can take (stored
// before the date window was enforced, straight through the store's append)
// still rebuilds and verifies: DecodeEvent clamps them to the window
// (docs/schema.md, "Dates outside the window").
func TestRebuildClampsStoredDatesOutsideTheWindow(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	owner, property, tenant, lease, charge, request := uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New(), uuid.New()
	appendRaw := func(streamType string, id uuid.UUID, expected int64, eventType, payload string) {
		t.Helper()
		_, err := store.Append(ctx, eventstore.StreamID{Type: streamType, ID: id}, expected,
			eventstore.NewEvent{Type: eventType, Data: json.RawMessage(payload)})
		if err != nil {
			t.Fatalf("append %s: %v", eventType, err)
		}
	}
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.UserStreamType, ID: owner}, 0, &domain.UserRegistered{
		UserID: owner, Email: "owner-" + owner.String()[:8] + "@example.com", PasswordHash: "h", Role: domain.RoleUser})
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.PropertyStreamType, ID: property}, 0, &domain.PropertyRegistered{
		PropertyID: property, OwnerID: &owner, Status: domain.PropertyActive, Details: domain.PropertyDetails{
			Name: "Elm", Address: "1 Elm St", City: "Salem", State: "OR", ZipCode: "97301", PropertyType: domain.PropertyResidential}})
	appendRaw(domain.TenantStreamType, tenant, 0, "TenantRegistered", `{"tenant_id":"`+tenant.String()+`","registered_by":"`+owner.String()+
		`","contact":{"first_name":"Ada","last_name":"Lovelace","email":"ada@example.com"},"date_of_birth":"0000-02-29","screening":{}}`)
	appendRaw(domain.LeaseStreamType, lease, 0, "LeaseSigned", `{"lease_id":"`+lease.String()+`","property_id":"`+property.String()+
		`","tenant_id":"`+tenant.String()+`","terms":{"start_date":"0000-01-01","end_date":"9999-12-31","rent_amount":"1250.00","security_deposit":"0.00","payment_day":1,"auto_renew":false}}`)
	appendRaw(domain.TransactionStreamType, charge, 0, "ChargePosted", `{"transaction_id":"`+charge.String()+`","lease_id":"`+lease.String()+
		`","amount":"1250.00","type":"rent","due_date":"0000-01-01"}`)
	appendRaw(domain.TransactionStreamType, charge, 1, "RentPaid", `{"payment_date":"9999-12-31","payment_method":"cash"}`)
	MustAppend(t, ctx, store, eventstore.StreamID{Type: domain.MaintenanceStreamType, ID: request}, 0, &domain.MaintenanceRequested{
		RequestID: request, PropertyID: property, TenantID: tenant,
		Details: domain.MaintenanceDetails{Title: "Tap", Description: "drips", Priority: domain.PriorityLow}})
	appendRaw(domain.MaintenanceStreamType, request, 1, "MaintenanceScheduled", `{"scheduled_date":"9999-12-31T23:59:59-01:00"}`)

	if _, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{}); err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	var dueDate, paymentDate, start, end, born time.Time
	var scheduled time.Time
	err := pool.QueryRow(ctx, `SELECT t.due_date, t.payment_date, l.start_date, l.end_date, n.date_of_birth, m.scheduled_date
		FROM transactions t, leases l, tenants n, maintenance_requests m
		WHERE t.id = $1 AND l.id = $2 AND n.id = $3 AND m.id = $4`, charge, lease, tenant, request).
		Scan(&dueDate, &paymentDate, &start, &end, &born, &scheduled)
	if err != nil {
		t.Fatal(err)
	}
	first, last := domain.FirstDate.Time(), domain.LastDate.Time()
	for _, c := range []struct {
		name      string
		got, want time.Time
	}{
		{"due_date", dueDate, first}, {"payment_date", paymentDate, last}, {"start_date", start, first},
		{"end_date", end, last}, {"date_of_birth", born, first},
		{"scheduled_date", scheduled, last.Add(24*time.Hour - time.Microsecond)},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s = %s, want it clamped to %s", c.name, c.got, c.want)
		}
	}
	MustVerifyIdentical(t, ctx, pool, 6+1+8) // a row in each of the six entity tables, the lease's party, and an audit row per event
}
