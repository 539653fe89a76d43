package simcloud

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// AWS CloudFormation in the AWS query protocol (form-encoded POST, XML
// answers), as the SDK speaks it: CreateStack, UpdateStack,
// DescribeStacks, DescribeStackEvents and GetTemplate. A stack's
// resources become configuration items of its account's inventory when
// it settles, so the detective controls see what a baseline deployed.
//
// With one credential for the whole organisation, the simulated cloud
// finds a stack's account the way the wire allows: CreateStack and
// UpdateStack by the RoleARN they must carry — the account's
// AWSReservedSSO_<permission set>_<suffix> role of a permission set
// assigned there (the tenant's own authority), and every call that names
// an existing stack by its stack id (an ARN naming the account).

var cloudformationOps = map[string]operation{
	"CreateStack":         cfnCreateStack,
	"UpdateStack":         cfnUpdateStack,
	"DescribeStacks":      cfnDescribeStacks,
	"DescribeStackEvents": cfnDescribeStackEvents,
	"GetTemplate":         cfnGetTemplate,
}

var cloudformationService = &service{signingName: "cloudformation", region: homeRegion, throttle: "Throttling", internal: "InternalFailure",
	ops: cloudformationOps, query: true}

const cfnNamespace = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

const cfnSchema = `
CREATE TABLE IF NOT EXISTS cfn_stacks (
	id TEXT PRIMARY KEY, account_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL,
	template TEXT NOT NULL, pending_template TEXT NOT NULL, role_arn TEXT NOT NULL, tags TEXT NOT NULL, token TEXT NOT NULL,
	created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, completes_at INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS cfn_stacks_name ON cfn_stacks (account_id, name);
CREATE TABLE IF NOT EXISTS cfn_events (
	id TEXT PRIMARY KEY, stack_id TEXT NOT NULL, seq INTEGER NOT NULL, logical_id TEXT NOT NULL, physical_id TEXT NOT NULL,
	resource_type TEXT NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, token TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS cfn_events_stack ON cfn_events (stack_id, seq);
CREATE TABLE IF NOT EXISTS cfn_resources (
	stack_id TEXT NOT NULL, account_id TEXT NOT NULL, logical_id TEXT NOT NULL, resource_type TEXT NOT NULL,
	physical_id TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (stack_id, logical_id));
`

func cfnValidation(format string, args ...any) error {
	return &apiError{Status: 400, Code: "ValidationError", Message: fmt.Sprintf(format, args...)}
}

// serveQuery answers the AWS query protocol (CloudFormation).
func (s *Server) serveQuery(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeQueryError(w, &apiError{Status: http.StatusRequestEntityTooLarge, Code: "ValidationError", Message: "request body too large or unreadable"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeQueryError(w, &apiError{Status: 400, Code: "MalformedQueryString", Message: "the request body is not form-encoded: " + err.Error()})
		return
	}
	svc := cloudformationService
	action := form.Get("Action")
	op := svc.ops[action]
	if op == nil || form.Get("Version") != "2010-05-15" {
		s.count(func(st *Stats) { st.Rejected++ })
		writeQueryError(w, &apiError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("the action %q of version %q is not valid for this web service", action, form.Get("Version"))})
		return
	}
	r.Body = http.NoBody
	out, lost, err := s.callBody(r, body, svc, action, op)
	if lost {
		dropConnection(w)
		return
	}
	if err != nil {
		writeQueryError(w, asAPIError(err, svc))
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	fmt.Fprintf(&buf, `<%sResponse xmlns="%s"><%sResult>`, action, cfnNamespace, action)
	if err := xmlMembers(&buf, out); err != nil {
		writeQueryError(w, asAPIError(err, svc))
		return
	}
	fmt.Fprintf(&buf, `</%sResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>`, action, uuid(), action)
	_, _ = w.Write(buf.Bytes())
}

func writeQueryError(w http.ResponseWriter, e *apiError) {
	kind := "Sender"
	if e.Status >= 500 {
		kind = "Receiver"
	}
	var msg bytes.Buffer
	_ = xml.EscapeText(&msg, []byte(e.Message))
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	//nolint:gosec // G705: an XML answer, its message escaped above; the code is the simulated cloud's own
	fmt.Fprintf(w, `%s<ErrorResponse xmlns="%s"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		xml.Header, cfnNamespace, kind, e.Code, msg.String(), uuid())
}

// xmlMembers writes an answer's members in the query protocol's XML: a
// struct's exported fields by name (xml tags as in encoding/xml), slices
// as <member> lists, times in ISO 8601; nil pointers and empty strings
// are left out.
func xmlMembers(buf *bytes.Buffer, v any) error {
	if v == nil {
		return nil
	}
	var out bytes.Buffer
	if err := xml.NewEncoder(&out).EncodeElement(v, xml.StartElement{Name: xml.Name{Local: "R"}}); err != nil {
		return err
	}
	b := out.Bytes()
	// Drop the wrapper element xml.Marshal adds for the struct itself.
	start := bytes.IndexByte(b, '>')
	end := bytes.LastIndexByte(b, '<')
	if start < 0 || end < start {
		return nil
	}
	buf.Write(b[start+1 : end])
	return nil
}

// formToJSON turns a query-protocol request into the JSON shape of the
// operation's input in the model, so that the same model validation and
// the same strict decoding as the JSON protocols apply: lists are
// Name.member.N, maps Name.entry.N.key/value, scalars typed by the model.
// Parameters the model does not know are ignored, as AWS ignores them.
func formToJSON(signing, op string, form url.Values) ([]byte, error) {
	ms, err := loadModels()
	if err != nil {
		return nil, err
	}
	m := ms[signing]
	if m == nil || m.Operations[op].Input == nil {
		return []byte(`{}`), nil
	}
	v, err := m.fromForm(m.Operations[op].Input.Shape, "", form, 0)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = map[string]any{}
	}
	return json.Marshal(v)
}

func (m *serviceModel) fromForm(shape, prefix string, form url.Values, depth int) (any, error) {
	sh := m.Shapes[shape]
	if sh == nil || depth > 10 {
		return nil, nil
	}
	join := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	has := func(p string) bool {
		for k := range form {
			if k == p || strings.HasPrefix(k, p+".") {
				return true
			}
		}
		return false
	}
	switch sh.Type {
	case "structure":
		obj := map[string]any{}
		for name, ref := range sh.Members {
			p := join(name)
			if !has(p) {
				continue
			}
			v, err := m.fromForm(ref.Shape, p, form, depth+1)
			if err != nil {
				return nil, err
			}
			if v != nil {
				obj[name] = v
			}
		}
		if prefix != "" && len(obj) == 0 {
			return nil, nil
		}
		return obj, nil
	case "list":
		out := []any{}
		if form.Get(prefix) == "" && has(prefix) && !has(prefix+".member") {
			return out, nil // Name= with no members: the empty list
		}
		for i := 1; has(fmt.Sprintf("%s.member.%d", prefix, i)); i++ {
			v, err := m.fromForm(sh.Member.Shape, fmt.Sprintf("%s.member.%d", prefix, i), form, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "map":
		out := map[string]any{}
		for i := 1; has(fmt.Sprintf("%s.entry.%d", prefix, i)); i++ {
			p := fmt.Sprintf("%s.entry.%d", prefix, i)
			v, err := m.fromForm(sh.Value.Shape, p+".value", form, depth+1)
			if err != nil {
				return nil, err
			}
			out[form.Get(p+".key")] = v
		}
		return out, nil
	case "boolean":
		switch form.Get(prefix) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, cfnValidation("%s must be true or false", prefix)
	case "integer", "long":
		n, err := strconv.ParseInt(form.Get(prefix), 10, 64)
		if err != nil {
			return nil, cfnValidation("%s must be a whole number", prefix)
		}
		return n, nil
	}
	return form.Get(prefix), nil
}

// stackRow is a stack as stored.
type stackRow struct {
	id, account, name, status, reason, template, pending, role, tags, token string
	created, updated, completes                                             int64
}

const stackColumns = `id, account_id, name, status, reason, template, pending_template, role_arn, tags, token, created_at, updated_at, completes_at`

func scanStack(row interface{ Scan(...any) error }) (stackRow, error) {
	var st stackRow
	err := row.Scan(&st.id, &st.account, &st.name, &st.status, &st.reason, &st.template, &st.pending, &st.role, &st.tags, &st.token,
		&st.created, &st.updated, &st.completes)
	return st, err
}

var (
	reRoleARN  = regexp.MustCompile(`^arn:aws:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*AWSReservedSSO_([\w+=,.@-]+)_[0-9a-f]{16}$`)
	reStackARN = regexp.MustCompile(`^arn:aws:cloudformation:[a-z0-9-]+:(\d{12}):stack/([A-Za-z][A-Za-z0-9-]*)/[0-9a-f-]+$`)
	reCFNType  = regexp.MustCompile(`^AWS::[A-Za-z0-9]+::[A-Za-z0-9]+$`)
)

// stackAccount is the account a CreateStack or UpdateStack acts in: the
// RoleARN's, whose permission set must be assigned there.
func (s *Server) stackAccount(ctx context.Context, tx *sql.Tx, role *string) (string, error) {
	if role == nil || *role == "" {
		return "", cfnValidation("the simulated cloud deploys a stack with the account's own role: pass RoleARN, the account's AWSReservedSSO_<permission set>_<suffix> role")
	}
	m := reRoleARN.FindStringSubmatch(*role)
	if m == nil {
		return "", cfnValidation("Role %s is invalid or cannot be assumed", *role)
	}
	account, set := m[1], m[2]
	assigned, err := exists(ctx, tx, `SELECT COUNT(*) FROM assignments a JOIN permission_sets p ON p.arn = a.permission_set_arn
		JOIN accounts c ON c.id = a.account_id WHERE a.account_id = ? AND p.name = ? AND c.status = 'ACTIVE'`, account, set)
	if err != nil {
		return "", err
	}
	if !assigned {
		return "", cfnValidation("Role %s is invalid or cannot be assumed: permission set %s is not assigned in account %s", *role, set, account)
	}
	return account, nil
}

// findStack finds a stack by its id, or by name in account.
func (s *Server) findStack(ctx context.Context, tx *sql.Tx, nameOrID, account string) (stackRow, error) {
	var row *sql.Row
	if m := reStackARN.FindStringSubmatch(nameOrID); m != nil {
		row = tx.QueryRowContext(ctx, `SELECT `+stackColumns+` FROM cfn_stacks WHERE id = ?`, nameOrID)
	} else {
		row = tx.QueryRowContext(ctx, `SELECT `+stackColumns+` FROM cfn_stacks WHERE account_id = ? AND name = ?`, account, nameOrID)
	}
	st, err := scanStack(row)
	if errors.Is(err, sql.ErrNoRows) {
		return stackRow{}, cfnValidation("Stack with id %s does not exist", nameOrID)
	}
	return st, err
}

type cfnTemplate struct {
	resources []cfnTemplateResource
}

type cfnTemplateResource struct {
	logicalID, typ string
	props          map[string]any
}

// parseTemplate reads a template as CloudFormation does, YAML (short-form
// intrinsics kept as their long forms' names) or JSON, far enough to know
// its resources.
func parseTemplate(body string) (cfnTemplate, error) {
	var doc any
	trimmed := strings.TrimSpace(body)
	if strings.HasPrefix(trimmed, "{") {
		if err := json.Unmarshal([]byte(trimmed), &doc); err != nil {
			return cfnTemplate{}, cfnValidation("Template format error: JSON not well-formed. (%v)", err)
		}
	} else {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(body), &n); err != nil {
			return cfnTemplate{}, cfnValidation("Template format error: YAML not well-formed. (%v)", err)
		}
		doc = yamlValue(&n, 0)
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return cfnTemplate{}, cfnValidation("Template format error: the template is not a JSON or YAML object")
	}
	res, ok := top["Resources"].(map[string]any)
	if !ok || len(res) == 0 {
		return cfnTemplate{}, cfnValidation("Template format error: At least one Resources member must be defined.")
	}
	ids := make([]string, 0, len(res))
	for id := range res {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var t cfnTemplate
	for _, id := range ids {
		r, ok := res[id].(map[string]any)
		typ, _ := r["Type"].(string)
		if !ok || typ == "" {
			return cfnTemplate{}, cfnValidation("Template format error: [/Resources/%s] Every Resources object must contain a Type member.", id)
		}
		if !reCFNType.MatchString(typ) {
			return cfnTemplate{}, cfnValidation("Template format error: Unrecognized resource types: [%s]", typ)
		}
		props, _ := r["Properties"].(map[string]any)
		t.resources = append(t.resources, cfnTemplateResource{logicalID: id, typ: typ, props: props})
	}
	return t, nil
}

// yamlValue converts a YAML node to plain values; a short-form intrinsic
// (!Ref X) becomes {"Ref": X}, {"Fn::Sub": …} and so on.
func yamlValue(n *yaml.Node, depth int) any {
	if n == nil || depth > 64 {
		return nil
	}
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return yamlValue(n.Content[0], depth+1)
	case yaml.AliasNode:
		return yamlValue(n.Alias, depth+1)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlValue(n.Content[i+1], depth+1)
		}
		v = m
	case yaml.SequenceNode:
		l := []any{}
		for _, c := range n.Content {
			l = append(l, yamlValue(c, depth+1))
		}
		v = l
	default:
		var x any
		if err := n.Decode(&x); err != nil {
			x = n.Value
		}
		v = x
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		name := strings.TrimPrefix(n.Tag, "!")
		if name != "Ref" && name != "Condition" {
			name = "Fn::" + name
		}
		if sv, ok := v.(string); ok && n.Kind == yaml.ScalarNode {
			v = sv
		}
		return map[string]any{name: v}
	}
	return v
}

func cfnCreateStack(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		StackName          *string
		TemplateBody       *string
		TemplateURL        *string
		Parameters         []map[string]any
		Capabilities       []string
		RoleARN            *string
		OnFailure          *string
		DisableRollback    *bool
		TimeoutInMinutes   *int
		Tags               []struct{ Key, Value string }
		ClientRequestToken *string
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	account, err := s.stackAccount(ctx, tx, req.RoleARN)
	if err != nil {
		return nil, err
	}
	token := deref(req.ClientRequestToken)
	if existing, err := s.findStack(ctx, tx, *req.StackName, account); err == nil {
		if token != "" && existing.token == token {
			return struct{ StackId string }{existing.id}, nil // the same request again: its answer
		}
		return nil, &apiError{Status: 400, Code: "AlreadyExistsException", Message: fmt.Sprintf("Stack [%s] already exists", *req.StackName)}
	}
	if !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`).MatchString(*req.StackName) {
		return nil, cfnValidation("1 validation error detected: Value '%s' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*", *req.StackName)
	}
	body, err := templateOf(req.TemplateBody, req.TemplateURL)
	if err != nil {
		return nil, err
	}
	if _, err := parseTemplate(body); err != nil {
		return nil, err
	}
	tags, err := json.Marshal(req.Tags)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UnixNano()
	id := fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/%s", s.cfg.Region, account, *req.StackName, uuid())
	if _, err := tx.ExecContext(ctx, `INSERT INTO cfn_stacks (`+stackColumns+`) VALUES (?, ?, ?, 'CREATE_IN_PROGRESS', '', ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, account, *req.StackName, body, body, *req.RoleARN, string(tags), token, now, now, now+s.cfg.StackLatency.Nanoseconds()); err != nil {
		return nil, err
	}
	if err := s.stackEvent(ctx, tx, id, *req.StackName, id, "AWS::CloudFormation::Stack", "CREATE_IN_PROGRESS", "User Initiated", token, now); err != nil {
		return nil, err
	}
	return struct{ StackId string }{id}, nil
}

func cfnUpdateStack(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		StackName           *string
		TemplateBody        *string
		TemplateURL         *string
		UsePreviousTemplate *bool
		Parameters          []map[string]any
		Capabilities        []string
		RoleARN             *string
		Tags                []struct{ Key, Value string }
		ClientRequestToken  *string
		DisableRollback     *bool
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	account, err := s.stackAccount(ctx, tx, req.RoleARN)
	if err != nil {
		return nil, err
	}
	st, err := s.findStack(ctx, tx, *req.StackName, account)
	if err != nil {
		return nil, err
	}
	if st.account != account {
		return nil, cfnValidation("Role %s is invalid or cannot be assumed: it is not in the stack's account", *req.RoleARN)
	}
	token := deref(req.ClientRequestToken)
	if token != "" && st.token == token {
		return struct{ StackId string }{st.id}, nil
	}
	switch st.status {
	case "CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE":
	default:
		return nil, cfnValidation("Stack:%s is in %s state and can not be updated.", st.id, st.status)
	}
	body := st.template
	if req.UsePreviousTemplate == nil || !*req.UsePreviousTemplate {
		if body, err = templateOf(req.TemplateBody, req.TemplateURL); err != nil {
			return nil, err
		}
	}
	if _, err := parseTemplate(body); err != nil {
		return nil, err
	}
	tags, err := json.Marshal(req.Tags)
	if err != nil {
		return nil, err
	}
	if body == st.template && string(tags) == st.tags {
		return nil, cfnValidation("No updates are to be performed.")
	}
	now := s.cfg.Now().UnixNano()
	if _, err := tx.ExecContext(ctx, `UPDATE cfn_stacks SET status = 'UPDATE_IN_PROGRESS', reason = '', pending_template = ?, role_arn = ?, tags = ?, token = ?,
		updated_at = ?, completes_at = ? WHERE id = ?`, body, *req.RoleARN, string(tags), token, now, now+s.cfg.StackLatency.Nanoseconds(), st.id); err != nil {
		return nil, err
	}
	if err := s.stackEvent(ctx, tx, st.id, st.name, st.id, "AWS::CloudFormation::Stack", "UPDATE_IN_PROGRESS", "User Initiated", token, now); err != nil {
		return nil, err
	}
	return struct{ StackId string }{st.id}, nil
}

func templateOf(body, u *string) (string, error) {
	switch {
	case u != nil && *u != "":
		return "", cfnValidation("the simulated cloud does not fetch templates from S3: pass TemplateBody")
	case body == nil || *body == "":
		return "", cfnValidation("Either Template URL or Template Body must be specified.")
	case len(*body) > 51200:
		return "", cfnValidation("1 validation error detected: Value at 'templateBody' failed to satisfy constraint: Member must have length less than or equal to 51200")
	}
	return *body, nil
}

func (s *Server) stackEvent(ctx context.Context, tx *sql.Tx, stackID, logical, physical, typ, status, reason, token string, at int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO cfn_events (id, stack_id, seq, logical_id, physical_id, resource_type, status, reason, token, at)
		VALUES (?, ?, (SELECT COUNT(*) FROM cfn_events WHERE stack_id = ?), ?, ?, ?, ?, ?, ?, ?)`,
		uuid(), stackID, stackID, logical, physical, typ, status, reason, token, at)
	return err
}

// settleStacks finishes every stack operation whose latency has passed:
// each resource gets its events and its configuration item, then the stack
// its final status.
func (s *Server) settleStacks(ctx context.Context, tx *sql.Tx) error {
	now := s.cfg.Now().UnixNano()
	due, err := queryAll(ctx, tx, func(rows *sql.Rows) (stackRow, error) { return scanStack(rows) },
		`SELECT `+stackColumns+` FROM cfn_stacks WHERE status IN ('CREATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS') AND completes_at <= ? ORDER BY completes_at`, now)
	if err != nil {
		return fmt.Errorf("settle stacks: %w", err)
	}
	for _, st := range due {
		op, body := "CREATE", st.pending
		if st.status == "UPDATE_IN_PROGRESS" {
			op = "UPDATE"
		}
		t, err := parseTemplate(body)
		if err != nil {
			return err
		}
		at := st.completes
		if _, err := tx.ExecContext(ctx, `DELETE FROM cfn_resources WHERE stack_id = ?`, st.id); err != nil {
			return err
		}
		for _, r := range t.resources {
			item, physical := s.stackItem(st, r, at)
			raw, err := json.Marshal(item)
			if err != nil {
				return err
			}
			if err := s.stackEvent(ctx, tx, st.id, r.logicalID, "", r.typ, op+"_IN_PROGRESS", "", st.token, at); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO cfn_resources (stack_id, account_id, logical_id, resource_type, physical_id, item) VALUES (?, ?, ?, ?, ?, ?)`,
				st.id, st.account, r.logicalID, r.typ, physical, string(raw)); err != nil {
				return err
			}
			if err := s.stackEvent(ctx, tx, st.id, r.logicalID, physical, r.typ, op+"_COMPLETE", "", st.token, at); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cfn_stacks SET status = ?, template = ?, pending_template = '' WHERE id = ?`, op+"_COMPLETE", body, st.id); err != nil {
			return err
		}
		if err := s.stackEvent(ctx, tx, st.id, st.name, st.id, "AWS::CloudFormation::Stack", op+"_COMPLETE", "", st.token, at); err != nil {
			return err
		}
	}
	return nil
}

// stackItem is a template resource as AWS Config records it once created:
// the shapes the inventory generator gives the same types, the template's
// properties for the rest.
func (s *Server) stackItem(st stackRow, r cfnTemplateResource, at int64) (map[string]any, string) {
	h := sha256.Sum256([]byte(st.id + "/" + r.logicalID))
	suffix := strings.ToUpper(hex.EncodeToString(h[:6]))
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	truthy := func(v any) bool { b, ok := v.(bool); return ok && b || v == "true" }
	props := r.props
	if props == nil {
		props = map[string]any{}
	}
	stamp := time.Unix(0, at).UTC().Format("2006-01-02T15:04:05.000Z")
	item := map[string]any{"version": "1.3", "accountId": st.account, "configurationItemCaptureTime": stamp, "configurationItemStatus": "ResourceDiscovered",
		"resourceType": r.typ, "awsRegion": s.cfg.Region, "resourceCreationTime": stamp, "availabilityZone": "Regional",
		"tags":          map[string]any{"aws:cloudformation:stack-id": st.id, "aws:cloudformation:logical-id": r.logicalID},
		"configuration": props, "supplementaryConfiguration": map[string]any{}}
	physical := strings.ToLower(st.name+"-"+r.logicalID) + "-" + strings.ToLower(suffix)
	switch r.typ {
	case "AWS::S3::Bucket":
		if n := str(props, "BucketName"); n != "" {
			physical = n
		}
		item["arn"] = "arn:aws:s3:::" + physical
		sup := map[string]any{}
		if pab, ok := props["PublicAccessBlockConfiguration"].(map[string]any); ok {
			sup["PublicAccessBlockConfiguration"] = map[string]any{"blockPublicAcls": truthy(pab["BlockPublicAcls"]), "ignorePublicAcls": truthy(pab["IgnorePublicAcls"]),
				"blockPublicPolicy": truthy(pab["BlockPublicPolicy"]), "restrictPublicBuckets": truthy(pab["RestrictPublicBuckets"])}
		}
		rules := []any{}
		if enc, ok := props["BucketEncryption"].(map[string]any); ok {
			list, _ := enc["ServerSideEncryptionConfiguration"].([]any)
			for _, e := range list {
				rule, _ := e.(map[string]any)
				def, _ := rule["ServerSideEncryptionByDefault"].(map[string]any)
				key := def["KMSMasterKeyID"]
				if m, ok := key.(map[string]any); ok { // a Ref to a key of the stack
					key = fmt.Sprintf("arn:aws:kms:%s:%s:key/%v", s.cfg.Region, st.account, m["Ref"])
				}
				rules = append(rules, map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": str(def, "SSEAlgorithm"), "kmsMasterKeyID": key},
					"bucketKeyEnabled": truthy(rule["BucketKeyEnabled"])})
			}
		} else {
			// S3 encrypts every new bucket with SSE-S3.
			rules = append(rules, map[string]any{"applyServerSideEncryptionByDefault": map[string]any{"sseAlgorithm": "AES256", "kmsMasterKeyID": nil}, "bucketKeyEnabled": false})
		}
		sup["ServerSideEncryptionConfiguration"] = map[string]any{"rules": rules}
		status := "Off"
		if v, ok := props["VersioningConfiguration"].(map[string]any); ok && str(v, "Status") != "" {
			status = str(v, "Status")
		}
		sup["BucketVersioningConfiguration"] = map[string]any{"status": status, "isMfaDeleteEnabled": nil}
		logging := map[string]any{"destinationBucketName": nil, "logFilePrefix": nil}
		if l, ok := props["LoggingConfiguration"].(map[string]any); ok {
			logging = map[string]any{"destinationBucketName": l["DestinationBucketName"], "logFilePrefix": l["LogFilePrefix"]}
		}
		sup["BucketLoggingConfiguration"] = logging
		item["configuration"] = map[string]any{"name": physical}
		item["supplementaryConfiguration"] = sup
	case "AWS::KMS::Key":
		physical = uuidFrom(h[:])
		item["arn"] = fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.cfg.Region, st.account, physical)
		item["configuration"] = map[string]any{"keyId": physical, "keyUsage": "ENCRYPT_DECRYPT", "keyState": "Enabled", "keyManager": "CUSTOMER",
			"origin": "AWS_KMS", "description": str(props, "Description")}
		rotation := truthy(props["EnableKeyRotation"])
		item["supplementaryConfiguration"] = map[string]any{"KeyRotationStatus": map[string]any{"keyRotationEnabled": rotation}}
	case "AWS::EC2::SecurityGroup":
		physical = "sg-" + strings.ToLower(hex.EncodeToString(h[:9]))[:17]
		perms := []any{}
		ingress, _ := props["SecurityGroupIngress"].([]any)
		for _, x := range ingress {
			in, _ := x.(map[string]any)
			from, _ := strconv.Atoi(fmt.Sprint(in["FromPort"]))
			to, _ := strconv.Atoi(fmt.Sprint(in["ToPort"]))
			var v4, v6 []string
			if c := str(in, "CidrIp"); c != "" {
				v4 = append(v4, c)
			}
			if c := str(in, "CidrIpv6"); c != "" {
				v6 = append(v6, c)
			}
			perms = append(perms, permission(str(in, "IpProtocol"), from, to, v4, v6))
		}
		item["arn"] = fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", s.cfg.Region, st.account, physical)
		item["configuration"] = map[string]any{"groupId": physical, "groupName": physical, "description": str(props, "GroupDescription"),
			"vpcId": str(props, "VpcId"), "ipPermissions": perms}
	}
	item["resourceId"], item["resourceName"] = physical, physical
	return item, physical
}

func uuidFrom(b []byte) string {
	h := hex.EncodeToString(append(b, b...))
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:24] + h[:8]
}

// stackItems are the configuration items of the stacks deployed into
// account.
func stackItems(ctx context.Context, tx *sql.Tx, account string) ([]map[string]any, error) {
	raws, err := queryAll(ctx, tx, func(rows *sql.Rows) (string, error) {
		var s string
		return s, rows.Scan(&s)
	}, `SELECT item FROM cfn_resources WHERE account_id = ? ORDER BY stack_id, logical_id`, account)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(raws))
	for _, raw := range raws {
		var it map[string]any
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, nil
}

type cfnTag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

type cfnStack struct {
	StackId           string    `xml:"StackId"`
	StackName         string    `xml:"StackName"`
	CreationTime      string    `xml:"CreationTime"`
	LastUpdatedTime   string    `xml:"LastUpdatedTime,omitempty"`
	StackStatus       string    `xml:"StackStatus"`
	StackStatusReason string    `xml:"StackStatusReason,omitempty"`
	RoleARN           string    `xml:"RoleARN,omitempty"`
	Tags              *[]cfnTag `xml:"Tags>member,omitempty"`
}

func isoTime(ns int64) string { return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z") }

func cfnDescribeStacks(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		StackName *string
		NextToken *string
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if req.StackName == nil || *req.StackName == "" {
		return nil, cfnValidation("the simulated cloud describes one stack at a time: pass its stack id as StackName")
	}
	if reStackARN.FindStringSubmatch(*req.StackName) == nil {
		return nil, cfnValidation("the simulated cloud has one credential for every account: name the stack by its stack id (its ARN)")
	}
	st, err := s.findStack(ctx, tx, *req.StackName, "")
	if err != nil {
		return nil, err
	}
	var tags []cfnTag
	_ = json.Unmarshal([]byte(st.tags), &tags)
	out := cfnStack{StackId: st.id, StackName: st.name, CreationTime: isoTime(st.created), StackStatus: st.status, StackStatusReason: st.reason, RoleARN: st.role}
	if st.updated != st.created {
		out.LastUpdatedTime = isoTime(st.updated)
	}
	if len(tags) > 0 {
		out.Tags = &tags
	}
	return struct {
		Stacks []cfnStack `xml:"Stacks>member"`
	}{[]cfnStack{out}}, nil
}

func cfnDescribeStackEvents(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		StackName *string
		NextToken *string
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if reStackARN.FindStringSubmatch(*req.StackName) == nil {
		return nil, cfnValidation("the simulated cloud has one credential for every account: name the stack by its stack id (its ARN)")
	}
	st, err := s.findStack(ctx, tx, *req.StackName, "")
	if err != nil {
		return nil, err
	}
	type event struct {
		StackId              string `xml:"StackId"`
		EventId              string `xml:"EventId"`
		StackName            string `xml:"StackName"`
		LogicalResourceId    string `xml:"LogicalResourceId"`
		PhysicalResourceId   string `xml:"PhysicalResourceId,omitempty"`
		ResourceType         string `xml:"ResourceType"`
		Timestamp            string `xml:"Timestamp"`
		ResourceStatus       string `xml:"ResourceStatus"`
		ResourceStatusReason string `xml:"ResourceStatusReason,omitempty"`
		ClientRequestToken   string `xml:"ClientRequestToken,omitempty"`
	}
	evs, err := queryAll(ctx, tx, func(rows *sql.Rows) (event, error) {
		var e event
		var at int64
		err := rows.Scan(&e.EventId, &e.LogicalResourceId, &e.PhysicalResourceId, &e.ResourceType, &e.ResourceStatus, &e.ResourceStatusReason, &e.ClientRequestToken, &at)
		e.StackId, e.StackName, e.Timestamp = st.id, st.name, isoTime(at)
		return e, err
	}, `SELECT id, logical_id, physical_id, resource_type, status, reason, token, at FROM cfn_events WHERE stack_id = ? ORDER BY seq DESC`, st.id)
	if err != nil {
		return nil, err
	}
	return struct {
		StackEvents []event `xml:"StackEvents>member"`
	}{evs}, nil
}

func cfnGetTemplate(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		StackName     *string
		ChangeSetName *string
		TemplateStage *string
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if req.ChangeSetName != nil {
		return nil, &apiError{Status: 404, Code: "ChangeSetNotFound", Message: "the simulated cloud has no change sets"}
	}
	if req.StackName == nil || reStackARN.FindStringSubmatch(*req.StackName) == nil {
		return nil, cfnValidation("the simulated cloud has one credential for every account: name the stack by its stack id (its ARN)")
	}
	st, err := s.findStack(ctx, tx, *req.StackName, "")
	if err != nil {
		return nil, err
	}
	return struct {
		TemplateBody    string   `xml:"TemplateBody"`
		StagesAvailable []string `xml:"StagesAvailable>member"`
	}{st.template, []string{"Original", "Processed"}}, nil
}
