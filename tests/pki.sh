#!/usr/bin/env bash
# Test PKI for the emulator, made with openssl at test time. Idempotent: a second run with the same
# OUTDIR does nothing (delete OUTDIR/.complete to force a rebuild). About 4 s from nothing.
#
#   tests/pki.sh OUTDIR
#
# Shape like Microsoft's chains: RSA-2048 root -> RSA-2048 issuing CA -> RSA-2048 leaf, all
# sha256WithRSAEncryption with plain rsaEncryption keys (never RSA-PSS keys: mbedTLS refuses them).
#
# OUTDIR/
#   ca.pem                  root CA certificate (what the client trusts: SPO_CA_FILE)
#   issuing.pem             issuing CA certificate
#   server.pem server.key   leaf for DNS:localhost, IP:127.0.0.1, IP:::1
#   chain.pem               leaf + issuing CA (what the emulator serves: --cert chain.pem --key server.key)
#   untrusted-ca.pem        a second, unrelated root
#   untrusted-chain.pem untrusted.key      leaf+issuing from that other root (same names)
#   selfsigned.pem selfsigned.key          self-signed leaf (same names)
#   expired-chain.pem expired.key          leaf+issuing from our root, valid 2020-01-01..2021-01-01
#   notyetvalid-chain.pem notyetvalid.key  leaf+issuing from our root, valid from 2090
#   wronghost-chain.pem wronghost.key      leaf+issuing from our root for DNS:example.invalid only
#   longlived-chain.pem longlived.key      like chain.pem, valid from 2 days ago for ~5 years: for
#                                          clients whose clock is years ahead (certificate sign-in)
#   mslike-chain.pem mslike.key            the shape of Microsoft's real chains, for memory figures:
#                                          RSA-4096 issuing CA (like "Microsoft Azure RSA TLS Issuing
#                                          CA 03") and a leaf with 60 extra SANs (~3.6 KB)
set -euo pipefail

out=${1:?usage: tests/pki.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$out/.complete" ] && exit 0

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

SAN_LOCAL="DNS:localhost,IP:127.0.0.1,IP:::1"

# Every certificate is issued with `openssl ca` (Debian 12's openssl 3.0 `x509 -req` has -days but
# cannot set explicit dates). Validity starts a day in the past so a client clock slightly behind
# still accepts the good chain.
mkdir -p ca/newcerts
: >ca/index.txt
echo 1000 >ca/serial
cat >ca.cnf <<EOF
[ca]
default_ca = CA_default
[CA_default]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = yes
[policy_any]
countryName = optional
stateOrProvinceName = optional
localityName = optional
organizationName = optional
commonName = supplied
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[issuing]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_local]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $SAN_LOCAL
[leaf_wronghost]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:example.invalid
[leaf_mslike]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $SAN_LOCAL$(for i in $(seq 1 60); do printf ',DNS:login%d.microsoftonline-p.example.com' "$i"; done)
[selfsigned]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = $SAN_LOCAL
EOF

key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${KEYBITS:-2048}" -out "$1" 2>/dev/null; }
stamp() { date -u -d "@$(( $(date +%s) + $1 * 86400 ))" +%Y%m%d%H%M%SZ; }

# issue NAME SUBJECT ISSUER EXTSECTION START END   (ISSUER "-" = self-signed with the same key)
issue() {
  local name=$1 subj=$2 issuer=$3 ext=$4 start=$5 end=$6
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr" 2>/dev/null
  if [ "$issuer" = - ]; then
    # `openssl ca -selfsign` signs with -keyfile; it still wants a -cert, which it ignores
    openssl req -new -x509 -key "$name.key" -subj "$subj" -days 1 -out "$name.boot.pem" 2>/dev/null
    openssl ca -batch -notext -config ca.cnf -selfsign -cert "$name.boot.pem" -keyfile "$name.key" \
      -startdate "$start" -enddate "$end" -extensions "$ext" -in "$name.csr" -out "$name.pem" 2>/dev/null
  else
    openssl ca -batch -notext -config ca.cnf -cert "$issuer.pem" -keyfile "$issuer.key" \
      -startdate "$start" -enddate "$end" -extensions "$ext" -in "$name.csr" -out "$name.pem" 2>/dev/null
  fi
}

issue root "/C=US/O=spo test/CN=spo Test Root CA 2048" - root "$(stamp -2)" "$(stamp 3650)"
issue issuing "/C=US/O=spo test/CN=spo Test TLS Issuing CA 01" root issuing "$(stamp -2)" "$(stamp 1825)"
issue server "/C=US/ST=WA/L=Redmond/O=spo test/CN=localhost" issuing leaf_local "$(stamp -1)" "$(stamp 365)"
issue wronghost "/C=US/O=spo test/CN=example.invalid" issuing leaf_wronghost "$(stamp -1)" "$(stamp 365)"
issue longlived "/C=US/O=spo test/CN=localhost" issuing leaf_local "$(stamp -2)" "$(stamp 1800)"
issue expired "/C=US/O=spo test/CN=localhost" issuing leaf_local 20200101000000Z 20210101000000Z
issue notyetvalid "/C=US/O=spo test/CN=localhost" issuing leaf_local 20900101000000Z 20910101000000Z
issue oroot "/C=US/O=Other test/CN=Other Root CA" - root "$(stamp -2)" "$(stamp 3650)"
issue oissuing "/C=US/O=Other test/CN=Other Issuing CA" oroot issuing "$(stamp -2)" "$(stamp 1825)"
issue untrusted "/C=US/O=Other test/CN=localhost" oissuing leaf_local "$(stamp -1)" "$(stamp 365)"
issue selfsigned "/C=US/O=spo test/CN=localhost" - selfsigned "$(stamp -1)" "$(stamp 365)"
KEYBITS=4096 issue msissuing "/C=US/O=spo test/CN=spo Test Azure-like RSA TLS Issuing CA 03" root issuing "$(stamp -2)" "$(stamp 1825)"
issue mslike "/C=US/ST=WA/L=Redmond/O=spo test/CN=localhost" msissuing leaf_mslike "$(stamp -1)" "$(stamp 365)"

# sanity: the good chain verifies; the bad ones fail for the intended reason; keys are plain RSA
openssl verify -CAfile root.pem -untrusted issuing.pem server.pem >/dev/null
openssl verify -CAfile root.pem -untrusted issuing.pem wronghost.pem >/dev/null
{ openssl verify -CAfile root.pem -untrusted issuing.pem expired.pem 2>&1 || true; } | grep -q 'expired'
{ openssl verify -CAfile root.pem -untrusted issuing.pem notyetvalid.pem 2>&1 || true; } | grep -q 'not yet valid'
! openssl verify -CAfile root.pem -untrusted oissuing.pem untrusted.pem >/dev/null 2>&1
! openssl verify -CAfile root.pem selfsigned.pem >/dev/null 2>&1
openssl x509 -in server.pem -noout -text | grep -q 'Public Key Algorithm: rsaEncryption'

install -m 644 root.pem "$out/ca.pem"
install -m 644 issuing.pem "$out/issuing.pem"
install -m 644 server.pem "$out/server.pem"
install -m 600 server.key "$out/server.key"
cat server.pem issuing.pem >"$out/chain.pem"
install -m 644 oroot.pem "$out/untrusted-ca.pem"
cat untrusted.pem oissuing.pem >"$out/untrusted-chain.pem"
install -m 600 untrusted.key "$out/untrusted.key"
install -m 644 selfsigned.pem "$out/selfsigned.pem"
install -m 600 selfsigned.key "$out/selfsigned.key"
cat expired.pem issuing.pem >"$out/expired-chain.pem"
install -m 600 expired.key "$out/expired.key"
cat notyetvalid.pem issuing.pem >"$out/notyetvalid-chain.pem"
install -m 600 notyetvalid.key "$out/notyetvalid.key"
cat wronghost.pem issuing.pem >"$out/wronghost-chain.pem"
cat longlived.pem issuing.pem >"$out/longlived-chain.pem"
install -m 600 longlived.key "$out/longlived.key"
install -m 600 wronghost.key "$out/wronghost.key"
cat mslike.pem msissuing.pem >"$out/mslike-chain.pem"
install -m 600 mslike.key "$out/mslike.key"
touch "$out/.complete"
