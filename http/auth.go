package http

import (
	"net/http"
	"time"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/projections"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token        string               `json:"token"`
	RefreshToken string               `json:"refresh_token"`
	ExpiresAt    string               `json:"expires_at"`
	User         projections.UserView `json:"user"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	sess, err := s.Users.LogIn(r.Context(), commands.LogIn{
		Email: req.Email, Password: req.Password, IPAddress: clientIP(r), UserAgent: truncate(r.UserAgent(), 1000),
	})
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if err := s.awaitProjection(r.Context(), sess.Result); err != nil {
		Error(w, r, s.log, err)
		return
	}
	user, err := s.queries.User(r.Context(), sess.UserID)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{
		Token: sess.Token, RefreshToken: sess.RefreshToken,
		ExpiresAt: sess.ExpiresAt.UTC().Format(time.RFC3339), User: user,
	})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	res, err := s.Users.LogOut(r.Context(), actorOf(r), session(r.Context()).SessionID)
	if err == nil {
		err = s.awaitProjection(r.Context(), res)
	}
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
