package matrix

import (
	"os"
	"strings"
	"testing"
)

// The evidence as a reader meets it, against socat (an echo service on a
// Unix socket, no peer check): auth.peercred's chmod of the socket is
// "chmod-ed", not "planted", with the mode; the attacker's answer is the
// probe's account, quoted once ("reply "PING\n" matches"), not
// reply="reply \"PING...\""; proto.malformed's replies keep their control
// characters as Go quotes them.
func TestEvidenceWording(t *testing.T) {
	needProgram(t, "socat", "socat")
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as the attacker uid; run: sudo go test ./matrix -run TestEvidenceWording")
	}
	target := Target{Cmd: []string{"socat", "UNIX-LISTEN:{root}/echo.sock,fork,mode=600", "EXEC:cat"}, Socket: "{root}/echo.sock",
		Protocol: ProtocolLine, Send: `PING\n`, Expect: `^PING`, DirCreatedBy: "suite"}
	rep := runSuite(t, target, "auth.peercred,proto.malformed")
	for id, want := range map[string][]string{
		"auth.peercred":   {"uid 0 chmod-ed: ", "/echo.sock to 0666 (", `connected=true reply "PING\n" matches "^PING"`},
		"proto.malformed": {`not JSON: reply="hello there\n" closed=false`},
	} {
		r, _ := find(rep, id)
		ev := strings.Join(r.Evidence, "\n")
		for _, w := range want {
			if !strings.Contains(ev, w) {
				t.Errorf("%s: the evidence does not say %q:\n%s", id, w, ev)
			}
		}
		if strings.Contains(ev, "planted: chmod") || strings.Contains(ev, `reply="reply `) {
			t.Errorf("%s: the evidence says planted for a chmod, or reply twice:\n%s", id, ev)
		}
	}
}
