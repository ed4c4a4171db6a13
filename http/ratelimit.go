package http

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RateLimit is a token bucket: Burst requests at once, refilled at PerSecond.
type RateLimit struct {
	Burst     float64
	PerSecond float64
}

// limiter keeps one token bucket per key (an address, an email) in
// PostgreSQL, so that every node of a deployment draws from the same buckets:
// three nodes do not allow three times the attempts. One statement per draw,
// the bucket's row locked by its upsert, times from the database's one clock.
type limiter struct {
	limit RateLimit
	pool  *pgxpool.Pool
	swept atomic.Int64 // unix seconds of this node's last sweep
}

func newLimiter(limit RateLimit, pool *pgxpool.Pool) *limiter {
	return &limiter{limit: limit, pool: pool}
}

// drawSQL refills the bucket for the time since its last draw (REFILL; $2 the
// burst, $3 the tokens per second) and takes a token if a whole one is there
// (LEFT is what remains). A new bucket starts full, less this draw.
var drawSQL = expandBucket(`
INSERT INTO rate_limits AS b (key, tokens, at, granted, full_at)
VALUES ($1, $2::float8 - 1, statement_timestamp(), true,
        statement_timestamp() + make_interval(secs => 1 / $3::float8))
ON CONFLICT (key) DO UPDATE SET
    granted = REFILL >= 1,
    tokens = LEFT,
    at = statement_timestamp(),
    full_at = statement_timestamp() + make_interval(secs => ($2::float8 - LEFT) / $3::float8)
RETURNING tokens, granted`)

func expandBucket(sql string) string {
	sql = strings.ReplaceAll(sql, "LEFT", `CASE WHEN REFILL >= 1 THEN REFILL - 1 ELSE REFILL END`)
	return strings.ReplaceAll(sql, "REFILL",
		`least($2::float8, b.tokens + extract(epoch FROM statement_timestamp() - b.at)::float8 * $3::float8)`)
}

// allow takes a token for key. It reports whether one was left, the whole
// tokens left after it, how long until the next token when none was, and how
// long until the bucket is full again.
func (l *limiter) allow(ctx context.Context, key string) (ok bool, remaining int, wait, reset time.Duration, err error) {
	var tokens float64
	sum := sha256.Sum256([]byte(key))
	if err := l.pool.QueryRow(ctx, drawSQL, sum[:], l.limit.Burst, l.limit.PerSecond).Scan(&tokens, &ok); err != nil {
		return false, 0, 0, 0, fmt.Errorf("draw from rate limit: %w", err)
	}
	if !ok {
		wait = l.seconds(1 - tokens)
	}
	l.sweep(ctx)
	return ok, int(tokens), wait, l.seconds(l.limit.Burst - tokens), nil
}

// seconds is how long the bucket takes to gain tokens.
func (l *limiter) seconds(tokens float64) time.Duration {
	return time.Duration(tokens / l.limit.PerSecond * float64(time.Second))
}

// sweep forgets full buckets about once a minute per node, so the table
// follows the active keys. A failure only leaves rows for the next sweep.
func (l *limiter) sweep(ctx context.Context) {
	now := time.Now().Unix()
	last := l.swept.Load()
	if now-last < 60 || !l.swept.CompareAndSwap(last, now) {
		return
	}
	_, _ = l.pool.Exec(ctx, `DELETE FROM rate_limits WHERE full_at < statement_timestamp()`)
}

// errRateLimited answers 429; Retry-After is set by the caller.
var errRateLimited = &clientError{status: http.StatusTooManyRequests, detail: "too many attempts; retry later"}

// limitCheck is one bucket a request draws from: policy names it in the
// RateLimit and RateLimit-Policy fields.
type limitCheck struct {
	policy string
	l      *limiter
	key    string
}

// throttle takes a token from each bucket in turn and refuses the request with
// 429 at the first that has none. The answer, refused or not, carries the
// RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
// each policy's quota q over window w seconds (a bucket of Burst tokens refills
// in w), and for each bucket drawn from, the tokens r left and the seconds t
// until it is full again. A refusal also carries Retry-After, the time until
// the next token.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, checks ...limitCheck) bool {
	policies, states := make([]string, len(checks)), make([]string, 0, len(checks))
	for i, c := range checks {
		window := math.Ceil(c.l.limit.Burst / c.l.limit.PerSecond)
		policies[i] = fmt.Sprintf("%q;q=%d;w=%d", c.policy, int(c.l.limit.Burst), int(window))
	}
	h := w.Header()
	h.Set("RateLimit-Policy", strings.Join(policies, ", "))
	for _, c := range checks {
		ok, remaining, wait, reset, err := c.l.allow(r.Context(), c.policy+"\x00"+c.key)
		if err != nil {
			Error(w, r, s.log, err)
			return false
		}
		states = append(states, fmt.Sprintf("%q;r=%d;t=%d", c.policy, remaining, ceilSeconds(reset)))
		if !ok {
			h.Set("RateLimit", strings.Join(states, ", "))
			h.Set("Retry-After", strconv.Itoa(max(1, ceilSeconds(wait))))
			Error(w, r, s.log, errRateLimited)
			return false
		}
	}
	h.Set("RateLimit", strings.Join(states, ", "))
	return true
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }
