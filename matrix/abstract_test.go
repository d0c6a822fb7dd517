package matrix

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// abstractFlaws are brokend's modes on a Linux abstract name
// (testdata/brokend/abstract.go); brokenTarget runs them as AbstractTarget.
var abstractFlaws = map[string]bool{"abstractopen": true, "abstractuid": true, "abstractns": true, "abstractpid": true}

// AbstractTarget is brokend in one of its abstract modes, reached at the
// abstract name it listens on.
func abstractTarget(flaw string) Target {
	return Target{
		Cmd:      []string{bins.brokend, "-flaw", flaw, "-root", "{root}", "-name", "{name}"},
		Socket:   "@{root}/bu-{name}.sock",
		Protocol: ProtocolBHJSON,
	}
}

// abstractApplicable: the catalogue's scenarios that apply on Linux to an
// external target whose socket is an abstract name and which has no port
// file: the transport-neutral ones and those on the unix transport that
// do not judge the socket's file.
func abstractApplicable() []string {
	var ids []string
	for _, s := range Catalogue() {
		if len(s.Platforms) > 0 && !slices.Contains(s.Platforms, "linux") || s.BuiltinOnly || s.Transport == "tcp" {
			continue
		}
		if s.Transport == "unix" && s.Abstract == AbstractDefault {
			continue
		}
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

// An abstract --socket is refused where it cannot work, naming the value:
// off Linux, without a name, with --protocol ipc or --dir-created-by
// suite; on Linux it needs no {root}.
func TestValidateAbstractSocket(t *testing.T) {
	good := Target{Cmd: []string{"d"}, Socket: "@{root}/bu-{name}.sock", Protocol: ProtocolBHJSON}
	for _, c := range []struct {
		name, goos string
		edit       func(*Target)
		want       string // "" accepted
	}{
		{"a template", "linux", func(*Target) {}, ""},
		{"a fixed name, no {root}", "linux", func(t *Target) { t.Socket = "@mydaemon" }, ""},
		{"macOS", "darwin", func(*Target) {}, `"@{root}/bu-{name}.sock": abstract socket names ('@' first) are Linux-only, and this is darwin`},
		{"Windows", "windows", func(t *Target) { t.Socket = "@x" }, `"@x": abstract socket names ('@' first) are Linux-only, and this is windows`},
		{"no name", "linux", func(t *Target) { t.Socket = "@" }, "no name after the '@'"},
		{"protocol ipc", "linux", func(t *Target) { t.Protocol = ProtocolIPC }, "--protocol ipc dials socket files only"},
		{"dir made by the suite", "linux", func(t *Target) { t.DirCreatedBy = "suite" }, "no directory to make"},
		// A literal name is the same in every scenario: its length is
		// known before anything starts.
		{"a fixed name too long", "linux", func(t *Target) { t.Socket = "@" + strings.Repeat("x", 107) }, `108 bytes with its '@', over the 107 an abstract name may have`},
		{"a fixed name at the limit", "linux", func(t *Target) { t.Socket = "@" + strings.Repeat("x", 106) }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			tg := good
			c.edit(&tg)
			err := tg.ValidateAbstract(c.goos)
			if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
				t.Errorf("validateAbstract(%s) = %v, want %q", c.goos, err, c.want)
			}
			// Target.Validate (and so Config.Validate and the CLI) checks
			// it for this OS.
			verr := tg.Validate()
			if c.goos == runtime.GOOS && (err == nil) != (verr == nil) {
				t.Errorf("Validate() = %v, validateAbstract = %v", verr, err)
			}
			if runtime.GOOS != "linux" && (verr == nil || !strings.Contains(verr.Error(), "Linux-only")) {
				t.Errorf("Validate() on %s = %v, want abstract names refused as Linux-only", runtime.GOOS, verr)
			}
		})
	}
}

// An abstract name is used as expanded (cleaning a path would change the
// name), within sun_path's bytes.
func TestAbstractSocketPaths(t *testing.T) {
	tg := Target{Cmd: []string{"d"}, Socket: "@{root}/../x//{name}", Protocol: ProtocolBHJSON}
	sock, _, err := tg.Paths("/r", "n", "unix", 0)
	if err != nil || sock != "@/r/../x//n" {
		t.Errorf("Paths = %q, %v; want the name as expanded, @/r/../x//n", sock, err)
	}
	long := "/" + strings.Repeat("r", 120)
	if _, _, err := tg.Paths(long, "n", "unix", 0); err == nil || !strings.Contains(err.Error(), "over the 107 sun_path holds") {
		t.Errorf("Paths with a %d-byte root: %v, want the length refused", len(long), err)
	}
}

// An abstract name that {root} makes too long says how long it is, how
// much of it {root} is and where {root} lies (the run directory, under
// $TMPDIR), so the user shortens what is long; a {name}-only template
// that is too long is refused before anything starts.
func TestAbstractNameTooLong(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("abstract socket names are Linux's (elsewhere --socket '@NAME' is refused as such: TestValidateAbstractSocket); this is %s", runtime.GOOS)
	}
	t.Setenv("TMPDIR", "/tmp/"+strings.Repeat("t", 80))
	tg := Target{Cmd: []string{"d"}, Socket: "@{root}/bu-{name}.sock", Protocol: ProtocolBHJSON}
	runDir := filepath.Join(os.TempDir(), "bhc-123456789")
	root := filepath.Join(runDir, "07", "root")
	e := &Env{Runner: &Runner{Config: Config{Target: tg}, RunDir: runDir}, Name: "bhcheck", Transport: "unix"}
	err := e.SetRoot(root)
	sock := "@" + root + "/bu-bhcheck.sock"
	for _, want := range []string{
		fmt.Sprintf("%d bytes with its '@', over the 107 sun_path holds", len(sock)),
		fmt.Sprintf("{root} is %d of them (%s, the scenario's root in the run directory %s, made under $TMPDIR=%s)", len(root), root, runDir, os.Getenv("TMPDIR")),
		fmt.Sprintf(`the rest of --socket "@{root}/bu-{name}.sock" %d`, len(sock)-len(root)),
		"run with a shorter TMPDIR",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("setRoot(%d-byte root) = %v\nwant it to say %q", len(root), err, want)
		}
	}
	cfg := validConfig()
	cfg.Target = Target{Cmd: []string{"d", "{name}"}, Socket: "@" + strings.Repeat("n", 90) + "-{name}", Protocol: ProtocolBHJSON}
	cfg.Name = strings.Repeat("x", 20)
	if err := cfg.Validate(); runtime.GOOS == "linux" && (err == nil || !strings.Contains(err.Error(), "is 112 bytes with its '@', over the 107")) {
		t.Errorf("Config.Validate with a {name}-only abstract name of 112 bytes: %v, want it refused", err)
	}
}

// Which scenarios apply to which kind of socket, and the cause each
// not-applicable skip gives: an abstract target skips what judges the
// socket's file; auth.abstract-mount-ns applies to abstract names only,
// and says why to the builtin and to a socket file.
func TestSocketKindMismatch(t *testing.T) {
	abstract := Target{Cmd: []string{"d"}, Socket: "@{root}/s", Protocol: ProtocolBHJSON}
	file := Target{Cmd: []string{"d"}, Socket: "{root}/s", Protocol: ProtocolBHJSON}
	for _, s := range Catalogue() {
		for _, c := range []struct {
			name string
			t    Target
			want string
		}{
			{"abstract", abstract, map[bool]string{true: "an abstract name, which has no file"}[s.Transport == "unix" && s.Abstract == AbstractDefault]},
			{"file", file, map[bool]string{true: "applies to an abstract socket (--socket @NAME) only"}[s.Abstract == AbstractOnly]},
			{"builtin", BuiltinTarget(), map[bool]string{true: "the builtin (ipc) serves a socket file"}[s.Abstract == AbstractOnly]},
		} {
			r := &Runner{Config: Config{Target: c.t}}
			got := r.SocketKindMismatch(s)
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Errorf("%s against a %s target: %q, want %q", s.ID, c.name, got, c.want)
			}
			if got != "" && r.SkipReason(s) == "" {
				t.Errorf("%s against a %s target: not applicable (%s) but not skipped", s.ID, c.name, got)
			}
		}
	}
}

// The builtin has no abstract transport: auth.abstract-mount-ns is not
// applicable to it and says why, never a pass.
func TestBuiltinAbstractNotApplicable(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("auth.abstract-mount-ns runs on Linux only; this is %s", runtime.GOOS)
	}
	rep := runSuite(t, BuiltinTarget(), "auth.abstract-mount-ns")
	r, _ := find(rep, "auth.abstract-mount-ns")
	if r.Status != Skip || !strings.Contains(r.NotApplicable, "the builtin (ipc) serves a socket file") || r.Reason != r.NotApplicable {
		t.Errorf("auth.abstract-mount-ns against the builtin: %s %q (not applicable: %q), want a not-applicable skip naming the builtin's socket file", r.Status, r.Reason, r.NotApplicable)
	}
}

// A correct daemon on an abstract name (brokend -flaw abstractns: the
// peer's uid and mount namespace checked) passes every scenario that
// applies to it, auth.abstract-mount-ns among them (as root); those that
// judge the socket's file are not applicable and say so.
func TestAbstractCorrectDaemonPasses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("abstract socket names are Linux's; this is %s", runtime.GOOS)
	}
	needBins(t)
	rep := runSuite(t, abstractTarget("abstractns"), "")
	// dir.squat-dos fails every abstract name by design: another uid binds
	// it first, and the daemon has nowhere else to serve.
	var fails []string
	if os.Geteuid() == 0 {
		fails = []string{"dir.squat-dos"}
	}
	checkFails(t, rep, fails)
	want := slices.DeleteFunc(abstractApplicable(), func(id string) bool {
		return id == "path.pidfile-link" || // no --pidfile or --lockfile: skipped
			id == "dir.squat-dos" ||
			os.Geteuid() != 0 && slices.Contains(otherUIDScenarios(), id) ||
			slices.Contains(hostLacks(), id)
	})
	if got := byStatus(rep, Pass); !slices.Equal(got, want) {
		logReport(t, rep)
		t.Errorf("passed %v\nwant   %v", got, want)
	}
	for _, s := range Catalogue() {
		r, _ := find(rep, s.ID)
		if s.Transport == "unix" && s.Abstract == AbstractDefault && slices.Contains(s.Platforms, "linux") &&
			(r.Status != Skip || !strings.Contains(r.NotApplicable, "abstract name")) {
			t.Errorf("%s judges the socket's file: %s %q (not applicable: %q), want a not-applicable skip", s.ID, r.Status, r.Reason, r.NotApplicable)
		}
	}
	if r, _ := find(rep, "auth.abstract-mount-ns"); os.Geteuid() == 0 && !strings.Contains(r.Reason, "from another mount namespace") {
		t.Errorf("auth.abstract-mount-ns: %s %q, want it to name the mount namespace", r.Status, r.Reason)
	}
}

// Root without CAP_SYS_ADMIN (a container's default) gets no new mount
// namespace: auth.abstract-mount-ns skips and says why; nothing was tried,
// so it is no pass, and the daemon's flaw (abstractuid) no failure either.
func TestAbstractMountNSWithoutCapSysAdmin(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("drops CAP_SYS_ADMIN from root on Linux; run as root: sudo go test -run TestAbstractMountNSWithoutCapSysAdmin ./matrix/")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv (util-linux) to drop CAP_SYS_ADMIN: apt-get install util-linux")
	}
	needBins(t)
	cmd := exec.Command(setpriv, "--inh-caps=-sys_admin", "--bounding-set=-sys_admin", bins.cli, "run",
		"--cmd", bins.brokend+" -flaw abstractuid -root {root} -name {name}", "--socket", "@{root}/bu-{name}.sock",
		"--scenarios", "auth.abstract-mount-ns", "--format", "json")
	out, _ := cmd.Output()
	var rep Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("no report: %v\n%s", err, out)
	}
	if r, _ := find(rep, "auth.abstract-mount-ns"); r.Status != Skip || !strings.Contains(r.Reason, "without CAP_SYS_ADMIN") {
		t.Errorf("without CAP_SYS_ADMIN: %s %q, want a skip saying why", r.Status, r.Reason)
	}
}
