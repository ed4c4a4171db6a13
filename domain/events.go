package domain

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Event is a fact about one aggregate. Its type name is stored with it forever.
type Event interface {
	EventType() string
}

// eventTypes is the one registry of stored event type names, gathered from each
// aggregate's list. Renaming an entry needs an upcaster, never an edit of stored rows.
var eventTypes = merge(userEvents, sessionEvents, propertyEvents, tenantEvents, leaseEvents, leasePartyEvents,
	transactionEvents, maintenanceEvents, documentEvents, rentEvents, paymentEvents, ledgerEvents)

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
	if datedTypes[eventType] {
		clampDates(reflect.ValueOf(e))
	}
	return e, nil
}

// datedTypes are the event types that hold a Date or a time.Time somewhere.
var datedTypes = func() map[string]bool {
	dated := map[string]bool{}
	for name, factory := range eventTypes {
		dated[name] = holdsDates(reflect.TypeOf(factory()), map[reflect.Type]bool{})
	}
	return dated
}()

var (
	dateType = reflect.TypeFor[Date]()
	timeType = reflect.TypeFor[time.Time]()
)

func holdsDates(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == dateType || t == timeType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsDates(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && holdsDates(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// clampDates is the upcaster for dates outside the window (docs/schema.md): an
// event stored before the window was enforced (say a due_date of 0000-01-01)
// decodes with each such date or timestamp moved to the window's nearest bound,
// so that it projects, rebuilds and replays like any other.
func clampDates(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			clampDates(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			clampDates(v.Index(i))
		}
	case reflect.Struct:
		switch {
		case !v.CanSet():
			return
		case v.Type() == dateType:
			v.Set(reflect.ValueOf(clampDate(v.Interface().(Date))))
			return
		case v.Type() == timeType:
			v.Set(reflect.ValueOf(clampTime(v.Interface().(time.Time))))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				clampDates(v.Field(i))
			}
		}
	}
}

// EventTypes lists every registered event type name.
func EventTypes() []string {
	names := make([]string, 0, len(eventTypes))
	for name := range eventTypes {
		names = append(names, name)
	}
	return names
}
