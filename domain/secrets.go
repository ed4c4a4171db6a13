package domain

import "encoding/json"

// secretFields are the event fields that never leave the service, not in an
// entity's history over HTTP nor on an operator's terminal (API.md: password and
// token hashes appear in no response and no log line).
var secretFields = []string{"password_hash", "token_hash", "refresh_token_hash"}

// WithoutSecrets drops the secret fields from an event's stored data; other data
// is kept as stored, and data that is not a JSON object is returned as it is.
func WithoutSecrets(data json.RawMessage) json.RawMessage {
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return data
	}
	found := false
	for _, name := range secretFields {
		if _, ok := fields[name]; ok {
			delete(fields, name)
			found = true
		}
	}
	if !found {
		return data
	}
	out, err := json.Marshal(fields)
	if err != nil {
		return data
	}
	return out
}
