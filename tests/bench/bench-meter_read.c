/* bench-meter_read.c: meter read latency and rate over Modbus TCP.
 *
 * usage: bench-meter_read PORT [READS]
 * Reads the SDM630 profile (its whole read plan, as the daemon does) from a
 * wattstream-sim on 127.0.0.1:PORT READS times back to back and prints the
 * p50/p99/max latency of one complete reading and readings per second.
 * Prints figures only; it never judges them. */
#include <stdio.h>
#include <stdlib.h>

#include "wattstream/clock.h"
#include "wattstream/config.h"
#include "wattstream/modbus_link.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	struct ws_config cfg;
	struct ws_config_errors errs;
	struct modbus_link *link;
	char text[128];

	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [READS]\n", argv[0]);
		return 2;
	}
	int reads = argc > 2 ? atoi(argv[2]) : 5000;
	if (reads < 10)
		reads = 10;
	snprintf(text, sizeof(text), "[bus.default]\nport = %s\n", argv[1]);
	if (ws_config_load_string(&cfg, text, "bench", &errs) != 0) {
		fprintf(stderr, "bad port\n");
		return 2;
	}
	if (modbus_link_new(&link, &cfg.bus[0]) < 0)
		return 1;
	const struct ws_connector_config *cc = &cfg.conn[0];
	uint64_t *lat = calloc((size_t)reads, sizeof(*lat));
	uint16_t buf[WS_MODBUS_MAX_READ];
	uint64_t t0 = ws_clock_mono_us();
	for (int i = 0; i < reads; i++) {
		uint64_t s = ws_clock_mono_us();
		for (unsigned b = 0; b < cc->plan.n; b++) {
			int r = modbus_link_read_registers(link, 1, cc->plan.block[b].function,
							   cc->plan.block[b].start,
							   cc->plan.block[b].count, buf);
			if (r < 0) {
				fprintf(stderr, "read failed: %s\n", modbus_link_strerror(r));
				return 1;
			}
		}
		lat[i] = ws_clock_mono_us() - s;
	}
	double secs = (double)(ws_clock_mono_us() - t0) / 1e6;
	qsort(lat, (size_t)reads, sizeof(*lat), cmp_u64);
	printf("meter read (SDM630 profile, %u Modbus requests per reading) over TCP loopback, %d readings:\n",
	       cc->plan.n, reads);
	printf("  latency p50 %llu us, p99 %llu us, max %llu us\n",
	       (unsigned long long)lat[reads / 2], (unsigned long long)lat[reads * 99 / 100],
	       (unsigned long long)lat[reads - 1]);
	printf("  rate %.0f readings/s\n", reads / secs);
	free(lat);
	modbus_link_free(link);
	return 0;
}
