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
  leases expire                           expire every active lease past its end date; idempotent
  projections list|status                 projectors, their checkpoints and lag
  audit verify                            check every stream's hash chain
  help                                    this text

Configuration (environment): DATABASE_URL, ASSETANCHOR_ADDR, ASSETANCHOR_DATA_DIR,
ASSETANCHOR_ADMIN_EMAIL, ASSETANCHOR_ADMIN_PASSWORD.
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
	case "audit":
		return auditCommand(ctx, cfg, args[1:], stdout, stderr)
	case "projections":
		return projectionsCommand(ctx, cfg, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprint(stderr, usageText)
		return usageError("unknown command " + args[0])
	}
}
