package http

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// writeHistory answers an entity's events in order. The caller has checked that
// the viewer may see the entity. Like the other queries, the stream is read
// from the replica where it has replayed the primary's position (RouteRead).
func (s *Server) writeHistory(w http.ResponseWriter, r *http.Request, streamType string, id uuid.UUID) {
	events, err := s.readStream(r.Context(), eventstore.StreamID{Type: streamType, ID: id})
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": readmodel.History(events)})
}

// readStream reads a whole stream, from the replica where it has replayed the
// primary's position (RouteRead).
func (s *Server) readStream(ctx context.Context, stream eventstore.StreamID) ([]eventstore.Event, error) {
	var events []eventstore.Event
	err := s.queries.RouteRead(ctx, func(db eventstore.DB) error {
		var err error
		events, err = eventstore.NewPostgresStore(db).ReadStream(ctx, stream, time.Time{})
		return err
	})
	return events, err
}
