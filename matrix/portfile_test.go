package matrix

import (
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
)

// A port file is a JSON object with "port". One that more bytes cannot
// make so (a bare number, text, a complete object without a usable port)
// is errBadPortFile, which the wait for readiness stops at; an empty one
// or an object cut short may still be being written, and is retried.
func TestParsePortFile(t *testing.T) {
	for _, c := range []struct {
		content string
		port    int
		bad     bool   // errBadPortFile: fails at once
		says    string // in the error
	}{
		{`{"port":16379}`, 16379, false, ""},
		{"{\"port\":16379,\"pid\":7,\"token\":\"ab\"}\n", 16379, false, ""},
		{"16379", 0, true, `want a JSON object {"port": N}, found "16379"`},
		{"16379\n", 0, true, `found "16379\n"`},
		{"port=16379", 0, true, `found "port=16379"`},
		{`{"port":"16379"}`, 0, true, `"port" holds a string, where the suite reads a number`},
		{`{"port":0}`, 0, true, "with N 1-65535"},
		{`{"port":1,"token":5}`, 0, true, `"token" holds a number, where the suite reads a string`},
		{`{"pid":7}`, 0, true, "with N 1-65535"},
		{`{"port":16379}{"port":1}`, 0, true, "after top-level value"},
		{`{"port":x}`, 0, true, "invalid character"},
		{"", 0, false, "is empty (not written yet?)"},
		{" \n", 0, false, "is empty"},
		{`{"port":163`, 0, false, `holds an object cut short, "{\"port\":163" (still being written?)`},
		{`{`, 0, false, "cut short"},
	} {
		pf, err := probe.ParsePortFile("/run/x.port", []byte(c.content))
		switch {
		case c.says == "" && (err != nil || pf.Port != c.port):
			t.Errorf("parsePortFile(%q) = %+v, %v; want port %d", c.content, pf, err, c.port)
		case c.says != "" && (err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), "/run/x.port")):
			t.Errorf("parsePortFile(%q) = %v; want an error naming the file and saying %q", c.content, err, c.says)
		case c.says != "" && probe.BadPortFile(err) != c.bad:
			t.Errorf("parsePortFile(%q): badPortFile = %v, want %v (%v)", c.content, probe.BadPortFile(err), c.bad, err)
		}
		// Across a helper process the error is text.
		if err != nil && probe.BadPortFile(errors.New("connect: "+err.Error())) != c.bad {
			t.Errorf("parsePortFile(%q): as text, badPortFile = %v, want %v", c.content, !c.bad, c.bad)
		}
	}
}

// A daemon's wrapper that writes a bare port number: the preflight stops
// at the port file, saying what it wants and what it found, and does not
// wait out --ready-timeout (a minute here: the run would last it); the
// hint names the wrapper recipe.
func TestPortFileNotJSONStopsThePreflight(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the wrapper is a POSIX sh script; run on Linux or macOS")
	}
	needBins(t)
	tg := Target{Cmd: []string{"sh", "-c", `mkdir -p "$1" && printf 16379 >"$1/x.port" && exec sleep 120`, "sh", "{root}"},
		PortFile: "{root}/x.port", Protocol: ProtocolConnect}
	_, err := Run(t.Context(), Config{Exe: bins.cli, Target: tg, DaemonUID: -1, AttackerUID: -1, ReadyTimeout: time.Minute})
	var pe *PreflightError
	if !errors.As(err, &pe) {
		t.Fatalf("Run = %v, want a preflight error", err)
	}
	for _, w := range []string{
		"preflight: the daemon's port file is not one the suite can read",
		`/x.port: want a JSON object {"port": N}, found "16379"`,
		`hint:       the port file must be a JSON object with "port"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the preflight error does not say %q:\n%s", w, err)
		}
	}
	if strings.Contains(err.Error(), "did not become ready within") {
		t.Errorf("the preflight waited out --ready-timeout:\n%s", err)
	}
}

// A wrapper that writes its port file in two steps, as a daemon writing
// in place may: the object read cut short is retried, and the daemon is
// ready once the file is whole.
func TestPortFileWrittenInStepsIsRetried(t *testing.T) {
	needProgram(t, "socat", "socat")
	port := freeLoopbackPort(t)
	script := `umask 077 && mkdir -p "$2" && printf '{"port":' >"$2/x.port" && sleep 0.3 && printf '%s}' "$1" >>"$2/x.port" && exec socat TCP4-LISTEN:"$1",bind=127.0.0.1,reuseaddr,fork EXEC:cat`
	tg := Target{Cmd: []string{"sh", "-c", script, "sh", port, "{root}"}, PortFile: "{root}/x.port", Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}
	rep := runSuite(t, tg, "tcp.loopback-only")
	if r := rep.Results[0]; r.Status != Pass {
		t.Errorf("tcp.loopback-only: %s %q, want a pass once the port file is whole\n  %s", r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
	}
}

// freeLoopbackPort is a TCP port free on 127.0.0.1 a moment ago, for a
// daemon that is told its port (socat). Another process taking it
// meanwhile fails the preflight, not a verdict.
func freeLoopbackPort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
