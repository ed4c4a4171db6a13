package http

import (
	"compress/gzip"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipMinBytes is the smallest answer worth compressing: below it the gzip
// header and the CPU cost more than the bytes saved.
const gzipMinBytes = 1024

// gzipWriters are reused: each holds about 800 KiB of compressor state.
var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // speed: lists and CSV can be large, CPU is shared
	return w
}}

// compress gzips JSON and CSV answers for clients that accept it. Answers that
// carry a strong ETag (an entity, ETag "<version>") are left as they are: a
// strong validator names one exact representation, and API.md promises the
// entity's own. Lists, reports and CSV have no ETag, so they are compressed.
func compress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gw := &gzipWriter{ResponseWriter: w, accepts: acceptsGzip(r.Header.Get("Accept-Encoding"))}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

type gzipWriter struct {
	http.ResponseWriter
	accepts bool

	status  int
	wrote   bool   // WriteHeader was called
	pending bool   // eligible and accepted: buffering until gzipMinBytes decides
	buf     []byte // held while pending
	gz      *gzip.Writer
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.wrote {
		return
	}
	g.wrote, g.status = true, code
	h := g.Header()
	if !compressible(code, h) {
		g.ResponseWriter.WriteHeader(code)
		return
	}
	h.Add("Vary", "Accept-Encoding")
	if n, err := strconv.Atoi(h.Get("Content-Length")); !g.accepts || (err == nil && n < gzipMinBytes) {
		g.ResponseWriter.WriteHeader(code)
		return
	}
	g.pending = true
}

func (g *gzipWriter) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	switch {
	case g.gz != nil:
		return g.gz.Write(b)
	case !g.pending:
		return g.ResponseWriter.Write(b)
	}
	g.buf = append(g.buf, b...)
	if len(g.buf) < gzipMinBytes {
		return len(b), nil
	}
	g.pending = false
	h := g.Header()
	h.Set("Content-Encoding", "gzip")
	h.Del("Content-Length")
	g.ResponseWriter.WriteHeader(g.status)
	g.gz = gzipWriters.Get().(*gzip.Writer)
	g.gz.Reset(g.ResponseWriter)
	if _, err := g.gz.Write(g.buf); err != nil {
		return 0, err
	}
	g.buf = nil
	return len(b), nil
}

// finish sends what is still held: a short answer as it is, or the end of the
// gzip stream.
func (g *gzipWriter) finish() {
	if g.pending {
		g.ResponseWriter.WriteHeader(g.status)
		_, _ = g.ResponseWriter.Write(g.buf)
		g.pending = false
	}
	if g.gz != nil {
		_ = g.gz.Close()
		gzipWriters.Put(g.gz)
		g.gz = nil
	}
}

func (g *gzipWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// compressible: a JSON or CSV answer with a body, not encoded yet, without a
// strong ETag.
func compressible(code int, h http.Header) bool {
	if code < http.StatusOK || code == http.StatusNoContent || code == http.StatusNotModified ||
		code == http.StatusPartialContent || h.Get("Content-Encoding") != "" {
		return false
	}
	if etag := h.Get("ETag"); etag != "" && !strings.HasPrefix(etag, "W/") {
		return false
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/problem+json" || mt == "text/csv"
}

// acceptsGzip reads Accept-Encoding: gzip (or *) with a q-value above zero.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if f, err := strconv.ParseFloat(v, 64); err == nil {
					q = f
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(coding)) {
		case "gzip", "x-gzip":
			gzipQ = q
		case "*":
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}
