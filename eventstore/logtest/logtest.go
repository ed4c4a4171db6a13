// Package logtest is the conformance suite of eventstore.Log: every
// implementation (the PostgreSQL store, memlog) runs Run from its tests and so
// behaves the same. It must not import anything of ours but eventstore.
package logtest

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Run checks log against the contract of eventstore.Log. newLog returns an empty
// log for each subtest.
func Run(t *testing.T, newLog func(t *testing.T) eventstore.Log) {
	t.Run("append and read a stream in version order", func(t *testing.T) {
		log, ctx := newLog(t), t.Context()
		stream := newStream()
		actor := uuid.New()
		ctx = eventstore.WithMetadata(ctx, eventstore.Metadata{ActorID: &actor, IPAddress: "192.0.2.7", Command: "Test"})
		res := mustAppend(t, ctx, log, stream, 0, "Opened", "Renamed")
		if res.Version != 2 {
			t.Errorf("version after two events = %d, want 2", res.Version)
		}
		res = mustAppend(t, ctx, log, stream, 2, "Closed")
		events := mustRead(t, log, stream, time.Time{})
		if got := types(events); !slices.Equal(got, []string{"Opened", "Renamed", "Closed"}) {
			t.Fatalf("stream holds %v, want Opened, Renamed, Closed", got)
		}
		for i, e := range events {
			if e.Version != int64(i+1) || e.Stream != stream || e.SchemaVersion != 1 {
				t.Errorf("event %d: version %d stream %v schema %d, want %d %v 1", i, e.Version, e.Stream, e.SchemaVersion, i+1, stream)
			}
			if e.Metadata.ActorID == nil || *e.Metadata.ActorID != actor || e.Metadata.IPAddress != "192.0.2.7" {
				t.Errorf("event %d metadata = %+v, want the context's", i, e.Metadata)
			}
			var data map[string]string
			if err := json.Unmarshal(e.Data, &data); err != nil || data["type"] != e.Type {
				t.Errorf("event %d data = %s, want the appended payload", i, e.Data)
			}
		}
		if events[2].Checkpoint() != res.Checkpoint {
			t.Errorf("append answered checkpoint %v, the event has %v", res.Checkpoint, events[2].Checkpoint())
		}
	})

	t.Run("a stale expected version is ErrConcurrency and writes nothing", func(t *testing.T) {
		log, ctx := newLog(t), t.Context()
		stream := newStream()
		mustAppend(t, ctx, log, stream, 0, "Opened")
		for _, expected := range []int64{0, 2} {
			if _, err := log.Append(ctx, stream, expected, event("Again")); !errors.Is(err, eventstore.ErrConcurrency) {
				t.Errorf("append at version %d of a stream at 1: err = %v, want ErrConcurrency", expected, err)
			}
		}
		if got := types(mustRead(t, log, stream, time.Time{})); !slices.Equal(got, []string{"Opened"}) {
			t.Errorf("stream holds %v after refused appends, want only Opened", got)
		}
	})

	t.Run("reading until a moment leaves out later events", func(t *testing.T) {
		log, ctx := newLog(t), t.Context()
		stream := newStream()
		mustAppend(t, ctx, log, stream, 0, "Opened")
		first := mustRead(t, log, stream, time.Time{})[0].RecordedAt
		time.Sleep(2 * time.Millisecond)
		mustAppend(t, ctx, log, stream, 1, "Renamed")
		if got := types(mustRead(t, log, stream, first)); !slices.Equal(got, []string{"Opened"}) {
			t.Errorf("stream until its first event holds %v, want Opened", got)
		}
		if got := mustRead(t, log, stream, first.Add(-time.Millisecond)); len(got) != 0 {
			t.Errorf("stream before its first event holds %v, want nothing", types(got))
		}
	})

	t.Run("the global order is commit order, read in pages", func(t *testing.T) {
		log, ctx := newLog(t), t.Context()
		a, b := newStream(), newStream()
		mustAppend(t, ctx, log, a, 0, "A1")
		mustAppend(t, ctx, log, b, 0, "B1", "B2")
		mustAppend(t, ctx, log, a, 1, "A2")
		// A log may hold events back from ReadAfter until every transaction that
		// began before them has ended (PostgreSQL's horizon, which transactions of
		// other tests on the cluster move too): read until all four are there.
		var all []eventstore.Event
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			all = readAll(t, log)
			if n := len(ofStreams(all, a, b)); n == 4 || time.Now().After(deadline) {
				break
			}
		}
		ours := types(ofStreams(all, a, b))
		if !slices.Equal(ours, []string{"A1", "B1", "B2", "A2"}) {
			t.Errorf("commit order = %v, want A1 B1 B2 A2", ours)
		}
		for i := 1; i < len(all); i++ {
			if !all[i].Checkpoint().Reached(all[i-1].Checkpoint()) || all[i].Checkpoint() == all[i-1].Checkpoint() {
				t.Errorf("checkpoint %v does not follow %v", all[i].Checkpoint(), all[i-1].Checkpoint())
			}
		}
	})

	t.Run("an untouched log verifies", func(t *testing.T) {
		log, ctx := newLog(t), t.Context()
		stream := newStream()
		mustAppend(t, ctx, log, stream, 0, "Opened", "Renamed")
		broken, err := log.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range broken {
			if b.Stream == stream.String() {
				t.Errorf("Verify reports %+v on an untouched stream", b)
			}
		}
	})
}

// readAll reads the whole log through ReadAfter, in pages of two.
func readAll(t *testing.T, log eventstore.Log) []eventstore.Event {
	t.Helper()
	var all []eventstore.Event
	var after eventstore.Checkpoint
	for {
		page, err := log.ReadAfter(t.Context(), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("a page of limit 2 has %d events", len(page))
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Checkpoint()
	}
}

func ofStreams(events []eventstore.Event, streams ...eventstore.StreamID) []eventstore.Event {
	var out []eventstore.Event
	for _, e := range events {
		if slices.Contains(streams, e.Stream) {
			out = append(out, e)
		}
	}
	return out
}

func newStream() eventstore.StreamID { return eventstore.StreamID{Type: "logtest", ID: uuid.New()} }

func event(typ string) eventstore.NewEvent {
	return eventstore.NewEvent{Type: typ, Data: map[string]string{"type": typ}}
}

func mustAppend(t *testing.T, ctx context.Context, log eventstore.Log, stream eventstore.StreamID, expected int64,
	types ...string) eventstore.AppendResult {
	t.Helper()
	events := make([]eventstore.NewEvent, len(types))
	for i, typ := range types {
		events[i] = event(typ)
	}
	res, err := log.Append(ctx, stream, expected, events...)
	if err != nil {
		t.Fatalf("append %v to %v at %d: %v", types, stream, expected, err)
	}
	return res
}

func mustRead(t *testing.T, log eventstore.Log, stream eventstore.StreamID, until time.Time) []eventstore.Event {
	t.Helper()
	events, err := log.ReadStream(t.Context(), stream, until)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func types(events []eventstore.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}
