#!/bin/bash
# The stand-in's answer to the official health check: the broker port accepts connections.
exec 3<>/dev/tcp/127.0.0.1/9092
