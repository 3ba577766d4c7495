#!/usr/bin/python3
"""What a Pi would run instead of cliser-pi-client: a paho-mqtt client that reads a (simulated)
thermometer every interval and publishes the reading at QoS 1, the way a user would write it.

Usage: paho-client.py HOST PORT CLIENT_ID [INTERVAL_SECONDS]
"""
import random
import signal
import sys
import time

import paho.mqtt.client as mqtt


def main():
    host, port, client_id = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    client = mqtt.Client(client_id=client_id, clean_session=True)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    topic = "cliser/" + client_id
    seq = 0
    next_due = time.monotonic() + interval
    while running:
        time.sleep(max(0.0, next_due - time.monotonic()))
        next_due += interval
        seq += 1
        celsius = 20.0 + random.uniform(-5.0, 5.0)
        client.publish(topic, "t=%.3f#%d" % (celsius, seq), qos=1)
    client.loop_stop()
    client.disconnect()


if __name__ == "__main__":
    main()
