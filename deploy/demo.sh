#!/bin/bash
# berth in docker-compose, end to end, in one command:
#
#   deploy/demo.sh          build and start the registry, trust its CA, push and pull
#   deploy/demo.sh up --no-build   the same with the image as it is, when there is one
#   deploy/demo.sh down     stop the stack, remove what the demo made (keeps the data volume)
#   deploy/demo.sh purge    the same, and also the data volume and the berth image
#
# Settings come from deploy/.env (made from .env.example, with a generated admin
# password, when missing) and the environment: BERTH_PORT, BERTH_IMAGE,
# COMPOSE_PROJECT_NAME... Also: BERTH_DEMO_ENV (the .env file to use),
# BERTH_DEMO_STATE (where the demo keeps the CA copy, tokens and pull secret
# [deploy/.demo]), BERTH_COMPOSE (the compose command, e.g. "docker-compose"),
# BERTH_CLIENT (a `berth` binary on this host to use instead of the one in the image).
set -euo pipefail

deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
env_file=${BERTH_DEMO_ENV:-$deploy_dir/.env}
state=${BERTH_DEMO_STATE:-$deploy_dir/.demo}
t_start=$(date +%s.%N)
step_no=0

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\ndemo: error: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
step() { step_no=$((step_no + 1)); say "$step_no. $*"; }

# root for /etc/docker/certs.d; sudo when not root
as_root() {
        if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- settings -----------------------------------------------------------------------
if [ ! -f "$env_file" ] && [ "${1:-up}" = up ]; then
        pw=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
        umask 077
        sed "s/^BERTH_ADMIN_PASSWORD=.*/BERTH_ADMIN_PASSWORD=$pw/" "$deploy_dir/.env.example" >"$env_file"
        umask 022
        echo "demo: wrote $env_file with a generated admin password"
fi
# values from the environment win over the file, as in compose itself
env_get() {
        local name=$1 def=$2 v
        v=${!name:-}
        if [ -z "$v" ] && [ -f "$env_file" ]; then
                v=$(sed -n "s/^$name=//p" "$env_file" | tail -n 1)
        fi
        echo "${v:-$def}"
}
project=$(env_get COMPOSE_PROJECT_NAME berth)
port=$(env_get BERTH_PORT 5000)
bind=$(env_get BERTH_BIND 127.0.0.1)
image=$(env_get BERTH_IMAGE berth:local)
case $bind in 0.0.0.0|"") host=127.0.0.1:$port ;; *) host=$bind:$port ;; esac
repo=$host/demo/hello
certs_dir=/etc/docker/certs.d/$host

if [ -n "${BERTH_COMPOSE:-}" ]; then
        read -r -a compose_cmd <<<"$BERTH_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
        compose_cmd=(docker compose)
else
        compose_cmd=(docker-compose)
fi
compose() {
        local ef=/dev/null
        [ -f "$env_file" ] && ef=$env_file
        "${compose_cmd[@]}" --project-name "$project" --env-file "$ef" \
                -f "$deploy_dir/docker-compose.yml" "$@"
}
admin() { compose exec -T berthd berthd "$@"; }
container() { compose ps -q berthd 2>/dev/null | head -n 1; }
server_requests() {   # registry API requests berthd has logged so far (probes excluded)
        docker logs "$(container)" 2>&1 | grep -c 'req=.* /v2/' || true
}

# --- down / purge -------------------------------------------------------------------
down() {
        local purge=$1 n
        # compose checks the whole file even to stop it; the password is not used then
        export BERTH_ADMIN_PASSWORD=${BERTH_ADMIN_PASSWORD:-$(env_get BERTH_ADMIN_PASSWORD unused)}
        say "stopping the berth demo (project $project)"
        if [ -n "$(container)" ]; then
                for n in $(cat "$state/tokens" 2>/dev/null); do
                        admin token revoke "$n" >/dev/null 2>&1 && info "revoked robot token $n"
                done
        fi
        docker logout "$host" >/dev/null 2>&1 && info "docker logout $host"
        docker rmi -f "$repo:v1" >/dev/null 2>&1 && info "removed the local image $repo:v1"
        if [ -f "$state/certs-dir-made" ]; then
                as_root rm -rf "$certs_dir" && info "removed $certs_dir"
        fi
        if [ "$purge" = 1 ]; then
                compose down --volumes --remove-orphans
                docker rmi "$image" >/dev/null 2>&1 && info "removed the image $image"
                info "the registry's data volume is gone"
        else
                compose down --remove-orphans
                info "the registry's data is kept in the volume ${project}_berth-data ('$0 purge' removes it)"
        fi
        rm -rf "$state"
        say "done"
}

no_build=0
case ${1:-up} in
up)
        [ "${2:-}" = --no-build ] && no_build=1
        ;;
down) down 0; exit 0 ;;
purge) down 1; exit 0 ;;
-h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) die "unknown command '$1' (up, down or purge)" ;;
esac

command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "cannot talk to the docker daemon"
mkdir -p "$state"
chmod 0700 "$state"

# --- 1. the stack -------------------------------------------------------------------
step "build the image and start the stack (${compose_cmd[*]}, project $project)"
if [ "$no_build" = 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
        info "using the image $image as it is (--no-build)"
else
        info "building the image $image (log: $state/build.log)"
        if ! compose build berthd >"$state/build.log" 2>&1; then
                tail -n 30 "$state/build.log" >&2
                die "the image build failed (full log: $state/build.log)"
        fi
fi
t_up=$(date +%s.%N)
compose up -d berthd
cid=$(container)
[ -n "$cid" ] || die "the berthd container did not start"

step "wait until the registry is healthy"
deadline=$(( $(date +%s) + 180 ))
while :; do
        status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$cid")
        [ "$status" = healthy ] && break
        [ "$(docker inspect --format '{{.State.Running}}' "$cid")" = true ] || {
                docker logs --tail 30 "$cid" >&2; die "berthd exited"; }
        [ "$(date +%s)" -lt "$deadline" ] || {
                docker logs --tail 30 "$cid" >&2
                echo "health checks:" >&2
                docker inspect --format '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$cid" >&2
                die "not healthy within 180 s"; }
        sleep 0.5
done
healthy_after=$(elapsed)
since_up=$(awk -v a="$t_up" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
info "healthy ${healthy_after} s after the demo started (${since_up} s after 'up')"
echo "$healthy_after $since_up" >"$state/healthy-after"
rss() { docker exec "$cid" sh -c 'sed -n "s/^VmRSS:[[:space:]]*//p" /proc/1/status' 2>/dev/null || echo '?'; }
rss_idle=$(rss)
echo "$rss_idle" >"$state/rss-idle"
info "berthd resident memory, idle: $rss_idle"

# --- 2. the CA ----------------------------------------------------------------------
step "trust berth's CA"
docker cp "$cid:/var/lib/berth/tls/ca.crt" "$state/ca.crt"
info "berth made its own CA on first start; a copy is in $state/ca.crt"
info "fingerprint: $(openssl x509 -in "$state/ca.crt" -noout -fingerprint -sha256 2>/dev/null | cut -d= -f2 || echo '?')"
if [ ! -e "$certs_dir/ca.crt" ] || ! cmp -s "$certs_dir/ca.crt" "$state/ca.crt"; then
        [ -e "$certs_dir" ] || touch "$state/certs-dir-made"
        as_root mkdir -p "$certs_dir"
        as_root cp "$state/ca.crt" "$certs_dir/ca.crt"
fi
info "installed for docker as $certs_dir/ca.crt"
curl -fsS --max-time 5 --cacert "$state/ca.crt" "https://$host/healthz" >/dev/null
info "curl --cacert $state/ca.crt https://$host/healthz: ok"

# --- 3. a project, robot tokens, docker login ---------------------------------------
step "create the project 'demo' and robot tokens"
if out=$(admin project create demo 2>&1); then
        info "$out"
else
        case $out in
        *exist*) info "project demo exists already (kept in the volume)" ;;
        *) die "project create: $out" ;;
        esac
fi
out=$(admin token create --project demo --push)
push_user=$(sed -n 's/^name: //p' <<<"$out")
push_pass=$(sed -n 's/^secret: //p' <<<"$out")
[ -n "$push_user" ] && [ -n "$push_pass" ] || die "unexpected output of 'token create'"
echo "$push_user" >>"$state/tokens"
info "push robot: $push_user (its secret is shown once; the demo keeps it in memory only)"
# a pull-only robot, as the Kubernetes Secret a workload would use
admin token create --project demo --secret-yaml "$host" --name berth-demo-pull \
        --namespace default >"$state/pull-secret.yaml"
pull_user=$(sed -n 's/^# robot \([^ ]*\) .*/\1/p' "$state/pull-secret.yaml" | head -n 1)
[ -n "$pull_user" ] && echo "$pull_user" >>"$state/tokens"
info "pull robot: ${pull_user:-?}; its imagePullSecret is $state/pull-secret.yaml"

step "docker login $host"
docker login --username "$push_user" --password-stdin "$host" <<<"$push_pass"

# --- 4. push, remove, pull ----------------------------------------------------------
step "push a small image to $repo:v1"
mkdir -p "$state/image"
printf 'hello from berth\n' >"$state/image/hello.txt"
tar -C "$state/image" -cf - hello.txt |
        docker import --change 'CMD ["/hello.txt"]' - "$repo:v1" >/dev/null
docker push "$repo:v1" | tee "$state/push.log"
pushed=$(sed -n 's/^v1: digest: \(sha256:[0-9a-f]\{64\}\) size: [0-9]*$/\1/p' "$state/push.log")
[ -n "$pushed" ] || die "no digest in the output of docker push"

step "remove it locally and pull it back"
docker rmi "$repo:v1" >/dev/null
info "removed $repo:v1 from docker"
docker pull "$repo:v1" | tee "$state/pull.log"
pulled=$(sed -n 's/^Digest: \(sha256:[0-9a-f]\{64\}\)$/\1/p' "$state/pull.log")
info "pushed digest: $pushed"
info "pulled digest: $pulled"
[ "$pushed" = "$pulled" ] || die "the pulled digest differs from the pushed one"
echo "$pushed" >"$state/digest"

# --- 5. berth pull, like a kubelet with imagePullSecrets ----------------------------
step "berth pull --policy IfNotPresent, twice (the second needs no registry)"
berth_cmd=()
if [ -n "${BERTH_CLIENT:-}" ]; then
        berth_cmd=("$BERTH_CLIENT")
        ca=$state/ca.crt secret=$state/pull-secret.yaml store=$state/store
elif docker run --rm --network host --entrypoint /usr/local/bin/berth "$image" --version >/dev/null 2>&1; then
        # a throwaway container on the host network, like a node pulling an image
        berth_cmd=(docker run --rm --network host --read-only --user "$(id -u):$(id -g)"
                -v "$state:/demo" --entrypoint /usr/local/bin/berth "$image")
        ca=/demo/ca.crt secret=/demo/pull-secret.yaml store=/demo/store
fi
if [ ${#berth_cmd[@]} -eq 0 ]; then
        info "skipped: this build has no 'berth' client (set BERTH_CLIENT=/path/to/berth)"
else
        mkdir -p "$state/store"
        for i in 1 2; do
                before=$(server_requests)
                "${berth_cmd[@]}" --store "$store" pull --policy IfNotPresent \
                        --pull-secret "$secret" --ca-file "$ca" "$repo:v1"
                sleep 0.3   # let the request log reach docker logs
                n=$(( $(server_requests) - before ))
                echo "$n" >"$state/berth-pull-$i.requests"
                info "berth pull #$i: the registry served $n API request(s)"
        done
        [ "$(cat "$state/berth-pull-2.requests")" -eq 0 ] || die "the second berth pull contacted the registry"
fi

# --- summary ------------------------------------------------------------------------
rss_now=$(rss)
echo "$rss_now" >"$state/rss-after"
rss_peak=$(docker exec "$cid" sh -c 'sed -n "s/^VmHWM:[[:space:]]*//p" /proc/1/status' 2>/dev/null || echo '?')
say "berth is running at https://$host"
info "healthy after:  ${healthy_after} s (${since_up} s after 'up')"
info "berthd RSS:     $rss_idle idle, $rss_now after the push and pulls (peak $rss_peak)"
info "CA:             $state/ca.crt (also $certs_dir/ca.crt)"
info "admin password: BERTH_ADMIN_PASSWORD in $env_file"
info "logs:           ${compose_cmd[*]} -p $project logs berthd"
info "stop:           $0 down      (keeps the data)   |   $0 purge (removes it)"
info "total time:     $(elapsed) s"
