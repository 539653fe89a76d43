package api

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hatoba-cloud/hatoba/internal/authz"
	"github.com/hatoba-cloud/hatoba/internal/fault"
	"github.com/hatoba-cloud/hatoba/internal/notify"
)

// Notifications (docs/notifications.md): an organisation's channels,
// deliveries, events, suppressions, ingestion and inbox; central's own
// channels, settings, digests and notices.

var errNoNotify = &fault.Error{Kind: fault.Unavailable, Message: "this server routes no notifications"}

var (
	deliveryParams = []param{oneOf("state", notify.Pending, notify.Sending, notify.Delivered, notify.Dead), limitUpTo(500)}
	eventParams    = []param{limitUpTo(500)}
	suppressParams = []param{oneOf("all", "true", "false")}
)

// notifyOrg authorizes action on the organisation in the path and answers
// its id and the decision; 503 when notifications are not wired.
func (s *Server) notifyOrg(w http.ResponseWriter, r *http.Request, action authz.Action, params ...param) (string, authz.Decision, bool) {
	if !queryOK(w, r, params...) {
		return "", authz.Decision{}, false
	}
	id := r.PathValue("id")
	d, err := s.decide(r, action, authz.Resource{Kind: "organisation", ID: id, OrgID: id})
	if err == nil && s.Notify == nil {
		err = errNoNotify
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return "", d, false
	}
	return id, d, true
}

// notifyCentral authorizes a central action on the platform itself.
func (s *Server) notifyCentral(w http.ResponseWriter, r *http.Request, action authz.Action, params ...param) bool {
	if !queryOK(w, r, params...) {
		return false
	}
	_, err := s.decide(r, action, authz.Resource{})
	if err == nil && s.Notify == nil {
		err = errNoNotify
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return false
	}
	return true
}

func (s *Server) listChannels(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotify)
	if !ok {
		return
	}
	s.answerChannels(w, r, org)
}

func (s *Server) answerChannels(w http.ResponseWriter, r *http.Request, org string) {
	cs, err := s.Notify.Channels(r.Context(), org)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": cs})
}

func (s *Server) createChannel(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	s.answerCreateChannel(w, r, org, d)
}

func (s *Server) answerCreateChannel(w http.ResponseWriter, r *http.Request, org string, d authz.Decision) {
	var spec notify.ChannelSpec
	if !decodeJSON(w, r, &spec) {
		return
	}
	c, err := s.Notify.CreateChannel(r.Context(), principal(r).PersonID, d.GrantID, org, spec)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) getChannel(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotify)
	if !ok {
		return
	}
	c, err := s.Notify.Channel(r.Context(), org, r.PathValue("channel"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) updateChannel(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	var spec notify.ChannelSpec
	if !decodeJSON(w, r, &spec) {
		return
	}
	c, err := s.Notify.UpdateChannel(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("channel"), spec)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) deleteChannel(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	s.answerDeleteChannel(w, r, org, d)
}

func (s *Server) answerDeleteChannel(w http.ResponseWriter, r *http.Request, org string, d authz.Decision) {
	if err := s.Notify.DeleteChannel(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("channel")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) testChannel(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	s.answerTestChannel(w, r, org, d)
}

func (s *Server) answerTestChannel(w http.ResponseWriter, r *http.Request, org string, d authz.Decision) {
	dl, err := s.Notify.TestChannel(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("channel"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, dl)
}

func limitOf(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	return n
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotify, deliveryParams...)
	if !ok {
		return
	}
	s.answerDeliveries(w, r, org)
}

func (s *Server) answerDeliveries(w http.ResponseWriter, r *http.Request, org string) {
	ds, err := s.Notify.Deliveries(r.Context(), org, r.URL.Query().Get("state"), limitOf(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ds})
}

func (s *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	dl, err := s.Notify.Redeliver(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("delivery"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, dl)
}

func (s *Server) listNotifyEvents(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotify, eventParams...)
	if !ok {
		return
	}
	evs, err := s.Notify.Events(r.Context(), org, false, limitOf(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": evs})
}

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotify, suppressParams...)
	if !ok {
		return
	}
	sps, err := s.Notify.Suppressions(r.Context(), org, r.URL.Query().Get("all") == "true")
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": sps})
}

// SuppressionRequest suppresses matching events.
type SuppressionRequest struct {
	EnvID      string    `json:"env_id"`
	ControlID  string    `json:"control_id"`
	ResourceID string    `json:"resource_id"`
	Reason     string    `json:"reason"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func (s *Server) createSuppression(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.SuppressNotify)
	if !ok {
		return
	}
	var req SuppressionRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	sp, err := s.Notify.Suppress(r.Context(), principal(r).PersonID, d.GrantID, org, notify.Suppression{EnvID: req.EnvID, ControlID: req.ControlID,
		ResourceID: req.ResourceID, Reason: req.Reason, ExpiresAt: req.ExpiresAt})
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, sp)
}

func (s *Server) liftSuppression(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.SuppressNotify)
	if !ok {
		return
	}
	if err := s.Notify.Lift(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("suppression")); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) createIngestToken(w http.ResponseWriter, r *http.Request) {
	org, d, ok := s.notifyOrg(w, r, authz.ManageNotify)
	if !ok {
		return
	}
	tok, err := s.Notify.CreateIngestToken(r.Context(), principal(r).PersonID, d.GrantID, org)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok, "header": IngestTokenHeader,
		"asff_url": strings.TrimSuffix(s.PublicURL, "/") + "/api/v1/notify/ingest/" + org + "/asff",
		"ocsf_url": strings.TrimSuffix(s.PublicURL, "/") + "/api/v1/notify/ingest/" + org + "/ocsf"})
}

// IngestTokenHeader carries an organisation's ingestion token (an
// EventBridge API destination's API key authorization sets it).
const IngestTokenHeader = "X-Hatoba-Ingest-Token" //nolint:gosec // G101: a header's name, not a credential

func (s *Server) ingestASFF(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, notify.ParseASFF) }
func (s *Server) ingestOCSF(w http.ResponseWriter, r *http.Request) { s.ingest(w, r, notify.ParseOCSF) }

// ingest takes findings from outside, authenticated by the organisation's
// ingestion token rather than a person's session.
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, parse func([]byte) ([]notify.Parsed, error)) {
	if s.Notify == nil {
		writeError(w, r, s.Logger, errNoNotify)
		return
	}
	org := r.PathValue("org")
	token := r.Header.Get(IngestTokenHeader)
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && token == "" {
		token = bearer
	}
	if err := s.Notify.AuthenticateIngest(r.Context(), org, token); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: http.StatusText(http.StatusUnsupportedMediaType),
			Status: http.StatusUnsupportedMediaType, Detail: "Content-Type must be application/json", Instance: r.URL.Path})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, notify.MaxIngestBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeProblem(w, Problem{Type: "https://hatoba.dev/problems/bad-request", Title: http.StatusText(http.StatusRequestEntityTooLarge),
			Status: http.StatusRequestEntityTooLarge, Detail: "the body is larger than " + strconv.Itoa(notify.MaxIngestBody) + " bytes", Instance: r.URL.Path})
		return
	}
	if err != nil {
		badRequest(w, r, "the request body cannot be read")
		return
	}
	parsed, err := parse(body)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	res, err := s.Notify.IngestFrom(r.Context(), org, parsed)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, res)
}

func (s *Server) listNotices(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotices)
	if !ok {
		return
	}
	ns, err := s.Notify.Notices(r.Context(), org)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ns})
}

// NoticeAnswer carries a fix's note.
type NoticeAnswer struct {
	Note string `json:"note"`
}

func (s *Server) acknowledgeNotice(w http.ResponseWriter, r *http.Request) {
	s.answerNotice(w, r, "acknowledged")
}
func (s *Server) fixNotice(w http.ResponseWriter, r *http.Request) { s.answerNotice(w, r, "fixed") }

func (s *Server) answerNotice(w http.ResponseWriter, r *http.Request, state string) {
	org, d, ok := s.notifyOrg(w, r, authz.AnswerNotice)
	if !ok {
		return
	}
	var req NoticeAnswer
	if r.ContentLength != 0 && !decodeJSON(w, r, &req) {
		return
	}
	n, err := s.Notify.AnswerNotice(r.Context(), principal(r).PersonID, d.GrantID, org, r.PathValue("notice"), state, req.Note)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

// Central's side.

// NoticeRequest is central's notice about a critical event.
type NoticeRequest struct {
	EventID string `json:"event_id"`
	Message string `json:"message"`
}

func (s *Server) sendNotice(w http.ResponseWriter, r *http.Request) {
	var req NoticeRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if s.Notify == nil {
		writeError(w, r, s.Logger, errNoNotify)
		return
	}
	ev, err := s.Notify.Event(r.Context(), req.EventID)
	if err == nil {
		_, err = s.decide(r, authz.SendNotice, authz.Resource{Kind: "event", ID: ev.ID, OrgID: ev.OrgID})
	}
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	n, err := s.Notify.SendNotice(r.Context(), principal(r).PersonID, req.EventID, req.Message)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, n)
}

func (s *Server) listAllNotices(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ReadDigest) {
		return
	}
	ns, err := s.Notify.Notices(r.Context(), "")
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ns})
}

func (s *Server) listCentralChannels(w http.ResponseWriter, r *http.Request) {
	if s.notifyCentral(w, r, authz.ManageCentralNotify) {
		s.answerChannels(w, r, notify.Central)
	}
}

func (s *Server) createCentralChannel(w http.ResponseWriter, r *http.Request) {
	if s.notifyCentral(w, r, authz.ManageCentralNotify) {
		s.answerCreateChannel(w, r, notify.Central, authz.Decision{})
	}
}

func (s *Server) deleteCentralChannel(w http.ResponseWriter, r *http.Request) {
	if s.notifyCentral(w, r, authz.ManageCentralNotify) {
		s.answerDeleteChannel(w, r, notify.Central, authz.Decision{})
	}
}

func (s *Server) testCentralChannel(w http.ResponseWriter, r *http.Request) {
	if s.notifyCentral(w, r, authz.ManageCentralNotify) {
		s.answerTestChannel(w, r, notify.Central, authz.Decision{})
	}
}

func (s *Server) listCentralDeliveries(w http.ResponseWriter, r *http.Request) {
	if s.notifyCentral(w, r, authz.ManageCentralNotify, deliveryParams...) {
		s.answerDeliveries(w, r, notify.Central)
	}
}

func (s *Server) getNotifySettings(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ManageCentralNotify) {
		return
	}
	st, err := s.Notify.Settings(r.Context())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) putNotifySettings(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ManageCentralNotify) {
		return
	}
	var st notify.Settings
	if !decodeJSON(w, r, &st) {
		return
	}
	if st.Digests == nil {
		st.Digests = []string{}
	}
	if err := s.Notify.SetSettings(r.Context(), principal(r).PersonID, st); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listDigests(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ReadDigest, limitUpTo(500)) {
		return
	}
	ds, err := s.Notify.Digests(r.Context(), limitOf(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": ds})
}

func (s *Server) getDigest(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ReadDigest) {
		return
	}
	d, err := s.Notify.StoredDigestByID(r.Context(), r.PathValue("digest"))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// DigestRequest asks for the digest of the last whole period now.
type DigestRequest struct {
	Period string `json:"period"`
}

func (s *Server) makeDigest(w http.ResponseWriter, r *http.Request) {
	if !s.notifyCentral(w, r, authz.ManageCentralNotify) {
		return
	}
	var req DigestRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	d, err := s.Notify.MakeDigest(r.Context(), principal(r).PersonID, req.Period)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, d)
}

// criticalEvents is what central reads of a tenant's events: the critical
// ones, to send a notice about.
func (s *Server) criticalEvents(w http.ResponseWriter, r *http.Request) {
	org, _, ok := s.notifyOrg(w, r, authz.ReadNotices, eventParams...)
	if !ok {
		return
	}
	evs, err := s.Notify.Events(r.Context(), org, true, limitOf(r))
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": evs})
}
