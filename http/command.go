package http

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/assetanchor/assetanchor/commands"
)

// commandBody says what body an entity command takes.
type commandBody int

const (
	noBody       commandBody = iota // the body is not read
	jsonBody                        // a JSON body is required
	optionalBody                    // a JSON body, or none at all
)

// entityCommand runs a command on the entity of the path: its id, the body
// (decoded into req as body says), If-Match, then run on that target and answer.
func (s *Server) entityCommand(w http.ResponseWriter, r *http.Request, req any, body commandBody,
	run func(t commands.Target) (commands.Result, error), answer answerFunc) {
	id, err := pathID(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	switch body {
	case jsonBody:
		err = decodeJSON(w, r, req)
	case optionalBody:
		err = decodeOptionalJSON(w, r, req)
	}
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	version, err := ifMatch(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	res, err := run(commands.Target{Actor: actorOf(r), ID: id, IfMatch: version})
	answer(w, r, res, err)
}

// answerFunc answers a command's result: a resource's answer, or answerNoContent.
type answerFunc func(http.ResponseWriter, *http.Request, commands.Result, error)

// targetCommand serves a command whose only input is its target (a body, as body
// says, is an empty object): routes.go names the command itself.
func (s *Server) targetCommand(body commandBody, run func(context.Context, commands.Target) (commands.Result, error),
	answer answerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.entityCommand(w, r, &struct{}{}, body, func(t commands.Target) (commands.Result, error) {
			return run(r.Context(), t)
		}, answer)
	}
}

// reasonRequest is the optional body of a commands.Transition.
type reasonRequest struct {
	Reason string `json:"reason"`
}

// transitionCommand serves a commands.Transition: no body, or {"reason": ...}.
func (s *Server) transitionCommand(run func(context.Context, commands.Transition) (commands.Result, error),
	answer answerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req reasonRequest
		s.entityCommand(w, r, &req, optionalBody, func(t commands.Target) (commands.Result, error) {
			return run(r.Context(), commands.Transition{Target: t, Reason: req.Reason})
		}, answer)
	}
}

// decodeOptionalJSON reads an optional JSON body into v: no body at all
// (whatever the Content-Type) leaves v as it is; a body is decoded as any other.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	body := bufio.NewReader(r.Body)
	if _, err := body.Peek(1); errors.Is(err, io.EOF) {
		return nil
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{body, r.Body}
	return decodeJSON(w, r, v)
}
