package anchor_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/eventstore/anchor"
	"github.com/assetanchor/assetanchor/eventstore/tenantkeys"
	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

// payloads exercise what jsonb's text form normalises or escapes: key order,
// numbers, escapes, non-ASCII text of every width, nesting.
var payloads = []string{
	`{}`,
	`{"b": 1, "a": 2, "aa": [3, 1, 2], "nested": {"z": {}, "y": []}}`,
	`{"name": "Zoë Çelik 🏠", "rtl": "שלום", "cjk": "日本語のテキスト", "combining": "e\u0301", "emoji": "👩‍👩‍👧"}`,
	`{"note": "line\nbreak\ttab \"quoted\" back\\slash / slash", "ctrl": "\u0001\u001f", "escaped": "\u00e9\u4e2d"}`,
	`{"n": 1.50, "big": 123456789012345678901234567890.000, "e": 1e10, "small": 1.5e-7, "neg": -0.0, "int": -42}`,
	`{"t": true, "f": false, "null": null, "empty": "", "space": "  padded  "}`,
	`{"amount": "1500.00", "deep": [[[{"k": [1, {"v": "ü"}]}]]]}`,
}

// events appends varied events to a fresh database: every payload above, sealed
// tenant payloads, and metadata with and without an actor.
func mustVariedLog(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.MustPool(t)
	store := eventstore.NewPostgresStore(pool)
	master := make([]byte, tenantkeys.MasterKeySize)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
	keyring, err := tenantkeys.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	actor := uuid.New()
	mds := []eventstore.Metadata{
		{},
		{ActorID: &actor, IPAddress: "2001:db8::1", UserAgent: "Mozilla/5.0 (Ünïcode; 日本)", CorrelationID: "c-1", Command: "CreateTenant"},
		{IPAddress: "192.0.2.7", UserAgent: "curl/8.0 \"quoted\""},
	}
	for s := 0; s < 12; s++ {
		stream := eventstore.StreamID{Type: "tenant", ID: uuid.New()}
		key, err := keyring.Create(ctx, store, stream.ID)
		if err != nil {
			t.Fatal(err)
		}
		for v := 0; v < len(payloads); v++ {
			raw := json.RawMessage(payloads[(s+v)%len(payloads)])
			if s%2 == 1 {
				personal := json.RawMessage(fmt.Sprintf(`{"first_name": "Zoë %d", "email": "zoë%d@example.com", "phone": "+33 6 12 34 56 78", "rest": %s}`, v, s, raw))
				if raw, err = key.Seal(personal, func(name string) bool { return name != "rest" }); err != nil {
					t.Fatal(err)
				}
			}
			mctx := eventstore.WithMetadata(ctx, mds[(s+v)%len(mds)])
			if _, err := store.Append(mctx, stream, int64(v), eventstore.NewEvent{Type: "TenantÉvénement", SchemaVersion: 1 + v%3, Data: raw}); err != nil {
				t.Fatalf("append %s version %d: %v", stream, v+1, err)
			}
		}
	}
	return pool
}

// The Go hash is the SQL event_hash byte for byte: on every stored event
// (against the hash append_events stored), and on direct calls.
func TestHashMatchesSQLEventHash(t *testing.T) {
	ctx := context.Background()
	pool := mustVariedLog(t)
	rows, err := pool.Query(ctx, `SELECT event_id, stream_id, version, event_type, schema_version, payload, metadata,
		recorded_at, hash, coalesce(lag(hash) OVER w, ''::bytea) FROM events WINDOW w AS (PARTITION BY stream_id ORDER BY version)`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, sealed := 0, 0
	for rows.Next() {
		var (
			e          anchor.Event
			hash, prev []byte
		)
		if err := rows.Scan(&e.EventID, &e.StreamID, &e.Version, &e.Type, &e.SchemaVersion, &e.Payload, &e.Metadata,
			&e.RecordedAt, &hash, &prev); err != nil {
			t.Fatal(err)
		}
		if len(prev) == 0 {
			prev = nil
		}
		if got := anchor.Hash(prev, e); !bytes.Equal(got, hash) {
			t.Errorf("%s version %d: Go hash %x, stored %x (payload %s)", e.StreamID, e.Version, got, hash, e.Payload)
		}
		if tenantkeys.Sealed(e.Payload) {
			sealed++
		}
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 12*len(payloads) || sealed == 0 {
		t.Fatalf("checked %d events (%d sealed), want %d with some sealed", n, sealed, 12*len(payloads))
	}

	// Random documents: keys and strings of any Unicode plane, numbers of any form.
	rng := mrand.New(mrand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		doc := map[string]any{}
		for k := 0; k < 1+rng.IntN(6); k++ {
			switch rng.IntN(4) {
			case 0:
				doc[randomText(rng)] = randomText(rng)
			case 1:
				doc[randomText(rng)] = json.Number(fmt.Sprintf("%d.%03de%d", rng.IntN(2000)-1000, rng.IntN(1000), rng.IntN(40)-20))
			case 2:
				doc[randomText(rng)] = []any{randomText(rng), rng.IntN(2) == 0, nil, map[string]any{randomText(rng): randomText(rng)}}
			default:
				doc[randomText(rng)] = map[string]any{"nested": randomText(rng)}
			}
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		md, err := json.Marshal(map[string]any{"actor_id": nil, "user_agent": randomText(rng), "ip_address": "2001:db8::1"})
		if err != nil {
			t.Fatal(err)
		}
		mustMatchSQL(t, pool, raw[:i%len(raw)], string(raw), string(md), time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)))
	}

	// Direct calls: any previous hash, odd times, each payload as metadata too.
	times := []time.Time{
		time.Date(2025, 3, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1999, 1, 2, 3, 4, 5, 0, time.FixedZone("x", -5*3600)),
		time.Date(2030, 12, 31, 0, 0, 0, 1000, time.UTC),
	}
	for i, p := range payloads {
		prev := []byte(fmt.Sprintf("prev-%d", i))
		if i == 0 {
			prev = nil
		}
		at := times[i%len(times)]
		var (
			sqlHash           []byte
			payload, metadata []byte
			stored            time.Time
		)
		err := pool.QueryRow(ctx, `SELECT event_hash($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9), $7::jsonb, $8::jsonb, $9::timestamptz`,
			prev, "01JQ8Z6V3N4X2M5K7P9R1T3W5Y", "lease-0b6f3c52-6a8e-4f0e-9d1c-3f1c2a7d9e10", int64(i+1)*1000003,
			"Évènement 🏠", i*7, p, payloads[(i+3)%len(payloads)], at).Scan(&sqlHash, &payload, &metadata, &stored)
		if err != nil {
			t.Fatal(err)
		}
		e := anchor.Event{EventID: "01JQ8Z6V3N4X2M5K7P9R1T3W5Y", StreamID: "lease-0b6f3c52-6a8e-4f0e-9d1c-3f1c2a7d9e10",
			Version: int64(i+1) * 1000003, Type: "Évènement 🏠", SchemaVersion: i * 7, Payload: payload, Metadata: metadata, RecordedAt: stored}
		if got := anchor.Hash(prev, e); !bytes.Equal(got, sqlHash) {
			t.Errorf("payload %d: Go hash %x, SQL %x", i, got, sqlHash)
		}
	}
}

// randomText is up to 12 runes drawn from ASCII, Latin, CJK, emoji and the
// control characters jsonb escapes (never NUL, which jsonb refuses).
func randomText(rng *mrand.Rand) string {
	ranges := [][2]rune{{1, 0x7f}, {0x80, 0x24f}, {0x4e00, 0x9fff}, {0x1f300, 0x1faff}, {0x590, 0x5ff}, {0x300, 0x36f}}
	var b strings.Builder
	for n := rng.IntN(13); n > 0; n-- {
		r := ranges[rng.IntN(len(ranges))]
		b.WriteRune(r[0] + rune(rng.IntN(int(r[1]-r[0]+1))))
	}
	return b.String()
}

// mustMatchSQL checks one direct call of the SQL event_hash against Hash.
func mustMatchSQL(t *testing.T, pool *pgxpool.Pool, prev []byte, payload, metadata string, at time.Time) {
	t.Helper()
	var (
		sqlHash []byte
		p, m    []byte
		stored  time.Time
	)
	err := pool.QueryRow(context.Background(), `SELECT event_hash($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9), $7::jsonb, $8::jsonb, $9::timestamptz`,
		prev, "01JQ8Z6V3N4X2M5K7P9R1T3W5Y", "tenant-0b6f3c52-6a8e-4f0e-9d1c-3f1c2a7d9e10", int64(3), "TenantRegistered", 2,
		payload, metadata, at).Scan(&sqlHash, &p, &m, &stored)
	if err != nil {
		t.Fatalf("event_hash of %s: %v", payload, err)
	}
	e := anchor.Event{EventID: "01JQ8Z6V3N4X2M5K7P9R1T3W5Y", StreamID: "tenant-0b6f3c52-6a8e-4f0e-9d1c-3f1c2a7d9e10",
		Version: 3, Type: "TenantRegistered", SchemaVersion: 2, Payload: p, Metadata: m, RecordedAt: stored}
	if got := anchor.Hash(prev, e); !bytes.Equal(got, sqlHash) {
		t.Errorf("payload %s: Go hash %x, SQL %x", p, got, sqlHash)
	}
}
