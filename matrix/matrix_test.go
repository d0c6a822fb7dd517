package matrix

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/internal/fsx"
	"github.com/org/bh-ipc-check/internal/testenv"
	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// bins holds the CLI and the broken daemon, built once by TestMain into a
// directory every uid can read (the suite re-executes the CLI as other
// uids).
var bins struct {
	dir, cli, brokend string
	err               error
}

// Tests that run the suite for seconds are t.Parallel (scripts/test.sh
// runs them four at a time: most of their time is spent waiting for
// daemons, so running them side by side is most of what makes the package
// fast) unless they cannot share the process: TestBrokenClientsFailExactly
// swaps a package variable; TestForksClearedEnvironment's daemon wipes its
// environment, so it is known only as an unmarked orphan adopted by this
// process, which another test's daemon would be taken for; tests that set
// the environment, the umask or TMPDIR, and the attack tests, whose
// attackers scan for the run's directories. A parallel test's leftover
// check names its own run (procsWith with its -name, or a daemon no other
// test starts).
func TestMain(m *testing.M) {
	// No process a test starts (the builds below included) outlives
	// this test binary, however it ends.
	testenv.Reap()
	flag.Parse()
	// The binaries run as other uids: as root, not under a $TMPDIR they
	// cannot reach (macOS: the invoking user's 0700 directory).
	base := os.TempDir()
	if os.Geteuid() == 0 {
		var err error
		if base, err = fsx.TempDirFor(fsx.NobodyUID); err != nil {
			fmt.Fprintln(os.Stderr, "matrix tests:", err)
			os.Exit(2)
		}
	}
	dir, err := os.MkdirTemp(base, "bh-matrix-bin-")
	if err == nil {
		os.Chmod(dir, 0o755)
		bins.dir = dir
		bins.cli = filepath.Join(dir, "bh-ipc-check"+exeSuffix())
		bins.brokend = filepath.Join(dir, "brokend"+exeSuffix())
		for pkg, out := range map[string]string{"../cmd/bh-ipc-check": bins.cli, "./testdata/brokend": bins.brokend} {
			if runtime.GOOS != "linux" && strings.Contains(pkg, "brokend") {
				continue // brokend uses SO_PEERCRED; its tests are Linux-only
			}
			if err := testenv.BuildProgram(pkg, out); err != nil {
				bins.err = err
				break
			}
		}
	} else {
		bins.err = err
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

func needBins(t *testing.T) {
	t.Helper()
	if errors.Is(bins.err, testenv.ErrNoGoUnderWine) {
		testenv.SkipUnderWine(t, bins.err.Error())
	}
	if bins.err != nil {
		t.Fatalf("building the binaries under test: %v", bins.err)
	}
}

func runSuite(t *testing.T, target Target, patterns string) Report {
	t.Helper()
	return runSuiteNamed(t, target, patterns, "")
}

func runSuiteNamed(t *testing.T, target Target, patterns, name string) Report {
	t.Helper()
	needBins(t)
	sc, err := Select(patterns)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func byStatus(rep Report, st Status) []string {
	var ids []string
	for _, r := range rep.Results {
		if r.Status == st {
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func logReport(t *testing.T, rep Report) {
	t.Helper()
	var b strings.Builder
	WriteTable(&b, rep)
	// The table cuts reasons; an error's whole reason and evidence say
	// what happened (a test that fails under load once in a while is
	// diagnosed from its log alone).
	for _, r := range rep.Results {
		if r.Status == Error {
			fmt.Fprintf(&b, "\n%s: %s\n  %s\n", r.ID, r.Reason, strings.Join(r.Evidence, "\n  "))
		}
	}
	t.Log("\n" + b.String())
}

// otherUIDScenarios are the ones a non-root run must skip: those that act
// as another uid, or from another mount namespace.
func otherUIDScenarios() []string {
	var ids []string
	for _, s := range Catalogue() {
		if slices.Contains(s.Needs, NeedOtherUID) || slices.Contains(s.Needs, NeedMountNS) {
			ids = append(ids, s.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

// hostLacks are the scenarios that skip on this host for a program it
// lacks, whatever the daemon: none unless a test file for this OS says
// (pidhandoff_linux_test.go).
var hostLacks = func() []string { return nil }

// applicable: the catalogue's scenarios that run on this OS for target.
func applicable(builtin bool, tcp bool) []string {
	var ids []string
	for _, s := range Catalogue() {
		if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, runtime.GOOS) || slices.Contains(hostLacks(), s.ID) {
			continue
		}
		if s.BuiltinOnly && !builtin || s.Transport == "tcp" && !tcp || s.Abstract == AbstractOnly {
			continue // AbstractOnly: these targets' sockets are files
		}
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

func TestBuiltinPassesEverything(t *testing.T) {
	// A name of its own, so the leak check below sees only this run.
	const name = "leakcheck"
	testenv.SkipUnderWine(t, "the whole catalogue under Wine is the windows/wine leg (go tool mage test:wine), run by internal/tasks' TestWindowsUnderWine; a second run here would add minutes")
	t.Parallel()
	rep := runSuiteNamed(t, BuiltinTarget(), "", name)
	logReport(t, rep)
	// Daemons are stopped with SIGTERM at the end of each scenario, so even
	// path.budget's, which serves from the sun_path fallback outside the
	// scenario's directory, leaves nothing there.
	if left, _ := filepath.Glob(fmt.Sprintf("/tmp/bh-%d/*/bu-%s.d", os.Geteuid(), name)); len(left) > 0 {
		t.Errorf("endpoints left behind in the sun_path fallback: %v", left)
	}
	checkAllPass(t, rep)
	if os.Geteuid() != 0 && runtime.GOOS != "windows" { // Windows: they skip as POSIX-only
		for _, r := range rep.Results {
			if r.Status == Skip && slices.Contains(otherUIDScenarios(), r.ID) && !strings.Contains(r.Reason, "needs root") {
				t.Errorf("%s skipped without saying it needs root: %q", r.ID, r.Reason)
			}
		}
	}
	for _, r := range rep.Results {
		if r.Status == Skip && r.Reason == "" {
			t.Errorf("%s skipped without a reason", r.ID)
		}
		for _, ev := range r.Evidence {
			if strings.Contains(ev, "()") {
				t.Errorf("%s: empty parentheses in the evidence: %q", r.ID, ev)
			}
		}
	}
	if r, ok := find(rep, "load.concurrent"); ok && r.Status == Pass && (r.Metrics["p50_us"] <= 0 || r.Metrics["p99_us"] < r.Metrics["p50_us"]) {
		t.Errorf("load.concurrent metrics %v: want p50 > 0 and p99 >= p50", r.Metrics)
	}
}

// brokenTarget is brokend with flaw, choosing its base as ipc does (no
// -root; PerUserBase): the suite hands it {root} as $TMPDIR in every
// scenario, and dir.squat-dos a per-user base as $XDG_RUNTIME_DIR.
func brokenTarget(flaw string) Target {
	if abstractFlaws[flaw] {
		return abstractTarget(flaw)
	}
	return Target{
		Cmd: []string{bins.brokend, "-flaw", flaw, "-name", "{name}", "-transport", "{transport}",
			"-lockfile", "{root}/bu-{name}.lock"},
		Socket:      DefaultSocketTemplate,
		PortFile:    "{root}/bu-{name}.d/port",
		Protocol:    ProtocolBHJSON,
		PerUserBase: true,
		// Only -flaw locklink opens it; the others leave the link planted
		// there by path.pidfile-link as it was.
		LockFile: "{root}/bu-{name}.lock",
	}
}

// brokenVariants are the deliberately broken daemons (brokend's -flaw) and
// the exact set of scenarios each fails on Linux as root.
var brokenVariants = []struct {
	flaw string
	want []string
}{
	{"plain", []string{
		"sock.mode-umask0", "sock.first-seen-mode", // 0777 socket in a 0777 dir
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms", // MkdirAll trusts whatever is there
		"auth.foreign-uid-connect", "auth.peercred", "auth.bound-address", "auth.pid-handoff", // reachable, no peer check
		"inst.stale-recovered", // net.Listen cannot bind over a stale socket
		"inst.clean-shutdown",  // the 0777 dir stays
		"path.name-validation", // names unchecked: x/../../y escapes
	}},
	{"unlink", []string{
		"auth.peercred", "auth.bound-address", "auth.pid-handoff", // no peer check
		"inst.live-not-hijacked", "inst.busy-not-stale", // unconditional unlink steals the socket
		"path.name-validation", // names unchecked
	}},
	// No token: a browser's POST (whose page cannot read the port file)
	// gets its ping answered too.
	{"notoken", []string{"tcp.auth-required", "tcp.cross-protocol"}},
	{"followlink", []string{"sock.dangling-symlink"}},
	{"replacefile", []string{"dir.not-a-dir"}},
	{"truncate", []string{"path.budget"}},
	// Evidence first: it makes its socket in the planted directory, then
	// refuses; the refusal does not excuse what it made.
	{"sshagent", []string{
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms",
		"inst.stale-recovered", // the stale socket makes net.Listen fail
	}},
	// It refuses the planted link, but only after chowning and chmodding
	// its target through it.
	{"chownlink", []string{"dir.symlink"}},
	{"anyaddr", []string{"tcp.loopback-only"}},
	{"portfile0644", []string{"tcp.portfile-private"}},
	{"lenient", []string{"proto.malformed"}},
	{"serial", []string{"proto.idle-connections"}},
	{"dropsome", []string{"load.concurrent"}},
	{"locklink", []string{"path.pidfile-link"}},
	// It looks only in the shared base: the squatted directory there is
	// refused, and the per-user base its clients look in stays empty.
	{"sharedbase", []string{"dir.squat-dos"}},
	{"addrpeer", []string{"auth.bound-address"}},
	{"abstractpeer", []string{"auth.bound-address"}},
	// On an abstract name (AbstractTarget): no peer check at all, a uid
	// check that lets in its own uid from any mount namespace
	// (containerd-shim's CVE-2020-15257), and the correct check made late,
	// by pid (polkit's CVE-2013-4288). Every abstract name fails
	// dir.squat-dos: another uid binds it first, and the daemon has
	// nowhere else to serve (abstractns, correct otherwise, too:
	// TestAbstractCorrectDaemonPasses).
	{"abstractopen", []string{"auth.foreign-uid-connect", "auth.peercred", "auth.bound-address", "auth.pid-handoff", "auth.abstract-mount-ns", "dir.squat-dos"}},
	{"abstractuid", []string{"auth.abstract-mount-ns", "dir.squat-dos"}},
	{"abstractpid", []string{"auth.pid-handoff", "dir.squat-dos"}},
	// The uid read from /proc/<pid> at the first request: a connection
	// whose connecting process exec'd a setuid-root program is root's.
	{"pidauth", []string{"auth.pid-handoff"}},
	{"rmfollow", []string{
		"inst.cleanup-no-follow",                   // empties its dir following the planted link
		"sock.mode-umask0", "sock.first-seen-mode", // as plain: 0777 socket in a 0777 dir
		"dir.symlink", "dir.foreign-owner", "dir.loose-perms",
		"auth.foreign-uid-connect", "auth.peercred", "auth.bound-address", "auth.pid-handoff",
		"inst.stale-recovered",
		"path.name-validation",
	}},
}

// brokenClients are deliberately broken clients for the scenario that
// judges the suite's own client (tcp.squatter-learns-nothing), each
// failing exactly want against the builtin daemon.
var brokenClients = []struct {
	name   string
	client func(ctx context.Context, e *Env, sp probe.Spec) (int, error)
	want   []string
}{
	// browser-harness's TCP client: the token in every request, sent to
	// whoever listens on the port.
	// (The suite's own bh-json client checks who listens first: Auth nil
	// is browser-harness's, which checks nothing.)
	{"token in the request", func(ctx context.Context, e *Env, sp probe.Spec) (int, error) {
		sp.Protocol, sp.Auth = ProtocolBHJSON, nil
		return probe.PingOnce(ctx, sp)
	}, []string{"tcp.squatter-learns-nothing"}},
}

// The suite must be able to fail: each deliberately broken daemon fails
// exactly the scenarios its flaw breaks.
func TestBrokenDaemonsFailExactly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the broken daemons and their expected failures are written for Linux; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the expected failure sets include other-uid scenarios; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	t.Parallel()
	for _, c := range brokenVariants {
		t.Run(c.flaw, func(t *testing.T) {
			t.Parallel()
			checkFails(t, runSuite(t, brokenTarget(c.flaw), ""), c.want)
		})
	}
}

// checkFails asserts rep failed exactly want (with reasons and evidence)
// and that nothing else reached no verdict.
func checkFails(t *testing.T, rep Report, want []string) {
	t.Helper()
	got := byStatus(rep, Fail)
	want = slices.DeleteFunc(slices.Clone(want), func(id string) bool { return slices.Contains(hostLacks(), id) })
	sort.Strings(want)
	if !slices.Equal(got, want) {
		logReport(t, rep)
		t.Errorf("failed %v\nwant   %v", got, want)
	}
	for _, r := range rep.Results {
		if r.Status == Fail && (r.Reason == "" || len(r.Evidence) == 0) {
			t.Errorf("%s failed without reason or evidence: %q %v", r.ID, r.Reason, r.Evidence)
		}
		if r.Status == Error {
			t.Errorf("%s reached no verdict: %s\n  %s", r.ID, r.Reason, strings.Join(r.Evidence, "\n  "))
		}
	}
}

// The suite's own client must be able to fail too: a broken one put in
// place of the ipc client fails tcp.squatter-learns-nothing. Not parallel:
// it swaps a package variable.
func TestBrokenClientsFailExactly(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("the expected failures are written for Linux; this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the expected failure sets include other-uid scenarios; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	orig := scenario.SquatterClient
	defer func() { scenario.SquatterClient = orig }()
	for _, c := range brokenClients {
		t.Run(c.name, func(t *testing.T) {
			scenario.SquatterClient = c.client
			checkFails(t, runSuite(t, BuiltinTarget(), ""), c.want)
		})
	}
}

// Every catalogue scenario that can apply on Linux has been seen to fail:
// some broken daemon or client in the tables above fails it.
func TestEveryScenarioHasABrokenVariant(t *testing.T) {
	covered := map[string]bool{}
	for _, v := range brokenVariants {
		for _, id := range v.want {
			covered[id] = true
		}
	}
	for _, c := range brokenClients {
		for _, id := range c.want {
			covered[id] = true
		}
	}
	for _, s := range Catalogue() {
		if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, "linux") {
			continue // e.g. tcp.portfile-dacl: Windows only
		}
		if !covered[s.ID] {
			t.Errorf("%s: no deliberately broken daemon or client fails it (add a -flaw to testdata/brokend and a row to brokenVariants)", s.ID)
		}
	}
	for id := range covered {
		if _, ok := byID(id); !ok {
			t.Errorf("brokenVariants names %q, not in the catalogue", id)
		}
	}
}

func byID(id string) (Scenario, bool) {
	for _, s := range Catalogue() {
		if s.ID == id {
			return s, true
		}
	}
	return Scenario{}, false
}

// The other layout: the endpoint directory is the root itself.
func TestRootLayoutDaemonPasses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend's root layout uses SO_PEERCRED (Linux); this is %s", runtime.GOOS)
	}
	t.Parallel()
	target := Target{
		Cmd:      []string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"},
		Socket:   "{root}/bu.sock",
		Protocol: ProtocolBHJSON,
		// Its lock, opened O_NOFOLLOW: path.pidfile-link's link is refused.
		LockFile: "{root}/lock",
	}
	rep := runSuite(t, target, "")
	wantFails := checkSharedTemplateSquatted(t, rep)
	if fails := byStatus(rep, Fail); !slices.Equal(fails, wantFails) {
		logReport(t, rep)
		t.Fatalf("a correct root-layout daemon failed %v, want %v", fails, wantFails)
	}
	want := applicable(false, false)
	if os.Geteuid() != 0 {
		want = slices.DeleteFunc(want, func(id string) bool { return slices.Contains(otherUIDScenarios(), id) })
	}
	want = slices.DeleteFunc(want, func(id string) bool { return slices.Contains(wantFails, id) })
	if got := byStatus(rep, Pass); !slices.Equal(got, want) {
		logReport(t, rep)
		t.Errorf("passed %v\nwant   %v", got, want)
	}
}

// checkSharedTemplateSquatted checks what a correct daemon told to make
// its endpoint at a template in the scenario's shared directory (the
// root, or the 01777 directory holding it) gets from dir.squat-dos: a
// hardening failure that says why (another uid made the name first; the
// daemon refused it and has nowhere else to go). It returns the failures
// rep must hold: that one as root, none otherwise (it skips).
func checkSharedTemplateSquatted(t *testing.T, rep Report) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	r, _ := find(rep, "dir.squat-dos")
	if r.Status != Fail || !strings.Contains(r.Reason, "nowhere else to go") || !strings.Contains(r.Reason, fmt.Sprintf("uid %d made", DefaultAttackerUID)) {
		t.Errorf("dir.squat-dos against a template in a shared directory: %s %q, want a failure saying uid %d made the name first and the daemon has nowhere else to go", r.Status, r.Reason, DefaultAttackerUID)
	}
	return []string{"dir.squat-dos"}
}

// A correct daemon with a small accept backlog (Python's socketserver
// uses 5) is busy under load, not broken: the suite's clients wait out a
// full backlog, so the idle and load scenarios pass and report the
// retries.
func TestSmallBacklogDaemonPasses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	target := Target{
		Cmd:      []string{bins.brokend, "-flaw", "none", "-backlog", "1", "-root", "{root}", "-name", "{name}"},
		Socket:   "{root}/bu.sock",
		Protocol: ProtocolBHJSON,
	}
	rep := runSuite(t, target, "proto.idle-connections,load.concurrent,inst.clean-shutdown")
	retries := 0.0
	for _, r := range rep.Results {
		if r.Status != Pass {
			t.Errorf("%s: %s %q\n  %s", r.ID, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
		}
		retries += r.Metrics["busy_retries"]
	}
	t.Logf("connects retried on a full backlog: %.0f", retries)
}

func TestSelect(t *testing.T) {
	s, err := Select("dir.*, inst.live-not-hijacked")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range s {
		ids = append(ids, x.ID)
	}
	want := []string{"dir.symlink", "dir.foreign-owner", "dir.loose-perms", "dir.not-a-dir", "inst.live-not-hijacked", "dir.squat-dos"} // catalogue order
	if !slices.Equal(ids, want) {
		t.Errorf("Select = %v, want %v", ids, want)
	}
	for _, bad := range []string{"nope", "dir.*,typo.x", "[", " , ,x"} {
		if _, err := Select(bad); err == nil {
			t.Errorf("Select(%q) accepted", bad)
		}
	}
	if all, err := Select(""); err != nil || len(all) != len(Catalogue()) {
		t.Errorf("Select(\"\") = %d scenarios, %v", len(all), err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	needBins(t)
	base := Config{Exe: bins.cli, Target: BuiltinTarget(), DaemonUID: -1, AttackerUID: -1, Scenarios: Catalogue()[:1]}
	bad := []Config{base, base, base}
	bad[0].Umask = 0o1000
	// The daemon's own uid as attacker; on Windows (Geteuid -1, which
	// means "defaults") any uid at all is refused.
	self := os.Geteuid()
	if self < 0 {
		self = 1000
	}
	bad[1].AttackerUID, bad[1].DaemonUID = self, self
	bad[2].Exe = ""
	if runtime.GOOS == "windows" {
		// An attacker uid alone: the daemon's -1 is this process's
		// "uid", so nothing else refuses it.
		attackerOnly := base
		attackerOnly.AttackerUID = 1000
		bad = append(bad, attackerOnly)
	}
	for i, c := range bad {
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

// A scenario that times out reaches no verdict (error, not fail), and its
// processes are killed and reaped.
func TestScenarioTimeoutKillsDaemon(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("checks for leftover processes in /proc; this is %s", runtime.GOOS)
	}
	needBins(t)
	name := fmt.Sprintf("timeout%d", os.Getpid()) // unique enough to find it
	sc, _ := Select("load.concurrent")
	rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: BuiltinTarget(), Scenarios: sc, DaemonUID: -1, AttackerUID: -1, Name: name,
		Hooks: &stage.TestHooks{ScenarioTimeout: 100 * time.Millisecond}}) // below MinScenarioTimeout, which Validate refuses
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	if r.Status != Error || !r.Incomplete || !strings.Contains(r.Reason, "timed out after 100ms") {
		t.Fatalf("%s incomplete=%v %q, want a timeout error", r.Status, r.Incomplete, r.Reason)
	}
	if got := report.ExitCode(rep.Summary, false); got != report.ExitUsage {
		t.Errorf("a run whose only scenario timed out: exit %d, want %d (nothing tested)", got, report.ExitUsage)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "--name\x00"+name+"\x00") {
			t.Errorf("the timed-out daemon is still running: %s", p)
		}
	}
}

// A target that never becomes ready stops the run in the preflight: a
// PreflightError with the command line, what was waited for and the tail
// of its output; no scenario runs, so nothing passes.
func TestPreflightStopsRun(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the failing targets are POSIX shell commands; the windows leg runs the builtin")
	}
	needBins(t)
	script := `for i in $(seq 1 100); do echo "line $i"; done; echo "Exception: boom" >&2; exit 3`
	for _, c := range []struct {
		name   string
		cmd    []string
		exited bool
		want   []string
	}{
		{"exits 3", []string{"sh", "-c", script}, true, []string{"preflight: the daemon exited with code 3 after ", ", before it was ready", "line 1\n", "… 51 lines …", "line 100\n", "Exception: boom"}},
		{"no such program", []string{"no-such-daemon-" + fmt.Sprint(os.Getpid()), "--root", "{root}"}, true, []string{"exited with code 127 after ", `cannot run "no-such-daemon-`, "executable file not found", "hint:       exit 127: the program, or a command its script runs, was not found"}},
		{"never ready", []string{"sleep", "30"}, false, []string{"did not become ready within 1s", "still running when the suite gave up", "(no output)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := Target{Cmd: c.cmd, Socket: DefaultSocketTemplate, Protocol: ProtocolBHJSON}
			var progress strings.Builder
			rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: target, DaemonUID: -1, AttackerUID: -1,
				ReadyTimeout: time.Second, Progress: &progress})
			var pe *PreflightError
			if !errors.As(err, &pe) {
				t.Fatalf("Run = %v, want a PreflightError", err)
			}
			// The attacker-uid warning and the run directory's place
			// depend on the machine (another run's uid-1001 processes, a
			// private TMPDIR), not on this run: ignore them.
			if len(rep.Results) != 0 || withoutMachineNotes(progress.String()) != "" {
				t.Errorf("scenarios ran or a header was printed after a failed preflight: %d results, progress %q", len(rep.Results), progress.String())
			}
			if pe.Exited != c.exited {
				t.Errorf("Exited = %v, want %v", pe.Exited, c.exited)
			}
			msg := err.Error()
			for _, w := range append(c.want, "command:    "+report.ShellQuote(c.cmd[0]), "waited for: a bh-json ping on the socket ") {
				if !strings.Contains(msg, w) {
					t.Errorf("preflight error lacks %q:\n%s", w, msg)
				}
			}
			// The helper is internal; a program that exits is no missing
			// directory.
			for _, w := range []string{"helper exec", "--dir-created-by"} {
				if c.exited && strings.Contains(msg, w) {
					t.Errorf("preflight error has %q:\n%s", w, msg)
				}
			}
		})
	}
}

// withoutMachineNotes drops from progress output the lines that are facts
// of the machine, not of the run under test: warnAttackerBusy's (whether
// --attacker-uid has live processes: a concurrent run of the suite) and
// runDirBase's (a TMPDIR other uids cannot search moves the run to /tmp).
func withoutMachineNotes(progress string) string {
	var keep []string
	for _, l := range strings.SplitAfter(progress, "\n") {
		if !strings.HasPrefix(l, "bh-ipc-check: warning: --attacker-uid ") && !strings.HasPrefix(l, "run directory under ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

func TestOutputExcerpt(t *testing.T) {
	for _, c := range []struct {
		name  string
		lines int
		want  []string
		never []string
	}{
		{"short", 5, []string{"l1\nl2\nl3\nl4\nl5"}, []string{"…"}},
		{"exactly head+tail", 50, []string{"l1\n", "\nl50"}, []string{"…"}},
		{"long", 200, []string{"l1\n", "l10\n… 150 lines …\nl161\n", "\nl200"}, []string{"l11\n", "l150\n"}},
		// Beyond what the buffer keeps: the head, the count and the tail
		// (the exception line of a traceback) survive.
		{"huge", 20000, []string{"l1\n", "l10\n… 19950 lines …\nl19961\n", "\nl20000"}, []string{"l11\n"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var o stage.OutputBuffer
			for i := 1; i <= c.lines; i++ {
				fmt.Fprintf(&o, "l%d\n", i)
			}
			got := o.Excerpt(stage.OutputHeadLines, stage.OutputTailLines)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("excerpt lacks %q:\n%s", w, got)
				}
			}
			for _, n := range c.never {
				if strings.Contains(got, n) {
					t.Errorf("excerpt holds %q:\n%s", n, got)
				}
			}
		})
	}
	var empty stage.OutputBuffer
	if got := empty.Excerpt(10, 40); got != "" {
		t.Errorf("no output: %q", got)
	}
}

// Transport-neutral scenarios run over a TCP-only external daemon's port
// file (no --socket): the CLI's own daemon as an external program passes
// them; brokend over TCP, which takes no lock, is hijacked by a second
// start.
func TestTCPOnlyExternalTarget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	t.Parallel()
	good := Target{Cmd: []string{bins.cli, "daemon", "--name", "{name}", "--root", "{root}", "--transport", "{transport}"},
		PortFile: "{root}/bu-{name}.d/port", Protocol: ProtocolIPC}
	rep := runSuite(t, good, "inst.*,proto.*,load.*,path.name-validation,tcp.auth-required,tcp.cross-protocol,sock.mode-umask0")
	for _, r := range rep.Results {
		switch {
		case r.ID == "sock.mode-umask0":
			if r.Status != Skip || !strings.Contains(r.Reason, "no unix transport") {
				t.Errorf("sock.mode-umask0 without a socket: %s %q", r.Status, r.Reason)
			}
		case r.ID == "inst.busy-not-stale" || r.ID == "inst.cleanup-no-follow":
			if r.Status != Skip {
				t.Errorf("%s (unix only) without a socket: %s", r.ID, r.Status)
			}
		case r.Status != Pass:
			t.Errorf("%s: %s %q %v", r.ID, r.Status, r.Reason, r.Evidence)
		case r.Transport != "tcp":
			t.Errorf("%s ran over %q, want tcp", r.ID, r.Transport)
		}
	}
	plain := brokenTarget("plain")
	plain.Socket = ""
	rep = runSuite(t, plain, "inst.live-not-hijacked")
	if r := rep.Results[0]; r.Status != Fail || !strings.Contains(r.Reason, "hijacked") {
		t.Errorf("brokend over tcp: inst.live-not-hijacked %s %q, want a hijack", r.Status, r.Reason)
	}
}

// cancelAfter cancels a run when its n-th progress line is written.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if strings.HasPrefix(string(p), "[") {
		if c.n--; c.n == 0 {
			c.cancel()
		}
	}
	return len(p), nil
}

// An interrupted run stops at once and returns the partial report, marked.
func TestRunInterrupted(t *testing.T) {
	needBins(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := Run(ctx, Config{Exe: bins.cli, Target: BuiltinTarget(), DaemonUID: -1, AttackerUID: -1, Progress: &cancelAfter{n: 2, cancel: cancel}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || len(rep.Results) != 2 {
		t.Errorf("interrupted=%v with %d results, want a partial report of 2 marked interrupted", rep.Interrupted, len(rep.Results))
	}
	var b strings.Builder
	WriteTable(&b, rep)
	if !strings.Contains(b.String(), "INTERRUPTED") {
		t.Errorf("the summary does not say INTERRUPTED:\n%s", b.String())
	}
}

// socketMaking are root-layout brokend daemons that make their socket in
// a 0755 directory in a given order, with a given mode and group, and
// what each must fail of the scenarios judging who can reach the socket:
// bind, chmod, listen is never reachable; bind, listen, chmod is until
// the chmod; a 0660 socket of a group admits that group only.
var socketMaking = []struct {
	name   string
	args   []string
	groups []int // the attacker's supplementary groups (nil: as its login has them)
	want   []string
}{
	{"bind, chmod, listen", []string{"-dirmode", "0755", "-order", "chmod-listen"}, nil, nil},
	{"bind, listen, chmod", []string{"-dirmode", "0755", "-order", "listen-chmod"}, nil, []string{"sock.first-seen-mode"}},
	{"0660 for a group the attacker is not in", []string{"-dirmode", "0755", "-order", "chmod-listen", "-sockmode", "0660", "-sockgroup", "4242"}, []int{}, nil},
	{"0660 for a group the attacker is in", []string{"-dirmode", "0755", "-order", "chmod-listen", "-sockmode", "0660", "-sockgroup", "4242"}, []int{4242},
		[]string{"sock.mode-umask0", "sock.first-seen-mode", "dir.loose-perms"}},
}

// groupConnect is what auth.foreign-uid-connect's reason must say for the
// group cases: the attacker's helper really holds the gids it is given,
// so the kernel lets it connect when it is in the socket's group (the
// daemon's peer check then closes it) and refuses it otherwise.
func groupConnect(groups []int) string {
	if slices.Contains(groups, 4242) {
		return "connected but got no reply"
	}
	return "could not connect"
}

func TestSocketMakingOrderAndGroup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend's root layout uses SO_PEERCRED and the listen gate seccomp (Linux); this is %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		t.Skip("the group cases act as an attacker uid holding a group; run as root: sudo go test ./matrix/ (CI runs as root)")
	}
	needBins(t)
	for _, c := range socketMaking {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			target := Target{
				Cmd:      append([]string{bins.brokend, "-flaw", "none", "-root", "{root}", "-name", "{name}"}, c.args...),
				Socket:   "{root}/bu.sock",
				Protocol: ProtocolBHJSON,
			}
			// Not dir.squat-dos: -root {root} is a shared directory the
			// daemon is told to use, which fails it by design (see
			// TestRootLayoutDaemonPasses); the socket's making is judged here.
			sc, err := Select("sock.*,dir.symlink,dir.foreign-owner,dir.loose-perms,dir.not-a-dir,auth.*")
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(context.Background(), Config{Exe: bins.cli, Target: target, Scenarios: sc, DaemonUID: -1, AttackerUID: -1, AttackerGroups: c.groups})
			if err != nil {
				t.Fatal(err)
			}
			checkFails(t, rep, c.want)
			if r, ok := find(rep, "sock.mode-umask0"); ok && slices.Contains(c.args, "-sockgroup") {
				ev := strings.Join(r.Evidence, "\n")
				if !strings.Contains(ev, "group access: socket group gid 4242") {
					t.Errorf("sock.mode-umask0 does not name the socket's group:\n%s", ev)
				}
				if r, ok := find(rep, "auth.foreign-uid-connect"); !ok || !strings.Contains(r.Reason, groupConnect(c.groups)) {
					t.Errorf("auth.foreign-uid-connect: %q, want it to say %q", r.Reason, groupConnect(c.groups))
				}
			}
		})
	}
}
