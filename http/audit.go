package http

import (
	"net/http"
	"net/url"
	"time"

	"github.com/assetanchor/assetanchor/projections/readmodel"
)

func (s *Server) listAuditLogs(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	page, err := s.queries.AuditLogs(r.Context(), viewerOf(r), f)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func auditFilter(q url.Values) (readmodel.AuditFilter, error) {
	limit, err := listLimit(q.Get("limit"))
	if err != nil {
		return readmodel.AuditFilter{}, err
	}
	f := readmodel.AuditFilter{EntityType: q.Get("entity_type"), Action: q.Get("action"),
		Cursor: q.Get("cursor"), Limit: limit}
	if f.EntityID, err = queryUUID(q, "entity_id"); err != nil {
		return f, err
	}
	if f.UserID, err = queryUUID(q, "user_id"); err != nil {
		return f, err
	}
	if f.From, err = instantParam(q, "from", false); err != nil {
		return f, err
	}
	if f.To, err = instantParam(q, "to", true); err != nil {
		return f, err
	}
	return f, nil
}

// instantParam reads an RFC 3339 timestamp or a YYYY-MM-DD date. As an upper bound
// (end), a date includes its whole day.
func instantParam(q url.Values, name string, end bool) (time.Time, error) {
	raw := q.Get(name)
	if raw == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, raw); err == nil {
		return t, timeInRange(name, t)
	}
	d, err := time.Parse(time.DateOnly, raw) // years 0000–9999 only
	if err != nil {
		return time.Time{}, badRequest(name + " must be an RFC 3339 timestamp or a YYYY-MM-DD date")
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}
