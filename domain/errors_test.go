package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"
)

func TestFieldCode(t *testing.T) {
	for _, tc := range []struct{ message, want string }{
		{"is required", CodeRequired},
		{"one of flat_amount or percent is required", CodeRequired},
		{"a screening needs at least one of credit_score, income, background_check_status", CodeRequired},
		{"is empty", CodeRequired},
		{"must be one of residential, commercial", CodeUnknownValue},
		{"no such lease", CodeNotFound},
		{"must be at most 255 characters", CodeTooLong},
		{"must be at most 1024 bytes", CodeTooLong},
		{"must be at least 12 characters", CodeTooShort},
		{"must be between 1 and 28", CodeOutOfRange},
		{"must be greater than 0", CodeOutOfRange},
		{"must be positive and fit an INTEGER", CodeOutOfRange},
		{"must not be negative", CodeOutOfRange},
		{"must be after start_date", CodeOutOfRange},
		{"must not be before the start date 2025-01-01", CodeOutOfRange},
		{"must not be after the end date 2025-12-31", CodeOutOfRange},
		{"must be a past date after 1900", CodeOutOfRange},
		{"is larger than 99999999.99", CodeOutOfRange},
		{"must be a four-digit year", CodeOutOfRange},
		{"give flat_amount or percent, not both", CodeMismatch},
		{"was used with a different request", CodeMismatch},
		{"has more than two decimal places", CodeInvalidFormat},
		{"must not be the nil UUID", CodeInvalidFormat},
		{"must not contain NUL characters", CodeInvalidFormat},
		{"has no valid SHA-256 content hash", CodeInvalidFormat},
		{"must be a decimal number", CodeInvalidFormat},
		{"must be a date as YYYY-MM-DD", CodeInvalidFormat},
		{"must be a UUID", CodeInvalidFormat},
		{"must be a valid email address", CodeInvalidFormat},
		{"must be exactly four digits", CodeInvalidFormat},
		{"the file name must be a name, not a path", CodeInvalidFormat},
		{"something nobody foresaw", CodeInvalid},
	} {
		if got := FieldCode(tc.message); got != tc.want {
			t.Errorf("FieldCode(%q) = %q, want %q", tc.message, got, tc.want)
		}
		if !slices.Contains(FieldCodes, tc.want) {
			t.Errorf("%q is not in FieldCodes", tc.want)
		}
	}
}

// Every refusal of the domain's own rules has a code more specific than "invalid".
func TestValidationErrorsCarryCodes(t *testing.T) {
	_, err := SignLease(uuid.Nil, &Property{}, []Signatory{{&Tenant{}, "tenant_id"}}, LeaseTerms{PaymentDay: 29, RentAmount: MustMoney("-1")}, leaseSignedOn)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) < 6 {
		t.Fatalf("SignLease with nothing valid: %v, want a ValidationError naming every field", err)
	}
	raw, err := json.Marshal(ve.Fields)
	if err != nil {
		t.Fatal(err)
	}
	var got []struct{ Field, Code, Message string }
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ve.Fields) {
		t.Fatalf("marshalled %d field errors, want %d: %s", len(got), len(ve.Fields), raw)
	}
	for _, f := range got {
		if f.Code == "" || f.Code == CodeInvalid {
			t.Errorf("field %s (%q) has code %q, want a specific one", f.Field, f.Message, f.Code)
		}
	}
}

func TestFieldErrorKeepsAGivenCode(t *testing.T) {
	raw, err := json.Marshal(FieldError{Field: "x", Code: CodeMismatch, Message: "is required"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(raw), `{"field":"x","code":"mismatch","message":"is required"}`; got != want {
		t.Errorf("marshalled %s, want %s", got, want)
	}
}
