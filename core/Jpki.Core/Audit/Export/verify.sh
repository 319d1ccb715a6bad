#!/usr/bin/env bash
# Verifies this JPKI audit export with bash, openssl and coreutils only (see README.txt).
# Exit 0 and "OK: ..." when every record chains and every checkpoint signature verifies.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")"
fail() { echo "FAILED: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The checkpoint keys. A checkpoint names its key by the SHA-256 of the key's SubjectPublicKeyInfo (DER).
for cert in checkpoint-key-*.pem; do
  [ -f "$cert" ] || fail "no checkpoint key certificate in the export"
  openssl x509 -in "$cert" -noout -pubkey > "$work/pub.pem" 2>/dev/null || fail "$cert is not a certificate"
  id=$(openssl pkey -pubin -in "$work/pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
  mv "$work/pub.pem" "$work/key-$id.pem"
  echo "checkpoint key $id: $(openssl x509 -in "$cert" -noout -subject -fingerprint -sha256 | tr '\n' ' ')"
done

# 2. Each checkpoint signs the bytes {"hash":"H","seq":N,"time":T} (no spaces, no newline), ECDSA or RSA with SHA-256.
declare -A signed
cp_re='^\{"hash":"([0-9a-f]{64})","keyId":"([0-9a-f]{64})","seq":([0-9]+),"signature":"([A-Za-z0-9+/=]+)","time":(-?[0-9]+)\}$'
n=0
while IFS= read -r line || [ -n "$line" ]; do
  [[ $line =~ $cp_re ]] || fail "checkpoints.jsonl line $((n + 1)) is not a checkpoint"
  hash=${BASH_REMATCH[1]} key=${BASH_REMATCH[2]} seq=${BASH_REMATCH[3]} sig=${BASH_REMATCH[4]} time=${BASH_REMATCH[5]}
  [ -f "$work/key-$key.pem" ] || fail "checkpoint $seq is signed by key $key, whose certificate is not in the export"
  printf '{"hash":"%s","seq":%s,"time":%s}' "$hash" "$seq" "$time" > "$work/statement"
  printf '%s' "$sig" | base64 -d > "$work/signature.der"
  openssl dgst -sha256 -verify "$work/key-$key.pem" -signature "$work/signature.der" "$work/statement" > /dev/null 2>&1 \
    || fail "checkpoint $seq: the signature does not verify"
  signed[$seq]=$hash
  n=$((n + 1))
done < checkpoints.jsonl
[ "$n" -gt 0 ] || fail "the export holds no checkpoint"

# 3. Each record's hash is the SHA-256 of its line (without the newline); its "prev" is the previous record's hash.
#    A tombstone (a record purged under retention) states its hash; the next record's hash covers it.
rec_re='"prev":"([0-9a-f]{64})","seq":([0-9]+),"subject":"([^"\\]|\\.)*","time":-?[0-9]+\}$'
tomb_re='^\{"hash":"([0-9a-f]{64})","prev":"([0-9a-f]{64})","purgedBy":[0-9]+,"seq":([0-9]+),"time":-?[0-9]+\}$'
first='' last='' prev='' covered=''
while IFS= read -r line || [ -n "$line" ]; do
  if [[ $line =~ $tomb_re ]]; then
    hash=${BASH_REMATCH[1]} p=${BASH_REMATCH[2]} seq=${BASH_REMATCH[3]}
  elif [[ $line == '{"action":'* && $line =~ $rec_re ]]; then
    p=${BASH_REMATCH[1]} seq=${BASH_REMATCH[2]}
    hash=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
  else
    fail "the line after record ${last:-(none)} in records.jsonl is not an audit record"
  fi
  if [ -z "$first" ]; then
    first=$seq
    before=${signed[$((seq - 1))]:-}
    [ -z "$before" ] || [ "$before" = "$p" ] || fail "record $seq does not link to the signed checkpoint at $((seq - 1))"
  else
    [ "$seq" -eq $((last + 1)) ] || fail "record $((last + 1)) is missing (the next record is $seq)"
    [ "$p" = "$prev" ] || fail "record $last was altered: its line does not hash to the prev of record $seq"
  fi
  if [ -n "${signed[$seq]:-}" ]; then
    [ "${signed[$seq]}" = "$hash" ] || fail "record $seq was altered: its hash is not the one the checkpoint at $seq signed"
    covered=$seq
  fi
  prev=$hash last=$seq
done < records.jsonl
[ -n "$first" ] || fail "the export holds no record"
[ "$covered" = "$last" ] || fail "records after ${covered:-(none)} up to $last are not covered by a signed checkpoint"
echo "OK: records $first..$last chain correctly and $n checkpoint signatures verify; compare the key fingerprint above with the one you pinned"
