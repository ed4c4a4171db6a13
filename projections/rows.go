package projections

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
)

// The projections compute read-model rows in Go and only then write them: the
// live projector loads the stream's row, changes it and writes it back, a
// rebuild folds each stream in memory and copies the final rows in at once
// (rebuild_fold.go). A row holds each column's value as to_jsonb renders it, so
// the audit log's old and new values come out the same on both paths, and a
// row read from the database compares byte for byte with one computed here.

// tableDef is a read-model table as the projections write it.
type tableDef struct {
	name    string
	key     string   // the column that holds the stream's id
	member  string   // for a table of several rows per stream: the column that tells them apart
	columns []string // every column of the table
	scales  []int32  // digits after the point of each NUMERIC column, by position
	index   map[string]int
}

func newTableDef(name, key string, scale map[string]int32, columns ...string) *tableDef {
	t := &tableDef{name: name, key: key, columns: columns, scales: make([]int32, len(columns)), index: map[string]int{}}
	for i, c := range columns {
		t.index[c] = i
		t.scales[i] = scale[c]
	}
	return t
}

// The read-model tables, their columns as the migrations leave them
// (TestTableDefsMatchTheSchema holds them to it).
var (
	usersTable = newTableDef("users", "id", nil, "id", "email", "password_hash", "first_name", "last_name",
		"role", "phone", "last_login", "is_active", "email_verified", "created_at", "updated_at", "version")
	sessionsTable = newTableDef("user_sessions", "id", nil, "id", "user_id", "token", "refresh_token",
		"ip_address", "user_agent", "expires_at", "created_at", "updated_at", "revoked_at")
	propertiesTable = newTableDef("properties", "id", map[string]int32{"bathrooms": 1}, "id", "name", "address",
		"city", "state", "zip_code", "owner_id", "property_type", "status", "bedrooms", "bathrooms", "square_feet",
		"year_built", "description", "created_at", "updated_at", "version")
	tenantsTable = newTableDef("tenants", "id", map[string]int32{"income": 2}, "id", "first_name", "last_name",
		"email", "phone", "ssn_last_four", "date_of_birth", "credit_score", "income", "background_check_status",
		"created_at", "updated_at", "version", "registered_by")
	leasesTable = newTableDef("leases", "id", map[string]int32{"rent_amount": 2, "security_deposit": 2}, "id",
		"property_id", "tenant_id", "start_date", "end_date", "rent_amount", "security_deposit", "payment_day",
		"status", "auto_renew", "created_at", "updated_at", "version", "terminated_on", "termination_reason")
	transactionsTable = newTableDef("transactions", "id", map[string]int32{"amount": 2, "amount_paid": 2, "balance": 2},
		"id", "lease_id", "amount", "type", "status", "due_date", "payment_date", "payment_method", "reference_number",
		"notes", "created_at", "updated_at", "version", "closed_on", "amount_paid", "balance")
	documentsTable = newTableDef("documents", "id", nil, "id", "name", "description", "file_path", "file_type",
		"file_size", "entity_type", "entity_id", "uploader_id", "is_confidential", "created_at", "updated_at",
		"version", "deleted_at")
	maintenanceTable = newTableDef("maintenance_requests", "id", map[string]int32{"estimated_cost": 2, "actual_cost": 2},
		"id", "property_id", "tenant_id", "title", "description", "priority", "status", "assigned_to",
		"estimated_cost", "actual_cost", "scheduled_date", "completed_date", "created_at", "updated_at", "version")
	propertyPoliciesTable = newTableDef("property_late_fee_policies", "property_id", lateFeeScales,
		"property_id", "grace_days", "flat_amount", "percent", "monthly_cap", "created_at", "updated_at")
	leasePoliciesTable = newTableDef("lease_late_fee_policies", "lease_id", lateFeeScales,
		"lease_id", "grace_days", "flat_amount", "percent", "monthly_cap", "created_at", "updated_at")
	lateFeeScales = map[string]int32{"flat_amount": 2, "percent": 2, "monthly_cap": 2}
	// leaseTenantsTable holds several rows per lease stream: one per party.
	leaseTenantsTable = memberTable(newTableDef("lease_tenants", "lease_id", nil,
		"lease_id", "tenant_id", "is_primary", "added_at", "removed_at", "position"), "tenant_id")
	paymentsTable = newTableDef("payments", "id", map[string]int32{"amount": 2, "credit": 2}, "id", "lease_id",
		"tenant_id", "amount", "payment_date", "payment_method", "reference_number", "applies_to", "status",
		"allocations", "credit", "returned_on", "return_reason", "return_fee_id", "created_at", "updated_at", "version")
	leaseAccountsTable = newTableDef("lease_accounts", "lease_id", map[string]int32{"credit": 2, "deposit_received": 2,
		"deposit_held": 2, "deposit_forfeited": 2, "deposit_refunded": 2}, "lease_id", "credit", "deposit_received",
		"deposit_held", "deposit_forfeited", "deposit_refunded", "deductions", "entries", "created_at", "updated_at")
)

// memberTable makes t a table of several rows per stream, told apart by member.
func memberTable(t *tableDef, member string) *tableDef {
	t.member = member
	return t
}

// entityTables is the table of each stream type's own row: the row whose
// changes the audit log records.
var entityTables = map[string]*tableDef{
	domain.UserStreamType:        usersTable,
	domain.SessionStreamType:     sessionsTable,
	domain.PropertyStreamType:    propertiesTable,
	domain.TenantStreamType:      tenantsTable,
	domain.LeaseStreamType:       leasesTable,
	domain.TransactionStreamType: transactionsTable,
	domain.MaintenanceStreamType: maintenanceTable,
	domain.DocumentStreamType:    documentsTable,
	domain.PaymentStreamType:     paymentsTable,
}

// rowTables are the tables the projections write rows of, the audit log aside.
var rowTables = []*tableDef{usersTable, sessionsTable, propertiesTable, tenantsTable, leasesTable,
	transactionsTable, documentsTable, maintenanceTable, propertyPoliciesTable, leasePoliciesTable, leaseTenantsTable,
	paymentsTable, leaseAccountsTable}

// row is one read-model row: each column's value as JSON, "null" for NULL.
type row struct {
	table  *tableDef
	values []json.RawMessage
	dirty  bool // a value changed since
	err    error
	buf    []byte // where set renders a value before it compares it
}

var jsonNull = json.RawMessage("null")

func newRow(t *tableDef) *row {
	r := &row{table: t, values: make([]json.RawMessage, len(t.columns))}
	for i := range r.values {
		r.values[i] = jsonNull
	}
	return r
}

// rowFromJSON is a row as to_jsonb(t) read it from the database.
func rowFromJSON(t *tableDef, raw []byte) (*row, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("parse a %s row: %w", t.name, err)
	}
	r := newRow(t)
	for c, v := range fields {
		i, ok := t.index[c]
		if !ok {
			return nil, fmt.Errorf("%s has a column %q that the projections do not know", t.name, c)
		}
		r.values[i] = v
	}
	return r, nil
}

// set gives column col the value v (nil or a nil pointer is NULL).
func (r *row) set(col string, v any) {
	i, ok := r.table.index[col]
	if !ok {
		r.fail(fmt.Errorf("%s has no column %q", r.table.name, col))
		return
	}
	var err error
	if r.buf, err = appendPGJSON(r.buf[:0], v, r.table.scales[i]); err != nil {
		r.fail(fmt.Errorf("%s.%s: %w", r.table.name, col, err))
		return
	}
	if !bytes.Equal(r.values[i], r.buf) {
		r.values[i], r.dirty = bytes.Clone(r.buf), true
	}
}

func (r *row) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// appendPGJSON appends v as to_jsonb renders the column value PostgreSQL
// stores for it: numbers of a NUMERIC column with its scale, times as
// TIMESTAMP (UTC, microseconds), strings escaped as PostgreSQL escapes them.
// nil or a nil pointer is null.
func appendPGJSON(b []byte, v any, scale int32) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendPGJSONString(b, v), nil
	case uuid.UUID:
		b = append(b, '"')
		b = append(b, v.String()...)
		return append(b, '"'), nil
	case int:
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case decimal.Decimal:
		return append(b, v.StringFixed(scale)...), nil
	case domain.Money:
		return append(b, v.Decimal().StringFixed(scale)...), nil
	case domain.Date:
		if v.IsZero() {
			return append(b, "null"...), nil
		}
		b = append(b, '"')
		b = append(b, v.String()...)
		return append(b, '"'), nil
	case time.Time:
		b = append(b, '"')
		b = appendTimestamp(b, v, 'T')
		return append(b, '"'), nil
	case jsonbArray:
		return v.appendPG(b)
	case json.RawMessage: // a JSONB value as PostgreSQL renders it
		return append(b, v...), nil
	}
	// A pointer stores what it points at, or NULL.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return append(b, "null"...), nil
		}
		return appendPGJSON(b, rv.Elem().Interface(), scale)
	}
	return nil, fmt.Errorf("cannot store a %T", v)
}

// appendTimestamp appends t as PostgreSQL writes a TIMESTAMP in ISO style: in
// UTC, to the microsecond (truncated, as pgx sends times), trailing zeros of
// the fraction dropped; sep between date and time ('T' in JSON).
func appendTimestamp(b []byte, t time.Time, sep byte) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, sep)
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, second, 2)
	if micro := t.Nanosecond() / 1000; micro > 0 {
		b = append(b, '.')
		digits := 6
		for micro%10 == 0 {
			micro /= 10
			digits--
		}
		b = appendDigits(b, micro, digits)
	}
	return b
}

// appendDigits appends n, not negative, zero-padded to width digits.
func appendDigits(b []byte, n, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n > 0 || i > len(buf)-width {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, buf[i:]...)
}

// appendPGJSONString appends s as a JSON string the way PostgreSQL's
// escape_json writes it: only quotes, backslashes and control characters are
// escaped.
func appendPGJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s, pgJSONEscapes)
	return append(b, '"')
}

// escapes is what a text format writes for each byte it escapes; "" for a byte
// it writes as is.
type escapes [256]string

// pgJSONEscapes are escape_json's: quotes, backslashes and control characters.
var pgJSONEscapes = func() *escapes {
	var e escapes
	for c := range byte(' ') {
		e[c] = fmt.Sprintf(`\u%04x`, c)
	}
	e['"'], e['\\'] = `\"`, `\\`
	e['\b'], e['\f'], e['\n'], e['\r'], e['\t'] = `\b`, `\f`, `\n`, `\r`, `\t`
	return &e
}()

// copyEscapes are COPY's text format's: backslashes and line and field separators.
var copyEscapes = &escapes{'\\': `\\`, '\t': `\t`, '\n': `\n`, '\r': `\r`}

// appendEscaped appends s, each byte that esc escapes replaced by its escape.
func appendEscaped[T ~string | ~[]byte](b []byte, s T, esc *escapes) []byte {
	for i := 0; i < len(s); i++ {
		if e := esc[s[i]]; e != "" {
			b = append(b, e...)
		} else {
			b = append(b, s[i])
		}
	}
	return b
}

// copyText appends a JSON value as a field of COPY's text format: NULL as \N,
// strings unquoted, everything else (numbers, booleans, JSON documents) as is;
// backslashes and line and field separators escaped.
func copyText(b []byte, v json.RawMessage) ([]byte, error) {
	switch {
	case v == nil || string(v) == "null":
		return append(b, '\\', 'N'), nil
	case v[0] == '"':
		if bytes.IndexByte(v, '\\') < 0 {
			return copyEscape(b, v[1:len(v)-1]), nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return copyEscape(b, s), nil
	}
	return copyEscape(b, v), nil
}

// copyEscape appends s as a field of COPY's text format.
func copyEscape[T ~string | ~[]byte](b []byte, s T) []byte {
	return appendEscaped(b, s, copyEscapes)
}

// copyLine appends the row as a line of COPY's text format, its columns in
// the table's order.
func (r *row) copyLine(b []byte) ([]byte, error) {
	for i, v := range r.values {
		if i > 0 {
			b = append(b, '\t')
		}
		var err error
		if b, err = copyText(b, v); err != nil {
			return nil, fmt.Errorf("%s.%s: %w", r.table.name, r.table.columns[i], err)
		}
	}
	return append(b, '\n'), nil
}

// jsonObject writes the row's values as one JSON object.
func (r *row) jsonObject() json.RawMessage {
	b := []byte{'{'}
	for i, v := range r.values {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, r.table.columns[i]...)
		b = append(b, '"', ':')
		b = append(b, v...)
	}
	return append(b, '}')
}

// decimal reads a NUMERIC column of the row (0 when NULL or unreadable, which
// fails the row).
func (r *row) decimal(col string) decimal.Decimal {
	i, ok := r.table.index[col]
	if !ok || string(r.values[i]) == "null" {
		r.fail(fmt.Errorf("%s.%s is not a number here", r.table.name, col))
		return decimal.Zero
	}
	d, err := decimal.NewFromString(string(r.values[i]))
	if err != nil {
		r.fail(fmt.Errorf("%s.%s: %w", r.table.name, col, err))
	}
	return d
}

// text reads a text column of the row ("" when NULL).
func (r *row) text(col string) string {
	i, ok := r.table.index[col]
	if !ok {
		r.fail(fmt.Errorf("%s has no column %q", r.table.name, col))
		return ""
	}
	var s string
	_ = json.Unmarshal(r.values[i], &s)
	return s
}

// raw reads a column's value as JSON.
func (r *row) raw(col string) json.RawMessage {
	if i, ok := r.table.index[col]; ok {
		return r.values[i]
	}
	r.fail(fmt.Errorf("%s has no column %q", r.table.name, col))
	return jsonNull
}
