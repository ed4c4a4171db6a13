package http

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
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
func answerEntity[T any](s *Server, w http.ResponseWriter, r *http.Request,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error), version func(T) int64) {
	answerRead(s, w, r, func(ctx context.Context, v readmodel.Viewer, id uuid.UUID) (T, error) {
		entity, err := read(ctx, v, id)
		if err == nil && r.URL.Query().Has("as_of") {
			entity, err = entityAsOf(s, r, id, read)
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
func entityAsOf[T any](s *Server, r *http.Request, id uuid.UUID,
	read func(context.Context, readmodel.Viewer, uuid.UUID) (T, error)) (T, error) {
	var zero T
	asOf, err := queryTime("as_of", r.URL.Query().Get("as_of"))
	if err != nil {
		return zero, err
	}
	collection := strings.Split(strings.TrimPrefix(chi.RouteContext(r.Context()).RoutePattern(), "/api/v1/"), "/")[0]
	streamType, ok := domain.StreamTypeNamed(collection)
	if !ok {
		return zero, badRequest("as_of is not supported here")
	}
	events, err := s.Store.ReadStream(r.Context(), eventstore.StreamID{Type: streamType, ID: id}, asOf)
	if err != nil {
		return zero, err
	}
	if events = recordedBy(events, asOf); len(events) == 0 {
		return zero, domain.ErrNotFound // it did not exist yet
	}
	// The replay holds only this entity, so it is read with unrestricted visibility.
	everything := readmodel.Viewer{UserID: viewerOf(r).UserID, Role: domain.RoleAdmin}
	return readmodel.AsOf(r.Context(), s.queries, events, func(ctx context.Context) (T, error) {
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
