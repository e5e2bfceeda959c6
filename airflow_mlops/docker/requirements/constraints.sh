#!/bin/sh
# constraints.sh REQUIREMENTS OUT - the lock (requirements.txt) as a pip constraints file.
# Constraints cannot carry extras (moto[server]): they are stripped. xgboost-cpu is xgboost
# without the CUDA/NCCL libraries: it gets xgboost's pin. Then the pip every image builds
# with (the Airflow base image's): pip before 23.3 ignores extras spelled differently from
# the package's normalised name (justext's lxml[html_clean]), so `pip install --constraint OUT
# pip` comes first.
set -eu
sed -E -e 's/\[[^]]*\]//' -e '/^xgboost==/{p;s/^xgboost==/xgboost-cpu==/;}' "$1" > "$2"
echo "pip==26.1.2" >> "$2"
