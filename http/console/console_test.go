package console

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
)

func TestChanges(t *testing.T) {
	cases := []struct {
		name     string
		old, new string
		want     []Change
	}{
		{"created", ``, `{"name": "Elm", "units": 4, "note": null}`,
			[]Change{{Field: "name", New: "Elm"}, {Field: "units", New: "4"}}},
		{"changed and cleared", `{"rent": "1250.00", "notes": "x", "same": 1}`, `{"rent": "1300.00", "notes": null, "same": 1}`,
			[]Change{{Field: "notes", Old: "x"}, {Field: "rent", Old: "1250.00", New: "1300.00"}}},
		{"redacted to nothing", ``, ``, nil},
		{"not an object", `[1]`, `"x"`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Changes([]byte(c.old), []byte(c.new)); !slices.Equal(got, c.want) {
				t.Errorf("Changes = %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestFieldsOfKeepsOrder(t *testing.T) {
	got := FieldsOf([]byte(`{"zip_code": "62701", "address": "1 Main", "units": [1, 2], "gone": null}`))
	want := []Field{{"zip code", "62701"}, {"address", "1 Main"}, {"units", "[1,2]"}, {"gone", ""}}
	if !slices.Equal(got, want) {
		t.Errorf("FieldsOf = %+v, want %+v", got, want)
	}
}

// A cell a spreadsheet would run as a formula starts with a quote in the CSV.
func TestWriteCSVDefusesFormulas(t *testing.T) {
	e := &Entity{Kind: "transaction", ID: "t1", Events: []Event{
		{Version: 1, Type: "ChargePosted", When: "2026-01-01T00:00:00.000Z", UserAgent: "@agent",
			Changes: []Change{{Field: "notes", New: `=HYPERLINK("http://x")`}, {Field: "amount", New: "-5.00"}}},
		{Version: 2, Type: "Touched", When: "2026-01-02T00:00:00.000Z"},
	}}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, e); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 { // header, two changes of event 1, one row for event 2
		t.Fatalf("rows = %d, want 4: %v", len(rows), rows)
	}
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("cell %q starts a formula", cell)
			}
		}
	}
	if rows[1][11] != `'=HYPERLINK("http://x")` || rows[1][8] != "'@agent" || rows[2][11] != "'-5.00" {
		t.Errorf("defused cells = %q, %q, %q", rows[1][11], rows[1][8], rows[2][11])
	}
}

func TestPagesRender(t *testing.T) {
	p, err := ParsePages()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err = p.Render(&buf, "entity", Page{Title: "x", User: "a@example.com", CSRF: "tok", Entity: &Entity{
		Kind: "property", KindLabel: "Property", ID: "id", Label: "<script>alert(1)</script>", Path: "/console/property/id",
		Integrity: Integrity{Chain: "broken at version 2", Reason: "version 2: hash mismatch"},
		Events:    []Event{{Version: 1, Type: "PropertyRegistered"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	for _, want := range []string{`<html lang="en">`, `class="integrity bad"`, "version 2: hash mismatch", "&lt;script&gt;", `name="csrf" value="tok"`} {
		if !strings.Contains(html, want) {
			t.Errorf("entity page lacks %q", want)
		}
	}
	if strings.Contains(html, "<script>") {
		t.Errorf("entity page carries a script")
	}
}
