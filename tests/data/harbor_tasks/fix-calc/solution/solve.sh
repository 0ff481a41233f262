#!/bin/bash
# HARBOR-HIDDEN-SOLUTION-MARKER-5e0d
set -e
sed -i 's/return a - b/return a + b/; s|sum(values) / (len(values) + 1)|sum(values) / len(values)|' /app/calc.py
