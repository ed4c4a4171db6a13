package anchor

import (
	"fmt"
	"strings"
)

// Kind is what is wrong with a stream or an anchor.
type Kind int

const (
	// Changed: an event's content differs from what its hash, or an anchor, holds.
	Changed Kind = iota + 1
	// Removed: an event inside the stream is missing (its version is skipped).
	Removed
	// Truncated: the stream ends before the version an anchor holds.
	Truncated
	// Reordered: the same events as anchored, in another order.
	Reordered
	// Vanished: an anchored stream has no events left.
	Vanished
	// Added: events that an anchor should list, being below its horizon, but
	// that it does not: written into the past.
	Added
	// NewerThanLog: the anchor covers events this log does not have; after a
	// point-in-time restore that is expected, otherwise the newest events
	// were cut. Acknowledged when a later anchor was made with --restored.
	NewerThanLog
	// BadSignature: the anchor file is not signed by the trusted key.
	BadSignature
	// Unreadable: the anchor file is not an anchor.
	Unreadable
	// ChainBroken: an anchor file is missing, added or replaced.
	ChainBroken
)

var kindNames = map[Kind]string{
	Changed: "changed", Removed: "removed", Truncated: "truncated", Reordered: "reordered",
	Vanished: "vanished", Added: "added", NewerThanLog: "newer than this log (restored?)",
	BadSignature: "bad signature", Unreadable: "unreadable", ChainBroken: "anchor chain broken",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Finding is one thing verification found.
type Finding struct {
	Kind    Kind
	Stream  string // "<type>-<uuid>"; empty for findings about an anchor file
	Version int64  // where it shows; 0 for the whole stream or file
	Anchor  string // the anchor file that shows it; empty for a broken hash chain
	Detail  string
	// Acknowledged marks an anchor newer than the log that a later anchor,
	// made with --restored after a point-in-time restore, started anew from.
	Acknowledged bool
}

// Fails reports whether the finding makes verification fail.
func (f Finding) Fails() bool { return !f.Acknowledged }

func (f Finding) String() string {
	var b strings.Builder
	if f.Stream != "" {
		b.WriteString("stream " + f.Stream + ": ")
	} else if f.Anchor != "" {
		b.WriteString("anchor " + f.Anchor + ": ")
	}
	b.WriteString(f.Kind.String())
	if f.Detail != "" {
		b.WriteString(": " + f.Detail)
	}
	return b.String()
}
