#!/bin/sh
# hap COMMAND... - one command on HAProxy's runtime API (stats socket of
# docker/haproxy.cfg), e.g. hap "set server psop_api/api1 state drain".
printf '%s\n' "$*" | socat -t 5 stdio unix-connect:/run/haproxy/admin.sock
