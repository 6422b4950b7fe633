#!/bin/sh
# Makes the certificates of the TLS tests in DIR (created if missing), with
# the openssl command; EC P-256 keys, valid for 30 days unless said:
#   ca.pem ca.key               the test CA
#   server.pem server.key       CN=localhost, SAN DNS:localhost,IP:127.0.0.1
#   server-enc.key              server.key encrypted with the password "secret"
#   chain.pem                   server.pem followed by ca.pem
#   alt.pem alt.key             SAN DNS:alt.test (a second name for SNI)
#   client.pem client.key       CN=client (client authentication)
#   expired.pem expired.key     SAN as server.pem, valid in January 2020 only
#   wronghost.pem wronghost.key SAN DNS:example.com only
#   self.pem self.key           self-signed, SAN as server.pem
#   unknown.pem unknown.key     SAN as server.pem, from another CA
#   other-ca.pem                that other CA
#   cadir/                      ca.pem in OpenSSL's hashed directory layout
#
#   sh test/tls_certs.sh DIR      (spec/tls_helper.lua and test/test_tls.c)
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
SAN="subjectAltName=DNS:localhost,IP:127.0.0.1"

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1.key"; }

# ca NAME CN: a self-signed CA.
ca() {
  key "$1"
  openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 30 \
    -addext "basicConstraints=critical,CA:true" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$1.pem"
}

# leaf NAME CN EXT [CA]: a certificate signed by CA (default ca).
leaf() {
  key "$1"
  openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  printf '%s\nbasicConstraints=CA:false\n' "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA "${4:-ca}.pem" -CAkey "${4:-ca}.key" \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
    -days 30 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "tide test CA"
leaf server localhost "$SAN"
cat server.pem ca.pem >chain.pem
openssl pkey -in server.key -aes256 -passout pass:secret -out server-enc.key
leaf alt alt.test "subjectAltName=DNS:alt.test"
leaf client client "extendedKeyUsage=clientAuth"
leaf wronghost example.com "subjectAltName=DNS:example.com"
ca other-ca "another CA"
leaf unknown localhost "$SAN" other-ca

# Self-signed, for localhost.
key self
openssl req -x509 -new -key self.key -subj /CN=localhost -days 30 \
  -addext "$SAN" -out self.pem

# Expired: `openssl x509` cannot back-date, `openssl ca` can.
key expired
openssl req -new -key expired.key -subj /CN=localhost -addext "$SAN" \
  -out expired.csr
: >index.txt
echo 01 >serial
cat >ca.cnf <<CNF
[ca]
default_ca = test
[test]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
[any]
commonName = supplied
CNF
openssl ca -config ca.cnf -batch -notext -cert ca.pem -keyfile ca.key \
  -startdate 20200101000000Z -enddate 20200131000000Z -in expired.csr \
  -out expired.pem 2>/dev/null
rm -f expired.csr index.txt* serial* ca.cnf 01.pem

mkdir -p cadir
cp ca.pem cadir/
openssl rehash cadir 2>/dev/null || c_rehash cadir >/dev/null
