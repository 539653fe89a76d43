package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/smtp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/store"
)

// Message is what a webhook receives, as JSON: the delivery id that
// receivers deduplicate on, and the events (or the test, digest or notice).
type Message struct {
	DeliveryID string          `json:"delivery_id"`
	Kind       string          `json:"kind"`
	OrgID      string          `json:"org_id"`
	ChannelID  string          `json:"channel_id"`
	Attempt    int             `json:"attempt"`
	CreatedAt  time.Time       `json:"created_at"`
	Events     []Event         `json:"events,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// The webhook's headers (docs/notifications.md says how to verify them).
const (
	HeaderDelivery  = "Hatoba-Delivery"
	HeaderTimestamp = "Hatoba-Timestamp"
	HeaderSignature = "Hatoba-Signature"
)

// Sign is the webhook signature of body sent at ts with key:
// "v1=" + hex(HMAC-SHA256(key, ts + "." + body)).
func Sign(key string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature: a webhook whose signature or timestamp does not check.
var ErrBadSignature = errors.New("hatoba webhook: bad signature or timestamp")

// Verify checks a received webhook as a receiver should: the signature
// over the timestamp and the body, compared in constant time, and a
// timestamp within tolerance of now (against replays). Receivers then
// drop a delivery id they have already processed.
func Verify(key string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	want := Sign(key, ts, body)
	for _, got := range strings.Split(h.Get(HeaderSignature), " ") {
		if hmac.Equal([]byte(got), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}

// send makes one attempt at a claimed delivery.
func (s *Service) send(ctx context.Context, c claimed) error {
	ch, sec, err := s.sendingChannel(ctx, c.orgID, c.channelID)
	if err != nil {
		return err
	}
	msg := Message{DeliveryID: c.id, Kind: c.kind, OrgID: c.orgID, ChannelID: c.channelID, Attempt: c.attempts, CreatedAt: c.createdAt.UTC()}
	if c.kind == "events" {
		if msg.Events, err = deliveryEvents(ctx, s.db, c.id); err != nil {
			return err
		}
	} else if c.payload != "" {
		msg.Payload = json.RawMessage(c.payload)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.SendTimeout)
	defer cancel()
	switch ch.Kind {
	case Webhook:
		body, _ := json.Marshal(msg)
		ts := s.now().Unix()
		return s.post(ctx, sec.URL, body, map[string]string{HeaderDelivery: c.id, HeaderTimestamp: strconv.FormatInt(ts, 10), HeaderSignature: Sign(sec.Key, ts, body)})
	case Slack:
		body, _ := json.Marshal(slackMessage(ch, msg))
		return s.post(ctx, sec.URL, body, nil)
	case Teams:
		body, _ := json.Marshal(teamsMessage(ch, msg))
		return s.post(ctx, sec.URL, body, nil)
	case Email:
		return s.mail(ctx, sec.Recipients, ch, msg)
	}
	return fmt.Errorf("channel %s: unknown kind %q", ch.ID, ch.Kind)
}

// openChannel is a channel with its secret opened, as the workers keep it.
type openChannel struct {
	ch     Channel
	sec    secret
	expiry time.Time
}

// channelCacheTTL bounds how long workers keep a channel's opened secret:
// its kind, URL, key and recipients never change (a new URL is a new
// channel), so this only bounds how long a sealed key service or a
// deleted channel takes to be noticed by a warm worker.
const channelCacheTTL = time.Minute

// sendingChannel is the channel and its opened secret, from the workers'
// cache or the database and the key service.
func (s *Service) sendingChannel(ctx context.Context, orgID, id string) (Channel, secret, error) {
	now := time.Now()
	if v, ok := s.channels.Load(id); ok {
		oc := v.(openChannel)
		if oc.ch.OrgID == orgID && now.Before(oc.expiry) {
			return oc.ch, oc.sec, nil
		}
	}
	ch, sealed, err := getChannel(ctx, s.db, orgID, id)
	if err != nil {
		return Channel{}, secret{}, err
	}
	sec, err := s.open(ctx, ch.ID, sealed)
	if err != nil {
		return Channel{}, secret{}, err
	}
	s.channels.Store(id, openChannel{ch: ch, sec: sec, expiry: now.Add(channelCacheTTL)})
	return ch, sec, nil
}

func deliveryEvents(ctx context.Context, q store.Querier, deliveryID string) ([]Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT e.id, e.org_id, e.env_id, e.source, e.source_id, e.severity, e.title, e.control_id, e.resource_id, e.status,
		e.suppressed_by, e.first_seen, e.last_seen FROM notify_delivery_events de JOIN notify_events e ON e.id = de.event_id
		WHERE de.delivery_id = $1 ORDER BY e.first_seen, e.id`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("events of delivery %s: %w", deliveryID, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		ev, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("events of delivery %s: %w", deliveryID, err)
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (s *Service) post(ctx context.Context, url string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "hatoba-notify/1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is a credential for Slack and Teams: say where, not what.
		return fmt.Errorf("webhook to %s: %w", req.URL.Host, unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook to %s: HTTP %d", req.URL.Host, resp.StatusCode)
	}
	return nil
}

// unwrapURLError drops *url.Error's quoting of the whole URL.
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// newClient is the webhooks' HTTP client; unless private targets are
// allowed, it refuses to connect to loopback, private, link-local and
// unspecified addresses — after resolution, so a name cannot smuggle one.
func newClient(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip := net.ParseIP(host)
			if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() {
				return fmt.Errorf("refusing to connect to %s: not a public address", host)
			}
			return nil
		}
	}
	t := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// summary is a message's one-line title and its lines, for people.
func summary(ch Channel, msg Message) (string, []string) {
	switch msg.Kind {
	case "test":
		return "hatoba: test notification / テスト通知", []string{"channel " + ch.Name + " (" + ch.ID + ") works. / このチャネルは届いています。"}
	case "digest":
		return "hatoba: critical digest / 重大イベントのダイジェスト", []string{"A signed digest of critical events is attached. / 署名付きダイジェストを添付します。"}
	case "notice":
		var n Notice
		_ = json.Unmarshal(msg.Payload, &n)
		return "hatoba: notice from central / 中央からの通知", []string{n.Message, "event " + n.EventID + ", notice " + n.ID}
	}
	lines := make([]string, 0, len(msg.Events))
	worst := ""
	for _, e := range msg.Events {
		if worst == "" || e.Severity.Rank() < severityRank(worst) {
			worst = string(e.Severity)
		}
		lines = append(lines, fmt.Sprintf("[%s] %s — %s (%s, env %s)", e.Severity, e.Title, e.ResourceID, e.ControlID, e.EnvID))
	}
	return fmt.Sprintf("hatoba: %d finding(s), worst %s / 検出 %d 件", len(msg.Events), worst, len(msg.Events)), lines
}

func severityRank(s string) int {
	for i, v := range []string{"critical", "high", "medium", "low", "informational"} {
		if v == s {
			return i
		}
	}
	return 99
}

// slackMessage is a Slack incoming webhook's payload: text, and blocks
// for clients that show them.
func slackMessage(ch Channel, msg Message) map[string]any {
	title, lines := summary(ch, msg)
	text := title + "\n" + strings.Join(lines, "\n") + "\n(delivery " + msg.DeliveryID + ")"
	return map[string]any{
		"text": text,
		"blocks": []any{
			map[string]any{"type": "header", "text": map[string]any{"type": "plain_text", "text": clip(title, 150)}},
			map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": clip(strings.Join(lines, "\n"), 3000)}},
			map[string]any{"type": "context", "elements": []any{map[string]any{"type": "mrkdwn", "text": "delivery " + msg.DeliveryID}}},
		},
	}
}

// teamsMessage is what a Teams incoming webhook (a Workflows "post to a
// channel when a webhook request is received") takes: a message with an
// Adaptive Card attachment.
func teamsMessage(ch Channel, msg Message) map[string]any {
	title, lines := summary(ch, msg)
	body := []any{map[string]any{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true}}
	for _, l := range lines {
		body = append(body, map[string]any{"type": "TextBlock", "text": l, "wrap": true})
	}
	body = append(body, map[string]any{"type": "TextBlock", "text": "delivery " + msg.DeliveryID, "isSubtle": true, "size": "Small"})
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
				"version": "1.4", "body": body},
		}},
	}
}

// mail sends through the platform's SMTP relay with net/smtp: the
// Message-ID is the delivery id, so a retried message is recognisably the
// same one.
func (s *Service) mail(ctx context.Context, to []string, ch Channel, msg Message) error {
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	if st.SMTPAddr == "" || st.SMTPFrom == "" {
		return errors.New("e-mail: no SMTP relay is configured (hatoba notify settings --smtp-addr --smtp-from)")
	}
	title, lines := summary(ch, msg)
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@hatoba>\r\n%s: %s\r\n",
		st.SMTPFrom, strings.Join(to, ", "), mime.BEncoding.Encode("UTF-8", title), s.now().UTC().Format(time.RFC1123Z), msg.DeliveryID, HeaderDelivery, msg.DeliveryID)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	text := strings.Join(lines, "\n") + "\n\ndelivery " + msg.DeliveryID + "\n"
	if msg.Kind == "digest" {
		text += "\n" + string(msg.Payload) + "\n"
	}
	enc := base64.StdEncoding.EncodeToString([]byte(text))
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc + "\r\n")
	if err := sendMail(ctx, st.SMTPAddr, st.SMTPFrom, to, []byte(b.String())); err != nil {
		return fmt.Errorf("e-mail through %s: %w", st.SMTPAddr, err)
	}
	return nil
}

// sendMail is smtp.SendMail with the attempt's deadline on the connection
// (SendMail has none), STARTTLS when the relay offers it.
func sendMail(ctx context.Context, addr, from string, to []string, msg []byte) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		_ = conn.Close()
		return err
	}
	defer func() { _ = c.Close() }() // after Quit, or on an error already returned
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
