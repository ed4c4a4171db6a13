package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

// idempotencyWindow is how long a stored answer is replayed.
const idempotencyWindow = 24 * time.Hour

// replayedHeaders are the response headers stored with an idempotent answer.
var replayedHeaders = []string{"Content-Type", "Location", "ETag"}

// capture keeps a copy of what the handler answers.
type capture struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (c *capture) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *capture) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	c.body.Write(b)
	return c.ResponseWriter.Write(b)
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
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(append([]byte(r.Method+" "+r.URL.Path+"\n"), body...))
		s.replayOrRun(w, r, key, sum[:], func(w http.ResponseWriter) { next.ServeHTTP(w, r) })
	})
}

// checkIdempotencyKey refuses a key longer than the column holds.
func checkIdempotencyKey(key string) error {
	if len(key) > 255 {
		return badRequest("Idempotency-Key must be at most 255 characters")
	}
	return nil
}

// replayOrRun is the Idempotency-Key rule for a request identified by hash: the
// answer stored for the key is replayed; otherwise run answers, and a success is
// stored for the next repeat while a refusal frees the key, so that a corrected
// retry can reuse it. The same key with another hash is a 422.
func (s *Server) replayOrRun(w http.ResponseWriter, r *http.Request, key string, hash []byte, run func(http.ResponseWriter)) {
	user := session(r.Context()).UserID
	stored, err := s.reserveKey(r.Context(), user, key, hash)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if stored != nil {
		for name, value := range stored.header {
			w.Header().Set(name, value)
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(stored.status)
		_, _ = w.Write(stored.body)
		return
	}

	rec := &capture{ResponseWriter: w}
	defer func() {
		// Runs after a panic too, so a crashed request never holds its key.
		ctx := context.WithoutCancel(r.Context())
		var err error
		if rec.status < 200 || rec.status > 299 {
			_, err = s.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key)
		} else {
			header := map[string]string{}
			for _, name := range replayedHeaders {
				if v := rec.Header().Get(name); v != "" {
					header[name] = v
				}
			}
			h, _ := json.Marshal(header)
			_, err = s.Pool.Exec(ctx, `UPDATE idempotency_keys SET status = $3, header = $4, body = $5
				WHERE user_id = $1 AND key = $2`, user, key, rec.status, h, rec.body.Bytes())
		}
		if err != nil {
			s.log.ErrorContext(ctx, "store idempotent answer", "request_id", requestID(ctx), "err", err)
		}
	}()
	run(rec)
}

type storedAnswer struct {
	status int
	header map[string]string
	body   []byte
}

var (
	errKeyReused     = &domain.ValidationError{Fields: []domain.FieldError{{Field: "Idempotency-Key", Message: "was used with a different request"}}}
	errKeyInProgress = &clientError{status: http.StatusConflict, detail: "a request with this Idempotency-Key is still in progress"}
)

// reserveKey claims the key for this request, or returns the answer stored for it.
func (s *Server) reserveKey(ctx context.Context, user any, key string, hash []byte) (*storedAnswer, error) {
	for range 2 {
		tag, err := s.Pool.Exec(ctx, `INSERT INTO idempotency_keys (user_id, key, request_hash)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, user, key, hash)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			return nil, nil
		}
		var (
			storedHash []byte
			status     *int
			header     []byte
			body       []byte
			createdAt  time.Time
		)
		err = s.Pool.QueryRow(ctx, `SELECT request_hash, status, header, body, created_at
			FROM idempotency_keys WHERE user_id = $1 AND key = $2`, user, key).
			Scan(&storedHash, &status, &header, &body, &createdAt)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // released meanwhile; try to reserve again
		}
		if err != nil {
			return nil, err
		}
		if time.Since(createdAt) > idempotencyWindow {
			if _, err := s.Pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2
				AND created_at = $3`, user, key, createdAt); err != nil {
				return nil, err
			}
			continue
		}
		if !bytes.Equal(storedHash, hash) {
			return nil, errKeyReused
		}
		if status == nil {
			return nil, errKeyInProgress
		}
		answer := &storedAnswer{status: *status, body: body}
		if err := json.Unmarshal(header, &answer.header); err != nil {
			return nil, err
		}
		return answer, nil
	}
	return nil, errKeyInProgress
}
