/*
 * segment - segment one RGB-D frame with the acnet C library.
 *
 *   segment [--device DEV] [--repeat N] [--logits FILE] [--confidence FILE] MODEL RGB.ppm DEPTH.pgm LABELS.pgm
 *
 * RGB.ppm    binary PPM (P6), any maxval: samples are scaled to 0..255
 *            (maxval 255, the usual, is taken as it is).
 * DEPTH.pgm  binary PGM (P5), 16-bit (maxval 256..65535), millimetres,
 *            0 = no reading; samples are taken as they are, not scaled
 *            (a camera-native model's own units: see acnet_camera).
 * LABELS.pgm written as an 8-bit PGM of class ids (0 void, k = class k).
 * --repeat N runs the frame N times and prints the median latency, of the
 *            model alone and of the library's work around it (acnet_last_timing).
 * --logits FILE also writes the model's float32 logits (C x h x w, native
 *            byte order) at its input size.
 * --confidence FILE  camera-native models (`--io camera`): also writes the
 *            confidence (8-bit PGM, the top class's probability x 255).
 *
 * A camera-native model gets the frame's buffers as they are, with
 * acnet_segment_camera (float32 metres converted from the millimetres here
 * for a model exported with --camera-depth float32).
 *
 * The images are untrusted input, read as the Netpbm specification says and
 * no more: "P6", whitespace, width, whitespace, height, whitespace, maxval
 * (comments from '#' to the end of a line count as whitespace), exactly one
 * whitespace byte, then width*height samples, big-endian when maxval > 255,
 * each at most maxval, and nothing after them. Memory grows only as the
 * samples arrive: a 24-byte header promising 1.6 GB costs nothing.
 *
 * Plain C99 plus POSIX clock_gettime; no image library.
 */
#define _POSIX_C_SOURCE 199309L

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "acnet.h"

typedef struct {
    int width, height, maxval, channels;
    uint16_t* samples; /* width*height*channels values, each 0..maxval */
} netpbm;

static int is_space(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

/*
 * Whitespace and comments before a header number; at least one whitespace
 * byte (or comment) is required. Returns the first byte of the number.
 */
static int skip_separator(FILE* f) {
    int c = fgetc(f), seen = 0;
    for (;;) {
        if (c == '#') {
            while (c != EOF && c != '\n' && c != '\r') c = fgetc(f);
            seen = 1;
        } else if (is_space(c)) {
            c = fgetc(f);
            seen = 1;
        } else {
            return seen ? c : EOF;
        }
    }
}

/* A header number in 1..limit, or -1. `*next` receives the byte after it. */
static long read_number(FILE* f, long limit, int* next) {
    int c = skip_separator(f);
    if (c < '0' || c > '9') return -1;
    long v = 0;
    while (c >= '0' && c <= '9') {
        v = v * 10 + (c - '0');
        if (v > limit) return -1; /* before it can overflow */
        c = fgetc(f);
    }
    *next = c;
    if (c != EOF) ungetc(c, f);
    return v >= 1 ? v : -1;
}

/* Read the raster into a buffer that grows as bytes arrive, up to `bytes`; NULL if fewer come. */
static unsigned char* read_raster(FILE* f, size_t bytes, size_t* got) {
    size_t capacity = bytes < ((size_t)1 << 20) ? bytes : ((size_t)1 << 20);
    unsigned char* data = (unsigned char*)malloc(capacity ? capacity : 1);
    *got = 0;
    while (data && *got < bytes) {
        if (*got == capacity) {
            size_t grown = capacity > bytes / 2 ? bytes : capacity * 2;
            unsigned char* more = (unsigned char*)realloc(data, grown);
            if (!more) {
                free(data);
                return NULL;
            }
            data = more;
            capacity = grown;
        }
        size_t n = fread(data + *got, 1, capacity - *got, f);
        if (n == 0) break;
        *got += n;
    }
    if (data && *got < bytes) {
        free(data);
        return NULL;
    }
    return data;
}

/* Read a binary PPM (P6, 3 channels) or PGM (P5, 1 channel). Returns 0, or 1 after printing why. */
static int read_netpbm(const char* path, char kind, netpbm* img) {
    const int channels = kind == '6' ? 3 : 1;
    unsigned char* raw = NULL;
    int rc = 1;
    memset(img, 0, sizeof *img);
    FILE* f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "segment: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    int next = EOF;
    const int magic = fgetc(f) == 'P' && fgetc(f) == kind;
    const long width = magic ? read_number(f, ACNET_MAX_SIDE, &next) : -1;
    const long height = width > 0 ? read_number(f, ACNET_MAX_SIDE, &next) : -1;
    const long maxval = height > 0 ? read_number(f, 65535, &next) : -1;
    if (!magic || width < 0 || height < 0 || maxval < 0 || !is_space(fgetc(f))) {
        fprintf(stderr, "segment: %s is not a binary P%c file with sides of 1..%d and maxval 1..65535\n", path,
                kind, ACNET_MAX_SIDE);
        goto done;
    }
    const size_t count = (size_t)width * (size_t)height * (size_t)channels; /* at most 16384^2 * 3 */
    const size_t depth = maxval > 255 ? 2 : 1;
    size_t got = 0;
    raw = read_raster(f, count * depth, &got);
    if (!raw) {
        fprintf(stderr, "segment: %s is truncated: its header promises a %ldx%ld image\n", path, height, width);
        goto done;
    }
    if (fgetc(f) != EOF) {
        fprintf(stderr, "segment: %s has data after its %ldx%ld image (a second image, or a wrong header?)\n",
                path, height, width);
        goto done;
    }
    img->samples = (uint16_t*)malloc(count * sizeof(uint16_t));
    if (!img->samples) {
        fprintf(stderr, "segment: out of memory reading %s\n", path);
        goto done;
    }
    for (size_t i = 0; i < count; ++i) {
        const unsigned v = depth == 2 ? (unsigned)raw[2 * i] << 8 | raw[2 * i + 1] : raw[i]; /* big-endian */
        if (v > (unsigned)maxval) {
            fprintf(stderr, "segment: %s has a sample of %u above its maxval %ld\n", path, v, maxval);
            free(img->samples);
            img->samples = NULL;
            goto done;
        }
        img->samples[i] = (uint16_t)v;
    }
    img->width = (int)width;
    img->height = (int)height;
    img->maxval = (int)maxval;
    img->channels = channels;
    rc = 0;
done:
    free(raw);
    fclose(f);
    return rc;
}

static int write_pgm8(const char* path, const uint8_t* labels, int height, int width) {
    FILE* f = fopen(path, "wb");
    if (!f) return 1;
    size_t n = (size_t)width * (size_t)height;
    int failed = fprintf(f, "P5\n%d %d\n255\n", width, height) < 0;
    failed = fwrite(labels, 1, n, f) != n || failed;
    failed = fclose(f) != 0 || failed;
    if (failed) remove(path); /* never leave half a file behind */
    return failed;
}

static int write_floats(const char* path, const float* values, size_t count) {
    FILE* f = fopen(path, "wb");
    if (!f) return 1;
    int failed = fwrite(values, sizeof(float), count, f) != count;
    failed = fclose(f) != 0 || failed;
    if (failed) remove(path);
    return failed;
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
    fprintf(stderr, "usage: segment [--device DEV] [--repeat N] [--logits FILE] [--confidence FILE] "
                    "MODEL RGB.ppm DEPTH.pgm LABELS.pgm\n");
    return 2;
}

int main(int argc, char** argv) {
    const char* device = NULL;
    const char* logits_path = NULL;
    const char* confidence_path = NULL;
    long repeat = 1;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc) return usage();
        if (strcmp(argv[i], "--device") == 0) {
            device = argv[i + 1];
        } else if (strcmp(argv[i], "--logits") == 0) {
            logits_path = argv[i + 1];
        } else if (strcmp(argv[i], "--confidence") == 0) {
            confidence_path = argv[i + 1];
        } else if (strcmp(argv[i], "--repeat") == 0) {
            char* end = NULL;
            errno = 0;
            repeat = strtol(argv[i + 1], &end, 10);
            if (errno || end == argv[i + 1] || *end || repeat < 1 || repeat > 100000) return usage();
        } else {
            return usage();
        }
    }
    if (argc - i != 4) return usage();
    const char *model = argv[i], *rgb_path = argv[i + 1], *depth_path = argv[i + 2], *out_path = argv[i + 3];

    /* Everything below is freed at `done`, whichever way the program ends. */
    int rc = 1;
    netpbm rgb_img = {0}, depth_img = {0};
    uint8_t *rgb = NULL, *labels = NULL, *confidence = NULL;
    uint16_t* depth_mm = NULL;
    double *times = NULL, *model_times = NULL, *outside_times = NULL;
    float *logits = NULL, *depth_m = NULL;
    acnet_session* session = NULL;

    if (read_netpbm(rgb_path, '6', &rgb_img) || read_netpbm(depth_path, '5', &depth_img)) goto done;
    if (depth_img.maxval <= 255) {
        fprintf(stderr, "segment: %s must be a 16-bit depth map (millimetres, maxval 256..65535), got maxval %d\n",
                depth_path, depth_img.maxval);
        goto done;
    }
    if (rgb_img.width != depth_img.width || rgb_img.height != depth_img.height) {
        fprintf(stderr, "segment: rgb is %dx%d but depth is %dx%d\n", rgb_img.height, rgb_img.width,
                depth_img.height, depth_img.width);
        goto done;
    }
    const int height = rgb_img.height, width = rgb_img.width;
    const size_t pixels = (size_t)height * (size_t)width;

    rgb = (uint8_t*)malloc(3 * pixels);
    depth_mm = (uint16_t*)malloc(pixels * sizeof(uint16_t));
    labels = (uint8_t*)malloc(pixels);
    confidence = (uint8_t*)malloc(pixels);
    times = (double*)malloc((size_t)repeat * sizeof(double));
    model_times = (double*)malloc((size_t)repeat * sizeof(double));
    outside_times = (double*)malloc((size_t)repeat * sizeof(double));
    if (!rgb || !depth_mm || !labels || !confidence || !times || !model_times || !outside_times) {
        fprintf(stderr, "segment: out of memory\n");
        goto done;
    }
    /* RGB to 0..255 whatever its maxval (rounded); depth stays millimetres. */
    const unsigned maxval = (unsigned)rgb_img.maxval;
    for (size_t p = 0; p < 3 * pixels; ++p) rgb[p] = (uint8_t)((rgb_img.samples[p] * 255u + maxval / 2) / maxval);
    memcpy(depth_mm, depth_img.samples, pixels * sizeof(uint16_t));

    double t0 = now_ms();
    acnet_status st = acnet_session_create(model, device, &session);
    const double load_ms = now_ms() - t0;
    if (st != ACNET_OK) {
        fprintf(stderr, "segment: %s: %s\n", acnet_status_name(st), acnet_last_error(NULL));
        goto done;
    }
    const char* backend = "";
    int classes = 0, in_h = 0, in_w = 0;
    if (acnet_backend(session, &backend) != ACNET_OK || acnet_num_classes(session, &classes) != ACNET_OK ||
        acnet_input_size(session, &in_h, &in_w) != ACNET_OK) {
        fprintf(stderr, "segment: %s\n", acnet_last_error(session));
        goto done;
    }
    printf("acnet %s, %s, %d classes, input %dx%d, loaded in %.0f ms\n", acnet_version(), backend, classes, in_h,
           in_w, load_ms);

    /* A camera-native model takes the camera's buffers as they are (and gives the confidence too). */
    int cam_h = 0, cam_w = 0;
    acnet_depth_type depth_type = ACNET_DEPTH_UINT16;
    double depth_scale = 0.0;
    const int camera = acnet_camera(session, &cam_h, &cam_w, &depth_type, &depth_scale) == ACNET_OK;
    const void* depth_in = depth_mm;
    if (camera) {
        printf("camera-native: %dx%d frames, %s depth\n", cam_h, cam_w,
               depth_type == ACNET_DEPTH_UINT16 ? "uint16" : "float32 metres");
        if (depth_type == ACNET_DEPTH_FLOAT32) { /* this example reads millimetres from the PGM */
            depth_m = (float*)malloc(pixels * sizeof(float));
            if (!depth_m) {
                fprintf(stderr, "segment: out of memory\n");
                goto done;
            }
            for (size_t p = 0; p < pixels; ++p) depth_m[p] = (float)depth_mm[p] * 0.001f;
            depth_in = depth_m;
        }
    } else if (confidence_path) {
        fprintf(stderr, "segment: --confidence needs a camera-native model (acnet export ... --io camera)\n");
        rc = 2;
        goto done;
    }

    for (long r = 0; r < repeat; ++r) {
        double start = now_ms();
        if (camera) st = acnet_segment_camera(session, rgb, depth_in, depth_type, height, width, labels, confidence);
        else st = acnet_segment(session, rgb, depth_mm, height, width, labels);
        times[r] = now_ms() - start;
        if (st != ACNET_OK) {
            fprintf(stderr, "segment: %s: %s\n", acnet_status_name(st), acnet_last_error(session));
            goto done;
        }
        double total = 0.0, model_ms = 0.0;
        acnet_last_timing(session, &total, &model_ms);
        model_times[r] = model_ms;
        outside_times[r] = total - model_ms;
    }
    qsort(times, (size_t)repeat, sizeof(double), compare_double);
    qsort(model_times, (size_t)repeat, sizeof(double), compare_double);
    qsort(outside_times, (size_t)repeat, sizeof(double), compare_double);
    printf("segmented %dx%d: median %.2f ms over %ld run%s (min %.2f, max %.2f)\n", height, width, times[repeat / 2],
           repeat, repeat == 1 ? "" : "s", times[0], times[repeat - 1]);
    printf("median model %.3f ms, outside the model %.3f ms (the library's pre- and postprocessing)\n",
           model_times[repeat / 2], outside_times[repeat / 2]);

    /* The most frequent classes, for a quick look. */
    size_t counts[256] = {0};
    for (size_t p = 0; p < pixels; ++p) counts[labels[p]]++;
    for (int shown = 0; shown < 5; ++shown) {
        int best = -1;
        for (int k = 0; k < 256; ++k)
            if (counts[k] && (best < 0 || counts[k] > counts[best])) best = k;
        if (best < 0) break;
        const char* name = "void";
        if (best > 0 && acnet_class_name(session, best, &name) != ACNET_OK) name = "?";
        printf("  %3d %-20s %5.1f%%\n", best, name, 100.0 * (double)counts[best] / (double)pixels);
        counts[best] = 0;
    }

    if (write_pgm8(out_path, labels, height, width)) {
        fprintf(stderr, "segment: cannot write %s: %s\n", out_path, strerror(errno));
        goto done;
    }
    if (confidence_path && write_pgm8(confidence_path, confidence, height, width)) {
        fprintf(stderr, "segment: cannot write %s: %s\n", confidence_path, strerror(errno));
        goto done;
    }
    if (logits_path) {
        size_t count = 0;
        st = acnet_logits_size(session, &count);
        if (st == ACNET_OK && !(logits = (float*)malloc(count * sizeof(float)))) {
            fprintf(stderr, "segment: out of memory\n");
            goto done;
        }
        if (st == ACNET_OK) st = acnet_logits(session, rgb, depth_mm, height, width, logits, count);
        if (st != ACNET_OK) {
            fprintf(stderr, "segment: %s: %s\n", acnet_status_name(st), acnet_last_error(session));
            goto done;
        }
        if (write_floats(logits_path, logits, count)) {
            fprintf(stderr, "segment: cannot write logits to %s: %s\n", logits_path, strerror(errno));
            goto done;
        }
    }
    rc = 0;
done:
    acnet_session_destroy(session);
    free(rgb_img.samples);
    free(depth_img.samples);
    free(rgb);
    free(depth_mm);
    free(depth_m);
    free(labels);
    free(confidence);
    free(times);
    free(model_times);
    free(outside_times);
    free(logits);
    return rc;
}
