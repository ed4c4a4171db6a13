package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyTenant(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.TenantRegistered:
		c, s := ev.Contact, ev.Screening
		var ssn *string
		if ssn, err = sealedSSN(e, ev.SSNLastFour); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO tenants (id, first_name, last_name, email, phone,
			ssn_last_four, date_of_birth, credit_score, income, background_check_status,
			registered_by, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)`,
			id, c.FirstName, c.LastName, c.Email, c.Phone, ssn, ev.DateOfBirth,
			s.CreditScore, s.Income, s.BackgroundCheckStatus, ev.RegisteredBy, at, v)
	case *domain.TenantContactChanged:
		c := ev.Contact
		_, err = tx.Exec(ctx, `UPDATE tenants SET first_name = $2, last_name = $3, email = $4, phone = $5,
			updated_at = $6, version = $7 WHERE id = $1`, id, c.FirstName, c.LastName, c.Email, c.Phone, at, v)
	case *domain.TenantScreeningRecorded:
		s := ev.Screening
		_, err = tx.Exec(ctx, `UPDATE tenants SET credit_score = $2, income = $3, background_check_status = $4,
			updated_at = $5, version = $6 WHERE id = $1`, id, s.CreditScore, s.Income, s.BackgroundCheckStatus, at, v)
	case *domain.TenantPersonalDataErased:
		// The seed's NOT NULL columns get neutral placeholders; the rest is blanked.
		_, err = tx.Exec(ctx, `UPDATE tenants SET first_name = $4, last_name = $4,
			email = $5, phone = NULL, ssn_last_four = NULL, date_of_birth = NULL,
			credit_score = NULL, income = NULL, background_check_status = NULL,
			updated_at = $2, version = $3 WHERE id = $1`, id, at, v, ErasedName, ErasedEmail)
	default:
		return errNoProjection
	}
	return err
}
