package domain

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in      string
		want    string // Money.String(); empty when refused
		wantErr bool
	}{
		{in: "1250.00", want: "1250.00"},
		{in: "1250", want: "1250.00"},
		{in: "1250.5", want: "1250.50"},
		{in: "1250.000", want: "1250.00"}, // three places, but the value is exact in two
		{in: "1250.0000000000", want: "1250.00"},
		{in: "0.01", want: "0.01"},
		{in: "0", want: "0.00"},
		{in: "1e2", want: "100.00"},
		{in: "99999999.99", want: "99999999.99"},
		{in: "-99999999.99", want: "-99999999.99"},
		{in: "1250.001", wantErr: true},
		{in: "0.005", wantErr: true},
		{in: "1250.0000000000000000001", wantErr: true},
		{in: "100000000.00", wantErr: true},
		{in: "99999999.991", wantErr: true},
		{in: "-100000000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMoney(decimal.RequireFromString(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseMoney(%s) = %s, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMoney(%s) = %v, want %s", tt.in, err, tt.want)
			}
			if got.String() != tt.want {
				t.Errorf("ParseMoney(%s) = %s, want %s", tt.in, got, tt.want)
			}
			if !got.Decimal().Equal(decimal.RequireFromString(tt.in)) {
				t.Errorf("ParseMoney(%s).Decimal() = %s, want the same value: money is never rounded", tt.in, got.Decimal())
			}
		})
	}
}

func TestMoneySign(t *testing.T) {
	tests := []struct {
		in                 string
		positive, negative bool
	}{{"0.01", true, false}, {"0.00", false, false}, {"-0.01", false, true}}
	for _, tt := range tests {
		m := MustMoney(tt.in)
		if m.IsPositive() != tt.positive || m.IsNegative() != tt.negative {
			t.Errorf("%s: IsPositive, IsNegative = %v, %v, want %v, %v", tt.in, m.IsPositive(), m.IsNegative(), tt.positive, tt.negative)
		}
	}
}

func TestMoneyMarshalJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1250", `{"rent_amount":"1250.00"}`},
		{"1250.5", `{"rent_amount":"1250.50"}`},
		{"0.07", `{"rent_amount":"0.07"}`},
		{"99999999.99", `{"rent_amount":"99999999.99"}`},
		{"-3.1", `{"rent_amount":"-3.10"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(struct {
			RentAmount Money `json:"rent_amount"`
		}{MustMoney(tt.in)})
		if err != nil {
			t.Fatalf("marshal %s: %v", tt.in, err)
		}
		if got := string(b); got != tt.want {
			t.Errorf("marshal %s = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMoneyUnmarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    string // Money.String(); empty when refused
		wantErr bool
	}{
		{name: "two-place string", json: `"1250.00"`, want: "1250.00"},
		{name: "one-place string", json: `"1250.5"`, want: "1250.50"},
		{name: "integer number", json: `1250`, want: "1250.00"},
		{name: "decimal number", json: `1250.5`, want: "1250.50"},
		{name: "number past float precision is exact", json: `99999999.99`, want: "99999999.99"},
		{name: "three exact places", json: `"1250.000"`, want: "1250.00"},
		{name: "three places as a string", json: `"1250.001"`, wantErr: true},
		{name: "three places as a number", json: `1250.001`, wantErr: true},
		{name: "too large", json: `"100000000.00"`, wantErr: true},
		{name: "not a number", json: `"abc"`, wantErr: true},
		{name: "a boolean", json: `true`, wantErr: true},
		{name: "empty string", json: `""`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				RentAmount Money `json:"rent_amount"`
			}
			err := json.Unmarshal([]byte(`{"rent_amount":`+tt.json+`}`), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("unmarshal %s = %s, want an error", tt.json, got.RentAmount)
				}
				return
			}
			if err != nil {
				t.Fatalf("unmarshal %s: %v", tt.json, err)
			}
			if got.RentAmount.String() != tt.want {
				t.Errorf("unmarshal %s = %s, want %s", tt.json, got.RentAmount, tt.want)
			}
		})
	}
}

// storedEventTypes are names under which events of the user, session and
// property aggregates are stored forever: renaming one needs an upcaster.
var storedEventTypes = []string{
	"UserRegistered", "UserLoggedIn", "SessionStarted", "SessionRevoked",
	"PropertyRegistered", "PropertyDetailsChanged", "PropertyStatusChanged", "PropertyOwnerChanged",
}

func TestEventTypesKeepTheStoredNames(t *testing.T) {
	names := EventTypes()
	for _, name := range storedEventTypes {
		if !slices.Contains(names, name) {
			t.Errorf("EventTypes() lacks %q, under which events are stored", name)
		}
	}
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if got := slices.Compact(sorted); len(got) != len(names) {
		t.Errorf("EventTypes() lists a name twice: %q", names)
	}
}

func TestEventTypesRoundTripThroughDecodeEvent(t *testing.T) {
	for _, name := range EventTypes() {
		t.Run(name, func(t *testing.T) {
			zero := eventTypes[name]()
			if got := zero.EventType(); got != name {
				t.Errorf("factory of %q makes a %T whose EventType() = %q", name, zero, got)
			}
			MustRoundTrip(t, name, zero)
		})
	}
}

// sampleEvents holds a valid, fully populated event of each type of the user,
// session and property aggregates.
func sampleEvents() map[string]Event {
	started := sessionStarted()
	return map[string]Event{
		"UserRegistered":         userRegistered(validUser()),
		"UserLoggedIn":           &UserLoggedIn{SessionID: sessionID},
		"SessionStarted":         &started,
		"SessionRevoked":         &SessionRevoked{Reason: "logout"},
		"PropertyRegistered":     registered(ptr(ownerA), fullDetails()),
		"PropertyDetailsChanged": &PropertyDetailsChanged{Details: minimalDetails()},
		"PropertyStatusChanged":  &PropertyStatusChanged{From: PropertyActive, To: PropertyArchived},
		"PropertyOwnerChanged":   &PropertyOwnerChanged{OwnerID: ptr(ownerB)},
	}
}

func TestPopulatedEventsRoundTripThroughDecodeEvent(t *testing.T) {
	samples := sampleEvents()
	for _, name := range storedEventTypes {
		t.Run(name, func(t *testing.T) {
			sample, ok := samples[name]
			if !ok {
				t.Fatalf("no sample event for %q", name)
			}
			if got := sample.EventType(); got != name {
				t.Fatalf("sample for %q is a %T named %q", name, sample, got)
			}
			MustRoundTrip(t, name, sample)
		})
	}
}

// MustRoundTrip marshals e as Append does and decodes it as readers do: the
// decoded event must be of the registered type and marshal to the same JSON.
// (JSON is the stored form; reflect.DeepEqual would tell decimal 0 from 0.00.)
func MustRoundTrip(tb testing.TB, name string, e Event) {
	tb.Helper()
	data, err := json.Marshal(e)
	if err != nil {
		tb.Fatalf("marshal %s: %v", name, err)
	}
	got, err := DecodeEvent(name, data)
	if err != nil {
		tb.Fatalf("DecodeEvent(%s, %s): %v", name, data, err)
	}
	if reflect.TypeOf(got) != reflect.TypeOf(e) {
		tb.Errorf("DecodeEvent(%s) = %T, want %T", name, got, e)
	}
	again, err := json.Marshal(got)
	if err != nil {
		tb.Fatalf("marshal decoded %s: %v", name, err)
	}
	if string(again) != string(data) {
		tb.Errorf("re-marshalled %s = %s, want %s", name, again, data)
	}
}

func TestDecodeEventRefuses(t *testing.T) {
	tests := []struct {
		name, eventType, data string
	}{
		{name: "an unknown type", eventType: "PropertyDemolished", data: `{}`},
		{name: "a type in the wrong case", eventType: "userregistered", data: `{}`},
		{name: "malformed JSON", eventType: "SessionRevoked", data: `{"reason":`},
		{name: "a forged status", eventType: "PropertyStatusChanged", data: `{"from":"active","to":"demolished"}`},
		{name: "a forged role", eventType: "UserRegistered", data: `{"user_id":"` + userID.String() + `","email":"a@example.com","password_hash":"h","role":"root"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEvent(tt.eventType, []byte(tt.data))
			if err == nil {
				t.Fatalf("DecodeEvent(%s, %s) = %+v, want an error", tt.eventType, tt.data, e)
			}
		})
	}
}

func TestSessionStartedKeepsExpiryInstant(t *testing.T) {
	// Expiry travels as RFC 3339; the decoded instant is the recorded one.
	s := sessionStarted()
	s.ExpiresAt = time.Date(2024, 3, 1, 10, 30, 0, 123456000, time.FixedZone("CET", 3600))
	data, err := json.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeEvent("SessionStarted", data)
	if err != nil {
		t.Fatal(err)
	}
	if at := got.(*SessionStarted).ExpiresAt; !at.Equal(s.ExpiresAt) {
		t.Errorf("ExpiresAt = %s, want %s", at, s.ExpiresAt)
	}
}
