#!/usr/bin/env bash
# Starts a real OpenStack Keystone for the OpenStack driver's tests: Debian's
# keystone package with a SQLite database under a scratch directory, served
# by uWSGI on a loopback port (no Apache, no system service). Prints the
# identity URL on the last line of its output.
#
#   scripts/keystone.sh          install if missing, set up, start, print URL
#   scripts/keystone.sh stop     stop the server this script started
#
# Safe to run again: a Keystone already answering on the port is left alone
# and its URL printed. The tests find it through HATOBA_TEST_KEYSTONE_URL
# (default http://127.0.0.1:35357/v3) and log in as "admin" with
# HATOBA_TEST_KEYSTONE_PASSWORD (default below).
#
# Environment:
#   HATOBA_KEYSTONE_DIR       scratch directory (default /var/tmp/hatoba-keystone)
#   HATOBA_KEYSTONE_PORT      loopback port (default 35357)
#   HATOBA_TEST_KEYSTONE_PASSWORD  the admin's password (default hatoba-keystone-admin)
set -euo pipefail

dir=${HATOBA_KEYSTONE_DIR:-/var/tmp/hatoba-keystone}
port=${HATOBA_KEYSTONE_PORT:-35357}
password=${HATOBA_TEST_KEYSTONE_PASSWORD:-hatoba-keystone-admin}
url="http://127.0.0.1:${port}/v3"

say() { echo "keystone.sh: $*" >&2; }

answering() {
  # Keystone's version document names itself: something else on the port
  # is not taken for Keystone.
  curl -fsS --max-time 2 "$url" 2>/dev/null | grep -q '"id": *"v3'
}

stop() {
  if [ -f "$dir/uwsgi.pid" ]; then
    pid=$(cat "$dir/uwsgi.pid")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping uWSGI (pid $pid)"
      kill -INT "$pid"
    fi
    rm -f "$dir/uwsgi.pid"
  fi
}

if [ "${1:-}" = stop ]; then
  stop
  exit 0
fi

conf="$dir/keystone.conf"
write_conf() {
  cat >"$1" <<EOF
# Written by hatoba's scripts/keystone.sh for tests. Not for production.
[DEFAULT]
log_file = $dir/keystone.log
debug = false
max_param_size = 255

[database]
connection = sqlite:///$dir/keystone.db
# A test database: durability across a power cut is not needed, speed is.
sqlite_synchronous = false

[identity]
# bcrypt's fewest rounds: logging in takes milliseconds, not a second.
password_hash_rounds = 4

[token]
provider = fernet
expiration = 14400

[fernet_tokens]
key_repository = $dir/fernet-keys

[fernet_receipts]
key_repository = $dir/fernet-keys

[credential]
key_repository = $dir/credential-keys

[cache]
# One uWSGI process (below), so an in-memory cache is never stale: it
# spares the database a dozen reads per token validation.
enabled = true
backend = dogpile.cache.memory

[resource]
# Units are nested projects; hatoba's unit paths may be deep.
max_project_tree_depth = 10

[unified_limit]
enforcement_model = flat

[oslo_policy]
enforce_scope = false
enforce_new_defaults = false
EOF
}

# A Keystone already answering is left alone if it runs this
# configuration; one started with another (an older script's) is restarted.
mkdir -p "$dir"
write_conf "$conf.new"
if answering && cmp -s "$conf.new" "$conf"; then
  rm -f "$conf.new"
  echo "$url"
  exit 0
fi

# Install: the package's own service must not start (it would take port
# 5000 and a database of its own), nor may dbconfig-common ask questions.
if ! command -v keystone-manage >/dev/null 2>&1 || ! command -v uwsgi >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      say "not root and no sudo; run as root or install keystone and uwsgi-plugin-python3 yourself"
      exit 1
    fi
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    say "apt-get is not available; install Debian's keystone package yourself"
    exit 1
  fi
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# hatoba keystone.sh: no service starts during this install\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    made_policy=1
  fi
  echo "keystone keystone/configure_db boolean false" | "${sudo[@]}" debconf-set-selections
  say "installing keystone"
  "${sudo[@]}" apt-get update -q >&2 || { say "apt-get update failed"; exit 1; }
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      keystone uwsgi-core uwsgi-plugin-python3 curl >&2; then
    [ -n "$made_policy" ] && "${sudo[@]}" rm -f "$policy"
    say "installing keystone failed; see apt-get's output above"
    exit 1
  fi
  [ -n "$made_policy" ] && "${sudo[@]}" rm -f "$policy"
  # Should a service have started anyway (no policy-rc.d honoured), stop
  # it: this script's Keystone is the one the tests use.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${sudo[@]}" systemctl disable --now keystone >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/keystone ]; then
    "${sudo[@]}" /etc/init.d/keystone stop >/dev/null 2>&1 || true
  fi
fi

stop
mv "$conf.new" "$conf"

# keystone-manage's output (and eventlet's noise as Python exits) goes to a
# log; on failure its tail is shown.
manage() {
  if ! keystone-manage --config-file "$conf" "$@" >>"$dir/manage.log" 2>&1; then
    say "keystone-manage $1 failed:"
    tail -n 30 "$dir/manage.log" >&2
    exit 1
  fi
}
user=$(id -un)
group=$(id -gn)
if [ ! -f "$dir/bootstrapped" ]; then
  say "creating the database in $dir"
  manage db_sync
  manage fernet_setup --keystone-user "$user" --keystone-group "$group"
  manage credential_setup --keystone-user "$user" --keystone-group "$group"
  manage bootstrap --bootstrap-password "$password" \
    --bootstrap-admin-url "$url" --bootstrap-public-url "$url" --bootstrap-internal-url "$url" \
    --bootstrap-region-id RegionOne
  touch "$dir/bootstrapped"
else
  manage db_sync # a newer package's migrations
  # An application credential removed with its user or project can leave
  # its role rows behind (SQLite does not enforce Keystone's foreign keys),
  # and the next credential given the freed internal id is refused with a
  # 409 "Duplicate entry found with name …": clear them at each start.
  python3 - "$dir/keystone.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for table in ("application_credential_role", "application_credential_access_rule"):
    db.execute(f"DELETE FROM {table} WHERE application_credential_id NOT IN (SELECT internal_id FROM application_credential)")
db.commit()
PY
fi

say "starting Keystone on 127.0.0.1:$port"
# Keystone's WSGI application reads its configuration from the files this
# variable names; uWSGI serves it on loopback with one process and one
# thread: SQLite refuses ("database is locked") a transaction that reads and
# then writes while another writes, which Keystone answers with a 500; and
# one process keeps the in-memory cache the one truth. uWSGI's HTTP sockets close a connection after some answers
# without saying so, and a client that reuses it for a POST or PATCH sees
# it reset: every answer says "Connection: close" instead.
OS_KEYSTONE_CONFIG_FILES=$conf uwsgi --plugin python3 \
  --http-socket "127.0.0.1:$port" --add-header "Connection: close" --wsgi-file /usr/bin/keystone-wsgi-public \
  --master --processes 1 --threads 1 --die-on-term --lazy-apps \
  --pidfile "$dir/uwsgi.pid" --daemonize "$dir/uwsgi.log" --env "OS_KEYSTONE_CONFIG_FILES=$conf"

for _ in $(seq 1 120); do
  if answering; then
    echo "$url"
    exit 0
  fi
  sleep 0.5
done
say "Keystone did not answer on $url within 60 s; see $dir/uwsgi.log and $dir/keystone.log"
tail -n 30 "$dir/uwsgi.log" >&2 || true
exit 1
