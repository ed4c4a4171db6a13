package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

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
	err := tx.QueryRow(ctx, `SELECT to_jsonb(t) - $2::text[] FROM `+table+` t WHERE id = $1`, id, unaudited).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s row for audit: %w", table, err)
	}
	var row map[string]json.RawMessage
	return row, json.Unmarshal(raw, &row)
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
	oldValues, newValues := changed(before, after)
	oldJSON, err := jsonOrNull(oldValues)
	if err != nil {
		return err
	}
	newJSON, err := jsonOrNull(newValues)
	if err != nil {
		return err
	}
	md := e.Metadata
	_, err = tx.Exec(ctx, `INSERT INTO audit_logs (id, user_id, action, entity_type, entity_id,
		old_values, new_values, ip_address, user_agent, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), $10)`,
		auditID(e), md.ActorID, e.Type, e.Stream.Type, e.Stream.ID, oldJSON, newJSON,
		md.IPAddress, md.UserAgent, e.RecordedAt.UTC())
	if err != nil {
		return fmt.Errorf("write audit row: %w", err)
	}
	return nil
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
