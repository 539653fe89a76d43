package simcloud

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The S3 operations of tenants' backup buckets (docs/backup.md, "Tenants'
// backups"), path-style below S3Prefix, in S3's REST-XML protocol:
//
//	PUT    /s3/B                    CreateBucket (x-amz-bucket-object-lock-enabled)
//	HEAD   /s3/B                    HeadBucket
//	PUT    /s3/B?object-lock        PutObjectLockConfiguration
//	GET    /s3/B?object-lock        GetObjectLockConfiguration
//	PUT    /s3/B?tagging            PutBucketTagging
//	GET    /s3/B?tagging            GetBucketTagging
//	GET    /s3/B?list-type=2        ListObjectsV2
//	PUT    /s3/B/KEY                PutObject (a new version; the body is counted, not kept)
//	DELETE /s3/B/KEY                DeleteObject (refused within Object Lock retention)
//
// Requests are signed (SigV4, service s3, the simulated cloud's region)
// and meet the configured rate, transient failures and lost answers.
//
// A bucket tagged hatoba:role=backup also holds the tenant's simulated
// backups: one object a day from TenantBackupLag after the bucket was
// made, generated from the seed and the bucket's name, so the collector
// and the controls meet backups without a tenant writing them — and, at
// the planted rates, buckets whose backups stopped or never started.
const S3Prefix = "/s3/"

const (
	// TenantBackupLag is when a simulated tenant writes its first backup
	// after its bucket is made; then every TenantBackupInterval.
	TenantBackupLag      = time.Minute
	TenantBackupInterval = 24 * time.Hour

	rateBackupNever   = 0.05 // per bucket: the tenant never backs up
	rateBackupStopped = 0.10 // per bucket: the tenant's backups stop after the first
)

var bucketNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (s *Server) s3Routes(mux *http.ServeMux) {
	mux.HandleFunc(S3Prefix, s.serveS3)
}

type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
	status    int
}

func s3Err(status int, code, format string, args ...any) *s3Error {
	return &s3Error{Code: code, Message: fmt.Sprintf(format, args...), status: status}
}

func (e *s3Error) Error() string { return e.Code + ": " + e.Message }

func (s *Server) serveS3(w http.ResponseWriter, r *http.Request) {
	out, lost, err := s.s3Call(r)
	if lost {
		dropConnection(w)
		return
	}
	w.Header().Set("X-Amz-Request-Id", uuid())
	if err != nil {
		var se *s3Error
		if !errors.As(err, &se) {
			s.log.Error("simulated S3 failed", "err", err)
			se = s3Err(http.StatusInternalServerError, "InternalError", "simulated S3 failed")
		}
		se.Resource, se.RequestID = r.URL.Path, uuid()
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(se.status)
		if r.Method != http.MethodHead {
			_, _ = io.WriteString(w, xml.Header)
			_ = xml.NewEncoder(w).Encode(se)
		}
		return
	}
	if out == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(out)
}

// s3Call authenticates, limits and runs one S3 request in a transaction,
// as call does for the JSON protocols.
func (s *Server) s3Call(r *http.Request) (out any, lost bool, err error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxRequestBody))
	if err != nil {
		return nil, false, s3Err(http.StatusRequestEntityTooLarge, "EntityTooLarge", "request body too large or unreadable")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	now := s.cfg.Now()
	scope, err := verifySigV4(r, body, s.cfg.AccessKeyID, s.cfg.SecretAccessKey, now)
	if err != nil {
		s.stats.Rejected++
		var se *signatureError
		if errors.As(err, &se) {
			return nil, false, s3Err(http.StatusForbidden, se.code, "%s", se.msg)
		}
		return nil, false, err
	}
	if scope.Service != "s3" || scope.Region != s.cfg.Region {
		s.stats.Rejected++
		return nil, false, s3Err(http.StatusForbidden, "AuthorizationHeaderMalformed",
			"the request is signed for %s in %q; this S3 is s3 in %q", scope.Service, scope.Region, s.cfg.Region)
	}
	if !s.bucket.take(now) {
		s.stats.Throttled++
		return nil, false, s3Err(http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	}
	if s.cfg.TransientRate > 0 && s.rng.Float64() < s.cfg.TransientRate {
		s.stats.TransientInjected++
		return nil, false, s3Err(http.StatusInternalServerError, "InternalError", "simulated transient failure")
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, S3Prefix), "/")
	ctx := r.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, false, err
	}
	defer tx.Rollback()
	out, err = s.s3Op(ctx, tx, r, bucket, key, body, now)
	if err != nil {
		var se *s3Error
		if errors.As(err, &se) && se.status < 500 {
			s.stats.Rejected++
		}
		return nil, false, err
	}
	if err := tx.Commit(); err != nil {
		return nil, false, err
	}
	if s.cfg.LostResponseRate > 0 && s.rng.Float64() < s.cfg.LostResponseRate {
		s.stats.LostInjected++
		return nil, true, nil
	}
	return out, false, nil
}

type s3Bucket struct {
	name, region, lockMode string
	lockEnabled            bool
	lockDays               int
	tags                   map[string]string
	createdAt              time.Time
}

func (s *Server) s3Bucket(ctx context.Context, tx *sql.Tx, name string) (s3Bucket, error) {
	b := s3Bucket{name: name}
	var lock, created int64
	var tags string
	err := tx.QueryRowContext(ctx, `SELECT region, lock_enabled, lock_mode, lock_days, tags, created_at FROM s3_buckets WHERE name = ?`, name).
		Scan(&b.region, &lock, &b.lockMode, &b.lockDays, &tags, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return b, s3Err(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	}
	if err != nil {
		return b, err
	}
	b.lockEnabled, b.createdAt = lock == 1, time.Unix(0, created).UTC()
	if tags != "" {
		if err := json.Unmarshal([]byte(tags), &b.tags); err != nil {
			return b, err
		}
	}
	return b, nil
}

type objectLockConfiguration struct {
	XMLName           xml.Name `xml:"ObjectLockConfiguration"`
	Xmlns             string   `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string   `xml:"ObjectLockEnabled,omitempty"`
	Rule              *struct {
		DefaultRetention struct {
			Mode  string `xml:"Mode,omitempty"`
			Days  int    `xml:"Days,omitempty"`
			Years int    `xml:"Years,omitempty"`
		} `xml:"DefaultRetention"`
	} `xml:"Rule,omitempty"`
}

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	Xmlns   string   `xml:"xmlns,attr,omitempty"`
	TagSet  struct {
		Tag []struct {
			Key   string `xml:"Key"`
			Value string `xml:"Value"`
		} `xml:"Tag"`
	} `xml:"TagSet"`
}

type listBucketResult struct {
	XMLName     xml.Name   `xml:"ListBucketResult"`
	Xmlns       string     `xml:"xmlns,attr"`
	Name        string     `xml:"Name"`
	Prefix      string     `xml:"Prefix"`
	KeyCount    int        `xml:"KeyCount"`
	MaxKeys     int        `xml:"MaxKeys"`
	IsTruncated bool       `xml:"IsTruncated"`
	Contents    []s3Object `xml:"Contents"`
}

type s3Object struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

func (s *Server) s3Op(ctx context.Context, tx *sql.Tx, r *http.Request, bucket, key string, body []byte, now time.Time) (any, error) {
	q := r.URL.Query()
	switch {
	case key == "" && r.Method == http.MethodPut && !q.Has("object-lock") && !q.Has("tagging"):
		return nil, s.createBucket(ctx, tx, r, bucket, body, now)
	case key == "" && r.Method == http.MethodHead:
		_, err := s.s3Bucket(ctx, tx, bucket)
		return nil, err
	case key == "" && q.Has("object-lock") && r.Method == http.MethodPut:
		return nil, s.putObjectLock(ctx, tx, bucket, body)
	case key == "" && q.Has("object-lock") && r.Method == http.MethodGet:
		b, err := s.s3Bucket(ctx, tx, bucket)
		if err != nil {
			return nil, err
		}
		if !b.lockEnabled {
			return nil, s3Err(http.StatusNotFound, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
		}
		out := objectLockConfiguration{Xmlns: s3NS, ObjectLockEnabled: "Enabled"}
		if b.lockMode != "" {
			out.Rule = &struct {
				DefaultRetention struct {
					Mode  string `xml:"Mode,omitempty"`
					Days  int    `xml:"Days,omitempty"`
					Years int    `xml:"Years,omitempty"`
				} `xml:"DefaultRetention"`
			}{}
			out.Rule.DefaultRetention.Mode, out.Rule.DefaultRetention.Days = b.lockMode, b.lockDays
		}
		return out, nil
	case key == "" && q.Has("tagging") && r.Method == http.MethodPut:
		return nil, s.putBucketTagging(ctx, tx, bucket, body)
	case key == "" && q.Has("tagging") && r.Method == http.MethodGet:
		b, err := s.s3Bucket(ctx, tx, bucket)
		if err != nil {
			return nil, err
		}
		if len(b.tags) == 0 {
			return nil, s3Err(http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist")
		}
		out := tagging{Xmlns: s3NS}
		keys := make([]string, 0, len(b.tags))
		for k := range b.tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out.TagSet.Tag = append(out.TagSet.Tag, struct {
				Key   string `xml:"Key"`
				Value string `xml:"Value"`
			}{k, b.tags[k]})
		}
		return out, nil
	case key == "" && r.Method == http.MethodGet && q.Get("list-type") == "2":
		return s.listObjects(ctx, tx, bucket, now)
	case key != "" && r.Method == http.MethodPut:
		return nil, s.putObject(ctx, tx, bucket, key, int64(len(body)), now)
	case key != "" && r.Method == http.MethodDelete:
		return nil, s.deleteObject(ctx, tx, bucket, key, now)
	}
	return nil, s3Err(http.StatusNotImplemented, "NotImplemented", "the simulated S3 has no operation %s %s", r.Method, r.URL.RequestURI())
}

func (s *Server) createBucket(ctx context.Context, tx *sql.Tx, r *http.Request, name string, body []byte, now time.Time) error {
	if !bucketNamePattern.MatchString(name) || strings.Contains(name, "..") {
		return s3Err(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	}
	region := "us-east-1"
	if len(bytes.TrimSpace(body)) > 0 {
		var cfg struct {
			LocationConstraint string `xml:"LocationConstraint"`
		}
		if err := xml.Unmarshal(body, &cfg); err != nil {
			return s3Err(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed")
		}
		region = cfg.LocationConstraint
	}
	if region != s.cfg.Region {
		return s3Err(http.StatusBadRequest, "IllegalLocationConstraintException",
			"The %s location constraint is incompatible for the region specific endpoint this request was sent to.", region)
	}
	if _, err := s.s3Bucket(ctx, tx, name); err == nil {
		// One credential, one owner: every bucket here is the caller's.
		return s3Err(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	}
	lock := 0
	if strings.EqualFold(r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled"), "true") {
		lock = 1
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO s3_buckets (name, region, lock_enabled, created_at) VALUES (?, ?, ?, ?)`, name, region, lock, now.UnixNano())
	return err
}

func (s *Server) putObjectLock(ctx context.Context, tx *sql.Tx, name string, body []byte) error {
	b, err := s.s3Bucket(ctx, tx, name)
	if err != nil {
		return err
	}
	var in objectLockConfiguration
	if err := xml.Unmarshal(body, &in); err != nil || in.ObjectLockEnabled != "Enabled" {
		return s3Err(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
	}
	if !b.lockEnabled {
		// S3 allows it on a versioned bucket since 2023; these buckets
		// are made with Object Lock or not at all.
		return s3Err(http.StatusConflict, "InvalidBucketState", "Object Lock configuration cannot be enabled on existing buckets")
	}
	mode, days := "", 0
	if in.Rule != nil {
		mode, days = in.Rule.DefaultRetention.Mode, in.Rule.DefaultRetention.Days+365*in.Rule.DefaultRetention.Years
		if (mode != "COMPLIANCE" && mode != "GOVERNANCE") || days <= 0 || (in.Rule.DefaultRetention.Days > 0 && in.Rule.DefaultRetention.Years > 0) {
			return s3Err(http.StatusBadRequest, "MalformedXML", "a default retention needs a Mode (COMPLIANCE or GOVERNANCE) and Days or Years")
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE s3_buckets SET lock_mode = ?, lock_days = ? WHERE name = ?`, mode, days, name)
	return err
}

func (s *Server) putBucketTagging(ctx context.Context, tx *sql.Tx, name string, body []byte) error {
	if _, err := s.s3Bucket(ctx, tx, name); err != nil {
		return err
	}
	var in tagging
	if err := xml.Unmarshal(body, &in); err != nil {
		return s3Err(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed")
	}
	if len(in.TagSet.Tag) > 50 {
		return s3Err(http.StatusBadRequest, "InvalidTag", "a bucket carries at most 50 tags")
	}
	tags := map[string]string{}
	for _, t := range in.TagSet.Tag {
		if t.Key == "" || len([]rune(t.Key)) > 128 || len([]rune(t.Value)) > 256 {
			return s3Err(http.StatusBadRequest, "InvalidTag", "tag keys are 1–128 characters, values at most 256")
		}
		if _, dup := tags[t.Key]; dup {
			return s3Err(http.StatusBadRequest, "InvalidTag", "Cannot provide multiple Tags with the same key")
		}
		tags[t.Key] = t.Value
	}
	raw, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE s3_buckets SET tags = ? WHERE name = ?`, string(raw), name)
	return err
}

func (s *Server) putObject(ctx context.Context, tx *sql.Tx, bucket, key string, size int64, now time.Time) error {
	b, err := s.s3Bucket(ctx, tx, bucket)
	if err != nil {
		return err
	}
	var retain int64
	if b.lockEnabled && b.lockDays > 0 {
		retain = now.Add(time.Duration(b.lockDays) * 24 * time.Hour).UnixNano()
	}
	// A write never replaces a version: it adds one, as with versioning on.
	_, err = tx.ExecContext(ctx, `INSERT INTO s3_objects (bucket, key, version, size, modified_at, retain_until)
		VALUES (?, ?, (SELECT COALESCE(MAX(version), 0) + 1 FROM s3_objects WHERE bucket = ? AND key = ?), ?, ?, ?)`,
		bucket, key, bucket, key, size, now.UnixNano(), retain)
	return err
}

func (s *Server) deleteObject(ctx context.Context, tx *sql.Tx, bucket, key string, now time.Time) error {
	if _, err := s.s3Bucket(ctx, tx, bucket); err != nil {
		return err
	}
	var locked int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM s3_objects WHERE bucket = ? AND key = ? AND retain_until > ?`, bucket, key, now.UnixNano()).Scan(&locked); err != nil {
		return err
	}
	if locked > 0 {
		return s3Err(http.StatusForbidden, "AccessDenied", "Access Denied because object protected by object lock.")
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM s3_objects WHERE bucket = ? AND key = ?`, bucket, key)
	return err
}

func (s *Server) listObjects(ctx context.Context, tx *sql.Tx, bucket string, now time.Time) (any, error) {
	b, err := s.s3Bucket(ctx, tx, bucket)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT key, size, modified_at FROM s3_objects o WHERE bucket = ?
		AND version = (SELECT MAX(version) FROM s3_objects WHERE bucket = o.bucket AND key = o.key) ORDER BY key`, bucket)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var objs []s3Object
	for rows.Next() {
		var o s3Object
		var at int64
		if err := rows.Scan(&o.Key, &o.Size, &at); err != nil {
			return nil, err
		}
		o.LastModified, o.ETag, o.StorageClass = time.Unix(0, at).UTC().Format("2006-01-02T15:04:05.000Z"), `"`+strconv.FormatInt(at, 16)+`"`, "STANDARD"
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if b.tags["hatoba:role"] == "backup" {
		seed, err := s.inventorySeed(ctx, tx)
		if err != nil {
			return nil, err
		}
		objs = append(objs, simulatedBackups(seed, b.name, b.createdAt, now)...)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	// One page: hatoba's buckets hold one object a day.
	return listBucketResult{Xmlns: s3NS, Name: bucket, KeyCount: len(objs), MaxKeys: 1000, Contents: objs}, nil
}

// simulatedBackups are the backups a simulated tenant has written to a
// bucket made at created, by now: one a day from TenantBackupLag after, or
// — at the planted rates, chosen by the seed and the bucket's name —
// only the first, or none.
func simulatedBackups(seed uint64, bucket string, created, now time.Time) []s3Object {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%d/backup/%s", seed, bucket)
	roll := float64(h.Sum64()%10000) / 10000
	if roll < rateBackupNever {
		return nil
	}
	var out []s3Object
	for at := created.Add(TenantBackupLag); !at.After(now); at = at.Add(TenantBackupInterval) {
		out = append(out, s3Object{Key: "backups/" + at.UTC().Format("20060102T150405Z") + ".tar.zst",
			LastModified: at.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: `"` + strconv.FormatInt(at.UnixNano(), 16) + `"`,
			Size: 1<<30 + int64(h.Sum64()%(1<<28)), StorageClass: "STANDARD"})
		if roll < rateBackupNever+rateBackupStopped {
			break
		}
	}
	return out
}
