#!/usr/bin/env bash
# The metadata engines side by side (not a test: prints tables).
#
#   make bench-db         (or: BERTHD=path/to/berthd tests/bench/db-bench.sh)
#
# Configurations (BENCH_CONFIGS, default "sqlite pg lb1 lb2 lb3"):
#   sqlite   one berthd on SQLite (DATA/berth.db)
#   pg       one berthd on PostgreSQL, reached directly
#   lbN      N berthd replicas (1 to 3) on the same PostgreSQL database and the same
#            data directory, behind haproxy in TCP mode: TLS passes through to the
#            replicas, round robin per connection, no stickiness
#   lbhN     the same replicas behind haproxy in HTTP mode: TLS ends at haproxy and
#            is re-encrypted to the replicas (verified), round robin per request, no
#            stickiness (not in the default list)
# pg and every lbN/lbhN share one set of replicas: pg is replica 1 without haproxy,
# lb1 the same replica through haproxy, lb2 replicas 1-2, lb3 replicas 1-3. Every
# berthd serves HTTPS with the same certificate (EC P-256), --auth basic, and a user
# with an argon2id password at the default cost; every request carries Basic
# credentials.
#
# PostgreSQL: a throwaway cluster from tests/pg-server.sh started durable
# (BERTH_TEST_PG_DURABLE=1: fsync, synchronous_commit and full_page_writes at
# PostgreSQL's defaults) under BENCH_PG_DIR (default /var/tmp: disk). The registry's
# data directories (blobs, uploads, the SQLite file) are on /dev/shm when it has room
# for the test data (else under BENCH_DIR, default /var/tmp); BENCH_DATA chooses.
#
# What is measured:
#   1. manifest GET requests/s: wrk, BENCH_CONNS (64) connections, BENCH_THREADS (2)
#      threads, BENCH_SECS (10) s after a 2 s warm-up, GET /v2/bench/app/manifests/v1
#      with Basic credentials (the verified-credentials cache is warm); every
#      response must be 200. BENCH_ROUNDS (3) interleaved rounds, each starting with
#      the next configuration: the table shows each configuration's median round and
#      every round, where the machine's CPU time went during the median round
#      (berthd, PostgreSQL, haproxy, wrk, the rest), in CPUs, and the servers' CPU
#      time per request (what other load on a shared machine changes least).
#   2. upload of a BENCH_MB (1024) MiB blob with curl: monolithic (POST, then one
#      PUT with the whole body; the PUT's time) and in BENCH_CHUNK_MB (16) MiB chunks
#      (one curl, so one connection, per PATCH; then PUT ?digest=; the summed
#      request times), in MiB/s, the same rounds. After each upload its blob file is
#      removed, so that every upload writes and links a new file.
#   3. tags/list pages at BENCH_TAGS (100000) tags in one repository, on SQLite and
#      on PostgreSQL (replica 1, direct): the tags are inserted with SQL straight into
#      the tags table (PostgreSQL then vacuumed, analyzed and checkpointed, SQLite's
#      WAL checkpointed), then wrk on one
#      connection requests n=100 pages whose `last` is spread over the middle fifth
#      of the list, for BENCH_SECS s: median, p90 and p99 latency (target: under 2 ms).
#   4. the database round trips of one cached authenticated manifest GET on
#      PostgreSQL, counted from the server's statement log over 10 sequential GETs.
#
# Environment: BERTHD, BENCH_CONFIGS, BENCH_CONNS, BENCH_SECS, BENCH_ROUNDS,
# BENCH_THREADS, BENCH_MB (0: no uploads), BENCH_CHUNK_MB (0: no chunked upload),
# BENCH_TAGS (0: no tag listing), BENCH_DATA, BENCH_DIR, BENCH_PG_DIR,
# BENCH_BERTHD_ARGS (more arguments for every berthd serve, split on spaces, e.g.
# "--threads 8"), BENCH_KEEP=1 keeps the work directories (wrk outputs, server logs).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u -o pipefail

: "${top_builddir:=$PWD}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BERTHD=${BERTHD:-$top_builddir/berthd}
CONFIGS=${BENCH_CONFIGS:-sqlite pg lb1 lb2 lb3}
CONNS=${BENCH_CONNS:-64}
SECS=${BENCH_SECS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
WRK_THREADS=${BENCH_THREADS:-2}
MB=${BENCH_MB:-1024}
CHUNK_MB=${BENCH_CHUNK_MB:-16}
NTAGS=${BENCH_TAGS:-100000}
BERTHD_ARGS=${BENCH_BERTHD_ARGS:-}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
PG_BASE=${BENCH_PG_DIR:-/var/tmp}
MKIMAGE=$top_srcdir/tests/integration/mkimage.py
PGSERVER=$top_srcdir/tests/pg-server.sh

die() { echo "db-bench: $*" >&2; exit 1; }
say() { echo "db-bench: $*" >&2; }
for t in curl wrk openssl python3 skopeo sqlite3 split sha256sum; do
        command -v "$t" >/dev/null || die "needs $t"
done
[ -x "$BERTHD" ] || die "no berthd at $BERTHD (set BERTHD)"
[ -f "$PGSERVER" ] || die "no $PGSERVER"
NREP=0 NEED_PG=0 NEED_LB=0
for c in $CONFIGS; do
        case $c in
        sqlite) ;;
        pg) NEED_PG=1; [ "$NREP" -ge 1 ] || NREP=1 ;;
        lb[1-3]|lbh[1-3]) NEED_PG=1 NEED_LB=1; [ "$NREP" -ge "${c: -1}" ] || NREP=${c: -1} ;;
        *) die "unknown configuration $c (sqlite, pg, lb1-3, lbh1-3)" ;;
        esac
done
[ "$NEED_LB" = 0 ] || command -v haproxy >/dev/null || die "needs haproxy (scripts/install-deps.sh slow)"
case $ROUNDS in ''|*[!0-9]*|0) die "BENCH_ROUNDS must be a positive number" ;; esac

# where the registry's data goes: tmpfs when the sources (two blobs), one stored blob
# and some room fit in it and in memory
need_kib=$(( (3 * MB + 512) * 1024 ))
if [ -n "${BENCH_DATA:-}" ]; then
        DATA_BASE=$BENCH_DATA
elif [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt "$need_kib" ] 2>/dev/null &&
     [ "$(awk '$1 == "MemAvailable:" { print $2 }' /proc/meminfo)" -gt "$need_kib" ]; then
        DATA_BASE=/dev/shm
else
        DATA_BASE=$BENCH_DIR
fi
W=$(mktemp -d "$DATA_BASE/berth-db-bench.XXXXXX") || die "mktemp in $DATA_BASE"
PGW=
declare -A SPID URL
LBPID=
cleanup() {
        local k pid
        trap - EXIT
        for k in "${!SPID[@]}" lb; do
                pid=${SPID[$k]:-}
                [ "$k" = lb ] && pid=$LBPID
                [ -n "$pid" ] || continue
                kill -TERM "$pid" 2>/dev/null
                for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        [ -n "$PGW" ] && bash "$PGSERVER" stop "$PGW" >/dev/null 2>&1
        if [ "${BENCH_KEEP:-0}" = 1 ]; then
                echo "kept $W${PGW:+ and $PGW}" >&2
        else
                rm -rf "$W"
                [ -n "$PGW" ] && rm -rf "$PGW"
        fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
USER_NAME=bench
USER_PW=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
AUTH_HEADER="Authorization: Basic $(printf '%s:%s' "$USER_NAME" "$USER_PW" | base64 -w0)"
ACCEPT='Accept: application/vnd.oci.image.manifest.v1+json'
CURL=(curl -sS --max-time 900 --cacert "$W/cert.pem" -u "$USER_NAME:$USER_PW")

# ---- the certificate every server and haproxy serve ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$W/key.pem" -out "$W/cert.pem" \
        >/dev/null 2>&1 || die "openssl"
chmod 0600 "$W/key.pem"
cat "$W/cert.pem" "$W/key.pem" >"$W/haproxy.pem" && chmod 0600 "$W/haproxy.pem"

# ---- PostgreSQL ----
if [ "$NEED_PG" = 1 ]; then
        PGW=$(mktemp -d "$PG_BASE/berth-db-bench-pg.XXXXXX") || die "mktemp in $PG_BASE"
        BERTH_TEST_PG_DURABLE=1 bash "$PGSERVER" start "$PGW" || die "cannot start PostgreSQL"
        # shellcheck disable=SC1091
        . "$PGW/env"
        export BERTH_DB_PASSWORD_FILE=$BERTH_TEST_PG_PASSWORD_FILE
        PSQL=("$BERTH_TEST_PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$BERTH_TEST_PG_PORT" -U berth)
        psql_db() { PGPASSWORD=$(cat "$BERTH_DB_PASSWORD_FILE") "${PSQL[@]}" -d "$@"; }
        psql_db postgres -c 'CREATE DATABASE berth_bench' || die "CREATE DATABASE"
        DB_URL=postgresql://berth@127.0.0.1:$BERTH_TEST_PG_PORT/berth_bench
        PG_VERSION=$("$BERTH_TEST_PG_BINDIR/postgres" -V | awk '{ print $3 }')
fi

# ---- berthd ----
# start_berthd NAME DATADIR [--db URL]: SPID[NAME] URL[NAME], waits for /readyz
start_berthd() {
        local name=$1 data=$2 port i code extra=()
        shift 2
        [ "$NEED_LB" = 1 ] && extra=(--trusted-proxies 127.0.0.1/32)
        port=$(free_port)
        mkdir -p "$data"
        BERTH_ADMIN_PASSWORD=$USER_PW-admin "$BERTHD" serve --listen "127.0.0.1:$port" --data "$data" "$@" \
                --auth basic --tls-cert "$W/cert.pem" --tls-key "$W/key.pem" --metrics-listen '' \
                --max-conns-per-ip 0 --log-level warning "${extra[@]}" $BERTHD_ARGS >"$W/$name.log" 2>&1 &
        SPID[$name]=$!
        URL[$name]=https://127.0.0.1:$port
        for i in $(seq 1 300); do
                kill -0 "${SPID[$name]}" 2>/dev/null || { cat "$W/$name.log" >&2; die "$name exited at start"; }
                code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$W/cert.pem" \
                        "${URL[$name]}/readyz" 2>/dev/null)
                [ "$code" = 200 ] && return 0
                sleep 0.1
        done
        die "$name not ready at ${URL[$name]}"
}

# push_image URL REPO: the small test image, as the user
push_image() {
        "${SKOPEO[@]}" "oci:$W/src:v1" "docker://${1#https://}/$2:v1" >/dev/null 2>"$W/push.err" \
                || { cat "$W/push.err" >&2; die "push to $1/$2 failed"; }
}

python3 "$MKIMAGE" "$W/src" --tag v1 --layers 2 --layer-size 64K --seed db-bench --gzip >/dev/null \
        || die "mkimage"
mkdir -p "$W/certs" && cp "$W/cert.pem" "$W/certs/ca.crt"
SKOPEO=(skopeo copy --quiet --dest-cert-dir "$W/certs" --dest-creds "$USER_NAME:$USER_PW")

case " $CONFIGS " in *" sqlite "*)
        say "starting berthd on SQLite..."
        start_berthd sqlite "$W/sqlite"
        printf '%s\n' "$USER_PW" | env -u BERTH_ARGON2_MEMORY_KIB -u BERTH_ARGON2_PASSES \
                "$BERTHD" --data "$W/sqlite" user add "$USER_NAME" >/dev/null || die "user add (sqlite)"
        push_image "${URL[sqlite]}" bench/app
        ;;
esac
for i in $(seq 1 "$NREP"); do
        say "starting replica r$i on PostgreSQL..."
        start_berthd "r$i" "$W/shared" --db "$DB_URL"
        if [ "$i" = 1 ]; then
                printf '%s\n' "$USER_PW" | env -u BERTH_ARGON2_MEMORY_KIB -u BERTH_ARGON2_PASSES \
                        "$BERTHD" --db "$DB_URL" --data "$W/shared" user add "$USER_NAME" >/dev/null \
                        || die "user add (postgresql)"
                push_image "${URL[r1]}" bench/app
        fi
done
[ "$NREP" -ge 1 ] && URL[pg]=${URL[r1]}

# ---- haproxy ----
if [ "$NEED_LB" = 1 ]; then
        {
                echo "global"
                echo "  maxconn 4096"
                echo "defaults"
                echo "  timeout connect 5s"
                echo "  timeout client 900s"
                echo "  timeout server 900s"
        } >"$W/haproxy.cfg"
        for c in $CONFIGS; do
                case $c in lb[1-3]|lbh[1-3]) ;; *) continue ;; esac
                port=$(free_port)
                URL[$c]=https://127.0.0.1:$port
                n=${c: -1}
                {
                        echo "listen $c"
                        if [ "${c#lbh}" != "$c" ]; then
                                echo "  mode http"
                                echo "  bind 127.0.0.1:$port ssl crt $W/haproxy.pem alpn http/1.1"
                                echo "  option forwardfor"
                        else
                                echo "  mode tcp"
                                echo "  bind 127.0.0.1:$port"
                        fi
                        echo "  balance roundrobin"
                        for i in $(seq 1 "$n"); do
                                hp=${URL[r$i]#https://}
                                if [ "${c#lbh}" != "$c" ]; then
                                        echo "  server r$i $hp ssl verify required ca-file $W/cert.pem verifyhost localhost sni str(localhost)"
                                else
                                        echo "  server r$i $hp"
                                fi
                        done
                } >>"$W/haproxy.cfg"
        done
        haproxy -c -q -f "$W/haproxy.cfg" || die "haproxy configuration rejected ($W/haproxy.cfg)"
        haproxy -db -f "$W/haproxy.cfg" >"$W/haproxy.log" 2>&1 &
        LBPID=$!
        for c in $CONFIGS; do
                case $c in lb[1-3]|lbh[1-3]) ;; *) continue ;; esac
                for _ in $(seq 1 100); do
                        kill -0 "$LBPID" 2>/dev/null || { cat "$W/haproxy.log" >&2; die "haproxy exited"; }
                        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --cacert "$W/cert.pem" \
                                "${URL[$c]}/readyz")" = 200 ] && break
                        sleep 0.1
                done
        done
fi

# every configuration: 200 with credentials, 401 without
for c in $CONFIGS; do
        code=$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "$ACCEPT" "${URL[$c]}/v2/bench/app/manifests/v1")
        [ "$code" = 200 ] || die "$c: manifest GET answers $code"
        code=$(curl -s --cacert "$W/cert.pem" -o /dev/null -w '%{http_code}' -H "$ACCEPT" \
                "${URL[$c]}/v2/bench/app/manifests/v1")
        [ "$code" = 401 ] || die "$c: anonymous manifest GET answers $code, want 401"
done

# ---- CPU accounting: ticks of berthd, PostgreSQL, haproxy and the whole machine ----
pid_ticks() { # PID... -> utime + stime of those processes (all their threads)
        local p s=0 t
        for p in "$@"; do
                t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null) && s=$((s + t))
        done
        echo "$s"
}
pg_pids() {
        [ -n "${BERTH_TEST_PG_PID:-}" ] || return 0
        echo "$BERTH_TEST_PG_PID"
        ps -o pid= --ppid "$BERTH_TEST_PG_PID" 2>/dev/null
}
cpu_snapshot() { # -> "berthd pg haproxy machine" in ticks
        local all
        all=$(awk '$1 == "cpu" { s = 0; for (i = 2; i <= 9; i++) if (i != 5 && i != 6) s += $i; print s }' /proc/stat)
        # shellcheck disable=SC2046
        echo "$(pid_ticks "${SPID[@]}") $(pid_ticks $(pg_pids)) $(pid_ticks $LBPID) $all"
}
child_secs() { # -> VAR: this shell's waited-for children's user + system seconds
        # (the builtin times, run in this shell: a command substitution would be a
        # new process, with no children yet)
        local f=$W/times.$BASHPID
        times >"$f"
        printf -v "$1" '%s' "$(awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); s += p[1] * 60 + p[2] } print s }' "$f")"
}
cpu_split() { # BEFORE AFTER SECONDS WRK-SECONDS -> "berthd/pg/haproxy/wrk/other" in CPUs
        awk -v a="$1" -v b="$2" -v s="$3" -v w="$4" -v hz="$HZ" 'BEGIN {
                split(a, x, " "); split(b, y, " ")
                for (i = 1; i <= 4; i++) d[i] = (y[i] - x[i]) / hz / s
                w /= s
                rest = d[4] - d[1] - d[2] - d[3] - w; if (rest < 0) rest = 0
                printf "%.2f/%.2f/%.2f/%.2f/%.2f", d[1], d[2], d[3], w, rest }'
}

# ---- 1. manifest GETs ----
# get_round CONFIG ROUND: prints "requests/s non-2xx p50 p99 cpu"
get_round() {
        local c=$1 out rps bad p50 p99 before after t0 t1 w0 w1
        wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -H "$AUTH_HEADER" -H "$ACCEPT" \
                "${URL[$c]}/v2/bench/app/manifests/v1" >/dev/null 2>&1
        child_secs w0; before=$(cpu_snapshot); t0=$(date +%s.%N)
        wrk -t"$WRK_THREADS" -c"$CONNS" -d"${SECS}s" --latency -H "$AUTH_HEADER" -H "$ACCEPT" \
                "${URL[$c]}/v2/bench/app/manifests/v1" >"$W/get.$c.$2.wrk" 2>&1
        after=$(cpu_snapshot); t1=$(date +%s.%N); child_secs w1
        out=$(cat "$W/get.$c.$2.wrk")
        rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
        bad=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
        # socket errors (connect, read, write, timeout) count as failures too
        bad=$(( ${bad:-0} + $(printf '%s\n' "$out" | awk '/Socket errors:/ {
                for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i + 0 } END { print s + 0 }') ))
        [ "$bad" = 0 ] || say "$c, round $2: $(printf '%s\n' "$out" | grep -E 'Socket errors|Non-2xx' | tr -s ' \n' ' ')"
        p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
        p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
        echo "${rps:-0} $bad ${p50:--} ${p99:--} $(cpu_split "$before" "$after" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
                "$(awk -v a="$w0" -v b="$w1" 'BEGIN { print b - a }')")"
}

# ---- 2. uploads ----
rate() { awk -v b="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.0f", b / 1048576 / t; else print "-" }'; }
abs() { case $1 in http*) printf '%s' "$1" ;; *) printf '%s%s' "$2" "$1" ;; esac; }
addq() { case $1 in *\?*) printf '%s&%s' "$1" "$2" ;; *) printf '%s?%s' "$1" "$2" ;; esac; }
new_upload() { # BASE REPO -> absolute Location
        local loc
        loc=$("${CURL[@]}" -X POST -D - -o /dev/null "$1/v2/$2/blobs/uploads/" | tr -d '\r' |
                awk 'tolower($1) == "location:" { print $2 }')
        [ -n "$loc" ] && abs "$loc" "$1"
}
# blob_file CONFIG DIGEST: where the stored blob is
blob_file() {
        local d=$2 dir=$W/shared
        [ "$1" = sqlite ] && dir=$W/sqlite
        echo "$dir/blobs/sha256/${d:7:2}/${d#sha256:}"
}
upload_mono() { # CONFIG REPO -> seconds or ERR
        local loc out
        loc=$(new_upload "${URL[$1]}" "$2") || { echo ERR; return; }
        out=$("${CURL[@]}" -X PUT -H 'Content-Type: application/octet-stream' -T "$SRC/mono" -o /dev/null \
                -w '%{http_code} %{time_total}' "$(addq "$loc" "digest=$MONO_DIG")") || { echo ERR; return; }
        [ "${out%% *}" = 201 ] && [ -f "$(blob_file "$1" "$MONO_DIG")" ] && echo "${out#* }" || echo ERR
        rm -f "$(blob_file "$1" "$MONO_DIG")"
}
upload_chunked() { # CONFIG REPO -> summed request seconds or ERR
        local loc f start=0 n end out total=0
        loc=$(new_upload "${URL[$1]}" "$2") || { echo ERR; return; }
        for f in "$SRC"/chunk.*; do
                n=$(stat -c %s "$f"); end=$((start + n - 1))
                out=$("${CURL[@]}" -X PATCH -H 'Content-Type: application/octet-stream' \
                        -H "Content-Range: $start-$end" -T "$f" -D "$SRC/hdrs" -o /dev/null \
                        -w '%{http_code} %{time_total}' "$loc") || { echo ERR; return; }
                [ "${out%% *}" = 202 ] || { echo ERR; return; }
                total=$(awk -v a="$total" -v b="${out#* }" 'BEGIN { print a + b }')
                loc=$(abs "$(tr -d '\r' <"$SRC/hdrs" | awk 'tolower($1) == "location:" { print $2 }')" "${URL[$1]}")
                start=$((end + 1))
        done
        out=$("${CURL[@]}" -X PUT -o /dev/null -w '%{http_code} %{time_total}' "$(addq "$loc" "digest=$CHUNK_DIG")") \
                || { echo ERR; return; }
        if [ "${out%% *}" = 201 ] && [ -f "$(blob_file "$1" "$CHUNK_DIG")" ]; then
                awk -v a="$total" -v b="${out#* }" 'BEGIN { print a + b }'
        else
                echo ERR
        fi
        rm -f "$(blob_file "$1" "$CHUNK_DIG")"
}

if [ "$MB" -gt 0 ]; then
        say "preparing two ${MB} MiB blobs in $W..."
        SRC=$W/upload-src
        mkdir -p "$SRC"
        head -c $((MB * 1048576)) /dev/urandom >"$SRC/mono" || die "test data"
        MONO_DIG=sha256:$(sha256sum "$SRC/mono" | cut -d' ' -f1)
        if [ "$CHUNK_MB" -gt 0 ]; then
                head -c $((MB * 1048576)) /dev/urandom | split -b $((CHUNK_MB * 1048576)) -a 4 -d - "$SRC/chunk." ||
                        die "test data"
                CHUNK_DIG=sha256:$(cat "$SRC"/chunk.* | sha256sum | cut -d' ' -f1)
        fi
fi

declare -A GET MONO CHUNK
read -r -a CFG <<<"$CONFIGS"
for r in $(seq 1 "$ROUNDS"); do
        # each round starts with another configuration: none is always the first after
        # the other phase
        ORDER=("${CFG[@]:$(( (r - 1) % ${#CFG[@]} ))}" "${CFG[@]:0:$(( (r - 1) % ${#CFG[@]} ))}")
        for c in "${ORDER[@]}"; do
                say "round $r/$ROUNDS, $c: manifest GETs..."
                GET[$c]+="$(get_round "$c" "$r")"$'\n'
        done
        [ "$MB" -gt 0 ] || continue
        for c in "${ORDER[@]}"; do
                say "round $r/$ROUNDS, $c: ${MB} MiB uploads..."
                s=$(upload_mono "$c" "bench/mono-$c-$r")
                [ "$s" = ERR ] && MONO[$c]+="ERR " || MONO[$c]+="$(rate $((MB * 1048576)) "$s") "
                if [ "$CHUNK_MB" -gt 0 ]; then
                        s=$(upload_chunked "$c" "bench/chunk-$c-$r")
                        [ "$s" = ERR ] && CHUNK[$c]+="ERR " || CHUNK[$c]+="$(rate $((MB * 1048576)) "$s") "
                fi
        done
done

# ---- 3. tag list pages at NTAGS tags ----
# the repository bench/tags holds the test image as v1; NTAGS more tags t000000...
# point at the same manifest
fill_sql() { # -> the INSERT for ENGINE $1
        if [ "$1" = pg ]; then
                echo "INSERT INTO tags(repo_id, name, digest, updated_at)"
                echo " SELECT t.repo_id, 't' || lpad(g::text, 7, '0'), t.digest, 0"
                echo " FROM tags t JOIN repositories r ON r.id = t.repo_id, generate_series(0, $NTAGS - 1) g"
                echo " WHERE r.name = 'bench/tags' AND t.name = 'v1';"
                # the state a registry is in some time after: vacuumed and analyzed (as
                # autovacuum would, which otherwise runs during the measurement) and
                # checkpointed
                echo "VACUUM ANALYZE tags;"
                echo "CHECKPOINT;"
        else
                echo ".timeout 10000"
                echo "BEGIN;"
                echo "WITH RECURSIVE g(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM g WHERE i < $NTAGS - 1)"
                echo " INSERT INTO tags(repo_id, name, digest, updated_at)"
                echo " SELECT t.repo_id, printf('t%07d', g.i), t.digest, 0"
                echo " FROM tags t JOIN repositories r ON r.id = t.repo_id, g"
                echo " WHERE r.name = 'bench/tags' AND t.name = 'v1';"
                echo "COMMIT;"
                echo "PRAGMA wal_checkpoint(TRUNCATE);"
        fi
}
# list_pages CONFIG -> "p50 p99 requests/s non-2xx fill-seconds"
list_pages() {
        local c=$1 t0 t1 out lua=$W/pages.lua n p50 p90 p99 rps bad mid
        push_image "${URL[$c]}" bench/tags
        t0=$(date +%s.%N)
        if [ "$c" = sqlite ]; then
                fill_sql sqlite | sqlite3 -bail "$W/sqlite/berth.db" >/dev/null || die "fill (sqlite)"
        else
                fill_sql pg | psql_db berth_bench >/dev/null || die "fill (postgresql)"
        fi
        t1=$(date +%s.%N)
        # the pages: `last` at 40 %, 40.5 %, ... 60 % of the list
        {
                echo "local lasts = {"
                for i in $(seq 0 40); do printf '  "t%07d",\n' $(( NTAGS * (80 + i) / 200 )); done
                echo "}"
                echo "local i = 0"
                echo "request = function()"
                echo "  i = i % #lasts + 1"
                echo "  return wrk.format(\"GET\", \"/v2/bench/tags/tags/list?n=100&last=\" .. lasts[i])"
                echo "end"
        } >"$lua"
        mid=$(printf 't%07d' $(( NTAGS / 2 )))
        n=$("${CURL[@]}" "${URL[$c]}/v2/bench/tags/tags/list?n=100&last=$mid" |
                python3 -c 'import json, sys; print(len(json.load(sys.stdin)["tags"]))') || n=0
        [ "$n" = 100 ] || die "$c: a tags/list page holds $n tags, want 100"
        wrk -t1 -c1 -d2s -s "$lua" -H "$AUTH_HEADER" "${URL[$c]}/" >/dev/null 2>&1
        out=$(wrk -t1 -c1 -d"${SECS}s" --latency -s "$lua" -H "$AUTH_HEADER" "${URL[$c]}/" 2>&1)
        printf '%s\n' "$out" >"$W/tags.$c.wrk"
        p50=$(printf '%s\n' "$out" | awk '$1 == "50%" { print $2 }')
        p90=$(printf '%s\n' "$out" | awk '$1 == "90%" { print $2 }')
        p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
        rps=$(printf '%s\n' "$out" | awk '$1 == "Requests/sec:" { printf "%.0f", $2 }')
        bad=$(printf '%s\n' "$out" | awk '/Non-2xx or 3xx responses:/ { print $NF }')
        echo "${p50:--} ${p90:--} ${p99:--} ${rps:-0} ${bad:-0} $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
}
declare -A TAGS
if [ "$NTAGS" -gt 0 ]; then
        for c in sqlite pg; do
                case " $CONFIGS " in *" $c "*) ;; *) continue ;; esac
                say "$c: $NTAGS tags, tags/list pages..."
                TAGS[$c]=$(list_pages "$c")
        done
fi

# ---- 4. database round trips of one cached authenticated manifest GET ----
# log_window FILE CMD...: the statements berthd sent to PostgreSQL while CMD ran (and
# in the 2 s after it: the audit trail is written in batches within a second), one a
# line, into FILE
log_window() {
        local file=$1 from
        shift
        from=$(( $(stat -c %s "$PGW/log") + 1 ))
        psql_db postgres -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
        sleep 1
        "$@"
        sleep 2
        psql_db postgres -c 'ALTER SYSTEM RESET log_statement' -c 'SELECT pg_reload_conf()' >/dev/null
        tail -c +"$from" "$PGW/log" | grep ' berth@berth_bench LOG:  \(statement\|execute\)' |
                sed 's/^.* LOG:  \(statement\|execute [^:]*\): //' >"$file"
}
ten_gets() {
        for _ in $(seq 1 10); do
                "${CURL[@]}" -o /dev/null -H "$ACCEPT" "${URL[pg]}/v2/bench/app/manifests/v1"
        done
}
load_gets() {
        wrk -t1 -c8 -d3s -H "$AUTH_HEADER" -H "$ACCEPT" "${URL[pg]}/v2/bench/app/manifests/v1" >"$W/trips.wrk" 2>&1
}
TRIPS="" LOAD_TRIPS="" LOAD_N=""
if [ "$NREP" -ge 1 ]; then
        say "counting the statements of manifest GETs on PostgreSQL..."
        # one GET first (the credentials cache), and time for what it queued to be written
        "${CURL[@]}" -o /dev/null -H "$ACCEPT" "${URL[pg]}/v2/bench/app/manifests/v1"
        sleep 2
        log_window "$W/statements" ten_gets
        TRIPS=$(awk 'END { printf "%.1f", NR / 10 }' "$W/statements")
        log_window "$W/statements.load" load_gets
        LOAD_N=$(awk '/requests in/ { print $1 }' "$W/trips.wrk")
        [ -n "$LOAD_N" ] && [ "$LOAD_N" -gt 0 ] &&
                LOAD_TRIPS=$(awk -v n="$LOAD_N" 'END { printf "%.2f", NR / n }' "$W/statements.load")
fi

# ---- the report ----
median_row() { # the median line of stdin by its first field
        sort -n -k1,1 | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'
}
spread() { # "a b c" -> "min-max"
        printf '%s\n' $1 | grep -v ERR | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%s-%s", lo, hi; else print "-" }'
}
describe() {
        case $1 in
        sqlite) echo "berthd, SQLite" ;;
        pg) echo "berthd, PostgreSQL" ;;
        lbh*) echo "${1#lbh} x berthd, PG, haproxy http" ;;
        lb*) echo "${1#lb} x berthd, PG, haproxy tcp" ;;
        esac
}
echo
echo "berth metadata engines: $NCPU CPUs shared by every server and client, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data directories: $DATA_BASE$( [ "$DATA_BASE" = /dev/shm ] && echo ' (tmpfs)'); PostgreSQL ${PG_VERSION:-} under $PG_BASE, durable (fsync on)"
[ "$NEED_LB" = 1 ] && echo "haproxy $(haproxy -v | awk 'NR == 1 { print $3 }'): lbN = TCP mode, TLS passed through to the replicas, round robin per connection; lbhN = HTTP mode, TLS re-encrypted, round robin per request"
echo
echo "1. manifest GET, cached authenticated (Basic), HTTPS: wrk -t$WRK_THREADS -c$CONNS, ${SECS} s x $ROUNDS interleaved rounds (median round)"
echo "   CPU: CPUs used during the median round by berthd / PostgreSQL / haproxy / wrk / the rest"
echo "   (the rest: the kernel's work not charged to a process, and whatever else runs on the machine)"
echo "   us/req: CPU time of berthd + PostgreSQL + haproxy per request, in microseconds (what other load"
echo "   on the machine changes least)"
printf '%-7s %-30s %10s %7s %9s %9s %7s  %-26s  %s\n' config "" "requests/s" errors p50 p99 us/req "CPU b/pg/lb/wrk/rest" rounds
declare -A RPS
for c in $CONFIGS; do
        read -r rps _ p50 p99 cpu < <(printf '%s' "${GET[$c]}" | median_row)
        all=$(printf '%s' "${GET[$c]}" | awk '{ printf "%s%s", sep, $1; sep = " " }')
        nbad=$(printf '%s' "${GET[$c]}" | awk '{ s += $2 } END { print s + 0 }')
        RPS[$c]=$rps
        us=$(awk -v c="$cpu" -v r="$rps" 'BEGIN { split(c, x, "/"); if (r > 0) printf "%.0f", (x[1] + x[2] + x[3]) / r * 1e6; else print "-" }')
        printf '%-7s %-30s %10s %7s %9s %9s %7s  %-26s  %s\n' "$c" "$(describe "$c")" "$rps" "$nbad" "$p50" "$p99" "$us" "$cpu" "$all"
done
if [ -n "${RPS[sqlite]:-}" ] && [ -n "${RPS[pg]:-}" ]; then
        awk -v a="${RPS[pg]}" -v b="${RPS[sqlite]}" \
                'BEGIN { printf "pg / sqlite: %s %%   (target >= 70)\n", b > 0 ? sprintf("%.0f", 100 * a / b) : "-" }'
fi
# per_get FILE N: the statements of FILE by kind, per GET (multi-row INSERTs shortened)
per_get() {
        sed 's/^\(INSERT INTO [a-z_]*\)(.*) VALUES \((.*\)$/\1 ... VALUES (...)/' "$1" | sort | uniq -c | sort -rn |
                awk -v n="$2" '{ c = $1; $1 = ""; printf "   %7.3f x %s\n", c / n, substr($0, 2) }' | cut -c1-150
}
if [ -n "$PGW" ]; then
        echo "PostgreSQL's log: $(grep -c ' ERROR: ' "$PGW/log") ERROR lines$(grep -q ' ERROR: ' "$PGW/log" &&
                echo ", the first: $(grep -m1 ' ERROR: ' "$PGW/log" | sed 's/^.* ERROR: *//' | cut -c1-100)")"
fi
if [ -n "$TRIPS" ]; then
        echo "database round trips (statements) per cached authenticated manifest GET on PostgreSQL:"
        echo "  10 GETs one after another (curl): $TRIPS"
        per_get "$W/statements" 10
        if [ -n "$LOAD_TRIPS" ]; then
                echo "  under load (wrk -c8, 3 s, $LOAD_N GETs): $LOAD_TRIPS"
                per_get "$W/statements.load" "$LOAD_N"
        fi
fi
if [ "$MB" -gt 0 ]; then
        echo
        echo "2. upload of a ${MB} MiB blob with curl, HTTPS, MiB/s: median (min-max) of $ROUNDS rounds"
        echo "   mono: POST, then one PUT with the whole body$( [ "$CHUNK_MB" -gt 0 ] && echo "; chunked: ${CHUNK_MB} MiB PATCHes, one connection each, then PUT")"
        printf '%-7s %-30s %18s %18s\n' config "" mono chunked
        for c in $CONFIGS; do
                m=$(printf '%s\n' ${MONO[$c]} | grep -v ERR | sort -n | awk '{ l[NR] = $1 } END { print NR ? l[int((NR + 1) / 2)] : "-" }')
                k=$(printf '%s\n' ${CHUNK[$c]:-} | grep -v ERR | sort -n | awk '{ l[NR] = $1 } END { print NR ? l[int((NR + 1) / 2)] : "-" }')
                me=$(printf '%s\n' ${MONO[$c]} | grep -c ERR)
                ke=$(printf '%s\n' ${CHUNK[$c]:-} | grep -c ERR)
                printf '%-7s %-30s %18s %18s%s\n' "$c" "$(describe "$c")" "$m ($(spread "${MONO[$c]}"))" \
                        "$( [ "$CHUNK_MB" -gt 0 ] && echo "$k ($(spread "${CHUNK[$c]}"))" || echo -)" \
                        "$( [ "$me$ke" != 00 ] && echo "   failed uploads: $me mono, $ke chunked")"
        done
fi
if [ "$NTAGS" -gt 0 ] && [ ${#TAGS[@]} -gt 0 ]; then
        echo
        echo "3. tags/list?n=100 pages from the middle of $NTAGS tags (41 different pages in turn), one connection, HTTPS + Basic, ${SECS} s"
        printf '%-7s %9s %9s %9s %11s %7s %12s\n' engine p50 p90 p99 requests/s errors "fill (s)"
        for c in sqlite pg; do
                [ -n "${TAGS[$c]:-}" ] || continue
                read -r p50 p90 p99 rps bad fill <<<"${TAGS[$c]}"
                printf '%-7s %9s %9s %9s %11s %7s %12s\n' "$c" "$p50" "$p90" "$p99" "$rps" "$bad" "$fill"
        done
        echo "target: a page under 2 ms"
fi
exit 0
