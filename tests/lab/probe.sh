#!/usr/bin/env bash
# Run inside `fakegc lab`: each stock tool as a user types it; results go to $OUT.
# Exits 7 so the caller can check `fakegc lab` returns CMD's exit status.
cd "$OUT" || exit 1
cp "$FAKEGC_ENDPOINTS" endpoints.json
cp "$KRB5_CONFIG" krb5.conf
getent hosts gc01.contoso.test gc02.contoso.test ex01.contoso.test > getent.txt
python - > dns.json <<'PY'
import json, dns.resolver
names = {"_kerberos._udp.contoso.test": "SRV", "_kerberos._tcp.contoso.test": "SRV",
         "_gc._tcp.contoso.test": "SRV", "contoso.test": "A", "dc01.contoso.test": "A"}
print(json.dumps({n: [r.to_text() for r in dns.resolver.resolve(n, t)] for n, t in names.items()}))
PY
run() { local name=$1; shift; "$@" > "$name.txt" 2>&1; echo $? > "$name.rc"; }
run gettgt-CONTOSO.TEST getTGT.py CONTOSO.TEST/alice:'Passw0rd!'
run gettgt-CONTOSO getTGT.py CONTOSO/alice:'Passw0rd!'
run getst getST.py -spn exchangeAB/gc01.contoso.test CONTOSO.TEST/alice:'Passw0rd!'
run rpcdump-gc01 rpcdump.py gc01.contoso.test
run rpcdump-ex01 rpcdump.py ex01.contoso.test
export KRB5CCNAME="FILE:$OUT/krb5cc"
echo 'Passw0rd!' | kinit alice@CONTOSO.TEST > kinit.txt 2>&1; echo $? > kinit.rc
kvno exchangeAB/gc01.contoso.test > kvno.txt 2>&1
fakegc ctl --endpoints-json "$FAKEGC_ENDPOINTS" fire gc_down gc=gc01 > fire.txt 2>&1
python - > down.txt <<'PY'
import socket
for port in (135, 6004):
    try:
        socket.create_connection(("gc01.contoso.test", port), timeout=3).close()
        print(f"{port}:open")
    except ConnectionRefusedError:
        print(f"{port}:refused")
PY
run rpcdump-gc02-after rpcdump.py gc02.contoso.test
exit 7
