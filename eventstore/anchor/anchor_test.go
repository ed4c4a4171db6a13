package anchor_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/anchor"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

func MustKey(tb testing.TB) ed25519.PrivateKey {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// MustAppend appends n events to stream, after version from.
func MustAppend(tb testing.TB, store eventstore.Store, stream eventstore.StreamID, from, n int) {
	tb.Helper()
	for v := from; v < from+n; v++ {
		_, err := store.Append(context.Background(), stream, int64(v), eventstore.NewEvent{Type: "Happened", SchemaVersion: 1,
			Data: map[string]any{"n": v + 1, "note": fmt.Sprintf("event %d of %s", v+1, stream.ID)}})
		if err != nil {
			tb.Fatalf("append %s version %d: %v", stream, v+1, err)
		}
	}
}

// MustAnchor anchors the whole log: it waits first until every event lies
// below the horizon, which an anchor covers.
func MustAnchor(tb testing.TB, pool *pgxpool.Pool, dir string, key ed25519.PrivateKey, restart bool) anchor.Result {
	tb.Helper()
	dbtest.MustReachHorizon(tb, pool)
	a, err := anchor.NewAnchorer(pool, dir, key)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := a.Anchor(context.Background(), restart)
	if err != nil {
		tb.Fatalf("anchor: %v", err)
	}
	return r
}

func MustVerify(tb testing.TB, pool *pgxpool.Pool, dir string, pub ed25519.PublicKey) anchor.Report {
	tb.Helper()
	v, err := anchor.NewVerifier(pool, dir, pub)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := v.Verify(context.Background())
	if err != nil {
		tb.Fatalf("verify: %v", err)
	}
	return r
}

// MustTamper runs sql as a superuser who has switched off the triggers that
// keep the events table append-only.
func MustTamper(tb testing.TB, pool *pgxpool.Pool, sql string) {
	tb.Helper()
	ctx := context.Background()
	for _, q := range []string{`ALTER TABLE events DISABLE TRIGGER USER`, sql, `ALTER TABLE events ENABLE TRIGGER USER`} {
		if _, err := pool.Exec(ctx, q); err != nil {
			tb.Fatalf("tamper: %s: %v", q, err)
		}
	}
}

// recomputeChain rewrites every stored hash of stream with the SQL event_hash
// (whatever it is by then), as an attacker covering their tracks would.
func recomputeChain(stream string) string {
	return `DO $$ DECLARE r record; h bytea := NULL; BEGIN
		FOR r IN SELECT * FROM events WHERE stream_id = '` + stream + `' ORDER BY version LOOP
			h := event_hash(h, r.event_id, r.stream_id, r.version, r.event_type, r.schema_version, r.payload, r.metadata, r.recorded_at);
			UPDATE events SET hash = h WHERE position = r.position;
		END LOOP; END $$`
}

// MustPlainVerifyPasses asserts that the database's own check sees nothing.
func MustPlainVerifyPasses(tb testing.TB, pool *pgxpool.Pool) {
	tb.Helper()
	broken, err := eventstore.NewPostgresStore(pool).Verify(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	if len(broken) > 0 {
		tb.Fatalf("plain verify found %v; the tampering was meant to pass it", broken)
	}
}

type scene struct {
	pool    *pgxpool.Pool
	store   *eventstore.PostgresStore
	dir     string
	key     ed25519.PrivateKey
	streams []eventstore.StreamID // 4 versions each
}

// mustScene is a log of three streams of four events, anchored.
func mustScene(t *testing.T) scene {
	t.Helper()
	pool := dbtest.MustPool(t)
	s := scene{pool: pool, store: eventstore.NewPostgresStore(pool), dir: t.TempDir(), key: MustKey(t)}
	for i := 0; i < 3; i++ {
		id := eventstore.StreamID{Type: "lease", ID: uuid.New()}
		MustAppend(t, s.store, id, 0, 4)
		s.streams = append(s.streams, id)
	}
	if r := MustAnchor(t, pool, s.dir, s.key, false); !r.Written || len(r.Anchor.Streams) != 3 || !r.Anchor.Full {
		t.Fatalf("first anchor = %+v, want a full anchor of 3 streams", r)
	}
	return s
}

func (s scene) pub() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// failing returns the failing findings of a report.
func failing(r anchor.Report) []anchor.Finding {
	var out []anchor.Finding
	for _, f := range r.Findings {
		if f.Fails() {
			out = append(out, f)
		}
	}
	return out
}

func TestAnchorsOfAnUntouchedLogVerify(t *testing.T) {
	s := mustScene(t)
	if r := MustVerify(t, s.pool, s.dir, s.pub()); !r.OK() || len(r.Findings) != 0 || r.Streams != 3 || r.Events != 12 {
		t.Fatalf("verify = %+v, want OK with 3 streams, 12 events, no finding", r)
	}
	if r := MustAnchor(t, s.pool, s.dir, s.key, false); r.Written {
		t.Fatalf("anchor without change wrote %s, want nothing written", r.File)
	}
	MustAppend(t, s.store, s.streams[1], 4, 2)
	fresh := eventstore.StreamID{Type: "tenant", ID: uuid.New()}
	MustAppend(t, s.store, fresh, 0, 1)
	second := MustAnchor(t, s.pool, s.dir, s.key, false)
	if !second.Written || second.Anchor.Full || second.Anchor.Sequence != 2 || len(second.Anchor.Streams) != 2 {
		t.Fatalf("second anchor = %+v, want a delta anchor 2 of the 2 changed streams", second.Anchor)
	}
	for _, e := range second.Anchor.Streams {
		if e.Stream == s.streams[1].String() && e.Version != 6 {
			t.Errorf("second anchor holds %s at version %d, want 6", e.Stream, e.Version)
		}
	}
	MustAppend(t, s.store, s.streams[2], 4, 1) // newer than every anchor: not a finding
	r := MustVerify(t, s.pool, s.dir, s.pub())
	if !r.OK() || len(r.Findings) != 0 || r.Anchors != 2 || r.Latest != second.File {
		t.Fatalf("verify = %+v, want OK over 2 anchors, the latest %s", r, second.File)
	}
	pub, err := os.ReadFile(filepath.Join(s.dir, anchor.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := anchor.ParsePublicKey(pub); err != nil || !got.Equal(s.pub()) {
		t.Fatalf("anchor.pub = %v (%v), want the anchor key's public half", got, err)
	}

	v, err := anchor.NewVerifier(s.pool, s.dir, s.pub())
	if err != nil {
		t.Fatal(err)
	}
	in, err := v.Stream(context.Background(), s.streams[1])
	if err != nil {
		t.Fatal(err)
	}
	if !in.OK() || in.Version != 6 || in.Anchor == nil || in.Anchor.File != second.File || in.Anchor.Version != 6 {
		t.Fatalf("Stream = %+v, want OK at version 6, anchored in %s", in, second.File)
	}
}

// Each tampering passes the database's own check, or would after the attacker
// recomputed the hashes in SQL; the anchors catch it and name the stream.
func TestVerifyNamesTheTamperedStream(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, s scene, stream string)
		want   anchor.Kind
		// everyChain: every stored hash was rewritten by a replaced SQL
		// function, which the Go recomputation sees in every stream.
		everyChain bool
	}{
		{"an event edited, its chain recomputed in SQL", func(t *testing.T, s scene, stream string) {
			MustTamper(t, s.pool, `UPDATE events SET payload = '{"n": 2, "note": "forged"}' WHERE stream_id = '`+stream+`' AND version = 2`)
			MustTamper(t, s.pool, recomputeChain(stream))
		}, anchor.Changed, false},
		{"an event edited, the SQL hash function replaced and the chain recomputed", func(t *testing.T, s scene, stream string) {
			MustTamper(t, s.pool, `UPDATE events SET payload = '{"n": 2, "note": "forged"}' WHERE stream_id = '`+stream+`' AND version = 2`)
			MustTamper(t, s.pool, `CREATE OR REPLACE FUNCTION event_hash(prev BYTEA, event_id TEXT, stream_id TEXT, version BIGINT,
				event_type TEXT, schema_version INTEGER, payload JSONB, metadata JSONB, recorded_at TIMESTAMPTZ) RETURNS BYTEA
				LANGUAGE sql STABLE AS $$ SELECT sha256(coalesce(prev, ''::bytea) || convert_to(event_id || version::text, 'UTF8')) $$`)
			for _, id := range s.streams { // every chain, so that the replaced function verifies them all
				MustTamper(t, s.pool, recomputeChain(id.String()))
			}
		}, anchor.Changed, true},
		{"the stream's newest event deleted", func(t *testing.T, s scene, stream string) {
			MustTamper(t, s.pool, `DELETE FROM events WHERE stream_id = '`+stream+`' AND version = 4`)
		}, anchor.Truncated, false},
		{"the whole stream deleted", func(t *testing.T, s scene, stream string) {
			MustTamper(t, s.pool, `DELETE FROM events WHERE stream_id = '`+stream+`'`)
		}, anchor.Vanished, false},
		{"two events swapped, the chain recomputed in SQL", func(t *testing.T, s scene, stream string) {
			where := ` WHERE stream_id = '` + stream + `' AND version = `
			MustTamper(t, s.pool, `UPDATE events SET version = 1000`+where+`2`)
			MustTamper(t, s.pool, `UPDATE events SET version = 2`+where+`3`)
			MustTamper(t, s.pool, `UPDATE events SET version = 3`+where+`1000`)
			MustTamper(t, s.pool, recomputeChain(stream))
		}, anchor.Reordered, false},
		{"an event inside the stream deleted, the chain recomputed in SQL", func(t *testing.T, s scene, stream string) {
			MustTamper(t, s.pool, `DELETE FROM events WHERE stream_id = '`+stream+`' AND version = 2`)
			MustTamper(t, s.pool, recomputeChain(stream))
		}, anchor.Removed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mustScene(t)
			victim := s.streams[1].String()
			tc.tamper(t, s, victim)
			if tc.want != anchor.Removed { // a version gap is what plain verify does see
				MustPlainVerifyPasses(t, s.pool)
			}
			r := MustVerify(t, s.pool, s.dir, s.pub())
			if r.OK() {
				t.Fatalf("verify --anchors = OK, want a failure naming %s", victim)
			}
			var kinds []anchor.Kind
			for _, f := range failing(r) {
				if f.Stream != victim && (f.Anchor != "" || !tc.everyChain) {
					t.Errorf("finding %s names another stream than %s", f, victim)
				}
				if f.Anchor != "" {
					kinds = append(kinds, f.Kind)
				}
			}
			if len(kinds) != 1 || kinds[0] != tc.want {
				t.Fatalf("anchor findings %v, want one %s: %v", kinds, tc.want, r.Findings)
			}

			v, err := anchor.NewVerifier(s.pool, s.dir, s.pub())
			if err != nil {
				t.Fatal(err)
			}
			in, err := v.Stream(context.Background(), s.streams[1])
			if err != nil {
				t.Fatal(err)
			}
			if in.OK() || in.Findings[len(in.Findings)-1].Kind != tc.want {
				t.Fatalf("Stream = %+v, want a %s finding", in, tc.want)
			}
			if other, err := v.Stream(context.Background(), s.streams[0]); err != nil || other.OK() == tc.everyChain {
				t.Fatalf("Stream of an untouched stream = %+v, %v; want OK unless every chain was rewritten", other, err)
			}
		})
	}
}

func TestVerifyReportsABadSignature(t *testing.T) {
	s := mustScene(t)
	r := MustAnchor(t, s.pool, s.dir, s.key, false) // nothing new: the first anchor
	names, _ := filepath.Glob(filepath.Join(s.dir, "anchor-*.json"))
	if len(names) != 1 || r.Written {
		t.Fatalf("anchor files %v, want one", names)
	}
	raw, err := os.ReadFile(names[0])
	if err != nil {
		t.Fatal(err)
	}
	// Someone moves a stream's anchored version back, as if it had been shorter.
	forged := strings.Replace(string(raw), `"version": 4`, `"version": 3`, 1)
	if forged == string(raw) {
		t.Fatal("no version to forge in the anchor file")
	}
	if err := os.WriteFile(names[0], []byte(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := MustVerify(t, s.pool, s.dir, s.pub())
	f := failing(rep)
	if len(f) != 1 || f[0].Kind != anchor.BadSignature || f[0].Anchor != filepath.Base(names[0]) ||
		!strings.Contains(f[0].Detail, "signature does not match") {
		t.Fatalf("findings %v, want one bad signature of %s", rep.Findings, filepath.Base(names[0]))
	}
}

func TestVerifyTrustsOnlyTheGivenKey(t *testing.T) {
	s := mustScene(t)
	other := MustKey(t)
	// Whoever replaced anchor.pub beside the anchors changes nothing.
	if err := os.WriteFile(filepath.Join(s.dir, anchor.PublicKeyFile), anchor.EncodePublicKey(other.Public().(ed25519.PublicKey)), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := MustVerify(t, s.pool, s.dir, other.Public().(ed25519.PublicKey))
	f := failing(rep)
	if len(f) != 1 || f[0].Kind != anchor.BadSignature || !strings.Contains(f[0].Detail, "not the trusted key") {
		t.Fatalf("findings %v, want a bad signature: signed by another key", rep.Findings)
	}
}

// After a point-in-time restore the log lacks what the latest anchor covers:
// reported as newer than the log, not as tampering; anchoring refuses until
// told the restore happened, and then starts anew.
func TestAnchorsNewerThanTheLog(t *testing.T) {
	s := mustScene(t)
	var horizon uint64
	if err := s.pool.QueryRow(context.Background(), `SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric`).Scan(&horizon); err != nil {
		t.Fatal(err)
	}
	MustAppend(t, s.store, s.streams[0], 4, 2)
	MustAppend(t, s.store, eventstore.StreamID{Type: "tenant", ID: uuid.New()}, 0, 2)
	newer := MustAnchor(t, s.pool, s.dir, s.key, false)
	// The restore: every event written after the first anchor is gone.
	MustTamper(t, s.pool, fmt.Sprintf(`DELETE FROM events WHERE transaction_id >= '%d'::xid8`, horizon))

	rep := MustVerify(t, s.pool, s.dir, s.pub())
	f := failing(rep)
	if len(f) != 1 || f[0].Kind != anchor.NewerThanLog || f[0].Anchor != newer.File || f[0].Stream != "" ||
		!strings.Contains(f[0].String(), "newer than this log (restored?)") {
		t.Fatalf("findings %v, want only %s newer than this log", rep.Findings, newer.File)
	}

	a, err := anchor.NewAnchorer(s.pool, s.dir, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Anchor(context.Background(), false); !errors.Is(err, anchor.ErrNewerThanLog) {
		t.Fatalf("anchor after the restore: %v, want ErrNewerThanLog", err)
	}
	restarted := MustAnchor(t, s.pool, s.dir, s.key, true)
	if !restarted.Written || !restarted.Anchor.Full || restarted.Anchor.RestartedAfter != newer.File {
		t.Fatalf("anchor --restored = %+v, want a full anchor restarted after %s", restarted.Anchor, newer.File)
	}
	rep = MustVerify(t, s.pool, s.dir, s.pub())
	if !rep.OK() || len(rep.Findings) != 1 || !rep.Findings[0].Acknowledged {
		t.Fatalf("verify after the restart = %+v, want OK, the newer anchor acknowledged", rep)
	}
}

// A log changed behind an anchor is not anchored over.
func TestAnchorRefusesATamperedLog(t *testing.T) {
	s := mustScene(t)
	stream := s.streams[0] // not the anchor's head event's stream, whose loss reads as a restore
	MustTamper(t, s.pool, `DELETE FROM events WHERE stream_id = '`+stream.String()+`' AND version = 4`)
	MustAppend(t, s.store, stream, 3, 1) // a different fourth event
	dbtest.MustReachHorizon(t, s.pool)
	a, err := anchor.NewAnchorer(s.pool, s.dir, s.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Anchor(context.Background(), false); !errors.Is(err, anchor.ErrTampered) || !strings.Contains(err.Error(), stream.String()) {
		t.Fatalf("anchor = %v, want ErrTampered naming %s", err, stream)
	}
	b, err := anchor.NewAnchorer(s.pool, s.dir, MustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Anchor(context.Background(), false); !errors.Is(err, anchor.ErrOtherKey) {
		t.Fatalf("anchor with another key into the directory: %v, want ErrOtherKey", err)
	}
}

// A stream inserted with an old transaction id sorts below an anchor's horizon,
// where the anchor lists every stream: it was written into the past.
func TestVerifyNamesAStreamWrittenIntoThePast(t *testing.T) {
	s := mustScene(t)
	forged := "lease-" + uuid.NewString()
	const id = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	// No trigger stands in the way of an INSERT: only the anchors see it.
	if _, err := s.pool.Exec(context.Background(), `INSERT INTO events (transaction_id, event_id, stream_id, stream_type,
			version, event_type, schema_version, payload, metadata, recorded_at, hash)
		SELECT '3'::xid8, $1, $2, 'lease', 1, 'Happened', 1, '{}'::jsonb, '{}'::jsonb, t,
		       event_hash(NULL, $1, $2, 1, 'Happened', 1, '{}'::jsonb, '{}'::jsonb, t)
		  FROM (SELECT now() - interval '1 year' AS t) AS past`, id, forged); err != nil {
		t.Fatal(err)
	}
	MustPlainVerifyPasses(t, s.pool)
	f := failing(MustVerify(t, s.pool, s.dir, s.pub()))
	if len(f) != 1 || f[0].Kind != anchor.Added || f[0].Stream != forged {
		t.Fatalf("findings %v, want %s named as added", f, forged)
	}
}

// Before the first anchor, Stream still recomputes the stream's chain in Go;
// Verify refuses to pass against nothing.
func TestStreamWithoutAnchors(t *testing.T) {
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	id := eventstore.StreamID{Type: "lease", ID: uuid.New()}
	MustAppend(t, store, id, 0, 3)
	key := MustKey(t)
	v, err := anchor.NewVerifier(pool, t.TempDir(), key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background()); !errors.Is(err, anchor.ErrNoAnchors) {
		t.Fatalf("Verify without anchors: %v, want ErrNoAnchors", err)
	}
	in, err := v.Stream(context.Background(), id)
	if err != nil || !in.OK() || in.Version != 3 || in.Anchor != nil {
		t.Fatalf("Stream = %+v, %v; want OK at version 3, no anchor", in, err)
	}
	MustTamper(t, pool, `UPDATE events SET payload = '{"n": 1}' WHERE stream_id = '`+id.String()+`' AND version = 1`)
	in, err = v.Stream(context.Background(), id)
	if err != nil || in.OK() || in.Findings[0].Kind != anchor.Changed || in.Findings[0].Version != 1 {
		t.Fatalf("Stream of an edited stream = %+v, %v; want changed at version 1", in, err)
	}
}
