package readmodel

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
)

// HistoryItem is one event of an entity's history, as GET
// /{collection}/{id}/history answers it and `assetanchor history` prints it.
type HistoryItem struct {
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Version    int64           `json:"version"`
	RecordedAt string          `json:"recorded_at"`
	ActorID    *uuid.UUID      `json:"actor_id"`
	Data       json.RawMessage `json:"data"`
}

// History is a stream's events as history items, without their secrets
// (domain.WithoutSecrets).
func History(events []eventstore.Event) []HistoryItem {
	items := make([]HistoryItem, len(events))
	for i, e := range events {
		items[i] = HistoryItem{
			EventID: e.EventID.String(), Type: e.Type, Version: e.Version,
			RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano), ActorID: e.Metadata.ActorID,
			Data: domain.WithoutSecrets(e.Data),
		}
	}
	return items
}
