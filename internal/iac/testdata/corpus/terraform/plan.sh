#!/bin/sh
# Makes plan.json for each Terraform case here (or those named) the way a
# user does: terraform init, plan, show -json. No AWS account is needed —
# the cases create resources only, so the plan asks AWS nothing — but the
# AWS provider must be installable (TF_PLUGIN_DIR names a local mirror, as
# in an offline CI). Review the diff of plan.json before committing it.
set -eu
cd "$(dirname "$0")"
export AWS_ACCESS_KEY_ID=corpus-plan-only AWS_SECRET_ACCESS_KEY=corpus-not-a-secret
export TF_IN_AUTOMATION=1 TF_CLI_CONFIG_FILE=/dev/null
[ $# -gt 0 ] || set -- */
for d in "$@"; do
	d=${d%/}
	[ -f "$d/main.tf" ] || continue
	echo "plan: $d" >&2
	(
		cd "$d"
		if [ -n "${TF_PLUGIN_DIR:-}" ]; then
			terraform init -input=false -backend=false -plugin-dir="$TF_PLUGIN_DIR" >/dev/null
		else
			terraform init -input=false -backend=false >/dev/null
		fi
		terraform plan -input=false -refresh=false -lock=false -out=.plan.out >/dev/null
		terraform show -json .plan.out | python3 -m json.tool --indent 1 >plan.json
		rm -rf .plan.out .terraform .terraform.lock.hcl
	)
done
