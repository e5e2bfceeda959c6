#!/usr/bin/env bash
# make_env.sh [OUT] - write OUT (default .env) from .env.example, every empty password and
# secret filled with a fresh random URL-safe value (AIRFLOW_FERNET_KEY: a Fernet key).
# Never overwrites an existing file. Needs only coreutils.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.env}
if [[ -e $out ]]; then
  echo "make_env: $out exists; not overwritten" >&2
  exit 1
fi
random() { head -c "$1" /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }
umask 077
while IFS= read -r line || [[ -n $line ]]; do
  if [[ $line =~ ^([A-Z0-9_]+)=$ ]]; then
    case ${BASH_REMATCH[1]} in
      AIRFLOW_FERNET_KEY) line+=$(random 32) ;;  # 44 chars, url-safe base64 of 32 bytes
      AIRFLOW_JWT_SECRET) line+=$(random 48) ;;  # 64 chars: HS512 warns on a shorter key
      *) line+=$(random 24) ;;
    esac
  fi
  printf '%s\n' "$line"
done < .env.example > "$out"
echo "make_env: wrote $out (mode 600); the passwords are in it, keep it out of git"
