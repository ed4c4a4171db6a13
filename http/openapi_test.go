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
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
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
		if strings.HasPrefix(route, "/console/") {
			return nil // the audit console is HTML for people, not part of the API openapi.json describes
		}
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
		"Reason":                reflect.TypeFor[reasonRequest](),
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
}

// TestOpenAPIResponseSchemasMatchViews: each entity schema names exactly the
// fields its Go view encodes, every one of them required (nullable ones are null).
func TestOpenAPIResponseSchemasMatchViews(t *testing.T) {
	doc := MustOpenAPIDoc(t)
	for name, typ := range map[string]reflect.Type{
		"Property":           reflect.TypeFor[readmodel.PropertyView](),
		"User":               reflect.TypeFor[readmodel.UserView](),
		"Session":            reflect.TypeFor[readmodel.SessionView](),
		"Tenant":             reflect.TypeFor[readmodel.TenantView](),
		"Lease":              reflect.TypeFor[readmodel.LeaseView](),
		"ActiveLease":        reflect.TypeFor[readmodel.ActiveLeaseView](),
		"ExpiringLease":      reflect.TypeFor[readmodel.ExpiringLeaseView](),
		"Transaction":        reflect.TypeFor[readmodel.TransactionView](),
		"OverdueTransaction": reflect.TypeFor[readmodel.OverdueTransactionView](),
		"MaintenanceRequest": reflect.TypeFor[readmodel.MaintenanceView](),
		"AuditLog":           reflect.TypeFor[readmodel.AuditLogView](),
		"Document":           reflect.TypeFor[readmodel.DocumentView](),
		"HistoryItem":        reflect.TypeFor[readmodel.HistoryItem](),
		"TokenResponse":      reflect.TypeFor[tokenResponse](),
		"LateFeePolicy":      reflect.TypeFor[readmodel.LateFeePolicyView](),
		"Ledger":             reflect.TypeFor[readmodel.LedgerView](),
		"LedgerEntry":        reflect.TypeFor[readmodel.LedgerEntry](),
		"RentRoll":           reflect.TypeFor[readmodel.RentRoll](),
		"RentRollRow":        reflect.TypeFor[readmodel.RentRollRow](),
		"RentRollTotals":     reflect.TypeFor[readmodel.RentRollTotals](),
		"Aging":              reflect.TypeFor[readmodel.Aging](),
		"AgingRow":           reflect.TypeFor[readmodel.AgingRow](),
		"AgingBuckets":       reflect.TypeFor[readmodel.AgingBuckets](),
		"Occupancy":          reflect.TypeFor[readmodel.Occupancy](),
		"OwnerOccupancy":     reflect.TypeFor[readmodel.OwnerOccupancy](),
		"OccupancyFigures":   reflect.TypeFor[readmodel.OccupancyFigures](),
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
