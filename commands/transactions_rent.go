package commands

import (
	"context"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// Waive forgives a pending or failed fee, for anyone who sees it. Any other type
// of charge is refused with domain.ErrNotAFee (a conflict: the charge is not a fee).
func (h *Transactions) Waive(ctx context.Context, cmd Transition) (Result, error) {
	ctx = withCommand(ctx, "WaiveFee")
	return h.update(ctx, cmd.Target, func(t *domain.Transaction) ([]domain.Event, error) {
		return t.Waive(cmd.Reason)
	})
}

// WriteOff gives up collecting a pending or failed charge: admins and managers
// only. A user who sees the charge is refused with domain.ErrRoleForbidden; one
// who does not, ErrNotFound.
func (h *Transactions) WriteOff(ctx context.Context, cmd Transition) (Result, error) {
	ctx = withCommand(ctx, "WriteOffCharge")
	return update(ctx, h.store, transactionStream(cmd.ID), cmd.IfMatch, newTransaction,
		func(t *domain.Transaction) error {
			if err := h.canSee(ctx, cmd.Actor, t); err != nil {
				return err
			}
			if !domain.WritesOff(cmd.Actor) {
				return domain.ErrRoleForbidden
			}
			return nil
		},
		func(t *domain.Transaction) ([]domain.Event, error) { return t.WriteOff(cmd.Reason) })
}

// voidGraceFee voids the late fee of rent charge t when t was paid within its
// grace period (the payment may be recorded long after its payment_date): such
// a charge never keeps a fee. res then waits for the void too. It runs after
// the payment committed; should it fail, the rent schedule's next run voids the
// fee.
func voidGraceFee(ctx context.Context, store eventstore.Store, t *domain.Transaction, res *Result) error {
	fee, within := t.PaidWithinGrace()
	if !within {
		return nil
	}
	voided, err := voidCharge(ctx, store, fee, "rent paid within the grace period")
	if err != nil {
		return err
	}
	if voided.Checkpoint != (eventstore.Checkpoint{}) {
		res.Checkpoint = voided.Checkpoint
	}
	return nil
}
