// Package tenantkeys protects tenants' personal data: each tenant has its own
// AES-256 data key, stored only wrapped by the master key, and personal fields of
// event payloads are sealed field by field with it. Shredding the key erases
// what it sealed. Storage of the wrapped keys is the caller's (DataKeys, kept by
// eventstore in the events' transaction). It must not import eventstore,
// projections, commands or http.
package tenantkeys

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ErrKeyShredded means the owner's data key is gone (erased, or never made):
// what it sealed can no longer be read.
var ErrKeyShredded = errors.New("the data key was shredded")

// ErrKeyExists means the owner already has a data key. Nothing was written.
var ErrKeyExists = errors.New("the owner already has a data key")

// ErrWrongMasterKey means a data key was wrapped by another master key than the
// one configured, or its wrapping was tampered with.
var ErrWrongMasterKey = errors.New("the data key was not wrapped by this master key")

// MasterKeySize is the length of a master key in bytes (AES-256).
const MasterKeySize = 32

// WrappedKey is a data key as stored: sealed by the master key named by MasterKeyID.
type WrappedKey struct {
	Wrapped     []byte
	MasterKeyID string
}

// DataKeys is the table of wrapped data keys. eventstore's implementation works
// in the store's transaction (Atomically), so a key is created or shredded
// together with the events that need it.
type DataKeys interface {
	// PutDataKey stores owner's wrapped key; an owner that has one is ErrKeyExists.
	PutDataKey(ctx context.Context, owner uuid.UUID, key WrappedKey) error
	// DataKey returns owner's wrapped key, or ErrKeyShredded.
	DataKey(ctx context.Context, owner uuid.UUID) (WrappedKey, error)
	// ShredDataKey deletes owner's key, and every stored idempotent answer that
	// mentions owner (a copy in clear of what the key protected). No key is no error.
	ShredDataKey(ctx context.Context, owner uuid.UUID) error
}

// Keyring wraps and unwraps data keys with the master key.
type Keyring struct {
	master cipher.AEAD
	id     string
}

// NewKeyring uses master (MasterKeySize random bytes) as the master key.
func NewKeyring(master []byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("the master key must be %d bytes, not %d", MasterKeySize, len(master))
	}
	aead, err := newGCM(master)
	if err != nil {
		return nil, err
	}
	return &Keyring{master: aead, id: MasterKeyID(master)}, nil
}

// MasterKeyID names a master key without revealing it: the first 8 bytes of a
// SHA-256 of it, in hex. Each wrapped key records the id of the key that wrapped it.
func MasterKeyID(master []byte) string {
	sum := sha256.Sum256(append([]byte("assetanchor master key id\x00"), master...))
	return hex.EncodeToString(sum[:8])
}

// MasterKeyID is the id of the keyring's master key.
func (k *Keyring) MasterKeyID() string { return k.id }

// Create makes a fresh data key for owner and stores it wrapped. An owner that
// has a key already is ErrKeyExists.
func (k *Keyring) Create(ctx context.Context, keys DataKeys, owner uuid.UUID) (*DataKey, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("make data key: %w", err)
	}
	wrapped, err := k.wrap(owner, raw)
	if err != nil {
		return nil, err
	}
	if err := keys.PutDataKey(ctx, owner, wrapped); err != nil {
		return nil, err
	}
	return newDataKey(owner, raw)
}

// Key returns owner's data key: ErrKeyShredded when it is gone, ErrWrongMasterKey
// when another master key wrapped it.
func (k *Keyring) Key(ctx context.Context, keys DataKeys, owner uuid.UUID) (*DataKey, error) {
	wrapped, err := keys.DataKey(ctx, owner)
	if err != nil {
		return nil, err
	}
	raw, err := k.unwrap(owner, wrapped)
	if err != nil {
		return nil, err
	}
	return newDataKey(owner, raw)
}

// wrapAAD binds a wrapped key to its owner, so that rows cannot be swapped.
func wrapAAD(owner uuid.UUID) []byte { return []byte("assetanchor data key\x00" + owner.String()) }

func (k *Keyring) wrap(owner uuid.UUID, raw []byte) (WrappedKey, error) {
	nonce := make([]byte, k.master.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return WrappedKey{}, fmt.Errorf("make nonce: %w", err)
	}
	return WrappedKey{Wrapped: k.master.Seal(nonce, nonce, raw, wrapAAD(owner)), MasterKeyID: k.id}, nil
}

func (k *Keyring) unwrap(owner uuid.UUID, w WrappedKey) ([]byte, error) {
	if w.MasterKeyID != k.id {
		return nil, fmt.Errorf("%w: wrapped by master key %s, this one is %s", ErrWrongMasterKey, w.MasterKeyID, k.id)
	}
	n := k.master.NonceSize()
	if len(w.Wrapped) < n {
		return nil, ErrWrongMasterKey
	}
	raw, err := k.master.Open(nil, w.Wrapped[:n], w.Wrapped[n:], wrapAAD(owner))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWrongMasterKey, err)
	}
	return raw, nil
}

// RotateMasterKey rewraps every data key from the keyring from to the keyring to,
// in one transaction: either every key moves to the new master key or none does.
// A key that from cannot unwrap stops the rotation (ErrWrongMasterKey). It
// returns how many keys were rewrapped.
func RotateMasterKey(ctx context.Context, db DB, from, to *Keyring) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT tenant_id, wrapped_key, master_key_id FROM tenant_keys
			ORDER BY tenant_id FOR UPDATE`)
		if err != nil {
			return fmt.Errorf("read data keys: %w", err)
		}
		type row struct {
			owner uuid.UUID
			key   WrappedKey
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
			raw, err := from.unwrap(x.owner, x.key)
			if err != nil {
				return fmt.Errorf("unwrap the data key of %s: %w", x.owner, err)
			}
			rewrapped, err := to.wrap(x.owner, raw)
			if err != nil {
				return err
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

// DB is what RotateMasterKey and MasterKeyIDs need of a pool.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
