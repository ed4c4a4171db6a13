// Benchmarks of document transfer; `make bench` runs them with the others.
//
// BenchmarkDocumentTransfer moves a 10 MiB file through the API, docBenchRounds
// times: an upload (POST /documents, streamed from a file in the client's
// directory into the blob store's directory, fsynced, committed with its event)
// and a download (GET /documents/{id}/content into a file in the client's
// directory). Beside each, the baseline is a plain `cp` of the same file between
// the same two directories, without fsync. Each round's file differs (its round
// number is stamped into it), so every upload stores new bytes. Rates are the
// median of the rounds in MiB/s; ratio = API MiB/s ÷ cp MiB/s.
//
// BenchmarkDocumentUploadMemory uploads a 25 MiB file (the default limit) and
// samples the process's heap (runtime.MemStats.HeapInuse, every millisecond)
// while it runs: the peak above the idle heap (after two GCs, before the upload)
// must stay under 4 MiB, since the upload is streamed to disk, never held. The
// client runs in the same process and streams its body from the file through a
// pipe, so the figure bounds the server's use from above. VmHWM (peak resident
// set, reset through /proc/self/clear_refs) is reported beside it where Linux
// allows.
package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/assetanchor/assetanchor/domain"
)

const (
	docBenchSize   = 10 << 20
	docBenchRounds = 5
	// docMemoryBound is the most an upload may add to the heap (issue 4).
	docMemoryBound = 4 << 20
)

// MustBenchFile writes size bytes (a PDF header, then random bytes) to path.
func MustBenchFile(b *testing.B, path string, size int) {
	b.Helper()
	content := make([]byte, size)
	if _, err := rand.Read(content); err != nil {
		b.Fatal(err)
	}
	copy(content, "%PDF-1.7\n")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		b.Fatal(err)
	}
}

// streamUpload posts the file at path to property as a multipart upload whose
// body is produced while it is sent, from the file, never held in memory.
func streamUpload(ctx context.Context, client *http.Client, s *stack, token string, property uuid.UUID, path string) (documentBody, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(func() error {
			for name, value := range map[string]string{"entity_type": "property", "entity_id": property.String()} {
				if err := mw.WriteField(name, value); err != nil {
					return err
				}
			}
			fw, err := mw.CreateFormFile("file", filepath.Base(path))
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(fw, f); err != nil {
				return err
			}
			return mw.Close()
		}())
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.http.URL+"/api/v1/documents", pr)
	if err != nil {
		return documentBody{}, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return documentBody{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return documentBody{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return documentBody{}, fmt.Errorf("POST /api/v1/documents: status %d, want 201: %s", resp.StatusCode, raw)
	}
	var d documentBody
	return d, json.Unmarshal(raw, &d)
}

// download writes a document's content to path and returns its size.
func download(ctx context.Context, client *http.Client, s *stack, token string, id uuid.UUID, path string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.http.URL+"/api/v1/documents/"+id.String()+"/content", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET content: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, resp.Body)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return n, err
}

// MustTimedCp copies src to dst with the system's cp and returns how long it took.
func MustTimedCp(b *testing.B, src, dst string) time.Duration {
	b.Helper()
	start := time.Now()
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		b.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
	return time.Since(start)
}

func mibPerSecond(size int64, d time.Duration) float64 {
	return float64(size) / (1 << 20) / d.Seconds()
}

func medianOf(xs []float64) float64 {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}

func BenchmarkDocumentTransfer(b *testing.B) {
	if _, err := exec.LookPath("cp"); err != nil {
		b.Skip("no cp for the baseline")
	}
	ctx := context.Background()
	s := MustStack(b)
	_, token := s.MustUser(b, domain.RoleUser)
	property := s.MustProperty(b, token)
	client := benchClient(b, s, 1)
	clientDir := b.TempDir()
	src := filepath.Join(clientDir, "lease-scan.pdf")
	MustBenchFile(b, src, docBenchSize)

	var up, cpUp, down, cpDown []float64
	b.ResetTimer()
	for range b.N {
		for round := range docBenchRounds {
			MustStampFile(b, src, round)

			start := time.Now()
			d, err := streamUpload(ctx, client, s, token, property, src)
			if err != nil {
				b.Fatal(err)
			}
			up = append(up, mibPerSecond(docBenchSize, time.Since(start)))
			if d.FileSize != docBenchSize {
				b.Fatalf("file_size = %d, want %d", d.FileSize, docBenchSize)
			}
			cpUp = append(cpUp, mibPerSecond(docBenchSize, MustTimedCp(b, src, filepath.Join(s.blobs.Dir(), "cp-baseline"))))

			start = time.Now()
			n, err := download(ctx, client, s, token, d.ID, filepath.Join(clientDir, "downloaded"))
			if err != nil {
				b.Fatal(err)
			}
			down = append(down, mibPerSecond(n, time.Since(start)))
			if n != docBenchSize {
				b.Fatalf("downloaded %d bytes, want %d", n, docBenchSize)
			}
			blob := filepath.Join(s.blobs.Dir(), blobPath(d.FilePath))
			cpDown = append(cpDown, mibPerSecond(docBenchSize, MustTimedCp(b, blob, filepath.Join(clientDir, "cp-downloaded"))))
			b.Logf("round %d: upload %.0f MiB/s (cp %.0f MiB/s), download %.0f MiB/s (cp %.0f MiB/s)",
				round+1, up[len(up)-1], cpUp[len(cpUp)-1], down[len(down)-1], cpDown[len(cpDown)-1])
		}
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(medianOf(up), "upload_MiB/s")
	b.ReportMetric(medianOf(cpUp), "cp_in_MiB/s")
	b.ReportMetric(medianOf(up)/medianOf(cpUp), "upload_ratio")
	b.ReportMetric(medianOf(down), "download_MiB/s")
	b.ReportMetric(medianOf(cpDown), "cp_out_MiB/s")
	b.ReportMetric(medianOf(down)/medianOf(cpDown), "download_ratio")
}

// MustStampFile writes the round number into the file, so that each round
// uploads new content.
func MustStampFile(b *testing.B, path string, round int) {
	b.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte(fmt.Sprintf("round %08d\n", round)), 16); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDocumentUploadMemory(b *testing.B) {
	ctx := context.Background()
	s := MustStack(b)
	_, token := s.MustUser(b, domain.RoleUser)
	property := s.MustProperty(b, token)
	client := benchClient(b, s, 1)
	dir := b.TempDir()
	small, big := filepath.Join(dir, "small.pdf"), filepath.Join(dir, "big.pdf")
	MustBenchFile(b, small, 64<<10)
	MustBenchFile(b, big, DefaultMaxUploadBytes)
	// Warm up: connections, prepared statements, buffers of the first upload.
	if _, err := streamUpload(ctx, client, s, token, property, small); err != nil {
		b.Fatal(err)
	}

	var peakAbove uint64
	var hwmAbove int64 = -1
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		runtime.GC()
		idle := heapInuse()
		hwmBefore := resetVmHWM()
		var (
			peak uint64
			wg   sync.WaitGroup
		)
		done := make(chan struct{})
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				peak = max(peak, heapInuse())
				select {
				case <-done:
					return
				case <-tick.C:
				}
			}
		})
		d, err := streamUpload(ctx, client, s, token, property, big)
		close(done)
		wg.Wait()
		if err != nil {
			b.Fatal(err)
		}
		if d.FileSize != DefaultMaxUploadBytes {
			b.Fatalf("file_size = %d, want %d", d.FileSize, DefaultMaxUploadBytes)
		}
		if peak > idle {
			peakAbove = max(peakAbove, peak-idle)
		}
		if hwmBefore >= 0 {
			if after := vmHWM(); after >= 0 {
				// The kernel sums its RSS counters approximately: a flat upload
				// may read a little below the reset.
				hwmAbove = max(hwmAbove, after-hwmBefore, 0)
			}
		}
		b.Logf("25 MiB upload: heap in use idle %.2f MiB, peak %.2f MiB (+%.2f MiB); VmHWM +%s",
			float64(idle)/(1<<20), float64(peak)/(1<<20), float64(peak-min(idle, peak))/(1<<20), formatKiB(hwmAbove))
	}
	b.StopTimer()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(peakAbove)/(1<<20), "heap_peak_above_idle_MiB")
	if hwmAbove >= 0 {
		b.ReportMetric(float64(hwmAbove)/(1<<10), "VmHWM_above_idle_MiB")
	}
	if peakAbove >= docMemoryBound {
		b.Errorf("a 25 MiB upload raised the heap %.2f MiB above idle, want under %d MiB",
			float64(peakAbove)/(1<<20), docMemoryBound>>20)
	}
}

func heapInuse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// resetVmHWM resets the process's peak resident set to its current size and
// returns that size in KiB, or -1 where Linux does not allow it.
func resetVmHWM() int64 {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return -1
	}
	return vmHWM()
}

// vmHWM is the process's peak resident set in KiB, or -1.
func vmHWM() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kib
		}
	}
	return -1
}

func formatKiB(kib int64) string {
	if kib < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f MiB", float64(kib)/(1<<10))
}
