package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/eventstore/anchor"
)

// Signed anchors (docs/security.md): the anchor key, assetanchor audit anchor,
// audit verify --anchors, and serve's schedule. The key is ASSETANCHOR_ANCHOR_KEY,
// the base64 of an Ed25519 seed, or else the file anchor.key in the data dir,
// generated once with mode 0600 by the first command that signs. It is never in
// the database: whoever can write there cannot sign.
const (
	anchorKeyFile      = "anchor.key"
	defaultAnchorEvery = time.Hour
)

// anchorDir is where anchors go unless told otherwise: <data dir>/anchors.
func (c config) anchorDir() string { return filepath.Join(c.DataDir, "anchors") }

// anchorEvery parses ASSETANCHOR_ANCHOR_EVERY, how often serve anchors; 0 turns
// the schedule off.
func (c config) anchorEvery() (time.Duration, error) {
	raw := strings.TrimSpace(c.AnchorEvery)
	if raw == "" {
		return defaultAnchorEvery, nil
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d < 0 || (d > 0 && d < time.Second) {
		return 0, usageError("ASSETANCHOR_ANCHOR_EVERY must be a duration of at least 1s, such as 1h or 15m, or 0 to stop serve anchoring; " +
			fmt.Sprintf("%q is not one", raw))
	}
	return d, nil
}

func decodeAnchorKey(text string) ([]byte, error) {
	return decodeKey(text, "the anchor key", ed25519.SeedSize)
}

// anchorKey returns the configured anchor key. Without one it generates the key
// file when generate is set (commands that sign), and otherwise returns nil.
func anchorKey(cfg config, generate bool, log *slog.Logger) (ed25519.PrivateKey, error) {
	path := filepath.Join(cfg.DataDir, anchorKeyFile)
	if cfg.AnchorKey != "" {
		seed, err := decodeAnchorKey(cfg.AnchorKey)
		if err != nil {
			return nil, usageError("ASSETANCHOR_ANCHOR_KEY: " + err.Error() +
				": set it to the base64 of a 32-byte Ed25519 seed, or unset it to use " + path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	seed, err := readSecretKeyFile(path, decodeAnchorKey, "ASSETANCHOR_ANCHOR_KEY")
	switch {
	case err == nil:
		return ed25519.NewKeyFromSeed(seed), nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case !generate:
		return nil, nil
	}
	seed = make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("generate anchor key: %w", err)
	}
	if err := writeKeyFile(path, seed); err != nil {
		return nil, err
	}
	log.Warn("generated the anchor key: back it up apart from the database; its public half is written beside the anchors",
		"path", path, "mode", "0600")
	return ed25519.NewKeyFromSeed(seed), nil
}

// anchorCommand is `assetanchor audit anchor [--out DIR] [--restored]`.
func anchorCommand(fs *flag.FlagSet) runFunc {
	out := fs.String("out", "", "the anchors' directory, `DIR` (default <data dir>/anchors)")
	restored := fs.Bool("restored", false, "after a point-in-time restore left the latest anchor newer than the log: start anew with a full anchor")
	return func(ctx context.Context, in invocation) error {
		dir := *out
		if dir == "" {
			dir = in.cfg.anchorDir()
		}
		key, err := anchorKey(in.cfg, true, slog.New(slog.NewTextHandler(in.stderr, nil)))
		if err != nil {
			return err
		}
		return withApp(ctx, in.cfg, in.stderr, func(_ *app, pool *pgxpool.Pool) error {
			a, err := anchor.NewAnchorer(pool, dir, key)
			if err != nil {
				return err
			}
			r, err := a.Anchor(ctx, *restored)
			if err != nil {
				return err
			}
			path := filepath.Join(dir, r.File)
			switch {
			case !r.Written:
				fmt.Fprintf(in.stdout, "no stream changed since %s: nothing to anchor\n", path)
			case r.Anchor.Full:
				fmt.Fprintf(in.stdout, "anchored every stream (%d) in %s\n", len(r.Anchor.Streams), path)
			default:
				fmt.Fprintf(in.stdout, "anchored %d stream(s) changed since the previous anchor in %s\n", len(r.Anchor.Streams), path)
			}
			return nil
		})
	}
}

// auditVerifyCommand is `assetanchor audit verify [--anchors DIR [--public-key FILE]]`.
// Without --anchors it is the database's own check of every hash chain.
func auditVerifyCommand(fs *flag.FlagSet) runFunc {
	dir := fs.String("anchors", "", "also check the log against the signed anchors in `DIR`, every hash recomputed in Go")
	keyFile := fs.String("public-key", "", "the anchor key's public half to trust, PEM or base64 `FILE` (default: the configured anchor key's; never DIR's anchor.pub)")
	return func(ctx context.Context, in invocation) error {
		if *dir == "" {
			if *keyFile != "" {
				return usageError("--public-key needs --anchors DIR")
			}
			return auditCommand(ctx, in)
		}
		pub, err := trustedPublicKey(in.cfg, *keyFile)
		if err != nil {
			return err
		}
		return withApp(ctx, in.cfg, in.stderr, func(_ *app, pool *pgxpool.Pool) error {
			return verifyAnchors(ctx, pool, *dir, pub, in.stdout)
		})
	}
}

// trustedPublicKey is the key verification trusts: the file given, or the public
// half of the configured anchor key.
func trustedPublicKey(cfg config, file string) (ed25519.PublicKey, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, usageError("--public-key: " + err.Error())
		}
		pub, err := anchor.ParsePublicKey(data)
		if err != nil {
			return nil, usageError("--public-key " + file + ": " + err.Error())
		}
		return pub, nil
	}
	key, err := anchorKey(cfg, false, nil)
	if err != nil {
		return nil, err
	}
	if key == nil {
		return nil, usageError("no anchor key to trust: give --public-key FILE (a copy of anchor.pub kept apart from the anchors), " +
			"or set ASSETANCHOR_ANCHOR_KEY, or run where the data dir holds " + anchorKeyFile)
	}
	return key.Public().(ed25519.PublicKey), nil
}

// verifyAnchors prints every finding, one a line, and fails unless the log
// holds what the anchors signed.
func verifyAnchors(ctx context.Context, pool *pgxpool.Pool, dir string, pub ed25519.PublicKey, stdout io.Writer) error {
	v, err := anchor.NewVerifier(pool, dir, pub)
	if err != nil {
		return err
	}
	r, err := v.Verify(ctx)
	if err != nil {
		return err
	}
	tampered := map[string]bool{}
	var anchorProblems, newer int
	for _, f := range r.Findings {
		label := "TAMPERED"
		switch {
		case f.Kind == anchor.NewerThanLog && f.Acknowledged:
			label = "RESTORED"
		case f.Kind == anchor.NewerThanLog:
			label, newer = "NEWER", newer+1
		case f.Stream == "":
			label, anchorProblems = "ANCHOR", anchorProblems+1
		default:
			tampered[f.Stream] = true
		}
		line := label + " " + f.String()
		if f.Acknowledged {
			line += " (a later anchor made with --restored started anew after it)"
		}
		fmt.Fprintln(stdout, line)
	}
	if r.OK() {
		fmt.Fprintf(stdout, "every stream's history holds against the %d anchor(s) in %s (latest %s): %d streams, %d events checked\n",
			r.Anchors, dir, r.Latest, r.Streams, r.Events)
		return nil
	}
	var parts []string
	if len(tampered) > 0 {
		parts = append(parts, fmt.Sprintf("%d stream(s) changed, removed, truncated, reordered or vanished", len(tampered)))
	}
	if anchorProblems > 0 {
		parts = append(parts, fmt.Sprintf("%d anchor file(s) with a bad signature or a broken chain", anchorProblems))
	}
	if newer > 0 {
		parts = append(parts, fmt.Sprintf("%d anchor(s) newer than this log (restored?)", newer))
	}
	return errors.New("the log does not hold what its anchors signed: " + strings.Join(parts, ", "))
}

// anchorSchedule is serve's anchoring: at the start of the job, every interval
// and once more when serve stops, on the node holding the job's lease.
type anchorSchedule struct {
	anchorer *anchor.Anchorer
	dir      string
	every    time.Duration
	log      *slog.Logger
}

// newAnchorSchedule returns serve's schedule, nil when ASSETANCHOR_ANCHOR_EVERY
// is 0. It generates the anchor key if none is configured.
func newAnchorSchedule(cfg config, pool *pgxpool.Pool, log *slog.Logger) (*anchorSchedule, error) {
	every, err := cfg.anchorEvery()
	if err != nil || every == 0 {
		return nil, err
	}
	key, err := anchorKey(cfg, true, log)
	if err != nil {
		return nil, err
	}
	a, err := anchor.NewAnchorer(pool, cfg.anchorDir(), key)
	if err != nil {
		return nil, err
	}
	return &anchorSchedule{anchorer: a, dir: cfg.anchorDir(), every: every, log: log.With("component", "anchor")}, nil
}

// job is the lease's job. stopping ends when serve stops, unlike the job's own
// context, which also ends when the lease is lost: only a stopping holder
// anchors a last time, for after a lost lease another node holds the job.
func (s *anchorSchedule) job(stopping context.Context) func(context.Context) {
	return func(ctx context.Context) {
		s.anchor(ctx)
		ticker := time.NewTicker(s.every)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				if stopping.Err() != nil {
					last, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
					s.anchor(last)
					cancel()
				}
				return
			case <-ticker.C:
				s.anchor(ctx)
			}
		}
	}
}

// anchor anchors once; a failure is logged and the next run tries again.
func (s *anchorSchedule) anchor(ctx context.Context) {
	r, err := s.anchorer.Anchor(ctx, false)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.ErrorContext(ctx, "anchor the event log", "dir", s.dir, "err", err)
	case err == nil && r.Written:
		s.log.InfoContext(ctx, "anchored the event log", "file", filepath.Join(s.dir, r.File),
			"streams", len(r.Anchor.Streams), "full", r.Anchor.Full)
	}
}

// anchorVerifier is what the audit console checks a stream's integrity with
// (Verifier.Stream): the anchors in <data dir>/anchors under the public half of
// the configured anchor key; nil when no key is configured (no anchor yet).
func anchorVerifier(cfg config, pool *pgxpool.Pool) (*anchor.Verifier, error) {
	key, err := anchorKey(cfg, false, nil)
	if err != nil || key == nil {
		return nil, err
	}
	return anchor.NewVerifier(pool, cfg.anchorDir(), key.Public().(ed25519.PublicKey))
}
