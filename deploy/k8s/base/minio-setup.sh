#!/bin/sh
# Prepares MinIO for the platform (run by the minio-setup Job, from the minio/mc image): creates
# the buckets, keeps them private (no anonymous access of any kind), and gives each client a user
# of its own with one policy and nothing else (SPEC §13) — the root credentials stay with MinIO:
#
#   APP_ACCESS_KEY       the app: reads the serving cache (policy rps-cache-read)
#   PIPELINE_ACCESS_KEY  the trainer and the promoter: publish it (rps-cache-write)
#   MLFLOW_ACCESS_KEY    the MLflow server: MLflow's artifacts (rps-artifacts-write)
#
# each with its *_SECRET_KEY. Safe to run again: every step leaves a prepared server unchanged,
# except that a changed secret key is set (that is how keys are rotated). A policy attached to
# one of these users other than its own (for example the single rps-buckets policy of earlier
# releases) is detached.
#
# Environment: MINIO_URL, BUCKETS (space-separated), MINIO_ROOT_USER, MINIO_ROOT_PASSWORD, and
# the keys above; the policy documents are /config/<policy>.json (POLICY_DIR overrides).
set -eu

target=rps
policy_dir=${POLICY_DIR:-/config}

fail() {
    echo "minio-setup: $*" >&2
    exit 2
}

# Every key must be there, differ from the root user and from the others.
seen=" $MINIO_ROOT_USER "
for role in APP PIPELINE MLFLOW; do
    eval "key=\${${role}_ACCESS_KEY:-} secret=\${${role}_SECRET_KEY:-}"
    [ -n "$key" ] && [ -n "$secret" ] || fail "${role}_ACCESS_KEY and ${role}_SECRET_KEY must be set"
    case "$seen" in
        *" $key "*) fail "${role}_ACCESS_KEY '$key' is the root user's or another client's: each gets its own" ;;
    esac
    seen="$seen$key "
done

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

# attached_policies KEY: the user's policies, one a line (mc prints "PolicyName: a,b"). Plain
# sh only: the mc image has little else.
attached_policies() {
    info=$(mc admin user info "$target" "$1")
    set -f
    saved_ifs=$IFS
    IFS='
'
    for line in $info; do
        case "$line" in
            PolicyName:*)
                IFS=', '
                for name in ${line#PolicyName:}; do
                    echo "$name"
                done
                ;;
        esac
    done
    IFS=$saved_ifs
    set +f
}

# grant KEY SECRET POLICY: the user exists with this secret and has exactly this policy.
grant() {
    key=$1
    policy=$3
    mc admin policy create "$target" "$policy" "$policy_dir/$policy.json"
    mc admin user add "$target" "$key" "$2"
    has_own=no
    for attached in $(attached_policies "$key"); do
        if [ "$attached" = "$policy" ]; then
            has_own=yes
        else
            mc admin policy detach "$target" "$attached" --user "$key"
        fi
    done
    # Attaching a policy that is already attached is an error for mc, so look first.
    if [ "$has_own" = yes ]; then
        echo "policy $policy already attached to $key"
    else
        mc admin policy attach "$target" "$policy" --user "$key"
    fi
}

grant "$APP_ACCESS_KEY" "$APP_SECRET_KEY" rps-cache-read
grant "$PIPELINE_ACCESS_KEY" "$PIPELINE_SECRET_KEY" rps-cache-write
grant "$MLFLOW_ACCESS_KEY" "$MLFLOW_SECRET_KEY" rps-artifacts-write
echo "MinIO ready: private buckets $BUCKETS; users $APP_ACCESS_KEY, $PIPELINE_ACCESS_KEY, $MLFLOW_ACCESS_KEY"
