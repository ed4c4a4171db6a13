package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyUser(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.UserRegistered:
		_, err = tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, first_name, last_name,
			role, phone, is_active, email_verified, created_at, updated_at, version)
			VALUES ($1, $2, $3, nullif($4, ''), nullif($5, ''), $6, nullif($7, ''), TRUE, FALSE, $8, $8, $9)`,
			id, ev.Email, ev.PasswordHash, ev.FirstName, ev.LastName, ev.Role.String(), ev.Phone, at, v)
	case *domain.UserLoggedIn:
		_, err = tx.Exec(ctx, `UPDATE users SET last_login = $2, updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	case *domain.UserProfileChanged:
		p := ev.Profile
		_, err = tx.Exec(ctx, `UPDATE users SET email = $2, first_name = nullif($3, ''), last_name = nullif($4, ''),
			phone = nullif($5, ''), updated_at = $6, version = $7 WHERE id = $1`,
			id, p.Email, p.FirstName, p.LastName, p.Phone, at, v)
	case *domain.UserRoleChanged:
		_, err = tx.Exec(ctx, `UPDATE users SET role = $2, updated_at = $3, version = $4 WHERE id = $1`, id, ev.To.String(), at, v)
	case *domain.UserDeactivated:
		_, err = tx.Exec(ctx, `UPDATE users SET is_active = FALSE, updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	case *domain.UserReactivated:
		_, err = tx.Exec(ctx, `UPDATE users SET is_active = TRUE, updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	default:
		return errNoProjection
	}
	return err
}

func applySession(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id := e.RecordedAt.UTC(), e.Stream.ID
	var err error
	switch ev := de.(type) {
	case *domain.SessionStarted:
		_, err = tx.Exec(ctx, `INSERT INTO user_sessions (id, user_id, token, refresh_token,
			ip_address, user_agent, expires_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), $7, $8, $8)`,
			id, ev.UserID, ev.TokenHash, ev.RefreshTokenHash, ev.IPAddress, ev.UserAgent, ev.ExpiresAt.UTC(), at)
	case *domain.SessionRefreshed:
		_, err = tx.Exec(ctx, `UPDATE user_sessions SET token = $2, refresh_token = $3, expires_at = $4,
			updated_at = $5 WHERE id = $1`, id, ev.TokenHash, ev.RefreshTokenHash, ev.ExpiresAt.UTC(), at)
	case *domain.SessionRevoked:
		_, err = tx.Exec(ctx, `UPDATE user_sessions SET revoked_at = $2, updated_at = $2 WHERE id = $1`, id, at)
	default:
		return errNoProjection
	}
	return err
}
