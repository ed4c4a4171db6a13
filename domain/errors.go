// Package domain holds Asset Anchor's aggregates, their events and their rules,
// including who may see what (visibility.go). It is pure: no I/O, and it must
// not import anything of ours, nor anything beyond the standard library, uuid,
// ulid and decimal.
package domain

import (
	"encoding/json"
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

// FieldError is one invalid input field. Code says what kind of refusal it is,
// for programs; Message says it for people.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Field error codes: a client may branch on them, so they never change meaning.
const (
	CodeRequired      = "required"       // absent or blank
	CodeInvalidFormat = "invalid_format" // not the right syntax (decimal, date, UUID, email, text)
	CodeOutOfRange    = "out_of_range"   // a number, amount or date beyond its bounds
	CodeTooLong       = "too_long"
	CodeTooShort      = "too_short"
	CodeUnknownValue  = "unknown_value" // not one of the values of an enumeration
	CodeNotFound      = "not_found"     // names an entity that does not exist or is not visible
	CodeMismatch      = "mismatch"      // conflicts with another field or an earlier request
	CodeInvalid       = "invalid"       // any other refusal; the message says which
)

// FieldCodes lists every code a FieldError can carry.
var FieldCodes = []string{CodeRequired, CodeInvalidFormat, CodeOutOfRange, CodeTooLong, CodeTooShort,
	CodeUnknownValue, CodeNotFound, CodeMismatch, CodeInvalid}

// fieldCodeRules classify a message by its opening words. Field errors are built
// in many places (domain rules, command parsing, HTTP forms); deriving the code
// from the message here keeps one place that knows the codes. First match wins.
var fieldCodeRules = []struct{ prefix, code string }{
	{"is required", CodeRequired},
	{"one of flat_amount or percent is required", CodeRequired},
	{"a screening needs at least one of", CodeRequired},
	{"is empty", CodeRequired},
	{"must be one of", CodeUnknownValue},
	{"no such", CodeNotFound},
	{"must be at most", CodeTooLong},
	{"must be at least", CodeTooShort},
	{"must be between", CodeOutOfRange},
	{"must be greater than", CodeOutOfRange},
	{"must be positive", CodeOutOfRange},
	{"must not be negative", CodeOutOfRange},
	{"must be after", CodeOutOfRange},
	{"must not be before", CodeOutOfRange},
	{"must not be after", CodeOutOfRange},
	{"must be a past date", CodeOutOfRange},
	{"is larger than", CodeOutOfRange},
	{"must be a four-digit year", CodeOutOfRange},
	{"give flat_amount or percent, not both", CodeMismatch},
	{"give tenant_id or tenant_ids, not both", CodeMismatch},
	{"was used with a different request", CodeMismatch},
	{"has more than two decimal places", CodeInvalidFormat},
	{"must not be the nil UUID", CodeInvalidFormat},
	{"must not contain", CodeInvalidFormat},
	{"has no valid", CodeInvalidFormat},
	{"must be", CodeInvalidFormat}, // a decimal, a UUID, a date as ..., UTF-8 text, a file name, ...
	{"the file name must be", CodeInvalidFormat},
}

// FieldCode classifies a field error's message; CodeInvalid when no rule knows it.
func FieldCode(message string) string {
	for _, r := range fieldCodeRules {
		if strings.HasPrefix(message, r.prefix) {
			return r.code
		}
	}
	return CodeInvalid
}

// MarshalJSON writes the field error with its code, derived from the message
// when none was given.
func (f FieldError) MarshalJSON() ([]byte, error) {
	type plain FieldError
	if f.Code == "" {
		f.Code = FieldCode(f.Message)
	}
	return json.Marshal(plain(f))
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
