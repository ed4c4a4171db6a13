package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/assetanchor/assetanchor/projections"
)

// rebuildCommand is `assetanchor projections rebuild NAME|--all`. There is one
// projector, relational, so both forms rebuild it.
func rebuildCommand(fs *flag.FlagSet) runFunc {
	all := fs.Bool("all", false, "rebuild every projector")
	return func(ctx context.Context, in invocation) error {
		switch {
		case *all && len(in.args) > 0:
			return usageError("give a projector name or --all, not both")
		case !*all && len(in.args) == 0:
			return usageError("projections rebuild needs a projector name (" + projections.RelationalName + ") or --all")
		case !*all && in.args[0] != projections.RelationalName:
			return usageError("no projector " + in.args[0] + ": the one projector is " + projections.RelationalName)
		}
		return rebuild(ctx, in.cfg, in.stdout, in.stderr)
	}
}

func rebuild(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	return withApp(ctx, cfg, stderr, func(a *app, pool *pgxpool.Pool) error {
		bar := newProgressBar(stderr, "rebuild "+projections.RelationalName)
		res, err := projections.Rebuild(ctx, pool, projections.RebuildOptions{Progress: bar.update, Keyring: a.keyring})
		bar.finish()
		if err != nil {
			return fmt.Errorf("rebuild %s: %w", projections.RelationalName, err)
		}
		fmt.Fprintf(stdout, "rebuilt %s: %d events in %s (%.0f events/s); swapped in at checkpoint %d/%d\n",
			projections.RelationalName, res.Events, res.Elapsed.Round(time.Millisecond),
			rate(res.Events, res.Elapsed), res.Checkpoint.TransactionID, res.Checkpoint.Position)
		return nil
	})
}

// verifyCommand is `assetanchor projections verify`: a rebuild into scratch
// tables, compared row by row with the live ones at the live checkpoint.
func verifyCommand(ctx context.Context, in invocation) error {
	stdout, stderr := in.stdout, in.stderr
	return withApp(ctx, in.cfg, stderr, func(a *app, pool *pgxpool.Pool) error {
		bar := newProgressBar(stderr, "verify "+projections.RelationalName)
		res, err := projections.Verify(ctx, pool, projections.RebuildOptions{Progress: bar.update, Keyring: a.keyring})
		bar.finish()
		if err != nil {
			return fmt.Errorf("verify %s: %w", projections.RelationalName, err)
		}
		if res.Identical() {
			fmt.Fprintf(stdout, "identical: %d rows in %d tables (checkpoint %d/%d)\n",
				res.Rows, res.Tables, res.Checkpoint.TransactionID, res.Checkpoint.Position)
			return nil
		}
		fmt.Fprintf(stdout, "DIFFERENT: %d row(s) differ between the live read model and a rebuild (checkpoint %d/%d); the first:\n",
			res.Differing, res.Checkpoint.TransactionID, res.Checkpoint.Position)
		for _, d := range res.Differences {
			fmt.Fprintf(stdout, "%s id=%s\n  live:    %s\n  rebuilt: %s\n", d.Table, d.ID, orMissing(d.Live), orMissing(d.Rebuilt))
		}
		return fmt.Errorf("the live read model differs from a rebuild in %d row(s): run assetanchor projections rebuild --all", res.Differing)
	})
}

func orMissing(s *string) string {
	if s == nil {
		return "(no such row)"
	}
	return *s
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// progressBar shows replay progress on stderr: one redrawn line on a terminal,
// otherwise a plain line every 5 seconds or 10 %.
type progressBar struct {
	w        io.Writer
	label    string
	tty      bool
	drawn    bool
	lastAt   time.Time
	lastTen  int64 // the last 10 % step printed
	lastLine projections.Progress
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label, tty: isTerminal(w), lastAt: time.Now(), lastTen: -1}
}

// isTerminal reports whether w is a terminal. A character device is not enough:
// /dev/null is one, and would get the redrawn progress line.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (b *progressBar) update(p projections.Progress) {
	b.lastLine = p
	pct := int64(100)
	if p.Total > 0 {
		pct = min(100, p.Done*100/p.Total)
	}
	if b.tty {
		const width = 30
		filled := int(pct * width / 100)
		fmt.Fprintf(b.w, "\r%s [%s%s] %3d%% %d/%d events  %.0f ev/s  ETA %s  %s\x1b[K",
			b.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), pct, p.Done, p.Total,
			p.Rate(), p.ETA().Round(time.Second), p.Phase)
		b.drawn = true
		return
	}
	if ten := pct / 10; ten > b.lastTen || time.Since(b.lastAt) >= 5*time.Second {
		b.lastTen, b.lastAt = ten, time.Now()
		fmt.Fprintf(b.w, "%s: %s %d/%d events (%d%%), %.0f events/s, ETA %s\n",
			b.label, p.Phase, p.Done, p.Total, pct, p.Rate(), p.ETA().Round(time.Second))
	}
}

func (b *progressBar) finish() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}
