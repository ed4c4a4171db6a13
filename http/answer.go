package http

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/projections"
)

// answerCommand finishes every command handler: on success it waits for the read
// model (read-your-writes), reads the entity as the caller may see it and answers it
// with its ETag; 201 with Location under collection for a create, 200 otherwise.
func answerCommand[T any](s *Server, w http.ResponseWriter, r *http.Request, res commands.Result, err error,
	collection string, read func(context.Context, projections.Viewer, uuid.UUID) (T, error), version func(T) int64) {
	if err == nil {
		err = s.awaitProjection(r.Context(), res)
	}
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

// answerEntity answers GET /{collection}/{id}: the entity the caller may see, with its ETag.
func answerEntity[T any](s *Server, w http.ResponseWriter, r *http.Request,
	read func(context.Context, projections.Viewer, uuid.UUID) (T, error), version func(T) int64) {
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

// answerHistory answers GET /{collection}/{id}/history for an entity the caller may see.
func answerHistory[T any](s *Server, w http.ResponseWriter, r *http.Request, streamType string,
	read func(context.Context, projections.Viewer, uuid.UUID) (T, error)) {
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
