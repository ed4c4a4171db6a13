// Command pgtest runs a command against a throwaway PostgreSQL cluster:
//
//	go run ./cmd/pgtest [-durable] -- go test -race ./...
//
// It starts a private cluster in a fresh temporary directory, runs the
// command with DATABASE_URL pointing at it, then stops the cluster and
// removes the directory, also when the command fails or pgtest receives
// SIGINT/SIGTERM (forwarded to the command first). It exits with the
// command's exit code. It imports nothing of ours but cmd/internal/pgcluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/pgcluster"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("pgtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	durable := fs.Bool("durable", false, "start a durable cluster (fsync on), e.g. for benchmarks")
	verbose := fs.Bool("v", false, "print cluster progress lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: pgtest [-durable] [-v] -- command [args...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fs.Usage()
		return 2
	}

	// Catch signals from the start so that cleanup always runs.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	tmp, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		fmt.Fprintf(stderr, "pgtest: %v\n", err)
		return 1
	}
	defer func() {
		if err := os.RemoveAll(tmp); err != nil {
			fmt.Fprintf(stderr, "pgtest: remove %s: %v\n", tmp, err)
		}
	}()

	// Failures (with the server's output) always; progress lines with -v.
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts := pgcluster.Options{Dir: filepath.Join(tmp, "postgres"), Fsync: *durable,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	var cluster *pgcluster.Cluster
	cluster, code = startCluster(opts, sigs, stderr)
	if cluster == nil {
		return code
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := cluster.Stop(ctx); err != nil {
			fmt.Fprintf(stderr, "pgtest: stop cluster: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}()

	dsn := cluster.URL()
	if u, err := url.Parse(dsn); err == nil {
		fmt.Fprintf(stderr, "pgtest: cluster on %s\n", u.Host)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Env = append(withoutVar(os.Environ(), "DATABASE_URL"), "DATABASE_URL="+dsn)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "pgtest: %v\n", err)
		return 1
	}
	return wait(cmd, sigs, stderr)
}

// startCluster starts the cluster; a signal meanwhile cancels the start.
// It returns a nil cluster and the exit code on failure.
func startCluster(opts pgcluster.Options, sigs <-chan os.Signal, stderr io.Writer) (*pgcluster.Cluster, int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		c   *pgcluster.Cluster
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := pgcluster.Start(ctx, opts)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			fmt.Fprintf(stderr, "pgtest: %v\n", r.err)
			return nil, 1
		}
		return r.c, 0
	case sig := <-sigs:
		fmt.Fprintf(stderr, "pgtest: %v while starting the cluster, cleaning up\n", sig)
		cancel()
		if r := <-done; r.c != nil {
			stopCtx, stopCancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer stopCancel()
			if err := r.c.Stop(stopCtx); err != nil {
				fmt.Fprintf(stderr, "pgtest: stop cluster: %v\n", err)
			}
		}
		return nil, signalCode(sig)
	}
}

// wait waits for the child, forwarding SIGINT/SIGTERM to it; a second
// signal kills it outright.
func wait(cmd *exec.Cmd, sigs <-chan os.Signal, stderr io.Writer) int {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	forwarded := 0
	for {
		select {
		case err := <-done:
			return exitCode(err, stderr)
		case sig := <-sigs:
			forwarded++
			if forwarded == 1 {
				_ = cmd.Process.Signal(sig)
			} else {
				fmt.Fprintf(stderr, "pgtest: %v again, killing %s\n", sig, cmd.Path)
				_ = cmd.Process.Kill()
			}
		}
	}
}

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		if c := ee.ExitCode(); c > 0 {
			return c
		}
		return 1
	}
	fmt.Fprintf(stderr, "pgtest: %v\n", err)
	return 1
}

func signalCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func withoutVar(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
