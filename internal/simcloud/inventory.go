package simcloud

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// AWS Config's aggregator API, awsJson1.1 with target prefix
// StarlingDoveService: the way a landing zone reads every member account's
// resources from the management account. The simulated cloud has one
// organisation-wide aggregator; each member account's configuration items
// come from the seeded generator (inventorygen.go), with the operator's
// patches (POST /_simcloud/inventory/...) laid over them.
var configOps = map[string]operation{
	"SelectAggregateResourceConfig":    configSelectAggregate,
	"DescribeConfigurationAggregators": configDescribeAggregators,
}

// DefaultConfigAggregator is the aggregator's name when Config leaves it
// empty.
const DefaultConfigAggregator = "hatoba-organization"

const (
	configMaxLimit = 100
	// selectable are the item properties a SELECT may name. Config also
	// accepts nested properties (configuration.instanceType); the simulated
	// cloud does not.
	selectable = "accountId arn availabilityZone awsRegion configuration configurationItemCaptureTime configurationItemStatus " +
		"resourceCreationTime resourceId resourceName resourceType supplementaryConfiguration tags version"
)

// filterable are the properties a WHERE may compare with =.
var filterable = map[string]bool{"accountId": true, "resourceType": true, "awsRegion": true, "resourceId": true}

var (
	reSelect    = regexp.MustCompile(`(?is)^\s*SELECT\s+(.+?)\s+WHERE\s+(.+?)\s*$`)
	reAnd       = regexp.MustCompile(`(?i)\s+AND\s+`)
	reCondition = regexp.MustCompile(`^([A-Za-z]+)\s*=\s*'([^']*)'$`)
)

func configInvalidExpression(msg string) error {
	return &apiError{Status: 400, Code: "InvalidExpressionException", Message: msg}
}

// query is a parsed SELECT: the properties to return and the equality
// conditions an item must meet; accountId is always one of them.
type query struct {
	fields []string
	where  map[string]string
}

// parseExpression understands the one shape of Config's SQL subset that
// hatoba sends: SELECT p1, p2, … WHERE accountId = '…' [AND q = '…' …].
// Anything else is refused, as Config refuses what it cannot parse.
func parseExpression(expr string) (query, error) {
	m := reSelect.FindStringSubmatch(expr)
	if m == nil {
		return query{}, configInvalidExpression("the simulated cloud understands only SELECT <properties> WHERE <property> = '<value>' [AND …]")
	}
	q := query{where: map[string]string{}}
	seen := map[string]bool{}
	for f := range strings.SplitSeq(m[1], ",") {
		f = strings.TrimSpace(f)
		if !strings.Contains(" "+selectable+" ", " "+f+" ") {
			return query{}, configInvalidExpression(fmt.Sprintf("%q is not a property the simulated cloud can select", f))
		}
		if !seen[f] {
			seen[f] = true
			q.fields = append(q.fields, f)
		}
	}
	for _, c := range reAnd.Split(m[2], -1) {
		cm := reCondition.FindStringSubmatch(strings.TrimSpace(c))
		if cm == nil || !filterable[cm[1]] {
			return query{}, configInvalidExpression(fmt.Sprintf("cannot evaluate the condition %q: the simulated cloud compares accountId, resourceType, awsRegion or resourceId with = '<value>'", c))
		}
		if _, dup := q.where[cm[1]]; dup {
			return query{}, configInvalidExpression(fmt.Sprintf("%s is compared twice", cm[1]))
		}
		q.where[cm[1]] = cm[2]
	}
	if _, ok := q.where["accountId"]; !ok {
		return query{}, configInvalidExpression("the simulated cloud needs a condition accountId = '<account id>'")
	}
	return q, nil
}

func (s *Server) aggregatorName() string {
	if s.cfg.ConfigAggregator != "" {
		return s.cfg.ConfigAggregator
	}
	return DefaultConfigAggregator
}

func (s *Server) checkAggregator(name *string) error {
	if name == nil || *name == "" {
		return &apiError{Status: 400, Code: "ValidationException", Message: "ConfigurationAggregatorName is required"}
	}
	if *name != s.aggregatorName() {
		return &apiError{Status: 400, Code: "NoSuchConfigurationAggregatorException",
			Message: fmt.Sprintf("the configuration aggregator %q does not exist", *name)}
	}
	return nil
}

func configSelectAggregate(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ConfigurationAggregatorName *string `json:"ConfigurationAggregatorName"`
		Expression                  *string `json:"Expression"`
		Limit                       *int    `json:"Limit"`
		MaxResults                  *int    `json:"MaxResults"`
		NextToken                   *string `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	if err := s.checkAggregator(req.ConfigurationAggregatorName); err != nil {
		return nil, err
	}
	if req.Expression == nil || *req.Expression == "" {
		return nil, &apiError{Status: 400, Code: "ValidationException", Message: "Expression is required"}
	}
	if len(*req.Expression) > 4096 {
		return nil, &apiError{Status: 400, Code: "ValidationException", Message: "Expression must be at most 4096 characters"}
	}
	limit := configMaxLimit
	for _, l := range []*int{req.MaxResults, req.Limit} {
		if l == nil {
			continue
		}
		if *l < 0 || *l > configMaxLimit {
			return nil, &apiError{Status: 400, Code: "InvalidLimitException", Message: fmt.Sprintf("Limit must be between 0 and %d", configMaxLimit)}
		}
		if *l > 0 {
			limit = *l
		}
	}
	if s.cfg.ConfigPageSize > 0 {
		limit = min(limit, s.cfg.ConfigPageSize)
	}
	p, err := parsePage(req.NextToken, &limit, configMaxLimit, configMaxLimit, func(msg string) error {
		return &apiError{Status: 400, Code: "InvalidNextTokenException", Message: msg}
	})
	if err != nil {
		return nil, err
	}
	q, err := parseExpression(*req.Expression)
	if err != nil {
		return nil, err
	}
	items, err := s.inventory(ctx, tx, q.where["accountId"])
	if err != nil {
		return nil, err
	}
	var matched []map[string]any
	for _, it := range items {
		if q.matches(it) {
			matched = append(matched, it)
		}
	}
	if p.offset > len(matched) {
		return nil, &apiError{Status: 400, Code: "InvalidNextTokenException", Message: "the NextToken is past the end of the results"}
	}
	matched, next := trimPage(p, matched[p.offset:])
	results := make([]string, 0, len(matched))
	for _, it := range matched {
		sel := make(map[string]any, len(q.fields))
		for _, f := range q.fields {
			if v, ok := it[f]; ok {
				sel[f] = v
			}
		}
		b, err := json.Marshal(sel)
		if err != nil {
			return nil, err
		}
		results = append(results, string(b))
	}
	fields := make([]map[string]string, len(q.fields))
	for i, f := range q.fields {
		fields[i] = map[string]string{"Name": f}
	}
	return map[string]any{"Results": results, "QueryInfo": map[string]any{"SelectFields": fields}, "NextToken": next}, nil
}

func (q query) matches(it map[string]any) bool {
	for k, v := range q.where {
		if s, _ := it[k].(string); s != v {
			return false
		}
	}
	return true
}

func configDescribeAggregators(s *Server, ctx context.Context, tx *sql.Tx, in []byte) (any, error) {
	var req struct {
		ConfigurationAggregatorNames []string `json:"ConfigurationAggregatorNames"`
		Limit                        *int     `json:"Limit"`
		NextToken                    *string  `json:"NextToken"`
	}
	if err := decode(in, &req); err != nil {
		return nil, err
	}
	for _, n := range req.ConfigurationAggregatorNames {
		if err := s.checkAggregator(&n); err != nil {
			return nil, err
		}
	}
	name := s.aggregatorName()
	return map[string]any{"ConfigurationAggregators": []map[string]any{{
		"ConfigurationAggregatorName": name,
		"ConfigurationAggregatorArn":  fmt.Sprintf("arn:aws:config:%s:%s:config-aggregator/config-aggregator-%s", s.cfg.Region, s.managementAccount(), strings.TrimPrefix(s.rootID, "r-")),
		"OrganizationAggregationSource": map[string]any{
			"RoleArn": "arn:aws:iam::" + s.managementAccount() + ":role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig", "AllAwsRegions": true},
		"CreatedBy": "hatoba",
	}}}, nil
}

// inventorySeed is the generator's seed: the configured Seed, else one
// chosen at random on first use and kept in the state, so a restarted
// simulated cloud reports the same resources.
func (s *Server) inventorySeed(ctx context.Context, tx *sql.Tx) (uint64, error) {
	if s.cfg.Seed != 0 {
		return s.cfg.Seed, nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('inventory_seed', ?) ON CONFLICT (key) DO NOTHING`,
		strconv.FormatUint(mrand.Uint64(), 10)); err != nil {
		return 0, err
	}
	var v string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'inventory_seed'`).Scan(&v); err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

// inventory is an account's configuration items with the operator's
// patches applied; an account outside the organisation has none, as Config
// aggregates only its source accounts.
func (s *Server) inventory(ctx context.Context, tx *sql.Tx, accountID string) ([]map[string]any, error) {
	known, err := exists(ctx, tx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, accountID)
	if err != nil || !known {
		return []map[string]any{}, err
	}
	seed, err := s.inventorySeed(ctx, tx)
	if err != nil {
		return nil, err
	}
	items := GenerateInventory(seed, accountID)
	type key struct{ typ, id string }
	patched := map[key]map[string]any{}
	rows, err := tx.QueryContext(ctx, `SELECT resource_type, resource_id, item FROM inventory_overrides WHERE account_id = ?`, accountID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k key
		var raw string
		if err := rows.Scan(&k.typ, &k.id, &raw); err != nil {
			return nil, err
		}
		var it map[string]any
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			return nil, fmt.Errorf("inventory override %s/%s: %w", k.typ, k.id, err)
		}
		patched[k] = it
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// What the account's CloudFormation stacks created (cloudformation.go).
	stacked, err := stackItems(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	items = append(items, stacked...)
	for i, it := range items {
		if p, ok := patched[key{it["resourceType"].(string), it["resourceId"].(string)}]; ok {
			items[i] = p
		}
	}
	return items, nil
}

// patchable are the parts of an item the operator's patch may change.
var patchable = map[string]bool{"configuration": true, "supplementaryConfiguration": true, "awsRegion": true, "tags": true}

// inventoryRoutes adds the operator's view of the inventory:
//
//	GET  /_simcloud/inventory/{account}                   every item, patched
//	POST /_simcloud/inventory/{account}/{type}/{resource} a JSON merge patch (RFC 7396)
//	     of configuration, supplementaryConfiguration, awsRegion or tags
//
// They are not AWS operations and need no signature, like /_simcloud/stats.
func (s *Server) inventoryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_simcloud/inventory/{account}", func(w http.ResponseWriter, r *http.Request) {
		var items []map[string]any
		err := s.adminTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
			var err error
			items, err = s.accountInventory(ctx, tx, r.PathValue("account"))
			return err
		})
		writeAdmin(w, map[string]any{"items": items}, err)
	})
	mux.HandleFunc("POST /_simcloud/inventory/{account}/{type}/{resource}", func(w http.ResponseWriter, r *http.Request) {
		var patch map[string]any
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err := dec.Decode(&patch); err != nil || patch == nil {
			writeAdmin(w, nil, &apiError{Status: 400, Code: "ValidationException", Message: "the body must be a JSON object (a merge patch)"})
			return
		}
		for k := range patch {
			if !patchable[k] {
				writeAdmin(w, nil, &apiError{Status: 400, Code: "ValidationException",
					Message: fmt.Sprintf("%q cannot be patched; only configuration, supplementaryConfiguration, awsRegion and tags", k)})
				return
			}
		}
		var out map[string]any
		err := s.adminTx(r.Context(), func(ctx context.Context, tx *sql.Tx) error {
			var err error
			out, err = s.patchItem(ctx, tx, r.PathValue("account"), r.PathValue("type"), r.PathValue("resource"), patch)
			return err
		})
		writeAdmin(w, out, err)
	})
}

func (s *Server) accountInventory(ctx context.Context, tx *sql.Tx, accountID string) ([]map[string]any, error) {
	known, err := exists(ctx, tx, `SELECT COUNT(*) FROM accounts WHERE id = ?`, accountID)
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, &apiError{Status: 404, Code: "ResourceNotFoundException", Message: "no account " + accountID + " in the organisation"}
	}
	return s.inventory(ctx, tx, accountID)
}

func (s *Server) patchItem(ctx context.Context, tx *sql.Tx, accountID, typ, id string, patch map[string]any) (map[string]any, error) {
	items, err := s.accountInventory(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if it["resourceType"] != typ || it["resourceId"] != id {
			continue
		}
		merged := mergePatch(it, patch).(map[string]any)
		raw, err := json.Marshal(merged)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO inventory_overrides (account_id, resource_type, resource_id, item) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, resource_type, resource_id) DO UPDATE SET item = excluded.item`, accountID, typ, id, string(raw)); err != nil {
			return nil, err
		}
		return merged, nil
	}
	return nil, &apiError{Status: 404, Code: "ResourceNotDiscoveredException", Message: fmt.Sprintf("account %s has no %s %s", accountID, typ, id)}
}

// mergePatch applies an RFC 7396 JSON merge patch to target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// adminTx runs f in a transaction under the server's lock, as an AWS
// operation would run.
func (s *Server) adminTx(ctx context.Context, f func(context.Context, *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := s.settle(ctx, tx); err != nil {
		return err
	}
	if err := f(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}

func writeAdmin(w http.ResponseWriter, out any, err error) {
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{Status: 500, Code: "InternalFailure", Message: err.Error()}
		}
		writeRESTError(w, ae)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
