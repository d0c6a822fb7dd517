package matrix

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// sockInSquat is the attacker binding a socket of its own where the
// daemon's would be, inside the directory it squatted (dir.squat-dos's
// bu-NAME.d in a scenario's shared root, this uid's): it listens on
// "sock" there, prints "bound PATH" for each, and holds them until its
// stdin closes.
func sockInSquat(dir string) {
	stop := stdinClosed()
	done := map[string]bool{}
	for end := time.Now().Add(attackDeadline); time.Now().Before(end) && !closed(stop); time.Sleep(time.Millisecond) {
		ds, _ := filepath.Glob(filepath.Join(dir, stage.RunDirPrefix+"*", "[0-9][0-9]", "root", "bu-"+DefaultName+".d"))
		for _, d := range ds {
			var st unix.Stat_t
			if done[d] || unix.Lstat(d, &st) != nil || int(st.Uid) != os.Getuid() {
				continue
			}
			if _, err := net.Listen("unix", filepath.Join(d, "sock")); err == nil {
				done[d] = true
				fmt.Println("bound", filepath.Join(d, "sock"))
			}
		}
	}
}

// The attacker binds a socket of its own inside the directory it squatted
// in dir.squat-dos, while the daemon hangs (this one sleeps when given a
// per-user base, else serves as socat in $TMPDIR): that socket is not the
// daemon serving inside the squat, so no fail; neither served nor
// refused, the scenario has no verdict.
func TestAttackSocketInSquatIsNotTheDaemons(t *testing.T) {
	needProgram(t, "socat", "socat")
	at := newAttackTest(t)
	const attacker = 3001
	atk := startOtherUID(t, at, attacker, "sockinsquat", at.tmp)
	script := `d="$TMPDIR/bu-$1.d"; [ -n "$XDG_RUNTIME_DIR" ] && exec sleep 600; mkdir -m 700 "$d" && exec socat UNIX-LISTEN:"$d/sock",fork EXEC:cat`
	tgt := Target{Cmd: []string{"sh", "-c", script, "sh", "{name}"}, Socket: "{root}/bu-{name}.d/sock", PerUserBase: true,
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	sc, err := Select("dir.squat-dos")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(at.ctx, Config{Exe: bins.cli, Target: tgt, Scenarios: sc, DaemonUID: -1, AttackerUID: attacker, Timeout: 60 * time.Second, ReadyTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	out := atk.stop()
	t.Logf("attacker: %s", out)
	res := resultOf(t, rep, "dir.squat-dos")
	t.Logf("%s: %s\n  %s", res.Status, res.Reason, strings.Join(res.Evidence, "\n  "))
	if !strings.Contains(out, "/01/root/bu-") {
		t.Fatalf("the attacker bound no socket in the scenario's squat: %s", out)
	}
	if res.Status != Error {
		t.Errorf("%s %q; want an error: the socket in the squat is uid %d's, and the daemon hung", res.Status, target.OneLine(res.Reason, 300), attacker)
	}
	// The daemon's own socket in the squat still fails it: this one
	// ignores the per-user base and serves in the shared one, squatted or
	// not.
	tgt.Cmd[2] = `d="$TMPDIR/bu-$1.d"; mkdir -p "$d" && exec socat UNIX-LISTEN:"$d/sock",fork EXEC:cat`
	if rep, err = Run(at.ctx, Config{Exe: bins.cli, Target: tgt, Scenarios: sc, DaemonUID: -1, AttackerUID: attacker, Timeout: 60 * time.Second, ReadyTimeout: 3 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if res := resultOf(t, rep, "dir.squat-dos"); res.Status != Fail || !strings.Contains(res.Reason, "ignores the per-user base") {
		t.Errorf("a daemon serving inside the squat: %s %q; want the fail", res.Status, target.OneLine(res.Reason, 300))
	}
}
