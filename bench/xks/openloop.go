package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// openLoop sends rate requests a second for dur on a fixed schedule —
// request i is due at start + i/rate whatever became of the ones before —
// through at most senders requests in flight, and measures each latency
// from its intended send time. A request that finds no free sender waits,
// and the wait is in its latency: the figures do not omit the requests a
// stall held back (coordinated omission), as a closed loop does.
//
// newSender gives each of the senders its own way to send the request
// (send) and to let go of what it holds when the run ends (done).
func openLoop(newSender func() (send func() error, done func()), rate, senders int, dur time.Duration) result {
	n := int(float64(rate) * dur.Seconds())
	interval := time.Second / time.Duration(rate)
	due := make(chan time.Time, n)
	var mu sync.Mutex
	var res result
	var wg sync.WaitGroup
	for range senders {
		send, done := newSender()
		wg.Go(func() {
			defer done()
			var lat []time.Duration
			errs, late, first := 0, 0, ""
			for at := range due {
				if time.Since(at) > time.Millisecond {
					late++
				}
				if err := send(); err != nil {
					if errs == 0 {
						first = err.Error()
					}
					errs++
					continue
				}
				lat = append(lat, time.Since(at))
			}
			mu.Lock()
			res.add(lat, errs, first)
			res.lateSends += late
			mu.Unlock()
		})
	}
	start := time.Now().Add(time.Millisecond)
	for i := 0; i < n; {
		now := time.Now()
		for ; i < n && !start.Add(time.Duration(i)*interval).After(now); i++ {
			due <- start.Add(time.Duration(i) * interval)
		}
		if i < n {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		}
	}
	close(due)
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

// signCache holds the SigV4 headers of one request body and URL for the
// current second: the signature covers the method, path, headers, body
// hash and X-Amz-Date (one-second resolution), so every identical request
// signed in the same second carries the same bytes. Signing once a second
// gives the proxy exactly what per-request signing would.
type signCache struct {
	mu     sync.Mutex
	second int64
	header http.Header
}

func (sc *signCache) headers(c caller, url string, body []byte) (http.Header, error) {
	now := time.Now().Unix()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.header != nil && sc.second == now {
		return sc.header, nil
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: c.akid, SecretAccessKey: c.secret},
		req, hex.EncodeToString(sum[:]), xks.Service, region, time.Unix(now, 0)); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sc.second, sc.header = now, req.Header
	return sc.header, nil
}

// netHTTPSender is openLoop's sender through net/http's client, sharing
// the client's connection pool and one signature cache.
func netHTTPSender(c caller, url string, body []byte) func() (func() error, func()) {
	signs := &signCache{}
	return func() (func() error, func()) {
		send := func() error {
			_, err := c.callSigned(url, body, signs)
			return err
		}
		return send, func() {}
	}
}

// rawSenders is openLoop's sender over a connection of each sender's own
// (rawConn), sharing one request's bytes.
func rawSenders(c caller, rawURL string, body []byte, tlsConf *tls.Config) (func() (func() error, func()), error) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme == "http":
		tlsConf = nil
	case tlsConf != nil:
		tlsConf = tlsConf.Clone()
		tlsConf.ServerName = u.Hostname()
	default:
		return nil, fmt.Errorf("%s: no TLS configuration for the raw client", rawURL)
	}
	rr := &rawRequests{c: c, url: rawURL, host: u.Host, body: body}
	return func() (func() error, func()) {
		return rawSender(rr, tlsConf)
	}, nil
}

// senders picks openLoop's senders: "raw" (rawSenders) or "nethttp"
// (netHTTPSender).
func senders(client string, c caller, rawURL string, body []byte, tlsConf *tls.Config) (func() (func() error, func()), error) {
	switch client {
	case "raw":
		return rawSenders(c, rawURL, body, tlsConf)
	case "nethttp":
		return netHTTPSender(c, rawURL, body), nil
	}
	return nil, fmt.Errorf("-client %q: raw or nethttp", client)
}

// callSigned sends one request with the second's cached signature.
func (c caller) callSigned(url string, body []byte, sc *signCache) ([]byte, error) {
	h, err := sc.headers(c, url, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = h.Clone()
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, out)
	}
	return out, nil
}
