// Package domain holds Asset Anchor's aggregates, their events and their rules.
// It is pure: no I/O, and no imports beyond the standard library, uuid, ulid and decimal.
package domain

import (
	"errors"
	"strings"
)

// Error kinds. Specific errors wrap one of them, so callers classify with errors.Is.
var (
	ErrNotFound           = errors.New("not found")
	ErrConflict           = errors.New("conflict")
	ErrForbidden          = errors.New("forbidden")
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrPreconditionFailed = errors.New("entity has moved on since the version given")
)

type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func conflict(msg string) error  { return &kindError{kind: ErrConflict, msg: msg} }
func forbidden(msg string) error { return &kindError{kind: ErrForbidden, msg: msg} }

// Conflicts and refusals that clients can rely on.
var (
	ErrAlreadyExists          = conflict("an entity with this id already exists with other values")
	ErrPropertyHasActiveLease = conflict("a property with an active lease cannot be archived")
	ErrEmailTaken             = conflict("email is already registered")
	ErrRoleForbidden          = forbidden("your role may not do this")
	ErrBadCredentials         = &kindError{kind: ErrUnauthenticated, msg: "email or password is wrong"}
	ErrUserInactive           = &kindError{kind: ErrUnauthenticated, msg: "user is deactivated"}
)

// FieldError is one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every invalid field of a command (HTTP 422).
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// validator collects field errors while a command checks its input.
type validator struct{ fields []FieldError }

func (v *validator) check(ok bool, field, message string) {
	if !ok {
		v.fields = append(v.fields, FieldError{Field: field, Message: message})
	}
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.fields}
}
