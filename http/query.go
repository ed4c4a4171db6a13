package http

import (
	"net/url"
	"strconv"

	"github.com/google/uuid"
)

// listLimit reads ?limit= (1..200, default 50).
func listLimit(raw string) (int, error) {
	if raw == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 200 {
		return 0, badRequest("limit must be an integer from 1 to 200")
	}
	return n, nil
}

// queryUUID reads an optional UUID query parameter; a malformed one is a 400.
func queryUUID(q url.Values, name string) (*uuid.UUID, error) {
	raw := q.Get(name)
	if raw == "" {
		return nil, nil
	}
	id, err := uuid.Parse(raw)
	if err != nil {
		return nil, badRequest(name + " must be a UUID")
	}
	return &id, nil
}
