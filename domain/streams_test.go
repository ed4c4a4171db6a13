package domain

import "testing"

func TestStreamTypeNamed(t *testing.T) {
	for name, want := range map[string]string{
		"user": UserStreamType, "users": UserStreamType, "sessions": SessionStreamType,
		"property": PropertyStreamType, "properties": PropertyStreamType, "tenants": TenantStreamType,
		"lease": LeaseStreamType, "transactions": TransactionStreamType, "document": DocumentStreamType,
		"payment": PaymentStreamType, "payments": PaymentStreamType,
		"maintenance_request": MaintenanceStreamType, "maintenance-request": MaintenanceStreamType,
		"maintenance_requests": MaintenanceStreamType, "maintenance-requests": MaintenanceStreamType,
	} {
		if got, ok := StreamTypeNamed(name); !ok || got != want {
			t.Errorf("StreamTypeNamed(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"", "Users", "audit-logs", "reports"} {
		if got, ok := StreamTypeNamed(name); ok {
			t.Errorf("StreamTypeNamed(%q) = %q; want no stream type", name, got)
		}
	}
}
