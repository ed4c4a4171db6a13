package http

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/assetanchor/assetanchor/domain"
)

// The same bad fields get the same errors body on every endpoint that takes
// them (domain.Fields): what fails to parse comes first, then the domain's
// verdict on the rest, each field once. Before, the maintenance create and
// change listed the domain's complaints first and the tenant commands did not
// drop the domain's complaint about a field that had failed to parse.
func TestSameBadFieldsSameErrorsBodyOnEveryEndpoint(t *testing.T) {
	s := MustStack(t)
	userID, token := s.MustUser(t, domain.RoleUser)
	property := s.MustProperty(t, token)
	tenant := s.MustTenantFixture(t, userID)
	request := s.MustCreateMaintenance(t, token, maintenanceBody(property, tenant, nil))
	tenantPath := "/api/v1/tenants/" + tenant.String()

	cases := []struct {
		name   string
		want   []string // field/code, in order
		first  func() *http.Response
		second func() *http.Response
	}{
		{
			name: "an estimated_cost of three places and a blank title",
			want: []string{"estimated_cost/invalid_format", "title/required"},
			first: func() *http.Response {
				return s.Do(t, token, http.MethodPost, maintenancePath,
					maintenanceBody(property, tenant, map[string]any{"estimated_cost": "12.345", "title": ""}), nil)
			},
			second: func() *http.Response {
				return s.Do(t, token, http.MethodPatch, maintenancePath+"/"+request.ID,
					map[string]any{"estimated_cost": "12.345", "title": ""}, map[string]string{"Content-Type": "application/merge-patch+json"})
			},
		},
		{
			name: "a negative income and a credit score out of range",
			want: []string{"credit_score/out_of_range", "income/out_of_range"},
			first: func() *http.Response {
				return s.Do(t, token, http.MethodPost, "/api/v1/tenants",
					tenantBody(map[string]any{"income": "-5", "credit_score": 200}), nil)
			},
			second: func() *http.Response {
				return s.Do(t, token, http.MethodPost, tenantPath+"/screening",
					map[string]any{"income": "-5", "credit_score": 200}, nil)
			},
		},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			before := s.MustWriteCounts(t)
			first := MustProblem(t, tt.first(), http.StatusUnprocessableEntity)
			second := MustProblem(t, tt.second(), http.StatusUnprocessableEntity)
			s.MustNothingWritten(t, before, tt.name)
			var got []string
			for _, e := range first.Errors {
				got = append(got, e.Field+"/"+e.Code)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(first.Errors, second.Errors) {
				t.Errorf("the two endpoints disagree:\n%+v\n%+v", first.Errors, second.Errors)
			}
		})
	}
}
