package matrix

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// A --pidfile is believed only for a process of the start: one that names
// an unrelated live process (a pid file sits where other uids may write it,
// and a daemon may write any pid) does not make that process the serving
// one, which the suite would signal; one that names a process of the start
// does.
func TestPidFileBelievedOnlyForTheStart(t *testing.T) {
	root := shortDir(t, "pidf")
	r := testRunner(t)
	r.Config.Target = Target{Cmd: []string{"x"}, Socket: "{root}/s", Protocol: ProtocolConnect, Forks: true, PidFile: "{root}/d.pid"}
	e := &Env{Runner: r, Parent: root}
	d := &stage.Daemon{Pid: -1, Root: root, Name: "n", Marker: e.MarkerFor(0)}
	start := func(env ...string) int {
		cmd := exec.Command("sleep", "60")
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process.Pid
	}
	victim := start()
	write := func(pid int) {
		if err := os.WriteFile(filepath.Join(root, "d.pid"), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(victim)
	if pid, how := e.FindServing(context.Background(), d, 0); pid == victim {
		t.Errorf("--pidfile naming pid %d, not of the start, was believed (%s): the suite would signal it", victim, how)
	}
	own := start(d.Marker)
	write(own)
	if pid, how := e.FindServing(context.Background(), d, 0); pid != own || how != "pid file "+filepath.Join(root, "d.pid") {
		t.Errorf("--pidfile naming pid %d of the start: found %d (%s), want it through the pid file", own, pid, how)
	}
}
