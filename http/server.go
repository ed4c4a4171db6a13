// Package http serves the Asset Anchor API: routing, decoding, the RFC 9457
// problems (problem.go, the one error mapper) and HTTP's own rules
// (Idempotency-Key, ETags, rate limits, CORS). Handlers call commands to change
// state and projections/readmodel to read it; storage and orchestration are
// theirs. It wraps net/http and chi so that nothing else in the module touches
// them: cmd calls NewServer and Run. Nothing of ours imports it but cmd.
package http

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/blobs"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/http/console"
	"github.com/assetanchor/assetanchor/projections"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// Deps are the server's collaborators; NewServer refuses missing ones.
type Deps struct {
	Log          *slog.Logger
	Pool         *pgxpool.Pool // idempotency records and readiness
	Store        eventstore.Store
	Queries      *readmodel.Queries
	Checkpoints  *projections.Checkpoints
	Users        *commands.Users
	Properties   *commands.Properties
	Tenants      *commands.Tenants
	Leases       *commands.Leases
	Transactions *commands.Transactions
	Ledger       *commands.Ledger // payments, credit, deposits
	Maintenance  *commands.Maintenance
	Documents    *commands.Documents
	// Blobs holds the documents' bytes (blobs.Local under the data dir).
	Blobs blobs.Store
	// MaxUploadBytes caps a document's size (413 beyond); 0 is DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// UploadTypes are the media types a document may have (415 otherwise); nil is
	// DefaultUploadTypes.
	UploadTypes []string
	// Keyring opens tenants' sealed personal data for callers who may see them.
	Keyring *tenantkeys.Keyring
	// SchemaCurrent reports whether the database is at the binary's migration.
	SchemaCurrent func(context.Context) error
	// Collector adds metrics of other packages, such as events appended by type.
	Collector prometheus.Collector
	// Degraded reports what works but needs an operator (name: why), such as
	// events the NATS relay parked; /readyz shows it without turning unready.
	Degraded func(context.Context) map[string]string
	// RequestTimeout bounds each request (deadline); 0 is DefaultRequestTimeout.
	RequestTimeout time.Duration
	// LoginLimitPerIP and LoginLimitPerEmail throttle login, signup and refresh;
	// their buckets are in PostgreSQL (Pool), shared by every node.
	LoginLimitPerIP, LoginLimitPerEmail RateLimit
	// CORSOrigins may call the API from a browser (scheme://host[:port]); none: no CORS.
	CORSOrigins []string
	// TrustedProxies are the proxies whose X-Forwarded-For entry names the
	// client (logs, rate limits, event metadata); none: the socket's peer.
	TrustedProxies []netip.Prefix
	// MetricsAddr, when set, is where Run serves /metrics, alone; otherwise
	// /metrics is on the API and needs an admin's bearer token.
	MetricsAddr string
	// Integrity checks a stream for the audit console's integrity panel; nil
	// checks its hash chain only (VerifyStream), with no anchor.
	Integrity console.IntegrityFunc
	// Version and Revision label assetanchor_build_info; empty: read from the
	// binary's build information.
	Version, Revision string
}

// Server is the HTTP API.
type Server struct {
	Deps
	log     *slog.Logger
	queries *readmodel.Queries
	metrics *metrics
	handler http.Handler

	uploadTypes []string // UploadTypes, normalised

	ipLimiter, emailLimiter *limiter

	consolePages *console.Pages
	integrity    console.IntegrityFunc
}

// NewServer builds the API.
func NewServer(d Deps) (*Server, error) {
	if d.Log == nil || d.Pool == nil || d.Store == nil || d.Queries == nil ||
		d.Checkpoints == nil || d.Users == nil || d.Properties == nil || d.Tenants == nil ||
		d.Leases == nil || d.Transactions == nil || d.Ledger == nil || d.Maintenance == nil || d.SchemaCurrent == nil ||
		d.Keyring == nil || d.Documents == nil || d.Blobs == nil {
		return nil, errors.New("http: NewServer is missing a dependency")
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = DefaultRequestTimeout
	}
	if d.RequestTimeout < 0 {
		return nil, errors.New("http: RequestTimeout must be positive")
	}
	if d.LoginLimitPerIP == (RateLimit{}) {
		d.LoginLimitPerIP = RateLimit{Burst: 60, PerSecond: 1}
	}
	if d.LoginLimitPerEmail == (RateLimit{}) {
		d.LoginLimitPerEmail = RateLimit{Burst: 10, PerSecond: 1.0 / 6}
	}
	if d.MaxUploadBytes == 0 {
		d.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if d.MaxUploadBytes < 0 || d.MaxUploadBytes > domain.MaxDocumentSize {
		return nil, errors.New("http: MaxUploadBytes must be from 1 byte to 2 GiB")
	}
	if d.UploadTypes == nil {
		d.UploadTypes = DefaultUploadTypes
	}
	for _, o := range d.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			return nil, err
		}
	}
	s := &Server{Deps: d, log: d.Log, queries: d.Queries,
		ipLimiter: newLimiter(d.LoginLimitPerIP, d.Pool), emailLimiter: newLimiter(d.LoginLimitPerEmail, d.Pool)}
	s.uploadTypes = mediaTypes(d.UploadTypes)
	pages, err := console.ParsePages()
	if err != nil {
		return nil, err
	}
	s.consolePages, s.integrity = pages, d.Integrity
	if s.integrity == nil {
		s.integrity = s.defaultIntegrity
	}
	s.metrics = newMetrics(s)
	s.handler = s.routes()
	return s, nil
}

// Handler is the whole API, for tests.
func (s *Server) Handler() http.Handler { return s.handler }

// DefaultRequestTimeout is how long a request may take unless configured:
// generous for the heaviest report, short enough that a stuck query gives its
// connection back soon.
const DefaultRequestTimeout = 30 * time.Second

// transferTimeout bounds reading a request and writing an answer, which for a
// document upload or download over a slow link is most of the request.
const transferTimeout = 5 * time.Minute

// Run serves on addr (and /metrics on MetricsAddr, when set) until ctx ends,
// then drains requests for up to 15 s. ready, if given, receives the bound
// address once the server accepts connections.
func (s *Server) Run(ctx context.Context, addr string, ready func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	var metricsLn net.Listener
	if s.MetricsAddr != "" {
		if metricsLn, err = net.Listen("tcp", s.MetricsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("listen for metrics on %s: %w", s.MetricsAddr, err)
		}
		s.log.Info("serving metrics", "addr", metricsLn.Addr().String())
	}
	return s.serve(ctx, ln, metricsLn, ready)
}

// serve is Run on listeners already bound; metricsLn may be nil.
func (s *Server) serve(ctx context.Context, ln, metricsLn net.Listener, ready func(addr string)) error {
	servers := []*http.Server{s.httpServer(ctx, s.handler)}
	listeners := []net.Listener{ln}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics.handler)
		servers = append(servers, s.httpServer(ctx, mux))
		listeners = append(listeners, metricsLn)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	// The servers stop together: when ctx ends, or when one of them fails.
	g, gctx := errgroup.WithContext(ctx)
	for i, srv := range servers {
		g.Go(func() error {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var errs []error
		for _, srv := range servers {
			if err := srv.Shutdown(shutdownCtx); err != nil {
				errs = append(errs, fmt.Errorf("drain http: %w", err))
			}
		}
		return errors.Join(errs...)
	})
	return g.Wait()
}

func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       max(transferTimeout, s.RequestTimeout),
		WriteTimeout:      max(transferTimeout, s.RequestTimeout),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}
