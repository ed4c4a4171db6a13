package http

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/eventstore"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// answerCommand finishes every command handler: on success it reads the entity as
// the caller may see it (the command wrote its rows inline, so they are there) and
// answers it with its ETag; 201 with Location under collection for a create, 200
// otherwise.
func answerCommand[T any](s *Server, w http.ResponseWriter, r *http.Request, res commands.Result, err error,
	collection string, read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error), version func(T) int64) {
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	entity, err := read(r.Context(), viewerOf(r), res.ID)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, version(entity))
	status := http.StatusOK
	if res.Created {
		w.Header().Set("Location", "/api/v1/"+collection+"/"+res.ID.String())
		status = http.StatusCreated
	}
	writeJSON(w, status, entity)
}

// answerEntity answers GET /{collection}/{id}: the entity the caller may see, with
// its ETag. With ?as_of=<RFC 3339> it answers the entity as it stood then, replayed
// from its stream; before the entity existed that is a 404.
func answerEntity[T any](s *Server, w http.ResponseWriter, r *http.Request, streamType string,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error), version func(T) int64) {
	answerRead(s, w, r, func(ctx context.Context, v readmodel.Viewer, id uuid.UUID) (T, error) {
		entity, err := read(ctx, v, id)
		if err == nil && r.URL.Query().Has("as_of") {
			entity, err = entityAsOf(s, r, streamType, id, read)
		}
		return entity, err
	}, version)
}

// answerRead answers what read gives for the entity of the path, with its ETag.
func answerRead[T any](s *Server, w http.ResponseWriter, r *http.Request,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error), version func(T) int64) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	entity, err := read(r.Context(), viewerOf(r), id)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	setETag(w, version(entity))
	writeJSON(w, http.StatusOK, entity)
}

// entityAsOf replays the entity's events up to ?as_of and reads it from the replay.
// The caller may see the entity now, which is what entitles it to its past.
func entityAsOf[T any](s *Server, r *http.Request, streamType string, id uuid.UUID,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error)) (T, error) {
	var zero T
	asOf, err := queryTime("as_of", r.URL.Query().Get("as_of"))
	if err != nil {
		return zero, err
	}
	events, err := s.Store.ReadStream(r.Context(), eventstore.StreamID{Type: streamType, ID: id}, asOf)
	if err != nil {
		return zero, err
	}
	if events = recordedBy(events, asOf); len(events) == 0 {
		return zero, domain.ErrNotFound // it did not exist yet
	}
	return replayAs(r.Context(), s, viewerOf(r), id, events, read)
}

// replayAs reads entity id with read from the replay of its events (one
// stream up to a moment, readmodel.AsOf). The replay holds only this entity, so
// it is read with unrestricted visibility; the caller has checked that v may
// see the entity now, which entitles it to its past.
func replayAs[T any](ctx context.Context, s *Server, v readmodel.Viewer, id uuid.UUID, events []eventstore.Event,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error)) (T, error) {
	everything := readmodel.Viewer{UserID: v.UserID, Role: domain.RoleAdmin}
	return readmodel.AsOf(ctx, s.queries, events, func(ctx context.Context) (T, error) {
		return read(ctx, everything, id)
	})
}

// answerHistory answers GET /{collection}/{id}/history for an entity the caller may see.
func answerHistory[T any](s *Server, w http.ResponseWriter, r *http.Request, streamType string,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error)) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if _, err := read(r.Context(), viewerOf(r), id); err != nil {
		Error(w, r, s.log, err)
		return
	}
	s.writeHistory(w, r, streamType, id)
}
