package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/hatoba-cloud/hatoba/internal/api"
	"github.com/hatoba-cloud/hatoba/internal/audit"
	"github.com/hatoba-cloud/hatoba/internal/identity"
	"github.com/hatoba-cloud/hatoba/internal/pki"
)

const keySubcommands = "create, list, rotate, disable, enable, usage, kill, revive, credential create|list|revoke"

// cmdKey is the key owner's command line (docs/keys.md): a tenant's keys,
// kill switch and XKS credentials, over the API. Every change is
// confirmed with the card, one signature per request, in place of the
// console's security-key step.
func cmdKey(sub string, fs *pflag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	org := fs.String("org", "", "the organisation whose keys (default: your own)")
	asJSON := fs.Bool("json", false, "print JSON")
	var (
		id, description, keyUsage, confirm *string
		limit                              *int
		card                               cardFlags
	)
	switch sub {
	case "create":
		id = fs.String("id", "", "the key's id (default: a random one)")
		description = fs.String("description", "", "what the key is for")
		keyUsage = fs.String("usage", "", "encrypt_decrypt (default), encrypt_only, decrypt_only or none")
	case "usage":
		limit = fs.Int("limit", 50, "without KEY USAGE: how many of the newest usage records to show (at most 1000)")
	case "kill":
		confirm = fs.String("confirm", "", "repeat the organisation's id: the kill switch makes every key of it unusable at once")
	case "list", "credential list", "rotate", "disable", "enable", "revive", "credential create", "credential revoke":
	default:
		return failing(usageError{fmt.Sprintf("unknown key subcommand %q (known: %s)", sub, keySubcommands)})
	}
	changes := sub != "list" && sub != "credential list"
	if changes {
		card = addCardFlags(fs)
	}
	return func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		positional := map[string]int{"rotate": 1, "disable": 1, "enable": 1, "credential revoke": 1}[sub]
		if sub == "usage" && len(args) != 0 && len(args) != 2 {
			return usageError{"key usage takes KEY USAGE to set a key's usage (encrypt_decrypt, encrypt_only, decrypt_only, none), or nothing to show the usage record"}
		}
		if sub != "usage" && len(args) != positional {
			return usageError{fmt.Sprintf("key %s takes %d argument(s), not %d", sub, positional, len(args))}
		}
		c, err := newClient(cf)
		if err != nil {
			return err
		}
		if *org == "" {
			var me identity.Person
			if _, err := c.do(ctx, "GET", "/api/v1/me", nil, nil, &me); err != nil {
				return err
			}
			if me.OrgID == "" {
				return usageError{"you belong to no organisation: give --org"}
			}
			*org = me.OrgID
		}
		k := keyClient{c: c, signer: &actionSigner{f: card, cmd: "key " + sub, stdin: stdin, stderr: stderr},
			base: "/api/v1/organizations/" + url.PathEscape(*org)}
		defer k.signer.close()
		arg := func(i int) string { return url.PathEscape(args[i]) }

		switch sub {
		case "list":
			var out struct {
				Items []api.KeyView `json:"items"`
			}
			if err := k.get(ctx, "/keys", &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSONLines(stdout, out.Items)
			}
			var tbl table
			tbl.add("ID", "USAGE", "STATE", "VERSION", "UPDATED", "DESCRIPTION")
			for _, key := range out.Items {
				tbl.add(key.ID, string(key.Usage), string(key.State), strconv.Itoa(key.Version), key.UpdatedAt.Local().Format(time.DateTime), key.Description)
			}
			return tbl.print(stdout)
		case "create":
			var key api.KeyView
			in := map[string]string{"id": *id, "description": *description, "usage": *keyUsage}
			if err := k.change(ctx, "POST", "/keys", in, &key); err != nil {
				return err
			}
			return printKey(stdout, *asJSON, "created", key)
		case "rotate", "disable", "enable":
			var key api.KeyView
			if err := k.change(ctx, "POST", "/keys/"+arg(0)+"/"+sub, nil, &key); err != nil {
				return err
			}
			return printKey(stdout, *asJSON, map[string]string{"rotate": "rotated", "disable": "disabled", "enable": "enabled"}[sub], key)
		case "usage":
			if len(args) == 2 {
				var key api.KeyView
				if err := k.change(ctx, "PUT", "/keys/"+arg(0)+"/usage", map[string]string{"usage": args[1]}, &key); err != nil {
					return err
				}
				return printKey(stdout, *asJSON, "usage set", key)
			}
			var out struct {
				Items []audit.Record `json:"items"`
			}
			if err := k.get(ctx, "/keystore/usage?limit="+strconv.Itoa(*limit), &out); err != nil {
				return err
			}
			if *asJSON {
				return printJSONLines(stdout, out.Items)
			}
			var tbl table
			tbl.add("AT", "ACTION", "ACTOR", "TARGET", "DETAILS")
			for _, r := range out.Items {
				tbl.add(r.At.Local().Format(time.DateTime), r.Action, r.Actor, r.Target, r.Details)
			}
			return tbl.print(stdout)
		case "kill", "revive":
			var in any
			if sub == "kill" {
				if *confirm != *org {
					return usageError{fmt.Sprintf("the kill switch makes every key of %s unusable at once: repeat the organisation's id with --confirm %s", *org, *org)}
				}
				in = api.KillInput{Confirm: *confirm}
			}
			var ks api.KeyStoreView
			if err := k.change(ctx, "POST", "/keystore/"+sub, in, &ks); err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(ks)
			}
			state := "live: keys answer"
			if ks.Killed {
				state = "KILLED: every encrypt and decrypt with its keys is refused until revive"
			}
			fmt.Fprintf(stdout, "key store of %s %s\n", ks.OrgID, state)
			return nil
		case "credential list":
			var ks api.KeyStoreView
			if err := k.get(ctx, "/keystore", &ks); err != nil {
				return err
			}
			if *asJSON {
				return printJSONLines(stdout, ks.Credentials)
			}
			var tbl table
			tbl.add("ACCESS KEY ID", "CREATED", "BY", "REVOKED")
			for _, cr := range ks.Credentials {
				revoked := ""
				if cr.RevokedAt != nil {
					revoked = cr.RevokedAt.Local().Format(time.DateTime)
				}
				tbl.add(cr.AccessKeyID, cr.CreatedAt.Local().Format(time.DateTime), cr.CreatedBy, revoked)
			}
			return tbl.print(stdout)
		case "credential create":
			var cr api.XKSCredentialView
			if err := k.change(ctx, "POST", "/keystore/xks-credentials", nil, &cr); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "The secret is shown only now: hatoba keeps it only encrypted and cannot show it again. Give it to AWS KMS (the external key store's proxy credential) and keep no other copy.")
			if *asJSON {
				return json.NewEncoder(stdout).Encode(cr) //nolint:gosec // G117: the secret is shown once to the key owner who created it, on purpose
			}
			fmt.Fprintf(stdout, "access key id: %s\nsecret: %s\n", cr.AccessKeyID, cr.Secret)
			return nil
		case "credential revoke":
			if err := k.change(ctx, "DELETE", "/keystore/xks-credentials/"+arg(0), nil, nil); err != nil {
				return err
			}
			if *asJSON {
				return json.NewEncoder(stdout).Encode(map[string]string{"access_key_id": args[0], "state": "revoked"})
			}
			fmt.Fprintf(stdout, "revoked %s: requests signed with it are refused from now on\n", args[0])
			return nil
		}
		return nil
	}
}

// keyClient calls one organisation's key routes.
type keyClient struct {
	c      *client
	signer *actionSigner
	base   string
}

func (k keyClient) get(ctx context.Context, path string, out any) error {
	_, err := k.c.do(ctx, "GET", k.base+path, nil, nil, out)
	return err
}

// change sends a change confirmed with the card: the body is encoded
// once, signed and sent as exactly those bytes.
func (k keyClient) change(ctx context.Context, method, path string, in, out any) error {
	var body any
	var raw []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body, raw = json.RawMessage(b), b
	}
	h, err := k.signer.header(k.c.base, method, k.base+path, raw)
	if err != nil {
		return err
	}
	_, err = k.c.do(ctx, method, k.base+path, body, http.Header{pki.ActionSignatureHeader: {h}}, out)
	return err
}

func printKey(w io.Writer, asJSON bool, what string, k api.KeyView) error {
	if asJSON {
		return json.NewEncoder(w).Encode(k)
	}
	_, err := fmt.Fprintf(w, "%s %s/%s: %s, %s, version %d\n", what, k.OrgID, k.ID, k.Usage, k.State, k.Version)
	return err
}

// printJSONLines prints one JSON object per line, as env list --json does.
func printJSONLines[T any](w io.Writer, items []T) error {
	enc := json.NewEncoder(w)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			return err
		}
	}
	return nil
}
