#!/usr/bin/env bash
# The real components the tests meet, installed and started as CI does: sourced by .ci/run and
# scripts/mutants.sh (`source scripts/components.sh`), so both test against the same set-up.
# Installs PostgreSQL, tinyproxy and openssl where missing; `start_postgres` starts a throwaway
# PostgreSQL with TLS and exports FLEXFORM_TEST_DATABASE_URL, FLEXFORM_TEST_PG_CA and a client
# certificate (FLEXFORM_TEST_PG_CLIENT_CERT, FLEXFORM_TEST_PG_CLIENT_KEY); `start_moto` starts
# moto's S3 server (installed from PyPI where missing) and exports FLEXFORM_TEST_S3_ENDPOINT,
# FLEXFORM_TEST_S3_AUTH_ENDPOINT, FLEXFORM_TEST_S3_TLS_ENDPOINT and FLEXFORM_TEST_S3_CA.

# Debian packages the tests need: PostgreSQL (tests/it/postgres.rs, tests/it/environment.rs) and
# tinyproxy (tests/it/environment.rs, a real proxy). Installed only where missing.
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v tinyproxy >/dev/null 2>&1 || [ -x /usr/sbin/tinyproxy ] || need+=(tinyproxy)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# What stops the components when the shell that started them exits: one EXIT trap running
# every command registered with `on_exit`.
COMPONENTS_ON_EXIT=()
on_exit() {
    COMPONENTS_ON_EXIT+=("$1")
    trap 'for c in "${COMPONENTS_ON_EXIT[@]}"; do eval "$c"; done' EXIT
}

# A test CA and a server certificate for 127.0.0.1, made with openssl, for PostgreSQL's TLS.
make_pg_certificates() {
    local dir=$1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=flexform CI CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
    chmod 0600 "$dir/server.key"
    # A client certificate for the user flexform_cert (sslcert/sslkey; pg_hba `cert`).
    openssl req -newkey rsa:2048 -nodes -subj "/CN=flexform_cert" \
        -keyout "$dir/client.key" -out "$dir/client.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >"$dir/client-ext.cnf"
    openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/client-ext.cnf" -out "$dir/client.pem" 2>/dev/null
    chmod 0600 "$dir/client.key"
}

# A throwaway PostgreSQL on loopback, with password authentication over TCP and TLS (ssl=on,
# a certificate from the test CA), for tests/it/postgres.rs and tests/it/environment.rs. The server
# asks for client certificates from the test CA (ssl_ca_file) without requiring them, except
# for the user flexform_cert, which signs in with its certificate only (pg_hba `cert`; the
# files are exported as FLEXFORM_TEST_PG_CLIENT_CERT and FLEXFORM_TEST_PG_CLIENT_KEY).
start_postgres() {
    local bin data certs port=55432
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    data=$(mktemp -d /tmp/flexform-pg.XXXXXX)
    certs=$(mktemp -d /tmp/flexform-pg-certs.XXXXXX)
    make_pg_certificates "$certs"
    chmod 0755 "$certs"
    chmod 0644 "$certs/ca.pem" "$certs/server.pem"
    chown postgres "$data" "$certs/server.key"
    runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    # First match wins: these lines go before initdb's.
    {
        printf 'hostssl all flexform_cert 127.0.0.1/32 cert\n'
        printf 'host    all flexform_cert 127.0.0.1/32 reject\n'
        cat "$data/pg_hba.conf"
    } >"$data/pg_hba.conf.new"
    mv "$data/pg_hba.conf.new" "$data/pg_hba.conf"
    chown postgres "$data/pg_hba.conf"
    # The socket where the system's libpq (and flexform) look for it by default.
    local sockets=/var/run/postgresql
    mkdir -p "$sockets" && chown postgres:postgres "$sockets"
    runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/log" -w \
        -o "-p $port -k $sockets -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$certs/server.pem -c ssl_key_file=$certs/server.key -c ssl_ca_file=$certs/ca.pem" start >/dev/null
    on_exit "runuser -u postgres -- '$bin/pg_ctl' -D '$data' -m fast stop >/dev/null 2>&1 || true"
    runuser -u postgres -- psql -h "$sockets" -p "$port" -q -c "CREATE USER flexform PASSWORD 'flexform-ci'" \
        -c "CREATE DATABASE flexform_test OWNER flexform" \
        -c "CREATE USER flexform_cert" -c "CREATE DATABASE flexform_cert OWNER flexform_cert"
    export FLEXFORM_TEST_DATABASE_URL="postgres://flexform:flexform-ci@127.0.0.1:$port/flexform_test"
    export FLEXFORM_TEST_PG_CA="$certs/ca.pem"
    export FLEXFORM_TEST_PG_CLIENT_CERT="$certs/client.pem"
    export FLEXFORM_TEST_PG_CLIENT_KEY="$certs/client.key"
    echo "== PostgreSQL ready on 127.0.0.1:$port (TLS with the test CA in $certs)"
}

# moto's standalone server (`moto[server]` from PyPI), which speaks S3's protocol with its
# conditional writes, for tests/it/s3.rs: one that accepts any credentials
# (FLEXFORM_TEST_S3_ENDPOINT), one that checks them, knowing none
# (FLEXFORM_TEST_S3_AUTH_ENDPOINT: every request is refused as unknown credentials), and one
# over HTTPS (FLEXFORM_TEST_S3_TLS_ENDPOINT, its CA in FLEXFORM_TEST_S3_CA).
start_moto() {
    if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
        echo "== installing moto[server] from PyPI"
        python3 -m pip install -q 'moto[server]>=5.1,<6'
    fi
    local port=45990 auth_port dir
    dir=$(mktemp -d /tmp/flexform-moto.XXXXXX)
    while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
    python3 -m moto.server -H 127.0.0.1 -p "$port" >"$dir/open.log" 2>&1 &
    local open_pid=$!
    auth_port=$((port + 1))
    while (exec 3<>"/dev/tcp/127.0.0.1/$auth_port") 2>/dev/null; do auth_port=$((auth_port + 1)); done
    INITIAL_NO_AUTH_ACTION_COUNT=0 python3 -m moto.server -H 127.0.0.1 -p "$auth_port" >"$dir/auth.log" 2>&1 &
    local auth_pid=$!
    # And one over HTTPS, with a certificate from a test CA made with openssl.
    local tls_port=$((auth_port + 1))
    while (exec 3<>"/dev/tcp/127.0.0.1/$tls_port") 2>/dev/null; do tls_port=$((tls_port + 1)); done
    make_pg_certificates "$dir"
    python3 -m moto.server -H 127.0.0.1 -p "$tls_port" -c "$dir/server.pem" -k "$dir/server.key" >"$dir/tls.log" 2>&1 &
    local tls_pid=$!
    on_exit "kill $open_pid $auth_pid $tls_pid 2>/dev/null || true"
    for p in "$port" "$auth_port" "$tls_port"; do
        for _ in $(seq 1 100); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break
            sleep 0.1
        done
    done
    export FLEXFORM_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
    export FLEXFORM_TEST_S3_AUTH_ENDPOINT="http://127.0.0.1:$auth_port"
    export FLEXFORM_TEST_S3_TLS_ENDPOINT="https://127.0.0.1:$tls_port"
    export FLEXFORM_TEST_S3_CA="$dir/ca.pem"
    echo "== moto (S3) ready on 127.0.0.1:$port, with credentials checked on 127.0.0.1:$auth_port, over HTTPS on 127.0.0.1:$tls_port (logs in $dir)"
}
