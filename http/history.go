package http

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

type historyItem struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	RecordedAt string          `json:"recorded_at"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// writeHistory answers an entity's events in order. The caller has checked that
// the viewer may see the entity. Like the other queries, the stream is read
// from the replica where it has replayed the primary's position (RouteRead).
func (s *Server) writeHistory(w http.ResponseWriter, r *http.Request, streamType string, id uuid.UUID) {
	var events []eventstore.Event
	err := s.queries.RouteRead(r.Context(), func(db eventstore.DB) error {
		var err error
		events, err = eventstore.NewPostgresStore(db).ReadStream(r.Context(), eventstore.StreamID{Type: streamType, ID: id}, time.Time{})
		return err
	})
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	items := make([]historyItem, len(events))
	for i, e := range events {
		items[i] = historyItem{
			EventID: e.EventID.String(), Type: e.Type, Version: e.Version,
			RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano), ActorID: e.Metadata.ActorID, Data: domain.WithoutSecrets(e.Data),
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}
