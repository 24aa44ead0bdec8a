#!/bin/sh
# Certificates for docker-compose.yml, written to deploy/tls/certs/ (or $1):
#   ca.pem / ca-key.pem         the deployment's internal CA (keep ca-key.pem offline afterwards)
#   temporal.pem / -key.pem     Temporal's frontend and internode certificate (DNS:temporal)
#   worker, codec, ui, admin .pem  client certificates for mTLS to Temporal (clientAuth only)
#   proxy.pem / -key.pem        the TLS proxy's certificate for $UI_HOST and $CODEC_HOST
# The internal certificates never leave the compose network. The proxy certificate is what
# browsers see: replace proxy.pem / proxy-key.pem with one from the firm's CA (or let the
# proxy obtain one, see docs/deployment.md); the one made here is signed by the internal CA.
# Existing files are kept, so rerunning only fills in what is missing.
set -eu
out="${1:-$(dirname "$0")/certs}"
days="${CERT_DAYS:-397}"
: "${UI_HOST:?set UI_HOST (the Temporal UI's public host name)}"
: "${CODEC_HOST:?set CODEC_HOST (the codec server's public host name)}"
mkdir -p "$out"
umask 077
cd "$out"

if [ ! -f ca.pem ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/CN=Client Care internal CA" -keyout ca-key.pem -out ca.pem \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

issue() {  # name, extendedKeyUsage, subjectAltName
  [ -f "$1.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$1-key.pem" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\n%s\n' \
    "$2" "${3:+subjectAltName=$3}" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

# Temporal serves the frontend and talks to itself (internode) with one certificate.
issue temporal "serverAuth,clientAuth" "DNS:temporal"
issue worker clientAuth
issue codec clientAuth
issue ui clientAuth
issue admin clientAuth
issue proxy serverAuth "DNS:$UI_HOST,DNS:$CODEC_HOST"
# The containers run as their own users; the keys are readable through the read-only mount.
chmod 644 ./*.pem
chmod 600 ca-key.pem
echo "certificates in $out"
