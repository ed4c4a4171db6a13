package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/http/console"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// The audit console (/console/, API.md "The audit console") is HTML for people:
// it signs in with the API's accounts, keeps the session's bearer token in an
// HttpOnly, SameSite=Strict cookie (Secure when the request came over TLS), and
// reads through the same query functions, under the same viewer, as the API.
// Every POST carries the session's CSRF token and a same-origin Origin.

const (
	consoleCookie = "assetanchor_console"
	// consoleCSP lets the pages load their own style sheet and nothing else: the
	// console has no script, forms post only to itself.
	consoleCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	// consoleFormBytes bounds a posted form (sign-in is the largest).
	consoleFormBytes = 16 << 10
)

var (
	errConsoleOrigin = &clientError{status: http.StatusForbidden, detail: "the form was not posted from this console"}
	errConsoleCSRF   = &clientError{status: http.StatusForbidden, detail: "the form's token is missing or stale: reload the page and try again"}
)

// consoleRoutes are the console's routes, under /console.
func (s *Server) consoleRoutes(r chi.Router) {
	r.Use(s.consoleHeaders)
	r.Get("/", s.consoleHome)
	r.Get("/login", s.consoleLoginPage)
	r.Post("/login", s.consoleLogin)
	static := http.StripPrefix("/console/static/", http.FileServerFS(console.Static()))
	r.Get("/static/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		static.ServeHTTP(w, r)
	})
	r.Group(func(r chi.Router) {
		r.Use(s.consoleAuthenticate)
		r.Post("/logout", s.consoleLogout)
		r.Get("/find", s.consoleFind)
		r.Get("/{kind}/{id}", s.consoleEntity)
		r.Get("/{kind}/{id}/timeline.csv", s.consoleCSV)
	})
}

// consoleHeaders replace the API's policies by the console's: its pages load
// their style sheet, and send their origin with a form (under no-referrer a
// browser sends "Origin: null", which the origin check must refuse).
func (s *Server) consoleHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", consoleCSP)
		w.Header().Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// consoleSession is the signed-in account of a console request.
type consoleSession struct {
	readmodel.Authenticated
	email string
	csrf  string
}

type consoleSessionKey struct{}

func consoleSessionOf(ctx context.Context) consoleSession {
	s, _ := ctx.Value(consoleSessionKey{}).(consoleSession)
	return s
}

// csrfToken is the session's CSRF token: a hash of its bearer token, which only
// the cookie holds, apart from the hash the database keeps (HashToken), so that
// neither gives the other away.
func csrfToken(token string) string {
	sum := sha256.Sum256([]byte("assetanchor console csrf\x00" + token))
	return hex.EncodeToString(sum[:16])
}

// consoleAuthenticate is authenticate with the cookie for a bearer token: the
// same session check, viewer and event metadata. Without a live session a page
// goes to the sign-in form; a POST is also checked for its origin and token.
func (s *Server) consoleAuthenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(consoleCookie)
		var sess readmodel.Authenticated
		if err == nil && c.Value != "" {
			sess, err = s.queries.Authenticate(r.Context(), commands.HashToken(c.Value))
		}
		if err != nil || c.Value == "" {
			if err != nil && !errors.Is(err, http.ErrNoCookie) && !errors.Is(err, domain.ErrUnauthenticated) {
				s.consoleError(w, r, err)
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/console/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.consoleError(w, r, domain.ErrUnauthenticated)
			return
		}
		cs := consoleSession{Authenticated: sess, csrf: csrfToken(c.Value)}
		if r.Method == http.MethodPost {
			if err := s.consoleCheckPost(r, cs.csrf); err != nil {
				s.consoleError(w, r, err)
				return
			}
		}
		ctx := sessionContext(r, sess)
		if u, err := s.queries.User(ctx, sess.UserID); err == nil {
			cs.email = u.Email
		}
		ctx = context.WithValue(ctx, consoleSessionKey{}, cs)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// consoleCheckPost refuses a form posted from another origin (SameSite=Strict
// already keeps the cookie off a cross-site post; this also covers a browser
// without it) or without the session's token (want; empty before sign-in).
func (s *Server) consoleCheckPost(r *http.Request, want string) error {
	if !s.sameOrigin(r) {
		return errConsoleOrigin
	}
	r.Body = http.MaxBytesReader(nil, r.Body, consoleFormBytes)
	if err := r.ParseForm(); err != nil {
		return badRequest("the form is malformed or too large")
	}
	if want != "" && subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(want)) != 1 {
		return errConsoleCSRF
	}
	return nil
}

// sameOrigin reports whether a POST names this server as its Origin (or, from
// a browser that sends none, its Referer).
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Host == "" {
			return false
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	scheme := "http"
	if s.secureRequest(r) {
		scheme = "https"
	}
	return strings.EqualFold(u.Host, r.Host) && u.Scheme == scheme
}

// secureRequest reports whether the client reached us over TLS: directly, or
// through a trusted proxy that says so (X-Forwarded-Proto).
func (s *Server) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	addr, ok := peerAddr(r)
	return ok && s.trusted(addr) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (s *Server) setConsoleCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: value, Path: "/console/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.secureRequest(r), SameSite: http.SameSiteStrictMode})
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/console/find", http.StatusSeeOther)
}

func (s *Server) consoleLoginPage(w http.ResponseWriter, r *http.Request) {
	s.consoleRender(w, r, "login", console.Page{Title: "Sign in", Next: consoleNext(r)})
}

// consoleNext is where to go after signing in: ?next= when it is a console
// page of this server, else the find page.
func consoleNext(r *http.Request) string {
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/console/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/console/find"
	}
	return next
}

func (s *Server) consoleLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.consoleCheckPost(r, ""); err != nil {
		s.consoleError(w, r, err)
		return
	}
	email, password := r.PostForm.Get("email"), r.PostForm.Get("password")
	if !s.consoleThrottle(w, r, s.limitIP(r), s.limitEmail(r, email)) {
		return
	}
	sess, err := s.Users.LogIn(r.Context(), commands.LogIn{
		Email: email, Password: password, IPAddress: clientIP(r), UserAgent: truncate(r.UserAgent(), 1000),
	})
	if errors.Is(err, domain.ErrUnauthenticated) {
		s.consoleRender(w, r, "login", console.Page{Title: "Sign in", Status: http.StatusUnauthorized,
			Email: email, Next: consoleNext(r), Error: "The email or the password is wrong, or the account is not active."})
		return
	}
	if err != nil {
		s.consoleError(w, r, err)
		return
	}
	actingAs(r.Context(), sess.UserID)
	s.setConsoleCookie(w, r, sess.Token, int(commands.SessionLifetime.Seconds()))
	http.Redirect(w, r, consoleNext(r), http.StatusSeeOther)
}

func (s *Server) consoleLogout(w http.ResponseWriter, r *http.Request) {
	sess := session(r.Context())
	if _, err := s.Users.LogOut(r.Context(), actorOf(r), sess.SessionID); err != nil {
		s.consoleError(w, r, err)
		return
	}
	s.setConsoleCookie(w, r, "", -1)
	http.Redirect(w, r, "/console/login", http.StatusSeeOther)
}

// consoleThrottle is throttle with the refusal as a page.
func (s *Server) consoleThrottle(w http.ResponseWriter, r *http.Request, checks ...limitCheck) bool {
	rec := &problemRecorder{header: w.Header()}
	if s.throttle(rec, r, checks...) {
		return true
	}
	s.consoleProblem(w, r, rec)
	return false
}

// consoleRender answers a page, with the signed-in account's name and token.
func (s *Server) consoleRender(w http.ResponseWriter, r *http.Request, name string, page console.Page) {
	cs := consoleSessionOf(r.Context())
	page.User, page.CSRF = cs.email, cs.csrf
	if page.User == "" && cs.UserID != [16]byte{} {
		page.User = cs.UserID.String()
	}
	var buf bytes.Buffer
	if err := s.consolePages.Render(&buf, name, page); err != nil {
		Error(w, r, s.log, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := page.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// consoleError answers err as a page: Error, the one mapping of errors to
// statuses, decides the status and the words; the page shows them.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, err error) {
	rec := &problemRecorder{header: w.Header()}
	Error(rec, r, s.log, err)
	s.consoleProblem(w, r, rec)
}

func (s *Server) consoleProblem(w http.ResponseWriter, r *http.Request, rec *problemRecorder) {
	var p problem
	_ = json.Unmarshal(rec.body.Bytes(), &p)
	w.Header().Del("WWW-Authenticate")
	title := fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status))
	s.consoleRender(w, r, "error", console.Page{Title: title, Status: rec.status, Error: p.Detail})
}

// problemRecorder keeps what Error or throttle wrote, for consoleProblem to show.
type problemRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (p *problemRecorder) Header() http.Header         { return p.header }
func (p *problemRecorder) Write(b []byte) (int, error) { return p.body.Write(b) }
func (p *problemRecorder) WriteHeader(code int)        { p.status = code }
