package http

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections"
)

type metrics struct {
	registry *prometheus.Registry
	latency  *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(s *Server) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		registry: reg,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "assetanchor_http_request_duration_seconds",
			Help:    "HTTP request latency by route and status.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"method", "route", "status"}),
	}
	lag := func(measure func(projections.Lag) float64) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			l, err := s.Checkpoints.MaxLag(ctx)
			if err != nil {
				return -1
			}
			return measure(l)
		}
	}
	stat := func(f func() float64) func() float64 { return f }
	reg.MustRegister(
		m.latency,
		buildInfo(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_projection_lag_events",
			Help: "Events the asynchronous consumer furthest behind has not handled yet."},
			lag(func(l projections.Lag) float64 { return float64(l.Events) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_projection_lag_seconds",
			Help: "Age of the oldest event the asynchronous consumer furthest behind has not handled yet."},
			lag(func(l projections.Lag) float64 { return l.Seconds })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_acquired_conns",
			Help: "Connections in use."}, stat(func() float64 { return float64(s.Pool.Stat().AcquiredConns()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_idle_conns",
			Help: "Idle connections."}, stat(func() float64 { return float64(s.Pool.Stat().IdleConns()) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_total_conns",
			Help: "Open connections."}, stat(func() float64 { return float64(s.Pool.Stat().TotalConns()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "assetanchor_db_pool_acquires_total",
			Help: "Connection acquisitions."}, stat(func() float64 { return float64(s.Pool.Stat().AcquireCount()) })),
	)
	if s.Collector != nil {
		reg.MustRegister(s.Collector)
	}
	reg.MustRegister(s.queries.Collector()) // reads by target: primary, replica
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

func (m *metrics) observe(method, route string, status int, elapsed time.Duration) {
	m.latency.WithLabelValues(method, route, strconv.Itoa(status)).Observe(elapsed.Seconds())
}

func (m *metrics) serve(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// adminOnly lets only administrators through.
func (s *Server) adminOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if session(r.Context()).Role != domain.RoleAdmin {
			Error(w, r, s.log, fmt.Errorf("%w: only administrators may read the metrics", domain.ErrForbidden))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// buildInfo is the assetanchor_build_info gauge: always 1, its labels say which
// build is running. Version and revision come from s, else the binary's build
// information (the module version, the VCS revision it was built from).
func buildInfo(s *Server) prometheus.Gauge {
	version, revision := s.Version, s.Revision
	if bi, ok := debug.ReadBuildInfo(); ok {
		if version == "" {
			version = bi.Main.Version
		}
		for _, setting := range bi.Settings {
			if setting.Key == "vcs.revision" && revision == "" {
				revision = setting.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	if revision == "" {
		revision = "unknown"
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "assetanchor_build_info",
		Help:        "The running build: always 1, labelled with its version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
