package http

import (
	"math"
	"net/http"
	"strconv"
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

// allow takes a token for key; when none is left it reports how long to wait.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.limit.Burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.limit.Burst, b.tokens+now.Sub(b.at).Seconds()*l.limit.PerSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.limit.PerSecond * float64(time.Second))
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

// throttle refuses the request when any of the keys is over its limit.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, checks ...func(time.Time) (bool, time.Duration)) bool {
	now := time.Now()
	for _, check := range checks {
		if ok, wait := check(now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			Error(w, r, s.log, errRateLimited)
			return false
		}
	}
	return true
}
