package domain

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// enum is the closed set of values of an enum type; only its members parse.
type enum[T fmt.Stringer] struct{ members []T }

func enumOf[T fmt.Stringer](members ...T) enum[T] { return enum[T]{members: members} }

func (e enum[T]) parse(s string, into *T) error {
	if s == "" {
		// The zero value (unset) marshals as ""; it must decode back to itself so
		// that every encoding decodes. Validation refuses it where a value is required.
		var zero T
		*into = zero
		return nil
	}
	for _, m := range e.members {
		if m.String() == s {
			*into = m
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", e.list())
}

func (e enum[T]) list() string {
	names := make([]string, len(e.members))
	for i, m := range e.members {
		names[i] = m.String()
	}
	return strings.Join(names, ", ")
}

func ptrEqual[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func uuidPtrEqual(a, b *uuid.UUID) bool { return ptrEqual(a, b) }

func decimalPtrEqual(a, b *decimal.Decimal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
