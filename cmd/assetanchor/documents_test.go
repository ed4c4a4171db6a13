package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assetanchor/assetanchor/migrations/dbtest"
)

func TestRequestTimeoutFromEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    time.Duration
		wantErr bool
	}{
		{name: "unset: the server's default", value: ""},
		{name: "seconds", value: " 45s ", want: 45 * time.Second},
		{name: "minutes", value: "2m", want: 2 * time.Minute},
		{name: "the shortest", value: "1s", want: time.Second},
		{name: "the longest", value: "1h", want: time.Hour},
		{name: "too short", value: "500ms", wantErr: true},
		{name: "too long", value: "2h", wantErr: true},
		{name: "no unit", value: "30", wantErr: true},
		{name: "negative", value: "-30s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"ASSETANCHOR_REQUEST_TIMEOUT": tt.value}
			got, err := loadConfig(func(k string) string { return env[k] }).requestTimeout()
			if tt.wantErr {
				var usage usageError
				if !errors.As(err, &usage) {
					t.Fatalf("requestTimeout = %s, %v; want a usage error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("requestTimeout = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestUploadLimitsFromEnvironment(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		wantBytes int64
		wantTypes []string
		wantErr   bool
	}{
		{name: "unset: the server's defaults", env: map[string]string{}},
		{name: "a limit", env: map[string]string{"ASSETANCHOR_MAX_UPLOAD_BYTES": " 1048576 "}, wantBytes: 1 << 20},
		{name: "the largest limit", env: map[string]string{"ASSETANCHOR_MAX_UPLOAD_BYTES": "2147483647"}, wantBytes: 2147483647},
		{name: "types", env: map[string]string{"ASSETANCHOR_UPLOAD_TYPES": "application/pdf, Image/PNG,,"},
			wantTypes: []string{"application/pdf", "image/png"}},
		{name: "a limit past INTEGER", env: map[string]string{"ASSETANCHOR_MAX_UPLOAD_BYTES": "2147483648"}, wantErr: true},
		{name: "a zero limit", env: map[string]string{"ASSETANCHOR_MAX_UPLOAD_BYTES": "0"}, wantErr: true},
		{name: "a limit with a unit", env: map[string]string{"ASSETANCHOR_MAX_UPLOAD_BYTES": "25MiB"}, wantErr: true},
		{name: "a type without a subtype", env: map[string]string{"ASSETANCHOR_UPLOAD_TYPES": "pdf"}, wantErr: true},
		{name: "a wildcard type", env: map[string]string{"ASSETANCHOR_UPLOAD_TYPES": "image/*"}, wantErr: true},
		{name: "a type with parameters", env: map[string]string{"ASSETANCHOR_UPLOAD_TYPES": "text/plain; charset=utf-8"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return tt.env[k] }).uploadLimits()
			if tt.wantErr {
				var usage usageError
				if !errors.As(err, &usage) {
					t.Fatalf("uploadLimits = %+v, %v; want a usage error", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.maxBytes != tt.wantBytes || !slices.Equal(got.types, tt.wantTypes) {
				t.Errorf("uploadLimits = %d %q, want %d %q", got.maxBytes, got.types, tt.wantBytes, tt.wantTypes)
			}
		})
	}
}

// serve keeps document bytes under the data dir and applies the configured limit.
func TestServeStoresDocumentsUnderTheDataDir(t *testing.T) {
	url := dbtest.MustURL(t)
	dataDir := t.TempDir()
	cfg := loadConfig(func(key string) string {
		return map[string]string{
			"DATABASE_URL":                 url,
			"ASSETANCHOR_DATA_DIR":         dataDir,
			"ASSETANCHOR_ADDR":             "127.0.0.1:0",
			"ASSETANCHOR_ADMIN_EMAIL":      "docs@example.com",
			"ASSETANCHOR_ADMIN_PASSWORD":   "a long enough password",
			"ASSETANCHOR_MAX_UPLOAD_BYTES": "100",
		}[key]
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, func(addr string) { addrs <- addr }) }()
	var base string
	select {
	case addr := <-addrs:
		base = "http://" + addr + "/api/v1"
	case err := <-done:
		t.Fatalf("serve ended before listening: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("serve did not start listening")
	}

	token := MustJSONField(t, "", http.MethodPost, base+"/auth/login",
		`{"email":"docs@example.com","password":"a long enough password"}`, "token", http.StatusOK)
	property := MustJSONField(t, token, http.MethodPost, base+"/properties", `{"name":"Elm","address":"1 Elm St",
		"city":"Springfield","state":"IL","zip_code":"62701","property_type":"residential"}`, "id", http.StatusCreated)

	upload := func(content []byte) *http.Response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("entity_type", "property")
		_ = mw.WriteField("entity_id", property)
		fw, _ := mw.CreateFormFile("file", "a.txt")
		_, _ = fw.Write(content)
		_ = mw.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/documents", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := upload([]byte(strings.Repeat("x", 101))); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("101 bytes under ASSETANCHOR_MAX_UPLOAD_BYTES=100: status %d, want 413", resp.StatusCode)
	}
	resp := upload([]byte(strings.Repeat("x", 100)))
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("100 bytes: status %d, want 201: %s", resp.StatusCode, raw)
	}
	var doc struct {
		FilePath string `json:"file_path"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "documents", "sha256", doc.FilePath[:2], doc.FilePath)); err != nil {
		t.Errorf("the uploaded bytes are not under the data dir: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}

// MustJSONField sends a JSON request and returns one string field of the answer.
func MustJSONField(t *testing.T, token, method, url, body, field string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, url, resp.StatusCode, want, raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[field].(string)
	if s == "" {
		t.Fatalf("%s %s: no %s in %s", method, url, field, raw)
	}
	return s
}
