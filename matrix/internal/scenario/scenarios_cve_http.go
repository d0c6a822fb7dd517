package scenario

// tcp.cross-protocol (issue 22, class 7): what a web page in the user's
// own browser can send to a daemon on the loopback. Redis before 3.2.7
// skipped the lines of an HTTP POST it could not parse and ran the
// commands in its body; Transmission's RPC (CVE-2018-5702) answered any
// Host, so a page whose name was rebound to 127.0.0.1 could read its
// answers. The suite sends those requests and judges the daemon's reply.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/org/bh-ipc-check/ipc"
	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/stage"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

func init() {
	catalogue = append(catalogue, stage.Scenario{ID: "tcp.cross-protocol", Title: "a browser's request to the port is not served", Severity: target.Required, Transport: ipc.TransportTCP,
		Checks: "what a web page can send to the loopback port: an HTTP POST from another origin, and the same with Host attacker.example (DNS rebinding), each with the protocol's own request as its body (bh-json: a ping without the token, which a page cannot read; ipc: the handshake's hello and a ping; line: --send); nothing but errors or a close comes back. An HTTP daemon (--send an HTTP request) does not answer --send with a foreign Host (a 4xx or 5xx status is a refusal)", Run: tcpCrossProtocol})
}

// foreignHost is the name a rebinding page is served from; the suite never
// resolves it.
const foreignHost = "attacker.example"

// crossReadWindow bounds the wait for a reply to a browser's request from
// a daemon that neither answers nor closes; one that closes, answers, or
// (bh-json, ipc) answers every line sent ends the wait at once.
const crossReadWindow = 3 * time.Second

// browserRequest is one request a page can make the browser send.
type browserRequest struct {
	what string
	raw  []byte
}

// BrowserPOST is what fetch(url, {method: "POST", mode: "no-cors", body})
// sends from a page of origin to host: a "simple" request, sent without a
// CORS preflight, whose reply the page cannot read (rebinding makes it
// same-origin, and then it can). Headers as a current Chrome sends them.
func BrowserPOST(host, origin string, sameOrigin bool, body []byte) []byte {
	site, mode := "cross-site", "no-cors"
	if sameOrigin {
		site, mode = "same-origin", "cors"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive\r\nContent-Length: %d\r\n", host, len(body))
	b.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n")
	b.WriteString("Content-Type: text/plain;charset=UTF-8\r\nAccept: */*\r\n")
	fmt.Fprintf(&b, "Origin: %s\r\nSec-Fetch-Site: %s\r\nSec-Fetch-Mode: %s\r\nSec-Fetch-Dest: empty\r\nReferer: %s/\r\n", origin, site, mode, origin)
	b.WriteString("Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// httpRequestLine: a --send that is itself an HTTP request; the daemon
// speaks HTTP and a browser's request is no other protocol to it.
var httpRequestLine = regexp.MustCompile(`^[A-Z]+ \S+ HTTP/1\.[01]\r?\n`)

// WithForeignHost is an HTTP request req with its Host header (added if
// it has none) naming foreignHost:port, as a page served from that name,
// once rebound to 127.0.0.1, sends it; and "Connection: close", so that
// the daemon ends the connection once it has answered.
func WithForeignHost(req []byte, port int) []byte {
	eol := "\n"
	if i := bytes.IndexByte(req, '\n'); i > 0 && req[i-1] == '\r' {
		eol = "\r\n"
	}
	head, body, found := bytes.Cut(req, []byte(eol+eol))
	lines := strings.Split(string(head), eol)
	out := []string{lines[0], "Host: " + foreignHost + ":" + strconv.Itoa(port), "Connection: close"}
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); n != "host" && n != "connection" {
			out = append(out, l)
		}
	}
	s := strings.Join(out, eol) + eol + eol
	if !found {
		// A request without its blank line yet: the daemon reads on.
		s = strings.Join(out, eol) + eol
	}
	return append([]byte(s), body...)
}

// CrossBody is the protocol's own request, the body of the browser's
// POST: bh-json's ping without the token (a page cannot read the port
// file); ipc's handshake hello (a page can send it, never its proof) and
// a ping; the line protocol's --send. skip says why there is none.
func CrossBody(sp probe.Spec) (body []byte, skip string) {
	switch sp.Protocol {
	case target.ProtocolBHJSON:
		return []byte(`{"meta":"ping"}` + "\n"), ""
	case target.ProtocolIPC:
		return []byte(`{"hello":"bh-ipc/1","nonce":"` + randHex(32) + `"}` + "\n" + `{"meta":"ping"}` + "\n"), ""
	case target.ProtocolLine:
		if len(sp.Send) == 0 {
			return nil, fmt.Sprintf("the probe sends nothing (the daemon speaks first): its greeting comes whatever a browser sends, so whether it answers one cannot be told; give %s to run it", target.Hint("send", "REQUEST"))
		}
		return sp.Send, ""
	case target.ProtocolConnect:
		return nil, fmt.Sprintf("%s has no request to put in the body of a browser's POST; give %s with %s to run it", target.Hint("protocol", "connect"), target.Hint("protocol", "line"), target.Hints("send", "expect"))
	}
	return nil, fmt.Sprintf("%s: the probe program makes its own connection and its request cannot be put in the body of a browser's POST; give %s with %s (what the probe sends) to run it", target.Hint("protocol", "exec"), target.Hint("protocol", "line"), target.Hints("send", "expect"))
}

// browserRequests are what the scenario sends to port: a cross-origin
// POST and a rebinding one, each with body; for an HTTP daemon, --send
// with a foreign Host.
func browserRequests(sp probe.Spec, body []byte, port int) (reqs []browserRequest, isHTTP bool) {
	if sp.Protocol == target.ProtocolLine && httpRequestLine.Match(sp.Send) {
		return []browserRequest{{"--send with Host: " + foreignHost + " (DNS rebinding)", WithForeignHost(sp.Send, port)}}, true
	}
	loop := "127.0.0.1:" + strconv.Itoa(port)
	rebound := foreignHost + ":" + strconv.Itoa(port)
	return []browserRequest{
		{"a cross-origin POST (Origin: http://" + foreignHost + ")", BrowserPOST(loop, "http://"+foreignHost, false, body)},
		{"a POST with Host: " + rebound + " (DNS rebinding)", BrowserPOST(rebound, "http://"+rebound, true, body)},
	}, false
}

// httpStatusLine is an HTTP/1.x status line, complete: its code.
var httpStatusLine = regexp.MustCompile(`^HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?\r?\n`)

// HTTPStatus is the final status code of an HTTP reply (got so far): the
// interim ones (100 Continue, 102, 103 Early Hints) and their headers are
// skipped; 101 Switching Protocols is final (the daemon speaks on). 0
// when got holds no complete final status line yet, or is no HTTP reply.
func HTTPStatus(got []byte) int {
	for {
		m := httpStatusLine.FindSubmatch(got)
		if m == nil {
			return 0
		}
		code, _ := strconv.Atoi(string(m[1]))
		if code >= 200 || code == 101 {
			return code
		}
		// An interim reply: its headers end at a blank line, and the
		// final reply follows.
		end := -1
		if i := bytes.Index(got, []byte("\r\n\r\n")); i >= 0 {
			end = i + 4
		}
		if i := bytes.Index(got, []byte("\n\n")); i >= 0 && (end < 0 || i+2 < end) {
			end = i + 2
		}
		if end < 0 {
			return 0
		}
		got = got[end:]
	}
}

// httpRefused: an HTTP status that is a refusal, not an answer (4xx, 5xx:
// 421 Misdirected Request for a Host the daemon does not serve, 403).
func httpRefused(code int) bool { return code >= 400 }

// crossReply is what came back for one browserRequest.
type crossReply struct {
	got []byte
	// end says how the exchange ended: closed, reset, held open, or
	// settled on what arrived.
	end string
	// unsure: held open, but the daemon was not seen answering anyone
	// meanwhile (whileHeld), so the silence is no verdict.
	unsure string
}

// AnsweredJSON is the first reply line (bh-json, ipc) that is not an
// error object: a pong, a handshake challenge, anything served. "" when
// none.
func AnsweredJSON(got []byte) string {
	for _, l := range strings.Split(string(got), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(l), &m) != nil {
			return l
		}
		if _, ok := m["error"]; !ok {
			return l
		}
	}
	return ""
}

// MatchFromLine is where re matches got, from its start or from the start
// of any line in it (-1: nowhere): an ^-anchored --expect (^\+PONG)
// matches a reply that comes after the errors the daemon gave the
// request's other lines.
func MatchFromLine(re *regexp.Regexp, got []byte) int {
	for i := 0; i < len(got); i++ {
		if (i == 0 || got[i-1] == '\n') && re.Match(got[i:]) {
			return i
		}
	}
	return -1
}

// exchangeCross sends req on a connection to port that the daemon (id)
// accepted, and reads until the daemon closes, answered tells that the
// reply so far settles it, or crossReadWindow passes; then, with the
// connection still open, whileHeld judges the silence
// (Env.AnsweringWhileHeld).
func exchangeCross(ctx context.Context, port int, id *probe.DaemonIdentity, req []byte, answered func([]byte) bool, whileHeld func(net.Conn) (string, bool)) (crossReply, error) {
	c, err := probe.DialDaemonTCP(ctx, port, id)
	if err != nil {
		return crossReply{}, err
	}
	defer c.Close()
	dl := time.Now().Add(crossReadWindow)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	c.SetDeadline(dl)
	var r crossReply
	if _, err := c.Write(req); err != nil {
		// Closed before the whole request was written: it was not served
		// (a daemon that closes at the first line may reset the rest).
		r.end = "closed before the whole request was written (" + err.Error() + ")"
	}
	buf := make([]byte, 4096)
	for len(r.got) < 64<<10 {
		n, err := c.Read(buf)
		r.got = append(r.got, buf[:n]...)
		if answered(r.got) {
			return r, nil
		}
		if err != nil {
			r.end = strings.TrimPrefix(r.end+"; ", "; ") + crossEnd(err)
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				// Held open: unanswered, or never taken from the backlog.
				why, ok := whileHeld(c)
				if r.end += "; " + why; !ok {
					r.unsure = why
				}
			}
			return r, nil
		}
	}
	r.end = "64 KiB of reply"
	return r, nil
}

// crossEnd says how a read of the reply ended.
func crossEnd(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		return "closed by the daemon"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset by the daemon"
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("held open %s without more", crossReadWindow)
	}
	return err.Error()
}

func tcpCrossProtocol(ctx context.Context, e *stage.Env) stage.Outcome {
	sp := e.Spec()
	body, why := CrossBody(sp)
	if why != "" {
		return stage.Skip("%s", why)
	}
	if _, _, err := e.Start(ctx); err != nil {
		return stage.Errored("the daemon passed the preflight but did not start here: %v", err)
	}
	pf, err := e.ReadPortFile()
	if err != nil {
		return stage.Errored("port file: %v", err)
	}
	reqs, isHTTP := browserRequests(sp, body, pf.Port)
	if isHTTP {
		e.Note("--send is an HTTP request: the daemon speaks HTTP, so a browser's POST is no other protocol to it; whether it acts on a cross-origin request cannot be seen from a reply the page cannot read, so only a foreign Host (DNS rebinding: the page reads the reply) is judged: a 4xx or 5xx status is a refusal, a 1xx, 2xx or 3xx one an answer when the reply matches --expect")
	}
	var re *regexp.Regexp
	if sp.Protocol == target.ProtocolLine {
		if re, err = regexp.Compile(sp.Expect); err != nil {
			return stage.Errored("--expect: %v", err) // checked by Validate
		}
	}
	if h := e.Runner.Config.Hooks; h != nil && h.BeforeAttack != nil {
		h.BeforeAttack(e)
	}
	j := CrossJudge{Re: re, Expect: sp.Expect, IsHTTP: isHTTP}
	var ends []string
	for _, rq := range reqs {
		lines := bytes.Count(rq.raw, []byte("\n"))
		r, err := exchangeCross(ctx, pf.Port, sp.Auth, rq.raw, func(got []byte) bool { return j.Settled(got, lines) }, func(c net.Conn) (string, bool) { return e.AnsweringWhileHeld(ctx, "the suite's", c) })
		e.KeepImpostor(err, rq.what)
		if err != nil {
			return stage.Errored("%s: %v", rq.what, err)
		}
		first, _, _ := strings.Cut(string(rq.raw), "\n")
		sent := fmt.Sprintf("%q ... body %s", strings.TrimSpace(first), target.QuoteClip(body, 80))
		if isHTTP {
			sent = target.QuoteClip(rq.raw, 120)
		}
		answer, code := j.Answer(r.got)
		got := describeReply(r.got)
		if code != 0 {
			got = httpVerdict(code) + "; " + got
		}
		e.Note("%s (%d bytes: %s): %s; %s", rq.what, len(rq.raw), sent, got, cmp.Or(r.end, "settled on what arrived"))
		if answer != "" {
			return stage.Fail("%s was answered%s", rq.what, answer)
		}
		if r.unsure != "" {
			return stage.Errored("%s got no reply, and %s", rq.what, r.unsure)
		}
		ends = append(ends, describeReply(r.got)+", "+orSettled(r.end))
		if isHTTP {
			return crossHTTPPass(rq.what, code, sp.Expect, ends[0])
		}
	}
	return stage.Pass("neither a cross-origin POST nor a rebinding one was answered (%s): only errors or a close", strings.Join(ends, "; "))
}

// CrossJudge judges the replies to the browser's requests: re is
// --expect (line; nil for bh-json and ipc), IsHTTP that --send is an HTTP
// request, whose reply is judged by its status first.
type CrossJudge struct {
	Re     *regexp.Regexp
	Expect string
	IsHTTP bool
}

// Settled says that got, the reply so far to a request of lines lines,
// settles it: an answer; under bh-json and ipc a reply to every line. An
// HTTP reply settles at a final status line that answers; a refusal (4xx,
// 5xx) is read on until the daemon closes, so the evidence says how it
// ended, and a status line not complete yet settles nothing: its first
// bytes would match a loose --expect such as '^HTTP/1\.[01] '.
func (j CrossJudge) Settled(got []byte, lines int) bool {
	if j.IsHTTP && httpReplyStart(got) {
		code := HTTPStatus(got)
		return code != 0 && !httpRefused(code) && MatchFromLine(j.Re, got) >= 0
	}
	if j.Re != nil {
		return MatchFromLine(j.Re, got) >= 0
	}
	// Every line sent has its reply, the body's included, or one of them
	// was served: nothing more will settle it.
	return AnsweredJSON(got) != "" || bytes.Count(got, []byte("\n")) >= lines
}

// Answer says how got answered the request, the reason's words after
// "was answered" ("" when it did not), and an HTTP reply's final status
// (0: none). Under HTTP a 4xx or 5xx status is a refusal whatever
// --expect matches (421 Misdirected Request is Transmission's answer to a
// foreign Host); only a 1xx, 2xx or 3xx status whose reply matches
// --expect is an answer. A reply with no complete status line is judged
// by --expect alone, as any line protocol's.
func (j CrossJudge) Answer(got []byte) (answer string, code int) {
	if j.IsHTTP && httpReplyStart(got) {
		if code = HTTPStatus(got); code != 0 {
			if !httpRefused(code) && MatchFromLine(j.Re, got) >= 0 {
				return fmt.Sprintf(" %d: the reply %s matches %q", code, target.QuoteClip(got, 160), j.Expect), code
			}
			return "", code
		}
	}
	if j.Re == nil {
		if l := AnsweredJSON(got); l != "" {
			return ": " + target.QuoteClip([]byte(l), 160), 0
		}
		return "", 0
	}
	switch at := MatchFromLine(j.Re, got); {
	case at == 0:
		return fmt.Sprintf(": the reply %s matches %q", target.QuoteClip(got, 160), j.Expect), 0
	case at > 0:
		return fmt.Sprintf(": line %d of the reply on, %s, matches %q", bytes.Count(got[:at], []byte("\n"))+1, target.QuoteClip(got[at:], 160), j.Expect), 0
	}
	return "", 0
}

// httpReplyStart: got is, or begins, "HTTP/": an HTTP reply, its status
// line perhaps not complete yet.
func httpReplyStart(got []byte) bool {
	n := min(len(got), 5)
	return n > 0 && string(got[:n]) == "HTTP/"[:n]
}

// httpVerdict says what an HTTP status means here, for the evidence.
func httpVerdict(code int) string {
	if httpRefused(code) {
		return fmt.Sprintf("answered %d: refused", code)
	}
	return fmt.Sprintf("answered %d", code)
}

// crossHTTPPass is the pass of an HTTP daemon's rebinding request, what
// (its reply described in how) not answered: refused by its status code,
// no status matching --expect, or no reply at all.
func crossHTTPPass(what string, code int, expect, how string) stage.Outcome {
	switch {
	case httpRefused(code):
		return stage.Pass("%s got %d, a refusal (%s): the daemon checks the Host it is addressed by", what, code, how)
	case code != 0:
		return stage.Pass("%s was not answered: its %d reply does not match --expect %q (%s)", what, code, expect, how)
	}
	return stage.Pass("%s was not answered (%s): the daemon checks the Host it is addressed by", what, how)
}

// describeReply says what came back: nothing, its one line, or its first
// and last lines (an HTTP status line; the reply to a request's body).
func describeReply(got []byte) string {
	var lines []string
	for _, l := range strings.Split(string(got), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, target.OneLine(l, 100))
		}
	}
	switch len(lines) {
	case 0:
		return "no reply"
	case 1:
		return fmt.Sprintf("reply %q", lines[0])
	}
	return fmt.Sprintf("%d reply lines, the first %q, the last %q", len(lines), lines[0], lines[len(lines)-1])
}

// orSettled names an exchange that ended on what arrived.
func orSettled(end string) string {
	if end == "" {
		return "every line sent got an error"
	}
	return end
}
