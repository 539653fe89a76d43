package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// generatorFlag makes the command a load generator for its parent: it
// reads a generatorJob on stdin, runs it and writes the result as JSON on
// stdout. With -gen process (the default) the parent serves the proxy and
// each row's load comes from such a child, so Go's scheduler in the
// proxy's process runs the proxy's goroutines only: the figure is the
// proxy's, not the proxy's queued behind 512 senders. The two processes
// still share the machine's CPUs.
const generatorFlag = "-generator"

// generatorJob is one row's load: what to send, how, and for how long.
type generatorJob struct {
	URL           string        `json:"url"`
	Body          []byte        `json:"body"`
	AKID          string        `json:"akid"`
	Secret        string        `json:"secret"`
	Rate          int           `json:"rate"`
	Clients       int           `json:"clients"`
	Warmup        time.Duration `json:"warmup"`
	Dur           time.Duration `json:"dur"`
	ServerCertDER []byte        `json:"server_cert_der,omitempty"`
	// Client is the open loop's HTTP client: raw or nethttp (see -client).
	Client string `json:"client"`
}

// generatorResult is a row's result as the child reports it.
type generatorResult struct {
	N         int             `json:"n"`
	Errs      int             `json:"errs"`
	FirstErr  string          `json:"first_err"`
	Elapsed   time.Duration   `json:"elapsed"`
	Latencies []time.Duration `json:"latencies"`
	LateSends int             `json:"late_sends"`
	// Sent counts the warm-up's requests too.
	Sent int `json:"sent"`
}

// runGenerator is the child's side.
func runGenerator() error {
	var job generatorJob
	if err := json.NewDecoder(os.Stdin).Decode(&job); err != nil {
		return fmt.Errorf("generator: read the job: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = job.Clients, job.Clients
	if job.ServerCertDER != nil {
		cert, err := x509.ParseCertificate(job.ServerCertDER)
		if err != nil {
			return fmt.Errorf("generator: the server certificate: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c := caller{client: &http.Client{Transport: tr}, akid: job.AKID, secret: job.Secret}
	var r result
	if job.Rate > 0 {
		newSender, err := senders(job.Client, c, job.URL, job.Body, tr.TLSClientConfig)
		if err != nil {
			return fmt.Errorf("generator: %w", err)
		}
		var warm result
		if job.Warmup > 0 {
			warm = openLoop(newSender, job.Rate, job.Clients, job.Warmup)
		}
		r = openLoop(newSender, job.Rate, job.Clients, job.Dur)
		r.sent = warm.n + warm.errs + r.n + r.errs
	} else {
		r = load(c, job.URL, job.Body, job.Clients, job.Dur)
	}
	return json.NewEncoder(os.Stdout).Encode(generatorResult{N: r.n, Errs: r.errs, FirstErr: r.firstErr,
		Elapsed: r.elapsed, Latencies: r.latencies, LateSends: r.lateSends, Sent: r.sent})
}

// inChild runs job in a child process of this command and returns its
// result.
func inChild(job generatorJob) (result, error) {
	self, err := os.Executable()
	if err != nil {
		return result{}, fmt.Errorf("find this program to start the generator: %w", err)
	}
	in, err := json.Marshal(job)
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(self, generatorFlag)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return result{}, fmt.Errorf("load generator process: %w", err)
	}
	var gr generatorResult
	if err := json.Unmarshal(out, &gr); err != nil {
		return result{}, fmt.Errorf("load generator's answer: %w", err)
	}
	return result{n: gr.N, errs: gr.Errs, firstErr: gr.FirstErr, elapsed: gr.Elapsed, latencies: gr.Latencies, lateSends: gr.LateSends,
		sent: gr.Sent, generatorCPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

// certDER is the DER of a TLS server's leaf certificate, nil over HTTP.
func certDER(cert *x509.Certificate) []byte {
	if cert == nil {
		return nil
	}
	return cert.Raw
}
