package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes is every route of the API, in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	// CORS comes before the input check, so that a browser can read the refusal;
	// HEAD is served by the GET handler (the server drops the body).
	r.Use(s.observe, s.cors, s.validInput, s.deadline, middleware.GetHead, compress, notModified)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNoRoute) })
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if s.MetricsAddr == "" {
		// Without a listen address of its own, /metrics is for administrators only.
		r.With(s.authenticate, s.adminOnly).Get("/metrics", s.metrics.serve)
	}
	r.Get("/openapi.json", s.openAPI)
	// The audit console: HTML for people, not part of the API the document describes.
	r.Route("/console", s.consoleRoutes)

	r.Route("/api/v1", func(r chi.Router) {
		r.With(s.idempotent).Post("/auth/signup", s.signup)
		r.Post("/auth/login", s.login)
		r.Post("/auth/refresh", s.refresh)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Post("/auth/logout", s.logout)
			r.Get("/me", s.me)
			r.Get("/me/sessions", s.mySessions)
			r.Delete("/me/sessions/{id}", s.revokeMySession)

			r.With(s.idempotent).Post("/users", s.createUser)
			r.Get("/users", s.listUsers)
			r.Get("/users/{id}", s.getUser)
			r.Patch("/users/{id}", s.changeUser)
			r.With(s.idempotent).Post("/users/{id}/role", s.changeUserRole)
			r.With(s.idempotent).Post("/users/{id}/deactivate", s.targetCommand(noBody, s.Users.Deactivate, s.users().answer))
			r.With(s.idempotent).Post("/users/{id}/activate", s.targetCommand(noBody, s.Users.Reactivate, s.users().answer))
			r.Get("/users/{id}/history", s.userHistory)

			r.With(s.idempotent).Post("/properties", s.createProperty)
			r.Get("/properties", listHandler(s, propertyFilter, s.queries.Properties))
			r.Get("/properties/{id}", s.properties().get)
			r.Patch("/properties/{id}", s.changeProperty)
			r.With(s.idempotent).Post("/properties/{id}/status", s.changePropertyStatus)
			r.Get("/properties/{id}/history", s.properties().history)
			r.Get("/properties/{id}/active-leases", s.activeLeases)
			r.Get("/properties/{id}/late-fee-policy", s.propertyLateFeePolicies().current)
			r.Put("/properties/{id}/late-fee-policy", s.putPropertyLateFeePolicy)

			r.With(s.idempotent).Post("/tenants", s.createTenant)
			r.Get("/tenants", listHandler(s, tenantFilter, s.tenantPage))
			r.Get("/tenants/{id}", s.getTenant)
			r.Patch("/tenants/{id}", s.changeTenant)
			r.With(s.idempotent).Post("/tenants/{id}/screening", s.recordScreening)
			r.With(s.idempotent).Post("/tenants/{id}/erase", s.eraseTenant)
			r.Get("/tenants/{id}/history", s.tenantHistory)

			r.With(s.idempotent).Post("/leases", s.signLease)
			r.Get("/leases", listHandler(s, leaseFilter, s.queries.Leases))
			r.Get("/leases/{id}", s.leases().get)
			r.With(s.idempotent).Post("/leases/{id}/renew", s.renewLease)
			r.With(s.idempotent).Post("/leases/{id}/terminate", s.terminateLease)
			r.With(s.idempotent).Post("/leases/{id}/tenants", s.addLeaseTenant)
			r.Delete("/leases/{id}/tenants/{tenant_id}", s.removeLeaseTenant)
			r.Get("/leases/{id}/history", s.leases().history)
			r.Get("/leases/{id}/late-fee-policy", s.leaseLateFeePolicies().current)
			r.Put("/leases/{id}/late-fee-policy", s.putLeaseLateFeePolicy)
			r.Get("/leases/{id}/ledger", s.leaseLedger)
			r.With(s.idempotent).Post("/leases/{id}/payments", s.recordPayment)
			r.Get("/leases/{id}/payments", s.listLeasePayments)
			r.With(s.idempotent).Post("/leases/{id}/credit/refund", s.refundCredit)
			r.Get("/leases/{id}/deposit", s.deposits().current)
			r.With(s.idempotent).Post("/leases/{id}/deposit/settle", s.settleDeposit)
			r.Get("/payments/{id}", s.payments().get)
			r.Get("/payments/{id}/history", s.payments().history)
			r.With(s.idempotent).Post("/payments/{id}/return", s.returnPayment)

			r.With(s.idempotent).Post("/transactions", s.postCharge)
			r.Get("/transactions", listHandler(s, transactionFilter, s.queries.Transactions))
			r.Get("/transactions/{id}", s.transactions().get)
			r.With(s.idempotent).Post("/transactions/{id}/pay", s.payTransaction)
			r.With(s.idempotent).Post("/transactions/{id}/fail", s.transitionCommand(s.Transactions.Fail, s.transactions().answer))
			r.With(s.idempotent).Post("/transactions/{id}/retry", s.targetCommand(optionalBody, s.Transactions.Retry, s.transactions().answer))
			r.With(s.idempotent).Post("/transactions/{id}/refund", s.transitionCommand(s.Transactions.Refund, s.transactions().answer))
			r.With(s.idempotent).Post("/transactions/{id}/waive", s.transitionCommand(s.Transactions.Waive, s.transactions().answer))
			r.With(s.idempotent).Post("/transactions/{id}/write-off", s.transitionCommand(s.Transactions.WriteOff, s.transactions().answer))
			r.Get("/transactions/{id}/history", s.transactions().history)

			r.With(s.idempotent).Post("/maintenance-requests", s.requestMaintenance)
			r.Get("/maintenance-requests", listHandler(s, maintenanceFilter, s.queries.MaintenanceRequests))
			r.Get("/maintenance-requests/{id}", s.maintenance().get)
			r.Patch("/maintenance-requests/{id}", s.changeMaintenance)
			r.With(s.idempotent).Post("/maintenance-requests/{id}/assign", s.assignMaintenance)
			r.With(s.idempotent).Post("/maintenance-requests/{id}/schedule", s.scheduleMaintenance)
			r.With(s.idempotent).Post("/maintenance-requests/{id}/start", s.targetCommand(optionalBody, s.Maintenance.Start, s.maintenance().answer))
			r.With(s.idempotent).Post("/maintenance-requests/{id}/complete", s.completeMaintenance)
			r.With(s.idempotent).Post("/maintenance-requests/{id}/cancel", s.transitionCommand(s.Maintenance.Cancel, s.maintenance().answer))
			r.Get("/maintenance-requests/{id}/history", s.maintenance().history)

			r.Post("/documents", s.uploadDocument) // multipart: Idempotency-Key is handled by the handler
			r.Get("/documents", listHandler(s, documentFilter, s.queries.Documents))
			r.Get("/documents/{id}", s.documents().get)
			r.Patch("/documents/{id}", s.changeDocument)
			r.Delete("/documents/{id}", s.targetCommand(noBody, s.Documents.Delete, s.answerNoContent))
			r.Get("/documents/{id}/content", s.documentContent)
			r.Get("/documents/{id}/history", s.documentHistory)

			r.Get("/audit-logs", s.listAuditLogs)

			r.Get("/reports/overdue-transactions", listHandler(s, overdueFilter, s.queries.OverdueTransactions))
			r.Get("/reports/expiring-leases", s.expiringLeases)
			r.Get("/reports/rent-roll", s.rentRoll)
			r.Get("/reports/aging", s.aging)
			r.Get("/reports/occupancy", s.occupancy)
		})
	})
	return r
}

var (
	errNoRoute = &clientError{status: http.StatusNotFound, detail: "no such route"}
	errMethod  = &clientError{status: http.StatusMethodNotAllowed, detail: "method not allowed on this route"}
)
