#!/bin/bash
# Entry point of the kafka service in docker-compose.yml: formats the storage on first
# start with the SCRAM users whose passwords deploy/setup.sh wrote (admin and one per role),
# then runs the broker. A formatted volume is left as it is (--ignore-formatted); add a user
# to a running cluster with kafka-configs.sh --alter --add-config 'SCRAM-SHA-512=[...]'.
# The command-kafka service (profile federation) runs the same config as a second cluster:
# KAFKA_SERVICE_NAME and KAFKA_HOST_PORT replace its service name and host port in a copy,
# KAFKA_USERS lists its users (a password file each in the secrets folder).
set -euo pipefail
SECRETS=${KAFKA_SECRETS:-/etc/kafka/secrets}
CONFIG=${KAFKA_CONFIG:-/etc/kafka/vigil/server.properties}
BIN=${KAFKA_BIN:-/opt/kafka/bin}
NAME=${KAFKA_SERVICE_NAME:-kafka}
HOST_PORT=${KAFKA_HOST_PORT:-29092}
read -r -a USERS <<< "${KAFKA_USERS:-admin gw-1 worker analyst console relay}"
if [ "$NAME" != kafka ] || [ "$HOST_PORT" != 29092 ]; then
  sed -e "s#@kafka:9093#@$NAME:9093#" -e "s#INTERNAL://kafka:9092#INTERNAL://$NAME:9092#" -e "s#HOST://localhost:29092#HOST://localhost:$HOST_PORT#" "$CONFIG" > "${TMPDIR:-/tmp}/server.properties"
  CONFIG=${TMPDIR:-/tmp}/server.properties
fi
scram=()
for user in "${USERS[@]}"; do
  pass=$(tr -d '\n' < "$SECRETS/$user.pass")
  scram+=(--add-scram "SCRAM-SHA-512=[name=$user,password=$pass]")
done
"$BIN/kafka-storage.sh" format --ignore-formatted -t "${CLUSTER_ID:?CLUSTER_ID must be set}" -c "$CONFIG" "${scram[@]}"
exec "$BIN/kafka-server-start.sh" "$CONFIG"
