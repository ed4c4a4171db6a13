package http

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/projections/readmodel"
)

// reportDate is a report's "today": ?as_of=YYYY-MM-DD, or the server's UTC date.
func reportDate(q url.Values) (domain.Date, error) {
	raw := q.Get("as_of")
	if raw == "" {
		return domain.DateOf(time.Now()), nil
	}
	return queryDate("as_of", raw)
}

// reportRequest is what every landlord report reads from the query string: the
// day, the format, and for JSON the page. CSV answers every row at once.
type reportRequest struct {
	asOf domain.Date
	csv  bool
	page readmodel.ReportPage
}

func readReportRequest(r *http.Request) (reportRequest, error) {
	q := r.URL.Query()
	asOf, err := reportDate(q)
	if err != nil {
		return reportRequest{}, err
	}
	req := reportRequest{asOf: asOf}
	if req.csv, err = wantsCSV(r); err != nil || req.csv {
		return req, err
	}
	req.page.Cursor = q.Get("cursor")
	req.page.Limit, err = listLimit(q.Get("limit"))
	return req, err
}

// wantsCSV reads ?format=: json (the default) or csv.
func wantsCSV(r *http.Request) (bool, error) {
	switch r.URL.Query().Get("format") {
	case "", "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, badRequest("format must be json or csv")
}

// writeCSV answers a report as a CSV download named name.csv: a header line,
// then one line per record.
func writeCSV(w http.ResponseWriter, name string, header []string, records [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.WriteHeader(http.StatusOK)
	out := csv.NewWriter(w)
	_ = out.Write(header)
	for _, record := range records {
		for i, field := range record {
			record[i] = csvCell(field)
		}
		_ = out.Write(record)
	}
	out.Flush()
}

// csvCell defuses a field that a spreadsheet would run as a formula (CSV
// injection: a tenant named "=HYPERLINK(...)"), by a leading apostrophe; a
// negative amount stays a number.
func csvCell(field string) string {
	if field == "" {
		return field
	}
	switch field[0] {
	case '=', '+', '@', '\t', '\r':
		return "'" + field
	case '-':
		if _, err := decimal.NewFromString(field); err != nil {
			return "'" + field
		}
	}
	return field
}

// answerReport reads the report request, runs read and answers its report as
// JSON, or with ?format=csv as the CSV records of its rows under header.
func answerReport[T any](s *Server, w http.ResponseWriter, r *http.Request, name string,
	read func(reportRequest) (T, error), header []string, records func(T) [][]string) {
	req, err := readReportRequest(r)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	report, err := read(req)
	if err != nil {
		Error(w, r, s.log, err)
		return
	}
	if !req.csv {
		writeJSON(w, http.StatusOK, report)
		return
	}
	writeCSV(w, name+"-"+req.asOf.String(), header, records(report))
}

// rentRoll answers GET /reports/rent-roll.
func (s *Server) rentRoll(w http.ResponseWriter, r *http.Request) {
	answerReport(s, w, r, "rent-roll", func(req reportRequest) (readmodel.RentRoll, error) {
		return s.queries.RentRoll(r.Context(), viewerOf(r), req.asOf, req.page)
	}, []string{"property_id", "property_name", "address", "city", "state", "zip_code", "property_status",
		"owner_id", "occupancy", "lease_id", "lease_status", "tenant_id", "tenant_first_name", "tenant_last_name",
		"start_date", "end_date", "rent_amount", "security_deposit", "deposit_held", "balance_due"},
		func(roll readmodel.RentRoll) [][]string {
			records := make([][]string, 0, len(roll.Items))
			for _, p := range roll.Items {
				records = append(records, []string{p.PropertyID.String(), p.PropertyName, p.Address, p.City, p.State,
					p.ZipCode, p.PropertyStatus, csvUUID(p.OwnerID), p.Occupancy, csvUUID(p.LeaseID),
					csvString(p.LeaseStatus), csvUUID(p.TenantID), csvString(p.TenantFirstName),
					csvString(p.TenantLastName), csvDate(p.StartDate), csvDate(p.EndDate), csvMoney(p.RentAmount),
					csvMoney(p.SecurityDeposit), csvMoney(p.DepositHeld), csvMoney(p.BalanceDue)})
			}
			return records
		})
}

// aging answers GET /reports/aging.
func (s *Server) aging(w http.ResponseWriter, r *http.Request) {
	answerReport(s, w, r, "aging", func(req reportRequest) (readmodel.Aging, error) {
		return s.queries.Aging(r.Context(), viewerOf(r), req.asOf, req.page)
	}, []string{"lease_id", "lease_status", "property_id", "property_name", "tenant_id", "tenant_first_name",
		"tenant_last_name", "charges", "days_0_30", "days_31_60", "days_61_90", "days_over_90", "total"},
		func(report readmodel.Aging) [][]string {
			records := make([][]string, 0, len(report.Items))
			for _, a := range report.Items {
				b := a.AgingBuckets
				records = append(records, []string{a.LeaseID.String(), a.LeaseStatus, a.PropertyID.String(),
					a.PropertyName, a.TenantID.String(), a.TenantFirstName, a.TenantLastName, strconv.Itoa(a.Charges),
					b.Days0To30.StringFixed(2), b.Days31To60.StringFixed(2), b.Days61To90.StringFixed(2),
					b.Over90.StringFixed(2), b.Total.StringFixed(2)})
			}
			return records
		})
}

// occupancy answers GET /reports/occupancy: per owner, and in CSV a last line
// "overall" for everyone.
func (s *Server) occupancy(w http.ResponseWriter, r *http.Request) {
	answerReport(s, w, r, "occupancy", func(req reportRequest) (readmodel.Occupancy, error) {
		return s.queries.Occupancy(r.Context(), viewerOf(r), req.asOf)
	}, []string{"owner_id", "owner_email", "owner_first_name", "owner_last_name", "active_properties",
		"leased_properties", "physical_occupancy", "rent_scheduled", "rent_collected", "economic_occupancy"},
		func(report readmodel.Occupancy) [][]string {
			records := make([][]string, 0, len(report.Owners)+1)
			for _, o := range report.Owners {
				records = append(records, append([]string{csvUUID(o.OwnerID), csvString(o.OwnerEmail),
					csvString(o.OwnerFirstName), csvString(o.OwnerLastName)}, occupancyRecord(o.OccupancyFigures)...))
			}
			return append(records, append([]string{"overall", "", "", ""}, occupancyRecord(report.Overall)...))
		})
}

func occupancyRecord(f readmodel.OccupancyFigures) []string {
	return []string{strconv.Itoa(f.ActiveProperties), strconv.Itoa(f.LeasedProperties), csvPercent(f.PhysicalOccupancy),
		f.RentScheduled.StringFixed(2), f.RentCollected.StringFixed(2), csvPercent(f.EconomicOccupancy)}
}

// The csv helpers write an absent value as an empty field.

func csvUUID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

func csvString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func csvDate(d *domain.Date) string {
	if d == nil {
		return ""
	}
	return d.String()
}

func csvMoney(m *readmodel.Money) string {
	if m == nil {
		return ""
	}
	return m.StringFixed(2)
}

func csvPercent(p *readmodel.Percent) string {
	if p == nil {
		return ""
	}
	return p.StringFixed(2)
}
