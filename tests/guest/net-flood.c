/*
 * In the guest: send raw Ethernet frames through AF_PACKET on an
 * interface as fast as the driver takes them, for a number of seconds,
 * then print how many went.  The frames are broadcasts of the local
 * experimental EtherType 0x88b5, which nothing answers: all they do is
 * fill the card's transmit queue (tests/guest/virtio-net-flood.sh).
 *
 *   net-flood IFNAME SECONDS
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FLOOD_ETHERTYPE 0x88b5

int main(int argc, char **argv)
{
    struct sockaddr_ll to = { .sll_family = AF_PACKET };
    unsigned char frame[1514] = { 0 };
    unsigned long sent = 0, full = 0;
    struct timespec now, end;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: net-flood IFNAME SECONDS\n");
        return 2;
    }
    fd = socket(AF_PACKET, SOCK_RAW, htons(FLOOD_ETHERTYPE));
    to.sll_ifindex = if_nametoindex(argv[1]);
    if (fd < 0 || !to.sll_ifindex) {
        perror("net-flood");
        return 1;
    }
    to.sll_protocol = htons(FLOOD_ETHERTYPE);
    to.sll_halen = ETH_ALEN;
    memset(to.sll_addr, 0xff, ETH_ALEN);
    memset(frame, 0xff, ETH_ALEN);          /* broadcast */
    frame[12] = FLOOD_ETHERTYPE >> 8;
    frame[13] = FLOOD_ETHERTYPE & 0xff;
    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += atoi(argv[2]);
    do {
        /* Full-size frames: the most work per kick for the device. */
        if (sendto(fd, frame, sizeof(frame), 0, (struct sockaddr *)&to,
                   sizeof(to)) == (ssize_t)sizeof(frame)) {
            sent++;
        } else if (errno == ENOBUFS || errno == EAGAIN) {
            full++;                         /* the queue is full: again */
        } else {
            perror("net-flood: sendto");
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec < end.tv_sec ||
             (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
    printf("DM-NET flood-sent %lu %lu\n", sent, full);
    return 0;
}
