#!/bin/sh
# reaper.sh OWNER_PID SERVICE_PID: kills SERVICE_PID once OWNER_PID is gone, so a test
# service never outlives the process that started it, even when that one is SIGKILLed.
owner=$1; svc=$2
while kill -0 "$owner" 2>/dev/null && kill -0 "$svc" 2>/dev/null; do sleep 1; done
if kill -0 "$svc" 2>/dev/null; then
  kill -TERM "$svc" 2>/dev/null
  i=0; while [ $i -lt 15 ] && kill -0 "$svc" 2>/dev/null; do sleep 1; i=$((i+1)); done
  kill -KILL "$svc" 2>/dev/null
fi
exit 0
