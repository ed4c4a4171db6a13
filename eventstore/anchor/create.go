package anchor

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/assetanchor/assetanchor/eventstore/durable"
	"github.com/jackc/pgx/v5"
)

var (
	// ErrOtherKey means the directory's anchors are signed by another key: after
	// a key rotation, anchors go into a new directory (docs/security.md).
	ErrOtherKey = errors.New("the directory holds the anchors of another key")
	// ErrNewerThanLog means the latest anchor covers events this log does not
	// have: after a point-in-time restore, anchor again with Restart.
	ErrNewerThanLog = errors.New("the latest anchor is newer than this log (restored?)")
	// ErrTampered means the log no longer holds what the anchors or its own
	// hashes say: nothing is signed over it.
	ErrTampered = errors.New("the log does not match its anchors or its hashes")
)

// Anchorer writes anchors into one directory with one key. Anchor calls on one
// directory are serialised by a lock file there, across processes.
type Anchorer struct {
	db  DB
	dir string
	key ed25519.PrivateKey
	now func() time.Time
}

// NewAnchorer anchors the log of db into dir with key.
func NewAnchorer(db DB, dir string, key ed25519.PrivateKey) (*Anchorer, error) {
	if db == nil || dir == "" || len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("anchor: NewAnchorer needs a database, a directory and an Ed25519 key")
	}
	return &Anchorer{db: db, dir: dir, key: key, now: time.Now}, nil
}

// Result is what one Anchor call did.
type Result struct {
	// File is the anchor written, or the latest one when nothing changed.
	File string
	// Written is false when no stream changed since the latest anchor: that
	// anchor still vouches for the whole log, and no file is added.
	Written bool
	Anchor  Anchor
}

// Anchor signs the state of the log, from one snapshot, into a new file: every
// stream for the directory's first anchor, otherwise the streams changed since
// the latest one. With restart, after a point-in-time restore left the latest
// anchor newer than the log, it starts anew with a full anchor that says so;
// without it that case is ErrNewerThanLog, for a log cut after its last anchor
// looks the same. A log that no longer matches the anchors or its own hashes is
// ErrTampered, and nothing is written.
func (a *Anchorer) Anchor(ctx context.Context, restart bool) (Result, error) {
	if err := os.MkdirAll(a.dir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create anchor directory: %w", err)
	}
	unlock, err := lockDir(a.dir)
	if err != nil {
		return Result{}, err
	}
	defer unlock()
	pub := a.key.Public().(ed25519.PublicKey)
	if err := a.writePublicKey(pub); err != nil {
		return Result{}, err
	}
	names, err := anchorFiles(a.dir)
	if err != nil {
		return Result{}, err
	}
	chain := make([]loaded, 0, len(names))
	for _, n := range names {
		l, err := loadFile(a.dir, n, pub)
		if err != nil {
			return Result{}, err
		}
		chain = append(chain, l)
	}
	if findings := chainFindings(chain); len(findings) > 0 {
		return Result{}, fmt.Errorf("the anchors in %s do not verify, so none is added (%s): run assetanchor audit verify --anchors",
			a.dir, findings[0])
	}

	tx, err := snapshot(ctx, a.db)
	if err != nil {
		return Result{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	next := Anchor{Format: Format, Sequence: int64(len(chain)) + 1, CreatedAt: a.now().UTC().Truncate(time.Microsecond)}
	if next.Horizon, next.Head, err = horizon(ctx, tx); err != nil {
		return Result{}, err
	}
	state := map[string]chainPoint{}
	var prev *loaded
	if len(chain) > 0 {
		prev = &chain[len(chain)-1]
		next.Previous = &Link{File: prev.file, SHA256: prev.sum}
		within, err := withinLog(ctx, tx, prev.anchor.Head)
		if err != nil {
			return Result{}, err
		}
		switch {
		case !within && !restart:
			return Result{}, fmt.Errorf("%w: %s covers event %s, which this log lacks; after a point-in-time restore, "+
				"run assetanchor audit anchor --restored to start anew, otherwise the newest events were cut",
				ErrNewerThanLog, prev.file, prev.anchor.Head.EventID)
		case within && restart:
			return Result{}, fmt.Errorf("the latest anchor %s is not newer than this log: there is nothing to restart from", prev.file)
		case !within:
			next.Full, next.RestartedAfter = true, prev.file
		case next.Horizon < prev.anchor.Horizon:
			return Result{}, fmt.Errorf("the log's horizon %d is behind the latest anchor's (%d)", next.Horizon, prev.anchor.Horizon)
		default:
			if state, err = anchoredState(chain); err != nil {
				return Result{}, err
			}
		}
	} else {
		next.Full = true
	}

	if next.Streams, err = a.changedStreams(ctx, tx, next, prev, state); err != nil {
		return Result{}, err
	}
	if !next.Full && len(next.Streams) == 0 {
		return Result{File: prev.file, Anchor: prev.anchor}, nil
	}
	if err := tx.Rollback(ctx); err != nil {
		return Result{}, fmt.Errorf("end snapshot: %w", err)
	}
	raw, err := encode(next, a.key)
	if err != nil {
		return Result{}, err
	}
	name := FileName(next)
	if err := writeFile(a.dir, name, raw); err != nil {
		return Result{}, err
	}
	return Result{File: name, Written: true, Anchor: next}, nil
}

// changedStreams recomputes, in Go, the chain of every stream with events
// between the previous anchor's horizon and next's (all streams for a full
// anchor), on from its anchored state, and returns its entry.
func (a *Anchorer) changedStreams(ctx context.Context, tx pgx.Tx, next Anchor, prev *loaded, state map[string]chainPoint) ([]Entry, error) {
	q := `SELECT ` + eventColumns + ` FROM events WHERE transaction_id < $1::text::xid8`
	args := []any{strconv.FormatUint(next.Horizon, 10)}
	if !next.Full {
		q += ` AND transaction_id >= $2::text::xid8`
		args = append(args, strconv.FormatUint(prev.anchor.Horizon, 10))
	}
	rows, err := tx.Query(ctx, q+` ORDER BY stream_id, version`, args...)
	if err != nil {
		return nil, fmt.Errorf("read events to anchor: %w", err)
	}
	entries := []Entry{}
	var starts []string // streams continuing from an anchored version
	err = eachStream(rows, func(stream string, events []stored) error {
		start := state[stream]
		points, broken := walk(start, events)
		if broken != nil {
			return fmt.Errorf("%w: %s; run assetanchor audit verify --anchors", ErrTampered, broken)
		}
		if start.version > 0 {
			starts = append(starts, stream)
		}
		entries = append(entries, points[len(points)-1].entry(stream))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := checkStarts(ctx, tx, starts, state); err != nil {
		return nil, err
	}
	return entries, nil
}

// checkStarts makes sure each stream still has, at its anchored version, the
// hash the anchors hold, so that new events continue the anchored history.
func checkStarts(ctx context.Context, tx pgx.Tx, streams []string, state map[string]chainPoint) error {
	if len(streams) == 0 {
		return nil
	}
	versions := make([]int64, len(streams))
	for i, s := range streams {
		versions[i] = state[s].version
	}
	rows, err := tx.Query(ctx, `SELECT a.stream_id, e.hash FROM unnest($1::text[], $2::bigint[]) AS a(stream_id, version)
		LEFT JOIN events e ON e.stream_id = a.stream_id AND e.version = a.version`, streams, versions)
	if err != nil {
		return fmt.Errorf("read anchored versions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			stream string
			hash   []byte
		)
		if err := rows.Scan(&stream, &hash); err != nil {
			return fmt.Errorf("read anchored versions: %w", err)
		}
		if p := state[stream]; !bytes.Equal(hash, p.hash) {
			return fmt.Errorf("%w: stream %s no longer has at version %d the hash anchored; run assetanchor audit verify --anchors",
				ErrTampered, stream, p.version)
		}
	}
	return rows.Err()
}

// horizon reads the snapshot's transaction-id horizon and the last event below it.
func horizon(ctx context.Context, tx pgx.Tx) (uint64, *Head, error) {
	var text string
	if err := tx.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot())::text`).Scan(&text); err != nil {
		return 0, nil, fmt.Errorf("read horizon: %w", err)
	}
	h, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("read horizon %q: %w", text, err)
	}
	var head Head
	err = tx.QueryRow(ctx, `SELECT event_id, stream_id, version, transaction_id, position FROM events
		WHERE transaction_id < $1::text::xid8 ORDER BY transaction_id DESC, position DESC LIMIT 1`, text).
		Scan(&head.EventID, &head.Stream, &head.Version, &head.TransactionID, &head.Position)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read the log's head: %w", err)
	}
	return h, &head, nil
}

// withinLog reports whether the log holds the anchor's head event where the
// anchor saw it. An anchor of an empty log is within any log.
func withinLog(ctx context.Context, tx pgx.Tx, head *Head) (bool, error) {
	if head == nil {
		return true, nil
	}
	var found bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE event_id = $1 AND stream_id = $2 AND version = $3)`,
		head.EventID, head.Stream, head.Version).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("look for an anchor's head event: %w", err)
	}
	return found, nil
}

// anchoredState is each stream's latest anchored point, from the last full
// anchor on.
func anchoredState(chain []loaded) (map[string]chainPoint, error) {
	from := 0
	for i, l := range chain {
		if l.anchor.Full {
			from = i
		}
	}
	state := map[string]chainPoint{}
	for _, l := range chain[from:] {
		for _, e := range l.anchor.Streams {
			p, err := pointOf(e)
			if err != nil {
				return nil, fmt.Errorf("anchor %s: %w", l.file, err)
			}
			state[e.Stream] = p
		}
	}
	return state, nil
}

// writePublicKey writes the public key beside the anchors, or checks the one there.
func (a *Anchorer) writePublicKey(pub ed25519.PublicKey) error {
	path := filepath.Join(a.dir, PublicKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return writeFile(a.dir, PublicKeyFile, EncodePublicKey(pub))
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	there, err := ParsePublicKey(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !there.Equal(pub) {
		return fmt.Errorf("%w (%s is key %s, the anchor key is %s): after rotating the key, anchor into a new directory",
			ErrOtherKey, path, KeyID(there), KeyID(pub))
	}
	return nil
}

// writeFile writes name in dir whole or not at all; an existing file is never
// replaced.
func writeFile(dir, name string, data []byte) error {
	return durable.WriteNew(filepath.Join(dir, name), 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// lockDir takes the directory's lock file, waiting for another anchorer.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock anchor directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock anchor directory: %w", err)
	}
	return func() { f.Close() }, nil
}
