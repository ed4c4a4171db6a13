package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// unaudited columns never enter the audit log: secrets, and bookkeeping that
// changes with every event.
var unaudited = map[string]bool{"password_hash": true, "token": true, "refresh_token": true,
	"version": true, "created_at": true, "updated_at": true}

// auditID derives the audit row's id from the event's ULID (both are 128 bits), so
// a rebuild reproduces it.
func auditID(e eventstore.Event) uuid.UUID { return uuid.UUID(e.EventID) }

// queueAudit queues the audit row of an event. A tenant's erasure also redacts
// the tenant's earlier audit rows.
func queueAudit(batch *pgx.Batch, e eventstore.Event, de domain.Event, changes []change) {
	if _, erased := de.(*domain.TenantPersonalDataErased); erased {
		// A row left with no values is NULL, as a row that never had personal ones
		// is: a rebuild without the key writes those.
		batch.Queue(`UPDATE audit_logs SET old_values = nullif(old_values - $2::text[], '{}'),
			new_values = nullif(new_values - $2::text[], '{}') WHERE entity_type = $3 AND entity_id = $1`,
			e.Stream.ID, domain.TenantPersonalFields, domain.TenantStreamType)
		redact(changes)
	}
	batch.Queue(insertAuditSQL, auditRow(e, changes)...)
}

var insertAuditSQL = `INSERT INTO audit_logs (` + strings.Join(auditColumns, ", ") + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// auditColumns are the columns of an audit row, in auditRow's order.
var auditColumns = []string{"id", "user_id", "action", "entity_type", "entity_id",
	"old_values", "new_values", "ip_address", "user_agent", "created_at"}

// auditRow is the audit row of an event that made changes.
func auditRow(e eventstore.Event, changes []change) []any {
	md := e.Metadata
	return []any{auditID(e), md.ActorID, e.Type, e.Stream.Type, e.Stream.ID,
		appendValuesObject(nil, changes, true), appendValuesObject(nil, changes, false),
		nilIfEmpty(md.IPAddress), nilIfEmpty(md.UserAgent), e.RecordedAt.UTC()}
}

// appendValuesObject appends the old (or the new) values of changes as a JSON
// object, or nothing when there are none (the column is then NULL).
func appendValuesObject(b []byte, changes []change, old bool) []byte {
	start := len(b)
	for _, c := range changes {
		v := c.new
		if old {
			v = c.old
		}
		if v == nil {
			continue
		}
		if len(b) == start {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, c.column...)
		b = append(b, '"', ':')
		b = append(b, v...)
	}
	if len(b) == start {
		return b
	}
	return append(b, '}')
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// redact drops a tenant's personal columns from changes.
func redact(changes []change) {
	for i, c := range changes {
		if slices.Contains(domain.TenantPersonalFields, c.column) {
			changes[i].old, changes[i].new = nil, nil
		}
	}
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
