#!/bin/sh
# Prepares MinIO for the platform (run by the minio-setup Job, from the minio/mc image):
# creates the buckets, keeps them private (no anonymous access of any kind), and gives the
# platform's own access key read/write on those buckets and nothing else — the root credentials
# stay with MinIO. Safe to run again: every step leaves an already-prepared server unchanged.
#
# Environment: MINIO_URL, BUCKETS (space-separated), MINIO_ROOT_USER, MINIO_ROOT_PASSWORD,
# MINIO_ACCESS_KEY, MINIO_SECRET_KEY; the policy document is /config/rps-buckets-policy.json.
set -eu

target=rps
policy=rps-buckets

attempt=0
until mc alias set "$target" "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null 2>&1; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 60 ]; then
        echo "MinIO at $MINIO_URL did not accept the root credentials after $attempt tries" >&2
        exit 1
    fi
    echo "waiting for MinIO at $MINIO_URL ($attempt)"
    sleep 5
done

for bucket in $BUCKETS; do
    mc mb --ignore-existing "$target/$bucket"
    mc anonymous set none "$target/$bucket"
done

if [ "$MINIO_ACCESS_KEY" = "$MINIO_ROOT_USER" ]; then
    echo "MINIO_ACCESS_KEY must differ from MINIO_ROOT_USER: the platform gets its own key" >&2
    exit 1
fi

mc admin policy create "$target" "$policy" /config/rps-buckets-policy.json
mc admin user add "$target" "$MINIO_ACCESS_KEY" "$MINIO_SECRET_KEY"
# Attaching a policy that is already attached is an error for mc, so look first.
case "$(mc admin user info "$target" "$MINIO_ACCESS_KEY")" in
    *"$policy"*) echo "policy $policy already attached to $MINIO_ACCESS_KEY" ;;
    *) mc admin policy attach "$target" "$policy" --user "$MINIO_ACCESS_KEY" ;;
esac
echo "MinIO ready: private buckets $BUCKETS"
