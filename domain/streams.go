package domain

import "strings"

// streamTypeNames maps each name an entity's streams go by to their stream
// type: the stream type itself and the API's collection (its plural), each also
// with - for _.
var streamTypeNames = func() map[string]string {
	names := map[string]string{}
	for _, t := range []struct{ one, many string }{
		{UserStreamType, "users"}, {SessionStreamType, "sessions"}, {PropertyStreamType, "properties"},
		{TenantStreamType, "tenants"}, {LeaseStreamType, "leases"}, {TransactionStreamType, "transactions"},
		{MaintenanceStreamType, "maintenance_requests"}, {DocumentStreamType, "documents"}, {PaymentStreamType, "payments"},
	} {
		for _, name := range []string{t.one, t.many} {
			names[name] = t.one
			names[strings.ReplaceAll(name, "_", "-")] = t.one
		}
	}
	return names
}()

// StreamTypeNamed is the stream type that name stands for: a stream type
// ("maintenance_request") or an API collection ("maintenance-requests"); ok is
// false for any other name.
func StreamTypeNamed(name string) (streamType string, ok bool) {
	streamType, ok = streamTypeNames[name]
	return streamType, ok
}
