package anchor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/assetanchor/assetanchor/eventstore"
)

// ErrNoAnchors means the directory holds no anchor file: there is nothing to
// verify against, which is not a pass.
var ErrNoAnchors = errors.New("no anchor files")

// Verifier checks the log against the anchors of one directory, trusting only
// the public key it is given: never the anchor.pub beside the anchors, which
// whoever could replace the anchors could replace too. Every hash is
// recomputed in Go. It is safe for concurrent use; anchor files, being
// write-once, are read once while unchanged.
type Verifier struct {
	db  DB
	dir string
	pub ed25519.PublicKey

	mu    sync.Mutex
	cache map[string]cachedFile
}

type cachedFile struct {
	size    int64
	modTime time.Time
	l       loaded
}

// NewVerifier checks db against the anchors in dir signed by pub.
func NewVerifier(db DB, dir string, pub ed25519.PublicKey) (*Verifier, error) {
	if db == nil || dir == "" || len(pub) != ed25519.PublicKeySize {
		return nil, errors.New("anchor: NewVerifier needs a database, a directory and an Ed25519 public key")
	}
	return &Verifier{db: db, dir: dir, pub: pub, cache: map[string]cachedFile{}}, nil
}

// Report is the outcome of Verify.
type Report struct {
	Anchors  int    // anchor files read
	Latest   string // the newest anchor file
	Streams  int    // streams in the log
	Events   int64  // events in the log
	Findings []Finding
}

// OK reports whether the log holds everything its anchors signed.
func (r Report) OK() bool {
	for _, f := range r.Findings {
		if f.Fails() {
			return false
		}
	}
	return true
}

// Verify checks every stream of the log, from one snapshot, against its own
// hash chain and against every anchor: a stream whose history up to an anchor
// was changed, removed, truncated or reordered, or that vanished, is a
// finding, even when every hash stored in the database was recomputed to
// match. So are anchor files that are not signed by the trusted key, a broken
// chain of anchors, and anchors newer than the log.
func (v *Verifier) Verify(ctx context.Context) (Report, error) {
	tx, err := snapshot(ctx, v.db)
	if err != nil {
		return Report{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	vw, err := v.view(ctx, tx)
	if err != nil {
		return Report{}, err
	}
	if len(vw.chain) == 0 {
		return Report{}, fmt.Errorf("%w in %s", ErrNoAnchors, v.dir)
	}
	r := Report{Anchors: len(vw.chain), Latest: vw.chain[len(vw.chain)-1].file, Findings: vw.findings}
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events ORDER BY stream_id, version`)
	if err != nil {
		return Report{}, fmt.Errorf("read events: %w", err)
	}
	seen := map[string]bool{}
	err = eachStream(rows, func(stream string, events []stored) error {
		seen[stream] = true
		r.Streams++
		r.Events += int64(len(events))
		r.Findings = append(r.Findings, vw.checkStream(stream, events)...)
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	for _, stream := range vw.streams {
		if !seen[stream] {
			r.Findings = append(r.Findings, vw.checkStream(stream, nil)...)
		}
	}
	return r, nil
}

// StreamIntegrity is one stream's integrity, for the audit console.
type StreamIntegrity struct {
	Stream  string // "<type>-<uuid>"
	Version int64  // the stream's last version in the log; 0 when it has no events
	// Findings are what is wrong with the stream: its hash chain recomputed in
	// Go, and its history against every anchor. Empty when it holds.
	Findings []Finding
	// Anchor is the latest anchor that lists the stream, nil when none does
	// yet. Events after its version are newer than the latest anchor.
	Anchor *AnchorRef
	// AnchorProblems are findings about the anchor files themselves (bad
	// signature, broken chain, newer than the log): they weaken what the
	// anchors say about every stream.
	AnchorProblems []Finding
}

// OK reports whether the stream's history holds: its chain, and every anchor
// that lists it.
func (s StreamIntegrity) OK() bool {
	for _, f := range s.Findings {
		if f.Fails() {
			return false
		}
	}
	return true
}

// AnchorRef is a stream's place in one anchor.
type AnchorRef struct {
	File      string
	Sequence  int64
	CreatedAt time.Time
	Version   int64  // the stream's version the anchor signed
	Hash      string // its hash there, hex
}

// Stream checks one stream, from one snapshot, as Verify does, and returns the
// latest anchor that lists it. This is what the audit console's integrity panel
// shows. Without any anchor yet it still checks the stream's own chain.
func (v *Verifier) Stream(ctx context.Context, id eventstore.StreamID) (StreamIntegrity, error) {
	tx, err := snapshot(ctx, v.db)
	if err != nil {
		return StreamIntegrity{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	vw, err := v.view(ctx, tx)
	if err != nil {
		return StreamIntegrity{}, err
	}
	stream := id.String()
	rows, err := tx.Query(ctx, `SELECT `+eventColumns+` FROM events WHERE stream_id = $1 ORDER BY version`, stream)
	if err != nil {
		return StreamIntegrity{}, fmt.Errorf("read %s: %w", stream, err)
	}
	var events []stored
	err = eachStream(rows, func(_ string, es []stored) error {
		events = append(events, es...)
		return nil
	})
	if err != nil {
		return StreamIntegrity{}, err
	}
	out := StreamIntegrity{Stream: stream, Findings: vw.checkStream(stream, events), AnchorProblems: vw.findings}
	if len(events) > 0 {
		out.Version = events[len(events)-1].Version
	}
	if points := vw.points[stream]; len(points) > 0 {
		p := points[len(points)-1]
		l := vw.chain[p.anchor]
		out.Anchor = &AnchorRef{File: l.file, Sequence: l.anchor.Sequence, CreatedAt: l.anchor.CreatedAt,
			Version: p.version, Hash: fmt.Sprintf("%x", p.hash)}
	}
	return out, nil
}

// load reads the directory's anchor files, from the cache when unchanged.
func (v *Verifier) load() ([]loaded, error) {
	names, err := anchorFiles(v.dir)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	chain := make([]loaded, 0, len(names))
	for _, n := range names {
		info, err := os.Stat(filepath.Join(v.dir, n))
		if err != nil {
			return nil, fmt.Errorf("read anchor: %w", err)
		}
		c, ok := v.cache[n]
		if !ok || c.size != info.Size() || !c.modTime.Equal(info.ModTime()) {
			l, err := loadFile(v.dir, n, v.pub)
			if err != nil {
				return nil, err
			}
			c = cachedFile{size: info.Size(), modTime: info.ModTime(), l: l}
			v.cache[n] = c
		}
		chain = append(chain, c.l)
	}
	return chain, nil
}

// view is the anchors as one snapshot of the log sees them.
type view struct {
	chain    []loaded
	findings []Finding // about the anchor files
	// points are each stream's anchored points, in chain order, from the
	// anchors that are trusted and within the log.
	points  map[string][]anchoredPoint
	streams []string // the keys of points, in the order first anchored
	// latest is the newest anchor that is trusted and within the log; -1 for
	// none. added is set when every anchor from the last full one up to it is
	// too, so that a stream no anchor lists is known to be newer than it.
	latest int
	added  bool
}

type anchoredPoint struct {
	chainPoint
	anchor int // index in chain
}

// view reads the anchors and finds, in the snapshot of tx, which are within the log.
func (v *Verifier) view(ctx context.Context, tx pgx.Tx) (view, error) {
	chain, err := v.load()
	if err != nil {
		return view{}, err
	}
	vw := view{chain: chain, findings: chainFindings(chain), points: map[string][]anchoredPoint{}, latest: -1}
	var heads []string
	for _, l := range chain {
		if l.err == nil && l.anchor.Head != nil {
			heads = append(heads, l.anchor.Head.EventID)
		}
	}
	present := map[string]Head{}
	rows, err := tx.Query(ctx, `SELECT event_id, stream_id, version FROM events WHERE event_id = ANY($1)`, heads)
	if err != nil {
		return view{}, fmt.Errorf("look for the anchors' head events: %w", err)
	}
	for rows.Next() {
		var h Head
		if err := rows.Scan(&h.EventID, &h.Stream, &h.Version); err != nil {
			rows.Close()
			return view{}, fmt.Errorf("look for the anchors' head events: %w", err)
		}
		present[h.EventID] = h
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return view{}, fmt.Errorf("look for the anchors' head events: %w", err)
	}

	usable := make([]bool, len(chain))
	for i, l := range chain {
		if l.err != nil {
			continue
		}
		if h := l.anchor.Head; h != nil {
			if p, ok := present[h.EventID]; !ok || p.Stream != h.Stream || p.Version != h.Version {
				vw.findings = append(vw.findings, Finding{Kind: NewerThanLog, Anchor: l.file,
					Detail: fmt.Sprintf("it covers event %s (stream %s version %d), which this log lacks; "+
						"after a point-in-time restore that is expected, otherwise the newest events were cut", h.EventID, h.Stream, h.Version),
					Acknowledged: restartedAfter(chain[i+1:], l.file)})
				continue
			}
		}
		usable[i] = true
		vw.latest = i
		for _, e := range l.anchor.Streams {
			p, err := pointOf(e)
			if err != nil {
				return view{}, fmt.Errorf("anchor %s: %w", l.file, err)
			}
			if _, ok := vw.points[e.Stream]; !ok {
				vw.streams = append(vw.streams, e.Stream)
			}
			vw.points[e.Stream] = append(vw.points[e.Stream], anchoredPoint{chainPoint: p, anchor: i})
		}
	}
	if vw.latest >= 0 {
		vw.added = true
		for i := vw.latest; i >= 0; i-- {
			if !usable[i] {
				vw.added = false
				break
			}
			if chain[i].anchor.Full {
				break
			}
		}
	}
	return vw, nil
}

// restartedAfter reports whether one of the later anchors started anew after
// file, with --restored.
func restartedAfter(later []loaded, file string) bool {
	for _, l := range later {
		if l.err == nil && l.anchor.RestartedAfter != "" && l.anchor.RestartedAfter >= file {
			return true
		}
	}
	return false
}

// checkStream checks one stream's events (in version order; none when it has
// vanished) against their own chain and every anchored point of the stream.
// For each stream it names the broken link of its chain, if any, and the first
// anchor its history no longer matches.
func (vw view) checkStream(stream string, events []stored) []Finding {
	var out []Finding
	points, broken := walk(chainPoint{}, events)
	if broken != nil {
		out = append(out, *broken)
	}
	index := make(map[int64]int, len(events))
	for i, e := range events {
		index[e.Version] = i
	}
	for _, p := range vw.points[stream] {
		if f := vw.checkPoint(stream, events, points, index, broken, p); f != nil {
			return append(out, *f)
		}
	}
	if len(vw.points[stream]) == 0 && vw.added && len(events) > 0 {
		l := vw.chain[vw.latest]
		if events[0].txid < l.anchor.Horizon {
			out = append(out, Finding{Kind: Added, Stream: stream, Version: events[0].Version, Anchor: l.file,
				Detail: "its events were written before anchor " + l.file + ", which does not list the stream"})
		}
	}
	return out
}

// checkPoint checks the stream's history against one anchored point.
func (vw view) checkPoint(stream string, events []stored, points []chainPoint, index map[int64]int,
	broken *Finding, p anchoredPoint) *Finding {
	l := vw.chain[p.anchor]
	f := &Finding{Stream: stream, Version: p.version, Anchor: l.file}
	if len(events) == 0 {
		f.Kind, f.Version = Vanished, 0
		f.Detail = fmt.Sprintf("the log has no event of it; anchor %s signed its version %d", l.file, p.version)
		return f
	}
	if last := events[len(events)-1].Version; last < p.version {
		f.Kind = Truncated
		f.Detail = fmt.Sprintf("it ends at version %d; anchor %s signed its version %d", last, l.file, p.version)
		return f
	}
	i, ok := index[p.version]
	if !ok {
		f.Kind = Removed
		f.Detail = fmt.Sprintf("version %d, which anchor %s signed, is missing", p.version, l.file)
		return f
	}
	if !bytes.Equal(points[i].hash, p.hash) {
		f.Detail = fmt.Sprintf("its history up to version %d is not what anchor %s signed", p.version, l.file)
		switch {
		case points[i].contents == p.contents:
			f.Kind = Reordered
			f.Detail += ": the same events, in another order"
		case broken != nil && broken.Kind == Removed && broken.Version <= p.version:
			f.Kind = Removed
			f.Detail += fmt.Sprintf(": version %d is missing", broken.Version)
		default:
			f.Kind = Changed
		}
		return f
	}
	for _, e := range events[i+1:] {
		if e.txid < l.anchor.Horizon {
			f.Kind, f.Version = Added, e.Version
			f.Detail = fmt.Sprintf("version %d was written before anchor %s, which signed the stream at version %d",
				e.Version, l.file, p.version)
			return f
		}
	}
	return nil
}
