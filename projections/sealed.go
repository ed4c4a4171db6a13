package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
)

// errNoKeyring refuses a sealed event when the projector was built without the
// keyring: a wiring mistake that must stop the projector, not blank the row.
var errNoKeyring = errors.New("projections: the event has sealed personal data and the projector has no keyring (Relational.Keyring)")

// decode decodes an event for projection. Sealed personal fields (tenant events)
// are opened with the tenant's data key, read from keys. When that key was shredded,
// the tenant was erased: the event is decoded with the erasure's placeholders
// in place of its personal data, so a rebuild reaches the same erased rows as the
// live projector did, and the event is never a poison one.
func (r Relational) decode(ctx context.Context, keys tenantkeys.DataKeys, e eventstore.Event) (domain.Event, error) {
	if !tenantkeys.Sealed(e.Data) {
		return domain.DecodeEvent(e.Type, e.Data)
	}
	if r.Keyring == nil {
		return nil, errNoKeyring
	}
	key, err := r.Keyring.Key(ctx, keys, e.Stream.ID)
	if errors.Is(err, tenantkeys.ErrKeyShredded) {
		de, err := domain.DecodeEvent(e.Type, e.Data) // the personal fields are absent
		if err != nil {
			return nil, err
		}
		return shredded(de), nil
	}
	if err != nil {
		return nil, fmt.Errorf("data key of %s: %w", e.Stream, err)
	}
	data, err := key.Open(e.Data)
	if err != nil {
		return nil, err
	}
	return domain.DecodeEvent(e.Type, data)
}

// Placeholders of an erased tenant's NOT NULL personal columns; the nullable
// ones are NULL.
const (
	ErasedName  = "erased"
	ErasedEmail = "erased@invalid"
)

// shredded replaces the personal data of a tenant event whose key is gone with
// the erasure's placeholders.
func shredded(de domain.Event) domain.Event {
	erased := domain.TenantContact{FirstName: ErasedName, LastName: ErasedName, Email: ErasedEmail}
	switch ev := de.(type) {
	case *domain.TenantRegistered:
		ev.Contact, ev.SSNLastFour, ev.DateOfBirth, ev.Screening = erased, nil, nil, domain.TenantScreening{}
	case *domain.TenantContactChanged:
		ev.Contact = erased
	case *domain.TenantScreeningRecorded:
		ev.Screening = domain.TenantScreening{}
	}
	return de
}

// sealedSSN is what the read model stores for an event's ssn_last_four: the value
// exactly as the event sealed it (DESIGN.md: the column holds ciphertext), or NULL
// when the event has none, or none that is sealed. The API opens it.
func sealedSSN(e eventstore.Event, plain *string) (*string, error) {
	if plain == nil {
		return nil, nil
	}
	fields, err := tenantkeys.SealedFields(e.Data)
	if err != nil {
		return nil, err
	}
	if s, ok := fields["ssn_last_four"]; ok {
		return &s, nil
	}
	return nil, nil // an event written in clear (no command does): never store it so
}
