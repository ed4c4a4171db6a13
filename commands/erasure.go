package commands

// Erasure of a tenant's personal data (GDPR art. 17), the whole sequence in one
// place. Tenant events hold personal fields only sealed with the tenant's data
// key (tenantdata.go); erasing makes them unreadable for good and removes every
// copy in clear:
//
//  1. append TenantPersonalDataErased (the aggregate refuses later personal data);
//  2. in the same transaction, shred the data key and the stored Idempotency-Key
//     answers that mention the tenant (eventstore's ShredDataKey);
//  3. in the same transaction, the inline projector redacts the read-model row
//     and the tenant's audit rows (projections: relational_tenants.go, audit.go);
//  4. once committed, note the erasure in the journal beside the backups, so a
//     restore to an earlier moment erases again (cmd/assetanchor/backup_restore.go);
//  5. delete the tenant's documents, bytes included once nothing holds them.
//
// Readers of the log after that find sealed fields they cannot open: commands
// (OpenTenantEvents), the projector (projections/sealed.go) and exports all see
// the tenant as erased.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// EraseTenant erases a tenant's personal data.
type EraseTenant struct {
	Target
}

// Erase handles EraseTenant, steps 1 to 5 above; files holds the tenant's
// documents (nil only where no document store exists). Only an admin or the
// owning user may erase (domain.Tenant.MayErase): others who may see the tenant
// are refused with ErrEraseForbidden, anyone else gets ErrNotFound. Erasing
// again records nothing, and finishes what an interrupted erasure left (its
// documents, its journal entry).
func (h *Tenants) Erase(ctx context.Context, cmd EraseTenant, files *Documents) (Result, error) {
	ctx = withCommand(ctx, "EraseTenant")
	var res Result
	err := atomically(ctx, h.store, func(store eventstore.Store) error {
		var err error
		res, err = update(ctx, store, tenantStream(cmd.ID), cmd.IfMatch, newTenant, // 1 and 3
			func(t *domain.Tenant) error {
				if err := h.mayChange(ctx, cmd.Actor, cmd.ID, t); err != nil {
					return err
				}
				if !t.MayErase(cmd.Actor.UserID, cmd.Actor.Role) {
					return domain.ErrEraseForbidden
				}
				return nil
			},
			func(t *domain.Tenant) ([]domain.Event, error) { return t.ErasePersonalData(), nil })
		if err != nil || res.Checkpoint == (eventstore.Checkpoint{}) {
			return err // erased before: the key and the answers are gone already
		}
		return store.ShredDataKey(ctx, cmd.ID) // 2
	})
	if err != nil {
		return res, err
	}
	if h.journal != nil {
		eventstore.AfterCommit(ctx, func(ctx context.Context) { // 4
			// The erasure is committed: a client that went away does not stop it.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := h.journal.Record(ctx, cmd.ID); err != nil {
				h.log.ErrorContext(ctx, "record the erasure in the erasure journal", "tenant", cmd.ID, "err", err)
			}
		})
	}
	if files != nil { // 5, in the unit of work ctx may carry, else on its own
		if _, err := files.DeleteErasedTenantFiles(ctx, cmd.ID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// ErasureJournal keeps erased tenants outside the database (beside the
// backups), so that a restore to a moment before an erasure erases again.
type ErasureJournal interface {
	// Record notes that tenantID's erasure has committed; recording a tenant
	// already in the journal changes nothing.
	Record(ctx context.Context, tenantID uuid.UUID) error
}

// WithErasureJournal makes Erase record each erased tenant in j once the
// erasure has committed. A failed record is logged to log at ERROR and not
// returned: the erasure stands, and whoever keeps j must also catch up on
// erasures from the event log. j may be nil.
func (h *Tenants) WithErasureJournal(j ErasureJournal, log *slog.Logger) *Tenants {
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	h.journal, h.log = j, log
	return h
}

// DeleteErasedTenantFiles deletes every live document attached to a tenant whose
// personal data was erased (step 4 of Erase): its files (identity papers, payslips, screening
// reports) are personal data that crypto-shredding cannot reach, so they go as a
// deletion does, bytes included once no other document holds them. It acts for
// the system, after the erasure, and repeating it deletes what is left; uploads to
// an erased tenant are refused. It returns the last deletion's result, whose
// checkpoint covers them all (zero when there was nothing to delete).
func (h *Documents) DeleteErasedTenantFiles(ctx context.Context, tenantID uuid.UUID) (Result, error) {
	ctx = withCommand(ctx, "DeleteErasedTenantDocument")
	tenant, err := loadTenant(ctx, h.store, tenantID)
	if err != nil {
		return Result{}, err
	}
	if !tenant.Erased() {
		return Result{}, fmt.Errorf("delete the files of tenant %s: %w", tenantID, domain.ErrConflict)
	}
	ids, err := h.visibility.LiveDocumentsOf(ctx, domain.DocumentOfTenant.String(), tenantID)
	if err != nil {
		return Result{}, err
	}
	system := Actor{Role: domain.RoleAdmin} // sees every document and entity
	var last Result
	for _, id := range ids {
		res, err := h.Delete(ctx, Target{Actor: system, ID: id})
		if errors.Is(err, domain.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return last, err
		}
		last = res
	}
	return last, nil
}
