package http

import (
	"net/http"

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

func userVersion(u readmodel.UserView) int64 { return u.Version }

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
	answerCommand(s, w, r, res, err, "users", s.queries.UserFor, userVersion)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if err := requireUserReader(r); err != nil {
		Error(w, r, s.log, err)
		return
	}
	q := r.URL.Query()
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	role := q.Get("role")
	if role != "" && domain.ParseRole(role) == (domain.Role{}) {
		Error(w, r, s.log, badRequest("role must be admin, manager or user"))
		return
	}
	page, err := s.queries.Users(r.Context(), readmodel.UserFilter{
		Role: role, Email: q.Get("email"), Cursor: q.Get("cursor"), Limit: limit,
	})
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	if err := requireUserReader(r); err != nil {
		Error(w, r, s.log, err)
		return
	}
	answerEntity(s, w, r, s.queries.UserFor, userVersion)
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
	s.entityCommand(w, r, &req, jsonBody, func(_ commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Users.ChangeProfile(r.Context(), commands.ChangeUserProfile{
			Actor: actorOf(r), ID: id, IfMatch: version,
			Email: req.Email, FirstName: req.FirstName, LastName: req.LastName, Phone: req.Phone,
		})
	}, s.answerUser)
}

func (s *Server) changeUserRole(w http.ResponseWriter, r *http.Request) {
	var req roleRequest
	s.entityCommand(w, r, &req, jsonBody, func(_ commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Users.ChangeRole(r.Context(), actorOf(r), id, version, req.Role)
	}, s.answerUser)
}

func (s *Server) deactivateUser(w http.ResponseWriter, r *http.Request) {
	s.entityCommand(w, r, nil, noBody, func(_ commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Users.Deactivate(r.Context(), actorOf(r), id, version)
	}, s.answerUser)
}

func (s *Server) activateUser(w http.ResponseWriter, r *http.Request) {
	s.entityCommand(w, r, nil, noBody, func(_ commands.Actor, id uuid.UUID, version *int64) (commands.Result, error) {
		return s.Users.Reactivate(r.Context(), actorOf(r), id, version)
	}, s.answerUser)
}

func (s *Server) answerUser(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(s, w, r, res, err, "users", s.queries.UserFor, userVersion)
}
