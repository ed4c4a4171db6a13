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

// NewMasterKey generates a master key: MasterKeySize bytes from crypto/rand.
func NewMasterKey() ([]byte, error) {
	master := make([]byte, MasterKeySize)
	if _, err := rand.Read(master); err != nil {
		return nil, fmt.Errorf("generate master key: %w", err)
	}
	return master, nil
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

// Rewrap moves owner's wrapped key from this keyring's master key to to's.
// A key this keyring cannot unwrap is ErrWrongMasterKey.
func (k *Keyring) Rewrap(to *Keyring, owner uuid.UUID, w WrappedKey) (WrappedKey, error) {
	raw, err := k.unwrap(owner, w)
	if err != nil {
		return WrappedKey{}, err
	}
	return to.wrap(owner, raw)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
