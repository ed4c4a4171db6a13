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
	reg.MustRegister(
		m.latency,
		buildInfo(s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		lagCollector{s.Checkpoints},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_acquired_conns",
			Help: "Connections in use."}, func() float64 { return float64(s.Pool.Stat().AcquiredConns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_idle_conns",
			Help: "Idle connections."}, func() float64 { return float64(s.Pool.Stat().IdleConns()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assetanchor_db_pool_total_conns",
			Help: "Open connections."}, func() float64 { return float64(s.Pool.Stat().TotalConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "assetanchor_db_pool_acquires_total",
			Help: "Connection acquisitions."}, func() float64 { return float64(s.Pool.Stat().AcquireCount()) }),
	)
	if s.Collector != nil {
		reg.MustRegister(s.Collector)
	}
	reg.MustRegister(s.queries.Collector()) // reads by target: primary, replica
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

var (
	lagEvents = prometheus.NewDesc("assetanchor_projection_lag_events",
		"Events the asynchronous consumer furthest behind has not handled yet.", nil, nil)
	lagSeconds = prometheus.NewDesc("assetanchor_projection_lag_seconds",
		"Age of the oldest event the asynchronous consumer furthest behind has not handled yet.", nil, nil)
)

// lagCollector measures the consumer furthest behind once a scrape, so that its
// two gauges describe the same moment; -1 when it cannot be measured.
type lagCollector struct{ checkpoints *projections.Checkpoints }

func (lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lagEvents; ch <- lagSeconds }

func (c lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	events, seconds := -1.0, -1.0
	if l, err := c.checkpoints.MaxLag(ctx); err == nil {
		events, seconds = float64(l.Events), l.Seconds
	}
	ch <- prometheus.MustNewConstMetric(lagEvents, prometheus.GaugeValue, events)
	ch <- prometheus.MustNewConstMetric(lagSeconds, prometheus.GaugeValue, seconds)
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
