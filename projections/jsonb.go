package projections

import (
	"slices"
	"strings"
)

// jsonbArray is a JSONB column's value: an array of objects, rendered as
// PostgreSQL outputs jsonb (keys ordered by length, then bytewise; ", " and ": "
// between items), so that a row computed here and one read back compare byte
// for byte, as every other column does (rows.go).
type jsonbArray []jsonbObject

// jsonbObject is one object of a jsonbArray; each value is rendered as
// appendPGJSON renders a column's (amounts as numbers with two places).
type jsonbObject []jsonbField

type jsonbField struct {
	key   string
	value any
}

func (a jsonbArray) appendPG(b []byte) ([]byte, error) {
	b = append(b, '[')
	for i, o := range a {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		fields := slices.Clone(o)
		slices.SortFunc(fields, func(x, y jsonbField) int {
			if len(x.key) != len(y.key) {
				return len(x.key) - len(y.key)
			}
			return strings.Compare(x.key, y.key)
		})
		b = append(b, '{')
		for j, f := range fields {
			if j > 0 {
				b = append(b, ',', ' ')
			}
			b = appendPGJSONString(b, f.key)
			b = append(b, ':', ' ')
			var err error
			if b, err = appendPGJSON(b, f.value, 2); err != nil {
				return nil, err
			}
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}
