#!/bin/bash
# Entry point of the kafka service in docker-compose.yml: formats the storage on first
# start with the SCRAM users whose passwords deploy/setup.sh wrote (admin and one per role),
# then runs the broker. A formatted volume is left as it is (--ignore-formatted); add a user
# to a running cluster with kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[...]'.
set -euo pipefail
SECRETS=${KAFKA_SECRETS:-/etc/kafka/secrets}
CONFIG=${KAFKA_CONFIG:-/etc/kafka/vigil/server.properties}
BIN=${KAFKA_BIN:-/opt/kafka/bin}
scram=()
for user in admin gw-1 worker analyst console; do
  pass=$(tr -d '\n' < "$SECRETS/$user.pass")
  scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pass]")
done
"$BIN/kafka-storage.sh" format --ignore-formatted -t "${CLUSTER_ID:?CLUSTER_ID must be set}" -c "$CONFIG" "${scram[@]}"
exec "$BIN/kafka-server-start.sh" "$CONFIG"
