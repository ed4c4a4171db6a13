// Command assetanchor is the Asset Anchor server and its operator tools. It
// wires the packages together (config.go, serve.go) and is the only place that
// may import all of them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var usage usageError
	switch {
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "assetanchor:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "assetanchor:", err)
		os.Exit(1)
	}
}

// run is the whole program; tests call it with their own environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return dispatch(ctx, commandTable(), args, getenv, stdout, stderr)
}

// commandTable is the command line: each command's usage, help, example, flags (in
// its setup) and what it runs. assetanchor --help, each group's help and each
// command's help are generated from it (cli.go); a new command is one entry
// here, and the order here is the order of the help.
func commandTable() []*command {
	return []*command{
		{
			name:    "serve",
			summary: "migrate up, then serve the API with its projectors, the rent schedule and the daily lease expiry",
			help: `Serves on ASSETANCHOR_ADDR until Ctrl-C or SIGTERM, then drains HTTP, stops the
projector at a checkpoint and closes the database. Without DATABASE_URL it runs a
private PostgreSQL cluster under ASSETANCHOR_DATA_DIR. On a database without users
it creates an administrator and prints its password once (or creates
ASSETANCHOR_ADMIN_EMAIL with ASSETANCHOR_ADMIN_PASSWORD). The first start
generates the master key into the data dir unless ASSETANCHOR_MASTER_KEY is set.`,
			example: "ASSETANCHOR_ADDR=0.0.0.0:8080 assetanchor serve",
			setup: noFlags(func(ctx context.Context, in invocation) error {
				return serve(ctx, in.cfg, in.stdout, in.stderr, nil)
			}),
		},
		{
			name:    "migrate up",
			summary: "apply every schema migration not yet applied",
			example: "assetanchor migrate up",
			setup:   noFlags(migrateCommand("up")),
		},
		{
			name:    "migrate down",
			args:    "[N]",
			summary: "undo the last N schema migrations (without N, all of them)",
			example: "assetanchor migrate down 1",
			maxArgs: 1,
			setup:   noFlags(migrateCommand("down")),
		},
		{
			name:    "migrate version",
			summary: "the schema's migration version",
			example: "assetanchor migrate version",
			setup:   noFlags(migrateCommand("version")),
		},
		{
			name:    "users create-admin",
			args:    "--email E --password P",
			summary: "bootstrap an administrator",
			example: "assetanchor users create-admin --email ops@example.com --password 'a long passphrase'",
			setup:   createAdminCommand,
		},
		{
			name:    "leases expire",
			summary: "expire or auto-renew every lease past its end date; idempotent",
			help: `Expires every active lease whose end date is before today (UTC), or renews it
when it has auto_renew; an auto-renewal that would overlap another lease expires
it instead, and says so. serve does this daily.`,
			example: "assetanchor leases expire",
			setup:   noFlags(leasesCommand),
		},
		{
			name:    "rent post",
			args:    "--through DATE",
			summary: "post every rent charge and late fee due up to DATE; idempotent",
			help: `Posts every rent charge due on or before DATE and every late fee whose grace
period ended before it, for every lease, and voids what terminations dropped.
Running it again posts nothing more. serve does this daily through today.`,
			example: "assetanchor rent post --through 2025-03-31",
			setup:   rentCommand,
		},
		{
			name:    "projections list",
			summary: "projectors, their checkpoints and lag",
			example: "assetanchor projections list",
			setup:   noFlags(projectionsCommand),
		},
		{
			name:    "projections status",
			summary: "projectors, their checkpoints and lag (as list)",
			example: "assetanchor projections status",
			setup:   noFlags(projectionsCommand),
		},
		{
			name:    "projections rebuild",
			args:    "NAME|--all",
			summary: "rebuild the read model from the event log into fresh tables and swap them in, API staying up",
			help: `Replays the event log into fresh tables, with progress on stderr, and swaps them
in at a checkpoint; a running serve keeps answering meanwhile. There is one
projector, relational, so NAME and --all rebuild the same.`,
			example: "assetanchor projections rebuild --all",
			maxArgs: 1,
			setup:   rebuildCommand,
		},
		{
			name:    "projections verify",
			summary: "rebuild into scratch tables and compare row by row with the live ones",
			help:    `Exit status 1, naming the first rows that differ, when the live read model is not what a rebuild gives.`,
			example: "assetanchor projections verify",
			setup:   noFlags(verifyCommand),
		},
		{
			name:    "relay retry",
			args:    "EVENT_ID",
			summary: "publish again an event the NATS relay parked, then those held back behind it",
			help: `The relay parks an event that NATS JetStream keeps refusing (too large for the
stream, say) and holds back the later events of its stream; the rest of the log
flows on. projections status lists them. Fix the cause, then retry: the running
relay publishes it within a moment.`,
			example: "assetanchor relay retry 01JQ8Z6V3N4X2M5K7P9R1T3W5Y",
			minArgs: 1, maxArgs: 1,
			setup: noFlags(relayCommand("retry")),
		},
		{
			name:    "relay skip",
			args:    "EVENT_ID",
			summary: "give up publishing an event the NATS relay parked; those held back behind it flow on",
			help:    `The event stays in the log and in relay_parked (as skipped); it is never published.`,
			example: "assetanchor relay skip 01JQ8Z6V3N4X2M5K7P9R1T3W5Y",
			minArgs: 1, maxArgs: 1,
			setup: noFlags(relayCommand("skip")),
		},
		{
			name:    "history",
			args:    "TYPE ID",
			summary: "an entity's events, and with --as-of its state at T",
			help: `TYPE is user, session, property, tenant, lease, transaction,
maintenance_request or document (or the API's collection name); ID is its UUID.
For operators and auditors: no owner isolation; secrets are never shown.`,
			example: "assetanchor history lease 0b6f3c52-6a8e-4f0e-9d1c-3f1c2a7d9e10 --as-of 2025-01-31T12:00:00Z",
			minArgs: 2, maxArgs: 2,
			setup: historyCommand,
		},
		{
			name:    "events export",
			args:    "FILE|-",
			summary: "the event log as NDJSON, for backup (- writes to stdout)",
			help: `Writes the whole event log, with the tenant data keys still wrapped by the master
key, to FILE (mode 0600, written beside it and renamed when complete). See
docs/operations.md for backup and restore.`,
			example: "assetanchor events export backup.ndjson",
			minArgs: 1, maxArgs: 1,
			setup: noFlags(exportCommand),
		},
		{
			name:    "events import",
			args:    "FILE",
			summary: "load an export into an empty store, checking every hash chain",
			help: `Refuses, importing nothing, unless the event store is empty and every stream's
hash chain in FILE holds. The read model starts empty: serve projects the log,
or run assetanchor projections rebuild --all.`,
			example: "assetanchor events import backup.ndjson",
			minArgs: 1, maxArgs: 1,
			setup: noFlags(importCommand),
		},
		{
			name:    "audit verify",
			summary: "check every stream's hash chain; exit 1 naming each broken stream and version",
			help: `Without --anchors, the database recomputes every stream's hash chain. With
--anchors DIR, every hash is recomputed in Go and each stream's history is checked
against every anchor signed in DIR: exit 1 naming each stream changed, removed,
truncated, reordered or vanished since an anchor, even with every stored hash
recomputed to match; each anchor file with a bad signature; and each anchor newer
than this log (restored?). Only the key given with --public-key, or the public
half of the configured anchor key, is trusted: never DIR's anchor.pub.`,
			example: "assetanchor audit verify\nassetanchor audit verify --anchors /mnt/worm/anchors --public-key auditor-copy-of-anchor.pub",
			setup:   auditVerifyCommand,
		},
		{
			name:    "audit anchor",
			summary: "sign every stream's last version and hash with the anchor key (Ed25519) into a new anchor file",
			help: `From one snapshot of the log, signs the last version and hash of every stream
changed since the latest anchor in DIR (every stream for the first), chained to
that anchor, into one JSON file; nothing is written when no stream changed. The
key is ASSETANCHOR_ANCHOR_KEY, else anchor.key in the data dir (generated once,
mode 0600); its public half is written to DIR/anchor.pub. serve anchors every
ASSETANCHOR_ANCHOR_EVERY and when it stops. Copy the anchors where the database's
administrators cannot write (docs/security.md).`,
			example: "assetanchor audit anchor\nassetanchor audit anchor --out /mnt/worm/anchors",
			setup:   anchorCommand,
		},
		{
			name:    "backup create",
			summary: "an online backup of the embedded cluster with pgBackRest, serve still serving; the first is full",
			help: `Sets pgBackRest up if need be (stanza, WAL archiving), copies any document
bytes the archive lacks, and takes a backup into ASSETANCHOR_BACKUP_DIR. serve takes
them on its own schedule too. Embedded cluster only: with DATABASE_URL the
database is the operator's. See docs/operations.md.`,
			example: "assetanchor backup create --full",
			setup:   backupCreateCommand,
		},
		{
			name:    "backup list",
			summary: "each backup's type, start, end and size, and the span point-in-time recovery covers",
			example: "assetanchor backup list",
			setup:   noFlags(backupListCommand),
		},
		{
			name:    "backup restore",
			summary: "with serve stopped: the database as it was at --to (or the latest), its documents and erasures, then verified",
			help: `Saves the current database's last WAL, restores the cluster with pgBackRest to
the moment given (or the latest archived), replays it, erases again every tenant
of the erasure journal, puts back from the archive the document files of that
moment, then runs audit verify and projections verify. serve must be stopped.`,
			example: "assetanchor backup restore --to 2025-03-31T12:00:00Z",
			setup:   backupRestoreCommand,
		},
		{
			name:    "keys rotate",
			summary: "rewrap every tenant data key under a new master key",
			help: `Rewraps every tenant data key in one transaction. With the key file, master.key is
replaced; with ASSETANCHOR_MASTER_KEY, set it to the new key before the next start
(a generated key is printed once). Stop the servers first: a running server keeps
the old key. See docs/security.md.`,
			example: "assetanchor keys rotate",
			setup:   keysCommand,
		},
		{
			name:    "version",
			summary: "the build's version (also assetanchor --version)",
			example: "assetanchor version",
			setup: noFlags(func(_ context.Context, in invocation) error {
				_, err := fmt.Fprintln(in.stdout, versionLine())
				return err
			}),
		},
	}
}
