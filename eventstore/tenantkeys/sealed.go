package tenantkeys

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Sealed payloads. Sealing encrypts personal fields of an event payload one by
// one (AES-256-GCM under the owner's data key) and moves them out of their
// places into one object under SealedKey, keyed by their dotted path:
//
//	{"contact": {"first_name": "Ada"}, "tenant_id": "…"}
//	→ {"contact": {}, "tenant_id": "…", "sealed": {"contact.first_name": "v1:…"}}
//
// The rest of the payload stays in clear and keeps its shape, so a reader without
// the key still decodes the event, with the personal fields absent. Opening puts
// the values back in their places and keeps the sealed object, so a projection can
// store a ciphertext as it is (the read model's ssn_last_four).

// SealedKey is the payload member that holds the sealed fields.
const SealedKey = "sealed"

// sealedPrefix versions the format of one sealed value: "v1:" + base64(nonce ‖
// ciphertext ‖ tag), the plaintext being the field's JSON value.
const sealedPrefix = "v1:"

// ErrNotSealed means a value is not in the sealed format.
var ErrNotSealed = errors.New("the value is not sealed")

// DataKey seals and opens the personal fields of one owner.
type DataKey struct {
	owner uuid.UUID
	aead  cipher.AEAD
}

func newDataKey(owner uuid.UUID, raw []byte) (*DataKey, error) {
	aead, err := newGCM(raw)
	if err != nil {
		return nil, err
	}
	return &DataKey{owner: owner, aead: aead}, nil
}

// fieldAAD binds a sealed value to its owner and its field name, so that a
// ciphertext moved to another field or owner does not open.
func (d *DataKey) fieldAAD(field string) []byte {
	return []byte("assetanchor sealed field\x00" + d.owner.String() + "\x00" + field)
}

// SealField encrypts one field's JSON value.
func (d *DataKey) SealField(field string, value json.RawMessage) (string, error) {
	nonce := make([]byte, d.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("make nonce: %w", err)
	}
	return sealedPrefix + base64.RawStdEncoding.EncodeToString(d.aead.Seal(nonce, nonce, value, d.fieldAAD(field))), nil
}

// OpenField decrypts a value sealed by SealField for the same field.
func (d *DataKey) OpenField(field, sealed string) (json.RawMessage, error) {
	b64, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return nil, ErrNotSealed
	}
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) < d.aead.NonceSize() {
		return nil, fmt.Errorf("%w: malformed %s", ErrNotSealed, field)
	}
	n := d.aead.NonceSize()
	plain, err := d.aead.Open(nil, raw[:n], raw[n:], d.fieldAAD(field))
	if err != nil {
		return nil, fmt.Errorf("open sealed %s: %w", field, err)
	}
	return plain, nil
}

// Seal encrypts, at any depth of the payload object, every member whose name
// personal accepts and whose value is not null. A payload with nothing to seal
// comes back unchanged.
func (d *DataKey) Seal(payload json.RawMessage, personal func(name string) bool) (json.RawMessage, error) {
	sealed := map[string]string{}
	out, err := d.sealObject(payload, "", personal, sealed)
	if err != nil || len(sealed) == 0 {
		return payload, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(out, &obj); err != nil {
		return nil, err
	}
	if _, taken := obj[SealedKey]; taken {
		return nil, fmt.Errorf("seal: the payload already has a %q member", SealedKey)
	}
	if obj[SealedKey], err = json.Marshal(sealed); err != nil {
		return nil, err
	}
	return json.Marshal(obj)
}

func (d *DataKey) sealObject(raw json.RawMessage, prefix string, personal func(string) bool,
	sealed map[string]string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("seal: payload is not a JSON object: %w", err)
	}
	changed := false
	for name, value := range obj {
		path := prefix + name
		switch {
		case personal(name) && !bytes.Equal(bytes.TrimSpace(value), []byte("null")):
			s, err := d.SealField(name, value)
			if err != nil {
				return nil, err
			}
			sealed[path] = s
			delete(obj, name)
			changed = true
		case isJSONObject(value):
			inner, err := d.sealObject(value, path+".", personal, sealed)
			if err != nil {
				return nil, err
			}
			if !bytes.Equal(inner, value) {
				obj[name], changed = inner, true
			}
		}
	}
	if !changed {
		return raw, nil
	}
	return json.Marshal(obj)
}

// Open decrypts the sealed fields of payload and puts them back in their places;
// the sealed member stays. A payload without sealed fields comes back unchanged.
func (d *DataKey) Open(payload json.RawMessage) (json.RawMessage, error) {
	sealed, err := SealedFields(payload)
	if err != nil || len(sealed) == 0 {
		return payload, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(sealed))
	for path := range sealed {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		parts := strings.Split(path, ".")
		value, err := d.OpenField(parts[len(parts)-1], sealed[path])
		if err != nil {
			return nil, err
		}
		if err := setPath(obj, parts, value); err != nil {
			return nil, fmt.Errorf("open sealed %s: %w", path, err)
		}
	}
	return json.Marshal(obj)
}

// Sealed reports whether payload carries sealed fields.
func Sealed(payload json.RawMessage) bool {
	fields, err := SealedFields(payload)
	return err == nil && len(fields) > 0
}

// SealedFields returns the sealed values of payload by dotted path (none for a
// payload that has no sealed member).
func SealedFields(payload json.RawMessage) (map[string]string, error) {
	var head struct {
		Sealed map[string]string `json:"sealed"`
	}
	if !isJSONObject(payload) || !bytes.Contains(payload, []byte(`"`+SealedKey+`"`)) {
		return nil, nil // most payloads: no need to parse them
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		return nil, fmt.Errorf("read sealed fields: %w", err)
	}
	return head.Sealed, nil
}

// Unsealed returns payload without its sealed member: what a reader without the
// key may know.
func Unsealed(payload json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(payload, &obj); err != nil {
		return nil, err
	}
	if _, ok := obj[SealedKey]; !ok {
		return payload, nil
	}
	delete(obj, SealedKey)
	return json.Marshal(obj)
}

func setPath(obj map[string]json.RawMessage, parts []string, value json.RawMessage) error {
	if len(parts) == 1 {
		obj[parts[0]] = value
		return nil
	}
	inner := map[string]json.RawMessage{}
	if raw, ok := obj[parts[0]]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := json.Unmarshal(raw, &inner); err != nil {
			return err
		}
	}
	if err := setPath(inner, parts[1:], value); err != nil {
		return err
	}
	b, err := json.Marshal(inner)
	if err != nil {
		return err
	}
	obj[parts[0]] = b
	return nil
}

func isJSONObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

// Opener opens the sealed payloads of many owners, reading each owner's key
// once. The payloads of an owner whose key was shredded come back with the
// sealed member dropped: their personal fields are absent, and stay so.
type Opener struct {
	keyring *Keyring
	keys    DataKeys
	cache   map[uuid.UUID]*DataKey // nil: shredded
}

// Opener returns an Opener reading keys through keys.
func (k *Keyring) Opener(keys DataKeys) *Opener {
	return &Opener{keyring: k, keys: keys, cache: map[uuid.UUID]*DataKey{}}
}

// Open opens owner's payload; a payload without sealed fields is returned as is.
func (o *Opener) Open(ctx context.Context, owner uuid.UUID, payload json.RawMessage) (json.RawMessage, error) {
	if !Sealed(payload) {
		return payload, nil
	}
	key, seen := o.cache[owner]
	if !seen {
		var err error
		key, err = o.keyring.Key(ctx, o.keys, owner)
		if err != nil && !errors.Is(err, ErrKeyShredded) {
			return nil, err
		}
		o.cache[owner] = key
	}
	if key == nil {
		return Unsealed(payload)
	}
	return key.Open(payload)
}
