package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// TestErrorTypes maps errors to problems without a server: each kind of refusal
// gets its own type and status, a conflict's type names its reason, and wrapping
// changes nothing.
func TestErrorTypes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, connectErr := pgconn.Connect(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	var ce *pgconn.ConnectError
	if !errors.As(connectErr, &ce) {
		t.Fatalf("connecting to a closed port: %v, want a *pgconn.ConnectError", connectErr)
	}
	cases := []struct {
		name       string
		err        error
		wantStatus int
		wantType   string
		retryAfter string
	}{
		{"validation", &domain.ValidationError{Fields: []domain.FieldError{{Field: "x", Message: "is required"}}}, 422, typeValidation, ""},
		{"bad request", badRequest("limit must be an integer from 1 to 200"), 400, typeBadRequest, ""},
		{"no route", errNoRoute, 404, typeNotFound, ""},
		{"wrong method", errMethod, 405, typeMethodNotAllowed, ""},
		{"not found", domain.ErrNotFound, 404, typeNotFound, ""},
		{"bad credentials", domain.ErrBadCredentials, 401, typeUnauthorized, ""},
		{"role", domain.ErrRoleForbidden, 403, typeForbidden, ""},
		{"moved on", domain.ErrPreconditionFailed, 412, typePreconditionFailed, ""},
		{"overlap", fmt.Errorf("sign lease: %w", domain.ErrLeaseOverlap), 409, problemBase + "conflict/lease-overlap", ""},
		{"email taken", domain.ErrEmailTaken, 409, problemBase + "conflict/email-taken", ""},
		{"unnamed conflict", fmt.Errorf("delete files: %w", domain.ErrConflict), 409, typeConflict, ""},
		{"row clash", &eventstore.RefusedError{Table: "users", Constraint: "users_email_key", Code: "23505"}, 409, problemBase + "conflict/database-constraint", ""},
		{"value the database cannot hold", &eventstore.RefusedError{Table: "transactions", Code: "22008"}, 422, typeValidation, ""},
		{"rate limited", errRateLimited, 429, typeRateLimited, ""},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), 503, typeUnavailable, "5"},
		{"database down", fmt.Errorf("acquire: %w", connectErr), 503, typeUnavailable, "5"},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, 503, typeUnavailable, "5"},
		{"connection closed by pgx", fmt.Errorf("list properties: %w", pgconn.ErrConnClosed), 503, typeUnavailable, "5"},
		{"pool closed", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), 503, typeUnavailable, "5"},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, 503, typeUnavailable, "5"},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, 503, typeUnavailable, "5"},
		{"connection failure", &pgconn.PgError{Code: "08006"}, 503, typeUnavailable, "5"},
		{"a database error of the server's own", &pgconn.PgError{Code: "23505"}, 500, typeInternal, ""},
		{"unknown", errors.New("disk on fire"), 500, typeInternal, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/api/v1/things", nil)
			Error(w, r, slog.New(slog.NewTextHandler(io.Discard, nil)), c.err)
			var p problemDoc
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("decode %s: %v", w.Body, err)
			}
			if w.Code != c.wantStatus || p.Status != c.wantStatus || p.Type != c.wantType {
				t.Errorf("answered %d, problem status %d type %q; want %d and %q", w.Code, p.Status, p.Type, c.wantStatus, c.wantType)
			}
			if got := problemTypeStatus()[p.Type]; got != c.wantStatus {
				t.Errorf("type %q is documented with status %d, answered %d", p.Type, got, c.wantStatus)
			}
			if got := w.Header().Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, c.retryAfter)
			}
		})
	}
}

// Every named conflict answers its own type.
func TestConflictReasonsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range conflictReasons {
		got := conflictType(fmt.Errorf("wrapped: %w", c.err))
		if got != typeConflict+"/"+c.reason || seen[got] {
			t.Errorf("%v answers type %q, want %q once", c.err, got, typeConflict+"/"+c.reason)
		}
		seen[got] = true
	}
}
