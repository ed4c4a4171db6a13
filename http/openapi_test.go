package http

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections"
)

// openAPIDoc is the part of the OpenAPI document the tests read.
type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]openAPISchema `json:"schemas"`
	} `json:"components"`
}

type openAPIOperation struct {
	Security  *[]map[string][]string     `json:"security"`
	Responses map[string]json.RawMessage `json:"responses"`
}

type openAPISchema struct {
	Required             []string                   `json:"required"`
	Properties           map[string]json.RawMessage `json:"properties"`
	AdditionalProperties *bool                      `json:"additionalProperties"`
}

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// MustOpenAPIDoc parses the embedded document.
func MustOpenAPIDoc(tb testing.TB) openAPIDoc {
	tb.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		tb.Fatalf("openapi.json does not parse: %v", err)
	}
	return doc
}

// MustOperations lists "METHOD /path" for every operation of the document.
func MustOperations(tb testing.TB, doc openAPIDoc) map[string]openAPIOperation {
	tb.Helper()
	ops := map[string]openAPIOperation{}
	for path, item := range doc.Paths {
		for _, m := range openAPIMethods {
			raw, ok := item[m]
			if !ok {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				tb.Fatalf("openapi.json %s %s: %v", m, path, err)
			}
			ops[strings.ToUpper(m)+" "+path] = op
		}
	}
	return ops
}

// chiParam matches a chi URL parameter, with or without a regexp: {id} or {id:[0-9]+}.
var chiParam = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// MustRoutes lists "METHOD /path" for every route of the router, with chi's
// parameters written the OpenAPI way.
func MustRoutes(tb testing.TB, s *Server) []string {
	tb.Helper()
	router, ok := s.Handler().(chi.Routes)
	if !ok {
		tb.Fatalf("Handler() is a %T, not a chi.Routes", s.Handler())
	}
	var routes []string
	err := chi.Walk(router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = chiParam.ReplaceAllString(route, "{$1}")
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		tb.Fatalf("walk routes: %v", err)
	}
	sort.Strings(routes)
	return slices.Compact(routes)
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := MustStack(t)
	doc := MustOpenAPIDoc(t)
	documented := MustOperations(t, doc)
	routes := MustRoutes(t, s.server)
	if len(routes) < 12 {
		t.Fatalf("walked %d routes, want at least 12: %v", len(routes), routes)
	}
	served := map[string]bool{}
	for _, route := range routes {
		// Every path answers a CORS preflight (OPTIONS), and every GET also HEAD
		// (middleware.GetHead): chi.Walk lists neither.
		method, path, _ := strings.Cut(route, " ")
		implied := []string{route, "OPTIONS " + path}
		if method == http.MethodGet {
			implied = append(implied, "HEAD "+path)
		}
		for _, op := range implied {
			served[op] = true
			if _, ok := documented[op]; !ok {
				t.Errorf("route %s is served but missing from openapi.json paths", op)
			}
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json documents %s, but no route serves it", op)
		}
	}
}

func TestOpenAPIServedDocument(t *testing.T) {
	s := MustStack(t)
	resp := s.Do(t, "", http.MethodGet, "/openapi.json", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, openAPIDocument) {
		t.Errorf("GET /openapi.json served %d bytes that differ from the embedded document (%d bytes)", len(body), len(openAPIDocument))
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title, Version, Description string
		} `json:"info"`
		Paths map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("served document does not parse: %v", err)
	}
	if got, want := doc.OpenAPI, "3.1.0"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" || doc.Info.Description == "" {
		t.Errorf("info = %+v, want a title, a version and a description", doc.Info)
	}
	if len(doc.Paths) == 0 {
		t.Error("served document has no paths")
	}
}

// TestOpenAPIRefsResolve fails on any $ref that names nothing in the document.
func TestOpenAPIRefsResolve(t *testing.T) {
	var doc any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs = append(refs, ref)
			}
			for _, child := range v {
				walk(child)
			}
		case []any:
			for _, child := range v {
				walk(child)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("the document has no $ref at all; the walk is broken")
	}
	for _, ref := range refs {
		pointer, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			t.Errorf("$ref %q is not local", ref)
			continue
		}
		var at any = doc
		for _, part := range strings.Split(pointer, "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			m, ok := at.(map[string]any)
			if !ok {
				at = nil
				break
			}
			at = m[part]
		}
		if at == nil {
			t.Errorf("$ref %q resolves to nothing", ref)
		}
	}
}

// TestOpenAPISecurityMatchesRoutes calls every documented operation without a
// token: exactly the operations that declare no security must not answer 401.
func TestOpenAPISecurityMatchesRoutes(t *testing.T) {
	s := MustStack(t)
	doc := MustOpenAPIDoc(t)
	if len(doc.Security) != 1 || doc.Security[0]["bearerAuth"] == nil {
		t.Fatalf("top-level security = %v, want [{bearerAuth: []}]", doc.Security)
	}
	public := map[string]bool{
		"GET /healthz": true, "GET /readyz": true, "GET /openapi.json": true,
		"HEAD /healthz": true, "HEAD /readyz": true, "HEAD /openapi.json": true,
		"POST /api/v1/auth/signup": true, "POST /api/v1/auth/login": true, "POST /api/v1/auth/refresh": true,
	}
	for op, spec := range MustOperations(t, doc) {
		if strings.HasPrefix(op, "OPTIONS ") {
			public[op] = true // a CORS preflight carries no credentials
		}
		declaredPublic := spec.Security != nil && len(*spec.Security) == 0
		if declaredPublic != public[op] {
			t.Errorf("%s: document says public=%v, want %v", op, declaredPublic, public[op])
		}
		method, path, _ := strings.Cut(op, " ")
		path = strings.ReplaceAll(path, "{id}", uuid.NewString())
		resp := s.Do(t, "", method, path, nil, nil)
		_, _ = io.Copy(io.Discard, resp.Body)
		if got := resp.StatusCode == http.StatusUnauthorized; got == declaredPublic {
			t.Errorf("%s without a token: status %d, but the document declares public=%v", op, resp.StatusCode, declaredPublic)
		}
		if !declaredPublic {
			if _, ok := spec.Responses["401"]; !ok {
				t.Errorf("%s needs a token but documents no 401 response", op)
			}
		}
	}
}

// jsonFields lists the JSON names of a struct type's fields, with the fields of
// embedded structs promoted as encoding/json promotes them.
func jsonFields(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct {
			names = append(names, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return slices.Compact(names)
}

func schemaFields(tb testing.TB, doc openAPIDoc, name string) openAPISchema {
	tb.Helper()
	schema, ok := doc.Components.Schemas[name]
	if !ok {
		tb.Fatalf("openapi.json has no schema %s", name)
	}
	return schema
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestOpenAPIRequestSchemasMatchDecoders: each request schema names exactly the
// fields its decoder accepts, and refuses others (the decoders answer 400 to them).
func TestOpenAPIRequestSchemasMatchDecoders(t *testing.T) {
	doc := MustOpenAPIDoc(t)
	for name, typ := range map[string]reflect.Type{
		"PropertyCreate":        reflect.TypeFor[propertyRequest](),
		"PropertyPatch":         reflect.TypeFor[propertyPatchRequest](),
		"PropertyStatusChange":  reflect.TypeFor[statusRequest](),
		"LoginRequest":          reflect.TypeFor[loginRequest](),
		"SignupRequest":         reflect.TypeFor[signupRequest](),
		"RefreshRequest":        reflect.TypeFor[refreshRequest](),
		"UserCreate":            reflect.TypeFor[createUserRequest](),
		"UserPatch":             reflect.TypeFor[userPatchRequest](),
		"RoleChange":            reflect.TypeFor[roleRequest](),
		"TenantCreate":          reflect.TypeFor[tenantRequest](),
		"TenantPatch":           reflect.TypeFor[tenantPatchRequest](),
		"Screening":             reflect.TypeFor[screeningRequest](),
		"ChargeCreate":          reflect.TypeFor[chargeRequest](),
		"Payment":               reflect.TypeFor[paymentRequest](),
		"Reason":                reflect.TypeFor[transactionReasonRequest](),
		"MaintenanceCreate":     reflect.TypeFor[maintenanceRequest](),
		"MaintenancePatch":      reflect.TypeFor[maintenancePatchRequest](),
		"MaintenanceAssignment": reflect.TypeFor[maintenanceAssignRequest](),
		"MaintenanceSchedule":   reflect.TypeFor[maintenanceScheduleRequest](),
		"MaintenanceCompletion": reflect.TypeFor[maintenanceCompleteRequest](),
		"DocumentPatch":         reflect.TypeFor[documentPatchRequest](),
		"Empty":                 reflect.TypeFor[struct{}](),
		"LateFeePolicyInput":    reflect.TypeFor[lateFeePolicyRequest](),
	} {
		schema := schemaFields(t, doc, name)
		if got, want := sortedKeys(schema.Properties), jsonFields(typ); !slices.Equal(got, want) {
			t.Errorf("schema %s properties = %v, want the fields of %s: %v", name, got, typ, want)
		}
		if schema.AdditionalProperties == nil || *schema.AdditionalProperties {
			t.Errorf("schema %s: additionalProperties must be false (unknown fields are a 400)", name)
		}
	}
	// The cancel body of a maintenance request is documented as Reason too.
	if got, want := jsonFields(reflect.TypeFor[maintenanceCancelRequest]()), sortedKeys(schemaFields(t, doc, "Reason").Properties); !slices.Equal(got, want) {
		t.Errorf("maintenanceCancelRequest fields = %v, documented as Reason %v", got, want)
	}
}

// TestOpenAPIResponseSchemasMatchViews: each entity schema names exactly the
// fields its Go view encodes, every one of them required (nullable ones are null).
func TestOpenAPIResponseSchemasMatchViews(t *testing.T) {
	doc := MustOpenAPIDoc(t)
	for name, typ := range map[string]reflect.Type{
		"Property":           reflect.TypeFor[projections.PropertyView](),
		"User":               reflect.TypeFor[projections.UserView](),
		"Session":            reflect.TypeFor[projections.SessionView](),
		"Tenant":             reflect.TypeFor[projections.TenantView](),
		"Lease":              reflect.TypeFor[projections.LeaseView](),
		"ActiveLease":        reflect.TypeFor[projections.ActiveLeaseView](),
		"ExpiringLease":      reflect.TypeFor[projections.ExpiringLeaseView](),
		"Transaction":        reflect.TypeFor[projections.TransactionView](),
		"OverdueTransaction": reflect.TypeFor[projections.OverdueTransactionView](),
		"MaintenanceRequest": reflect.TypeFor[projections.MaintenanceView](),
		"AuditLog":           reflect.TypeFor[projections.AuditLogView](),
		"Document":           reflect.TypeFor[projections.DocumentView](),
		"HistoryItem":        reflect.TypeFor[historyItem](),
		"TokenResponse":      reflect.TypeFor[tokenResponse](),
		"LateFeePolicy":      reflect.TypeFor[projections.LateFeePolicyView](),
		"Ledger":             reflect.TypeFor[projections.LedgerView](),
		"LedgerEntry":        reflect.TypeFor[projections.LedgerEntry](),
		"RentRoll":           reflect.TypeFor[projections.RentRoll](),
		"RentRollRow":        reflect.TypeFor[projections.RentRollRow](),
		"RentRollTotals":     reflect.TypeFor[projections.RentRollTotals](),
		"Aging":              reflect.TypeFor[projections.Aging](),
		"AgingRow":           reflect.TypeFor[projections.AgingRow](),
		"AgingBuckets":       reflect.TypeFor[projections.AgingBuckets](),
		"Occupancy":          reflect.TypeFor[projections.Occupancy](),
		"OwnerOccupancy":     reflect.TypeFor[projections.OwnerOccupancy](),
		"OccupancyFigures":   reflect.TypeFor[projections.OccupancyFigures](),
	} {
		schema := schemaFields(t, doc, name)
		want := jsonFields(typ)
		if got := sortedKeys(schema.Properties); !slices.Equal(got, want) {
			t.Errorf("schema %s properties = %v, want the fields of %s: %v", name, got, typ, want)
		}
		if got := slices.Sorted(slices.Values(schema.Required)); !slices.Equal(got, want) {
			t.Errorf("schema %s required = %v, want every field of %s: %v", name, got, typ, want)
		}
	}
	if got, want := sortedKeys(schemaFields(t, doc, "Problem").Properties), jsonFields(reflect.TypeFor[problem]()); !slices.Equal(got, want) {
		t.Errorf("schema Problem properties = %v, want the fields of problem: %v", got, want)
	}
}

// TestOpenAPIResponseSchemasMatchAnswers compares the documented response
// schemas with what the API really answers.
func TestOpenAPIResponseSchemasMatchAnswers(t *testing.T) {
	s := MustStack(t)
	doc := MustOpenAPIDoc(t)
	_, token := s.MustUser(t, domain.RoleUser)

	mustKeys := func(t *testing.T, schemaName string, got map[string]json.RawMessage) {
		t.Helper()
		schema := schemaFields(t, doc, schemaName)
		if got, want := sortedKeys(got), sortedKeys(schema.Properties); !slices.Equal(got, want) {
			t.Errorf("%s: answered fields %v, documented %v", schemaName, got, want)
		}
		for _, field := range schema.Required {
			if _, ok := got[field]; !ok {
				t.Errorf("%s: required field %s is missing from the answer", schemaName, field)
			}
		}
	}

	// mustHeaders checks that resp carries every header the document marks
	// required for op's answer of its status.
	mustHeaders := func(t *testing.T, op string, resp *http.Response) {
		t.Helper()
		for _, name := range MustRequiredHeaders(t, op, resp.StatusCode) {
			if resp.Header.Get(name) == "" {
				t.Errorf("%s answered %d without the header %s that the document requires", op, resp.StatusCode, name)
			}
		}
	}

	resp := s.Do(t, token, http.MethodPost, "/api/v1/properties", map[string]any{
		"name": "Oak House", "address": "2 Oak St", "city": "Springfield", "state": "IL",
		"zip_code": "62701", "property_type": "residential",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	mustHeaders(t, "POST /api/v1/properties", resp)
	var property map[string]json.RawMessage
	MustDecode(t, resp, &property)
	mustKeys(t, "Property", property)

	resp = s.Do(t, token, http.MethodGet, "/api/v1/properties?limit=1", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "GET /api/v1/properties", resp)
	var page map[string]json.RawMessage
	MustDecode(t, resp, &page)
	mustKeys(t, "PropertyPage", page)

	var id string
	if err := json.Unmarshal(property["id"], &id); err != nil {
		t.Fatal(err)
	}
	resp = s.Do(t, token, http.MethodGet, "/api/v1/properties/"+id+"/history", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "GET /api/v1/properties/{id}/history", resp)
	var history struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	MustDecode(t, resp, &history)
	if len(history.Items) != 1 {
		t.Fatalf("history has %d items, want 1", len(history.Items))
	}
	mustKeys(t, "HistoryItem", history.Items[0])

	email := "schema-" + uuid.NewString()[:8] + "@example.com"
	create := commands.CreateUser{Email: email, Password: testPassword, Role: domain.RoleUser.String()}
	if _, err := s.users.Create(t.Context(), create); err != nil {
		t.Fatal(err)
	}
	resp = s.Do(t, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "POST /api/v1/auth/login", resp)
	var login map[string]json.RawMessage
	MustDecode(t, resp, &login)
	mustKeys(t, "TokenResponse", login)
	var user map[string]json.RawMessage
	if err := json.Unmarshal(login["user"], &user); err != nil {
		t.Fatal(err)
	}
	mustKeys(t, "User", user)

	resp = s.Do(t, token, http.MethodGet, "/api/v1/me", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "GET /api/v1/me", resp)
	var me map[string]json.RawMessage
	MustDecode(t, resp, &me)
	mustKeys(t, "User", me)

	resp = s.Do(t, token, http.MethodGet, "/api/v1/me/sessions", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "GET /api/v1/me/sessions", resp)
	var sessions struct {
		Items      []map[string]json.RawMessage `json:"items"`
		NextCursor *string                      `json:"next_cursor"`
	}
	MustDecode(t, resp, &sessions)
	if len(sessions.Items) != 1 || sessions.NextCursor != nil {
		t.Fatalf("sessions = %d items, next_cursor %v; want 1 and null", len(sessions.Items), sessions.NextCursor)
	}
	mustKeys(t, "Session", sessions.Items[0])

	resp = s.Do(t, token, http.MethodPost, "/api/v1/tenants", map[string]any{
		"first_name": "Tess", "last_name": "Ant", "email": "tess-" + uuid.NewString()[:8] + "@example.com",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	mustHeaders(t, "POST /api/v1/tenants", resp)
	var tenant map[string]json.RawMessage
	MustDecode(t, resp, &tenant)
	mustKeys(t, "Tenant", tenant)
	var tenantID string
	if err := json.Unmarshal(tenant["id"], &tenantID); err != nil {
		t.Fatal(err)
	}

	resp = s.Do(t, token, http.MethodPost, "/api/v1/maintenance-requests", map[string]any{
		"property_id": id, "tenant_id": tenantID, "title": "Leaky tap", "description": "kitchen", "estimated_cost": "80.00",
	}, nil)
	MustStatus(t, resp, http.StatusCreated)
	mustHeaders(t, "POST /api/v1/maintenance-requests", resp)
	var request map[string]json.RawMessage
	MustDecode(t, resp, &request)
	mustKeys(t, "MaintenanceRequest", request)

	resp = s.Do(t, token, http.MethodGet, "/api/v1/audit-logs?limit=1", nil, nil)
	MustStatus(t, resp, http.StatusOK)
	mustHeaders(t, "GET /api/v1/audit-logs", resp)
	var audit struct {
		Items []map[string]json.RawMessage `json:"items"`
	}
	MustDecode(t, resp, &audit)
	if len(audit.Items) != 1 {
		t.Fatalf("audit-logs?limit=1 has %d items, want 1", len(audit.Items))
	}
	mustKeys(t, "AuditLog", audit.Items[0])

	resp = s.Do(t, token, http.MethodPost, "/api/v1/properties", `{"name": "x", "nmae": "typo"}`, nil)
	MustStatus(t, resp, http.StatusBadRequest)
	mustHeaders(t, "POST /api/v1/properties", resp)
	if got, want := resp.Header.Get("Content-Type"), "application/problem+json"; got != want {
		t.Errorf("problem Content-Type = %q, want %q", got, want)
	}
	var prob map[string]json.RawMessage
	MustDecode(t, resp, &prob)
	schema := schemaFields(t, doc, "Problem")
	for field := range prob {
		if _, ok := schema.Properties[field]; !ok {
			t.Errorf("problem answer has field %s that the Problem schema does not document", field)
		}
	}
	for _, field := range schema.Required {
		if _, ok := prob[field]; !ok {
			t.Errorf("problem answer lacks required field %s", field)
		}
	}
	if _, ok := schema.Properties["errors"]; !ok {
		t.Error("Problem schema does not document errors[]")
	}
}

// TestOpenAPIKinLoadsAndValidates: kin-openapi, the library Go servers and
// clients most often load documents with, reads ours and finds it valid.
func TestOpenAPIKinLoadsAndValidates(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("kin-openapi does not load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		t.Fatalf("kin-openapi finds openapi.json invalid: %v", err)
	}
	if got := len(doc.Paths.Map()); got != len(MustOpenAPIDoc(t).Paths) {
		t.Errorf("kin-openapi read %d paths, want %d", got, len(MustOpenAPIDoc(t).Paths))
	}
}

// TestOpenAPIProblemTypes: the document lists exactly the problem types and the
// field error codes the server answers with.
func TestOpenAPIProblemTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Problem struct {
					Required   []string `json:"required"`
					Properties struct {
						Type struct {
							Enum []string `json:"x-extensible-enum"`
						} `json:"type"`
					} `json:"properties"`
				}
				FieldError struct {
					Required   []string `json:"required"`
					Properties struct {
						Code struct {
							Enum []string `json:"x-extensible-enum"`
						} `json:"code"`
					} `json:"properties"`
				}
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	problem, fieldError := doc.Components.Schemas.Problem, doc.Components.Schemas.FieldError
	if got, want := slices.Sorted(slices.Values(problem.Properties.Type.Enum)), sortedKeys(problemTypeStatus()); !slices.Equal(got, want) {
		t.Errorf("Problem.type lists %v, the server answers %v", got, want)
	}
	if got, want := slices.Sorted(slices.Values(fieldError.Properties.Code.Enum)), slices.Sorted(slices.Values(domain.FieldCodes)); !slices.Equal(got, want) {
		t.Errorf("FieldError.code lists %v, the server answers %v", got, want)
	}
	if !slices.Contains(fieldError.Required, "code") {
		t.Errorf("FieldError.required = %v, want code among them", fieldError.Required)
	}
	for _, field := range []string{"type", "title", "status", "detail", "instance", "request_id"} {
		if !slices.Contains(problem.Required, field) {
			t.Errorf("Problem.required = %v, want %s among them (every problem has it)", problem.Required, field)
		}
	}
}

// MustRequiredHeaders lists the headers the document requires on op's answer of
// status, following $refs to shared responses and headers.
func MustRequiredHeaders(tb testing.TB, op string, status int) []string {
	tb.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		tb.Fatal(err)
	}
	deref := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		for m != nil && m["$ref"] != nil {
			var at any = doc
			for _, part := range strings.Split(strings.TrimPrefix(m["$ref"].(string), "#/"), "/") {
				at = at.(map[string]any)[strings.ReplaceAll(part, "~1", "/")]
			}
			m, _ = at.(map[string]any)
		}
		return m
	}
	method, path, _ := strings.Cut(op, " ")
	operation := deref(deref(deref(doc["paths"])[path])[strings.ToLower(method)])
	response := deref(deref(operation["responses"])[strconv.Itoa(status)])
	if response == nil {
		tb.Fatalf("openapi.json documents no %d answer for %s", status, op)
	}
	var names []string
	for name, h := range deref(response["headers"]) {
		if required, _ := deref(h)["required"].(bool); required {
			names = append(names, name)
		}
	}
	if !slices.Contains(names, "X-Request-Id") {
		tb.Errorf("%s %d: the document does not require X-Request-Id, which every answer carries", op, status)
	}
	sort.Strings(names)
	return names
}

// TestOpenAPIDefaultsAreOptional: a request field the server fills with a default
// is not required, so generated clients may leave it out.
func TestOpenAPIDefaultsAreOptional(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string `json:"required"`
				Properties map[string]struct {
					Default json.RawMessage `json:"default"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	defaults := 0
	for name, schema := range doc.Components.Schemas {
		for field, p := range schema.Properties {
			if p.Default == nil {
				continue
			}
			defaults++
			if slices.Contains(schema.Required, field) {
				t.Errorf("%s.%s has a default but is required", name, field)
			}
		}
	}
	if defaults == 0 {
		t.Fatal("no schema property has a default; the walk is broken")
	}
}

// TestOpenAPIHeadMirrorsGet: each HEAD operation takes the parameters and the
// security of its GET and answers the same statuses, without a body.
func TestOpenAPIHeadMirrorsGet(t *testing.T) {
	type operation struct {
		Security   *[]map[string][]string `json:"security"`
		Parameters []json.RawMessage      `json:"parameters"`
		Responses  map[string]struct {
			Ref     string         `json:"$ref"`
			Content map[string]any `json:"content"`
		} `json:"responses"`
	}
	heads := 0
	for path, item := range MustOpenAPIDoc(t).Paths {
		if _, ok := item["get"]; !ok {
			continue
		}
		if _, ok := item["head"]; !ok {
			t.Errorf("GET %s has no HEAD operation", path)
			continue
		}
		var get, head operation
		if err := json.Unmarshal(item["get"], &get); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(item["head"], &head); err != nil {
			t.Fatal(err)
		}
		heads++
		if !reflect.DeepEqual(get.Security, head.Security) {
			t.Errorf("HEAD %s security differs from its GET's", path)
		}
		if !reflect.DeepEqual(get.Parameters, head.Parameters) {
			t.Errorf("HEAD %s parameters differ from its GET's", path)
		}
		if got, want := sortedKeys(head.Responses), sortedKeys(get.Responses); !slices.Equal(got, want) {
			t.Errorf("HEAD %s answers %v, its GET %v", path, got, want)
		}
		for status, resp := range head.Responses {
			bodyless := resp.Ref == "" || strings.HasPrefix(resp.Ref, "#/components/responses/Head") || resp.Ref == "#/components/responses/NotModified"
			if len(resp.Content) > 0 || !bodyless {
				t.Errorf("HEAD %s %s documents a body", path, status)
			}
		}
	}
	if heads == 0 {
		t.Fatal("no HEAD operation at all")
	}
}
