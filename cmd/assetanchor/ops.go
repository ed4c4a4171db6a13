package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections"
)

// auditCommand is `assetanchor audit verify`: it recomputes every stream's hash
// chain and names each stream and version where the chain breaks.
func auditCommand(ctx context.Context, in invocation) error {
	stdout := in.stdout
	return withApp(ctx, in.cfg, in.stderr, func(_ *app, pool *pgxpool.Pool) error {
		broken, err := eventstore.NewPostgresStore(pool).Verify(ctx)
		if err != nil {
			return err
		}
		for _, b := range broken {
			fmt.Fprintf(stdout, "BROKEN %s version %d: %s\n", b.Stream, b.Version, b.Reason)
		}
		if len(broken) > 0 {
			return fmt.Errorf("the hash chain is broken in %d stream(s)", len(broken))
		}
		fmt.Fprintln(stdout, "every stream's hash chain is intact")
		return nil
	})
}

// projectionsCommand is `assetanchor projections list|status`.
func projectionsCommand(ctx context.Context, in invocation) error {
	stdout := in.stdout
	return withApp(ctx, in.cfg, in.stderr, func(_ *app, pool *pgxpool.Pool) error {
		statuses, err := projections.NewCheckpoints(pool).Statuses(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "PROJECTOR\tCHECKPOINT\tAPPLIED\tLAG (EVENTS)\tLAG (SECONDS)\tSTATE")
		// The read model is written in each append's transaction: never behind.
		fmt.Fprintln(w, "relational\t-\t-\t0\t0.0\tinline (written with each command)")
		for _, s := range statuses {
			fmt.Fprintf(w, "%s\t%d/%d\t%d\t%d\t%.1f\t%s\n", s.Name, s.Checkpoint.TransactionID,
				s.Checkpoint.Position, s.Applied, s.Lag.Events, s.Lag.Seconds, s.State())
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return printRelayStatus(ctx, pool, stdout)
	})
}
