package http

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
)

// validInput refuses, with a 400, a request whose path, query parameters or
// header values are not valid UTF-8 or hold NUL: no handler, log line or
// database column behind it has to cope with them (PostgreSQL refuses both in
// text, which used to surface as a 500).
func (s *Server) validInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkInput(r); err != nil {
			Error(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func checkInput(r *http.Request) error {
	if !cleanText(r.URL.Path) {
		return badRequest("the path must be valid UTF-8 without NUL")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return badRequest("the query string is malformed")
	}
	for name, values := range q {
		if !cleanText(name) {
			return badRequest("query parameter names must be valid UTF-8 without NUL")
		}
		for _, v := range values {
			if !cleanText(v) {
				return badRequest("query parameter " + name + " must be valid UTF-8 without NUL")
			}
		}
	}
	for name, values := range r.Header {
		for _, v := range values {
			if !cleanText(v) {
				return badRequest("header " + name + " must be valid UTF-8 without NUL")
			}
		}
	}
	return nil
}

func cleanText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// clientAddress is the address the request came from: the socket's peer, or,
// when the peer is a trusted proxy, the X-Forwarded-For entry that the
// nearest untrusted hop was seen from. The entries are walked from the right,
// since only those appended by trusted proxies can be believed; the leftmost
// ones are whatever the client chose to send.
func (s *Server) clientAddress(r *http.Request) string {
	addr, ok := peerAddr(r)
	if !ok {
		return truncate(r.RemoteAddr, 45)
	}
	if !s.trusted(addr) {
		return addr.String()
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0 && s.trusted(addr); i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break // not written by a trusted proxy: the last trusted hop is all we know
		}
		addr = hop
	}
	return addr.String()
}

func (s *Server) trusted(addr netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a port
// (IPv6 then in brackets).
func parseHop(raw string) (netip.Addr, bool) {
	raw = strings.TrimSpace(raw)
	if a, err := netip.ParseAddr(raw); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(raw); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// methodNotAllowed answers 405 with Allow naming the methods the path has.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", strings.Join(allowedMethods(r), ", "))
	Error(w, r, s.log, errMethod)
}

// allowedMethods are the methods routed for r's path; HEAD goes with GET
// (routes.go serves HEAD with the GET handler).
func allowedMethods(r *http.Request) []string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return nil
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if rctx.Routes.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return allow
}

// CORS: what a browser on a listed origin may send and read.
const (
	corsMethods = "GET, HEAD, POST, PUT, PATCH, DELETE"
	corsHeaders = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-Id"
	corsExposed = "ETag, Location, X-Request-Id, Retry-After, RateLimit, RateLimit-Policy, Content-Disposition"
)

// cors lets browsers on the configured origins call the API, and answers their
// preflight requests. Without origins it does nothing: browsers then keep
// other origins out. Credentials (cookies) are never allowed: the API takes
// bearer tokens in Authorization, which a listed origin may send.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(s.CORSOrigins))
	for _, o := range s.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposed)
		next.ServeHTTP(w, r)
	})
}

// notModified answers 304 to a GET or HEAD whose If-None-Match names the ETag
// the handler is about to answer with (entities: ETag "<version>"), so that a
// client holding the current version is not sent it again.
func notModified(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inm := r.Header.Get("If-None-Match")
		if inm == "" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(&notModifiedWriter{ResponseWriter: w, ifNoneMatch: inm}, r)
	})
}

type notModifiedWriter struct {
	http.ResponseWriter
	ifNoneMatch string
	wrote, skip bool
}

func (n *notModifiedWriter) WriteHeader(code int) {
	if n.wrote {
		return
	}
	n.wrote = true
	h := n.Header()
	if code == http.StatusOK && etagMatches(n.ifNoneMatch, h.Get("ETag")) {
		n.skip = true
		h.Del("Content-Type")
		h.Del("Content-Length")
		code = http.StatusNotModified
	}
	n.ResponseWriter.WriteHeader(code)
}

func (n *notModifiedWriter) Write(b []byte) (int, error) {
	if !n.wrote {
		n.WriteHeader(http.StatusOK)
	}
	if n.skip {
		return len(b), nil
	}
	return n.ResponseWriter.Write(b)
}

func (n *notModifiedWriter) Unwrap() http.ResponseWriter { return n.ResponseWriter }

// etagMatches is If-None-Match's weak comparison (RFC 9110 13.1.2) of the
// list in header against etag.
func etagMatches(header, etag string) bool {
	if etag == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, tag := range strings.Split(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(tag), "W/") == want {
			return true
		}
	}
	return false
}

// checkOrigin accepts a browser origin as it appears in an Origin header:
// scheme://host[:port], nothing more.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || o != u.Scheme+"://"+u.Host {
		return fmt.Errorf("http: CORS origin %q is not of the form scheme://host[:port]", o)
	}
	return nil
}

// peerAddr is the address of the socket's peer, unmapped and without a zone.
func peerAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}
