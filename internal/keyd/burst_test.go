package keyd_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/keyd"
	"github.com/hatoba-cloud/hatoba/internal/keys"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
	"github.com/hatoba-cloud/hatoba/internal/xks"
)

// TestBurstFailsClosed sends a burst far above what the proxy admits at
// once, through real HTTP, the real key service and the real recorder.
// Every request is answered — 200, or 429 ThrottlingException — none is
// dropped, none crashes, and every 200 has its usage record in the audit
// log by the time it is answered (a served request without a record is
// impossible).
func TestBurstFailsClosed(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := keys.New(db, keys.Options{})
		shares, err := svc.InitSplit(ctxBg, staff, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, sh := range shares[1:] {
			if _, err := svc.SubmitShare(ctxBg, audit.Acting{Actor: "custodian"}, sh); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.CreateKey(ctxBg, owner, "org-a", keys.KeySpec{ID: "key-1"}); err != nil {
			t.Fatal(err)
		}
		akid, secret, err := svc.CreateXKSCredential(ctxBg, owner, "org-a")
		if err != nil {
			t.Fatal(err)
		}
		// Small bounds, so that a test-sized burst is far above them.
		rec := keyd.NewRecorder(db, keyd.RecorderOptions{Buffer: 16})
		defer rec.Close(ctxBg)
		adm := xks.NewAdmission(8)
		h, err := xks.NewHandler(xks.Config{Region: region, Keys: keyd.New(svc, keyd.Options{}), Record: rec.Record, Admission: adm})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(h)
		defer srv.Close()
		tr := &http.Transport{MaxIdleConnsPerHost: 128}
		defer tr.CloseIdleConnections()
		hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}

		const clients, each = 128, 8
		type answer struct {
			id     string
			status int
			name   string
			err    error
		}
		answers := make(chan answer, clients*each)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for c := range clients {
			wg.Go(func() {
				<-start
				for i := range each {
					id := fmt.Sprintf("burst-%d-%d", c, i)
					body, _ := json.Marshal(map[string]any{"requestMetadata": md("GenerateDataKey", id),
						"plaintext": b64([]byte("a 32-byte data key for the test!")), "encryptionAlgorithm": "AES_GCM"})
					req, _ := http.NewRequest("POST", srv.URL+"/kms/xks/v1/keys/key-1/encrypt", bytes.NewReader(body))
					sum := sha256.Sum256(body)
					if err := v4.NewSigner().SignHTTP(ctxBg, aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
						req, hex.EncodeToString(sum[:]), xks.Service, region, time.Now()); err != nil {
						answers <- answer{id: id, err: err}
						continue
					}
					resp, err := hc.Do(req)
					if err != nil {
						answers <- answer{id: id, err: err}
						continue
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					var out map[string]any
					_ = json.Unmarshal(raw, &out)
					name, _ := out["errorName"].(string)
					answers <- answer{id: id, status: resp.StatusCode, name: name}
				}
			})
		}
		close(start)
		wg.Wait()
		close(answers)

		served := map[string]bool{}
		var throttled int
		for a := range answers {
			switch {
			case a.err != nil:
				t.Fatalf("%s: no answer: %v", a.id, a.err)
			case a.status == 200:
				served[a.id] = true
			case a.status == 429 && a.name == xks.Throttling:
				throttled++
			default:
				t.Fatalf("%s: %d %s; want 200 or 429 %s", a.id, a.status, a.name, xks.Throttling)
			}
		}
		if throttled == 0 || len(served) == 0 {
			t.Fatalf("%d served, %d throttled: the burst should have been partly throttled", len(served), throttled)
		}
		// Every served request's record is already there: the records are
		// read before the recorder is closed.
		rows, err := db.QueryContext(ctxBg, `SELECT details FROM audit_queue WHERE action = 'key.xks.encrypt'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		recorded := map[string]bool{}
		for rows.Next() {
			var details string
			if err := rows.Scan(&details); err != nil {
				t.Fatal(err)
			}
			var d map[string]any
			if err := json.Unmarshal([]byte(details), &d); err != nil {
				t.Fatal(err)
			}
			recorded[d["kmsRequestId"].(string)] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		for id := range served {
			if !recorded[id] {
				t.Fatalf("request %s was served without a usage record", id)
			}
		}
		if adm.InFlight() != 0 {
			t.Fatalf("%d requests still hold admission slots", adm.InFlight())
		}
		t.Logf("%d requests: %d served, %d throttled (%d by admission, %d by the record queue); %d records",
			clients*each, len(served), throttled, adm.Throttled(), rec.Stats().Refused, len(recorded))
	})
}
