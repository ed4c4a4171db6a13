package backup

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// schedule builds the sets a serve taking a full backup daily at 01:00 and
// incrementals at 07:00, 13:00 and 19:00 would have made over days days up to
// end (labels F-<day> and I-<day>-<hour>).
func schedule(end time.Time, days int) []Set {
	var sets []Set
	first := end.AddDate(0, 0, -days+1)
	for d := 0; d < days; d++ {
		day := time.Date(first.Year(), first.Month(), first.Day()+d, 0, 0, 0, 0, time.UTC)
		full := fmt.Sprintf("F-%s", day.Format("0102"))
		sets = append(sets, Set{Label: full, Type: Full, Start: day.Add(time.Hour), Stop: day.Add(time.Hour + 5*time.Minute)})
		prior := full
		for _, h := range []int{7, 13, 19} {
			label := fmt.Sprintf("I-%s-%02d", day.Format("0102"), h)
			start := day.Add(time.Duration(h) * time.Hour)
			sets = append(sets, Set{Label: label, Type: Incremental, Prior: prior, Start: start, Stop: start.Add(time.Minute)})
			prior = label
		}
	}
	return sets
}

func TestSelect(t *testing.T) {
	now := time.Date(2025, 3, 31, 20, 0, 0, 0, time.UTC) // a Monday
	tests := []struct {
		name       string
		sets       []Set
		policy     Policy
		wantKeep   []string // exactly these, oldest first
		wantExpire []string
		wantWAL    int
	}{
		{
			name: "nothing to keep from", sets: nil, policy: DefaultPolicy,
		},
		{
			name:     "a young repository keeps everything",
			sets:     schedule(now, 2),
			policy:   DefaultPolicy,
			wantKeep: []string{"F-0330", "I-0330-07", "I-0330-13", "I-0330-19", "F-0331", "I-0331-07", "I-0331-13", "I-0331-19"},
			wantWAL:  8,
		},
		{
			// PITR over 1 day: from the newest backup ended by 20:00 the day before
			// (I-0330-19) on; daily tier: the fulls of the last 3 days.
			name:     "tiers keep fulls, the window keeps its chain",
			sets:     schedule(now, 5),
			policy:   Policy{Daily: 3, PITR: 24 * time.Hour},
			wantKeep: []string{"F-0329", "F-0330", "I-0330-07", "I-0330-13", "I-0330-19", "F-0331", "I-0331-07", "I-0331-13", "I-0331-19"},
			// The older fulls go, each taking its incrementals along; the
			// incrementals of a kept full that the window does not need go one by one
			// (each with those built on it).
			wantExpire: []string{"F-0327", "F-0328", "I-0329-07"},
			wantWAL:    5,
		},
		{
			name:   "weekly and monthly reach back past the daily tier",
			sets:   schedule(now, 70),
			policy: Policy{Daily: 2, Weekly: 3, Monthly: 3, PITR: 0},
			// Daily: 03-31, 03-30. Weekly (ISO weeks, newest full of each): week 14
			// (03-31), week 13 (03-30, a Sunday), week 12 (03-23). Monthly: March
			// (03-31), February (02-28), January (01-31). PITR 0: the newest backup
			// ended by now is the last incremental, kept with its chain.
			wantKeep: []string{"F-0131", "F-0228", "F-0323", "F-0330", "F-0331", "I-0331-07", "I-0331-13", "I-0331-19"},
			wantWAL:  1,
		},
		{
			name: "an incremental in the window keeps its full and priors",
			sets: []Set{
				{Label: "F1", Type: Full, Start: now.Add(-100 * time.Hour), Stop: now.Add(-99 * time.Hour)},
				{Label: "I1", Type: Incremental, Prior: "F1", Start: now.Add(-50 * time.Hour), Stop: now.Add(-49 * time.Hour)},
				{Label: "I2", Type: Incremental, Prior: "I1", Start: now.Add(-10 * time.Hour), Stop: now.Add(-9 * time.Hour)},
			},
			policy:   Policy{PITR: 24 * time.Hour},
			wantKeep: []string{"F1", "I1", "I2"},
			wantWAL:  2,
		},
		{
			name: "tiers of zero still keep the newest backup",
			sets: []Set{
				{Label: "F1", Type: Full, Start: now.Add(-100 * time.Hour), Stop: now.Add(-99 * time.Hour)},
				{Label: "F2", Type: Full, Start: now.Add(-50 * time.Hour), Stop: now.Add(-49 * time.Hour)},
			},
			policy:     Policy{},
			wantKeep:   []string{"F2"},
			wantExpire: []string{"F1"},
			wantWAL:    1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := Select(tt.sets, now, tt.policy)
			if !slices.Equal(plan.Keep, tt.wantKeep) {
				t.Errorf("keep = %v, want %v", plan.Keep, tt.wantKeep)
			}
			if tt.wantExpire != nil && !slices.Equal(plan.Expire, tt.wantExpire) {
				t.Errorf("expire = %v, want %v", plan.Expire, tt.wantExpire)
			}
			if plan.KeepWAL != tt.wantWAL {
				t.Errorf("keepWAL = %d, want %d", plan.KeepWAL, tt.wantWAL)
			}
			// Every set is kept or goes with an expired label, never both.
			gone := map[string]bool{}
			for _, label := range plan.Expire {
				gone[label] = true
			}
			for _, s := range tt.sets {
				for p := s.Prior; p != "" && !gone[s.Label]; {
					if gone[p] {
						gone[s.Label] = true
					}
					p = priorOf(tt.sets, p)
				}
				kept := slices.Contains(plan.Keep, s.Label)
				if kept == gone[s.Label] {
					t.Errorf("%s: kept %v, expired %v", s.Label, kept, gone[s.Label])
				}
			}
		})
	}
}

func priorOf(sets []Set, label string) string {
	for _, s := range sets {
		if s.Label == label {
			return s.Prior
		}
	}
	return ""
}
