package http

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// maxJSONBody is the largest JSON request body accepted (API.md: 1 MiB).
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON body into v: application/json only (on PATCH also
// application/merge-patch+json, RFC 7396, which is what PATCH bodies are), at
// most 1 MiB, no unknown fields, exactly one value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && mt == "application/json":
	case err == nil && mt == "application/merge-patch+json" && r.Method == http.MethodPatch:
	case r.Method == http.MethodPatch:
		w.Header().Set("Accept-Patch", "application/merge-patch+json, application/json")
		return &clientError{status: http.StatusUnsupportedMediaType, detail: "Content-Type must be application/merge-patch+json or application/json"}
	default:
		return &clientError{status: http.StatusUnsupportedMediaType, detail: "Content-Type must be application/json"}
	}
	return decodeJSONFrom(http.MaxBytesReader(w, r.Body, maxJSONBody), v)
}

// decodeJSONFrom is the decoding half of decodeJSON, shared with the fuzz targets.
func decodeJSONFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return jsonError(err)
		}
		return badRequest("the body must hold exactly one JSON value")
	}
	return nil
}

func jsonError(err error) error {
	var (
		tooLarge  *http.MaxBytesError
		syntax    *json.SyntaxError
		typeError *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return &clientError{status: http.StatusRequestEntityTooLarge, detail: "the body is larger than 1 MiB"}
	case errors.As(err, &syntax):
		return badRequest("malformed JSON at byte " + strconv.FormatInt(syntax.Offset, 10))
	case errors.As(err, &typeError):
		return badRequest("field " + typeError.Field + " must be a JSON " + typeError.Type.String())
	case errors.Is(err, io.EOF):
		return badRequest("the body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: unexpected end")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return badRequest(strings.TrimPrefix(err.Error(), "json: "))
	default:
		return badRequest("malformed JSON: " + err.Error())
	}
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
