package matrix

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// holdSlots is another uid holding a daemon's connection slots: for each
// line "NETWORK ADDRESS N" on stdin it lets go of what it held, opens N
// connections to ADDRESS, each shown taken by the daemon (a line sent on
// it comes back: the echo daemons of these tests), and prints "holding N"
// (or "failed: ..." after 20 s); at the end of stdin it exits.
func holdSlots(string) {
	var held []net.Conn
	release := func() {
		for _, c := range held {
			c.Close()
		}
		held = nil
	}
	defer release()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		release()
		var network, addr string
		var n int
		if _, err := fmt.Sscan(sc.Text(), &network, &addr, &n); err != nil {
			fmt.Printf("failed: command %q: %v\n", sc.Text(), err)
			continue
		}
		var last error
		for end := time.Now().Add(20 * time.Second); len(held) < n && time.Now().Before(end); {
			c, err := net.DialTimeout(network, addr, time.Second)
			if err != nil {
				last = err
				time.Sleep(20 * time.Millisecond)
				continue
			}
			c.SetDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 5)
			if _, err := c.Write([]byte("held\n")); err == nil {
				_, err = io.ReadFull(c, buf)
			}
			if err != nil || string(buf) != "held\n" {
				last = fmt.Errorf("not served: %v %q", err, buf)
				c.Close()
				continue
			}
			c.SetDeadline(time.Time{})
			held = append(held, c)
		}
		if len(held) < n {
			fmt.Printf("failed: %d of %d (%v)\n", len(held), n, last)
		} else {
			fmt.Printf("holding %d\n", n)
		}
	}
}

// hold has the holder take n slots at the address and says what it
// answered.
func (h *otherUIDProc) hold(network, addr string, n int) string {
	fmt.Fprintf(h.stdin, "%s %s %d\n", network, addr, n)
	line, err := h.out.ReadString('\n')
	if err != nil {
		return fmt.Sprintf("failed: %v", err)
	}
	return strings.TrimSpace(line)
}

// A daemon that serves N connections at once (socat's max-children),
// whose N slots another uid holds, leaves the suite's request, or the
// attacker helper's, unaccepted in its backlog: a silence no one chose.
// The scenarios that fail the echo daemon left alone (tcp.cross-protocol:
// the body comes back; auth.*: any uid is answered) must then reach no
// verdict, never a pass; and the error names the daemon's silence and
// the processes holding its slots.
func TestAttackHeldSlotsForgeNoRefusal(t *testing.T) {
	needProgram(t, "socat", "socat")
	at := newAttackTest(t)
	const attacker = 3001
	holder := startOtherUID(t, at, attacker, "holdslots", "")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	script := `umask 077 && mkdir -p "$2" && printf '{"port":%s}' "$1" >"$2/socat.port" && exec socat TCP4-LISTEN:"$1",bind=127.0.0.1,reuseaddr,fork,max-children=4 EXEC:cat`
	for _, c := range []struct {
		name      string
		target    Target
		scenarios string
		slots     int
	}{
		{"tcp max-children=4", Target{Cmd: []string{"sh", "-c", script, "sh", port, "{root}"}, PortFile: "{root}/socat.port",
			Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`}, "tcp.cross-protocol", 4},
		{"unix max-children=2", Target{Cmd: []string{"socat", "UNIX-LISTEN:{root}/echo.sock,fork,mode=600,max-children=2", "EXEC:cat"}, Socket: "{root}/echo.sock",
			Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`, DirCreatedBy: "suite"}, "auth.peercred,auth.bound-address,auth.pid-handoff", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var held []string
			hooks := &stage.TestHooks{BeforeAttack: func(e *Env) {
				network, addr := "unix", e.Sock
				if e.Transport == "tcp" {
					network, addr = "tcp4", "127.0.0.1:"+port
				}
				held = append(held, e.Scenario.ID+": "+holder.hold(network, addr, c.slots))
			}}
			sc, err := Select(c.scenarios)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Run(at.ctx, Config{Exe: bins.cli, Target: c.target, Scenarios: sc, DaemonUID: -1, AttackerUID: attacker, Timeout: 60 * time.Second, Hooks: hooks})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("slot holder: %v", held)
			for _, r := range rep.Results {
				t.Logf("%s: %s: %s\n  %s", r.ID, r.Status, r.Reason, strings.Join(r.Evidence, "\n  "))
				switch {
				case r.Status == Skip && r.ID == scenario.PIDHandoffID && slices.Contains(hostLacks(), r.ID):
				case r.Status != Error:
					t.Errorf("%s: %s (%s); want an error: uid %d held the daemon's %d slots", r.ID, r.Status, target.OneLine(r.Reason, 300), attacker, c.slots)
				case !strings.Contains(r.Reason, "answered no one") || !strings.Contains(r.Reason, fmt.Sprintf("uid %d: %d connections", attacker, c.slots)):
					t.Errorf("%s: error %q; want it to say the daemon answered no one and name uid %d's %d connections", r.ID, target.OneLine(r.Reason, 400), attacker, c.slots)
				}
			}
			for _, h := range held {
				if !strings.Contains(h, "holding") {
					t.Errorf("the holder did not hold the slots: %s", h)
				}
			}
		})
	}
}
