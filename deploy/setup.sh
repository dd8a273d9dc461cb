#!/bin/bash
# Makes the secrets of the secure docker-compose stack in deploy/secrets/ (git-ignored),
# once: a CA (vigil pki init), certificates for Mosquitto, Kafka, the gateway gw-1 and the
# console, a random password per Kafka user (admin, gw-1, worker, analyst, console, relay), Kafka's PEM keystore and
# the file its config provider reads the admin password from; for the federation profile,
# the same for the command cluster (command-kafka: admin, relay and analyst) and the relay's keys
# (relay/: a relay key per relayed stream, its Ed25519 signing key and public half). What exists is kept, so it is
# safe to run again (e.g. after adding a gateway to it). Run from anywhere:
#   deploy/setup.sh                 # with this clone's vigil (npm ci && npm run build first)
#   VIGIL=vigil deploy/setup.sh     # with an installed vigil
# As root it also hands each file to the user its container runs as (Mosquitto 1883, Kafka
# and Vigil 1000), since key files stay 0600; otherwise it prints the chown to run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
S=${DEPLOY_SECRETS:-$here/secrets}
read -r -a VIGIL <<< "${VIGIL:-node $here/../bin/vigil.js}"
umask 077
mkdir -p "$S"

[ -f "$S/pki/ca.key" ] || "${VIGIL[@]}" pki init --dir "$S/pki" --name "Vigil CA $(hostname -s 2>/dev/null || echo deployment)" > /dev/null
issue() { # role name [options]
  [ -f "$S/pki/$1/$2.crt" ] || "${VIGIL[@]}" pki issue "$@" --dir "$S/pki" > /dev/null
}
issue broker mosquitto --dns mosquitto,localhost --ip 127.0.0.1
issue broker kafka --dns kafka,localhost --ip 127.0.0.1
issue gateway gw-1
issue console console --dns console,localhost --ip 127.0.0.1
issue broker command-kafka --dns command-kafka,localhost --ip 127.0.0.1

for user in admin gw-1 worker analyst console relay command-admin command-relay command-analyst; do
  [ -s "$S/$user.pass" ] || { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; echo; } > "$S/$user.pass"
done
cp "$S/pki/ca.crt" "$S/ca.crt"
cat "$S/pki/broker/kafka.key" "$S/pki/broker/kafka.crt" > "$S/kafka.pem"
cat "$S/pki/broker/command-kafka.key" "$S/pki/broker/command-kafka.crt" > "$S/command-kafka.pem"
printf 'password=%s\n' "$(tr -d '\n' < "$S/admin.pass")" > "$S/kafka-admin.properties"
printf 'password=%s\n' "$(tr -d '\n' < "$S/command-admin.pass")" > "$S/command-kafka-admin.properties"
chmod 0644 "$S/ca.crt"

# The relay's keys (profile federation): one relay key per stream of deploy/relay/relay-policy.yaml
# (the command centre gets these), and its signing key (the command centre and auditors get relay-signing.pub).
mkdir -p "$S/relay"
for stream in derived.vitals derived.geofence; do
  [ -f "$S/relay/relay.$stream.key.json" ] || "${VIGIL[@]}" keys gen stream "relay.north.$stream-1" -o "$S/relay/relay.$stream.key.json" > /dev/null
done
[ -f "$S/relay/relay-signing.key.json" ] || "${VIGIL[@]}" keys gen signing relay.north-to-command -o "$S/relay/relay-signing.key.json" --public-out "$S/relay/relay-signing.pub" > /dev/null

own() { # uid files...
  local uid=$1; shift
  if [ "$(id -u)" = 0 ]; then chown "$uid:$uid" "$@"; else echo "  sudo chown $uid:$uid $*"; fi
}
[ "$(id -u)" = 0 ] || echo "deploy/setup.sh: not root; so that the containers can read their 0600 files, run:"
own 1883 "$S/pki/broker/mosquitto.key" "$S/pki/broker/mosquitto.crt"
own 1000 "$S/kafka.pem" "$S/kafka-admin.properties" "$S/admin.pass" "$S/gw-1.pass" "$S/worker.pass" "$S/console.pass" "$S/pki/gateway/gw-1.key" "$S/pki/console/console.key" \
  "$S/relay.pass" "$S/command-kafka.pem" "$S/command-kafka-admin.properties" "$S/command-admin.pass" "$S/command-relay.pass" "$S/command-analyst.pass" "$S/relay/relay-signing.key.json" "$S/relay/relay.derived.vitals.key.json" "$S/relay/relay.derived.geofence.key.json"
echo "deploy/setup.sh: secrets in $S (CA key: $S/pki/ca.key; keep it offline once devices are issued)"
