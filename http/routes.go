package http

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes is every route of the API, in one place.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.observe)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errNoRoute) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { Error(w, r, s.log, errMethod) })

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Get("/metrics", s.metrics.serve)
	r.Get("/openapi.json", s.openAPI)

	r.Route("/api/v1", func(r chi.Router) {
		r.With(s.idempotent).Post("/auth/login", s.login)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Post("/auth/logout", s.logout)

			r.With(s.idempotent).Post("/properties", s.createProperty)
			r.Get("/properties", s.listProperties)
			r.Get("/properties/{id}", s.getProperty)
			r.Patch("/properties/{id}", s.changeProperty)
			r.With(s.idempotent).Post("/properties/{id}/status", s.changePropertyStatus)
			r.Get("/properties/{id}/history", s.propertyHistory)
		})
	})
	return r
}

var (
	errNoRoute = &clientError{status: http.StatusNotFound, detail: "no such route"}
	errMethod  = &clientError{status: http.StatusMethodNotAllowed, detail: "method not allowed on this route"}
)
