package projections

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// replayPipelined applies events, in order, to the read model that tx's
// search_path points at, as Relational.Apply would one by one: the same
// projection statements and the same audit rows, and the checkpoint at the last
// event. A rebuild owns its scratch tables and its checkpoint, so it can skip
// what makes Apply slow for a replay, a round trip per statement (five per
// event): the projections' statements and the entity reads around them go out
// as one pipelined batch, the audit rows computed from those reads follow in one
// COPY, and the checkpoint moves once. Verify compares the result with the live
// projector's, which still applies one event at a time.
func (r Relational) replayPipelined(ctx context.Context, tx pgx.Tx, events []eventstore.Event) error {
	p := &pipeline{tx: tx, batch: &pgx.Batch{}}
	for i := range events {
		e := events[i]
		de, err := r.decode(ctx, tx, e) // a tenant key, never a read-model row: nothing queued matters
		if err != nil {
			return fmt.Errorf("decode %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
		}
		if _, erased := de.(*domain.TenantPersonalDataErased); erased {
			// The erasure redacts the tenant's earlier audit rows: they must be in.
			if err := p.flush(ctx); err != nil {
				return err
			}
			before, err := entityRow(ctx, tx, e.Stream.Type, e.Stream.ID)
			if err != nil {
				return err
			}
			if err := applyRelational(ctx, tx, e, de); err != nil {
				return fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
			}
			if err := writeAudit(ctx, tx, e, de, before); err != nil {
				return err
			}
			continue
		}
		a := &pendingAudit{event: e}
		p.audits = append(p.audits, a)
		p.readEntity(e, &a.before)
		p.current = &e
		if err := applyRelational(ctx, p, e, de); err != nil {
			return fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
		}
		p.readEntity(e, &a.after)
	}
	if err := p.flush(ctx); err != nil {
		return err
	}
	last := events[len(events)-1]
	tag, err := tx.Exec(ctx, `UPDATE projector_checkpoints
		SET transaction_id = $2::text::xid8, position = $3, events_applied = events_applied + $4,
		    last_event_at = $5, updated_at = now()
		WHERE projector = $1 AND (transaction_id, position) < ($2::text::xid8, $3)`,
		RelationalName, strconv.FormatUint(last.TransactionID, 10), last.Position, len(events), last.RecordedAt)
	if err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("advance checkpoint to %d/%d: it is there already", last.TransactionID, last.Position)
	}
	return nil
}

// pipeline queues statements for one round trip, remembering which event each
// belongs to, and the audit rows waiting for their entity reads.
type pipeline struct {
	tx      pgx.Tx
	batch   *pgx.Batch
	steps   []pipelineStep
	audits  []*pendingAudit
	current *eventstore.Event // the event whose projection is queuing statements
}

// pipelineStep is one queued statement: a projection's write, or a read of an
// entity's row into raw.
type pipelineStep struct {
	event *eventstore.Event
	raw   *[]byte
}

// pendingAudit is an event whose audit row waits for the reads of its entity.
type pendingAudit struct {
	event         eventstore.Event
	before, after []byte
}

var _ execer = (*pipeline)(nil)

// Exec queues a projection's statement; its outcome comes with the flush.
func (p *pipeline) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	p.batch.Queue(sql, args...)
	p.steps = append(p.steps, pipelineStep{event: p.current})
	return pgconn.CommandTag{}, nil
}

// readEntity queues the read of e's entity row (as entityRow reads it) into raw.
func (p *pipeline) readEntity(e eventstore.Event, raw *[]byte) {
	table, ok := auditTables[e.Stream.Type]
	if !ok {
		return
	}
	p.batch.Queue(entityRowSQL(table), e.Stream.ID, unaudited)
	p.steps = append(p.steps, pipelineStep{event: &e, raw: raw})
}

// flush sends the queued statements, then copies in the audit rows of their events.
func (p *pipeline) flush(ctx context.Context) error {
	if len(p.steps) > 0 {
		results := p.tx.SendBatch(ctx, p.batch)
		for _, step := range p.steps {
			var err error
			if step.raw == nil {
				_, err = results.Exec()
			} else if err = results.QueryRow().Scan(step.raw); errors.Is(err, pgx.ErrNoRows) {
				*step.raw, err = nil, nil
			}
			if err != nil {
				results.Close()
				e := step.event
				return fmt.Errorf("project %s %s v%d: %w", e.Type, e.Stream, e.Version, err)
			}
		}
		if err := results.Close(); err != nil {
			return err
		}
	}
	if len(p.audits) > 0 {
		rows := make([][]any, len(p.audits))
		for i, a := range p.audits {
			before, err := parseEntityRow(a.before)
			if err != nil {
				return err
			}
			after, err := parseEntityRow(a.after)
			if err != nil {
				return err
			}
			if rows[i], err = auditRow(a.event, before, after); err != nil {
				return err
			}
		}
		if _, err := p.tx.CopyFrom(ctx, pgx.Identifier{"audit_logs"}, auditColumns, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("write audit rows: %w", err)
		}
	}
	p.batch, p.steps, p.audits = &pgx.Batch{}, p.steps[:0], p.audits[:0]
	return nil
}
