package domain

import (
	"errors"
	"reflect"
	"testing"
)

func TestFieldsOrderAndOnePerField(t *testing.T) {
	var f Fields
	if err := f.Err(); err != nil {
		t.Fatalf("empty Err() = %v, want nil", err)
	}
	f.Add("income", "must be a decimal")
	f.Check(true, "title", "is required")
	f.Check(false, "date_of_birth", "must be a date as YYYY-MM-DD")
	f.Add("income", "must not be negative") // a later complaint about a field already reported
	verdict := &ValidationError{Fields: []FieldError{
		{Field: "title", Message: "is required"},
		{Field: "income", Message: "is required"}, // the domain saw the zero value of what did not parse
		{Field: "title", Message: "must not contain NUL characters"},
	}}

	var ve *ValidationError
	if !errors.As(f.Join(verdict), &ve) {
		t.Fatalf("Join(validation) is not a ValidationError")
	}
	want := []FieldError{
		{Field: "income", Message: "must be a decimal"},
		{Field: "date_of_birth", Message: "must be a date as YYYY-MM-DD"},
		{Field: "title", Message: "is required"},
		{Field: "title", Message: "must not contain NUL characters"},
	}
	if !reflect.DeepEqual(ve.Fields, want) {
		t.Errorf("Join = %+v, want %+v", ve.Fields, want)
	}
	if f.Len() != 2 || len(verdict.Fields) != 3 {
		t.Errorf("Join changed its inputs: %d collected, verdict %+v", f.Len(), verdict.Fields)
	}
	if err := f.Join(ErrIllegalTransition); !errors.Is(err, ErrIllegalTransition) {
		t.Errorf("Join(conflict) = %v, want the conflict as it is", err)
	}
	var empty Fields
	if err := empty.Join(nil); err != nil {
		t.Errorf("empty Join(nil) = %v, want nil", err)
	}
}
