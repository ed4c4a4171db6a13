package projections

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

func applyTransaction(ctx context.Context, tx execer, e eventstore.Event, de domain.Event) error {
	at, id, v := e.RecordedAt.UTC(), e.Stream.ID, e.Version
	var err error
	switch ev := de.(type) {
	case *domain.ChargePosted:
		_, err = tx.Exec(ctx, `INSERT INTO transactions (id, lease_id, amount, type, status, due_date,
			notes, created_at, updated_at, version)
			VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $7, $8)`,
			id, ev.LeaseID, ev.Amount, ev.Type.String(), ev.DueDate, ev.Notes, at, v)
	case *domain.RentPaid:
		err = projectPayment(ctx, tx, id, ev.Payment, at, v)
	case *domain.PaymentReceived:
		err = projectPayment(ctx, tx, id, ev.Payment, at, v)
	case *domain.PaymentFailed:
		err = projectTransactionStatus(ctx, tx, id, domain.TransactionFailed, at, v)
	case *domain.PaymentRetried:
		_, err = tx.Exec(ctx, `UPDATE transactions SET status = 'pending', payment_date = NULL,
			payment_method = NULL, reference_number = NULL, updated_at = $2, version = $3 WHERE id = $1`, id, at, v)
	case *domain.PaymentRefunded:
		err = projectTransactionStatus(ctx, tx, id, domain.TransactionRefunded, at, v)
	case *domain.ChargeVoided:
		err = projectChargeClosed(ctx, tx, id, domain.TransactionVoid, at, v)
	case *domain.FeeWaived:
		err = projectChargeClosed(ctx, tx, id, domain.TransactionWaived, at, v)
	case *domain.ChargeWrittenOff:
		err = projectChargeClosed(ctx, tx, id, domain.TransactionWrittenOff, at, v)
	case *domain.LateFeeAssessed:
		err = projectTransactionVersion(ctx, tx, id, at, v)
	default:
		return errNoProjection
	}
	return err
}

func projectPayment(ctx context.Context, tx execer, id any, p domain.Payment, at any, v int64) error {
	_, err := tx.Exec(ctx, `UPDATE transactions SET status = 'completed', payment_date = $2,
		payment_method = $3, reference_number = $4, updated_at = $5, version = $6 WHERE id = $1`,
		id, p.PaymentDate, p.PaymentMethod.String(), p.ReferenceNumber, at, v)
	return err
}

func projectTransactionStatus(ctx context.Context, tx execer, id any, status domain.TransactionStatus, at any, v int64) error {
	_, err := tx.Exec(ctx, `UPDATE transactions SET status = $2, updated_at = $3, version = $4 WHERE id = $1`,
		id, status.String(), at, v)
	return err
}
