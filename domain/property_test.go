package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

var (
	propertyID = uuid.MustParse("6f1c8a52-0b7e-4a53-9a3c-1d2e3f405162")
	ownerA     = uuid.MustParse("0a4b7c1d-2e3f-4a5b-8c6d-7e8f9a0b1c2d")
	ownerB     = uuid.MustParse("9f8e7d6c-5b4a-4392-8a1b-0c9d8e7f6a5b")
)

// fullDetails are valid details with every optional field set.
func fullDetails() PropertyDetails {
	return PropertyDetails{
		Name: "Maple Court", Address: "12 Maple Street", City: "Portland", State: "OR",
		ZipCode: "97201", PropertyType: PropertyResidential, Bedrooms: ptr(3),
		Bathrooms: dec("2.5"), SquareFeet: ptr(1850), YearBuilt: ptr(1998),
		Description: ptr("Corner lot with a garden"),
	}
}

// minimalDetails are valid details with only the required fields.
func minimalDetails() PropertyDetails {
	return PropertyDetails{
		Name: "Lot 7", Address: "Route 9", City: "Bend", State: "OR", ZipCode: "97701",
		PropertyType: PropertyLand,
	}
}

// details returns fullDetails changed by edit.
func details(edit func(*PropertyDetails)) PropertyDetails {
	d := fullDetails()
	edit(&d)
	return d
}

func registered(owner *uuid.UUID, d PropertyDetails) *PropertyRegistered {
	return &PropertyRegistered{PropertyID: propertyID, OwnerID: owner, Status: PropertyActive, Details: d}
}

func TestRegisterProperty(t *testing.T) {
	tests := []struct {
		name    string
		id      uuid.UUID
		owner   *uuid.UUID
		details PropertyDetails
		want    []Event
		wantErr wantError
	}{
		{
			name: "every field, with an owner", id: propertyID, owner: ptr(ownerA), details: fullDetails(),
			want: []Event{&PropertyRegistered{PropertyID: propertyID, OwnerID: ptr(ownerA), Status: PropertyActive, Details: fullDetails()}},
		},
		{
			name: "required fields only, no owner", id: propertyID, details: minimalDetails(),
			want: []Event{&PropertyRegistered{PropertyID: propertyID, Status: PropertyActive, Details: minimalDetails()}},
		},
		{
			name: "lowest accepted values", id: propertyID, details: details(func(d *PropertyDetails) {
				d.Bedrooms, d.Bathrooms, d.SquareFeet, d.YearBuilt = ptr(0), dec("0"), ptr(1), ptr(1000)
			}),
			want: []Event{registered(nil, details(func(d *PropertyDetails) {
				d.Bedrooms, d.Bathrooms, d.SquareFeet, d.YearBuilt = ptr(0), dec("0"), ptr(1), ptr(1000)
			}))},
		},
		{
			name: "highest accepted values and a 255-rune name", id: propertyID, details: details(func(d *PropertyDetails) {
				d.Name, d.Bedrooms, d.Bathrooms, d.YearBuilt = strings.Repeat("é", 255), ptr(1000), dec("99.9"), ptr(9999)
			}),
			want: []Event{registered(nil, details(func(d *PropertyDetails) {
				d.Name, d.Bedrooms, d.Bathrooms, d.YearBuilt = strings.Repeat("é", 255), ptr(1000), dec("99.9"), ptr(9999)
			}))},
		},
		{
			name: "mixed-use property type", id: propertyID, details: details(func(d *PropertyDetails) { d.PropertyType = PropertyMixedUse }),
			want: []Event{registered(nil, details(func(d *PropertyDetails) { d.PropertyType = PropertyMixedUse }))},
		},
		{name: "nil id", id: uuid.Nil, details: fullDetails(), wantErr: invalid("id")},
		{name: "missing name", id: propertyID, details: details(func(d *PropertyDetails) { d.Name = "" }), wantErr: invalid("name")},
		{name: "blank name", id: propertyID, details: details(func(d *PropertyDetails) { d.Name = " \t " }), wantErr: invalid("name")},
		{name: "missing address", id: propertyID, details: details(func(d *PropertyDetails) { d.Address = "" }), wantErr: invalid("address")},
		{name: "missing city", id: propertyID, details: details(func(d *PropertyDetails) { d.City = "" }), wantErr: invalid("city")},
		{name: "missing state", id: propertyID, details: details(func(d *PropertyDetails) { d.State = "" }), wantErr: invalid("state")},
		{name: "missing zip code", id: propertyID, details: details(func(d *PropertyDetails) { d.ZipCode = "" }), wantErr: invalid("zip_code")},
		{name: "missing property type", id: propertyID, details: details(func(d *PropertyDetails) { d.PropertyType = PropertyType{} }), wantErr: invalid("property_type")},
		{name: "unknown property type", id: propertyID, details: details(func(d *PropertyDetails) { d.PropertyType = ParsePropertyType("castle") }), wantErr: invalid("property_type")},
		{name: "property type in the wrong case", id: propertyID, details: details(func(d *PropertyDetails) { d.PropertyType = ParsePropertyType("Residential") }), wantErr: invalid("property_type")},
		{name: "property type with a space", id: propertyID, details: details(func(d *PropertyDetails) { d.PropertyType = ParsePropertyType("mixed use") }), wantErr: invalid("property_type")},
		{name: "bathrooms with two decimal places", id: propertyID, details: details(func(d *PropertyDetails) { d.Bathrooms = dec("2.55") }), wantErr: invalid("bathrooms")},
		{name: "negative bathrooms", id: propertyID, details: details(func(d *PropertyDetails) { d.Bathrooms = dec("-1") }), wantErr: invalid("bathrooms")},
		{name: "bathrooms beyond NUMERIC(3,1)", id: propertyID, details: details(func(d *PropertyDetails) { d.Bathrooms = dec("100") }), wantErr: invalid("bathrooms")},
		{name: "negative bedrooms", id: propertyID, details: details(func(d *PropertyDetails) { d.Bedrooms = ptr(-1) }), wantErr: invalid("bedrooms")},
		{name: "too many bedrooms", id: propertyID, details: details(func(d *PropertyDetails) { d.Bedrooms = ptr(1001) }), wantErr: invalid("bedrooms")},
		{name: "three-digit year built", id: propertyID, details: details(func(d *PropertyDetails) { d.YearBuilt = ptr(999) }), wantErr: invalid("year_built")},
		{name: "five-digit year built", id: propertyID, details: details(func(d *PropertyDetails) { d.YearBuilt = ptr(10000) }), wantErr: invalid("year_built")},
		{name: "zero square feet", id: propertyID, details: details(func(d *PropertyDetails) { d.SquareFeet = ptr(0) }), wantErr: invalid("square_feet")},
		{name: "name of 256 runes", id: propertyID, details: details(func(d *PropertyDetails) { d.Name = strings.Repeat("é", 256) }), wantErr: invalid("name")},
		{name: "city of 101 runes", id: propertyID, details: details(func(d *PropertyDetails) { d.City = strings.Repeat("c", 101) }), wantErr: invalid("city")},
		{name: "state of 51 runes", id: propertyID, details: details(func(d *PropertyDetails) { d.State = strings.Repeat("s", 51) }), wantErr: invalid("state")},
		{name: "zip code of 21 runes", id: propertyID, details: details(func(d *PropertyDetails) { d.ZipCode = strings.Repeat("9", 21) }), wantErr: invalid("zip_code")},
		{
			name: "every field wrong at once lists every field", id: uuid.Nil,
			details: PropertyDetails{Bedrooms: ptr(-1), Bathrooms: dec("0.25"), SquareFeet: ptr(-3), YearBuilt: ptr(12)},
			wantErr: invalid("id", "name", "address", "city", "state", "zip_code", "property_type",
				"bedrooms", "bathrooms", "square_feet", "year_built"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// given no history; when
			got, err := RegisterProperty(tt.id, tt.owner, tt.details)
			// then
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestPropertyDetailsValidateMatchesRegister(t *testing.T) {
	if err := fullDetails().Validate(); err != nil {
		t.Errorf("Validate(fullDetails) = %v, want nil", err)
	}
	MustInvalidFields(t, details(func(d *PropertyDetails) { d.City, d.Bathrooms = "", dec("2.55") }).Validate(), "city", "bathrooms")
}

func TestPropertyChangeDetails(t *testing.T) {
	renamed := details(func(d *PropertyDetails) { d.Name = "Maple Court East" })
	cleared := details(func(d *PropertyDetails) { d.Bedrooms, d.Description = nil, nil })
	tests := []struct {
		name    string
		given   []Event
		when    PropertyDetails
		want    []Event
		wantErr wantError
	}{
		{
			name:  "a new name records all the details",
			given: []Event{registered(nil, fullDetails())},
			when:  renamed,
			want:  []Event{&PropertyDetailsChanged{Details: renamed}},
		},
		{
			name:  "clearing optional fields records the details without them",
			given: []Event{registered(nil, fullDetails())},
			when:  cleared,
			want:  []Event{&PropertyDetailsChanged{Details: cleared}},
		},
		{
			name:  "setting optional fields that were absent",
			given: []Event{registered(nil, minimalDetails())},
			when:  details(func(d *PropertyDetails) { *d = minimalDetails(); d.Bathrooms = dec("1") }),
			want:  []Event{&PropertyDetailsChanged{Details: details(func(d *PropertyDetails) { *d = minimalDetails(); d.Bathrooms = dec("1") })}},
		},
		{
			name:  "the same details record nothing",
			given: []Event{registered(nil, fullDetails())},
			when:  fullDetails(),
		},
		{
			name:  "the same bathrooms written as 2.50 record nothing",
			given: []Event{registered(nil, fullDetails())},
			when:  details(func(d *PropertyDetails) { d.Bathrooms = dec("2.50") }),
		},
		{
			name:  "the details of the last change record nothing",
			given: []Event{registered(nil, fullDetails()), &PropertyDetailsChanged{Details: renamed}},
			when:  renamed,
		},
		{
			name:  "going back to the registered details after a change records them",
			given: []Event{registered(nil, fullDetails()), &PropertyDetailsChanged{Details: renamed}},
			when:  fullDetails(),
			want:  []Event{&PropertyDetailsChanged{Details: fullDetails()}},
		},
		{
			name:    "invalid details are refused",
			given:   []Event{registered(nil, fullDetails())},
			when:    details(func(d *PropertyDetails) { d.City, d.Bathrooms, d.YearBuilt = "", dec("-1"), ptr(999) }),
			wantErr: invalid("city", "bathrooms", "year_built"),
		},
		{
			name:    "an unknown property type is refused",
			given:   []Event{registered(nil, fullDetails())},
			when:    details(func(d *PropertyDetails) { d.PropertyType = ParsePropertyType("villa") }),
			wantErr: invalid("property_type"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustGiven(t, &Property{}, tt.given...)
			got, err := p.ChangeDetails(tt.when)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestPropertyChangeStatus(t *testing.T) {
	type testCase struct {
		name           string
		given          []Event
		to             PropertyStatus
		hasActiveLease bool
		want           []Event
		wantErr        wantError
	}
	var tests []testCase
	statuses := []PropertyStatus{PropertyActive, PropertyInactive, PropertyArchived}
	for _, from := range statuses {
		given := []Event{registered(nil, fullDetails())}
		if from != PropertyActive {
			given = append(given, &PropertyStatusChanged{From: PropertyActive, To: from})
		}
		for _, to := range statuses {
			for _, lease := range []bool{false, true} {
				tc := testCase{
					name:  from.String() + " to " + to.String() + map[bool]string{false: " without a lease", true: " with an active lease"}[lease],
					given: given, to: to, hasActiveLease: lease,
				}
				switch {
				case from == to: // records nothing, with or without a lease
				case to == PropertyArchived && lease:
					tc.wantErr = isErr(ErrPropertyHasActiveLease, ErrConflict)
				default:
					tc.want = []Event{&PropertyStatusChanged{From: from, To: to}}
				}
				tests = append(tests, tc)
			}
		}
	}
	tests = append(tests,
		testCase{
			name:    "the zero status is refused",
			given:   []Event{registered(nil, fullDetails())},
			to:      PropertyStatus{},
			wantErr: invalid("status"),
		},
		testCase{
			name:           "an unknown status is refused before the lease is considered",
			given:          []Event{registered(nil, fullDetails())},
			to:             ParsePropertyStatus("deleted"),
			hasActiveLease: true,
			wantErr:        invalid("status"),
		},
		testCase{
			name:    "a status in the wrong case is refused",
			given:   []Event{registered(nil, fullDetails())},
			to:      ParsePropertyStatus("Archived"),
			wantErr: invalid("status"),
		},
		testCase{
			name: "from is the current status after several changes",
			given: []Event{registered(nil, fullDetails()),
				&PropertyStatusChanged{From: PropertyActive, To: PropertyArchived},
				&PropertyStatusChanged{From: PropertyArchived, To: PropertyInactive}},
			to:   PropertyActive,
			want: []Event{&PropertyStatusChanged{From: PropertyInactive, To: PropertyActive}},
		},
	)
	if got, want := len(tests), 3*3*2+4; got != want {
		t.Fatalf("%d cases, want %d", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustGiven(t, &Property{}, tt.given...)
			got, err := p.ChangeStatus(tt.to, tt.hasActiveLease)
			MustOutcome(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestPropertyChangeOwner(t *testing.T) {
	tests := []struct {
		name  string
		given []Event
		when  *uuid.UUID
		want  []Event
	}{
		{
			name:  "no owner to an owner",
			given: []Event{registered(nil, fullDetails())},
			when:  ptr(ownerA),
			want:  []Event{&PropertyOwnerChanged{OwnerID: ptr(ownerA)}},
		},
		{
			name:  "the same owner, as another pointer, records nothing",
			given: []Event{registered(ptr(ownerA), fullDetails())},
			when:  ptr(ownerA),
		},
		{
			name:  "another owner",
			given: []Event{registered(ptr(ownerA), fullDetails())},
			when:  ptr(ownerB),
			want:  []Event{&PropertyOwnerChanged{OwnerID: ptr(ownerB)}},
		},
		{
			name:  "removing the owner",
			given: []Event{registered(ptr(ownerA), fullDetails())},
			when:  nil,
			want:  []Event{&PropertyOwnerChanged{OwnerID: nil}},
		},
		{
			name:  "no owner to no owner records nothing",
			given: []Event{registered(nil, fullDetails())},
		},
		{
			name:  "the owner is the last one changed to",
			given: []Event{registered(ptr(ownerA), fullDetails()), &PropertyOwnerChanged{OwnerID: ptr(ownerB)}},
			when:  ptr(ownerB),
		},
		{
			name:  "back to the first owner after a change",
			given: []Event{registered(ptr(ownerA), fullDetails()), &PropertyOwnerChanged{OwnerID: ptr(ownerB)}},
			when:  ptr(ownerA),
			want:  []Event{&PropertyOwnerChanged{OwnerID: ptr(ownerA)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MustGiven(t, &Property{}, tt.given...)
			got, err := p.ChangeOwner(tt.when)
			MustOutcome(t, got, err, tt.want, wantError{})
		})
	}
}

func TestPropertyApplyRebuildsState(t *testing.T) {
	fresh := &Property{}
	if fresh.Exists() || fresh.Version() != 0 {
		t.Errorf("fresh property: Exists() = %v, Version() = %d, want false, 0", fresh.Exists(), fresh.Version())
	}

	renamed := details(func(d *PropertyDetails) { d.Name = "Maple Court East" })
	p := MustGiven(t, &Property{},
		registered(ptr(ownerA), fullDetails()),                             // v1 at t0
		&PropertyStatusChanged{From: PropertyActive, To: PropertyInactive}, // v2 at t0+1m
		&PropertyDetailsChanged{Details: renamed},                          // v3 at t0+2m
		&PropertyOwnerChanged{OwnerID: ptr(ownerB)},                        // v4 at t0+3m
	)
	if !p.Exists() {
		t.Error("Exists() = false after PropertyRegistered")
	}
	if got, want := p.ID(), propertyID; got != want {
		t.Errorf("ID() = %s, want %s", got, want)
	}
	if got, want := p.Version(), int64(4); got != want {
		t.Errorf("Version() = %d, want %d", got, want)
	}
	if got, want := p.Status(), PropertyInactive; got != want {
		t.Errorf("Status() = %s, want %s", got, want)
	}
	if got := p.OwnerID(); got == nil || *got != ownerB {
		t.Errorf("OwnerID() = %v, want %s", got, ownerB)
	}
	if !propertyDetailsEqual(p.Details(), renamed) {
		t.Errorf("Details() = %+v, want %+v", p.Details(), renamed)
	}
	if got, want := p.CreatedAt(), t0; !got.Equal(want) {
		t.Errorf("CreatedAt() = %s, want %s", got, want)
	}
	if got, want := p.UpdatedAt(), t0.Add(3*time.Minute); !got.Equal(want) {
		t.Errorf("UpdatedAt() = %s, want %s", got, want)
	}
}

func TestPropertyEnumsAcceptOnlyTheirMembers(t *testing.T) {
	for _, want := range []PropertyType{PropertyResidential, PropertyCommercial, PropertyIndustrial, PropertyLand, PropertyMixedUse} {
		if got := ParsePropertyType(want.String()); got != want {
			t.Errorf("ParsePropertyType(%q) = %q, want %q", want, got, want)
		}
	}
	for _, want := range []PropertyStatus{PropertyActive, PropertyInactive, PropertyArchived} {
		if got := ParsePropertyStatus(want.String()); got != want {
			t.Errorf("ParsePropertyStatus(%q) = %q, want %q", want, got, want)
		}
	}
	for _, s := range []string{"", "castle", "Residential", "mixed-use", " land"} {
		if got := ParsePropertyType(s); got != (PropertyType{}) {
			t.Errorf("ParsePropertyType(%q) = %q, want the zero type", s, got)
		}
	}
	for _, s := range []string{"", "deleted", "ACTIVE", "active "} {
		if got := ParsePropertyStatus(s); got != (PropertyStatus{}) {
			t.Errorf("ParsePropertyStatus(%q) = %q, want the zero status", s, got)
		}
	}

	var d PropertyDetails
	if err := json.Unmarshal([]byte(`{"name":"x","property_type":"castle"}`), &d); err == nil {
		t.Errorf("decoding property_type castle succeeded with %q, want an error", d.PropertyType)
	}
	var e PropertyStatusChanged
	if err := json.Unmarshal([]byte(`{"from":"active","to":"gone"}`), &e); err == nil {
		t.Errorf("decoding status gone succeeded with %q, want an error", e.To)
	}
	b, err := json.Marshal(PropertyStatusChanged{From: PropertyActive, To: PropertyArchived})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"from":"active","to":"archived"}`; got != want {
		t.Errorf("marshal PropertyStatusChanged = %s, want %s", got, want)
	}
}

// Given/when/then helpers, shared by the domain tests.

// t0 is when the first given event was recorded; each later one is a minute on.
var t0 = time.Date(2024, 3, 1, 9, 30, 0, 0, time.UTC)

// applier is an aggregate that replays history.
type applier interface {
	Apply(e Event, version int64, at time.Time)
}

// MustGiven replays past events into agg, as the event store would: versions
// 1, 2, ... and recorded times a minute apart.
func MustGiven[A applier](tb testing.TB, agg A, events ...Event) A {
	tb.Helper()
	for i, e := range events {
		if e == nil {
			tb.Fatalf("given event %d is nil", i)
		}
		agg.Apply(e, int64(i+1), t0.Add(time.Duration(i)*time.Minute))
	}
	return agg
}

// describeEvents renders events as "Go type, event type, JSON" lines: the JSON is
// the form in which they are stored, so a mismatch shows which field differs.
func describeEvents(tb testing.TB, events []Event) []string {
	tb.Helper()
	out := make([]string, len(events))
	for i, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			tb.Fatalf("marshal %s: %v", e.EventType(), err)
		}
		out[i] = fmt.Sprintf("%T %s %s", e, e.EventType(), b)
	}
	return out
}

// MustEvents fails unless got are exactly the want events, in order.
func MustEvents(tb testing.TB, got, want []Event) {
	tb.Helper()
	g, w := describeEvents(tb, got), describeEvents(tb, want)
	if !slices.Equal(g, w) {
		tb.Errorf("events:\n got  %q\n want %q", g, w)
	}
}

// wantError is the expected outcome of a refused command: either an error kind
// or sentinel (checked with errors.Is), or a ValidationError naming exactly
// these fields, in order.
type wantError struct {
	is     []error
	fields []string
}

func (w wantError) none() bool { return len(w.is) == 0 && w.fields == nil }

// isErr expects errors.Is(err, target) for each target.
func isErr(targets ...error) wantError { return wantError{is: targets} }

// invalid expects a *ValidationError on exactly these fields.
func invalid(fields ...string) wantError { return wantError{fields: fields} }

// MustOutcome checks the result of a command: events when want.none(), the
// expected error (and no events) otherwise.
func MustOutcome(tb testing.TB, gotEvents []Event, err error, wantEvents []Event, want wantError) {
	tb.Helper()
	if want.none() {
		if err != nil {
			tb.Fatalf("err = %v, want events %q", err, describeEvents(tb, wantEvents))
		}
		MustEvents(tb, gotEvents, wantEvents)
		return
	}
	if err == nil {
		tb.Fatalf("err = nil with events %q, want an error", describeEvents(tb, gotEvents))
	}
	if len(gotEvents) != 0 {
		tb.Errorf("a refused command recorded %q, want nothing", describeEvents(tb, gotEvents))
	}
	for _, target := range want.is {
		if !errors.Is(err, target) {
			tb.Errorf("err = %v, want errors.Is(err, %v)", err, target)
		}
	}
	if want.fields != nil {
		MustInvalidFields(tb, err, want.fields...)
	}
}

// MustInvalidFields fails unless err is a *ValidationError on exactly these
// fields, in order, each with a message.
func MustInvalidFields(tb testing.TB, err error, want ...string) {
	tb.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("err = %v (%T), want a *ValidationError on %q", err, err, want)
	}
	got := make([]string, len(ve.Fields))
	for i, f := range ve.Fields {
		got[i] = f.Field
		if f.Message == "" {
			tb.Errorf("field %s has no message", f.Field)
		}
	}
	if !slices.Equal(got, want) {
		tb.Errorf("invalid fields = %q, want %q (%v)", got, want, err)
	}
	for _, kind := range []error{ErrConflict, ErrNotFound, ErrForbidden, ErrUnauthenticated, ErrPreconditionFailed} {
		if errors.Is(err, kind) {
			tb.Errorf("validation error %v also is %v; it must be a 422 only", err, kind)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func dec(s string) *decimal.Decimal {
	d := decimal.RequireFromString(s)
	return &d
}
