#!/usr/bin/python3
"""A device written with Debian's python3-paho-mqtt (1.6.1), nothing of ours: a QoS 1 session (clean session off) over
TLS with a client token that publishes N readings, loses the PUBACK of one publish (the socket is closed with the
PUBACK unread), reconnects, and lets paho resend it with DUP set. Prints one line
RESULT {"sent":..,"acked":..,"accepted":..,"duplicates":[..],"errors":[..]} and exits 0 when every publish was
acknowledged and every reading was accepted exactly once (the resend answered as Duplicate).

usage: paho_qos1_session.py HOST PORT CAFILE DEVICE USERNAME TOKEN N LOSE_AT
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

host, port, ca, device, user, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
n, lose_at = int(sys.argv[7]), int(sys.argv[8])
ack_topic = f"edgeactors/devices/{device}/ack"
acks = []
lock = threading.Lock()


def deadline(seconds, what):
    end = time.time() + seconds

    def check():
        if time.time() > end:
            print(f"RESULT {json.dumps({'error': 'timed out: ' + what})}", flush=True)
            sys.exit(2)
    return check


# ---- the listener: its own connection, subscribed to the device's ack topic before anything is published
def on_message(client, userdata, msg):
    with lock:
        acks.append(json.loads(msg.payload))


subscribed = threading.Event()
listener = mqtt.Client(client_id=device + "-listener", clean_session=True, protocol=mqtt.MQTTv311)
listener.username_pw_set(user, token)
listener.tls_set(ca_certs=ca)
listener.on_message = on_message
listener.on_subscribe = lambda c, u, mid, granted: subscribed.set()
listener.on_connect = lambda c, u, f, rc: c.subscribe(ack_topic, qos=1) if rc == 0 else print(f"listener connect refused rc={rc}", flush=True)
listener.connect(host, port, keepalive=30)
listener.loop_start()
if not subscribed.wait(20):
    print('RESULT {"error": "listener did not subscribe"}', flush=True)
    sys.exit(2)

# ---- the device: a persistent session, driven by hand so a PUBACK can be left unread
acked = set()
device_client = mqtt.Client(client_id=device, clean_session=False, protocol=mqtt.MQTTv311)
device_client.username_pw_set(user, token)
device_client.tls_set(ca_certs=ca)
device_client.max_inflight_messages_set(1)
device_client.on_publish = lambda c, u, mid: acked.add(mid)
connected = {"rc": None}
device_client.on_connect = lambda c, u, f, rc: connected.__setitem__("rc", rc)
device_client.connect(host, port, keepalive=30)
check = deadline(20, "connect")
while connected["rc"] is None:
    device_client.loop(timeout=0.1)
    check()
if connected["rc"] != 0:
    print(f"RESULT {json.dumps({'error': 'connect refused rc=' + str(connected['rc'])})}", flush=True)
    sys.exit(2)

mids = []
now = int(time.time() * 1000)
for seq in range(n):
    payload = json.dumps({"seq": seq, "ts": now + seq, "values": [20.0 + seq % 5, 50.0, 1.0, -3.5]})
    info = device_client.publish(f"edgeactors/devices/{device}/telemetry", payload, qos=1)
    mids.append(info.mid)
    if seq == lose_at:
        # the broker processes the publish and sends its PUBACK; the device never reads it: the connection drops
        time.sleep(1.0)
        device_client.socket().close()
        connected["rc"] = None
        device_client.reconnect()  # clean session off: paho resends the unacknowledged publish with DUP set
        check = deadline(20, "reconnect")
        while connected["rc"] is None:
            device_client.loop(timeout=0.1)
            check()
    check = deadline(30, f"PUBACK of seq {seq}")
    while info.mid not in acked:
        device_client.loop(timeout=0.1)
        check()

# every publish answered on the ack topic (the resend too)
check = deadline(30, "acks")
while True:
    with lock:
        if len(acks) >= n + 1:
            break
    check()
    time.sleep(0.05)
time.sleep(0.5)
device_client.disconnect()
listener.loop_stop()
with lock:
    accepted = sum(a.get("accepted", 0) for a in acks)
    duplicates = [r["seq"] for a in acks for r in a.get("rejected", []) if r["reason"] == "Duplicate"]
    errors = [a["error"] for a in acks if "error" in a] + [r for a in acks for r in a.get("rejected", []) if r["reason"] != "Duplicate"]
    levels = sorted({a.get("level", "") for a in acks if "level" in a})
result = {"sent": n, "acked": len([m for m in mids if m in acked]), "accepted": accepted, "duplicates": duplicates, "errors": errors,
          "levels": levels, "answers": len(acks)}
print("RESULT " + json.dumps(result), flush=True)
ok = result["acked"] == n and accepted == n and duplicates == [lose_at] and not errors and levels == ["DurableOnEdge"]
sys.exit(0 if ok else 1)
