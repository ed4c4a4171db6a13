package commands

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/assetanchor/assetanchor/domain"
)

func TestMaintenanceMoneyParsing(t *testing.T) {
	tests := []struct {
		in   string
		want string // Money.String(); "" when refused
	}{
		{in: "120", want: "120.00"},
		{in: "120.5", want: "120.50"},
		{in: "120.00", want: "120.00"},
		{in: "0", want: "0.00"},
		{in: "1e2", want: "100.00"},
		{in: "-3.25", want: "-3.25"}, // parsed; the domain refuses the sign with its own message
		{in: "1.001"},
		{in: "0.005"},
		{in: "100000000"},
		{in: "12abc"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var errs inputFields
			n := json.Number(tt.in)
			got := errs.optionalMoney("estimated_cost", &n)
			if tt.want == "" {
				if got != nil {
					t.Errorf("money(%s) = %s, want nil", tt.in, got)
				}
				var ve *domain.ValidationError
				if !errors.As(errs.Err(), &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "estimated_cost" || ve.Fields[0].Message == "" {
					t.Errorf("field errors = %+v, want one on estimated_cost with a message", errs)
				}
				return
			}
			if errs.Len() != 0 {
				t.Fatalf("field errors = %+v, want none", errs)
			}
			if got == nil || got.String() != tt.want {
				t.Errorf("money(%s) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
	var errs inputFields
	if got := errs.optionalMoney("actual_cost", nil); got != nil || errs.Len() != 0 {
		t.Errorf("money(nil) = %v with %+v, want nil and no error", got, errs)
	}
}

func TestMaintenanceFieldErrorsJoin(t *testing.T) {
	var parsed inputFields
	parsed.Add("estimated_cost", "has more than two decimal places")
	domainErr := &domain.ValidationError{Fields: []domain.FieldError{{Field: "title", Message: "is required"}}}

	var ve *domain.ValidationError
	if err := parsed.Join(domainErr); !errors.As(err, &ve) {
		t.Fatalf("join(validation) = %v, want a ValidationError", err)
	}
	got := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		got[i] = f.Field
	}
	// What failed to parse comes first, as on every endpoint (domain.Fields).
	if want := []string{"estimated_cost", "title"}; !slices.Equal(got, want) {
		t.Errorf("joined fields = %q, want %q", got, want)
	}
	if len(domainErr.Fields) != 1 {
		t.Errorf("join changed the domain's error: %+v", domainErr.Fields)
	}
	if err := parsed.Join(nil); !errors.As(err, &ve) || len(ve.Fields) != 1 {
		t.Errorf("join(nil) = %v, want the parse errors alone", err)
	}
	if err := parsed.Join(domain.ErrIllegalTransition); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("join(conflict) = %v, want the conflict as it is", err)
	}
	if err := (&inputFields{}).Join(nil); err != nil {
		t.Errorf("empty join(nil) = %v, want nil", err)
	}
}

func TestStrictMaintenancePriority(t *testing.T) {
	tests := map[string]domain.Priority{
		"low": domain.PriorityLow, "emergency": domain.PriorityEmergency,
		"": {}, "urgent": {}, "Low": {},
	}
	for in, want := range tests {
		if got := strictMaintenancePriority(in); got != want {
			t.Errorf("strictMaintenancePriority(%q) = %q, want %q", in, got, want)
		}
	}
}
