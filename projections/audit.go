package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// auditTables is the read-model table of each stream type, whose row before and
// after an event gives the audit log's old_values and new_values.
var auditTables = map[string]string{
	domain.UserStreamType:        "users",
	domain.SessionStreamType:     "user_sessions",
	domain.PropertyStreamType:    "properties",
	domain.TenantStreamType:      "tenants",
	domain.LeaseStreamType:       "leases",
	domain.TransactionStreamType: "transactions",
	domain.MaintenanceStreamType: "maintenance_requests",
	"document":                   "documents",
}

// unaudited columns never enter the audit log: secrets, and bookkeeping that
// changes with every event.
var unaudited = []string{"password_hash", "token", "refresh_token", "version", "created_at", "updated_at"}

// tenantPersonalColumns are redacted from a tenant's audit rows when it is erased.
var tenantPersonalColumns = []string{"first_name", "last_name", "email", "phone", "ssn_last_four",
	"date_of_birth", "credit_score", "income", "background_check_status"}

// entityRow reads the audited columns of the entity's read-model row as a JSON object
// (nil when there is none).
func entityRow(ctx context.Context, tx pgx.Tx, streamType string, id uuid.UUID) (map[string]json.RawMessage, error) {
	table, ok := auditTables[streamType]
	if !ok {
		return nil, nil
	}
	var raw []byte
	err := tx.QueryRow(ctx, entityRowSQL(table), id, unaudited).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s row for audit: %w", table, err)
	}
	return parseEntityRow(raw)
}

// entityRowSQL reads the audited columns of one row of table ($1 its id, $2 the
// unaudited columns) as a JSON object.
func entityRowSQL(table string) string {
	return `SELECT to_jsonb(t) - $2::text[] FROM ` + table + ` t WHERE id = $1`
}

// parseEntityRow parses what entityRowSQL read; nil is no row.
func parseEntityRow(raw []byte) (map[string]json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal(raw, &row); err != nil {
		return nil, fmt.Errorf("parse a read-model row for audit: %w", err)
	}
	return row, nil
}

// changed keeps the fields whose values differ between before and after.
func changed(before, after map[string]json.RawMessage) (oldValues, newValues map[string]json.RawMessage) {
	oldValues, newValues = map[string]json.RawMessage{}, map[string]json.RawMessage{}
	for k, v := range after {
		if b, ok := before[k]; !ok || !bytes.Equal(b, v) {
			newValues[k] = v
			if ok {
				oldValues[k] = b
			}
		}
	}
	for k, v := range before {
		if _, ok := after[k]; !ok {
			oldValues[k] = v
		}
	}
	return oldValues, newValues
}

// auditID derives the audit row's id from the event's ULID (both are 128 bits), so
// a rebuild reproduces it.
func auditID(e eventstore.Event) uuid.UUID { return uuid.UUID(e.EventID) }

// writeAudit records one audit row for an event, from the entity's row before and
// after it. A tenant's erasure also redacts the tenant's earlier audit rows.
func writeAudit(ctx context.Context, tx pgx.Tx, e eventstore.Event, de domain.Event, before map[string]json.RawMessage) error {
	after, err := entityRow(ctx, tx, e.Stream.Type, e.Stream.ID)
	if err != nil {
		return err
	}
	if _, erased := de.(*domain.TenantPersonalDataErased); erased {
		// A row left with no values is NULL, as a row that never had personal ones
		// is: a rebuild without the key writes those.
		if _, err := tx.Exec(ctx, `UPDATE audit_logs SET old_values = nullif(old_values - $2::text[], '{}'),
			new_values = nullif(new_values - $2::text[], '{}') WHERE entity_type = $3 AND entity_id = $1`,
			e.Stream.ID, tenantPersonalColumns, domain.TenantStreamType); err != nil {
			return fmt.Errorf("redact tenant audit rows: %w", err)
		}
		before, after = redact(before), redact(after)
	}
	values, err := auditRow(e, before, after)
	if err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `INSERT INTO audit_logs (`+strings.Join(auditColumns, ", ")+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, values...); err != nil {
		return fmt.Errorf("write audit row: %w", err)
	}
	return nil
}

// auditColumns are the columns of an audit row, in auditRow's order.
var auditColumns = []string{"id", "user_id", "action", "entity_type", "entity_id",
	"old_values", "new_values", "ip_address", "user_agent", "created_at"}

// auditRow is the audit row of an event, from the entity's row before and after
// it: the projector inserts it, a rebuild copies it in (rebuild_pipeline.go).
func auditRow(e eventstore.Event, before, after map[string]json.RawMessage) ([]any, error) {
	oldValues, newValues := changed(before, after)
	oldJSON, err := jsonOrNull(oldValues)
	if err != nil {
		return nil, err
	}
	newJSON, err := jsonOrNull(newValues)
	if err != nil {
		return nil, err
	}
	md := e.Metadata
	return []any{auditID(e), md.ActorID, e.Type, e.Stream.Type, e.Stream.ID, oldJSON, newJSON,
		nilIfEmpty(md.IPAddress), nilIfEmpty(md.UserAgent), e.RecordedAt.UTC()}, nil
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func redact(row map[string]json.RawMessage) map[string]json.RawMessage {
	for _, k := range tenantPersonalColumns {
		delete(row, k)
	}
	return row
}

func jsonOrNull(m map[string]json.RawMessage) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

// AuditPartitionMonthsAhead is how many months after the current one keep an
// audit_logs partition ready, so that a missed day of EnsureAuditPartitions
// never sends rows to the default partition.
const AuditPartitionMonthsAhead = 3

// EnsureAuditPartitions creates the monthly audit_logs partitions of the current
// month through AuditPartitionMonthsAhead months after now, and of any earlier
// month whose rows wait in the default partition (they move into it). It returns
// how many it created; serve calls it at start and daily
// (migrations/000009_audit_partitions.up.sql).
func EnsureAuditPartitions(ctx context.Context, pool *pgxpool.Pool, now time.Time) (int, error) {
	now = now.UTC()
	through := time.Date(now.Year(), now.Month()+AuditPartitionMonthsAhead, 1, 0, 0, 0, 0, time.UTC)
	var created int
	if err := pool.QueryRow(ctx, `SELECT ensure_audit_partitions($1::date)`, through.Format(time.DateOnly)).Scan(&created); err != nil {
		return 0, fmt.Errorf("create audit_logs partitions through %s: %w", through.Format("2006-01"), err)
	}
	return created, nil
}
