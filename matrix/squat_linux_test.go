package matrix

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dir.squat-dos (issue 22, class 5) against each kind of target: a daemon
// that chooses its base serves in the per-user one (the builtin, brokend
// as ipc chooses) or refuses the shared one's squat with nowhere else to
// go (-flaw sharedbase); a daemon told where is judged at its template: a
// directory no other uid can create in (the suite's 0700 one) turns the
// squat away in the kernel, a shared one lets it through, and the daemon
// refuses it (none) or serves inside it (plain).
func TestSquatDoS(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("dir.squat-dos squats as uid %d; run as root: sudo go test -run TestSquatDoS ./matrix/ (CI runs as root)", DefaultAttackerUID)
	}
	needBins(t)
	explicit := func(args ...string) Target {
		return Target{Cmd: append([]string{bins.brokend}, args...), Socket: "{root}/bu.sock", Protocol: ProtocolBHJSON}
	}
	agent := Target{Cmd: []string{bins.brokend, "-socket", "{root}/agent.d/sock"}, Socket: "{root}/agent.d/sock", Protocol: ProtocolBHJSON, DirCreatedBy: "suite"}
	plain := brokenTarget("plain")
	plain.Cmd = []string{bins.brokend, "-flaw", "plain", "-root", "{root}", "-name", "{name}"}
	plain.PerUserBase = false
	for _, c := range []struct {
		name   string
		target Target
		status Status
		says   []string
	}{
		{"builtin", BuiltinTarget(), Pass, []string{"in the per-user base", "could not make", "permission denied", "did not stand in its way"}},
		{"brokend as ipc chooses", brokenTarget("unlink"), Pass, []string{"in the per-user base", "could not make"}},
		{"brokend -flaw sharedbase", brokenTarget("sharedbase"), Fail, []string{"refused — correctly —", "looks only in the shared base", "nowhere else to go", fmt.Sprintf("uid %d made", DefaultAttackerUID)}},
		{"told a directory the suite made 0700", agent, Pass, []string{"could not make", "permission denied", "no other uid can create in"}},
		{"told a shared directory, refuses", explicit("-flaw", "none", "-root", "{root}", "-name", "{name}"), Fail, []string{"nowhere else to go", "every uid can create in", "--per-user-base"}},
		{"told a shared directory, serves inside the squat", plain, Fail, []string{"serves inside it", "remove its socket at will"}},
		// An abstract name: the attacker binds and holds it first, and the
		// daemon (correct in every other way) cannot serve there.
		{"an abstract name", abstractTarget("abstractns"), Fail, []string{
			fmt.Sprintf("uid %d bound and listens on the abstract name", DefaultAttackerUID),
			"any uid in the network namespace can take it first", "exit 1", "address already in use",
			"A socket file in a per-user private directory is the fix"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := runSuite(t, c.target, "dir.squat-dos")
			r, _ := find(rep, "dir.squat-dos")
			t.Logf("%s: %s\n  %s", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
			if r.Status != c.status {
				t.Errorf("dir.squat-dos: %s %q, want %s", r.Status, r.Reason, c.status)
			}
			for _, s := range c.says {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("dir.squat-dos: reason %q does not say %q", r.Reason, s)
				}
			}
		})
	}
}

// --per-user-base assumes the socket's path is the same under either
// base. A daemon whose path differs (emacs: $XDG_RUNTIME_DIR/emacs/server,
// $TMPDIR/emacs<uid>/server; here socat started by a shell that does the
// same) is not found in the per-user base: no verdict, and the reason and
// evidence say what the daemon made there, so the user sees where it went.
func TestSquatDoSPathDiffersUnderPerUserBase(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("dir.squat-dos squats as uid %d; run as root: sudo go test -run TestSquatDoSPathDiffersUnderPerUserBase ./matrix/", DefaultAttackerUID)
	}
	needProgram(t, "socat", "socat")
	script := `if [ -n "$XDG_RUNTIME_DIR" ]; then d="$XDG_RUNTIME_DIR/emacs"; else d="$TMPDIR/emacs$(id -u)"; fi; ` +
		`mkdir -m 700 "$d" && exec socat UNIX-LISTEN:"$d/server",fork EXEC:cat`
	target := Target{Cmd: []string{"sh", "-c", script}, Socket: fmt.Sprintf("{root}/emacs%d/server", os.Geteuid()),
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`, PerUserBase: true}
	sc, _ := Select("dir.squat-dos")
	rep, err := Run(t.Context(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, ReadyTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := find(rep, "dir.squat-dos")
	evidence := strings.Join(r.Evidence, "\n")
	t.Logf("%s: %s\n  %s", r.Status, r.Reason, strings.ReplaceAll(evidence, "\n", "\n  "))
	if r.Status != Error || !regexp.MustCompile(`but made a socket there at \S+/u-[0-9a-f]{4}/emacs/server`).MatchString(r.Reason) ||
		!strings.Contains(r.Reason, "--per-user-base assumes") || !regexp.MustCompile(`holds: emacs \(dir 0700 uid 0[^)]*\), emacs/server \(socket`).MatchString(evidence) {
		t.Errorf("dir.squat-dos: %s %q\n  %s\nwant no verdict naming the socket the daemon made in the per-user base, with the base's listing in the evidence", r.Status, r.Reason, strings.ReplaceAll(evidence, "\n", "\n  "))
	}
}
