package matrix

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// What the attacker uid can do to a run, over the whole catalogue
// (docs/security.md, "What the attacker uid can do"): withdraw or replace
// what it planted, or add bytes to its helpers' output. Each makes every
// scenario it touches an error; none passes. The daemon is brokend -flaw
// plain, which fails every one of them left alone (it follows links, uses
// another uid's directory and answers every uid): a pass could only be
// forged.
func TestAttackerUIDCannotMakeAPass(t *testing.T) {
	needBins(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: scenarios plant and run helpers as another uid; run: sudo go test ./matrix -run TestAttackerUIDCannotMakeAPass")
	}
	t.Parallel()
	// What the attacker's own process could do, done here as root.
	withdraw := func(e *Env, uid int, path string) {
		if rel, err := e.Runner.FS.Rel(path); err == nil {
			e.Runner.FS.Root.RemoveAll(rel)
		} else {
			os.RemoveAll(path) // the fallback under /tmp; test only
		}
	}
	replace := func(e *Env, uid int, path string) {
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil {
			return
		}
		link, _ := os.Readlink(path)
		// Kept under another name, so that the new one cannot get its
		// inode number (one removed and made again equal may: then the
		// daemon meets an equal plant, which is no interference).
		if os.Rename(path, path+"-old") != nil {
			return
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			os.Symlink(link, path)
		} else {
			os.Mkdir(path, os.FileMode(st.Mode&0o777))
		}
		os.Lchown(path, uid, uid) // the same type, owner and target: another inode
	}
	forge := func(out []byte) []byte {
		return append(append([]byte(`{"result":{"connected":false,"error":"connect: connection refused","refused":"connection refused"},"forged":`), out...), "}\n"...)
	}
	for _, c := range []struct {
		name  string
		hooks func(touched func(*Env)) *stage.TestHooks
		want  []string // scenarios it must reach, at least
	}{
		{"plant withdrawn", func(touched func(*Env)) *stage.TestHooks {
			return &stage.TestHooks{AfterPlant: func(e *Env, uid int, path string) { touched(e); withdraw(e, uid, path) }}
		}, []string{"dir.symlink", "dir.foreign-owner"}},
		{"plant replaced", func(touched func(*Env)) *stage.TestHooks {
			return &stage.TestHooks{AfterPlant: func(e *Env, uid int, path string) { touched(e); replace(e, uid, path) }}
		}, []string{"dir.symlink", "dir.foreign-owner"}},
		{"helper reply forged", func(touched func(*Env)) *stage.TestHooks {
			return &stage.TestHooks{HelperOutput: func(id, name string, uid int, out []byte) []byte {
				if uid != DefaultAttackerUID {
					return out
				}
				touched(&Env{Scenario: Scenario{ID: id}})
				return forge(out)
			}}
		}, []string{"auth.foreign-uid-connect", "auth.peercred", "dir.symlink"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			touched := map[string]bool{}
			hooks := c.hooks(func(e *Env) { mu.Lock(); touched[e.Scenario.ID] = true; mu.Unlock() })
			sc, err := Select(strings.Join(otherUIDScenarios(), ","))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: brokenTarget("plain"), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			var reached []string
			for _, r := range rep.Results {
				t.Logf("%s: %s: %s", r.ID, r.Status, target.OneLine(r.Reason, 240))
				// inst.cleanup-no-follow's verdict rests on a link of the
				// daemon's uid, not on the attacker's (ForgetPlant): its
				// withdrawal leaves a verdict that was really tested.
				if !touched[r.ID] || r.ID == "inst.cleanup-no-follow" && c.name != "helper reply forged" {
					continue
				}
				reached = append(reached, r.ID)
				if r.Status != Error {
					t.Errorf("%s: %s (%s); want an error: %s", r.ID, r.Status, target.OneLine(r.Reason, 200), c.name)
				}
			}
			sort.Strings(reached)
			for _, id := range c.want {
				if !slices.Contains(reached, id) {
					t.Errorf("%s was not reached (reached: %v)", id, reached)
				}
			}
		})
	}
}
