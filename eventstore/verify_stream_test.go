package eventstore_test

import (
	"testing"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// VerifyStream answers the same first broken link as Verify for the stream it is
// asked about, and nothing for an intact or empty one.
func TestVerifyStream(t *testing.T) {
	ctx := MustContext(t)
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	s, tt := MustChainFixture(t, ctx, store)
	for _, id := range []eventstore.StreamID{s, tt, newStream("property")} {
		if got, err := store.VerifyStream(ctx, id); err != nil || got != nil {
			t.Fatalf("VerifyStream(%s) on untouched history = %+v, %v; want nil, nil", id, got, err)
		}
	}
	replica := MustReplicaConn(t, ctx, pool)
	MustExecOne(t, ctx, replica, `UPDATE events SET payload = '{"x":"edited"}' WHERE stream_id = $1 AND version = 2`, s.String())
	got, err := store.VerifyStream(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	MustBrokenLinks(t, []eventstore.BrokenLink{*got}, []eventstore.BrokenLink{{Stream: s.String(), Version: 2, Reason: "hash mismatch"}})
	if got, err := store.VerifyStream(ctx, tt); err != nil || got != nil {
		t.Errorf("VerifyStream(other stream) = %+v, %v; want nil, nil", got, err)
	}
}
