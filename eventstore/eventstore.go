// Package eventstore is the event log: it appends domain events to PostgreSQL
// and reads them back, by stream for aggregates and auditors and in commit
// order for projectors, and keeps the write side's guards (unique claims, lease
// periods, locks, wrapped tenant keys) in the appends' transaction. Its
// sub-packages hold what lives beside the log: tenantkeys, blobs, idempotency,
// transfer, relay, memlog and logtest. It must not import commands, projections
// or http, nor its sub-packages but tenantkeys.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/google/uuid"
	"github.com/oklog/ulid/v2"
)

// ErrConcurrency means the stream is no longer at the expected version: another
// command appended first. Nothing was written.
var ErrConcurrency = errors.New("stream was changed concurrently")

// StreamID names one aggregate's stream, "<type>-<uuid>".
type StreamID struct {
	Type string
	ID   uuid.UUID
}

func (s StreamID) String() string { return s.Type + "-" + s.ID.String() }

// ParseStreamID reads "<type>-<uuid>".
func ParseStreamID(s string) (StreamID, error) {
	if len(s) < 38 || s[len(s)-37] != '-' {
		return StreamID{}, fmt.Errorf("malformed stream id %q", s)
	}
	id, err := uuid.Parse(s[len(s)-36:])
	if err != nil {
		return StreamID{}, fmt.Errorf("malformed stream id %q: %w", s, err)
	}
	return StreamID{Type: s[:len(s)-37], ID: id}, nil
}

// Metadata travels with every event: who acted, from where, and why.
type Metadata struct {
	ActorID       *uuid.UUID `json:"actor_id,omitempty"`
	IPAddress     string     `json:"ip_address,omitempty"`
	UserAgent     string     `json:"user_agent,omitempty"`
	CorrelationID string     `json:"correlation_id,omitempty"`
	CausationID   string     `json:"causation_id,omitempty"`
	Command       string     `json:"command,omitempty"`
}

type metadataKey struct{}

// WithMetadata returns a context whose appends carry md.
func WithMetadata(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, md)
}

// MetadataFrom returns the metadata set by WithMetadata, or zero metadata.
func MetadataFrom(ctx context.Context) Metadata {
	md, _ := ctx.Value(metadataKey{}).(Metadata)
	return md
}

// NewEvent is an event about to be appended. Data is marshalled to JSON.
type NewEvent struct {
	Type          string
	SchemaVersion int
	Data          any
}

// Event is a stored event.
type Event struct {
	Position      int64
	TransactionID uint64
	EventID       ulid.ULID
	Stream        StreamID
	Version       int64
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
}

// Checkpoint is a place in the global log: readers order events by the transaction
// that wrote them, then by position, so a late commit is never skipped.
type Checkpoint struct {
	TransactionID uint64 `json:"transaction_id"`
	Position      int64  `json:"position"`
}

// Reached reports whether c is at or past other.
func (c Checkpoint) Reached(other Checkpoint) bool {
	if c.TransactionID != other.TransactionID {
		return c.TransactionID > other.TransactionID
	}
	return c.Position >= other.Position
}

// Checkpoint is the place of this event in the global log.
func (e Event) Checkpoint() Checkpoint {
	return Checkpoint{TransactionID: e.TransactionID, Position: e.Position}
}

// AppendResult tells where an append landed.
type AppendResult struct {
	Version    int64      // the stream's version after the append
	Checkpoint Checkpoint // the last appended event's place in the global log
}

// BrokenLink is the first event of a stream whose hash does not match its content
// and its predecessor, or whose version leaves a gap.
type BrokenLink struct {
	Stream  string
	Version int64
	Reason  string
}

// ErrClaimTaken means another stream already holds a unique claim (for example an
// email address). Nothing was written.
var ErrClaimTaken = errors.New("value is already claimed by another stream")

// Log is the event log itself, all an aggregate's history, a projector and an
// auditor need: PostgresStore keeps it durably, memlog in memory for fast tests,
// and logtest is the conformance suite both pass.
type Log interface {
	// Append writes events to the end of stream if it is still at
	// expectedVersion (0: a new stream), else ErrConcurrency and nothing.
	Append(ctx context.Context, stream StreamID, expectedVersion int64, events ...NewEvent) (AppendResult, error)
	// ReadStream returns stream's events in version order, those recorded at or
	// before until only (zero: all).
	ReadStream(ctx context.Context, stream StreamID, until time.Time) ([]Event, error)
	// ReadAfter returns up to limit events after the checkpoint, in commit order.
	ReadAfter(ctx context.Context, after Checkpoint, limit int) ([]Event, error)
	// Verify recomputes every stream's hash chain and returns the first broken
	// link of each stream whose history was edited or has a gap.
	Verify(ctx context.Context) ([]BrokenLink, error)
}

// Store is the write side's contract: the Log, and the guards and keys that
// commands keep in the same transaction as their appends. PostgresStore is its
// implementation.
type Store interface {
	Log

	// Claim reserves value within scope for stream, for rules that span streams
	// such as unique emails. Make it atomic with the append through Atomically.
	Claim(ctx context.Context, scope, value string, stream StreamID) error
	// Unclaim gives up stream's claim of value within scope.
	Unclaim(ctx context.Context, scope, value string, stream StreamID) error
	// ClaimedBy returns the stream holding a claim.
	ClaimedBy(ctx context.Context, scope, value string) (StreamID, bool, error)
	// Claimed reports whether any stream holds a claim within scope (for example
	// documents referencing stored bytes, see blobs.go).
	Claimed(ctx context.Context, scope string) (bool, error)
	// Atomically runs fn with a store whose writes commit together or not at all.
	Atomically(ctx context.Context, fn func(Store) error) error
	// InTransaction reports whether the store works inside Atomically. There, an
	// append refused with ErrConcurrency has aborted the transaction: only a
	// fresh transaction can try again.
	InTransaction(ctx context.Context) bool
	// Lock serialises transactions on key until the surrounding Atomically ends.
	Lock(ctx context.Context, key string) error
	// DataKeys keeps the wrapped per-tenant data keys (keys.go), in the same
	// transaction as the appends that need them.
	tenantkeys.DataKeys

	// ReservePeriod holds the dates [from, to] of resource for holder (a lease of a
	// property); overlapping holds of one resource are refused with ErrPeriodTaken.
	// Reserving again for the same holder replaces its period.
	ReservePeriod(ctx context.Context, resource, holder uuid.UUID, from, to time.Time) error
	// ReleasePeriod drops holder's period.
	ReleasePeriod(ctx context.Context, holder uuid.UUID) error
	// HasPeriods reports whether any holder has a period of resource.
	HasPeriods(ctx context.Context, resource uuid.UUID) (bool, error)
	// PeriodsEndedBefore lists the holders whose period ends before day.
	PeriodsEndedBefore(ctx context.Context, day time.Time) ([]uuid.UUID, error)
}

// ErrPeriodTaken means another holder already has overlapping dates of the resource.
var ErrPeriodTaken = errors.New("the period overlaps another holder's")

func decodeMetadata(raw []byte) (Metadata, error) {
	var md Metadata
	if err := json.Unmarshal(raw, &md); err != nil {
		return Metadata{}, fmt.Errorf("decode event metadata: %w", err)
	}
	return md, nil
}
