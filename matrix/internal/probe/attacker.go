package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// ConnectResult is what an attacker saw when it connected and pinged.
type ConnectResult struct {
	Connected bool   `json:"connected"`
	Error     string `json:"error,omitempty"`
	Reply     string `json:"reply,omitempty"`
	// Talked: the daemon answered this uid (the protocols that do not
	// speak bh-json; for those, a pong is never in Reply).
	Talked bool `json:"talked,omitempty"`
	// ConnectCheck: after a failed exec probe, what a plain connect of
	// the same uid met (refused, closed by the daemon, or held open);
	// Held: the daemon kept that connection open for HeldOpen.
	ConnectCheck string `json:"connect_check,omitempty"`
	Held         bool   `json:"held,omitempty"`
	// Refused names the expected refusal that stopped this uid
	// (RefusalOf); "" when it was stopped by something else (EMFILE, a
	// stalled helper...), which is no verdict.
	Refused string `json:"refused,omitempty"`
	// Sent: what the daemon sent this uid without answering it (--protocol
	// line: a reply that does not match --expect, such as a protocol's own
	// refusal), clipped; "" when it sent nothing.
	Sent string `json:"sent,omitempty"`
}

// ReplyNote is r's reply for the evidence: a JSON protocol's reply line,
// quoted (reply="..."); for the other protocols the probe's own account
// of an answer, which quotes the reply itself (reply "+PONG\r\n" matches
// "^\+PONG").
func (r ConnectResult) ReplyNote() string {
	if r.Talked && r.Reply != "" {
		return r.Reply
	}
	return "reply=" + target.QuoteClip([]byte(r.Reply), 120)
}

// AttackerConnect connects without any checks, sends a ping (with no
// token) and reads what comes back.
func AttackerConnect(ctx context.Context, sp Spec) ConnectResult {
	sp.Auth = nil // the attacker takes the endpoint as it finds it
	return ConnectWatched(ctx, sp)
}

// ConnectWatched connects to sp's endpoint (authenticating the daemon
// when sp.Auth is set), sends a ping and reads what comes back; a helper
// stalled meanwhile (watchStalls) makes it no refusal.
func ConnectWatched(ctx context.Context, sp Spec) ConnectResult {
	return Watched(func() ConnectResult { return attackerConnectOnce(ctx, sp) })
}

func attackerConnectOnce(ctx context.Context, sp Spec) ConnectResult {
	if !sp.Protocol.SpeaksJSON() {
		return attackerTalk(ctx, sp)
	}
	var r ConnectResult
	c, _, err := rawConn(ctx, sp)
	if err != nil {
		r.Error, r.Refused = err.Error(), RefusalOf(err, false)
		return r
	}
	defer c.Close()
	r.Connected = true
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(`{"meta":"ping"}` + "\n")); err != nil {
		r.Error, r.Refused = "write: "+err.Error(), WriteRefusal(err)
		return r
	}
	b, err := io.ReadAll(io.LimitReader(c, 4096))
	r.Reply = string(b)
	if err == nil {
		err = io.EOF // ReadAll's nil: the daemon closed
	}
	var note string
	r.Refused, note = HandSilence(ctx, c, RefusalOf(err, true))
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		r.Error = "no reply within 3s (connection held open)" + note
	case err != io.EOF:
		r.Error = err.Error()
	}
	return r
}

// attackerTalk is AttackerConnect for the protocols that do not speak
// bh-json: it reports whether this uid got the daemon to answer. A failed
// exec probe is only the probe's word: it may have given up before it
// reached the daemon (psql does for a uid with no passwd entry). So this
// uid also connects as --protocol connect would (no bytes sent), and the
// result says whether the daemon refused or closed that connection within
// HeldOpen, or kept it (Held), for foreignTalk to weigh.
func attackerTalk(ctx context.Context, sp Spec) ConnectResult {
	r := probe(ctx, sp, HeldOpen)
	res := ConnectResult{Connected: r.Connected || r.Answered, Talked: r.Answered, Refused: r.Refused, Sent: r.Got}
	if r.Answered {
		res.Reply = r.Detail
		return res
	}
	res.Error = r.Detail
	if sp.Protocol == target.ProtocolExec {
		raw := sp
		raw.Protocol = target.ProtocolConnect
		c := probe(ctx, raw, HeldOpen)
		res.Connected, res.Held = c.Connected, c.Answered
		res.ConnectCheck = c.Detail
	}
	return res
}

func (r *ConnectResult) TalkResult() *ConnectResult { return r }
