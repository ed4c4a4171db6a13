package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	sessionKey
	requestInfoKey
)

// requestInfo is what the request's log line says about who sent it: observe
// puts it in the context, and authentication fills in the user.
type requestInfo struct {
	clientIP string
	userID   *uuid.UUID
}

func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey).(*requestInfo)
	if info == nil {
		return &requestInfo{}
	}
	return info
}

// actingAs names the request's acting user in its log line.
func actingAs(ctx context.Context, userID uuid.UUID) { infoOf(ctx).userID = &userID }

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// session returns the authenticated session; routes behind authenticate have one.
func session(ctx context.Context) readmodel.Authenticated {
	s, _ := ctx.Value(sessionKey).(readmodel.Authenticated)
	return s
}

func actorOf(r *http.Request) commands.Actor {
	s := session(r.Context())
	return commands.Actor{UserID: s.UserID, Role: s.Role}
}

func viewerOf(r *http.Request) readmodel.Viewer {
	s := session(r.Context())
	return readmodel.Viewer{UserID: s.UserID, Role: s.Role}
}

// statusRecorder remembers the status written, for logs and metrics.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// observe gives each request an id, security headers, a log line, metrics and
// recovery from panics; it also seeds the event metadata of the request.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if id == "" || len(id) > 100 || !printableASCII(id) {
			b := make([]byte, 12)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		h := w.Header()
		h.Set("X-Request-Id", id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")

		info := &requestInfo{clientIP: s.clientAddress(r)}
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, requestInfoKey, info)
		ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{
			IPAddress: info.clientIP, UserAgent: truncate(r.UserAgent(), 1000),
			CorrelationID: id, CausationID: id,
		})
		r = r.WithContext(ctx)
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.ErrorContext(ctx, "panic", "request_id", id, "panic", p)
				if rec.status == 0 {
					Error(rec, r, s.log, errPanic)
				}
			}
			route := chi.RouteContext(r.Context()).RoutePattern()
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			s.metrics.observe(r.Method, route, rec.status, elapsed)
			var user any // JSON null for an anonymous request
			if info.userID != nil {
				user = info.userID.String()
			}
			s.log.Log(ctx, logLevel(rec.status), "request", "request_id", id, "method", r.Method, "route", route,
				"status", rec.status, "duration_ms", float64(elapsed.Microseconds())/1000,
				"client_ip", info.clientIP, "user_id", user)
		}()
		next.ServeHTTP(rec, r)
	})
}

// logLevel: refusals an operator should notice (failed authentication, rate
// limits) are warnings, server failures errors, everything else information.
func logLevel(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case status == http.StatusUnauthorized || status == http.StatusTooManyRequests:
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// transferRoutes carry a document's bytes: their bound is transferTimeout (or
// RequestTimeout if longer), since a slow client, not a slow server, is what makes
// them long. Their database work is as quick as any other request's, and each
// statement of it is still cut off at the request's deadline.
var transferRoutes = map[string]bool{
	"POST /api/v1/documents":             true,
	"GET /api/v1/documents/{id}/content": true,
}

// deadline bounds every request: its context ends after RequestTimeout, which
// cancels whatever it waits for (a query, a lock, the hashing semaphore, the read
// model), and a viewer's statements get the time left as their statement_timeout
// (projections/rls.go). A request cut off so is answered 503 (problem.go); a
// command cut off before its commit has written nothing, being one transaction.
func (s *Server) deadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.bound(r))
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// bound is how long r may take. It runs before routing, so it asks the router
// which route r is for.
func (s *Server) bound(r *http.Request) time.Duration {
	if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.Routes != nil &&
		transferRoutes[r.Method+" "+rctx.Routes.Find(chi.NewRouteContext(), r.Method, r.URL.Path)] {
		return max(s.RequestTimeout, transferTimeout)
	}
	return s.RequestTimeout
}

type panicError struct{}

func (panicError) Error() string { return "panic while serving the request" }

var errPanic = panicError{}

// authenticate requires a live bearer token and records the actor in the context,
// in the metadata of any event the request appends, and as the viewer whose
// row-level security every read-model query of the request runs under.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			Error(w, r, s.log, domain.ErrUnauthenticated)
			return
		}
		sess, err := s.queries.Authenticate(r.Context(), commands.HashToken(token))
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(sessionContext(r, sess)))
	})
}

// sessionContext is the context of a request an authenticated session makes,
// through the API or the console: the session, its viewer, its actor in the
// events' metadata and the access log.
func sessionContext(r *http.Request, sess readmodel.Authenticated) context.Context {
	ctx := context.WithValue(r.Context(), sessionKey, sess)
	ctx = readmodel.WithViewer(ctx, readmodel.Viewer{UserID: sess.UserID, Role: sess.Role})
	// A request that only reads may read from the replica; ?as_of= replays
	// into temporary tables, which a standby refuses.
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !r.URL.Query().Has("as_of") {
		ctx = readmodel.MayReadReplica(ctx)
	}
	md := eventstore.MetadataFrom(ctx)
	md.ActorID = &sess.UserID
	ctx = eventstore.WithMetadata(ctx, md)
	actingAs(ctx, sess.UserID)
	return ctx
}

// clientIP is the request's client address as observe resolved it
// (clientAddress: the peer, or whom trusted proxies name).
func clientIP(r *http.Request) string { return infoOf(r.Context()).clientIP }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// pathID parses the {id} URL parameter; a malformed id names nothing, so it is a 404.
func pathID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		return uuid.Nil, domain.ErrNotFound
	}
	return id, nil
}

// ifMatch reads an If-Match: "<version>" header.
func ifMatch(r *http.Request) (*int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil, nil
	}
	v, err := strconv.ParseInt(strings.TrimPrefix(strings.Trim(h, `"`), "W/"), 10, 64)
	if err != nil {
		v, err = strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	}
	if err != nil {
		return nil, domain.ErrPreconditionFailed
	}
	return &v, nil
}

func setETag(w http.ResponseWriter, version int64) {
	w.Header().Set("ETag", `"`+strconv.FormatInt(version, 10)+`"`)
}
