package projections

import (
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyUser(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.UserRegistered); ok {
		u, err := en.create(usersTable, e.RecordedAt)
		if err != nil {
			return err
		}
		u.set("email", ev.Email)
		u.set("password_hash", ev.PasswordHash)
		u.set("first_name", nilIfEmpty(ev.FirstName))
		u.set("last_name", nilIfEmpty(ev.LastName))
		u.set("role", ev.Role.String())
		u.set("phone", nilIfEmpty(ev.Phone))
		u.set("is_active", true)
		u.set("email_verified", false)
		return nil
	}
	u, err := en.existing(usersTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.UserLoggedIn:
		u.set("last_login", e.RecordedAt)
	case *domain.UserProfileChanged:
		p := ev.Profile
		u.set("email", p.Email)
		u.set("first_name", nilIfEmpty(p.FirstName))
		u.set("last_name", nilIfEmpty(p.LastName))
		u.set("phone", nilIfEmpty(p.Phone))
	case *domain.UserRoleChanged:
		u.set("role", ev.To.String())
	case *domain.UserDeactivated:
		u.set("is_active", false)
	case *domain.UserReactivated:
		u.set("is_active", true)
	default:
		return errNoProjection
	}
	return nil
}

func applySession(en *entity, e eventstore.Event, de domain.Event) error {
	if ev, ok := de.(*domain.SessionStarted); ok {
		s, err := en.create(sessionsTable, e.RecordedAt)
		if err != nil {
			return err
		}
		s.set("user_id", ev.UserID)
		s.set("token", ev.TokenHash)
		s.set("refresh_token", ev.RefreshTokenHash)
		s.set("ip_address", nilIfEmpty(ev.IPAddress))
		s.set("user_agent", nilIfEmpty(ev.UserAgent))
		s.set("expires_at", ev.ExpiresAt)
		return nil
	}
	s, err := en.existing(sessionsTable)
	if err != nil {
		return err
	}
	switch ev := de.(type) {
	case *domain.SessionRefreshed:
		s.set("token", ev.TokenHash)
		s.set("refresh_token", ev.RefreshTokenHash)
		s.set("expires_at", ev.ExpiresAt)
	case *domain.SessionRevoked:
		s.set("revoked_at", e.RecordedAt)
	default:
		return errNoProjection
	}
	return nil
}
