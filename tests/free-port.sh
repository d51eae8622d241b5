# shellcheck shell=bash
# tests/free-port.sh: berth_free_port, for the scripts that start servers (sourced by
# tests/integration/lib.sh and tests/pg-server.sh).

# berth_free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
berth_free_port() {
        local p i
        if command -v python3 >/dev/null 2>&1; then
                python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
                return
        fi
        for i in $(seq 1 50); do
                p=$(( 20000 + RANDOM % 40000 ))
                if [ -z "$(ss -Htan "sport = :$p" 2>/dev/null)" ]; then
                        echo "$p"
                        return 0
                fi
        done
        return 1
}
