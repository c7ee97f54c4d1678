/*
 * segment - segment one RGB-D frame with the acnet C library.
 *
 *   segment [--device DEV] [--repeat N] [--logits FILE] MODEL RGB.ppm DEPTH.pgm LABELS.pgm
 *
 * RGB.ppm    binary PPM (P6), 8-bit RGB.
 * DEPTH.pgm  binary PGM (P5), 16-bit (maxval > 255), millimetres, 0 = no reading.
 * LABELS.pgm written as an 8-bit PGM of class ids (0 void, k = class k).
 * --repeat N runs the frame N times and prints the median latency.
 * --logits FILE also writes the model's float32 logits (C x h x w, native
 *            byte order) at its input size.
 *
 * Plain C99 plus POSIX clock_gettime; no image library.
 */
#define _POSIX_C_SOURCE 199309L

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acnet.h"

typedef struct {
    int width, height, maxval;
    unsigned char* data; /* raw samples after the header */
} netpbm;

/* Next header integer, skipping whitespace and # comments; -1 on error. */
static long read_header_int(FILE* f) {
    int c = fgetc(f);
    for (;;) {
        while (c != EOF && isspace(c)) c = fgetc(f);
        if (c != '#') break;
        while (c != EOF && c != '\n') c = fgetc(f);
    }
    if (c == EOF || !isdigit(c)) return -1;
    long v = 0;
    while (c != EOF && isdigit(c)) {
        v = v * 10 + (c - '0');
        if (v > 1000000) return -1;
        c = fgetc(f);
    }
    /* exactly one whitespace byte ends the header field */
    return (c == EOF || isspace(c)) ? v : -1;
}

/* Read a binary PPM (P6, channels 3) or PGM (P5, channels 1). Returns 0 on success. */
static int read_netpbm(const char* path, char kind, int channels, netpbm* img) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "segment: cannot open %s\n", path);
        return 1;
    }
    int ok = fgetc(f) == 'P' && fgetc(f) == kind;
    long w = ok ? read_header_int(f) : -1, h = ok ? read_header_int(f) : -1, maxval = ok ? read_header_int(f) : -1;
    if (!ok || w <= 0 || h <= 0 || maxval <= 0 || maxval > 65535) {
        fprintf(stderr, "segment: %s is not a binary P%c file\n", path, kind);
        fclose(f);
        return 1;
    }
    size_t bytes = (size_t)w * (size_t)h * (size_t)channels * (maxval > 255 ? 2 : 1);
    img->data = (unsigned char*)malloc(bytes);
    if (!img->data || fread(img->data, 1, bytes, f) != bytes) {
        fprintf(stderr, "segment: %s is truncated\n", path);
        free(img->data);
        img->data = NULL;
        fclose(f);
        return 1;
    }
    fclose(f);
    img->width = (int)w;
    img->height = (int)h;
    img->maxval = (int)maxval;
    return 0;
}

static int write_pgm8(const char* path, const uint8_t* labels, int height, int width) {
    FILE* f = fopen(path, "wb");
    if (!f) return 1;
    fprintf(f, "P5\n%d %d\n255\n", width, height);
    size_t n = (size_t)width * (size_t)height;
    int failed = fwrite(labels, 1, n, f) != n;
    return fclose(f) != 0 || failed;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int compare_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

static int usage(void) {
    fprintf(stderr, "usage: segment [--device DEV] [--repeat N] [--logits FILE] MODEL RGB.ppm DEPTH.pgm LABELS.pgm\n");
    return 2;
}

int main(int argc, char** argv) {
    const char* device = NULL;
    const char* logits_path = NULL;
    long repeat = 1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--device") == 0) device = argv[i + 1];
        else if (strcmp(argv[i], "--logits") == 0) logits_path = argv[i + 1];
        else if (strcmp(argv[i], "--repeat") == 0) {
            repeat = strtol(argv[i + 1], NULL, 10);
            if (repeat < 1 || repeat > 100000) return usage();
        } else return usage();
    }
    if (argc - i != 4) return usage();
    const char *model = argv[i], *rgb_path = argv[i + 1], *depth_path = argv[i + 2], *out_path = argv[i + 3];

    netpbm rgb = {0}, depth = {0};
    if (read_netpbm(rgb_path, '6', 3, &rgb) || read_netpbm(depth_path, '5', 1, &depth)) return 1;
    if (rgb.maxval > 255) {
        fprintf(stderr, "segment: %s must be 8-bit RGB\n", rgb_path);
        return 1;
    }
    if (depth.maxval <= 255) {
        fprintf(stderr, "segment: %s must be a 16-bit depth map (millimetres), got maxval %d\n", depth_path, depth.maxval);
        return 1;
    }
    if (rgb.width != depth.width || rgb.height != depth.height) {
        fprintf(stderr, "segment: rgb is %dx%d but depth is %dx%d\n", rgb.height, rgb.width, depth.height, depth.width);
        return 1;
    }
    int height = rgb.height, width = rgb.width;
    size_t pixels = (size_t)height * (size_t)width;

    /* PGM samples are big-endian. */
    uint16_t* depth_mm = (uint16_t*)malloc(pixels * sizeof(uint16_t));
    uint8_t* labels = (uint8_t*)malloc(pixels);
    double* times = (double*)malloc((size_t)repeat * sizeof(double));
    if (!depth_mm || !labels || !times) {
        fprintf(stderr, "segment: out of memory\n");
        return 1;
    }
    for (size_t p = 0; p < pixels; ++p) depth_mm[p] = (uint16_t)((depth.data[2 * p] << 8) | depth.data[2 * p + 1]);

    acnet_session* session = NULL;
    double t0 = now_ms();
    acnet_status st = acnet_session_create(model, device, &session);
    double load_ms = now_ms() - t0;
    if (st != ACNET_OK) {
        fprintf(stderr, "segment: %s: %s\n", acnet_status_name(st), acnet_last_error(NULL));
        return 1;
    }
    const char* backend = "";
    int classes = 0, in_h = 0, in_w = 0;
    acnet_backend(session, &backend);
    acnet_num_classes(session, &classes);
    acnet_input_size(session, &in_h, &in_w);
    printf("acnet %s, %s, %d classes, input %dx%d, loaded in %.0f ms\n", acnet_version(), backend, classes, in_h, in_w,
           load_ms);

    for (long r = 0; r < repeat && st == ACNET_OK; ++r) {
        double start = now_ms();
        st = acnet_segment(session, rgb.data, depth_mm, height, width, labels);
        times[r] = now_ms() - start;
    }
    if (st != ACNET_OK) {
        fprintf(stderr, "segment: %s: %s\n", acnet_status_name(st), acnet_last_error(session));
        acnet_session_destroy(session);
        return 1;
    }
    qsort(times, (size_t)repeat, sizeof(double), compare_double);
    printf("segmented %dx%d: median %.2f ms over %ld run%s (min %.2f, max %.2f)\n", height, width,
           times[repeat / 2], repeat, repeat == 1 ? "" : "s", times[0], times[repeat - 1]);

    /* The most frequent classes, for a quick look. */
    size_t counts[256] = {0};
    for (size_t p = 0; p < pixels; ++p) counts[labels[p]]++;
    for (int shown = 0; shown < 5; ++shown) {
        int best = -1;
        for (int k = 0; k < 256; ++k)
            if (counts[k] && (best < 0 || counts[k] > counts[best])) best = k;
        if (best < 0) break;
        const char* name = "void";
        if (best > 0) acnet_class_name(session, best, &name);
        printf("  %3d %-20s %5.1f%%\n", best, name, 100.0 * (double)counts[best] / (double)pixels);
        counts[best] = 0;
    }

    int rc = 0;
    if (write_pgm8(out_path, labels, height, width)) {
        fprintf(stderr, "segment: cannot write %s\n", out_path);
        rc = 1;
    }
    if (rc == 0 && logits_path) {
        size_t count = 0;
        float* logits = NULL;
        st = acnet_logits_size(session, &count);
        if (st == ACNET_OK) logits = (float*)malloc(count * sizeof(float));
        if (st == ACNET_OK && logits) st = acnet_logits(session, rgb.data, depth_mm, height, width, logits, count);
        FILE* f = (st == ACNET_OK && logits) ? fopen(logits_path, "wb") : NULL;
        if (!f || fwrite(logits, sizeof(float), count, f) != count) {
            fprintf(stderr, "segment: cannot write logits to %s: %s\n", logits_path,
                    st == ACNET_OK ? "I/O error" : acnet_last_error(session));
            rc = 1;
        }
        if (f && fclose(f) != 0) rc = 1;
        free(logits);
    }
    acnet_session_destroy(session);
    free(rgb.data);
    free(depth.data);
    free(depth_mm);
    free(labels);
    free(times);
    return rc;
}
