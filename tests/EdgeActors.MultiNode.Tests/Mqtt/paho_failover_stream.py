#!/usr/bin/python3
"""A device written with Debian's python3-paho-mqtt (1.6.1), nothing of ours, that knows a list of brokers (the MQTT
brokers of several edges, like a real gateway) and streams telemetry at QoS 1 over TLS with a client token: readings
seq 1..N in JSON batches of BATCH, one batch produced every INTERVAL seconds from its first CONNACK on, up to
WINDOW publishes in flight.

When its connection drops (its edge was killed, or the broker closed it without a PUBACK) it connects to the next
broker of the list (round robin, a short pause after a refusal) with a new clean session and publishes again, in
order, every batch whose PUBACK it did not get, with the same seqs (the device's own bookkeeping: a new broker has
no session of the old one to resend from). It never drops a batch: it ends when every batch was PUBACKed.

Prints while it runs, one line each:
  PROGRESS {"acked":<batches PUBACKed>,"readings":<readings PUBACKed>,"broker":"host:port"}   after each PUBACK
  CONNECTED {"broker":"host:port","resending":<batches published again on it>}                after each CONNACK
  DROPPED {"broker":"host:port","in_flight":<batches without PUBACK>,"why":"..."}              after each lost connection
and at the end one line
  RESULT {"readings":N,"batches":B,"acked":..,"unacked":[first seqs],"published":..,"resent":..,"resent_seqs":[..],
          "acked_by":{"host:port":batches},"connections":[..],"answers":..,"duplicates":[..],"errors":[..]}
where answers/duplicates/errors come from the device's ack topic (informational: an answer sent by a broker that is
killed right after may never arrive). Exit code 0 when every batch was PUBACKed, 1 when not, 2 when it gave up
(DEADLINE seconds in all).

usage: paho_failover_stream.py CAFILE DEVICE USERNAME TOKEN N BATCH INTERVAL WINDOW DEADLINE HOST:PORT [HOST:PORT ...]
"""
import json
import sys
import time

import paho.mqtt.client as mqtt

ca, device, user, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
n, batch_size, interval, window, deadline_s = int(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7]), int(sys.argv[8]), float(sys.argv[9])
brokers = [(hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])) for hp in sys.argv[10:]]
if not brokers or n < 1 or batch_size < 1 or window < 1:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
telemetry_topic = f"edgeactors/devices/{device}/telemetry"
ack_topic = f"edgeactors/devices/{device}/ack"


def line(kind, obj):
    print(kind + " " + json.dumps(obj), flush=True)


# ---- the data: batches of consecutive seqs, each payload built once (a resend is the same bytes, the same seqs)
start_ms = int(time.time() * 1000)
batches = []
for first in range(1, n + 1, batch_size):
    seqs = range(first, min(first + batch_size, n + 1))
    readings = [{"seq": s, "ts": start_ms + s, "values": [20.0 + s % 7, 50.0 - s % 3, 1.0, -3.5]} for s in seqs]
    batches.append({"first": first, "count": len(readings), "payload": json.dumps({"readings": readings})})

acked = {}            # batch index -> "host:port" of the broker whose PUBACK it got
published = set()     # batch indexes published at least once
resent = []           # first seq of every publish that repeats an earlier one
connections = []      # "host:port" of every session, in order
answers, duplicates, errors = [], [], []
began = time.time()
producing_since = None  # the first CONNACK: the device produces from then on, whether connected or not
next_broker = 0


def out_of_time():
    return time.time() - began > deadline_s


def produced():
    """Batches the device has produced by now (it produces one per interval whether connected or not)."""
    if producing_since is None:
        return 0
    return min(len(batches), int((time.time() - producing_since) / interval) + 1) if interval > 0 else len(batches)


def on_message(client, userdata, msg):
    try:
        a = json.loads(msg.payload)
    except ValueError:
        errors.append("unparsable answer: " + repr(msg.payload[:100]))
        return
    answers.append(a)
    if "error" in a:
        errors.append(a["error"])
    for r in a.get("rejected", []):
        (duplicates if r.get("reason") == "Duplicate" else errors).append(r["seq"] if r.get("reason") == "Duplicate" else r)


def connect():
    """One session with the next broker that accepts: (client, state, "host:port"), or None when time ran out."""
    global next_broker
    while not out_of_time():
        host, port = brokers[next_broker % len(brokers)]
        next_broker += 1
        name = f"{host}:{port}"
        state = {"rc": None, "lost": None, "subscribed": False, "inflight": {}}
        # a new client per session: clean session, nothing of paho's own queue carried over (the device resends)
        c = mqtt.Client(client_id=device, clean_session=True, protocol=mqtt.MQTTv311)
        c.username_pw_set(user, token)
        c.tls_set(ca_certs=ca)
        c.max_inflight_messages_set(window)
        c.on_connect = lambda cl, u, f, rc, s=state: s.__setitem__("rc", rc)
        c.on_disconnect = lambda cl, u, rc, s=state: s.__setitem__("lost", s["lost"] or f"disconnected rc={rc}")
        c.on_subscribe = lambda cl, u, mid, granted, s=state: s.__setitem__("subscribed", True)
        c.on_message = on_message
        c.on_publish = lambda cl, u, mid, s=state, b=name: on_puback(s, b, mid)
        try:
            c.connect(host, port, keepalive=5)
        except OSError as e:  # refused (the edge is down), reset, TLS failure
            line("REFUSED", {"broker": name, "why": str(e)})
            time.sleep(0.3)
            continue
        end = time.time() + 10
        while state["rc"] is None and state["lost"] is None and time.time() < end:
            c.loop(timeout=0.05)
        if state["rc"] != 0:
            line("REFUSED", {"broker": name, "why": state["lost"] or f"CONNACK rc={state['rc']}"})
            try:
                c.socket() and c.socket().close()
            except OSError:
                pass
            time.sleep(0.3)
            continue
        c.subscribe(ack_topic, qos=1)
        connections.append(name)
        return c, state, name
    return None


def on_puback(state, broker, mid):
    i = state["inflight"].pop(mid, None)
    if i is None or i in acked:
        return
    acked[i] = broker
    line("PROGRESS", {"acked": len(acked), "readings": sum(batches[j]["count"] for j in acked), "broker": broker})


session = None
while len(acked) < len(batches) and not out_of_time():
    if session is None:
        session = connect()
        if session is None:
            break
        client, state, name = session
        if producing_since is None:
            producing_since = time.time()
        line("CONNECTED", {"broker": name, "resending": len([i for i in published if i not in acked])})
    # publish, in seq order, what is produced and neither PUBACKed nor in flight on this session, up to the window
    in_flight = set(state["inflight"].values())
    for i in range(produced()):
        if len(in_flight) >= window:
            break
        if i in acked or i in in_flight:
            continue
        info = client.publish(telemetry_topic, batches[i]["payload"], qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            state["lost"] = state["lost"] or f"publish failed rc={info.rc}"
            break
        if i in published:
            resent.append(batches[i]["first"])
        published.add(i)
        state["inflight"][info.mid] = i
        in_flight.add(i)
    rc = client.loop(timeout=0.02)
    if rc != mqtt.MQTT_ERR_SUCCESS and state["lost"] is None:
        state["lost"] = f"loop rc={rc} ({mqtt.error_string(rc)})"
    if state["lost"] is not None:
        # whatever was in flight on the lost session goes again on the next one (same payload, same seqs)
        line("DROPPED", {"broker": name, "in_flight": len(state["inflight"]), "why": state["lost"]})
        try:
            client.socket() and client.socket().close()
        except OSError:
            pass
        session = None

# a moment for the last answers on the ack topic, then leave cleanly
if session is not None:
    end = time.time() + 1.0
    while time.time() < end and state["lost"] is None:
        client.loop(timeout=0.05)
    client.disconnect()

acked_by = {}
for b in acked.values():
    acked_by[b] = acked_by.get(b, 0) + 1
result = {
    "readings": n, "batches": len(batches), "acked": len(acked),
    "unacked": [batches[i]["first"] for i in range(len(batches)) if i not in acked],
    "published": len(published), "resent": len(resent), "resent_seqs": resent, "acked_by": acked_by,
    "connections": connections, "answers": len(answers), "duplicates": sorted(set(duplicates)), "errors": errors[:20],
    "seconds": round(time.time() - began, 2),
}
if len(acked) < len(batches) and out_of_time():
    result["error"] = f"timed out after {deadline_s}s"
line("RESULT", result)
sys.exit(0 if len(acked) == len(batches) else (2 if out_of_time() else 1))
