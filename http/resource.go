package http

import (
	"context"
	"net/http"
	"net/url"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// resource is one collection of the API as the generic handlers see it: its
// path segment, its stream type (none for a part of another collection's
// entities, such as a lease's deposit), how a viewer reads one of its entities and the
// version that entity's ETag carries. Each handler file builds its own (see
// Server.properties) and says only what is special about its collection.
//
// To adopt it for a collection: write the constructor, finish each command with
// its answer, and route GET /{collection}/{id} and /{collection}/{id}/history to
// its get and history, GET /{collection} to listHandler with the collection's
// filter parser.
type resource[T any] struct {
	s          *Server
	collection string // the path segment under /api/v1/, for Location
	streamType string
	read       func(context.Context, readmodel.Viewer, uuid.UUID) (T, error)
	version    func(T) int64
}

// answer finishes a command on one of the collection's entities (answerCommand).
func (rs resource[T]) answer(w http.ResponseWriter, r *http.Request, res commands.Result, err error) {
	answerCommand(rs.s, w, r, res, err, rs.collection, rs.read, rs.version)
}

// get answers GET /{collection}/{id} (answerEntity).
func (rs resource[T]) get(w http.ResponseWriter, r *http.Request) {
	answerEntity(rs.s, w, r, rs.streamType, rs.read, rs.version)
}

// current answers GET of the entity as it is now, without ?as_of (answerRead).
func (rs resource[T]) current(w http.ResponseWriter, r *http.Request) {
	answerRead(rs.s, w, r, rs.read, rs.version)
}

// history answers GET /{collection}/{id}/history to whoever may read the entity.
func (rs resource[T]) history(w http.ResponseWriter, r *http.Request) {
	answerHistory(rs.s, w, r, rs.streamType, rs.read)
}

// pageParams are the ?cursor and ?limit every list takes.
type pageParams struct {
	cursor string
	limit  int
}

// listHandler answers GET /{collection}: ?limit first (listLimit), then filter
// reads the list's own parameters (a malformed one is a 400), then page reads
// the page the viewer may see.
func listHandler[F, P any](s *Server, filter func(url.Values, pageParams) (F, error),
	page func(context.Context, readmodel.Viewer, F) (P, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		limit, err := listLimit(q.Get("limit"))
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		f, err := filter(q, pageParams{cursor: q.Get("cursor"), limit: limit})
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		p, err := page(r.Context(), viewerOf(r), f)
		if err != nil {
			Error(w, r, s.log, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}
}
