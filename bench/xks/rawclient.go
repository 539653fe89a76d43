package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// rawRequests makes the bytes of one signed request, once a second: the
// signature is the same for every identical request in a second (see
// signCache), so so is the whole request.
type rawRequests struct {
	c    caller
	url  string
	host string // host:port of url
	body []byte
	sc   signCache

	mu     sync.Mutex
	second int64
	wire   []byte
}

func (rr *rawRequests) bytes() ([]byte, error) {
	now := time.Now().Unix()
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.wire != nil && rr.second == now {
		return rr.wire, nil
	}
	h, err := rr.sc.headers(rr.c, rr.url, rr.body)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rr.url)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, len(rr.body))
	if err := h.Write(&b); err != nil {
		return nil, err
	}
	b.WriteString("\r\n")
	b.Write(rr.body)
	rr.second, rr.wire = now, b.Bytes()
	return rr.wire, nil
}

// rawConn is one keep-alive HTTP/1.1 connection that writes a prepared
// request and reads the answer's status line, headers and
// Content-Length body, and nothing more: a load generator that costs a
// fraction of net/http's client CPU, which on a machine of two cores is
// CPU the proxy under test gets instead. It handles what the proxy
// answers (net/http's server: a Content-Length body for these small
// answers) and refuses anything else rather than misread it.
type rawConn struct {
	addr string
	tls  *tls.Config
	conn net.Conn
	r    *bufio.Reader
	body []byte
}

func (rc *rawConn) dial() error {
	c, err := net.Dial("tcp", rc.addr)
	if err != nil {
		return err
	}
	if rc.tls != nil {
		c = tls.Client(c, rc.tls)
	}
	rc.conn, rc.r = c, bufio.NewReaderSize(c, 4096)
	return nil
}

func (rc *rawConn) close() {
	if rc.conn != nil {
		_ = rc.conn.Close()
		rc.conn = nil
	}
}

// do sends req and returns the answer's status and body (valid until the
// next call).
func (rc *rawConn) do(req []byte) (int, []byte, error) {
	if rc.conn == nil {
		if err := rc.dial(); err != nil {
			return 0, nil, err
		}
	}
	status, body, keep, err := rc.roundTrip(req)
	if err != nil || !keep {
		rc.close()
	}
	return status, body, err
}

func (rc *rawConn) roundTrip(req []byte) (status int, body []byte, keep bool, err error) {
	if _, err := rc.conn.Write(req); err != nil {
		return 0, nil, false, err
	}
	line, err := rc.r.ReadSlice('\n')
	if err != nil {
		return 0, nil, false, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, nil, false, fmt.Errorf("raw client: bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, nil, false, fmt.Errorf("raw client: bad status line %q", line)
	}
	length, keep := -1, true
	for {
		line, err := rc.r.ReadSlice('\n')
		if err != nil {
			return 0, nil, false, err
		}
		if len(line) <= 2 { // the blank line ending the headers
			break
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if !ok {
			return 0, nil, false, fmt.Errorf("raw client: bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil || length < 0 {
				return 0, nil, false, fmt.Errorf("raw client: bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return 0, nil, false, errors.New("raw client: a chunked answer; run with -client nethttp")
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			keep = false
		}
	}
	if length < 0 {
		return 0, nil, false, errors.New("raw client: an answer without Content-Length; run with -client nethttp")
	}
	if cap(rc.body) < length {
		rc.body = make([]byte, length)
	}
	rc.body = rc.body[:length]
	if _, err := io.ReadFull(rc.r, rc.body); err != nil {
		return 0, nil, false, err
	}
	return status, rc.body, keep, nil
}

// rawSender is one sender of rawSenders, over a rawConn of its own.
func rawSender(rr *rawRequests, tlsConf *tls.Config) (func() error, func()) {
	rc := &rawConn{addr: rr.host, tls: tlsConf}
	send := func() error {
		req, err := rr.bytes()
		if err != nil {
			return err
		}
		status, body, err := rc.do(req)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("%s: %d %s", rr.url, status, body)
		}
		return nil
	}
	return send, rc.close
}
