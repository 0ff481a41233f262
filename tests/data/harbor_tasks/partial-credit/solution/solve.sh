#!/bin/bash
for f in a b c d; do echo "$f" | tr a-z A-Z > "/app/out/$f.txt"; done
