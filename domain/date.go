package domain

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"time"
)

// Date is a calendar date (YYYY-MM-DD) without time of day or zone.
type Date struct{ t time.Time } // always midnight UTC

// NewDate returns the date of y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

// DateOf returns the UTC calendar date of t.
func DateOf(t time.Time) Date {
	t = t.UTC()
	return NewDate(t.Year(), t.Month(), t.Day())
}

// The date window. Every date and timestamp the domain accepts lies in it, so that
// PostgreSQL's DATE and TIMESTAMP columns, JSON and every date sum the domain does
// (rent periods, renewals) hold it. Stored events from before the window was
// enforced are clamped to it when decoded (DecodeEvent); docs/schema.md.
const (
	FirstYear = 1900
	LastYear  = 2199
)

var (
	// FirstDate and LastDate are the window's first and last day.
	FirstDate = NewDate(FirstYear, time.January, 1)
	LastDate  = NewDate(LastYear, time.December, 31)
	// windowEnd is the first instant after the window.
	windowEnd = time.Date(LastYear+1, time.January, 1, 0, 0, 0, 0, time.UTC)
)

// windowMessage is the field error of a date or timestamp outside the window.
var windowMessage = fmt.Sprintf("must lie between %s and %s", FirstDate, LastDate)

// ParseDate reads YYYY-MM-DD, a day of the date window.
func ParseDate(s string) (Date, error) {
	d, err := parseDateText(s)
	if err != nil {
		return Date{}, err
	}
	if !d.InWindow() {
		return Date{}, errors.New(windowMessage)
	}
	return d, nil
}

// parseDateText reads YYYY-MM-DD of any year, as stored events may hold it.
func parseDateText(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, errors.New("must be a date as YYYY-MM-DD")
	}
	return Date{t}, nil
}

// ParseTimestamp reads an RFC 3339 timestamp whose UTC date lies in the date window.
func ParseTimestamp(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errors.New("must be an RFC 3339 timestamp such as 2025-06-01T09:00:00Z")
	}
	if !TimeInWindow(t) {
		return time.Time{}, errors.New(windowMessage)
	}
	return t, nil
}

// InWindow reports whether d lies in the date window.
func (d Date) InWindow() bool { return !d.Before(FirstDate) && !d.After(LastDate) }

// TimeInWindow reports whether the UTC date of t lies in the date window.
func TimeInWindow(t time.Time) bool { return !t.Before(FirstDate.t) && t.Before(windowEnd) }

// dateField checks a date of a command: present when required, and in the window.
func dateField(v *validator, field string, d Date, required bool) {
	if d.IsZero() {
		v.check(!required, field, "is required")
		return
	}
	v.check(d.InWindow(), field, windowMessage)
}

// clampDate is the repair rule for a stored date outside the window: it becomes
// the window's nearest day. The zero date (absent) stays zero.
func clampDate(d Date) Date {
	switch {
	case d.IsZero():
		return d
	case d.Before(FirstDate):
		return FirstDate
	case d.After(LastDate):
		return LastDate
	}
	return d
}

// clampTime is clampDate for a stored timestamp: the window's first instant or
// its last microsecond.
func clampTime(t time.Time) time.Time {
	switch {
	case t.IsZero():
		return t
	case t.Before(FirstDate.t):
		return FirstDate.t
	case !t.Before(windowEnd):
		return windowEnd.Add(-time.Microsecond)
	}
	return t
}

func (d Date) IsZero() bool                 { return d.t.IsZero() }
func (d Date) Time() time.Time              { return d.t }
func (d Date) String() string               { return d.t.Format(time.DateOnly) }
func (d Date) Before(o Date) bool           { return d.t.Before(o.t) }
func (d Date) After(o Date) bool            { return d.t.After(o.t) }
func (d Date) AddDays(n int) Date           { return Date{d.t.AddDate(0, 0, n)} }
func (d Date) AddMonths(n int) Date         { return Date{d.t.AddDate(0, n, 0)} }
func (d Date) AddYears(n int) Date          { return Date{d.t.AddDate(n, 0, 0)} }
func (d Date) Year() int                    { return d.t.Year() }
func (d Date) Month() time.Month            { return d.t.Month() }
func (d Date) Day() int                     { return d.t.Day() }
func (d Date) DaysUntil(o Date) int         { return int(o.t.Sub(d.t).Hours() / 24) }
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText reads a date of any year: stored events are facts, and
// DecodeEvent clamps what lies outside the window.
func (d *Date) UnmarshalText(b []byte) error {
	parsed, err := parseDateText(string(b))
	if err != nil {
		return err
	}
	*d = parsed
	return nil
}

// Value stores the date in a DATE column.
func (d Date) Value() (driver.Value, error) {
	if d.IsZero() {
		return nil, nil
	}
	return d.t, nil
}

// Scan reads a DATE column.
func (d *Date) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d = Date{}
	case time.Time:
		*d = DateOf(v)
	default:
		return fmt.Errorf("cannot scan %T into a date", src)
	}
	return nil
}
