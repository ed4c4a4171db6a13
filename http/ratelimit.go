package http

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is a token bucket: Burst requests at once, refilled at PerSecond.
type RateLimit struct {
	Burst     float64
	PerSecond float64
}

// limiter keeps one bucket per key (an IP, an email) in memory.
type limiter struct {
	limit   RateLimit
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(limit RateLimit) *limiter {
	return &limiter{limit: limit, buckets: map[string]*bucket{}}
}

// allow takes a token for key. It reports whether one was left, the whole
// tokens left after it, how long until the next token when none was, and how
// long until the bucket is full again.
func (l *limiter) allow(key string, now time.Time) (ok bool, remaining int, wait, reset time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, found := l.buckets[key]
	if !found {
		b = &bucket{tokens: l.limit.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.limit.Burst, b.tokens+now.Sub(b.at).Seconds()*l.limit.PerSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		ok = true
	} else {
		wait = l.seconds(1 - b.tokens)
	}
	return ok, int(b.tokens), wait, l.seconds(l.limit.Burst - b.tokens)
}

// seconds is how long the bucket takes to gain tokens.
func (l *limiter) seconds(tokens float64) time.Duration {
	return time.Duration(tokens / l.limit.PerSecond * float64(time.Second))
}

// sweep forgets full buckets once a minute, so memory follows the active keys.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < time.Minute {
		return
	}
	l.swept = now
	for key, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.limit.PerSecond >= l.limit.Burst {
			delete(l.buckets, key)
		}
	}
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
	now := time.Now()
	policies, states := make([]string, len(checks)), make([]string, 0, len(checks))
	for i, c := range checks {
		window := math.Ceil(c.l.limit.Burst / c.l.limit.PerSecond)
		policies[i] = fmt.Sprintf("%q;q=%d;w=%d", c.policy, int(c.l.limit.Burst), int(window))
	}
	h := w.Header()
	h.Set("RateLimit-Policy", strings.Join(policies, ", "))
	for _, c := range checks {
		ok, remaining, wait, reset := c.l.allow(c.key, now)
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
