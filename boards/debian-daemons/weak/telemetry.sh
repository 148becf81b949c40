#!/bin/sh
# The weak device's telemetry client: every few seconds it reports to its
# fixed server (198.19.1.1:1883) over plain MQTT, logging in with the
# device's own account: readings and password both cross the link in the clear.
while :; do
    mosquitto_pub -h 198.19.1.1 -p 1883 -i debian-weak-0001 -u admin -P admin \
        -t devices/debian-weak-0001/telemetry -m '{"temperature":21.5,"uptime":1}' -q 1 \
        >/dev/null 2>&1
    sleep "${TELEMETRY_INTERVAL:-3}"
done
