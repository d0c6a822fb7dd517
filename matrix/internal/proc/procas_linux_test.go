package proc

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// Root without CAP_SYS_PTRACE (Docker's default capability set) cannot
// readlink another uid's /proc/<pid>/fd/*; procFDLinks reads them as that
// uid and can. The reader runs as root with CAP_SYS_PTRACE dropped
// (setpriv), so the test holds on any root host.
func TestProcFDLinksWithoutPtrace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (to start a process as uid 1000 and read it without CAP_SYS_PTRACE); run as root, or go tool mage test:containers")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("needs setpriv (util-linux) to drop CAP_SYS_PTRACE; apt-get install util-linux")
	}
	// A process of uid 1000 whose fd 0 is a pipe of ours.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sleeper := exec.Command("sleep", "600")
	sleeper.Stdin = r
	sleeper.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	want := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--bounding-set", "-sys_ptrace", "--inh-caps", "-sys_ptrace", exe, "-test.run=^TestProcFDLinksReader$", "-test.v")
	cmd.Env = append(os.Environ(), "BH_TEST_FDLINKS_PID="+strconv.Itoa(sleeper.Process.Pid))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("reader: %v\n%s", err, out)
	}
	var res struct {
		Direct string            `json:"direct"`
		Links  map[string]string `json:"links"`
		Err    string            `json:"err"`
	}
	_, js, _ := strings.Cut(string(out), "FDLINKS ")
	js, _, _ = strings.Cut(js, "\n")
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("reader output %q: %v", out, err)
	}
	if !strings.Contains(res.Direct, "permission denied") {
		t.Fatalf("a plain readlink without CAP_SYS_PTRACE gave %q, want permission denied (is CAP_SYS_PTRACE still there?)", res.Direct)
	}
	if res.Links["0"] != want || res.Err != "" {
		t.Errorf("procFDLinks of uid 1000's pid %d without CAP_SYS_PTRACE: fd 0 %q, error %q; want %q and no error", sleeper.Process.Pid, res.Links["0"], res.Err, want)
	}
}

// TestProcFDLinksReader is TestProcFDLinksWithoutPtrace's reader, run in a
// process without CAP_SYS_PTRACE.
func TestProcFDLinksReader(t *testing.T) {
	pid, err := strconv.Atoi(os.Getenv("BH_TEST_FDLINKS_PID"))
	if err != nil {
		t.Skip("run by TestProcFDLinksWithoutPtrace")
	}
	var res struct {
		Direct string            `json:"direct"`
		Links  map[string]string `json:"links"`
		Err    string            `json:"err"`
	}
	if _, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/0"); err != nil {
		res.Direct = err.Error()
	}
	links, err := ProcFDLinks(pid)
	res.Links = links
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	t.Logf("FDLINKS %s", b)
}
