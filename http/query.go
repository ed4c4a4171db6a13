package http

import (
	"encoding"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// listLimit reads ?limit= (1..200, default 50).
func listLimit(raw string) (int, error) {
	if raw == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 200 {
		return 0, badRequest("limit must be an integer from 1 to 200")
	}
	return n, nil
}

// queryUUID reads an optional UUID query parameter; a malformed one is a 400.
func queryUUID(q url.Values, name string) (*uuid.UUID, error) {
	raw := q.Get(name)
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, badRequest(name + " must be a UUID")
	}
	return &id, nil
}

// queryEnum reads an optional query parameter that names a member of the domain
// enum E, answering its name ("" when absent); any other value is a 400 that
// lists the members.
func queryEnum[E any, PE interface {
	*E
	encoding.TextUnmarshaler
	fmt.Stringer
}](q url.Values, name string) (string, error) {
	raw := q.Get(name)
	if raw == "" {
		return "", nil
	}
	var e E
	if err := PE(&e).UnmarshalText([]byte(raw)); err != nil {
		return "", badRequest(name + " " + err.Error())
	}
	return PE(&e).String(), nil
}

// queryTime reads an RFC 3339 timestamp query parameter: malformed is a 400, and a
// time whose UTC year leaves 0000–9999 (which RFC 3339, JSON and the cursors cannot
// carry) is a 422 on that parameter.
func queryTime(name, raw string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, badRequest(name + " must be an RFC 3339 timestamp")
	}
	return t, timeInRange(name, t)
}

// timeInRange refuses a time whose UTC year leaves 0000–9999.
func timeInRange(name string, t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return &domain.ValidationError{Fields: []domain.FieldError{{
			Field: name, Message: "must lie between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z",
		}}}
	}
	return nil
}

// queryDate reads a YYYY-MM-DD query parameter: malformed is a 400, a day outside
// the domain's date window a 422 on that parameter.
func queryDate(name, raw string) (domain.Date, error) {
	if _, err := time.Parse(time.DateOnly, raw); err != nil {
		return domain.Date{}, badRequest(name + " must be a date as YYYY-MM-DD")
	}
	d, err := domain.ParseDate(raw)
	if err != nil {
		return domain.Date{}, &domain.ValidationError{Fields: []domain.FieldError{{Field: name, Message: err.Error()}}}
	}
	return d, nil
}

// recordedBy keeps the events recorded at or before asOf. The store reads a zero
// time (0001-01-01T00:00:00Z) as "no bound", but as an as_of it is a moment
// before every entity existed.
func recordedBy(events []eventstore.Event, asOf time.Time) []eventstore.Event {
	n := 0
	for n < len(events) && !events[n].RecordedAt.After(asOf) {
		n++
	}
	return events[:n]
}
