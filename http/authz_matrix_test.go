package http

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
)

// The authorization matrix: every route of the API, called by each kind of
// caller against fixtures that owner A holds, with the status each must get.
//
// Callers, in the order of every want: an authzAdmin, a authzManager, owner A (who holds
// the fixtures), owner B (another landlord) and an anonymous caller (no token).
//
// To add a route, add one entry to authzMatrix under the key chi.Walk reports
// for it: "METHOD /pattern", the pattern exactly as routes.go registers it
// ("POST /api/v1/leases/{id}/renew"). The entry has
//   - req: the request, built from a fixture f of owner A's (f.property(),
//     f.lease(), f.transaction("pending"), ... create what they name on first
//     use). Give a valid body, so that the status tells what authorization
//     decided and nothing else;
//   - want: the status for each caller, in the order above; the helpers below
//     (anyone, signedIn, ownerScoped, adminOnly, staffRead, accountTrail) name the usual rows.
//
// TestAuthorizationMatrix walks the router: a route without an entry, or an
// entry without a route, fails it. GET routes share one fixture; every other
// route gets a fresh fixture per caller, so that one caller's success does not
// change what the next one meets. A refusal (any 4xx) must write no event.
var authzMatrix = map[string]authzCase{
	// Operations and the document: open to everyone, but the metrics (on the API
	// when they have no address of their own) are for administrators.
	"GET /healthz":      {want: anyone(200), req: authzPath("/healthz")},
	"GET /readyz":       {want: anyone(200), req: authzPath("/readyz")},
	"GET /metrics":      {want: adminOnly(200), req: authzPath("/metrics")},
	"GET /openapi.json": {want: anyone(200), req: authzPath("/openapi.json")},

	// Accounts and sessions.
	"POST /api/v1/auth/signup": {want: anyone(201), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/auth/signup", body: map[string]any{
			"email": "signup-" + uuid.NewString()[:8] + "@example.com", "password": testPassword,
			"first_name": "Sam", "last_name": "Signup",
		}}
	}},
	"POST /api/v1/auth/login": {want: anyone(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/auth/login", body: map[string]any{"email": f.m.emails[authzOwnerA], "password": testPassword}}
	}},
	"POST /api/v1/auth/refresh": {want: anyone(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/auth/refresh", body: map[string]any{"refresh_token": f.session(authzOwnerA).RefreshToken}}
	}},
	// Logging out ends the caller's own session: each caller logs out a fresh one.
	"POST /api/v1/auth/logout": {want: signedIn(204), req: func(f *authzFixture, c authzCaller) authzRequest {
		r := authzRequest{path: "/api/v1/auth/logout"}
		if c != authzAnonymous {
			token := f.session(c).Token
			r.token = &token
		}
		return r
	}},
	"GET /api/v1/me":          {want: signedIn(200), req: authzPath("/api/v1/me")},
	"GET /api/v1/me/sessions": {want: signedIn(200), req: authzPath("/api/v1/me/sessions")},
	// Another session of A's: only A may end it; to anyone else it does not exist.
	"DELETE /api/v1/me/sessions/{id}": {want: authzWant{404, 404, 204, 404, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/me/sessions/" + f.session(authzOwnerA).SessionID.String()}
	}},

	// Users: admins administer them, managers read them; /me is everyone's own.
	"POST /api/v1/users": {want: adminOnly(201), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/users", body: map[string]any{
			"email": "created-" + uuid.NewString()[:8] + "@example.com", "password": testPassword, "role": "user",
		}}
	}},
	"GET /api/v1/users":      {want: staffRead(200), req: authzPath("/api/v1/users")},
	"GET /api/v1/users/{id}": {want: staffRead(200), req: func(f *authzFixture, _ authzCaller) authzRequest { return f.at("/api/v1/users/", f.m.ids[authzOwnerA]) }},
	"GET /api/v1/users/{id}/history": {want: accountTrail(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/users/", f.m.ids[authzOwnerA], "/history")
	}},
	"PATCH /api/v1/users/{id}": {want: adminOnly(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"first_name": "Renamed"}, "/api/v1/users/", f.user(true))
	}},
	"POST /api/v1/users/{id}/role": {want: adminOnly(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"role": "manager"}, "/api/v1/users/", f.user(true), "/role")
	}},
	"POST /api/v1/users/{id}/deactivate": {want: adminOnly(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/users/", f.user(true), "/deactivate")
	}},
	"POST /api/v1/users/{id}/activate": {want: adminOnly(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/users/", f.user(false), "/activate")
	}},

	// Properties: every signed-in caller registers; only those who see one act on it.
	"POST /api/v1/properties": {want: signedIn(201), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/properties", body: authzPropertyBody()}
	}},
	"GET /api/v1/properties":      {want: signedIn(200), req: authzPath("/api/v1/properties")},
	"GET /api/v1/properties/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest { return f.at("/api/v1/properties/", f.property()) }},
	"PATCH /api/v1/properties/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"name": "Renamed"}, "/api/v1/properties/", f.property())
	}},
	"POST /api/v1/properties/{id}/status": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"status": "inactive"}, "/api/v1/properties/", f.property(), "/status")
	}},
	"GET /api/v1/properties/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/properties/", f.property(), "/history")
	}},
	"GET /api/v1/properties/{id}/late-fee-policy": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at(f.propertyPolicy())
	}},
	"PUT /api/v1/properties/{id}/late-fee-policy": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"grace_days": 3, "flat_amount": "40.00"}, "/api/v1/properties/", f.property(), "/late-fee-policy")
	}},
	"GET /api/v1/properties/{id}/active-leases": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		f.lease()
		return f.at("/api/v1/properties/", f.property(), "/active-leases")
	}},

	// Tenants.
	"POST /api/v1/tenants": {want: signedIn(201), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/tenants", body: authzTenantBody()}
	}},
	"GET /api/v1/tenants":      {want: signedIn(200), req: authzPath("/api/v1/tenants")},
	"GET /api/v1/tenants/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest { return f.at("/api/v1/tenants/", f.tenant()) }},
	"PATCH /api/v1/tenants/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"first_name": "Grace"}, "/api/v1/tenants/", f.tenant())
	}},
	"POST /api/v1/tenants/{id}/screening": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"credit_score": 700}, "/api/v1/tenants/", f.tenant(), "/screening")
	}},
	"GET /api/v1/tenants/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/tenants/", f.tenant(), "/history")
	}},
	// Erasure (crypto-shredding, docs/security.md) is an admin's or the owning
	// user's: a manager sees the tenant but may not erase it.
	"POST /api/v1/tenants/{id}/erase": {want: authzWant{200, 403, 200, 404, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/tenants/", f.tenant(), "/erase")
	}},

	// Leases: B names A's property and tenant, which it may not see: 422 on the ids.
	"POST /api/v1/leases": {want: authzWant{201, 201, 201, 422, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/leases", body: authzLeaseBody(f.property(), f.tenant())}
	}},
	"GET /api/v1/leases":      {want: signedIn(200), req: authzPath("/api/v1/leases")},
	"GET /api/v1/leases/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest { return f.at("/api/v1/leases/", f.lease()) }},
	"POST /api/v1/leases/{id}/renew": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"end_date": authzToday.AddDays(700).String()}, "/api/v1/leases/", f.lease(), "/renew")
	}},
	"POST /api/v1/leases/{id}/terminate": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"effective_date": authzToday.String(), "reason": "moving out"}, "/api/v1/leases/", f.lease(), "/terminate")
	}},
	// A lease's parties: another tenant of A's joins; a co-tenant leaves.
	"POST /api/v1/leases/{id}/tenants": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"tenant_id": f.create(http.MethodPost, "/api/v1/tenants", authzTenantBody())},
			"/api/v1/leases/", f.lease(), "/tenants")
	}},
	"DELETE /api/v1/leases/{id}/tenants/{tenant_id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		co := f.create(http.MethodPost, "/api/v1/tenants", authzTenantBody())
		f.do(http.MethodPost, "/api/v1/leases/"+f.lease().String()+"/tenants", map[string]any{"tenant_id": co})
		return f.at("/api/v1/leases/", f.lease(), "/tenants/", co)
	}},
	"GET /api/v1/leases/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/leases/", f.lease(), "/history")
	}},
	"GET /api/v1/leases/{id}/late-fee-policy": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at(f.leasePolicy())
	}},
	"PUT /api/v1/leases/{id}/late-fee-policy": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"grace_days": 2, "percent": "5"}, "/api/v1/leases/", f.lease(), "/late-fee-policy")
	}},
	"GET /api/v1/leases/{id}/ledger": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/leases/", f.lease(), "/ledger")
	}},

	// The ledger: everything is visible to whoever may see the lease.
	"POST /api/v1/leases/{id}/payments": {want: ownerScoped(201), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"amount": "50.00", "payment_date": authzToday.String(), "payment_method": "cash"},
			"/api/v1/leases/", f.lease(), "/payments")
	}},
	"GET /api/v1/leases/{id}/payments": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/leases/", f.lease(), "/payments")
	}},
	"GET /api/v1/payments/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/payments/", f.payment())
	}},
	"GET /api/v1/payments/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/payments/", f.payment(), "/history")
	}},
	"POST /api/v1/payments/{id}/return": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "NSF"}, "/api/v1/payments/", f.payment(), "/return")
	}},
	// A payment with nothing open leaves credit to refund.
	"POST /api/v1/leases/{id}/credit/refund": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		f.payment()
		return f.with(map[string]any{"amount": "10.00", "payment_method": "check"}, "/api/v1/leases/", f.lease(), "/credit/refund")
	}},
	"GET /api/v1/leases/{id}/deposit": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/leases/", f.lease(), "/deposit")
	}},
	"POST /api/v1/leases/{id}/deposit/settle": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		lease := f.lease()
		f.do(http.MethodPost, "/api/v1/leases/"+lease.String()+"/terminate", map[string]any{"effective_date": authzToday.String()})
		return f.with(map[string]any{"deductions": []any{}, "refund_method": "check"}, "/api/v1/leases/", lease, "/deposit/settle")
	}},

	// Transactions: B names A's lease, which it may not see: 422 on lease_id.
	"POST /api/v1/transactions": {want: authzWant{201, 201, 201, 422, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/transactions", body: map[string]any{
			"lease_id": f.lease(), "amount": "25.00", "type": "fee", "due_date": authzToday.String(),
		}}
	}},
	"GET /api/v1/transactions": {want: signedIn(200), req: authzPath("/api/v1/transactions")},
	"GET /api/v1/transactions/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/transactions/", f.transaction("pending"))
	}},
	"POST /api/v1/transactions/{id}/pay": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"payment_date": authzToday.String(), "payment_method": "cash"},
			"/api/v1/transactions/", f.transaction("pending"), "/pay")
	}},
	"POST /api/v1/transactions/{id}/fail": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "bounced"}, "/api/v1/transactions/", f.transaction("pending"), "/fail")
	}},
	"POST /api/v1/transactions/{id}/retry": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/transactions/", f.transaction("failed"), "/retry")
	}},
	"POST /api/v1/transactions/{id}/refund": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "overpaid"}, "/api/v1/transactions/", f.transaction("completed"), "/refund")
	}},
	"POST /api/v1/transactions/{id}/waive": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "goodwill"}, "/api/v1/transactions/", f.transaction("pending"), "/waive")
	}},
	// Writing a charge off is for admins and managers; A sees the charge, so it is refused with 403.
	"POST /api/v1/transactions/{id}/write-off": {want: authzWant{200, 200, 403, 404, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "uncollectable"}, "/api/v1/transactions/", f.transaction("pending"), "/write-off")
	}},
	"GET /api/v1/transactions/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/transactions/", f.transaction("pending"), "/history")
	}},

	// Maintenance: B names A's property and tenant: 422 on the ids.
	"POST /api/v1/maintenance-requests": {want: authzWant{201, 201, 201, 422, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		return authzRequest{path: "/api/v1/maintenance-requests", body: map[string]any{
			"property_id": f.property(), "tenant_id": f.tenant(), "title": "Leaking tap", "description": "Kitchen",
		}}
	}},
	"GET /api/v1/maintenance-requests": {want: signedIn(200), req: authzPath("/api/v1/maintenance-requests")},
	"GET /api/v1/maintenance-requests/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/maintenance-requests/", f.maintenance("open"))
	}},
	"PATCH /api/v1/maintenance-requests/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"title": "Dripping tap"}, "/api/v1/maintenance-requests/", f.maintenance("open"))
	}},
	"POST /api/v1/maintenance-requests/{id}/assign": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"assigned_to": f.m.ids[authzOwnerA]}, "/api/v1/maintenance-requests/", f.maintenance("open"), "/assign")
	}},
	"POST /api/v1/maintenance-requests/{id}/schedule": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"scheduled_date": "2030-06-01T09:00:00Z"}, "/api/v1/maintenance-requests/", f.maintenance("assigned"), "/schedule")
	}},
	"POST /api/v1/maintenance-requests/{id}/start": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/maintenance-requests/", f.maintenance("assigned"), "/start")
	}},
	"POST /api/v1/maintenance-requests/{id}/complete": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"actual_cost": "80.00"}, "/api/v1/maintenance-requests/", f.maintenance("in_progress"), "/complete")
	}},
	"POST /api/v1/maintenance-requests/{id}/cancel": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"reason": "fixed itself"}, "/api/v1/maintenance-requests/", f.maintenance("open"), "/cancel")
	}},
	"GET /api/v1/maintenance-requests/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/maintenance-requests/", f.maintenance("open"), "/history")
	}},

	// Documents, attached to A's property. B names a property it may not see: 422 on entity_id.
	"POST /api/v1/documents": {want: authzWant{201, 201, 201, 422, 401}, req: func(f *authzFixture, _ authzCaller) authzRequest {
		body, contentType := authzDocumentForm(f.tb, "property", f.property())
		return authzRequest{path: "/api/v1/documents", body: body, header: map[string]string{"Content-Type": contentType}}
	}},
	"GET /api/v1/documents":      {want: signedIn(200), req: authzPath("/api/v1/documents")},
	"GET /api/v1/documents/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest { return f.at("/api/v1/documents/", f.document()) }},
	"PATCH /api/v1/documents/{id}": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.with(map[string]any{"name": "renamed.pdf"}, "/api/v1/documents/", f.document())
	}},
	"DELETE /api/v1/documents/{id}": {want: ownerScoped(204), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/documents/", f.document())
	}},
	"GET /api/v1/documents/{id}/content": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/documents/", f.document(), "/content")
	}},
	"GET /api/v1/documents/{id}/history": {want: ownerScoped(200), req: func(f *authzFixture, _ authzCaller) authzRequest {
		return f.at("/api/v1/documents/", f.document(), "/history")
	}},

	// Audit log and reports: everyone signed in, each seeing what it may.
	"GET /api/v1/audit-logs":                   {want: signedIn(200), req: authzPath("/api/v1/audit-logs")},
	"GET /api/v1/reports/overdue-transactions": {want: signedIn(200), req: authzPath("/api/v1/reports/overdue-transactions")},
	"GET /api/v1/reports/expiring-leases":      {want: signedIn(200), req: authzPath("/api/v1/reports/expiring-leases")},
	"GET /api/v1/reports/rent-roll":            {want: signedIn(200), req: authzPath("/api/v1/reports/rent-roll")},
	"GET /api/v1/reports/aging":                {want: signedIn(200), req: authzPath("/api/v1/reports/aging")},
	"GET /api/v1/reports/occupancy":            {want: signedIn(200), req: authzPath("/api/v1/reports/occupancy")},
}

// authzCaller is one column of the matrix.
type authzCaller int

const (
	authzAdmin authzCaller = iota
	authzManager
	authzOwnerA
	authzOwnerB
	authzAnonymous
)

var authzCallers = []authzCaller{authzAdmin, authzManager, authzOwnerA, authzOwnerB, authzAnonymous}

func (c authzCaller) String() string {
	return [...]string{"admin", "manager", "owner A", "owner B", "anonymous"}[c]
}

// authzWant is the status for each caller: admin, manager, owner A, owner B, anonymous.
type authzWant [5]int

// anyone: public routes answer everyone alike, with or without a token.
func anyone(status int) authzWant { return authzWant{status, status, status, status, status} }

// signedIn: everyone signed in may call the route; anonymous callers get 401.
func signedIn(status int) authzWant { return authzWant{status, status, status, status, 401} }

// ownerScoped routes act on A's fixture: admins, managers and A may; to B it does not exist.
func ownerScoped(status int) authzWant { return authzWant{status, status, status, 404, 401} }

// adminOnly routes change users: only admins may; the others are refused with 403.
func adminOnly(status int) authzWant { return authzWant{status, 403, 403, 403, 401} }

// staffRead routes read users: admins and managers may.
func staffRead(status int) authzWant { return authzWant{status, status, 403, 403, 401} }

// accountTrail routes read owner A's account trail (its history: logins, role
// changes): the admins' and A's own; a manager reads users, not their trail.
func accountTrail(status int) authzWant { return authzWant{status, 403, status, 403, 401} }

// authzRequest is one call of a route. token, when set, replaces the caller's;
// header adds to (or replaces) the request's headers.
type authzRequest struct {
	path   string
	body   any
	header map[string]string
	token  *string
}

type authzCase struct {
	want authzWant
	req  func(f *authzFixture, c authzCaller) authzRequest
}

func authzPath(p string) func(*authzFixture, authzCaller) authzRequest {
	return func(*authzFixture, authzCaller) authzRequest { return authzRequest{path: p} }
}

// authzToday is the date the fixtures' leases and charges are built around.
var authzToday = domain.DateOf(time.Now())

func authzPropertyBody() map[string]any {
	return map[string]any{
		"name": "Property " + uuid.NewString()[:8], "address": "1 Main St", "city": "Springfield",
		"state": "IL", "zip_code": "62701", "property_type": "residential",
	}
}

func authzTenantBody() map[string]any {
	return map[string]any{"first_name": "Ada", "last_name": "Lovelace", "email": "ada-" + uuid.NewString()[:8] + "@example.com"}
}

func authzLeaseBody(property, tenant uuid.UUID) map[string]any {
	return map[string]any{
		"property_id": property, "tenant_id": tenant,
		"start_date": authzToday.AddDays(-30).String(), "end_date": authzToday.AddDays(335).String(),
		"rent_amount": "1200.00", "security_deposit": "1200.00",
	}
}

// authzMatrixRun is the stack and the callers of one run of the matrix.
type authzMatrixRun struct {
	s      *stack
	ids    map[authzCaller]uuid.UUID
	emails map[authzCaller]string
	tokens map[authzCaller]string
}

// MustAuthzCallers creates the authzAdmin, the manager and the two owners, and logs
// each in.
func MustAuthzCallers(tb testing.TB, s *stack) *authzMatrixRun {
	tb.Helper()
	m := &authzMatrixRun{s: s, ids: map[authzCaller]uuid.UUID{}, emails: map[authzCaller]string{}, tokens: map[authzCaller]string{}}
	roles := map[authzCaller]domain.Role{authzAdmin: domain.RoleAdmin, authzManager: domain.RoleManager, authzOwnerA: domain.RoleUser, authzOwnerB: domain.RoleUser}
	for c, role := range roles {
		email := strings.ReplaceAll(c.String(), " ", "-") + "-" + uuid.NewString()[:8] + "@example.com"
		res, err := s.users.Create(context.Background(), commands.CreateUser{Email: email, Password: testPassword, Role: role.String()})
		if err != nil {
			tb.Fatal(err)
		}
		m.ids[c], m.emails[c] = res.ID, email
	}
	for c := range roles {
		m.tokens[c] = MustSession(tb, s, m.emails[c]).Token
	}
	return m
}

// MustLogIn opens a session through the command (no rate limit) and waits until
// the read model has it.
func MustSession(tb testing.TB, s *stack, email string) commands.Session {
	tb.Helper()
	ctx := context.Background()
	sess, err := s.users.LogIn(ctx, commands.LogIn{Email: email, Password: testPassword, IPAddress: "192.0.2.1", UserAgent: "authz"})
	if err != nil {
		tb.Fatalf("log in %s: %v", email, err)
	}
	return sess
}

// authzFixture is owner A's portfolio for one call (or, for GET routes, for all
// of them). Each part is created through the API as A on first use.
type authzFixture struct {
	tb testing.TB
	m  *authzMatrixRun

	mu           sync.Mutex
	propertyID   uuid.UUID
	tenantID     uuid.UUID
	leaseID      uuid.UUID
	paymentID    uuid.UUID
	documentID   uuid.UUID
	transactions map[string]uuid.UUID
	requests     map[string]uuid.UUID
	policies     map[string]bool
}

func (m *authzMatrixRun) fixture(tb testing.TB) *authzFixture {
	return &authzFixture{tb: tb, m: m, transactions: map[string]uuid.UUID{}, requests: map[string]uuid.UUID{},
		policies: map[string]bool{}}
}

// create runs a command as A and returns the created id.
func (f *authzFixture) create(method, path string, body any) uuid.UUID {
	f.tb.Helper()
	resp := f.m.s.Do(f.tb, f.m.tokens[authzOwnerA], method, path, body, nil)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		MustStatus(f.tb, resp, http.StatusCreated)
	}
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	MustDecode(f.tb, resp, &created)
	return created.ID
}

func (f *authzFixture) do(method, path string, body any) {
	f.tb.Helper()
	MustStatus(f.tb, f.m.s.Do(f.tb, f.m.tokens[authzOwnerA], method, path, body, nil), http.StatusOK)
}

func (f *authzFixture) property() uuid.UUID {
	f.tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.propertyID == uuid.Nil {
		f.propertyID = f.create(http.MethodPost, "/api/v1/properties", authzPropertyBody())
	}
	return f.propertyID
}

func (f *authzFixture) tenant() uuid.UUID {
	f.tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tenantID == uuid.Nil {
		f.tenantID = f.create(http.MethodPost, "/api/v1/tenants", authzTenantBody())
	}
	return f.tenantID
}

// lease is an active lease of A's property to A's tenant, running today.
func (f *authzFixture) lease() uuid.UUID {
	f.tb.Helper()
	property, tenant := f.property(), f.tenant()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.leaseID == uuid.Nil {
		f.leaseID = f.create(http.MethodPost, "/api/v1/leases", authzLeaseBody(property, tenant))
	}
	return f.leaseID
}

// transaction is a charge on A's lease in status pending, failed or completed.
func (f *authzFixture) transaction(status string) uuid.UUID {
	f.tb.Helper()
	lease := f.lease()
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.transactions[status]; ok {
		return id
	}
	id := f.create(http.MethodPost, "/api/v1/transactions", map[string]any{
		"lease_id": lease, "amount": "100.00", "type": "fee", "due_date": authzToday.AddDays(-10).String(),
	})
	switch status {
	case "pending":
	case "failed":
		f.do(http.MethodPost, "/api/v1/transactions/"+id.String()+"/fail", map[string]any{"reason": "bounced"})
	case "completed":
		f.do(http.MethodPost, "/api/v1/transactions/"+id.String()+"/pay", map[string]any{
			"payment_date": authzToday.String(), "payment_method": "cash",
		})
	default:
		f.tb.Fatalf("no transaction fixture in status %q", status)
	}
	f.transactions[status] = id
	return id
}

// payment is a payment of 50.00 recorded for A's lease.
func (f *authzFixture) payment() uuid.UUID {
	f.tb.Helper()
	lease := f.lease()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.paymentID == uuid.Nil {
		f.paymentID = f.create(http.MethodPost, "/api/v1/leases/"+lease.String()+"/payments", map[string]any{
			"amount": "50.00", "payment_date": authzToday.String(), "payment_method": "cash",
		})
	}
	return f.paymentID
}

// maintenance is a request on A's property in status open, assigned (to A) or in_progress.
func (f *authzFixture) maintenance(status string) uuid.UUID {
	f.tb.Helper()
	property, tenant := f.property(), f.tenant()
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.requests[status]; ok {
		return id
	}
	id := f.create(http.MethodPost, "/api/v1/maintenance-requests", map[string]any{
		"property_id": property, "tenant_id": tenant, "title": "Broken boiler", "description": "No hot water",
	})
	path := "/api/v1/maintenance-requests/" + id.String()
	switch status {
	case "open":
	case "assigned", "in_progress":
		f.do(http.MethodPost, path+"/assign", map[string]any{"assigned_to": f.m.ids[authzOwnerA]})
		if status == "in_progress" {
			f.do(http.MethodPost, path+"/start", nil)
		}
	default:
		f.tb.Fatalf("no maintenance fixture in status %q", status)
	}
	f.requests[status] = id
	return id
}

// propertyPolicy gives A's property a late-fee policy and returns the path of it.
func (f *authzFixture) propertyPolicy() string {
	f.tb.Helper()
	return f.policy("/api/v1/properties/"+f.property().String()+"/late-fee-policy", map[string]any{"grace_days": 5, "flat_amount": "50.00"})
}

// leasePolicy gives A's lease its own late-fee policy and returns the path of it.
func (f *authzFixture) leasePolicy() string {
	f.tb.Helper()
	return f.policy("/api/v1/leases/"+f.lease().String()+"/late-fee-policy", map[string]any{"grace_days": 5, "percent": "10"})
}

func (f *authzFixture) policy(path string, body map[string]any) string {
	f.tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.policies[path] {
		MustStatus(f.tb, f.m.s.Do(f.tb, f.m.tokens[authzOwnerA], http.MethodPut, path, body, nil), http.StatusOK)
		f.policies[path] = true
	}
	return path
}

// document is a PDF that A uploaded to its property.
func (f *authzFixture) document() uuid.UUID {
	f.tb.Helper()
	property := f.property()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.documentID == uuid.Nil {
		body, contentType := authzDocumentForm(f.tb, "property", property)
		resp := f.m.s.Do(f.tb, f.m.tokens[authzOwnerA], http.MethodPost, "/api/v1/documents", body, map[string]string{"Content-Type": contentType})
		MustStatus(f.tb, resp, http.StatusCreated)
		var created struct {
			ID uuid.UUID `json:"id"`
		}
		MustDecode(f.tb, resp, &created)
		f.documentID = created.ID
	}
	return f.documentID
}

// authzDocumentForm is a multipart upload of a small PDF attached to an entity.
func authzDocumentForm(tb testing.TB, entityType string, entity uuid.UUID) ([]byte, string) {
	tb.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for name, value := range map[string]string{"entity_type": entityType, "entity_id": entity.String()} {
		if err := w.WriteField(name, value); err != nil {
			tb.Fatal(err)
		}
	}
	file, err := w.CreateFormFile("file", "lease-terms.pdf")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := file.Write([]byte("%PDF-1.7\n% lease terms\n%%EOF\n")); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), w.FormDataContentType()
}

// user is a fresh account for user administration to act on: active, or deactivated.
func (f *authzFixture) user(active bool) uuid.UUID {
	f.tb.Helper()
	ctx := context.Background()
	res, err := f.m.s.users.Create(ctx, commands.CreateUser{
		Email: "target-" + uuid.NewString()[:8] + "@example.com", Password: testPassword, Role: "user",
	})
	if err != nil {
		f.tb.Fatal(err)
	}
	if !active {
		res, err = f.m.s.users.Deactivate(ctx, commands.Target{Actor: commands.Actor{UserID: f.m.ids[authzAdmin], Role: domain.RoleAdmin}, ID: res.ID})
		if err != nil {
			f.tb.Fatal(err)
		}
	}
	return res.ID
}

// session is a fresh session of the caller, besides the one its token belongs to.
func (f *authzFixture) session(c authzCaller) commands.Session {
	f.tb.Helper()
	return MustSession(f.tb, f.m.s, f.m.emails[c])
}

// at is a request for the path made of parts (strings and ids), without a body.
func (f *authzFixture) at(parts ...any) authzRequest { return f.with(nil, parts...) }

// with is a request for the path made of parts, with body.
func (f *authzFixture) with(body any, parts ...any) authzRequest {
	var b strings.Builder
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case uuid.UUID:
			b.WriteString(p.String())
		default:
			f.tb.Fatalf("path part %v is a %T", p, p)
		}
	}
	return authzRequest{path: b.String(), body: body}
}

func TestAuthorizationMatrix(t *testing.T) {
	s := MustStack(t)
	m := MustAuthzCallers(t, s)

	routes := MustRoutes(t, s.server)
	for _, route := range routes {
		if _, ok := authzMatrix[route]; !ok {
			t.Errorf("route %s has no entry in authzMatrix (http/authz_matrix_test.go): add one with the status each caller must get", route)
		}
	}
	var keys []string
	for key := range authzMatrix {
		keys = append(keys, key)
		if !slices.Contains(routes, key) {
			t.Errorf("authzMatrix has an entry for %s, which no route serves: remove it", key)
		}
	}
	sort.Strings(keys)

	// GET routes read; they share one portfolio of A's, made in full up front.
	shared := m.fixture(t)
	shared.lease()
	shared.transaction("pending")
	shared.maintenance("open")
	if slices.Contains(routes, "POST /api/v1/leases/{id}/payments") {
		shared.payment()
	}
	if slices.Contains(routes, "PUT /api/v1/properties/{id}/late-fee-policy") {
		shared.propertyPolicy()
		shared.leasePolicy()
	}
	if slices.Contains(routes, "POST /api/v1/documents") {
		shared.document()
	}

	for _, key := range keys {
		if !slices.Contains(routes, key) {
			continue
		}
		c := authzMatrix[key]
		method, _, _ := strings.Cut(key, " ")
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			for _, caller := range authzCallers {
				f := shared
				if method != http.MethodGet {
					f = m.fixture(t)
				}
				req := c.req(f, caller)
				token := m.tokens[caller]
				if req.token != nil {
					token = *req.token
				}
				requestID := "authz-" + uuid.NewString()
				header := map[string]string{"X-Request-Id": requestID}
				for name, value := range req.header {
					header[name] = value
				}
				resp := s.Do(t, token, method, req.path, req.body, header)
				if resp.StatusCode != c.want[caller] {
					t.Errorf("%s %s as %s: status %d, want %d: %s", method, req.path, caller, resp.StatusCode, c.want[caller], MustBody(t, resp))
				}
				if resp.StatusCode >= 400 {
					if n := MustEventsOfRequest(t, s, requestID); n != 0 {
						t.Errorf("%s %s as %s was refused with %d but wrote %d events", method, req.path, caller, resp.StatusCode, n)
					}
				}
			}
		})
	}
}

// MustBody reads what is left of a response body, for failure messages.
func MustBody(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil || b.Len() > 2000 {
			break
		}
	}
	return b.String()
}

// MustEventsOfRequest counts the events that the request with this id appended.
func MustEventsOfRequest(tb testing.TB, s *stack, requestID string) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE metadata->>'correlation_id' = $1`, requestID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// A maintenance request may name only a tenant the caller may see: another
// owner's tenant is reported like one that does not exist, and nothing is written.
func TestMaintenanceRequestRefusesAnInvisibleTenant(t *testing.T) {
	s := MustStack(t)
	m := MustAuthzCallers(t, s)
	ofA, ofB := m.fixture(t), m.fixture(t)
	ofB.m = &authzMatrixRun{s: s, ids: m.ids, emails: m.emails, tokens: map[authzCaller]string{authzOwnerA: m.tokens[authzOwnerB]}}
	propertyA, tenantOfB := ofA.property(), ofB.tenant() // ofB acts as B

	before := s.MustEventCount(t)
	resp := s.Do(t, m.tokens[authzOwnerA], http.MethodPost, "/api/v1/maintenance-requests", map[string]any{
		"property_id": propertyA, "tenant_id": tenantOfB, "title": "Leaking tap", "description": "Kitchen",
	}, nil)
	p := MustProblem(t, resp, http.StatusUnprocessableEntity)
	if got := p.fields(); !slices.Equal(got, []string{"tenant_id"}) {
		t.Errorf("refused fields = %v, want [tenant_id]", got)
	}
	if after := s.MustEventCount(t); after != before {
		t.Errorf("the refused request wrote %d events", after-before)
	}

	// The same tenant becomes A's to name once it leases one of A's properties.
	lease := MustAuthzLease(t, s, m.tokens[authzAdmin], propertyA, tenantOfB)
	if lease == uuid.Nil {
		t.Fatal("no lease")
	}
	resp = s.Do(t, m.tokens[authzOwnerA], http.MethodPost, "/api/v1/maintenance-requests", map[string]any{
		"property_id": propertyA, "tenant_id": tenantOfB, "title": "Leaking tap", "description": "Kitchen",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	// A manager names any tenant.
	resp = s.Do(t, m.tokens[authzManager], http.MethodPost, "/api/v1/maintenance-requests", map[string]any{
		"property_id": propertyA, "tenant_id": ofA.tenant(), "title": "Leaking tap", "description": "Kitchen",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
}

// An id of another owner's that a command names (a lease's property or tenant, a
// charge's lease, a maintenance request's property or tenant, a document's
// entity) is refused exactly like an id that names nothing: the same status and
// problem, so that commands cannot probe other owners' ids; and nothing is written.
func TestAnotherOwnersIdsReadLikeMissingOnes(t *testing.T) {
	s := MustStack(t)
	m := MustAuthzCallers(t, s)
	ofA, ofB := m.fixture(t), m.fixture(t)
	ofB.m = &authzMatrixRun{s: s, ids: m.ids, emails: m.emails, tokens: map[authzCaller]string{authzOwnerA: m.tokens[authzOwnerB]}}
	propertyA, tenantA := ofA.property(), ofA.tenant()
	propertyB, tenantB, leaseB, chargeB := ofB.property(), ofB.tenant(), ofB.lease(), ofB.transaction("pending")

	post := func(path string, body func(id uuid.UUID) map[string]any) func(uuid.UUID) authzRequest {
		return func(id uuid.UUID) authzRequest { return authzRequest{path: path, body: body(id)} }
	}
	document := func(entityType string) func(uuid.UUID) authzRequest {
		return func(id uuid.UUID) authzRequest {
			body, contentType := authzDocumentForm(t, entityType, id)
			return authzRequest{path: "/api/v1/documents", body: body, header: map[string]string{"Content-Type": contentType}}
		}
	}
	maintenance := func(property, tenant uuid.UUID) map[string]any {
		return map[string]any{"property_id": property, "tenant_id": tenant, "title": "Leaking tap", "description": "Kitchen"}
	}
	for _, c := range []struct {
		name   string
		theirs uuid.UUID
		req    func(id uuid.UUID) authzRequest
	}{
		{"a lease's property", propertyB, post("/api/v1/leases", func(id uuid.UUID) map[string]any { return authzLeaseBody(id, tenantA) })},
		{"a lease's tenant", tenantB, post("/api/v1/leases", func(id uuid.UUID) map[string]any { return authzLeaseBody(propertyA, id) })},
		{"a lease's co-tenant", tenantB, post("/api/v1/leases", func(id uuid.UUID) map[string]any {
			body := authzLeaseBody(propertyA, tenantA)
			delete(body, "tenant_id")
			body["tenant_ids"] = []uuid.UUID{tenantA, id}
			return body
		})},
		{"a party added to a lease", tenantB, func(id uuid.UUID) authzRequest {
			return authzRequest{path: "/api/v1/leases/" + ofA.lease().String() + "/tenants", body: map[string]any{"tenant_id": id}}
		}},
		{"a charge's lease", leaseB, post("/api/v1/transactions", func(id uuid.UUID) map[string]any {
			return map[string]any{"lease_id": id, "amount": "100.00", "type": "fee", "due_date": authzToday.String()}
		})},
		{"a maintenance request's property", propertyB, post("/api/v1/maintenance-requests", func(id uuid.UUID) map[string]any { return maintenance(id, tenantA) })},
		{"a maintenance request's tenant", tenantB, post("/api/v1/maintenance-requests", func(id uuid.UUID) map[string]any { return maintenance(propertyA, id) })},
		{"a document's property", propertyB, document("property")},
		{"a document's lease", leaseB, document("lease")},
		{"a document's tenant", tenantB, document("tenant")},
		{"a document's transaction", chargeB, document("transaction")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var answers [2]problemDoc
			for i, id := range []uuid.UUID{c.theirs, uuid.New()} {
				req := c.req(id)
				requestID := "oracle-" + uuid.NewString()
				header := map[string]string{"X-Request-Id": requestID}
				for k, v := range req.header {
					header[k] = v
				}
				resp := s.Do(t, m.tokens[authzOwnerA], http.MethodPost, req.path, req.body, header)
				if resp.StatusCode < 400 {
					t.Fatalf("naming %s: status %d, want a refusal: %s", id, resp.StatusCode, MustBody(t, resp))
				}
				answers[i] = MustProblem(t, resp, resp.StatusCode)
				answers[i].Instance, answers[i].RequestID = "", ""
				if n := MustEventsOfRequest(t, s, requestID); n != 0 {
					t.Errorf("the refusal wrote %d events", n)
				}
			}
			if theirs, missing := answers[0], answers[1]; !reflect.DeepEqual(theirs, missing) {
				t.Errorf("another owner's id is answered\n %+v\nbut an id of nothing\n %+v", theirs, missing)
			}
		})
	}
}

// MustAuthzLease signs a lease through the API as the holder of token.
func MustAuthzLease(tb testing.TB, s *stack, token string, property, tenant uuid.UUID) uuid.UUID {
	tb.Helper()
	resp := s.Do(tb, token, http.MethodPost, "/api/v1/leases", authzLeaseBody(property, tenant), nil)
	MustStatus(tb, resp, http.StatusCreated)
	var l struct {
		ID uuid.UUID `json:"id"`
	}
	MustDecode(tb, resp, &l)
	return l.ID
}

// Logging in from several places at once works: every login answers 200.
// (Logins append UserLoggedIn to the user's stream; racing ones must not fail.)
func TestConcurrentLoginsOfOneUser(t *testing.T) {
	s := MustStack(t)
	email := "busy-" + uuid.NewString()[:8] + "@example.com"
	if _, err := s.users.Create(context.Background(), commands.CreateUser{Email: email, Password: testPassword, Role: "user"}); err != nil {
		t.Fatal(err)
	}
	const n = 12
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.users.LogIn(context.Background(), commands.LogIn{Email: email, Password: testPassword, IPAddress: "192.0.2.7"})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a login racing others failed: %v", err)
		}
	}
}
