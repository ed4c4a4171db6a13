// Package anchor signs the state of the event log so that nobody with write
// access to the database alone can rewrite history unnoticed, and checks the log
// against those signatures (docs/security.md, "Signed anchors").
//
// An anchor is one JSON file: from one snapshot of the log, each changed stream's
// last version and hash (recomputed here in Go, never by the database's
// functions), chained to the previous anchor by that file's SHA-256 and signed
// with an Ed25519 key kept outside the database. Verifier recomputes every chain
// in Go and names each stream whose anchored history was changed, removed,
// truncated or reordered.
//
// It reads the events table itself; it must not import commands, http,
// projections or domain.
package anchor
