#!/bin/bash
# One binary reward, no per-test results.
if [ "$(tr -d '[:space:]' < /app/answer.txt 2>/dev/null)" = "37" ]; then
  echo 1 > /logs/verifier/reward.txt
else
  echo 0 > /logs/verifier/reward.txt
fi
