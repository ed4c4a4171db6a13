// Package memlog keeps an event log in memory, for tests that need a log and no
// database. It passes the same conformance suite as the PostgreSQL store
// (eventstore/logtest). It must not import anything of ours but eventstore.
package memlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Log is an in-memory eventstore.Log. Each append is its own transaction, so an
// event's checkpoint is (append number, position), in commit order.
type Log struct {
	mu      sync.Mutex
	events  []stored // in commit order
	streams map[eventstore.StreamID][]int
}

type stored struct {
	eventstore.Event
	hash []byte
}

var _ eventstore.Log = (*Log)(nil)

// New returns an empty log.
func New() *Log {
	return &Log{streams: map[eventstore.StreamID][]int{}}
}

// Append implements eventstore.Log.
func (l *Log) Append(ctx context.Context, stream eventstore.StreamID, expectedVersion int64,
	events ...eventstore.NewEvent) (eventstore.AppendResult, error) {
	if len(events) == 0 {
		return eventstore.AppendResult{}, errors.New("append: no events")
	}
	staged, err := eventstore.StageEvents(ctx, stream, expectedVersion, events, time.Now())
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if int64(len(l.streams[stream])) != expectedVersion {
		return eventstore.AppendResult{}, eventstore.ErrConcurrency
	}
	txid := uint64(1)
	var prev []byte
	if n := len(l.events); n > 0 {
		txid = l.events[n-1].TransactionID + 1
	}
	if at := l.streams[stream]; len(at) > 0 {
		prev = l.events[at[len(at)-1]].hash
	}
	for _, e := range staged {
		e.TransactionID, e.Position = txid, int64(len(l.events)+1)
		prev = hash(prev, e)
		l.streams[stream] = append(l.streams[stream], len(l.events))
		l.events = append(l.events, stored{Event: e, hash: prev})
	}
	last := l.events[len(l.events)-1].Event
	return eventstore.AppendResult{Version: last.Version, Checkpoint: last.Checkpoint()}, nil
}

// ReadStream implements eventstore.Log.
func (l *Log) ReadStream(_ context.Context, stream eventstore.StreamID, until time.Time) ([]eventstore.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []eventstore.Event
	for _, i := range l.streams[stream] {
		if e := l.events[i].Event; until.IsZero() || !e.RecordedAt.After(until) {
			out = append(out, e)
		}
	}
	return out, nil
}

// ReadAfter implements eventstore.Log.
func (l *Log) ReadAfter(_ context.Context, after eventstore.Checkpoint, limit int) ([]eventstore.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []eventstore.Event
	for _, e := range l.events {
		if len(out) == limit {
			break
		}
		if e.Checkpoint() != after && e.Checkpoint().Reached(after) {
			out = append(out, e.Event)
		}
	}
	return out, nil
}

// Verify implements eventstore.Log: each stream's hash chain, recomputed.
func (l *Log) Verify(context.Context) ([]eventstore.BrokenLink, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var broken []eventstore.BrokenLink
	for stream, at := range l.streams {
		var prev []byte
		for n, i := range at {
			e := l.events[i]
			if e.Version != int64(n+1) {
				broken = append(broken, eventstore.BrokenLink{Stream: stream.String(), Version: e.Version, Reason: "version gap"})
				break
			}
			if prev = hash(prev, e.Event); !bytes.Equal(prev, e.hash) {
				broken = append(broken, eventstore.BrokenLink{Stream: stream.String(), Version: e.Version,
					Reason: "hash mismatch: content or predecessor was changed"})
				break
			}
		}
	}
	return broken, nil
}

// hash chains an event to its predecessor's hash. It is this package's own:
// only the PostgreSQL log's hash is a format auditors rely on.
func hash(prev []byte, e eventstore.Event) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(e.EventID[:])
	h.Write([]byte(e.Stream.String() + "\x00" + e.Type + "\x00"))
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(e.Version)))
	h.Write(e.Data)
	h.Write([]byte(e.RecordedAt.Format(time.RFC3339Nano)))
	return h.Sum(nil)
}
