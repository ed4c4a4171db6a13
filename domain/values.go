package domain

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// Money is an exact amount with at most two decimal places, as NUMERIC(10,2) holds it.
// It is never a float, and it is never rounded: more places are refused.
type Money struct{ d decimal.Decimal }

// maxMoney is the largest NUMERIC(10,2) value.
var maxMoney = decimal.RequireFromString("99999999.99")

// ParseMoney checks that d fits NUMERIC(10,2) exactly.
func ParseMoney(d decimal.Decimal) (Money, error) {
	if !d.Round(2).Equal(d) {
		return Money{}, fmt.Errorf("has more than two decimal places")
	}
	if d.Abs().GreaterThan(maxMoney) {
		return Money{}, fmt.Errorf("is larger than %s", maxMoney)
	}
	return Money{d: d}, nil
}

// MaxDecimalLength bounds the text of a money or decimal input, checked before it
// is parsed: the widest column (NUMERIC(12,2)) needs 13 characters, and a
// million-digit number would cost seconds of CPU to parse.
const MaxDecimalLength = 32

// maxExponent bounds a parsed decimal's exponent, so that no later comparison or
// rounding of 1e999999999 scales it to a billion digits.
const maxExponent = MaxDecimalLength

// ParseDecimal reads a decimal number exactly from its JSON text (a number or a
// string holding one), refusing text longer than MaxDecimalLength unread.
func ParseDecimal(s string) (decimal.Decimal, error) {
	if len(s) > MaxDecimalLength {
		return decimal.Decimal{}, fmt.Errorf("must be a decimal number of at most %d characters", MaxDecimalLength)
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, errors.New("must be a decimal number")
	}
	if e := d.Exponent(); e > maxExponent || e < -maxExponent {
		return decimal.Decimal{}, errors.New("is out of range")
	}
	return d, nil
}

// ParseMoneyText is ParseDecimal and then ParseMoney.
func ParseMoneyText(s string) (Money, error) {
	d, err := ParseDecimal(s)
	if err != nil {
		return Money{}, err
	}
	return ParseMoney(d)
}

// MustMoney parses a literal amount; it is for tests and constants.
func MustMoney(s string) Money {
	m, err := ParseMoney(decimal.RequireFromString(s))
	if err != nil {
		panic(err)
	}
	return m
}

func (m Money) Decimal() decimal.Decimal { return m.d }
func (m Money) String() string           { return m.d.StringFixed(2) }
func (m Money) IsPositive() bool         { return m.d.IsPositive() }
func (m Money) IsNegative() bool         { return m.d.IsNegative() }

func (m Money) MarshalJSON() ([]byte, error) { return []byte(`"` + m.String() + `"`), nil }

// Value stores the amount in a NUMERIC column, exactly.
func (m Money) Value() (driver.Value, error) { return m.String(), nil }

func (m *Money) UnmarshalJSON(b []byte) error {
	var d decimal.Decimal
	if err := d.UnmarshalJSON(b); err != nil {
		return err
	}
	parsed, err := ParseMoney(d)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// textField checks a required or optional string against a VARCHAR length.
func textField(v *validator, field, value string, required bool, maxLen int) {
	if required {
		v.check(strings.TrimSpace(value) != "", field, "is required")
	}
	if maxLen > 0 {
		v.check(utf8.RuneCountInString(value) <= maxLen, field, fmt.Sprintf("must be at most %d characters", maxLen))
	}
	// PostgreSQL text and jsonb cannot hold NUL.
	v.check(!strings.ContainsRune(value, 0), field, "must not contain NUL characters")
}
