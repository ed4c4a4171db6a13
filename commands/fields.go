package commands

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// inputFields parses the raw values of a command (as the client sent them) and
// collects what does not parse in the one field collector, domain.Fields, so that
// it is reported in one 422 together with what the domain refuses (Join).
type inputFields struct{ domain.Fields }

// decided is what a decide step answers: the domain's events or, with a bad
// field, the one error that joins the fields to what the domain refused.
func (f *inputFields) decided(events []domain.Event, err error) ([]domain.Event, error) {
	if err := f.Join(err); err != nil {
		return nil, err
	}
	return events, nil
}

// date parses a YYYY-MM-DD date; absent is the zero date, which the domain
// refuses where a date is required.
func (f *inputFields) date(field string, s *string) domain.Date {
	return parseOptional(f, field, s, domain.ParseDate)
}

// timestamp parses an RFC 3339 timestamp in the date window; absent is the
// zero time.
func (f *inputFields) timestamp(field string, s *string) time.Time {
	return parseOptional(f, field, s, domain.ParseTimestamp)
}

// parseOptional parses s when present, collecting what parse refuses on field;
// absent is T's zero value.
func parseOptional[T any](f *inputFields, field string, s *string, parse func(string) (T, error)) T {
	var v T
	if s == nil {
		return v
	}
	v, err := parse(*s)
	if err != nil {
		f.Add(field, err.Error())
	}
	return v
}

// requiredMoney parses an exact amount with at most two decimal places.
func (f *inputFields) requiredMoney(field string, n *json.Number) domain.Money {
	if n == nil {
		f.Add(field, "is required")
		return domain.Money{}
	}
	if m := f.optionalMoney(field, n); m != nil {
		return *m
	}
	return domain.Money{}
}

// optionalMoney is requiredMoney for an amount that may be absent (nil).
func (f *inputFields) optionalMoney(field string, n *json.Number) *domain.Money {
	if n == nil {
		return nil
	}
	m, err := domain.ParseMoneyText(n.String())
	if err != nil {
		f.Add(field, err.Error())
		return nil
	}
	return &m
}

// optionalDecimal parses an exact decimal that may be absent; the domain checks
// its range and places.
func (f *inputFields) optionalDecimal(field string, n *json.Number) *decimal.Decimal {
	if n == nil {
		return nil
	}
	d, err := domain.ParseDecimal(n.String())
	if err != nil {
		f.Add(field, err.Error())
		return nil
	}
	return &d
}

func (f *inputFields) requiredID(field string, id *uuid.UUID) uuid.UUID {
	if id == nil || *id == uuid.Nil {
		f.Add(field, "is required")
		return uuid.Nil
	}
	return *id
}
