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
	"github.com/assetanchor/assetanchor/projections/readmodel"
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

// problemBase prefixes every problem type. The URIs are names a client compares,
// stable for good; they need not resolve (docs/errors.md and the Problem schema of
// openapi.json describe each).
const problemBase = "https://assetanchor.dev/problems/"

// Problem types, one per kind of refusal; a conflict's type also names its reason
// (conflictReasons).
const (
	typeBadRequest           = problemBase + "bad-request"
	typeUnauthorized         = problemBase + "unauthorized"
	typeForbidden            = problemBase + "forbidden"
	typeNotFound             = problemBase + "not-found"
	typeMethodNotAllowed     = problemBase + "method-not-allowed"
	typeConflict             = problemBase + "conflict"
	typePreconditionFailed   = problemBase + "precondition-failed"
	typePayloadTooLarge      = problemBase + "payload-too-large"
	typeUnsupportedMediaType = problemBase + "unsupported-media-type"
	typeValidation           = problemBase + "validation"
	typeRateLimited          = problemBase + "rate-limited"
	typeUnavailable          = problemBase + "unavailable"
	// typeConstraintConflict is a row the database refused for clashing with
	// another at a unique key (eventstore.RefusedError).
	typeConstraintConflict = typeConflict + "/database-constraint"
	typeInternal           = problemBase + "internal"
)

// clientErrorTypes types the refusals the HTTP layer decides itself, by status.
var clientErrorTypes = map[int]string{
	http.StatusBadRequest:            typeBadRequest,
	http.StatusNotFound:              typeNotFound,
	http.StatusMethodNotAllowed:      typeMethodNotAllowed,
	http.StatusConflict:              typeConflict,
	http.StatusRequestEntityTooLarge: typePayloadTooLarge,
	http.StatusUnsupportedMediaType:  typeUnsupportedMediaType,
	http.StatusTooManyRequests:       typeRateLimited,
}

// conflictReasons names each conflict a client can act on; its type is
// typeConflict + "/" + reason. A conflict not listed is plain typeConflict.
var conflictReasons = []struct {
	err    error
	reason string
}{
	{domain.ErrAlreadyExists, "already-exists"},
	{domain.ErrEmailTaken, "email-taken"},
	{domain.ErrPropertyHasActiveLease, "property-has-active-lease"},
	{domain.ErrPropertyNotActive, "property-not-active"},
	{domain.ErrLeaseOverlap, "lease-overlap"},
	{domain.ErrLeaseNotActive, "lease-not-active"},
	{domain.ErrLeaseNotYetEnded, "lease-not-ended"},
	{domain.ErrLeaseNotEnded, "lease-in-force"},
	{domain.ErrDepositSettled, "deposit-settled"},
	{domain.ErrPaymentReturned, "payment-returned"},
	{domain.ErrCreditRefunded, "credit-refunded"},
	{domain.ErrLeaseNotAutoRenew, "lease-not-auto-renew"},
	{domain.ErrIllegalTransition, "illegal-transition"},
	{domain.ErrNotAFee, "not-a-fee"},
	{domain.ErrLateFeeNotDue, "late-fee-not-due"},
	{domain.ErrDocumentDeleted, "document-deleted"},
	{domain.ErrTenantErased, "tenant-erased"},
	{domain.ErrSelfLockout, "self-lockout"},
	{domain.ErrAlreadyLeaseParty, "already-lease-party"},
	{domain.ErrPrimaryTenantRemoval, "primary-tenant-removal"},
	{domain.ErrTooManyLeaseParties, "too-many-lease-parties"},
}

func conflictType(err error) string {
	for _, c := range conflictReasons {
		if errors.Is(err, c.err) {
			return typeConflict + "/" + c.reason
		}
	}
	return typeConflict
}

// Error answers err as a problem document. It is the one place where errors become
// status codes and problem types; anything unrecognised is a 500 whose cause goes
// only to the log.
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
		p.Type = clientErrorTypes[ce.status]
		if ce.status == http.StatusConflict {
			p.Type = conflictType(err)
		}
	case errors.As(err, &ve):
		p.Type, p.Status, p.Detail, p.Errors = typeValidation, http.StatusUnprocessableEntity, "the request has invalid fields", ve.Fields
	case errors.Is(err, readmodel.ErrBadCursor):
		p.Type, p.Status, p.Detail = typeBadRequest, http.StatusBadRequest, err.Error()
	case errors.Is(err, domain.ErrNotFound):
		p.Type, p.Status, p.Detail = typeNotFound, http.StatusNotFound, "no such resource"
	case errors.Is(err, domain.ErrUnauthenticated):
		p.Type, p.Status, p.Detail = typeUnauthorized, http.StatusUnauthorized, "missing, unknown, expired or revoked credentials"
		w.Header().Set("WWW-Authenticate", `Bearer realm="assetanchor"`)
	case errors.Is(err, domain.ErrForbidden):
		p.Type, p.Status, p.Detail = typeForbidden, http.StatusForbidden, err.Error()
	case errors.Is(err, domain.ErrPreconditionFailed):
		p.Type, p.Status, p.Detail = typePreconditionFailed, http.StatusPreconditionFailed, err.Error()
	case errors.Is(err, domain.ErrConflict):
		p.Type, p.Status, p.Detail = conflictType(err), http.StatusConflict, err.Error()
	case errors.As(err, &re) && re.Conflict():
		p.Type, p.Status, p.Detail = typeConstraintConflict, http.StatusConflict,
			"the change clashes with another record ("+re.Constraint+")"
	case errors.As(err, &re):
		// A value the domain let through but the database cannot hold: nothing is stored.
		p.Type, p.Status, p.Detail = typeValidation, http.StatusUnprocessableEntity, "a value is outside what the database can hold"
		p.Errors = []domain.FieldError{{Field: re.Field(), Code: domain.CodeOutOfRange, Message: "is outside what the database can hold"}}
		log.WarnContext(r.Context(), "read model refused a command", "request_id", p.RequestID, "err", err)
	case timedOut(err):
		// 503, not 504: no gateway timed out, this server gave up on its own work.
		p.Type, p.Status, p.Detail = typeUnavailable, http.StatusServiceUnavailable, "the request took longer than the server allows and was stopped; retry later"
		w.Header().Set("Retry-After", "5")
		log.WarnContext(r.Context(), "request timed out", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	case unreachable(err):
		// The database cannot be reached: nothing was written, and a retry may succeed.
		p.Type, p.Status, p.Detail = typeUnavailable, http.StatusServiceUnavailable, "the database is unavailable; retry later"
		w.Header().Set("Retry-After", "5")
		log.ErrorContext(r.Context(), "database unreachable", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	default:
		p.Type, p.Status, p.Detail = typeInternal, http.StatusInternalServerError, "internal error; quote the request id when reporting it"
		log.ErrorContext(r.Context(), "request failed", "request_id", p.RequestID, "method", r.Method,
			"path", r.URL.Path, "err", err)
	}
	if p.Type == "" { // a clientError whose status clientErrorTypes lacks: RFC 9457's default
		p.Type = "about:blank"
	}
	p.Title = http.StatusText(p.Status)
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Del("ETag")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
