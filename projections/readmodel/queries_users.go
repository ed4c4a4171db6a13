package readmodel

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
)

const userColumns = `id, email, first_name, last_name, role, phone, last_login,
	coalesce(is_active, FALSE), coalesce(email_verified, FALSE), created_at, updated_at, version`

func scanUser(row pgx.CollectableRow) (UserView, error) {
	var u UserView
	err := row.Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName, &u.Role, &u.Phone, &u.LastLogin,
		&u.IsActive, &u.EmailVerified, &u.CreatedAt, &u.UpdatedAt, &u.Version)
	return u, err
}

// User returns one user by id.
func (q *Queries) User(ctx context.Context, id uuid.UUID) (UserView, error) {
	rows, err := q.pool.Query(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id)
	return collectOne(rows, err, scanUser, "read user")
}

// UserFor returns a user as the viewer may see it: admins and managers see every
// user, anyone sees themselves; others are not found.
func (q *Queries) UserFor(ctx context.Context, v Viewer, id uuid.UUID) (UserView, error) {
	if !seesAll(v) && v.UserID != id {
		return UserView{}, domain.ErrNotFound
	}
	return q.User(ctx, id)
}

// UserFilter narrows the user list.
type UserFilter struct {
	Role   string
	Email  string
	Cursor string
	Limit  int
}

// Users lists users, oldest first (admins and managers only; the caller checks).
func (q *Queries) Users(ctx context.Context, f UserFilter) (Page[UserView], error) {
	l := newList("TRUE")
	if f.Role != "" {
		l.and("role = %s", f.Role)
	}
	if f.Email != "" {
		l.and("lower(email) = lower(%s)", f.Email)
	}
	return listPage(ctx, q, l, `SELECT `+userColumns+` FROM users`, byCreated(""), f.Cursor, f.Limit, scanUser,
		func(u UserView) (time.Time, uuid.UUID) { return time.Time(u.CreatedAt), u.ID }, "list users")
}

// SessionView is a user_sessions row as its owner sees it (never the token hashes).
type SessionView struct {
	ID        uuid.UUID `json:"id"`
	IPAddress *string   `json:"ip_address"`
	UserAgent *string   `json:"user_agent"`
	ExpiresAt Timestamp `json:"expires_at"`
	CreatedAt Timestamp `json:"created_at"`
	UpdatedAt Timestamp `json:"updated_at"`
	Current   bool      `json:"current"`
}

// Sessions lists a user's live sessions, newest first; current marks the caller's.
func (q *Queries) Sessions(ctx context.Context, userID, current uuid.UUID) ([]SessionView, error) {
	rows, err := q.pool.Query(ctx, `SELECT id, ip_address, user_agent, expires_at, created_at, updated_at
		FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > (now() AT TIME ZONE 'UTC')
		ORDER BY created_at DESC, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SessionView, error) {
		var s SessionView
		err := row.Scan(&s.ID, &s.IPAddress, &s.UserAgent, &s.ExpiresAt, &s.CreatedAt, &s.UpdatedAt)
		s.Current = s.ID == current
		return s, err
	})
}

// LiveSessionIDs lists a user's sessions that are not revoked. Expired ones count
// too: they may still be refreshed. Deactivation revokes them all, whoever runs
// it, so it reads as the system.
func (q *Queries) LiveSessionIDs(ctx context.Context, userID uuid.UUID) ([]uuid.UUID, error) {
	rows, err := q.pool.Query(AsSystem(ctx), `SELECT id FROM user_sessions WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list live sessions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
