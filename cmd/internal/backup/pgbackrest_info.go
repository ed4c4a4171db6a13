package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Set is one backup in the repository.
type Set struct {
	Label     string
	Type      Type // full, diff or incr
	Start     time.Time
	Stop      time.Time
	Size      int64  // the database size it restores
	RepoSize  int64  // what it takes in the repository
	Prior     string // the backup an incremental builds on; "" for a full
	WALStart  string // first WAL segment it needs
	WALStop   string
	Reference []string
}

// Info is the repository's content.
type Info struct {
	Sets []Set // oldest first
	// WALMin and WALMax are the oldest and newest archived WAL segments of
	// the current database, and WALMaxTime when the newest was archived.
	WALMin, WALMax string
	WALMaxTime     time.Time
	// WALFrom is the oldest segment from which the archive holds every
	// segment up to WALMax. Expiring WAL past the PITR window keeps only the
	// segments that make each older backup consistent, so WALMin may lie
	// before a gap.
	WALFrom string
}

// Window is the span that point-in-time recovery covers: from the end of the
// oldest backup whose WAL is archived without a gap up to now, to the newest
// archived WAL. Zero when there is no backup.
func (i Info) Window() (from, to time.Time) {
	start, ok := walIndex(i.WALFrom)
	for _, s := range i.Sets {
		if n, sok := walIndex(s.WALStart); ok && sok && n >= start {
			from = s.Stop
			break
		}
	}
	if from.IsZero() {
		return time.Time{}, time.Time{}
	}
	// pgBackRest records whole seconds; the backup may end up to a second later.
	from = from.Add(time.Second)
	to = i.WALMaxTime
	if last := i.Sets[len(i.Sets)-1].Stop; to.Before(last) {
		to = last
	}
	return from, to
}

// Info reads the repository (the server need not run).
func (r *Repo) Info(ctx context.Context) (Info, error) {
	if _, err := os.Stat(r.confPath()); errors.Is(err, fs.ErrNotExist) {
		return Info{}, nil // never set up: nothing backed up
	}
	out, err := r.run(ctx, nil, "info", "--output=json")
	if err != nil {
		return Info{}, err
	}
	var stanzas []struct {
		Archive []struct {
			Database struct {
				ID int `json:"id"`
			} `json:"database"`
			ID  string `json:"id"`
			Max string `json:"max"`
			Min string `json:"min"`
		} `json:"archive"`
		Backup []struct {
			Archive struct {
				Start string `json:"start"`
				Stop  string `json:"stop"`
			} `json:"archive"`
			Database struct {
				ID int `json:"id"`
			} `json:"database"`
			Info struct {
				Size       int64 `json:"size"`
				Repository struct {
					Delta int64 `json:"delta"`
				} `json:"repository"`
			} `json:"info"`
			Label     string   `json:"label"`
			Prior     *string  `json:"prior"`
			Reference []string `json:"reference"`
			Timestamp struct {
				Start int64 `json:"start"`
				Stop  int64 `json:"stop"`
			} `json:"timestamp"`
			Type string `json:"type"`
		} `json:"backup"`
		DB []struct {
			ID int `json:"id"`
		} `json:"db"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(out, &stanzas); err != nil {
		return Info{}, fmt.Errorf("read pgbackrest info: %w", err)
	}
	var info Info
	archiveID := ""
	for _, st := range stanzas {
		if st.Name != Stanza {
			continue
		}
		current := 0
		for _, db := range st.DB {
			current = max(current, db.ID)
		}
		for _, a := range st.Archive {
			if a.Database.ID == current {
				info.WALMin, info.WALMax, archiveID = a.Min, a.Max, a.ID
			}
		}
		for _, b := range st.Backup {
			s := Set{
				Label: b.Label, Type: Type(b.Type),
				Start: time.Unix(b.Timestamp.Start, 0).UTC(), Stop: time.Unix(b.Timestamp.Stop, 0).UTC(),
				Size: b.Info.Size, RepoSize: b.Info.Repository.Delta,
				WALStart: b.Archive.Start, WALStop: b.Archive.Stop, Reference: b.Reference,
			}
			if b.Prior != nil {
				s.Prior = *b.Prior
			}
			info.Sets = append(info.Sets, s)
		}
	}
	sort.SliceStable(info.Sets, func(i, j int) bool { return info.Sets[i].Start.Before(info.Sets[j].Start) })
	if info.WALMax != "" {
		info.WALMaxTime = r.walTime(info.WALMax)
		info.WALFrom = r.walFrom(archiveID, info.WALMax)
	}
	return info, nil
}

// walSegmentsPerLog is how many WAL segments one log file number holds: the
// private cluster is initialised with PostgreSQL's default 16 MiB segments.
const walSegmentsPerLog = 0x100

// walIndex is a WAL segment name's position in the WAL, whatever its
// timeline.
func walIndex(segment string) (uint64, bool) {
	if len(segment) < 24 {
		return 0, false
	}
	log, err1 := strconv.ParseUint(segment[8:16], 16, 32)
	seg, err2 := strconv.ParseUint(segment[16:24], 16, 32)
	if err1 != nil || err2 != nil || seg >= walSegmentsPerLog {
		return 0, false
	}
	return log*walSegmentsPerLog + seg, true
}

// walFrom walks the archive of archiveID back from newest and returns the
// oldest segment with none missing from there to newest ("" if newest is
// not there). Segments are matched by position, whatever their timeline: a
// restore starts a new timeline at a position the old one reached.
func (r *Repo) walFrom(archiveID, newest string) string {
	if archiveID == "" {
		archiveID = "*"
	}
	matches, _ := filepath.Glob(filepath.Join(r.RepoPath(), "archive", Stanza, archiveID, "*", "*"))
	have := map[uint64]string{}
	for _, m := range matches {
		name := filepath.Base(m)
		if len(name) < 25 || name[24] != '-' { // not a segment: .history, .partial, .backup
			continue
		}
		if n, ok := walIndex(name); ok {
			if prev, seen := have[n]; !seen || name[:24] < prev {
				have[n] = name[:24]
			}
		}
	}
	n, ok := walIndex(newest)
	if _, archived := have[n]; !ok || !archived {
		return ""
	}
	for n > 0 {
		if _, archived := have[n-1]; !archived {
			break
		}
		n--
	}
	return have[n]
}

// walTime is when a WAL segment reached the repository (its file's time).
func (r *Repo) walTime(segment string) time.Time {
	if len(segment) < 16 {
		return time.Time{}
	}
	matches, _ := filepath.Glob(filepath.Join(r.RepoPath(), "archive", Stanza, "*", segment[:16], segment+"-*"))
	var newest time.Time
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	return newest.UTC()
}
