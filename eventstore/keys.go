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
