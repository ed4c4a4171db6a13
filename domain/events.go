package domain

import (
	"encoding/json"
	"fmt"
)

// Event is a fact about one aggregate. Its type name is stored with it forever.
type Event interface {
	EventType() string
}

// eventTypes is the one registry of stored event type names. Renaming an entry
// needs an upcaster, never an edit of stored rows.
var eventTypes = map[string]func() Event{
	"UserRegistered":         func() Event { return &UserRegistered{} },
	"UserLoggedIn":           func() Event { return &UserLoggedIn{} },
	"SessionStarted":         func() Event { return &SessionStarted{} },
	"SessionRevoked":         func() Event { return &SessionRevoked{} },
	"PropertyRegistered":     func() Event { return &PropertyRegistered{} },
	"PropertyDetailsChanged": func() Event { return &PropertyDetailsChanged{} },
	"PropertyStatusChanged":  func() Event { return &PropertyStatusChanged{} },
	"PropertyOwnerChanged":   func() Event { return &PropertyOwnerChanged{} },
}

// DecodeEvent turns a stored event back into its type.
func DecodeEvent(eventType string, data []byte) (Event, error) {
	factory, ok := eventTypes[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	e := factory()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return e, nil
}

// EventTypes lists every registered event type name.
func EventTypes() []string {
	names := make([]string, 0, len(eventTypes))
	for name := range eventTypes {
		names = append(names, name)
	}
	return names
}
