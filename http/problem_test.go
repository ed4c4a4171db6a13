package http

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// A database out of reach is the server's trouble, answered 503 with
// Retry-After; other database errors stay 500.
func TestErrorMapsAnUnreachableDatabaseTo503(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, http.StatusServiceUnavailable},
		{"connection closed by pgx", fmt.Errorf("list properties: %w", pgconn.ErrConnClosed), http.StatusServiceUnavailable},
		{"pool closed", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), http.StatusServiceUnavailable},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, http.StatusServiceUnavailable},
		{"server starting up", &pgconn.PgError{Code: "57P03"}, http.StatusServiceUnavailable},
		{"connection failure", &pgconn.PgError{Code: "08006"}, http.StatusServiceUnavailable},
		{"unique violation", &pgconn.PgError{Code: "23505"}, http.StatusInternalServerError},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Error(w, httptest.NewRequest(http.MethodGet, "/api/v1/properties", nil), slog.New(slog.NewTextHandler(io.Discard, nil)), tc.err)
			if w.Code != tc.want {
				t.Fatalf("status = %d, want %d", w.Code, tc.want)
			}
			if got := w.Header().Get("Retry-After"); (tc.want == http.StatusServiceUnavailable) != (got != "") {
				t.Errorf("Retry-After = %q with status %d", got, w.Code)
			}
		})
	}
}
