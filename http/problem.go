package http

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections"
)

// problem is an RFC 9457 problem document.
type problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []domain.FieldError `json:"errors,omitempty"`
}

// clientError is a refusal decided by the HTTP layer itself (bad syntax, size, type).
type clientError struct {
	status int
	detail string
}

func (e *clientError) Error() string { return e.detail }

func badRequest(detail string) error {
	return &clientError{status: http.StatusBadRequest, detail: detail}
}

// timedOut reports whether err is the request's deadline passing (middleware.go):
// the context's own, or PostgreSQL cancelling a statement at the
// statement_timeout derived from it (SQLSTATE 57014, query_canceled).
func timedOut(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &pgErr) && pgErr.Code == "57014")
}

// unreachable reports whether err is the database out of reach rather than a
// fault of the request: no connection could be made, a connection broke (net
// errors, a connection pgx already closed, a closed pool), or the server is
// shutting down or starting up (SQLSTATE class 08 and 57P01..57P03).
func unreachable(err error) bool {
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
		pgErr      *pgconn.PgError
	)
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, puddle.ErrClosedPool):
		return true
	case errors.As(err, &pgErr):
		return strings.HasPrefix(pgErr.Code, "08") ||
			pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return false
}

// Error answers err as a problem document. It is the one place where errors become
// status codes; anything unrecognised is a 500 whose cause goes only to the log.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	if c, ok := w.(*capture); ok {
		c.err = err // the unit of work reruns a lost race (idempotency.go)
	}
	p := problem{Instance: r.URL.Path, RequestID: requestID(r.Context())}
	var (
		ce *clientError
		ve *domain.ValidationError
		re *eventstore.RefusedError
	)
	switch {
	case errors.As(err, &ce):
		p.Status, p.Detail = ce.status, ce.detail
	case errors.As(err, &ve):
		p.Status, p.Detail, p.Errors = http.StatusUnprocessableEntity, "the request has invalid fields", ve.Fields
	case errors.Is(err, projections.ErrBadCursor):
		p.Status, p.Detail = http.StatusBadRequest, err.Error()
	case errors.Is(err, domain.ErrNotFound):
		p.Status, p.Detail = http.StatusNotFound, "no such resource"
	case errors.Is(err, domain.ErrUnauthenticated):
		p.Status, p.Detail = http.StatusUnauthorized, "missing, unknown, expired or revoked credentials"
		w.Header().Set("WWW-Authenticate", `Bearer realm="assetanchor"`)
	case errors.Is(err, domain.ErrForbidden):
		p.Status, p.Detail = http.StatusForbidden, err.Error()
	case errors.Is(err, domain.ErrPreconditionFailed):
		p.Status, p.Detail = http.StatusPreconditionFailed, err.Error()
	case errors.Is(err, domain.ErrConflict):
		p.Status, p.Detail = http.StatusConflict, err.Error()
	case errors.As(err, &re) && re.Conflict():
		p.Status, p.Detail = http.StatusConflict, "the change clashes with another record ("+re.Constraint+")"
	case errors.As(err, &re):
		p.Status, p.Detail = http.StatusUnprocessableEntity, "a value is outside what the database can hold ("+re.Table+")"
		log.WarnContext(r.Context(), "read model refused a command", "request_id", p.RequestID, "err", err)
	case timedOut(err):
		// 503, not 504: no gateway timed out, this server gave up on its own work.
		p.Status, p.Detail = http.StatusServiceUnavailable, "the request took longer than the server allows and was stopped; retry later"
		w.Header().Set("Retry-After", "5")
		log.WarnContext(r.Context(), "request timed out", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	case unreachable(err):
		p.Status, p.Detail = http.StatusServiceUnavailable, "the database is unavailable; retry later"
		w.Header().Set("Retry-After", "5")
		log.ErrorContext(r.Context(), "database unreachable", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	default:
		p.Status, p.Detail = http.StatusInternalServerError, "internal error; quote the request id when reporting it"
		log.ErrorContext(r.Context(), "request failed", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	}
	p.Title = http.StatusText(p.Status)
	p.Type = "about:blank"
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("ETag")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
