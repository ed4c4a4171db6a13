package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/idempotency"
)

// idempotencyWindow is how long a stored answer is replayed.
const idempotencyWindow = 24 * time.Hour

// replayedHeaders are the response headers stored with an idempotent answer.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// capture holds what the handler answers until the unit of work has committed.
type capture struct {
	header http.Header
	status int
	body   bytes.Buffer
	err    error // the error Error answered, if any
}

func newCapture() *capture { return &capture{header: http.Header{}} }

func (c *capture) Header() http.Header { return c.header }

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

func (c *capture) succeeded() bool { return c.status >= 200 && c.status <= 299 }

// send writes the captured answer to w.
func (c *capture) send(w http.ResponseWriter) {
	for name, values := range c.header {
		w.Header()[name] = values
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body.Bytes())
}

// idempotent honours Idempotency-Key on a POST: the first request with a key runs
// and, if it succeeds, its answer is stored; a repeat with the same body gets that
// answer again and writes nothing; the same key with another body is a 422.
// Refusals are not stored, so a corrected retry can reuse its key.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		// Anonymous requests (login) are not deduplicated: their answers carry fresh
		// tokens, which are stored only as hashes, and there is no user to scope a key to.
		if key == "" || session(r.Context()).UserID == uuid.Nil {
			next.ServeHTTP(w, r)
			return
		}
		if err := checkIdempotencyKey(key); err != nil {
			Error(w, r, s.log, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
		if err != nil {
			Error(w, r, s.log, jsonError(err))
			return
		}
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		s.replayOrRun(w, r, key, sum[:], func(w http.ResponseWriter, r *http.Request) {
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	})
}

// checkIdempotencyKey refuses a key longer than the column holds.
func checkIdempotencyKey(key string) error {
	if len(key) > 255 {
		return badRequest("Idempotency-Key must be at most 255 characters")
	}
	return nil
}

// replayOrRun is the Idempotency-Key rule for a request identified by hash. The
// key, the command and its answer share one unit of work (eventstore.InUnit):
// the answer stored for the key is replayed; otherwise run answers, and a success
// is stored in the command's own transaction, so a retry after any failure on
// the way out gets it byte for byte. A refusal, or a crash, rolls everything back,
// key included: a corrected retry can reuse it, and no key is left "in progress".
// A repeat while the first is running waits for it at the key's row.
func (s *Server) replayOrRun(w http.ResponseWriter, r *http.Request, key string, hash []byte, run func(http.ResponseWriter, *http.Request)) {
	user := session(r.Context()).UserID
	for attempt := 1; ; attempt++ {
		answer := newCapture()
		err := eventstore.InUnit(r.Context(), s.Pool, func(ctx context.Context) error {
			tx, _ := eventstore.UnitTx(ctx)
			stored, err := reserveKey(ctx, tx, user, key, hash)
			if err != nil {
				return err
			}
			if stored != nil {
				answer = stored
				return nil
			}
			run(answer, r.WithContext(ctx))
			if !answer.succeeded() {
				return errRefused
			}
			return storeAnswer(ctx, tx, user, key, answer)
		})
		switch {
		case errors.Is(answer.err, commands.ErrLostRace) && attempt < maxUnitAttempts:
			continue // run on fresh state, in a fresh transaction
		case errors.Is(err, errRefused):
		case err != nil:
			Error(w, r, s.log, err)
			return
		}
		answer.send(w)
		return
	}
}

// maxUnitAttempts bounds the reruns of a unit of work that lost an append race.
const maxUnitAttempts = 5

// errRefused rolls back a unit of work whose request was refused.
var errRefused = errors.New("the request was refused")

var errKeyReused = &domain.ValidationError{Fields: []domain.FieldError{{Field: "Idempotency-Key", Message: "was used with a different request"}}}

// reserveKey claims the key for this request in tx, or returns the answer
// stored for it (marked Idempotent-Replayed).
func reserveKey(ctx context.Context, tx pgx.Tx, user uuid.UUID, key string, hash []byte) (*capture, error) {
	stored, err := idempotency.Reserve(ctx, tx, user, key, hash, idempotencyWindow)
	if errors.Is(err, idempotency.ErrKeyReused) {
		return nil, errKeyReused
	}
	if err != nil || stored == nil {
		return nil, err
	}
	answer := newCapture()
	answer.status = stored.Status
	answer.body.Write(stored.Body)
	for name, value := range stored.Header {
		answer.header.Set(name, value)
	}
	answer.header.Set("Idempotent-Replayed", "true")
	return answer, nil
}

// storeAnswer keeps a successful answer for the key's repeats.
func storeAnswer(ctx context.Context, tx pgx.Tx, user uuid.UUID, key string, answer *capture) error {
	header := map[string]string{}
	for _, name := range replayedHeaders {
		if v := answer.header.Get(name); v != "" {
			header[name] = v
		}
	}
	return idempotency.Store(ctx, tx, user, key, idempotency.Answer{Status: answer.status, Header: header, Body: answer.body.Bytes()})
}
