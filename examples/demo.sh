#!/usr/bin/env bash
# The demo: a local S3 (Ceph radosgw) and DynamoDB (dynalite), example states written by
# real terraform (workspaces, a held lock, a stale lock, a DynamoDB lock), mounted with
# tfstatefs.  Usage: examples/demo.sh [start|stop]
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
DEMO=${TFS_DEMO_DIR:-/tmp/tfstatefs-demo}
BUCKET=tfstate
TABLE=tflocks
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

stop_demo() {
	if mountpoint -q "$DEMO/mnt" 2>/dev/null; then fusermount3 -u "$DEMO/mnt"; fi
	if [ -f "$DEMO/holder.pid" ]; then kill_tree "$(cat "$DEMO/holder.pid")"; fi
	[ -d "$DEMO/stack" ] && tests/stack/stop.sh "$DEMO/stack" >/dev/null
	rm -rf "$DEMO"
}

# One terraform working directory per state, backend on the local stack.
tf_dir() {  # name key [dynamodb]
	local dir=$DEMO/tf/$1
	mkdir -p "$dir"
	cp examples/terraform/main.tf "$dir/"
	{
		echo "bucket = \"$BUCKET\""
		echo "key = \"$2\""
		echo "region = \"us-east-1\""
		echo "endpoints = { s3 = \"$TFS_S3_ENDPOINT\", dynamodb = \"$TFS_DDB_ENDPOINT\" }"
		echo "use_path_style = true"
		echo "skip_credentials_validation = true"
		echo "skip_requesting_account_id = true"
		echo "skip_metadata_api_check = true"
		echo "skip_region_validation = true"
		echo "skip_s3_checksum = true"
		if [ "${3:-}" = dynamodb ]; then echo "dynamodb_table = \"$TABLE\""; else echo "use_lockfile = true"; fi
	} >"$dir/backend.hcl"
	(cd "$dir" && terraform init -input=false -no-color -backend-config=backend.hcl >"$dir/init.log" 2>&1)
}

tf() { local dir=$DEMO/tf/$1; shift; (cd "$dir" && terraform "$@"); }

# Kills pid first (so it cannot clean up), then what it had started.
kill_tree() {
	local kids; kids=$(pgrep -P "$1" || true)
	kill -KILL "$1" 2>/dev/null || true
	for k in $kids; do kill_tree "$k"; done
}

wait_for_lock() {  # key
	/usr/bin/python3 examples/seed-demo.py wait-lock "$1" 60 && return 0
	echo "demo: terraform never took the lock on $1 (see $DEMO/tf/*/apply.log)" >&2
	return 1
}

seed_with_terraform() {
	tf_dir network prod/network/terraform.tfstate
	tf network apply -auto-approve -no-color >/dev/null
	tf_dir app teams/app/terraform.tfstate
	tf app apply -auto-approve -no-color >/dev/null
	for ws in staging dev; do
		tf app workspace new "$ws" >/dev/null
		tf app apply -auto-approve -no-color -var revision=2 >/dev/null
	done
	tf app workspace select default >/dev/null
	tf_dir legacy legacy/billing/terraform.tfstate dynamodb
	tf legacy apply -auto-approve -no-color >/dev/null

	# A stale lock: the apply is killed while it holds the lock, as a dead CI runner would.
	tf_dir crashed teams/crashed/terraform.tfstate
	tf crashed apply -auto-approve -no-color >/dev/null
	(cd "$DEMO/tf/crashed" && exec terraform apply -auto-approve -input=false -no-color \
		-var hold_seconds=600 >"$DEMO/tf/crashed/apply.log" 2>&1) &
	local crashed=$!
	# Not a job of this shell any more: bash would report its kill as "Killed (cd ...)".
	disown "$crashed"
	wait_for_lock teams/crashed/terraform.tfstate
	kill_tree "$crashed"
	while kill -0 "$crashed" 2>/dev/null; do sleep 0.1; done
	echo "demo: stopped the apply on teams/crashed on purpose (kill -9), leaving its lock" \
		"behind as a crashed CI runner would"

	# A held lock on the DynamoDB-locked state: an apply that runs for an hour.
	(cd "$DEMO/tf/legacy" && exec terraform apply -auto-approve -input=false -no-color \
		-var hold_seconds=3600 -var revision=2 >"$DEMO/tf/legacy/apply.log" 2>&1) &
	echo $! >"$DEMO/holder.pid"
	wait_for_lock legacy/billing/terraform.tfstate
}

start_demo() {
	tests/stack/deps.sh
	make -s all
	stop_demo
	mkdir -p "$DEMO/mnt"
	export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=$DEMO/terraformrc
	: >"$TF_CLI_CONFIG_FILE"
	say "Starting a local S3 (radosgw) and DynamoDB (dynalite) in $DEMO/stack"
	tests/stack/start.sh "$DEMO/stack"
	# shellcheck disable=SC1091
	source "$DEMO/stack/env"
	/usr/bin/python3 examples/seed-demo.py setup "$BUCKET" "$TABLE"
	if command -v terraform >/dev/null; then
		say "Writing example states with $(terraform version | head -n1)"
		seed_with_terraform
	else
		say "terraform is not installed: writing example states and locks directly"
		/usr/bin/python3 examples/seed-demo.py states "$BUCKET" "$TABLE"
	fi
	say "Mounting s3://$BUCKET at $DEMO/mnt"
	build/tfstatefs "$BUCKET" "$DEMO/mnt" -o "endpoint=$TFS_S3_ENDPOINT,use_path_style,region=us-east-1" \
		-o "dynamodb_table=$TABLE,dynamodb_endpoint=$TFS_DDB_ENDPOINT"
	say "\$ ls -lR $DEMO/mnt"
	ls -lR "$DEMO/mnt"
	say "\$ head -c 300 $DEMO/mnt/prod/network/terraform.tfstate"
	head -c 300 "$DEMO/mnt/prod/network/terraform.tfstate"; echo
	say "\$ cat $DEMO/mnt/teams/crashed/terraform.tfstate.tflock   # who holds the stale lock"
	cat "$DEMO/mnt/teams/crashed/terraform.tfstate.tflock"
	say "\$ cat $DEMO/mnt/legacy/billing/terraform.tfstate.tflock   # a DynamoDB lock, held"
	cat "$DEMO/mnt/legacy/billing/terraform.tfstate.tflock"
	say "\$ cat $DEMO/mnt/.tfstatefs/locks       # every lock: path, backend, ID, Who, Operation, Created"
	cat "$DEMO/mnt/.tfstatefs/locks"
	say "\$ cat $DEMO/mnt/.tfstatefs/migration   # path, S3 lockfile, DynamoDB lock, digest, note"
	cat "$DEMO/mnt/.tfstatefs/migration"
	cat <<-EOT

	The mount stays up: browse it with ls, cat, find, stat.
	  Locks older than 1 minute:        examples/check-locks -m 1 $DEMO/mnt
	  Who holds what, as CSV:           examples/lock-report --csv $DEMO/mnt
	  Reap stale locks (dry run):       examples/reap-stale-locks -m 1 $DEMO/mnt
	  Remove the stale lock (guarded):  rm $DEMO/mnt/teams/crashed/terraform.tfstate.tflock
	  S3 credentials for other tools:  source $DEMO/stack/env
	  Unmount only:                    fusermount3 -u $DEMO/mnt
	  Stop everything:                 make demo-stop
	EOT
}

case "${1:-start}" in
start) start_demo ;;
stop) stop_demo; echo "demo stopped" ;;
*) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
