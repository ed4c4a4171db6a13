package http

import (
	"bufio"
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
	run func(t commands.Target) (commands.Result, error),
	answer func(http.ResponseWriter, *http.Request, commands.Result, error)) {
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
