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
			var errs maintenanceFieldErrors
			n := json.Number(tt.in)
			got := errs.money("estimated_cost", &n)
			if tt.want == "" {
				if got != nil {
					t.Errorf("money(%s) = %s, want nil", tt.in, got)
				}
				if len(errs) != 1 || errs[0].Field != "estimated_cost" || errs[0].Message == "" {
					t.Errorf("field errors = %+v, want one on estimated_cost with a message", errs)
				}
				return
			}
			if len(errs) != 0 {
				t.Fatalf("field errors = %+v, want none", errs)
			}
			if got == nil || got.String() != tt.want {
				t.Errorf("money(%s) = %v, want %s", tt.in, got, tt.want)
			}
		})
	}
	var errs maintenanceFieldErrors
	if got := errs.money("actual_cost", nil); got != nil || len(errs) != 0 {
		t.Errorf("money(nil) = %v with %+v, want nil and no error", got, errs)
	}
}

func TestMaintenanceFieldErrorsJoin(t *testing.T) {
	parsed := maintenanceFieldErrors{{Field: "estimated_cost", Message: "has more than two decimal places"}}
	domainErr := &domain.ValidationError{Fields: []domain.FieldError{{Field: "title", Message: "is required"}}}

	var ve *domain.ValidationError
	if err := parsed.join(domainErr); !errors.As(err, &ve) {
		t.Fatalf("join(validation) = %v, want a ValidationError", err)
	}
	got := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		got[i] = f.Field
	}
	if want := []string{"title", "estimated_cost"}; !slices.Equal(got, want) {
		t.Errorf("joined fields = %q, want %q", got, want)
	}
	if len(domainErr.Fields) != 1 {
		t.Errorf("join changed the domain's error: %+v", domainErr.Fields)
	}
	if err := parsed.join(nil); !errors.As(err, &ve) || len(ve.Fields) != 1 {
		t.Errorf("join(nil) = %v, want the parse errors alone", err)
	}
	if err := parsed.join(domain.ErrIllegalTransition); !errors.Is(err, domain.ErrIllegalTransition) {
		t.Errorf("join(conflict) = %v, want the conflict as it is", err)
	}
	if err := (maintenanceFieldErrors{}).join(nil); err != nil {
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
