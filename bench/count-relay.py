#!/usr/bin/python3
"""A TCP relay that counts the bytes each way, for make bench.

    count-relay.py LISTEN_PORT TARGET_PORT OUT_FILE

Listens on 127.0.0.1:LISTEN_PORT, relays one connection at a time to
127.0.0.1:TARGET_PORT, and after each connection closes appends a line
"CLIENT_TO_SERVER SERVER_TO_CLIENT" (bytes) to OUT_FILE.  Prints
"listening" once it accepts; runs until killed.
"""
import asyncio
import sys


async def pump(reader, writer, counts, i):
    try:
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            counts[i] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main():
    lport, tport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

    async def handle(creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection("127.0.0.1",
                                                             tport)
        except OSError:
            cwriter.close()
            return
        counts = [0, 0]
        await asyncio.gather(pump(creader, swriter, counts, 0),
                             pump(sreader, cwriter, counts, 1))
        with open(out, "a") as f:
            f.write("%d %d\n" % (counts[0], counts[1]))

    server = await asyncio.start_server(handle, "127.0.0.1", lport)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
