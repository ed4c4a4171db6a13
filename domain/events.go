package domain

import (
	"encoding/json"
	"fmt"
)

// Event is a fact about one aggregate. Its type name is stored with it forever.
type Event interface {
	EventType() string
}

// eventTypes is the one registry of stored event type names, gathered from each
// aggregate's list. Renaming an entry needs an upcaster, never an edit of stored rows.
var eventTypes = merge(userEvents, sessionEvents, propertyEvents, tenantEvents, leaseEvents,
	transactionEvents, maintenanceEvents, documentEvents, rentEvents)

func merge(lists ...map[string]func() Event) map[string]func() Event {
	all := map[string]func() Event{}
	for _, list := range lists {
		for name, factory := range list {
			if _, dup := all[name]; dup {
				panic("event type registered twice: " + name)
			}
			all[name] = factory
		}
	}
	return all
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
