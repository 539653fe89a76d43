package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/hatoba-cloud/hatoba/internal/baseline"
	"github.com/hatoba-cloud/hatoba/internal/env"
	"github.com/hatoba-cloud/hatoba/internal/store"
	"github.com/hatoba-cloud/hatoba/internal/store/storetest"
)

func TestBaselineVerify(t *testing.T) {
	t.Parallel()
	skey, vkey, err := note.GenerateKey(rand.Reader, "hatoba.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Open(t, store.SQLite)
	svc := baseline.New(db, env.NewStore(db, time.Now), baseline.Options{Signer: signer})
	rel, _, err := svc.Publish(context.Background(), "p-central", "secure-baseline", "1.0.0", baseline.Spec{Format: baseline.CloudFormation,
		Template: "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", Changelog: "First."})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.MarshalIndent(rel, "", "  ")
	var out bytes.Buffer
	if err := verifyBaseline(raw, vkey, &out); err != nil || !strings.HasPrefix(out.String(), "baseline secure-baseline 1.0.0 verified") {
		t.Fatalf("ok/verify: %v %s", err, out.String())
	}
	tampered := bytes.Replace(raw, []byte("AWS::SQS::Queue"), []byte("AWS::SNS::Topic"), 1)
	if err := verifyBaseline(tampered, vkey, &out); err == nil || !strings.Contains(err.Error(), "changed after signing") {
		t.Fatalf("fail/tampered: %v", err)
	}
}
