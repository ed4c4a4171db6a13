package main

import (
	"context"
	"sync"
	"time"

	"github.com/assetanchor/assetanchor/cmd/internal/backup"
)

// backupScheduler is serve's backup work: set-up, the schedule, retention and
// the erasure journal. Status is what /readyz shows.
type backupScheduler struct {
	b        *backups
	settings backupSettings

	mu     sync.Mutex
	reason string
}

// Status is "" while backups run, else why not (one line).
func (s *backupScheduler) Status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

func (s *backupScheduler) setReason(why string) {
	s.mu.Lock()
	s.reason = why
	s.mu.Unlock()
}

// run sets backups up, then every minute takes what is due and applies the
// retention; failures are logged and retried.
func (s *backupScheduler) run(ctx context.Context) {
	log := s.b.log
	var info backup.Info
	ready := false
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tick.Reset(time.Minute)
		if !ready {
			if err := s.b.prepare(ctx); err != nil {
				if why := "backups off: " + firstLine(err.Error()); ctx.Err() == nil && why != s.Status() {
					s.setReason(why)
					log.Warn("physical backups are off; serving goes on (retrying every minute)", "err", err)
				}
				continue
			}
			var err error
			if info, err = s.b.repo.Info(ctx); err != nil {
				s.setReason("backups: " + firstLine(err.Error()))
				continue
			}
			ready = true
			s.setReason("")
			log.Info("physical backups on: WAL archiving to pgBackRest", "repository", s.b.repo.RepoPath())
		}
		if _, err := s.b.syncErasures(ctx); err != nil && ctx.Err() == nil {
			log.Error("update the erasure journal", "err", err)
		}
		typ, due := dueBackup(info, time.Now(), s.settings)
		if !due {
			continue
		}
		if err := s.take(ctx, typ, &info); err != nil && ctx.Err() == nil {
			s.setReason("backups: last " + typeName(typ) + " backup failed: " + firstLine(err.Error()))
			log.Error("scheduled backup", "type", typeName(typ), "err", err)
			continue
		}
		s.setReason("")
	}
}

// take takes one backup, then applies the retention.
func (s *backupScheduler) take(ctx context.Context, typ backup.Type, info *backup.Info) error {
	if err := s.b.prepare(ctx); err != nil {
		return err
	}
	started := time.Now()
	set, err := s.b.repo.Create(ctx, s.b.server, typ)
	if err != nil {
		return err
	}
	s.b.log.Info("backup taken", "label", set.Label, "type", typeName(set.Type), "elapsed", time.Since(started).Round(time.Second), "size", set.Size)
	plan, after, err := applyRetention(ctx, s.b.repo, time.Now(), s.settings.policy)
	*info = after
	if err != nil {
		return err
	}
	if len(plan.Expire) > 0 {
		s.b.log.Info("expired backups past retention", "sets", plan.Expire, "kept", len(plan.Keep))
	}
	return nil
}

// applyRetention is serve's retention step after each backup: it selects the
// sets policy keeps at now, expires the others and the WAL no kept moment
// needs, and returns the plan and the repository as it is afterwards.
func applyRetention(ctx context.Context, repo *backup.Repo, now time.Time, policy backup.Policy) (backup.Plan, backup.Info, error) {
	info, err := repo.Info(ctx)
	if err != nil {
		return backup.Plan{}, info, err
	}
	plan := backup.Select(info.Sets, now, policy)
	if err := repo.Expire(ctx, plan.Expire, plan.KeepWAL); err != nil {
		return plan, info, err
	}
	info, err = repo.Info(ctx)
	return plan, info, err
}

// dueBackup says which backup the schedule wants now: a full one when none was
// started within fullEvery, else an incremental when none was within
// incrementalEvery.
func dueBackup(info backup.Info, now time.Time, s backupSettings) (backup.Type, bool) {
	var lastFull, last time.Time
	for _, set := range info.Sets {
		if set.Type == backup.Full && set.Start.After(lastFull) {
			lastFull = set.Start
		}
		if set.Start.After(last) {
			last = set.Start
		}
	}
	if s.fullEvery > 0 && (lastFull.IsZero() || now.Sub(lastFull) >= s.fullEvery) {
		return backup.Full, true
	}
	if s.incrementalEvery > 0 && !last.IsZero() && now.Sub(last) >= s.incrementalEvery {
		return backup.Incremental, true
	}
	return "", false
}
