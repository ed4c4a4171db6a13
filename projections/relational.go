// Package projections keeps the seed's relational tables up to date from the
// event log, and answers queries from them.
package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// RelationalName is the projector that writes the seed tables. The tables are
// linked by foreign keys, so one projector applies their events in global order.
const RelationalName = "relational"

// Relational projects events into the seed tables. Every read-model timestamp and
// id comes from the event, so replaying the log gives identical rows.
type Relational struct{}

// Apply applies one event and advances the checkpoint in tx. An event at or before
// the checkpoint was applied already and changes nothing: redelivery is harmless.
func (Relational) Apply(ctx context.Context, tx pgx.Tx, e eventstore.Event) error {
	tag, err := tx.Exec(ctx, `UPDATE projector_checkpoints
		SET transaction_id = $2::text::xid8, position = $3, events_applied = events_applied + 1,
		    last_event_at = $4, updated_at = now()
		WHERE projector = $1 AND (transaction_id, position) < ($2::text::xid8, $3)`,
		RelationalName, strconv.FormatUint(e.TransactionID, 10), e.Position, e.RecordedAt)
	if err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil // already applied
	}
	de, err := domain.DecodeEvent(e.Type, e.Data)
	if err != nil {
		return err
	}
	if err := applyRelational(ctx, tx, e, de); err != nil {
		return fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
	}
	return nil
}

func applyRelational(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event) error {
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
	case *domain.SessionStarted:
		_, err = tx.Exec(ctx, `INSERT INTO user_sessions (id, user_id, token, refresh_token,
			ip_address, user_agent, expires_at, created_at, updated_at)
			VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, ''), $7, $8, $8)`,
			id, ev.UserID, ev.TokenHash, ev.RefreshTokenHash, ev.IPAddress, ev.UserAgent, ev.ExpiresAt.UTC(), at)
	case *domain.SessionRevoked:
		_, err = tx.Exec(ctx, `UPDATE user_sessions SET revoked_at = $2, updated_at = $2 WHERE id = $1`, id, at)
	case *domain.PropertyRegistered:
		d := ev.Details
		_, err = tx.Exec(ctx, `INSERT INTO properties (id, name, address, city, state, zip_code,
			owner_id, property_type, status, bedrooms, bathrooms, square_feet, year_built,
			description, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16)`,
			id, d.Name, d.Address, d.City, d.State, d.ZipCode, ev.OwnerID, d.PropertyType.String(),
			ev.Status.String(), d.Bedrooms, d.Bathrooms, d.SquareFeet, d.YearBuilt, d.Description, at, v)
	case *domain.PropertyDetailsChanged:
		d := ev.Details
		_, err = tx.Exec(ctx, `UPDATE properties SET name = $2, address = $3, city = $4, state = $5,
			zip_code = $6, property_type = $7, bedrooms = $8, bathrooms = $9, square_feet = $10,
			year_built = $11, description = $12, updated_at = $13, version = $14 WHERE id = $1`,
			id, d.Name, d.Address, d.City, d.State, d.ZipCode, d.PropertyType.String(), d.Bedrooms,
			d.Bathrooms, d.SquareFeet, d.YearBuilt, d.Description, at, v)
	case *domain.PropertyStatusChanged:
		_, err = tx.Exec(ctx, `UPDATE properties SET status = $2, updated_at = $3, version = $4 WHERE id = $1`,
			id, ev.To.String(), at, v)
	case *domain.PropertyOwnerChanged:
		_, err = tx.Exec(ctx, `UPDATE properties SET owner_id = $2, updated_at = $3, version = $4 WHERE id = $1`,
			id, ev.OwnerID, at, v)
	default:
		return errors.New("no projection for this event type")
	}
	return err
}
