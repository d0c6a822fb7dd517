package matrix

import (
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/org/bh-ipc-check/matrix/internal/probe"
	"github.com/org/bh-ipc-check/matrix/internal/scenario"
	"github.com/org/bh-ipc-check/matrix/internal/target"
)

// tcp.cross-protocol against a daemon of each protocol, correct and with
// its one defence taken out: a Redis-like line daemon that closes at a
// "POST" line (Redis 3.2.7) passes and one that skips the lines it cannot
// parse fails; an HTTP daemon that answers only a loopback Host passes and
// one that answers any Host fails; a bh-json daemon passes by its token (a
// page cannot read the port file) and fails without one; the builtin
// passes because the first line of the request is not its handshake's
// hello: it closes the connection and sends nothing.
func TestCrossProtocol(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skipf("brokend is Linux-only; this is %s", runtime.GOOS)
	}
	needBins(t)
	tcpTarget := func(flaw, proto string, p Protocol, send, expect string) Target {
		return Target{Cmd: []string{bins.brokend, "-flaw", flaw, "-tcpproto", proto, "-root", "{root}", "-name", "{name}", "-transport", "{transport}"},
			PortFile: "{root}/bu-{name}.d/port", Protocol: p, Send: send, Expect: expect}
	}
	const httpPing = `GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: probe\r\n\r\n`
	bhjson := func(flaw string) Target {
		tg := brokenTarget(flaw)
		tg.Socket = "" // the tcp side: a token in every request
		return tg
	}
	for _, c := range []struct {
		name   string
		target Target
		status Status
		why    []string
	}{
		{"line, Redis 3.2.7's guard", tcpTarget("none", "line", ProtocolLine, `PING\r\n`, `^\+PONG`), Pass, []string{"closed by the daemon; "}},
		{"line, junk skipped", tcpTarget("skipjunk", "line", ProtocolLine, `PING\r\n`, `^\+PONG`), Fail, []string{"a cross-origin POST (Origin: http://attacker.example) was answered: line ", ` of the reply on, "+PONG\r\n", matches "^\\+PONG"`}},
		{"http, Host checked", tcpTarget("none", "http", ProtocolLine, httpPing, `"pong":true`), Pass, []string{`the first "HTTP/1.1 421 Misdirected Request"`, "closed by the daemon"}},
		{"http, any Host", tcpTarget("anyhost", "http", ProtocolLine, httpPing, `"pong":true`), Fail, []string{"--send with Host: attacker.example (DNS rebinding) was answered 200: "}},
		// --expect as loose as a status line (docs/recipes.md's style):
		// the 421 matches it and is still a refusal, not an answer.
		{"http, Host checked, any status expected", tcpTarget("none", "http", ProtocolLine, httpPing, `^HTTP/1\.[01] `), Pass, []string{"(DNS rebinding) got 421, a refusal (", "closed by the daemon"}},
		{"http, any Host, any status expected", tcpTarget("anyhost", "http", ProtocolLine, httpPing, `^HTTP/1\.[01] `), Fail, []string{`(DNS rebinding) was answered 200: the reply "HTTP/1.1 200 OK\r\n`}},
		{"bh-json, token required", bhjson("plain"), Pass, []string{"every line sent got an error"}},
		{"bh-json, no token", bhjson("notoken"), Fail, []string{"a cross-origin POST (Origin: http://attacker.example) was answered", "pong"}},
		{"builtin, ipc handshake", BuiltinTarget(), Pass, []string{"neither a cross-origin POST nor a rebinding one was answered"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := runSuite(t, c.target, "tcp.cross-protocol")
			r := rep.Results[0]
			ev := strings.Join(r.Evidence, "\n  ")
			if r.Status != c.status {
				t.Fatalf("%s %q, want %s\n  %s", r.Status, r.Reason, c.status, ev)
			}
			for _, w := range c.why {
				if !strings.Contains(r.Reason, w) {
					t.Errorf("reason %q does not say %q\n  %s", r.Reason, w, ev)
				}
			}
			if strings.HasPrefix(c.name, "line") && !strings.Contains(ev, `body "PING\r\n"`) {
				t.Errorf("the evidence does not quote the body as Go does (%%q):\n  %s", ev)
			}
			if strings.Contains(c.name, "http, Host checked") && !strings.Contains(ev, "answered 421: refused; ") {
				t.Errorf("the evidence does not say the 421 was a refusal:\n  %s", ev)
			}
			if c.target.Builtin && len(regexp.MustCompile(`: no reply; (closed|reset) by the daemon`).FindAllString(ev, -1)) != 2 {
				// The right reason: nothing at all came back, and the
				// connection was closed, not held until the window ended.
				t.Errorf("the builtin answered a browser's request with something, or did not close:\n  %s", ev)
			}
		})
	}
}

// The requests tcp.cross-protocol builds, and what it cannot judge.
func TestCrossProtocolRequests(t *testing.T) {
	post := string(scenario.BrowserPOST("127.0.0.1:4242", "http://attacker.example", false, []byte(`{"meta":"ping"}`+"\n")))
	for _, w := range []string{"POST / HTTP/1.1\r\nHost: 127.0.0.1:4242\r\n", "Content-Length: 16\r\n", "Content-Type: text/plain;charset=UTF-8\r\n", "Origin: http://attacker.example\r\n", "Sec-Fetch-Mode: no-cors\r\n", "\r\n\r\n{\"meta\":\"ping\"}\n"} {
		if !strings.Contains(post, w) {
			t.Errorf("the browser's POST lacks %q:\n%s", w, post)
		}
	}
	for in, want := range map[string]string{
		"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n": "GET /ping HTTP/1.1\r\nHost: attacker.example:4242\r\nConnection: close\r\nAccept: */*\r\n\r\n",
		"GET / HTTP/1.0\n\n":                      "GET / HTTP/1.0\nHost: attacker.example:4242\nConnection: close\n\n",
		"POST /rpc HTTP/1.1\r\nhost: x\r\n\r\n{}": "POST /rpc HTTP/1.1\r\nHost: attacker.example:4242\r\nConnection: close\r\n\r\n{}",
	} {
		if got := string(scenario.WithForeignHost([]byte(in), 4242)); got != want {
			t.Errorf("withForeignHost(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		sp   probe.Spec
		skip string
	}{
		{probe.Spec{Protocol: ProtocolConnect}, "no request to put in the body"},
		{probe.Spec{Protocol: ProtocolExec}, "makes its own connection"},
		{probe.Spec{Protocol: ProtocolLine, Expect: "^SSH-"}, "the daemon speaks first"},
		{probe.Spec{Protocol: ProtocolLine, Send: []byte("PING\r\n")}, ""},
		{probe.Spec{Protocol: ProtocolIPC}, ""},
	} {
		body, why := scenario.CrossBody(c.sp)
		if c.skip == "" && (why != "" || len(body) == 0) || c.skip != "" && !strings.Contains(why, c.skip) {
			t.Errorf("crossBody(%s, send %q) = %q, skip %q; want skip %q", c.sp.Protocol, c.sp.Send, body, why, c.skip)
		}
	}
	re := regexp.MustCompile(`^\+PONG`)
	if at := scenario.MatchFromLine(re, []byte("-ERR unknown command 'POST'\r\n+PONG\r\n")); at != 29 || scenario.MatchFromLine(re, []byte("-ERR +PONG\r\n")) >= 0 {
		t.Error("matchFromLine: want ^ to match at a line's start only")
	}
	for _, c := range []struct {
		reply string
		code  int
	}{
		{"HTTP/1.1 421 Misdirected Request\r\nContent-Length: 0\r\n\r\n", 421},
		{"HTTP/1.0 200 OK\n\n{}", 200},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 403 Forbidden\r\n\r\n", 403},
		{"HTTP/1.1 100 Continue\r\n\r\n", 0}, // the final status is still to come
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 101},
		{"HTTP/1.1 42", 0}, // not complete
		{"+PONG\r\n", 0},
	} {
		if got := scenario.HTTPStatus([]byte(c.reply)); got != c.code {
			t.Errorf("httpStatus(%q) = %d, want %d", c.reply, got, c.code)
		}
	}
	loose := scenario.CrossJudge{Re: regexp.MustCompile(`^HTTP/1\.[01] `), Expect: `^HTTP/1\.[01] `, IsHTTP: true}
	for reply, want := range map[string]bool{"HTTP/1.1 4": false, "HTTP/1.1 421 Misdirected Request\r\n": false, "HTTP/1.1 200 OK\r\n": true, "HTT": false} {
		if got := loose.Settled([]byte(reply), 1); got != want {
			t.Errorf("settled(%q) under --expect %s = %v, want %v", reply, loose.Expect, got, want)
		}
	}
	if answer, code := loose.Answer([]byte("HTTP/1.1 421 Misdirected Request\r\n\r\n")); answer != "" || code != 421 {
		t.Errorf("a 421 under --expect %s: answered %q (%d), want a refusal", loose.Expect, answer, code)
	}
	if got := target.QuoteClip([]byte("PING\r\n"), 80); got != `"PING\r\n"` {
		t.Errorf("quoteClip = %s, want the control characters quoted", got)
	}
	if got := scenario.AnsweredJSON([]byte(`{"error":"bad token"}` + "\n" + `{"nonce":"00","proof":"11"}` + "\n")); !strings.Contains(got, "nonce") {
		t.Errorf("answeredJSON = %q, want the challenge line", got)
	}
	if got := scenario.AnsweredJSON([]byte(`{"error":"not JSON"}` + "\n\n" + `{"error":"unauthorized"}`)); got != "" {
		t.Errorf("answeredJSON of errors only = %q", got)
	}
}
