package console

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// WriteCSV writes a timeline as CSV, one row per changed field (an event that
// changed none has one row with empty field columns), so that a spreadsheet can
// filter by field.
func WriteCSV(w io.Writer, e *Entity) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"entity_type", "entity_id", "version", "recorded_at", "event_type",
		"actor_id", "actor", "ip_address", "user_agent", "field", "old_value", "new_value"}); err != nil {
		return err
	}
	for _, ev := range e.Events {
		head := []string{e.Kind, e.ID, strconv.FormatInt(ev.Version, 10), ev.When, ev.Type,
			ev.ActorID, ev.Actor, ev.IP, ev.UserAgent}
		changes := ev.Changes
		if len(changes) == 0 {
			changes = []Change{{}}
		}
		for _, c := range changes {
			row := append(append([]string(nil), head...), c.Field, c.Old, c.New)
			for i := range row {
				row[i] = CSVCell(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// CSVCell defuses a cell a spreadsheet would run as a formula (OWASP's CSV
// injection advice): one that starts with =, +, -, @, a tab or a carriage return
// is prefixed with a single quote. Values are the audit trail's, typed by
// whoever changed the entity, so they are not to be trusted.
func CSVCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
