package console

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// Changes lists, field by field, what an audit row's old and new values (JSON
// objects, either may be empty) say changed, in field order. A field only in new
// was set, only in old was cleared; one equal in both is left out.
func Changes(oldValues, newValues []byte) []Change {
	old, nw := objectOf(oldValues), objectOf(newValues)
	names := make([]string, 0, len(old)+len(nw))
	for k := range old {
		names = append(names, k)
	}
	for k := range nw {
		if _, ok := old[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var out []Change
	for _, k := range names {
		o, n := old[k], nw[k]
		ov, nv := Value(o), Value(n)
		if bytes.Equal(o, n) || ov == nv { // null and absent both read as nothing
			continue
		}
		out = append(out, Change{Field: k, Old: ov, New: nv})
	}
	return out
}

func objectOf(raw []byte) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// Value renders a JSON value for reading: strings without quotes, null and
// absence as an empty string, anything else as compact JSON.
func Value(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) == nil {
		return buf.String()
	}
	return string(raw)
}

// FieldsOf lists a JSON object's fields in its own order, for an entity's state.
func FieldsOf(raw []byte) []Field {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var out []Field
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		out = append(out, Field{Name: strings.ReplaceAll(name, "_", " "), Value: Value(v)})
	}
	return out
}
