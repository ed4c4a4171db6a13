package eventstore

import (
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Topic is the watermill topic under which the events table is consumed.
const Topic = "events"

// WatermillSchema lets watermill-sql's subscriber consume the events table itself,
// so the table doubles as the outbox and no event is written twice. It reads in
// the same transaction-id horizon order as ReadAfter. Publishing goes through
// Append, never through a watermill publisher.
type WatermillSchema struct {
	BatchSize int
}

var _ wsql.SchemaAdapter = WatermillSchema{}

// WatermillOffsets is the offsets adapter matching watermill_offsets_events.
func WatermillOffsets() wsql.DefaultPostgreSQLOffsetsAdapter {
	return wsql.DefaultPostgreSQLOffsetsAdapter{}
}

func (WatermillSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // the migrations own the schema
}

func (WatermillSchema) InsertQuery(wsql.InsertQueryParams) (wsql.Query, error) {
	return wsql.Query{}, errors.New("events are appended through eventstore.Append, not published")
}

func (s WatermillSchema) SelectQuery(params wsql.SelectQueryParams) (wsql.Query, error) {
	if params.Topic != Topic {
		return wsql.Query{}, fmt.Errorf("unknown topic %q", params.Topic)
	}
	next, err := params.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{
		Topic: params.Topic, ConsumerGroup: params.ConsumerGroup,
	})
	if err != nil {
		return wsql.Query{}, err
	}
	limit := s.BatchSize
	if limit <= 0 {
		limit = 100
	}
	// One row comparison and an ORDER BY on the table's own columns (the output
	// column transaction_id is text) let the planner walk events_horizon_idx in
	// order from the offset and stop after limit rows. An OR of the two halves,
	// or ordering by an alias of a subquery, makes it read and sort the whole
	// backlog for every batch, so catching up would be quadratic in the backlog.
	q := `WITH last_processed AS (` + next.Query + `)
		SELECT ` + EventColumns + `, transaction_id AS horizon_xid FROM events
		WHERE (transaction_id, position) > ((SELECT last_processed_transaction_id FROM last_processed),
		                                    (SELECT offset_acked FROM last_processed))
		  AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY events.transaction_id, events.position LIMIT ` + strconv.Itoa(limit)
	return wsql.Query{Query: q, Args: next.Args}, nil
}

// Envelope fields travel as watermill message metadata.
const (
	mdPosition      = "position"
	mdTransactionID = "transaction_id"
	mdStream        = "stream_id"
	mdStreamType    = "stream_type"
	mdVersion       = "version"
	mdType          = "event_type"
	mdSchemaVersion = "schema_version"
	mdEventMetadata = "event_metadata"
	mdRecordedAt    = "recorded_at"
)

func (WatermillSchema) UnmarshalMessage(params wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var (
		e                  Event
		txid, id, streamID string
		meta               []byte
		xid                wsql.XID8
	)
	if err := params.Row.Scan(&e.Position, &txid, &id, &streamID, &e.Stream.Type, &e.Version,
		&e.Type, &e.SchemaVersion, &e.Data, &meta, &e.RecordedAt, &xid); err != nil {
		return wsql.Row{}, fmt.Errorf("scan event row: %w", err)
	}
	msg := message.NewMessage(id, []byte(e.Data))
	msg.Metadata = message.Metadata{
		mdPosition:      strconv.FormatInt(e.Position, 10),
		mdTransactionID: txid,
		mdStream:        streamID,
		mdStreamType:    e.Stream.Type,
		mdVersion:       strconv.FormatInt(e.Version, 10),
		mdType:          e.Type,
		mdSchemaVersion: strconv.Itoa(e.SchemaVersion),
		mdEventMetadata: string(meta),
		mdRecordedAt:    e.RecordedAt.UTC().Format(time.RFC3339Nano),
	}
	return wsql.Row{
		Offset:    e.Position,
		UUID:      []byte(id),
		Payload:   e.Data,
		Metadata:  meta,
		Msg:       msg,
		ExtraData: map[string]any{"transaction_id": xid},
	}, nil
}

func (WatermillSchema) SubscribeIsolationLevel() sql.IsolationLevel {
	return sql.LevelRepeatableRead
}

// EventFromMessage turns a message consumed through WatermillSchema back into an Event.
func EventFromMessage(msg *message.Message) (Event, error) {
	var e Event
	var err error
	md := msg.Metadata
	if e.Position, err = strconv.ParseInt(md.Get(mdPosition), 10, 64); err != nil {
		return Event{}, fmt.Errorf("message %s: position: %w", msg.UUID, err)
	}
	if e.TransactionID, err = strconv.ParseUint(md.Get(mdTransactionID), 10, 64); err != nil {
		return Event{}, fmt.Errorf("message %s: transaction id: %w", msg.UUID, err)
	}
	if e.Version, err = strconv.ParseInt(md.Get(mdVersion), 10, 64); err != nil {
		return Event{}, fmt.Errorf("message %s: version: %w", msg.UUID, err)
	}
	if e.SchemaVersion, err = strconv.Atoi(md.Get(mdSchemaVersion)); err != nil {
		return Event{}, fmt.Errorf("message %s: schema version: %w", msg.UUID, err)
	}
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, md.Get(mdRecordedAt)); err != nil {
		return Event{}, fmt.Errorf("message %s: recorded_at: %w", msg.UUID, err)
	}
	e.Stream.Type = md.Get(mdStreamType)
	e.Type = md.Get(mdType)
	e.Data = append([]byte(nil), msg.Payload...)
	if e.Metadata, err = decodeMetadata([]byte(md.Get(mdEventMetadata))); err != nil {
		return Event{}, err
	}
	return finishEvent(e, msg.UUID, md.Get(mdStream))
}
