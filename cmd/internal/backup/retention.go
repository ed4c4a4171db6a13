package backup

import (
	"fmt"
	"sort"
	"time"
)

// Policy is how long backups are kept. pgBackRest only counts full backups, so
// assetanchor picks the sets itself (Select) and expires the others by label.
type Policy struct {
	// Daily, Weekly and Monthly keep the newest full backup of each of that
	// many most recent days, ISO weeks and months (UTC) that have one.
	Daily, Weekly, Monthly int
	// PITR keeps every backup, and the WAL after it, needed to restore to any
	// moment of this long before now.
	PITR time.Duration
}

// DefaultPolicy is the seed's: 7 daily, 4 weekly, 12 monthly, and
// point-in-time recovery over the last 7 days.
var DefaultPolicy = Policy{Daily: 7, Weekly: 4, Monthly: 12, PITR: 7 * 24 * time.Hour}

// Plan is what Select decides.
type Plan struct {
	Keep []string // labels kept, oldest first
	// Expire are the labels to pass to pgbackrest expire --set, oldest first;
	// each takes the backups built on it along.
	Expire []string
	// KeepWAL is how many of the newest backups keep continuous WAL after them
	// (pgbackrest --repo1-retention-archive with type incr).
	KeepWAL int
}

// Select applies p to sets at time now. It keeps the newest full backup of each
// day, week and month in the tiers; every backup from the newest one that ended
// at or before now-PITR onwards (or all, when none is that old); always the
// newest backup; and every backup a kept one builds on.
func Select(sets []Set, now time.Time, p Policy) Plan {
	sorted := append([]Set(nil), sets...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Start.Before(sorted[j].Start) })
	keep := map[string]bool{}
	byLabel := map[string]Set{}
	for _, s := range sorted {
		byLabel[s.Label] = s
	}
	tier := func(n int, period func(time.Time) string) {
		seen := map[string]bool{}
		for i := len(sorted) - 1; i >= 0 && len(seen) < n; i-- {
			s := sorted[i]
			if s.Type != Full {
				continue
			}
			key := period(s.Stop.UTC())
			if !seen[key] {
				seen[key] = true
				keep[s.Label] = true
			}
		}
	}
	tier(p.Daily, func(t time.Time) string { return t.Format("2006-01-02") })
	tier(p.Weekly, func(t time.Time) string {
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	})
	tier(p.Monthly, func(t time.Time) string { return t.Format("2006-01") })

	var plan Plan
	if len(sorted) > 0 {
		base := 0
		cutoff := now.Add(-p.PITR)
		for i, s := range sorted {
			if !s.Stop.After(cutoff) {
				base = i
			}
		}
		for _, s := range sorted[base:] {
			keep[s.Label] = true
		}
		plan.KeepWAL = len(sorted) - base
	}
	// What a kept backup builds on stays too.
	for label := range keep {
		for prior := byLabel[label].Prior; prior != ""; prior = byLabel[prior].Prior {
			keep[prior] = true
		}
	}
	for _, s := range sorted {
		switch {
		case keep[s.Label]:
			plan.Keep = append(plan.Keep, s.Label)
		case s.Prior == "" || keep[s.Prior]:
			// Its own prior stays, so expiring it takes only it and its dependents.
			plan.Expire = append(plan.Expire, s.Label)
		}
	}
	return plan
}
