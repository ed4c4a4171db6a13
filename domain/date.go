package domain

import (
	"database/sql/driver"
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

// ParseDate reads YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("must be a date as YYYY-MM-DD")
	}
	return Date{t}, nil
}

func (d Date) IsZero() bool                 { return d.t.IsZero() }
func (d Date) Time() time.Time              { return d.t }
func (d Date) String() string               { return d.t.Format(time.DateOnly) }
func (d Date) Before(o Date) bool           { return d.t.Before(o.t) }
func (d Date) After(o Date) bool            { return d.t.After(o.t) }
func (d Date) AddDays(n int) Date           { return Date{d.t.AddDate(0, 0, n)} }
func (d Date) AddMonths(n int) Date         { return Date{d.t.AddDate(0, n, 0)} }
func (d Date) Year() int                    { return d.t.Year() }
func (d Date) Month() time.Month            { return d.t.Month() }
func (d Date) Day() int                     { return d.t.Day() }
func (d Date) DaysUntil(o Date) int         { return int(o.t.Sub(d.t).Hours() / 24) }
func (d Date) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Date) UnmarshalText(b []byte) error {
	parsed, err := ParseDate(string(b))
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
