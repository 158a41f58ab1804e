"""An MQTT sensor as a greenhouse has one, and an MQTT dashboard: the sensor
publishes each reading as a bare number in text, QoS 1, on an MQTT topic to
nats-server's MQTT listener; the dashboard subscribes to the translations'
topic and reads them as JSON.

Usage: mqtt.py PORT TOPIC OUT_TOPIC EXPECTED VALUE...
Prints {"published": N, "received": M, "seqs": [...], "first": {...}} once
every publish is acknowledged and EXPECTED translations arrived (or 20 s).
"""

import json
import sys
import threading

import paho.mqtt.client as mqtt


def main() -> None:
    port, topic, out_topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    expected, values = int(sys.argv[4]), sys.argv[5:]
    received, done, subscribed = [], threading.Event(), threading.Event()

    def on_message(_client, _userdata, msg):
        received.append(json.loads(msg.payload))
        if len(received) >= expected:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="greenhouse-t1")
    client.on_message = on_message
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(out_topic, qos=0)
    if not subscribed.wait(20):
        sys.exit("subscription not acknowledged")
    infos = [client.publish(topic, v, qos=1) for v in values]
    for info in infos:
        info.wait_for_publish(timeout=20)
        if not info.is_published():
            sys.exit(f"publish {info.mid} not acknowledged")
    done.wait(20)
    client.loop_stop()
    client.disconnect()
    print(json.dumps({
        "published": len(infos),
        "received": len(received),
        "seqs": [t["seq"] for t in received],
        "first": received[0] if received else None,
    }))


if __name__ == "__main__":
    main()
