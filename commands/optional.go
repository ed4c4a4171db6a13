package commands

import (
	"bytes"
	"encoding/json"

	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// Optional is a field of a partial update: Set when the client sent it, and then
// Value nil when the client sent null (clear it).
type Optional[T any] struct {
	Set   bool
	Value *T
}

func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Value = nil
		return nil
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	o.Value = &v
	return nil
}

func (o Optional[T]) applyTo(field **T) {
	if o.Set {
		*field = o.Value
	}
}

// applyRequired sets a required field; null clears it, which validation refuses.
func (o Optional[T]) applyRequired(field *T) {
	if !o.Set {
		return
	}
	var zero T
	if o.Value == nil {
		*field = zero
		return
	}
	*field = *o.Value
}

// ParseBathrooms reads an exact bathroom count such as 2.5; nil stays nil.
func ParseBathrooms(n *json.Number) (*decimal.Decimal, error) {
	if n == nil {
		return nil, nil
	}
	d, err := domain.ParseDecimal(n.String())
	if err != nil {
		return nil, &domain.ValidationError{Fields: []domain.FieldError{{Field: "bathrooms", Message: err.Error()}}}
	}
	return &d, nil
}
