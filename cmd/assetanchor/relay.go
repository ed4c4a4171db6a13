package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore/relay"
)

// relayEntry is the command table's entry of `relay retry` or `relay skip`.
func relayEntry(op, summary, help string) *command {
	return &command{name: "relay " + op, args: "EVENT_ID", summary: summary, help: help,
		example: "assetanchor relay " + op + " 01JQ8Z6V3N4X2M5K7P9R1T3W5Y", minArgs: 1, maxArgs: 1,
		setup: noFlags(relayCommand(op))}
}

// relayCommand is `assetanchor relay retry|skip EVENT_ID`: what an operator does
// with an event the NATS relay parked. The running relay (on whichever node
// holds its lease) acts on it within a moment.
func relayCommand(op string) runFunc {
	return func(ctx context.Context, in invocation) error {
		id := in.args[0]
		return withApp(ctx, in.cfg, in.stderr, func(_ *app, pool *pgxpool.Pool) error {
			act, done := relay.Retry, "will be published again, then the events of its stream held back behind it"
			if op == "skip" {
				act, done = relay.Skip, "is skipped (never published); the events of its stream held back behind it will be published"
			}
			if err := act(ctx, pool, id); err != nil {
				if errors.Is(err, relay.ErrNotParked) || errors.Is(err, relay.ErrWaiting) {
					return usageError(err.Error() + "; see assetanchor projections status")
				}
				return err
			}
			fmt.Fprintf(in.stdout, "event %s %s\n", id, done)
			return nil
		})
	}
}

// printRelayStatus adds the relay to projections status: its place, how far
// behind it is, and each event it holds back.
func printRelayStatus(ctx context.Context, pool *pgxpool.Pool, w io.Writer) error {
	s, err := relay.ReadStatus(ctx, pool)
	if err != nil {
		return err
	}
	if !s.Ran && len(s.Parked) == 0 {
		return nil // no relay (ASSETANCHOR_NATS_URL unset) or not started yet
	}
	state := "caught up"
	switch {
	case len(s.Parked) > 0:
		state = fmt.Sprintf("degraded: %d events held back", len(s.Parked))
	case s.Behind > 0:
		state = "behind"
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "nats-relay\t%d/%d\t-\t%d\t-\t%s\n", s.Position.TransactionID, s.Position.Position, s.Behind, state)
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(s.Parked) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nEvents the NATS relay holds back (assetanchor relay retry|skip EVENT_ID):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EVENT\tSTREAM\tSTATE\tATTEMPTS\tSINCE\tLAST ERROR")
	for _, p := range s.Parked {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", p.EventID, p.StreamID, p.State, p.Attempts,
			p.ParkedAt.UTC().Format("2006-01-02T15:04:05Z"), p.LastError)
	}
	return tw.Flush()
}
