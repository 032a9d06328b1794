#!/usr/bin/python3
"""Check a disk image after blk-verify ran on it in a guest: every block
holds its last write (the header magic, block, round, then the pattern
of both), as blk-verify THREADS BLOCKS WRITES left it.  Exit 0, or 1
with the first bad block.

    blk-verify-image.py IMAGE THREADS BLOCKS_PER_THREAD WRITES_PER_THREAD
"""
import struct
import sys

MAGIC = 0x646d7665726966


def main():
    path, threads, blocks, writes = (sys.argv[1], int(sys.argv[2]),
                                     int(sys.argv[3]), int(sys.argv[4]))
    img = open(path, "rb").read()
    for t in range(threads):
        for b in range(min(blocks, writes)):
            block = t * blocks + b
            k = writes - 1 - ((writes - 1 - b) % blocks)
            rnd = k // blocks
            words = struct.unpack_from("<512Q", img, block * 4096)
            if words[:3] != (MAGIC, block, rnd):
                sys.exit(f"block {block}: {words[:3]}, want round {rnd}")
            for i in range(3, 512):
                if words[i] != (block << 40) ^ (rnd << 20) ^ i:
                    sys.exit(f"block {block}: word {i} differs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
