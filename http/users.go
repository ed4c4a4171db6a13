package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

type createUserRequest struct {
	ID        *uuid.UUID `json:"id"`
	Email     string     `json:"email"`
	Password  string     `json:"password"`
	FirstName string     `json:"first_name"`
	LastName  string     `json:"last_name"`
	Phone     string     `json:"phone"`
	Role      string     `json:"role"`
}

type userPatchRequest struct {
	Email     commands.Optional[string] `json:"email"`
	FirstName commands.Optional[string] `json:"first_name"`
	LastName  commands.Optional[string] `json:"last_name"`
	Phone     commands.Optional[string] `json:"phone"`
}

type roleRequest struct {
	Role string `json:"role"`
}

// users is the collection of users for the generic handlers.
func (s *Server) users() resource[readmodel.UserView] {
	return resource[readmodel.UserView]{s: s, collection: "users", streamType: domain.UserStreamType,
		read: s.queries.UserFor, version: func(u readmodel.UserView) int64 { return u.Version }}
}

// requireUserReader lets admins and managers read users (API.md: managers read users).
func requireUserReader(r *http.Request) error {
	if !domain.ReadsUsers(viewerOf(r)) {
		return domain.ErrRoleForbidden
	}
	return nil
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req createUserRequest
	if err := decodeJSON(w, r, &req); err != nil {
		Error(w, r, s.log, err)
		return
	}
	if req.Role == "" {
		req.Role = domain.RoleUser.String()
	}
	res, err := s.Users.CreateAsAdmin(r.Context(), actorOf(r), commands.CreateUser{
		ID: req.ID, Email: req.Email, Password: req.Password, FirstName: req.FirstName,
		LastName: req.LastName, Phone: req.Phone, Role: req.Role,
	})
	s.users().answer(w, r, res, err)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if err := requireUserReader(r); err != nil {
		Error(w, r, s.log, err)
		return
	}
	listHandler(s, userFilter, func(ctx context.Context, _ readmodel.Viewer, f readmodel.UserFilter) (readmodel.Page[readmodel.UserView], error) {
		return s.queries.Users(ctx, f)
	})(w, r)
}

// userFilter reads GET /users' filters.
func userFilter(q url.Values, p pageParams) (readmodel.UserFilter, error) {
	role, err := queryEnum[domain.Role](q, "role")
	return readmodel.UserFilter{Role: role, Email: q.Get("email"), Cursor: p.cursor, Limit: p.limit}, err
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if err := requireUserReader(r); err != nil {
		Error(w, r, s.log, err)
		return
	}
	s.users().get(w, r)
}

// userHistory answers a user's events: its account trail (logins, role changes),
// which is the admins' and the user's own (domain.SeesAccountTrail). A manager
// reads the user but not its trail: 403, since the user is no secret to it; to
// anyone else another user is 403 as GET /users/{id} is.
func (s *Server) userHistory(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !domain.SeesAccountTrail(viewerOf(r), id) {
		Error(w, r, s.log, domain.ErrRoleForbidden)
		return
	}
	answerHistory(s, w, r, domain.UserStreamType, s.queries.UserFor)
}

func (s *Server) changeUser(w http.ResponseWriter, r *http.Request) {
	var req userPatchRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Users.ChangeProfile(r.Context(), commands.ChangeUserProfile{
			Target: t,
			Email:  req.Email, FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone,
		})
	}, s.users().answer)
}

func (s *Server) changeUserRole(w http.ResponseWriter, r *http.Request) {
	var req roleRequest
	s.entityCommand(w, r, &req, jsonBody, func(t commands.Target) (commands.Result, error) {
		return s.Users.ChangeRole(r.Context(), t, req.Role)
	}, s.users().answer)
}
