package matrix

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/stage"
)

// A helper's reply is taken only when it is the whole output and carries
// the helper's MAC (issue 24, attack 2: bytes another process wrote to the
// helper's stdout, around or instead of its reply).
func TestHelperReplyAuthenticated(t *testing.T) {
	key := make([]byte, stage.HelperKeySize)
	rand.Read(key)
	real := stage.SealHelperReply(key, stage.HelperReply{Result: json.RawMessage(`{"connected":true,"reply":"pong"}`)})
	forged := []byte(`{"result":{"connected":false,"refused":"connection refused"}}` + "\n")
	other := make([]byte, stage.HelperKeySize)
	rand.Read(other)
	for _, c := range []struct {
		name string
		out  []byte
		ok   bool
	}{
		{"the helper's own", real, true},
		{"forged alone", forged, false},
		{"forged, sealed with another key", stage.SealHelperReply(other, stage.HelperReply{Result: json.RawMessage(`{"connected":false}`)}), false},
		{"forged around the real one", append(append([]byte(`{"result":{"connected":false},"x":`), real...), "}\n"...), false},
		{"bytes after the real one", append(bytes.Clone(real), forged...), false},
		{"bytes before the real one", append(bytes.Clone(forged), real...), false},
		{"empty", nil, false},
	} {
		rep, err := stage.OpenHelperReply(key, c.out)
		if c.ok && (err != nil || !strings.Contains(string(rep.Result), "pong")) {
			t.Errorf("%s: %v %s; want it taken", c.name, err, rep.Result)
		}
		if !c.ok && err == nil {
			t.Errorf("%s: taken (%s); want no answer", c.name, rep.Result)
		}
	}
}

// A helper started as root acts as the header's uid, not as root: it
// cannot read a file only root may read.
func TestHelperDropsToUID(t *testing.T) {
	needBins(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root: the helper starts as root and drops to another uid; run: sudo go test ./matrix -run TestHelperDropsToUID")
	}
	dir := shortDir(t, "bh-drop-")
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, uid := range []int{0, 31337} {
		key := make([]byte, stage.HelperKeySize)
		rand.Read(key)
		hdr, _ := json.Marshal(stage.HelperHeader{UID: uid, GID: uid, Key: key})
		arg, _ := json.Marshal(secret)
		cmd := exec.Command(bins.cli, HelperCommand, "read")
		cmd.Stdin = strings.NewReader(string(hdr) + "\n" + string(arg))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("uid %d: %v", uid, err)
		}
		rep, err := stage.OpenHelperReply(key, out)
		if err != nil {
			t.Fatalf("uid %d: %v", uid, err)
		}
		var res struct {
			Read bool `json:"read"`
		}
		json.Unmarshal(rep.Result, &res)
		if res.Read != (uid == 0) {
			t.Errorf("helper as uid %d read a root-only file: %v; want %v (%s)", uid, res.Read, uid == 0, rep.Result)
		}
	}
}
