package matrix

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// connectResult is what an attacker saw when it connected and pinged.
type connectResult struct {
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	Reply     string `json:"reply,omitempty"`
	// Talked: the daemon answered this uid (the protocols that do not
	// speak bh-json; for those, a pong is never in Reply).
	Talked bool `json:"talked,omitempty"`
	// ConnectCheck: after a failed exec probe, what a plain connect of
	// the same uid met (refused, closed by the daemon, or held open);
	// Held: the daemon kept that connection open for heldOpen.
	ConnectCheck string `json:"connect_check,omitempty"`
	Held         bool   `json:"held,omitempty"`
	// Refused names the expected refusal that stopped this uid
	// (refusalOf); "" when it was stopped by something else (EMFILE, a
	// stalled helper...), which is no verdict.
	Refused string `json:"refused,omitempty"`
	// Sent: what the daemon sent this uid without answering it (--protocol
	// line: a reply that does not match --expect, such as a protocol's own
	// refusal), clipped; "" when it sent nothing.
	Sent string `json:"sent,omitempty"`
}

// replyNote is r's reply for the evidence: a JSON protocol's reply line,
// quoted (reply="..."); for the other protocols the probe's own account
// of an answer, which quotes the reply itself (reply "+PONG\r\n" matches
// "^\+PONG").
func (r connectResult) replyNote() string {
	if r.Talked && r.Reply != "" {
		return r.Reply
	}
	return "reply=" + target.QuoteClip([]byte(r.Reply), 120)
}

// attackerConnect connects without any checks, sends a ping (with no
// token) and reads what comes back.
func attackerConnect(ctx context.Context, sp probeSpec) connectResult {
	sp.Auth = nil // the attacker takes the endpoint as it finds it
	return connectWatched(ctx, sp)
}

// connectWatched connects to sp's endpoint (authenticating the daemon
// when sp.Auth is set), sends a ping and reads what comes back; a helper
// stalled meanwhile (watchStalls) makes it no refusal.
func connectWatched(ctx context.Context, sp probeSpec) connectResult {
	return watched(func() connectResult { return attackerConnectOnce(ctx, sp) })
}

func attackerConnectOnce(ctx context.Context, sp probeSpec) connectResult {
	if !sp.Protocol.SpeaksJSON() {
		return attackerTalk(ctx, sp)
	}
	var r connectResult
	c, _, err := rawConn(ctx, sp)
	if err != nil {
		r.Error, r.Refused = err.Error(), refusalOf(err, false)
		return r
	}
	defer c.Close()
	r.Connected = true
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(`{"meta":"ping"}` + "\n")); err != nil {
		r.Error, r.Refused = "write: "+err.Error(), writeRefusal(err)
		return r
	}
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	r.Reply = string(b)
	if err == nil {
		err = io.EOF // ReadAll's nil: the daemon closed
	}
	var note string
	r.Refused, note = handSilence(ctx, c, refusalOf(err, true))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		r.Error = "no reply within 3s (connection held open)" + note
	case err != io.EOF:
		r.Error = err.Error()
	}
	return r
}

// attackerTalk is attackerConnect for the protocols that do not speak
// bh-json: it reports whether this uid got the daemon to answer. A failed
// exec probe is only the probe's word: it may have given up before it
// reached the daemon (psql does for a uid with no passwd entry). So this
// uid also connects as --protocol connect would (no bytes sent), and the
// result says whether the daemon refused or closed that connection within
// heldOpen, or kept it (Held), for foreignTalk to weigh.
func attackerTalk(ctx context.Context, sp probeSpec) connectResult {
	r := probe(ctx, sp, heldOpen)
	res := connectResult{Connected: r.Connected || r.Answered, Talked: r.Answered, Refused: r.Refused, Sent: r.Got}
	if r.Answered {
		res.Reply = r.Detail
		return res
	}
	res.Error = r.Detail
	if sp.Protocol == ProtocolExec {
		raw := sp
		raw.Protocol = ProtocolConnect
		c := probe(ctx, raw, heldOpen)
		res.Connected, res.Held = c.Connected, c.Answered
		res.ConnectCheck = c.Detail
	}
	return res
}

func (r *connectResult) talked() *connectResult { return r }
