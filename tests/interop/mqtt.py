"""An MQTT sensor as a greenhouse has one: it publishes each reading as a bare
number in text, QoS 1, on an MQTT topic, to nats-server's MQTT listener.

Usage: mqtt.py PORT TOPIC VALUE...   (prints {"published": N} when every
publish is acknowledged)
"""

import json
import sys

import paho.mqtt.client as mqtt


def main() -> None:
    port, topic, values = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="greenhouse-t1")
    client.connect("127.0.0.1", port)
    client.loop_start()
    infos = [client.publish(topic, v, qos=1) for v in values]
    for info in infos:
        info.wait_for_publish(timeout=20)
        if not info.is_published():
            sys.exit(f"publish {info.mid} not acknowledged")
    client.loop_stop()
    client.disconnect()
    print(json.dumps({"published": len(infos)}))


if __name__ == "__main__":
    main()
