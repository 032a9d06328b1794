#!/bin/bash
# Test certificates for TLS, made with certtool (gnutls-bin), laid out as
# QEMU's tls-creds-x509 directories:
#   DIR/server         ca-cert.pem (CA A), server-cert.pem, server-key.pem
#   DIR/client         ca-cert.pem (CA A), client-cert.pem, client-key.pem
#   DIR/rogue-client   a client certificate signed by CA B (CA A and B
#                      trusted, so that QEMU loads it and the server, which
#                      trusts A only, must refuse it)
#   DIR/rogue-server   a server certificate signed by CA B
# The server certificates name 127.0.0.1, ::1, localhost and the
# addresses of the test and demo namespaces (192.0.2.1-4 and .10).
#   tests/net/make-certs.sh DIR
set -euo pipefail
d=${1:?usage: make-certs.sh DIR}
mkdir -p "$d"/{server,client,rogue-client,rogue-server,ca}
cd "$d/ca"

key() { certtool --generate-privkey --key-type=ecdsa --outfile "$1" \
        >/dev/null 2>&1; }

for ca in a b; do
    key "ca-$ca-key.pem"
    printf 'cn = "dm test CA %s"\nca\ncert_signing_key\n' "$ca" \
        >"ca-$ca.info"
    printf 'expiration_days = 2\n' >>"ca-$ca.info"
    certtool --generate-self-signed --load-privkey "ca-$ca-key.pem" \
        --template "ca-$ca.info" --outfile "ca-$ca.pem" >/dev/null 2>&1
done

cat >server.info <<'T'
organization = "dm test"
cn = "dm-remote test server"
ip_address = "127.0.0.1"
ip_address = "::1"
ip_address = "192.0.2.1"
ip_address = "192.0.2.2"
ip_address = "192.0.2.3"
ip_address = "192.0.2.4"
ip_address = "192.0.2.10"
dns_name = "localhost"
tls_www_server
encryption_key
signing_key
expiration_days = 2
T
cat >client.info <<'T'
organization = "dm test"
cn = "qemu test client"
tls_www_client
encryption_key
signing_key
expiration_days = 2
T

# cert KIND CA OUTDIR: a KIND (server|client) certificate signed by CA.
cert() {
    key "$3/$1-key.pem"
    certtool --generate-certificate --load-privkey "$3/$1-key.pem" \
        --load-ca-certificate "ca-$2.pem" --load-ca-privkey "ca-$2-key.pem" \
        --template "$1.info" --outfile "$3/$1-cert.pem" >/dev/null 2>&1
}
cert server a ../server
cert client a ../client
cert client b ../rogue-client
cert server b ../rogue-server
cp ca-a.pem ../server/ca-cert.pem
cp ca-a.pem ../client/ca-cert.pem
cat ca-a.pem ca-b.pem >../rogue-client/ca-cert.pem
cp ca-a.pem ../rogue-server/ca-cert.pem
