#!/bin/bash
printf '%s\x1f' "$@" >> "$LOG"; echo >> "$LOG"
args=" $* "
if [[ "$args" == *" debug "* ]]; then
  for a in "$@"; do case "$a" in --custom=*) echo "custom $(cat "${a#--custom=}") env=$KUBECTL_DEBUG_CUSTOM_PROFILE" >> "$LOG";; esac; done
  exit 0
fi
if [[ "$args" == *" iptables -I "* ]]; then
  for ((i=1; i<=$#; i++)); do [ "${!i}" = "--comment" ] && j=$((i+1)) && echo "${!j}" >> "$STATE"; done
  exit 0
fi
if [[ "$args" == *" iptables -L "* ]]; then
  echo "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)"
  echo "    pkts      bytes target     prot opt in     out     source               destination"
  while read -r tag; do echo "       7      420            all  --  eth0   *       0.0.0.0/0            0.0.0.0/0            STRING match  \"x\" ALGO name bm /* $tag */"; done < "$STATE"
  exit 0
fi
if [[ "$args" == *" exec "* ]]; then
  # a container that exits at once, reading none of its input
  if [[ "$args" == *" exits-unread "* ]]; then echo "container exited" >&2; exit 3; fi
  exit 0
fi
if [[ "$args" == *" apply "* ]]; then
  input="$(cat)"
  echo "applied $(printf '%s\n' "$input" | grep -E '^kind: ' | sed 's/^kind: //' | sort -u | tr '\n' ',')" >> "$LOG"
  # The first apply holding an Istio resource meets an API server that does not serve its kind yet.
  if printf '%s\n' "$input" | grep -q '^kind: VirtualService' && [ ! -e "$STATE.refused" ]; then
    : > "$STATE.refused"
    echo 'error: resource mapping not found for name: "todolist" namespace: "default": no matches for kind "VirtualService" in version "networking.istio.io/v1"' >&2
    exit 1
  fi
  exit 0
fi
if [[ "$args" == *" get secret -n istio-system istio-ca-secret "* ]]; then cat "$SECRET_JSON"; exit 0; fi
if [[ "$args" == *" get node "* ]]; then exit 0; fi
if [[ "$args" == *" port-forward "* ]]; then echo "Forwarding from 127.0.0.1:45678 -> 15014"; exec sleep 60; fi
if [[ "$args" == *" wait "* || "$args" == *" rollout "* ]]; then exit 0; fi
ready='"conditions":[{"type":"Ready","status":"True"}]'
pod() { echo "{\"metadata\":{\"name\":\"$1\"$2},\"spec\":{\"containers\":[{\"name\":\"callme\"},{\"name\":\"istio-proxy\"}]},\"status\":{\"podIP\":\"10.244.0.$3\",$ready,\"containerStatuses\":[{\"name\":\"callme\",\"restartCount\":2},{\"name\":\"istio-proxy\",\"restartCount\":0}],\"ephemeralContainerStatuses\":[{\"name\":\"tsmesh-wire\",\"state\":{\"running\":{}}}]}}"; }
if [[ "$args" == *" get pod -n default callme-"* ]]; then pod callme-a "" 7; exit 0; fi
if [[ "$args" == *" get pod "* ]]; then
  echo "{\"items\":[$(pod callme-old ',"deletionTimestamp":"2026-01-01T00:00:00Z"' 5),$(pod callme-a "" 7),$(pod callme-b "" 8)]}"
  exit 0
fi
exit 1
