package anchor

import (
	"crypto/sha256"
	"strconv"
	"time"
)

// Event is what one event's link of the hash chain covers, as stored: Payload and
// Metadata are PostgreSQL's text form of the jsonb values (what jsonb_out gives,
// and what pgx reads from a jsonb column).
type Event struct {
	EventID       string
	StreamID      string // "<type>-<uuid>"
	Version       int64
	Type          string
	SchemaVersion int
	Payload       []byte
	Metadata      []byte
	RecordedAt    time.Time
}

// Hash is the event's link of its stream's chain: byte for byte the SQL function
// event_hash of migrations/000002_event_store.up.sql, which append_events
// stores, recomputed here so that replacing the SQL function hides nothing.
//
//	sha256(prev || concat_ws(0x1f, event_id, stream_id, version, event_type,
//	       schema_version, payload, metadata, recorded_at in UTC to the microsecond))
func Hash(prev []byte, e Event) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(fields(e, true))
	return h.Sum(nil)
}

// timeLayout is to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"').
const timeLayout = "2006-01-02T15:04:05.000000Z"

// fields joins the hashed fields with the unit separator, as concat_ws does; with
// withVersion false it leaves the version out (contentDigest).
func fields(e Event, withVersion bool) []byte {
	b := make([]byte, 0, 128+len(e.Payload)+len(e.Metadata))
	b = append(b, e.EventID...)
	b = append(b, 0x1f)
	b = append(b, e.StreamID...)
	b = append(b, 0x1f)
	if withVersion {
		b = strconv.AppendInt(b, e.Version, 10)
		b = append(b, 0x1f)
	}
	b = append(b, e.Type...)
	b = append(b, 0x1f)
	b = strconv.AppendInt(b, int64(e.SchemaVersion), 10)
	b = append(b, 0x1f)
	b = append(b, e.Payload...)
	b = append(b, 0x1f)
	b = append(b, e.Metadata...)
	b = append(b, 0x1f)
	b = e.RecordedAt.UTC().AppendFormat(b, timeLayout)
	return b
}

// digest is a 256-bit value; contents digests add up modulo 2^256.
type digest [32]byte

// contentDigest is the event's content without its version and predecessor.
// Anchors carry the sum of a stream's content digests beside its hash: when the
// hash no longer matches but the sum does, the same events are there in another
// order (reordered) rather than changed. The sum is a diagnosis, not a proof: the
// hash is what proves.
func contentDigest(e Event) digest {
	return sha256.Sum256(fields(e, false))
}

// add returns d + o modulo 2^256 (both big-endian).
func (d digest) add(o digest) digest {
	var out digest
	carry := 0
	for i := len(d) - 1; i >= 0; i-- {
		s := int(d[i]) + int(o[i]) + carry
		out[i] = byte(s)
		carry = s >> 8
	}
	return out
}
