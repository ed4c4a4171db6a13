package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyUser(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event) error {
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
	default:
		return errNoProjection
	}
	return err
}

func applySession(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event) error {
	at, id := e.RecordedAt.UTC(), e.Stream.ID
	var err error
	switch ev := de.(type) {
	case *domain.SessionStarted:
		_, err = tx.Exec(ctx, `INSERT INTO user_sessions (id, user_id, token, refresh_token,
			ip_address, user_agent, expires_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), $7, $8, $8)`,
			id, ev.UserID, ev.TokenHash, ev.RefreshTokenHash, ev.IPAddress, ev.UserAgent, ev.ExpiresAt.UTC(), at)
	case *domain.SessionRevoked:
		_, err = tx.Exec(ctx, `UPDATE user_sessions SET revoked_at = $2, updated_at = $2 WHERE id = $1`, id, at)
	default:
		return errNoProjection
	}
	return err
}
