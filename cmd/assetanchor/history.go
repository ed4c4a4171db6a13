package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// historyStreamTypes maps what an operator may type, stream types and the API's
// collection names, to stream types.
var historyStreamTypes = map[string]string{
	"user": domain.UserStreamType, "users": domain.UserStreamType,
	"session": domain.SessionStreamType, "sessions": domain.SessionStreamType,
	"property": domain.PropertyStreamType, "properties": domain.PropertyStreamType,
	"tenant": domain.TenantStreamType, "tenants": domain.TenantStreamType,
	"lease": domain.LeaseStreamType, "leases": domain.LeaseStreamType,
	"transaction": domain.TransactionStreamType, "transactions": domain.TransactionStreamType,
	"maintenance_request": domain.MaintenanceStreamType, "maintenance_requests": domain.MaintenanceStreamType,
	"maintenance-request": domain.MaintenanceStreamType, "maintenance-requests": domain.MaintenanceStreamType,
	"document": "document", "documents": "document",
}

// historyItem is one event as GET /{collection}/{id}/history answers it.
type historyItem struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	RecordedAt string          `json:"recorded_at"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// historyCommand is `assetanchor history TYPE ID [--as-of T] [--json]`: an
// entity's events, and with --as-of its state at T, for operators and auditors
// (no owner isolation).
func historyCommand(fs *flag.FlagSet) runFunc {
	asOfText := fs.String("as-of", "", "also show the entity's state at `T`, an RFC 3339 time such as 2025-01-31T12:00:00Z")
	asJSON := fs.Bool("json", false, "print JSON, as GET /{collection}/{id}/history answers")
	return func(ctx context.Context, in invocation) error {
		var asOf time.Time
		if *asOfText != "" {
			t, err := time.Parse(time.RFC3339Nano, *asOfText)
			if err != nil {
				return usageError("--as-of needs an RFC 3339 time such as 2025-01-31T12:00:00Z, not " + strconv.Quote(*asOfText))
			}
			asOf = t
		}
		streamType, ok := historyStreamTypes[strings.ToLower(in.args[0])]
		if !ok {
			return usageError("unknown entity type " + in.args[0] + "; one of user, session, property, tenant, lease, transaction, maintenance_request, document")
		}
		id, err := uuid.Parse(in.args[1])
		if err != nil {
			return usageError("the entity id must be a UUID, not " + strconv.Quote(in.args[1]))
		}
		return history(ctx, in.cfg, eventstore.StreamID{Type: streamType, ID: id}, asOf, *asJSON, in.stdout, in.stderr)
	}
}

func history(ctx context.Context, cfg config, stream eventstore.StreamID, asOf time.Time, asJSON bool, stdout, stderr io.Writer) error {
	streamType := stream.Type

	return withApp(ctx, cfg, stderr, func(a *app, pool *pgxpool.Pool) error {
		if stalled, err := eventstore.HorizonStalled(ctx, pool); err == nil && stalled {
			fmt.Fprintln(stderr, "warning:", eventstore.ErrHorizonStalled)
		}
		store := eventstore.NewPostgresStore(pool)
		events, err := store.ReadStream(ctx, stream, asOf)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			if !asOf.IsZero() {
				if all, err := store.ReadStream(ctx, stream, time.Time{}); err == nil && len(all) > 0 {
					return fmt.Errorf("no such entity at %s: %s was created at %s", asOf.UTC().Format(time.RFC3339Nano),
						stream, all[0].RecordedAt.Format(time.RFC3339Nano))
				}
			}
			return fmt.Errorf("no such entity: %s", stream)
		}
		items := make([]historyItem, len(events))
		for i, e := range events {
			items[i] = historyItem{EventID: e.EventID.String(), Type: e.Type, Version: e.Version,
				RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano), ActorID: e.Metadata.ActorID,
				Data: domain.WithoutSecrets(e.Data)}
		}
		var state json.RawMessage
		if !asOf.IsZero() {
			if state, err = readmodel.EntityState(ctx, a.queries, streamType, events); err != nil {
				return err
			}
		}
		if asJSON {
			out := map[string]any{"items": items}
			if !asOf.IsZero() {
				out["as_of"] = asOf.UTC().Format(time.RFC3339Nano)
				out["state"] = state
			}
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		return printHistory(stdout, stream, items, asOf, state)
	})
}

func printHistory(w io.Writer, stream eventstore.StreamID, items []historyItem, asOf time.Time, state json.RawMessage) error {
	fmt.Fprintf(w, "%s\n\n", stream)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tRECORDED AT\tTYPE\tACTOR\tDATA")
	for _, it := range items {
		actor := "-"
		if it.ActorID != nil {
			actor = it.ActorID.String()
		}
		var data bytes.Buffer
		if err := json.Compact(&data, it.Data); err != nil {
			data.Reset()
			data.Write(it.Data)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", it.Version, it.RecordedAt, it.Type, actor, data.String())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if asOf.IsZero() {
		return nil
	}
	fmt.Fprintf(w, "\nSTATE AT %s:\n", asOf.UTC().Format(time.RFC3339Nano))
	if state == nil {
		_, err := fmt.Fprintln(w, "  (no read-model row)")
		return err
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, state, "  ", "  "); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "  %s\n", pretty.String())
	return err
}
