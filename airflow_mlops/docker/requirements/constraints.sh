#!/bin/sh
# constraints.sh REQUIREMENTS OUT - the lock (requirements.txt) as a pip constraints file.
# Constraints cannot carry extras (moto[server]): they are stripped. xgboost-cpu is xgboost
# without the CUDA/NCCL libraries: it gets xgboost's pin.
set -eu
sed -E -e 's/\[[^]]*\]//' -e '/^xgboost==/{p;s/^xgboost==/xgboost-cpu==/;}' "$1" > "$2"
