#!/usr/bin/python3
# A client of a launcher on TCP, independent of GIO and libsoup.
#
#   https.py HOST PORT CERTS WHO PATH
#
# CERTS is a tests/net/make-certs.sh directory.  WHO: "client" (its
# client/ certificate), "rogue-client" (one signed by another CA), "none"
# (TLS without a certificate) or "plain" (plain HTTP).  The server's
# certificate is always checked against client/ca-cert.pem.  Prints
# "STATUS BODY" on one line, or "refused: REASON".
import http.client
import ssl
import sys


def main():
    host, port, certs, who, path = sys.argv[1:6]
    port = int(port)
    if who == "plain":
        conn = http.client.HTTPConnection(host, port, timeout=20)
    else:
        ctx = ssl.create_default_context(cafile=certs + "/client/ca-cert.pem")
        if who != "none":
            ctx.load_cert_chain(certs + "/" + who + "/client-cert.pem",
                                certs + "/" + who + "/client-key.pem")
        conn = http.client.HTTPSConnection(host, port, context=ctx,
                                           timeout=20)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode("utf-8", "replace").replace("\n", " ")
        print(r.status, body)
    except (ssl.SSLError, OSError, http.client.HTTPException) as e:
        print("refused:", e)


main()
