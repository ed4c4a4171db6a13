// Command assetanchor is the Asset Anchor server and its operator tools.
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

// usageError is a mistake in the command line (exit status 2).
type usageError string

func (e usageError) Error() string { return string(e) + " (see assetanchor help)" }

const usageText = `usage: assetanchor COMMAND

  serve                                   migrate up, then serve the API with its projectors
  migrate up|down [N]|version             schema migrations
  users create-admin --email E --password P
                                          bootstrap an administrator
  leases expire                           expire or auto-renew every lease past its end date; idempotent
  rent post --through DATE                post every rent charge and late fee due up to DATE; idempotent
  projections list|status                 projectors, their checkpoints and lag
  projections rebuild NAME|--all          rebuild read models from the event store, API staying up
  projections verify                      rebuild into scratch tables and compare with the live ones
  history TYPE ID [--as-of T] [--json]    an entity's events, and with --as-of its state at T
  events export FILE|-                    the event log as NDJSON (- is stdout), for backup
  events import FILE                      load an export into an empty store, checking every hash chain
  audit verify                            check every stream's hash chain
  keys rotate [--new-key BASE64]          rewrap every tenant data key under a new master key
  help                                    this text

Configuration (environment): DATABASE_URL, ASSETANCHOR_ADDR, ASSETANCHOR_DATA_DIR,
ASSETANCHOR_ADMIN_EMAIL, ASSETANCHOR_ADMIN_PASSWORD, ASSETANCHOR_MASTER_KEY,
ASSETANCHOR_MAX_UPLOAD_BYTES, ASSETANCHOR_UPLOAD_TYPES, ASSETANCHOR_REQUEST_TIMEOUT.
`

// run is the whole program; tests call it with their own environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return usageError("missing command")
	}
	cfg := loadConfig(getenv)
	switch args[0] {
	case "serve":
		return serve(ctx, cfg, stdout, stderr, nil)
	case "migrate":
		return migrateCommand(ctx, cfg, args[1:], stdout, stderr)
	case "users":
		return usersCommand(ctx, cfg, args[1:], stdout, stderr)
	case "leases":
		return leasesCommand(ctx, cfg, args[1:], stdout, stderr)
	case "rent":
		return rentCommand(ctx, cfg, args[1:], stdout, stderr)
	case "audit":
		return auditCommand(ctx, cfg, args[1:], stdout, stderr)
	case "keys":
		return keysCommand(ctx, cfg, args[1:], stdout, stderr)
	case "projections":
		return projectionToolsCommand(ctx, cfg, args[1:], stdout, stderr)
	case "history":
		return historyCommand(ctx, cfg, args[1:], stdout, stderr)
	case "events":
		return eventsCommand(ctx, cfg, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return usageError("unknown command " + args[0])
	}
}
