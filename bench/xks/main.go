// Command xks benchmarks the XKS proxy API over real HTTP on loopback: AWS
// KMS-shaped Encrypt and Decrypt requests, each signed with SigV4 by the
// AWS SDK's signer, from concurrent clients, and prints requests per second
// and p50/p99/p99.9 latency. The key service is the in-memory xkstest one
// (real AES-256-GCM) until internal/keys plugs in.
//
//	go run ./bench/xks                          # 64 clients, 10 s per operation
//	go run ./bench/xks -c 16 -d 5s -cdiv -tls   # CDIV self-check and TLS
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/xks"
	"github.com/hatoba-cloud/hatoba/internal/xks/xkstest"
)

const (
	region    = "ap-northeast-1"
	prefix    = "/bench"
	accessKey = "BENCHACCESSKEYAAAAAAAA"
	secret    = "VU6W2byoiBrhDqNGbx703oL0syCAmhlQgwNUT123456"
)

func main() {
	clients := flag.Int("c", 64, "concurrent clients")
	dur := flag.Duration("d", 10*time.Second, "duration of each operation")
	size := flag.Int("size", 32, "plaintext bytes (a data key is 32)")
	aadSize := flag.Int("aad", 128, "additionalAuthenticatedData bytes")
	cdiv := flag.Bool("cdiv", false, "ask for the ciphertext data integrity value (adds a decrypt self-check)")
	useTLS := flag.Bool("tls", false, "serve HTTPS (loopback, test certificate)")
	flag.Parse()
	if err := run(*clients, *dur, *size, *aadSize, *cdiv, *useTLS); err != nil {
		log.Fatal(err)
	}
}

type result struct {
	op        string
	n, errs   int
	elapsed   time.Duration
	latencies []time.Duration
}

func run(clients int, dur time.Duration, size, aadSize int, cdiv, useTLS bool) error {
	keys := xkstest.New()
	keys.AddCredential("tenant-bench", accessKey, secret)
	keys.AddKey("tenant-bench", "bench-key", xks.UsageEncrypt, xks.UsageDecrypt)
	var records atomic.Int64
	h, err := xks.NewHandler(xks.Config{URIPrefix: prefix, Region: region, Keys: keys,
		Record: func(context.Context, xks.Usage) { records.Add(1) }})
	if err != nil {
		return err
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	if srv.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	client := srv.Client()
	tr := client.Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = clients
	tr.MaxConnsPerHost = clients

	pt, aad := random(size), random(aadSize)
	md := map[string]string{"awsPrincipalArn": "arn:aws:iam::123456789012:role/bench", "kmsOperation": "GenerateDataKey",
		"kmsRequestId": "00000000-0000-0000-0000-000000000000", "kmsKeyArn": "arn:aws:kms:ap-northeast-1:123456789012:key/bench"}
	encReq := map[string]any{"requestMetadata": md, "plaintext": b64(pt), "additionalAuthenticatedData": b64(aad), "encryptionAlgorithm": "AES_GCM"}
	if cdiv {
		encReq["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256"
	}
	encBody, _ := json.Marshal(encReq)
	base := srv.URL + prefix + "/kms/xks/v1/keys/bench-key/"

	// One sealed data key to decrypt again and again, as KMS Decrypt does.
	out, err := call(client, base+"encrypt", encBody)
	if err != nil {
		return fmt.Errorf("warm-up encrypt: %w", err)
	}
	var sealed map[string]string
	if err := json.Unmarshal(out, &sealed); err != nil {
		return fmt.Errorf("warm-up encrypt answer: %w", err)
	}
	md["kmsOperation"] = "Decrypt"
	decBody, _ := json.Marshal(map[string]any{"requestMetadata": md, "ciphertext": sealed["ciphertext"],
		"ciphertextMetadata": sealed["ciphertextMetadata"], "initializationVector": sealed["initializationVector"],
		"authenticationTag": sealed["authenticationTag"], "additionalAuthenticatedData": b64(aad), "encryptionAlgorithm": "AES_GCM"})

	var results []result
	for _, op := range []struct {
		name, url string
		body      []byte
	}{{"encrypt", base + "encrypt", encBody}, {"decrypt", base + "decrypt", decBody}} {
		results = append(results, load(client, op.name, op.url, op.body, clients, dur))
	}

	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	fmt.Printf("XKS proxy over %s on loopback, SigV4 (aws-sdk-go-v2 signer) per request, backend xkstest (AES-256-GCM)\n", scheme)
	fmt.Printf("%d clients, %s per operation, plaintext %d B, AAD %d B, CDIV %v, GOMAXPROCS %d, %s/%s\n\n",
		clients, dur, size, aadSize, cdiv, runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\trequests\terrors\treq/s\tp50\tp99\tp99.9\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t\n", r.op, r.n, r.errs, float64(r.n)/r.elapsed.Seconds(),
			pct(r.latencies, 0.50), pct(r.latencies, 0.99), pct(r.latencies, 0.999))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\nusage records: %d\nrerun: go run ./bench/xks -c %d -d %s -size %d -aad %d", records.Load(), clients, dur, size, aadSize)
	if cdiv {
		fmt.Print(" -cdiv")
	}
	if useTLS {
		fmt.Print(" -tls")
	}
	fmt.Println()
	return nil
}

// load runs clients loops of signed POSTs for dur.
func load(client *http.Client, op, url string, body []byte, clients int, dur time.Duration) result {
	var wg sync.WaitGroup
	var mu sync.Mutex
	res := result{op: op}
	start := time.Now()
	deadline := start.Add(dur)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for time.Now().Before(deadline) {
				t0 := time.Now()
				if _, err := call(client, url, body); err != nil {
					errs++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			res.latencies = append(res.latencies, lat...)
			res.errs += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.n = len(res.latencies)
	slices.Sort(res.latencies)
	return res
}

var signer = v4.NewSigner()

func call(client *http.Client, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	if err := signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secret},
		req, hex.EncodeToString(sum[:]), xks.Service, region, time.Now()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	resp, err := client.Do(req)
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

func pct(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond).String()
}

func random(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		log.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
