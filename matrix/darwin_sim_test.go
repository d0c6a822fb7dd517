package matrix

import (
	"errors"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// darwinTMPDIR is a real macOS $TMPDIR (confstr _CS_DARWIN_USER_TEMP_DIR):
// 49 bytes, its per-user part 30 characters.
const darwinTMPDIR = "/var/folders/pd/l3jkqy0s6_59p4vhlbx3__dr0000gp/T/"

// A darwin simulation: with the suite's own naming (run directory,
// scenario directories) and ipc's layout code for darwin (sun_path 103),
// the socket path of every scenario under a real macOS $TMPDIR fits, except
// path.budget's, which overflows on purpose. Before the short names every
// scenario fell back to /tmp/bh-<uid>, where the plants had no parents.
func TestDarwinSocketPaths(t *testing.T) {
	if len(darwinTMPDIR) != 49 {
		t.Fatalf("darwinTMPDIR is %d bytes, want 49", len(darwinTMPDIR))
	}
	// os.MkdirTemp appends up to 10 digits to the prefix.
	runDir := darwinTMPDIR + stage.RunDirPrefix + "4294967295"
	limit := ipc.SunPathLimit("darwin")
	var overflowed []string
	for i, s := range Catalogue() {
		if s.Transport == ipc.TransportTCP || len(s.Platforms) > 0 && !slices.Contains(s.Platforms, "darwin") {
			continue // no socket on darwin
		}
		_, root := stage.ScenarioDirs(runDir, i+1)
		// stage.ScenarioDirs uses filepath (the host's separator): this is a
		// POSIX host, as the test's paths are.
		root = path.Clean(root)
		if s.ID == "path.budget" {
			root = scenario.BudgetRoot(root, DefaultSocketTemplate, DefaultName, limit)
		}
		if s.ID == scenario.SquatDoSScenario.ID {
			root = path.Join(path.Dir(root), scenario.PerUserBasePrefix+"ffff") // the per-user base the daemon serves in
		}
		for _, uid := range []int{0, 501} {
			lay, err := ipc.LayoutFor("darwin", root, DefaultName, ipc.TransportUnix, uid)
			switch {
			case errors.Is(err, ipc.ErrPathTooLong):
				overflowed = append(overflowed, s.ID)
				t.Logf("%s (uid %d): %v", s.ID, uid, err)
			case err != nil:
				t.Fatalf("%s: %v", s.ID, err)
			case lay.Fallback:
				overflowed = append(overflowed, s.ID)
				t.Logf("%s (uid %d): fallback %s (%d bytes); primary %s/bu-%s.d/sock", s.ID, uid, lay.Sock, len(lay.Sock), root, DefaultName)
			case len(lay.Sock) > limit:
				t.Fatalf("%s: %s is %d bytes > %d", s.ID, lay.Sock, len(lay.Sock), limit)
			default:
				if uid == 0 {
					t.Logf("%-26s %s (%d bytes, %d spare)", s.ID, lay.Sock, len(lay.Sock), limit-len(lay.Sock))
				}
			}
		}
	}
	if strings.Join(overflowed, " ") != "path.budget path.budget" {
		t.Errorf("scenarios whose socket path overflows darwin's sun_path: %v, want path.budget only (for both uids)", overflowed)
	}
}
