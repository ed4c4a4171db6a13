package domain

import "errors"

// Fields collects the invalid fields of one request, for one 422. Every command
// collects with it, so the same bad field gets the same errors body on every
// endpoint: fields come in the order they were checked (what fails to parse,
// then the domain's verdict on what parsed, in its order), and a field that
// failed to parse is reported once, with its parse problem (the domain only saw
// a zero value in its place).
type Fields struct{ list []FieldError }

// Add reports field as invalid, unless it is reported already.
func (f *Fields) Add(field, message string) {
	if !f.Has(field) {
		f.list = append(f.list, FieldError{Field: field, Message: message})
	}
}

// Check reports field as invalid unless ok.
func (f *Fields) Check(ok bool, field, message string) {
	if !ok {
		f.Add(field, message)
	}
}

// Has reports whether field is reported.
func (f *Fields) Has(field string) bool {
	for _, fe := range f.list {
		if fe.Field == field {
			return true
		}
	}
	return false
}

// Len is how many fields are reported.
func (f *Fields) Len() int { return len(f.list) }

// Err is nil when no field is reported, else a *ValidationError listing them.
func (f *Fields) Err() error {
	if len(f.list) == 0 {
		return nil
	}
	return &ValidationError{Fields: append([]FieldError(nil), f.list...)}
}

// Join adds the fields of err, the domain's verdict taken after the collected
// checks, except those collected already, and returns them all as one error; the
// verdict may name a field more than once (every rule it breaks). A refusal that
// is not a ValidationError (a state conflict) is returned as it is.
func (f *Fields) Join(err error) error {
	if err == nil {
		return f.Err()
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	all := append([]FieldError(nil), f.list...)
	for _, fe := range ve.Fields {
		if !f.Has(fe.Field) {
			all = append(all, fe)
		}
	}
	if len(all) == 0 {
		return nil
	}
	return &ValidationError{Fields: all}
}
