"""A kafka-python group member that offers only the assignment protocols named on its command line.

Usage: kafka_python_member.py BROKER TOPIC GROUP PROTOCOL[,PROTOCOL]
It polls without committing (so whoever consumes after it starts where the group started) and
leaves the group on SIGTERM, as a client that is stopped cleanly does.
"""
import signal
import sys

from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

broker, topic, group, protocols = sys.argv[1:5]
assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
consumer = KafkaConsumer(
    topic,
    bootstrap_servers=[broker],
    group_id=group,
    enable_auto_commit=False,
    auto_offset_reset="earliest",
    partition_assignment_strategy=[assignors[name] for name in protocols.split(",")],
)
stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
print("polling", flush=True)
while not stopping:
    consumer.poll(timeout_ms=200)
consumer.close(autocommit=False)
print("left the group", flush=True)
