package memlog

import (
	"testing"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
)

// Verify catches an event edited after it was appended.
func TestVerifyFindsAnEditedEvent(t *testing.T) {
	l := New()
	stream := eventstore.StreamID{Type: "memlog", ID: uuid.New()}
	if _, err := l.Append(t.Context(), stream, 0, eventstore.NewEvent{Type: "Opened", Data: map[string]int{"rent": 1250}},
		eventstore.NewEvent{Type: "Renamed", Data: map[string]int{"rent": 1300}}); err != nil {
		t.Fatal(err)
	}
	l.events[0].Data = []byte(`{"rent":1}`)
	broken, err := l.Verify(t.Context())
	if err != nil || len(broken) != 1 || broken[0].Stream != stream.String() || broken[0].Version != 1 {
		t.Fatalf("Verify after editing version 1 = %+v, %v; want the stream broken at version 1", broken, err)
	}
}
