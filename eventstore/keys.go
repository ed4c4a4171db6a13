package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The store keeps the tenant data keys (tenantkeys) wrapped in tenant_keys, so a
// key is created or shredded in the same transaction as the events that need it.

var _ tenantkeys.DataKeys = (*PostgresStore)(nil)

// PutDataKey inserts owner's wrapped key into tenant_keys.
func (s *PostgresStore) PutDataKey(ctx context.Context, owner uuid.UUID, key tenantkeys.WrappedKey) error {
	_, err := s.conn(ctx).Exec(ctx, `INSERT INTO tenant_keys (tenant_id, wrapped_key, master_key_id) VALUES ($1, $2, $3)`,
		owner, key.Wrapped, key.MasterKeyID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return tenantkeys.ErrKeyExists
	}
	if err != nil {
		return fmt.Errorf("store data key: %w", err)
	}
	return nil
}

// DataKey reads owner's wrapped key.
func (s *PostgresStore) DataKey(ctx context.Context, owner uuid.UUID) (tenantkeys.WrappedKey, error) {
	var k tenantkeys.WrappedKey
	err := s.conn(ctx).QueryRow(ctx, `SELECT wrapped_key, master_key_id FROM tenant_keys WHERE tenant_id = $1`, owner).
		Scan(&k.Wrapped, &k.MasterKeyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return tenantkeys.WrappedKey{}, tenantkeys.ErrKeyShredded
	}
	if err != nil {
		return tenantkeys.WrappedKey{}, fmt.Errorf("read data key: %w", err)
	}
	return k, nil
}

// ShredDataKey deletes owner's key and the stored answers that mention owner.
func (s *PostgresStore) ShredDataKey(ctx context.Context, owner uuid.UUID) error {
	if _, err := s.conn(ctx).Exec(ctx, `DELETE FROM tenant_keys WHERE tenant_id = $1`, owner); err != nil {
		return fmt.Errorf("shred data key: %w", err)
	}
	// A stored answer is the entity as it was answered, in clear; its id is in it.
	if _, err := s.conn(ctx).Exec(ctx, `DELETE FROM idempotency_keys
		WHERE position(convert_to($1::text, 'UTF8') IN coalesce(body, ''::bytea)) > 0`, owner.String()); err != nil {
		return fmt.Errorf("forget stored answers: %w", err)
	}
	return nil
}

// RotateMasterKey rewraps every data key from the keyring from to the keyring to,
// in one transaction: either every key moves to the new master key or none does.
// A key that from cannot unwrap stops the rotation (ErrWrongMasterKey). It
// returns how many keys were rewrapped.
func RotateMasterKey(ctx context.Context, db DB, from, to *tenantkeys.Keyring) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, wrapped_key, master_key_id FROM tenant_keys
			ORDER BY tenant_id FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		type row struct {
			owner uuid.UUID
			key   tenantkeys.WrappedKey
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.owner, &x.key.Wrapped, &x.key.MasterKeyID)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		for _, x := range all {
			rewrapped, err := from.Rewrap(to, x.owner, x.key)
			if err != nil {
				return fmt.Errorf("rewrap the data key of %s: %w", x.owner, err)
			}
			if _, err := tx.Exec(ctx, `UPDATE tenant_keys SET wrapped_key = $2, master_key_id = $3, rewrapped_at = now()
				WHERE tenant_id = $1`, x.owner, rewrapped.Wrapped, rewrapped.MasterKeyID); err != nil {
				return fmt.Errorf("store the rewrapped key of %s: %w", x.owner, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// MasterKeyIDs lists the ids of the master keys that wrapped the stored data
// keys, so that a server can refuse to start with the wrong one.
func MasterKeyIDs(ctx context.Context, db DB) ([]string, error) {
	rows, err := db.Query(ctx, `SELECT DISTINCT master_key_id FROM tenant_keys ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("read master key ids: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
