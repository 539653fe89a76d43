package controls_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hatoba-cloud/hatoba/internal/controls"
	"github.com/hatoba-cloud/hatoba/internal/fault"
)

// The engine returns each violation's message as its control wrote it:
// the English format and its parameters beside the rendered message.
func TestEvaluateMessageFormat(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	e, err := controls.NewEngine(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		resource controls.Resource
		control  string
		message  string
		format   string
		params   controls.Params
	}{
		{"ok/constant", controls.Resource{Provider: "aws", Type: "aws_ebs_volume", ID: "vol-1", Region: "ap-northeast-1", Config: map[string]any{"encrypted": false}},
			"aws-ebs-encrypted-kms", "vol-1: the volume is not encrypted", "the volume is not encrypted", controls.Params{}},
		{"ok/string parameter", controls.Resource{Provider: "aws", Type: "aws_iam_user", ID: "u-1", Config: map[string]any{"name": "alice"}},
			"aws-iam-no-users", `u-1: IAM user "alice" exists; people sign in through the identity center`,
			"IAM user %q exists; people sign in through the identity center", controls.Params{"alice"}},
		{"ok/integer parameter", controls.Resource{Provider: "aws", Type: "aws_default_security_group", ID: "sg-1", Region: "ap-northeast-1",
			Config: map[string]any{"ingress": []any{map[string]any{"protocol": "-1"}}, "egress": []any{map[string]any{"protocol": "-1"}}}},
			"aws-default-sg-closed", "sg-1: the default security group has 2 rules; it must have none",
			"the default security group has %d rules; it must have none", controls.Params{int64(2)}},
		{"ok/array parameter as sprintf writes it", controls.Resource{Provider: "aws", Type: "aws_eks_cluster", ID: "eks-1", Region: "ap-northeast-1",
			Config: map[string]any{"vpc_config": []any{map[string]any{"endpoint_public_access": true, "public_access_cidrs": []any{"203.0.113.0/24"}}}}},
			"aws-eks-endpoint-private", `eks-1: the cluster's API endpoint is public (from ["203.0.113.0/24"])`,
			"the cluster's API endpoint is public (from %v)", controls.Params{`["203.0.113.0/24"]`}},
		{"ok/several parameters", controls.Resource{Provider: "aws", Type: "aws_s3_bucket", ID: "b-1", Region: "us-east-1", Config: map[string]any{}},
			"aws-region-domestic", `b-1: aws_s3_bucket is in region "us-east-1", which is not a domestic region (ap-northeast-1, ap-northeast-3, jp-east-1, jp-west-1)`,
			"%s is in region %q, which is not a domestic region (%s)", controls.Params{"aws_s3_bucket", "us-east-1", "ap-northeast-1, ap-northeast-3, jp-east-1, jp-west-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.Evaluate(context.Background(), []controls.Resource{tt.resource}, func(c controls.Control) bool { return c.ID == tt.control })
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("violations %+v, want one of %s", got, tt.control)
			}
			v := got[0]
			if v.Message != tt.message || v.Format != tt.format || !reflect.DeepEqual(v.Params, tt.params) {
				t.Fatalf("got %q, %q, %#v\nwant %q, %q, %#v", v.Message, v.Format, v.Params, tt.message, tt.format, tt.params)
			}
			// The format with its parameters is the message without the id.
			if s, ok := controls.Render(v.Format, v.Params); !ok || v.ResourceID+": "+s != v.Message {
				t.Fatalf("rendered %q (%v), message %q", s, ok, v.Message)
			}
		})
	}
}

// A custom control's own deny rules: lib.finding with a message it made
// with sprintf, and a plain string. Both keep their English as the format.
func TestEvaluateMessageFormatUntranslatable(t *testing.T) {
	t.Parallel()
	c := customControl(t)
	c.Policy = strings.Replace(c.Policy, `lib.finding(r, "IAM user admin is a shared account")`,
		`lib.finding(r, sprintf("IAM user %s is 100%% shared", [r.config.name]))`, 1)
	c.Policy += "\ndeny contains msg if {\n\tsome r in lib.of_type(\"aws_iam_user\")\n\tmsg := \"plain\"\n}\n"
	e, err := controls.NewEngine(context.Background(), []controls.Control{c})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.Evaluate(context.Background(), []controls.Resource{{Type: "aws_iam_user", ID: "u1", Config: map[string]any{"name": "admin"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, v := range got {
		if len(v.Params) != 0 {
			t.Errorf("%q: params %v", v.Message, v.Params)
		}
		formats = append(formats, v.Format)
	}
	slices.Sort(formats)
	if want := []string{"IAM user admin is 100%% shared", "plain"}; !slices.Equal(formats, want) {
		t.Fatalf("formats %q, want %q", formats, want)
	}
}

// Every message a built-in control's policy writes has its Japanese in
// control.yaml's messages, with the same verbs in the same order; every
// call passes a constant format (the key a translation is found by) and,
// to lib.finding_fmt, as many parameters as the format has verbs; no
// translation is left over from a message the policy no longer writes.
func TestBuiltinMessagesTranslated(t *testing.T) {
	t.Parallel()
	cs, err := controls.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range cs {
		calls, err := controls.MessageCalls(c.Policy)
		if err != nil {
			t.Fatalf("%s: %v", c.ID, err)
		}
		if len(calls) == 0 {
			t.Errorf("%s: policy.rego calls neither lib.finding nor lib.finding_fmt", c.ID)
		}
		used := map[string]bool{}
		for _, mc := range calls {
			where := fmt.Sprintf("%s/policy.rego:%d: lib.%s", c.ID, mc.Line, mc.Func)
			if !mc.Constant {
				t.Errorf("%s: the message is not a string constant; write lib.finding_fmt(r, \"format\", [values]) so it can be translated", where)
				continue
			}
			used[mc.Format] = true
			verbs, err := controls.Verbs(mc.Format)
			if err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if mc.Func == "finding" && len(verbs) > 0 {
				t.Errorf("%s: %q has verbs; use lib.finding_fmt", where, mc.Format)
			}
			if mc.Func == "finding_fmt" && mc.Params != len(verbs) {
				t.Errorf("%s: %q has %d verbs, and %d parameters are passed (an array written out is needed)", where, mc.Format, len(verbs), mc.Params)
			}
			ja, ok := c.Japanese(mc.Format)
			if !ok {
				t.Errorf("%s: %q has no Japanese in control.yaml's messages", where, mc.Format)
				continue
			}
			jaVerbs, err := controls.Verbs(ja)
			if err != nil || !slices.Equal(verbs, jaVerbs) {
				t.Errorf("%s: %q has the verbs %q, its Japanese %q has %q (%v)", where, mc.Format, verbs, ja, jaVerbs, err)
			}
		}
		for en := range c.Messages {
			if !used[en] {
				t.Errorf("%s: control.yaml translates %q, which policy.rego does not write", c.ID, en)
			}
		}
		total += len(used)
	}
	if total < 60 {
		t.Fatalf("only %d messages found in the catalog's policies: is MessageCalls finding the calls?", total)
	}
}

// MessageCalls finds the calls however the library is imported, and
// reports what the test above refuses.
func TestMessageCalls(t *testing.T) {
	t.Parallel()
	const head = "package hatoba.controls.x\n\nimport rego.v1\n"
	tests := []struct {
		name   string
		policy string
		want   []controls.MessageCall
	}{
		{"ok/constant", head + "import data.hatoba.lib\n\ndeny contains f if {\n\tsome r in lib.of_type(\"t\")\n\tf := lib.finding(r, \"100% off\")\n}\n",
			[]controls.MessageCall{{Func: "finding", Line: 8, Format: "100%% off", Constant: true}}},
		{"ok/format", head + "import data.hatoba.lib\n\ndeny contains f if {\n\tsome r in lib.of_type(\"t\")\n\tf := lib.finding_fmt(r, \"%s and %d\", [r.id, 2])\n}\n",
			[]controls.MessageCall{{Func: "finding_fmt", Line: 8, Format: "%s and %d", Constant: true, Params: 2}}},
		{"ok/alias", head + "import data.hatoba.lib as l\n\ndeny contains f if {\n\tsome r in l.of_type(\"t\")\n\tf := l.finding_fmt(r, \"%s\", [r.id])\n}\n",
			[]controls.MessageCall{{Func: "finding_fmt", Line: 8, Format: "%s", Constant: true, Params: 1}}},
		{"ok/written out", head + "\ndeny contains f if {\n\tsome r in data.hatoba.lib.of_type(\"t\")\n\tf := data.hatoba.lib.finding(r, \"x\")\n}\n",
			[]controls.MessageCall{{Func: "finding", Line: 7, Format: "x", Constant: true}}},
		{"fail/computed message", head + "import data.hatoba.lib\n\ndeny contains f if {\n\tsome r in lib.of_type(\"t\")\n\tf := lib.finding(r, sprintf(\"%s\", [r.id]))\n}\n",
			[]controls.MessageCall{{Func: "finding", Line: 8}}},
		{"fail/parameters not written out", head + "import data.hatoba.lib\n\nps := [1]\n\ndeny contains f if {\n\tsome r in lib.of_type(\"t\")\n\tf := lib.finding_fmt(r, \"%d\", ps)\n}\n",
			[]controls.MessageCall{{Func: "finding_fmt", Line: 10, Format: "%d", Constant: true, Params: -1}}},
		{"ok/another library's finding", head + "import data.other as lib\n\ndeny contains f if {\n\tf := lib.finding(1, \"x\")\n}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := controls.MessageCalls(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	if _, err := controls.MessageCalls("package x\n\ndeny contains"); err == nil {
		t.Fatal("a policy that does not parse was accepted")
	}
}

func TestVerbs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string
		want   []string
		ok     bool
	}{
		{"ok/none", "nothing to see", nil, true},
		{"ok/percent", "100%% of %d", []string{"%d"}, true},
		{"ok/flags", "%-8s|%+.2f|%#v|%05d|%q", []string{"%-8s", "%+.2f", "%#v", "%05d", "%q"}, true},
		{"ok/japanese", "バケット %q が %s を %s に許可している", []string{"%q", "%s", "%s"}, true},
		{"fail/index", "%[2]s %[1]s", nil, false},
		{"fail/star", "%*d", nil, false},
		{"fail/trailing", "50%", nil, false},
		{"fail/not a verb", "%!", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := controls.Verbs(tt.format)
			if (err == nil) != tt.ok || !slices.Equal(got, tt.want) && tt.ok {
				t.Fatalf("Verbs(%q) = %q, %v", tt.format, got, err)
			}
		})
	}
}

func TestRenderParts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		format string
		params controls.Params
		want   []controls.MessagePart
		ok     bool
	}{
		{"ok/constant", "100%% done", controls.Params{}, []controls.MessagePart{{Text: "100% done"}}, true},
		{"ok/parameters", "バケット %q に %d 件", controls.Params{"b", int64(3)},
			[]controls.MessagePart{{Text: "バケット "}, {Text: `"b"`, Param: true}, {Text: " に "}, {Text: "3", Param: true}, {Text: " 件"}}, true},
		{"ok/parameter first and last", "%s%v", controls.Params{"a", 1.5}, []controls.MessagePart{{Text: "a", Param: true}, {Text: "1.5", Param: true}}, true},
		{"fail/too few parameters", "%s and %s", controls.Params{"a"}, nil, false},
		{"fail/too many parameters", "%s", controls.Params{"a", "b"}, nil, false},
		{"fail/bad format", "%[1]s", controls.Params{"a"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := controls.RenderParts(tt.format, tt.params)
			if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// Parameters read back from JSON as what they were: an integer stays an
// int64, a number with a fraction a float64 (2.0 included), so a stored
// finding renders as it was written.
func TestParamsJSON(t *testing.T) {
	t.Parallel()
	in := controls.Params{"a", int64(7), 2.0, 1.5, 1e21, int64(-3)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `["a",7,2.0,1.5,1e+21,-3]` {
		t.Fatalf("marshalled %s", b)
	}
	var out controls.Params
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip %#v, want %#v", out, in)
	}
	if s, _ := controls.Render("%s %d %v %.1f", out[:4]); s != "a 7 2 1.5" {
		t.Fatalf("rendered %q", s)
	}
	if err := json.Unmarshal([]byte(`{"a":1}`), &out); err == nil {
		t.Fatal("an object was read as parameters")
	}
	if b, _ := json.Marshal(controls.Params(nil)); string(b) != "[]" {
		t.Fatalf("nil parameters marshal to %s", b)
	}
}

// A translation must keep its English's verbs, in order; a custom
// control that breaks that is refused.
func TestValidateMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		messages map[string]string
		problem  string
	}{
		{"ok/none", nil, ""},
		{"ok/same verbs", map[string]string{"user %q has %d keys": "ユーザー %q のキーが %d 個ある"}, ""},
		{"fail/verbs reordered", map[string]string{"user %q has %d keys": "%d 個のキーがユーザー %q にある"}, "must be the same, in the same order"},
		{"fail/verb missing", map[string]string{"user %q exists": "ユーザーがある"}, "must be the same"},
		{"fail/empty", map[string]string{"user exists": " "}, "empty translation"},
		{"fail/bad format", map[string]string{"user %[1]q exists": "ユーザー %[1]q がある"}, "argument indexes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := customControl(t)
			c.Messages = tt.messages
			err := c.Validate()
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if fault.KindOf(err) != fault.Invalid || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("got %v, want a refusal saying %q", err, tt.problem)
			}
		})
	}
}

// FuzzRenderParts: any format and parameters render without a panic, and
// what renders is what fmt.Sprintf makes of them.
func FuzzRenderParts(f *testing.F) {
	f.Add("バケット %q が %s を %s に許可している", "b", "READ", "AllUsers")
	f.Add("100%% of %d", "x", "", "")
	f.Add("%[1]s %*d %", "a", "b", "c")
	f.Fuzz(func(t *testing.T, format, a, b, c string) {
		for n := range 4 {
			params := controls.Params{a, b, c}[:min(n, 3)]
			s, ok := controls.Render(format, params)
			if !ok {
				continue
			}
			if want := fmt.Sprintf(format, params...); s != want {
				t.Fatalf("Render(%q, %q) = %q, fmt says %q", format, params, s, want)
			}
		}
	})
}
