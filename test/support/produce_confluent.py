"""Publishes keyed records with confluent-kafka-python (librdkafka), configured as docs/producers.md says, and prints
each key's partition as the broker acknowledged it: one JSON object per line, {"key", "partition"}.

usage: produce_confluent.py <bootstrap> <topic> <partitioner or "default"> <key>...
"""
import json
import sys

from confluent_kafka import Producer


def main() -> None:
    bootstrap, topic, partitioner, *keys = sys.argv[1:]
    config = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"}
    if partitioner != "default":
        config["partitioner"] = partitioner
    producer = Producer(config)
    out = []

    def delivered(err, msg):
        if err is not None:
            raise SystemExit(f"delivery failed: {err}")
        out.append({"key": msg.key().decode(), "partition": msg.partition()})

    for key in keys:
        producer.produce(topic, key=key.encode(), value=b"{}", on_delivery=delivered)
    producer.flush(30)
    if len(out) != len(keys):
        raise SystemExit(f"{len(keys) - len(out)} records not acknowledged")
    for o in out:
        print(json.dumps(o))


if __name__ == "__main__":
    main()
