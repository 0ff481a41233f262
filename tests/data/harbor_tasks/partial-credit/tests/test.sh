#!/bin/bash
# A continuous reward (the share of files right) in reward.json, and a CTRF report.
python3 /tests/check.py
