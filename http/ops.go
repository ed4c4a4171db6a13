package http

import (
	_ "embed"
	"net/http"
	"time"
)

//go:embed openapi.json
var openAPIDocument []byte

// maxReadyLagSeconds is the projection lag above which the service is not ready.
const maxReadyLagSeconds = 30

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{"database": "ok", "schema": "ok", "projections": "ok"}
	ready := true
	fail := func(name, why string) { checks[name], ready = why, false }
	if err := s.queries.Ping(r.Context()); err != nil {
		fail("database", "unreachable")
	}
	if err := s.SchemaCurrent(r.Context()); err != nil {
		fail("schema", err.Error())
	}
	lag, err := s.Checkpoints.MaxLag(r.Context())
	switch {
	case err != nil:
		fail("projections", "lag unknown")
	case lag.Seconds > maxReadyLagSeconds:
		fail("projections", "behind by "+time.Duration(lag.Seconds*float64(time.Second)).Round(time.Second).String())
	}
	degraded := false
	if s.Degraded != nil {
		for name, why := range s.Degraded(r.Context()) {
			checks[name], degraded = why, true
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "degraded": degraded, "checks": checks})
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
