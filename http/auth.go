package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type signupRequest struct {
	Email     string `json:"email"`
	Password  string `json:"password"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Phone     string `json:"phone"`
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

type tokenResponse struct {
	Token        string             `json:"token"`
	RefreshToken string             `json:"refresh_token"`
	ExpiresAt    string             `json:"expires_at"`
	User         readmodel.UserView `json:"user"`
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	var req signupRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !s.throttle(w, r, s.limitIP(r)) {
		return
	}
	res, err := s.Users.SignUp(r.Context(), commands.CreateUser{
		Email: req.Email, Password: req.Password, FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone,
	})
	// The caller is anonymous: it is answered the account it just made, as that account sees itself.
	asNewUser := func(ctx context.Context, _ readmodel.Viewer, id uuid.UUID) (readmodel.UserView, error) {
		self := readmodel.Viewer{UserID: id, Role: domain.RoleUser}
		return s.queries.UserFor(readmodel.WithViewer(ctx, self), self, id)
	}
	answerCommand(s, w, r, res, err, "users", asNewUser, userVersion)
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !s.throttle(w, r, s.limitIP(r), s.limitEmail(r, req.Email)) {
		return
	}
	sess, err := s.Users.LogIn(r.Context(), commands.LogIn{
		Email: req.Email, Password: req.Password, IPAddress: clientIP(r), UserAgent: truncate(r.UserAgent(), 1000),
	})
	s.answerSession(w, r, sess, err)
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !s.throttle(w, r, s.limitIP(r), s.limitToken(req.RefreshToken)) {
		return
	}
	sess, err := s.Users.Refresh(r.Context(), req.RefreshToken)
	s.answerSession(w, r, sess, err)
}

// answerSession answers a login or refresh with the new token pair and the user.
func (s *Server) answerSession(w http.ResponseWriter, r *http.Request, sess commands.Session, err error) {
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	actingAs(r.Context(), sess.UserID)
	// The caller has just proved who it is: it reads its own account, as a user sees itself.
	self := readmodel.WithViewer(r.Context(), readmodel.Viewer{UserID: sess.UserID, Role: domain.RoleUser})
	user, err := s.queries.User(self, sess.UserID)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		Token: sess.Token, RefreshToken: sess.RefreshToken,
		ExpiresAt: sess.ExpiresAt.UTC().Format(time.RFC3339), User: user,
	})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	res, err := s.Users.LogOut(r.Context(), actorOf(r), session(r.Context()).SessionID)
	s.answerNoContent(w, r, res, err)
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	user, err := s.queries.User(r.Context(), session(r.Context()).UserID)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, user.Version)
	writeJSON(w, http.StatusOK, user)
}

func (s *Server) mySessions(w http.ResponseWriter, r *http.Request) {
	sess := session(r.Context())
	items, err := s.queries.Sessions(r.Context(), sess.UserID, sess.SessionID)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, readmodel.Page[readmodel.SessionView]{Items: items})
}

func (s *Server) revokeMySession(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := s.Users.RevokeSession(r.Context(), actorOf(r), id)
	s.answerNoContent(w, r, res, err)
}

// answerNoContent answers 204 for a command that succeeded.
func (s *Server) answerNoContent(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// limitIP is the bucket of the client's address (clientIP: the peer, or whom a
// trusted proxy names), shared by signup, login and refresh.
func (s *Server) limitIP(r *http.Request) limitCheck {
	return limitCheck{policy: "ip", l: s.ipLimiter, key: clientIP(r)}
}

// limitEmail is the bucket of one email tried from one address. Keyed by the
// email alone, it would let anyone lock an account's owner out by failing to
// log in as them; keyed so, guesses at one account are still slowed per
// address, and the address's own bucket bounds its guesses at all accounts.
func (s *Server) limitEmail(r *http.Request, email string) limitCheck {
	return limitCheck{policy: "email", l: s.emailLimiter,
		key: clientIP(r) + " " + strings.ToLower(strings.TrimSpace(email))}
}

// limitToken is the bucket of one refresh token, from wherever it comes: only
// its holder can present it.
func (s *Server) limitToken(token string) limitCheck {
	return limitCheck{policy: "token", l: s.emailLimiter, key: "refresh:" + commands.HashToken(token)}
}
