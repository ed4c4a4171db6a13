package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore/durable"
	"github.com/assetanchor/assetanchor/eventstore/transfer"
	"github.com/assetanchor/assetanchor/projections"
)

// exportCommand is `assetanchor events export FILE|-`: the event log as
// NDJSON, for backup (docs/operations.md).
func exportCommand(ctx context.Context, in invocation) error {
	path, stdout, stderr := in.args[0], in.stdout, in.stderr
	if path == "" {
		return usageError("events export needs a file name, or - for stdout")
	}
	return withApp(ctx, in.cfg, stderr, func(_ *app, pool *pgxpool.Pool) error {
		if path == "-" {
			stats, err := transfer.Export(ctx, pool, stdout)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "exported %d events and %d guard rows\n", stats.Events, stats.Rows)
			return nil
		}
		// A failed export never leaves a file that looks complete.
		var stats transfer.TransferStats
		if err := durable.Write(path, 0o600, func(w io.Writer) (err error) {
			stats, err = transfer.Export(ctx, pool, w)
			return err
		}); err != nil {
			return fmt.Errorf("export to %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "exported %d events and %d guard rows to %s\n", stats.Events, stats.Rows, path)
		return nil
	})
}

// importCommand is `assetanchor events import FILE`: an export loaded into an
// empty store, every hash chain checked first.
func importCommand(ctx context.Context, in invocation) error {
	path, stdout, stderr := in.args[0], in.stdout, in.stderr
	if path == "" || path == "-" {
		return usageError("events import needs a file")
	}
	cfg := in.cfg
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open export: %w", err)
	}
	defer f.Close()
	// Over the direct connection: the import stages the file in a temporary
	// table used across transactions, which a pooler in transaction mode loses.
	return withAppOn(ctx, cfg, stderr, true, func(a *app, pool *pgxpool.Pool) error {
		stats, err := transfer.Import(ctx, pool, f)
		if errors.Is(err, transfer.ErrInvalidExport) {
			return fmt.Errorf("refused %s, nothing imported: %w", path, err)
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		fmt.Fprintf(stdout, "imported %d events and %d guard rows from %s; every hash chain holds\n",
			stats.Events, stats.Rows, path)
		if err := projections.ResetConsumers(ctx, pool); err != nil {
			return err
		}
		// The read model is written inline by commands: an imported log has none
		// until it is rebuilt from the log.
		res, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{Keyring: a.keyring})
		if err != nil {
			return fmt.Errorf("rebuild the read model from the imported log (run `assetanchor projections rebuild --all` once fixed): %w", err)
		}
		fmt.Fprintf(stdout, "read model rebuilt from %d events in %s\n", res.Events, res.Elapsed.Round(time.Millisecond))
		return nil
	})
}
