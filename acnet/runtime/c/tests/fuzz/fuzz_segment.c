/*
 * libFuzzer harness for examples/segment.c, the code users copy: its PNM
 * reader and every path of main, under ASan, UBSan and LeakSanitizer (a
 * buffer not freed on some error path is a finding). The library is
 * replaced by a fake acnet.h implementation whose calls succeed or fail as
 * the input's first byte says; the rest is RGB.ppm \0\0 DEPTH.pgm.
 */
#define main segment_main
#include "../../examples/segment.c"
#undef main

char* mkdtemp(char* path); /* POSIX 2008; segment.c asks only for 1993 */

static unsigned char g_flags;
static char g_dir[4096];

struct acnet_session {
    int classes;
};

const char* acnet_version(void) { return "fuzz"; }
int acnet_abi_version(void) { return ACNET_ABI_VERSION; }
const char* acnet_status_name(acnet_status status) { return status == ACNET_OK ? "ACNET_OK" : "ACNET_ERROR"; }
const char* acnet_last_error(const acnet_session* session) { return session ? "session failed" : "create failed"; }

acnet_status acnet_session_create(const char* path, const char* device, acnet_session** out) {
    (void)path;
    (void)device;
    *out = NULL;
    if (g_flags & 1) return ACNET_ERROR_NOT_FOUND;
    *out = (acnet_session*)malloc(sizeof **out);
    if (!*out) return ACNET_ERROR_OUT_OF_MEMORY;
    (*out)->classes = 3;
    return ACNET_OK;
}

void acnet_session_destroy(acnet_session* session) { free(session); }

acnet_status acnet_segment(acnet_session* s, const uint8_t* rgb, const uint16_t* depth, int h, int w, uint8_t* out) {
    if (!s || !rgb || !depth || !out || h < 1 || w < 1) return ACNET_ERROR_INVALID_ARGUMENT;
    if (g_flags & 2) return ACNET_ERROR_INFERENCE;
    for (size_t p = 0; p < (size_t)h * (size_t)w; ++p) out[p] = (uint8_t)(rgb[3 * p] % 4); /* reads every byte */
    return ACNET_OK;
}

acnet_status acnet_logits_size(const acnet_session* s, size_t* count) {
    *count = (size_t)s->classes * 4;
    return g_flags & 4 ? ACNET_ERROR_UNSUPPORTED : ACNET_OK;
}

acnet_status acnet_logits(acnet_session* s, const uint8_t* rgb, const uint16_t* depth, int h, int w, float* out,
                          size_t capacity) {
    (void)rgb;
    (void)depth;
    (void)h;
    (void)w;
    if (capacity < (size_t)s->classes * 4) return ACNET_ERROR_BUFFER_TOO_SMALL;
    if (g_flags & 8) return ACNET_ERROR_INFERENCE;
    for (size_t i = 0; i < capacity; ++i) out[i] = (float)i;
    return ACNET_OK;
}

acnet_status acnet_num_classes(const acnet_session* s, int* count) {
    *count = s->classes;
    return ACNET_OK;
}

acnet_status acnet_class_name(const acnet_session* s, int id, const char** name) {
    *name = "thing";
    return id >= 1 && id <= s->classes ? ACNET_OK : ACNET_ERROR_INVALID_ARGUMENT;
}

acnet_status acnet_input_size(const acnet_session* s, int* h, int* w) {
    (void)s;
    *h = 2;
    *w = 2;
    return ACNET_OK;
}

acnet_status acnet_backend(const acnet_session* s, const char** name) {
    (void)s;
    *name = "fake";
    return ACNET_OK;
}

/* A tensor model, as the fake sessions are: no camera, so the example takes acnet_segment's path. */
acnet_status acnet_camera(const acnet_session* s, int* h, int* w, acnet_depth_type* type, double* scale) {
    (void)s;
    (void)h;
    (void)w;
    (void)type;
    (void)scale;
    return ACNET_ERROR_UNSUPPORTED;
}

acnet_status acnet_segment_camera(acnet_session* s, const uint8_t* rgb, const void* depth, acnet_depth_type type,
                                  int h, int w, uint8_t* labels, uint8_t* confidence) {
    (void)s;
    (void)rgb;
    (void)depth;
    (void)type;
    (void)h;
    (void)w;
    (void)labels;
    (void)confidence;
    abort(); /* never called for a model without a camera */
}

acnet_status acnet_last_timing(const acnet_session* s, double* total_ms, double* model_ms) {
    (void)s;
    if (total_ms) *total_ms = 0.0;
    if (model_ms) *model_ms = 0.0;
    return ACNET_OK;
}

static void write_all(const char* path, const uint8_t* data, size_t size) {
    FILE* f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

static void remove_files(void) {
    static const char* const names[] = {"rgb.ppm", "depth.pgm", "labels.pgm", "logits.f32"};
    char path[4200];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        snprintf(path, sizeof path, "%s/%s", g_dir, names[i]);
        remove(path);
    }
    remove(g_dir);
}

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    (void)argc;
    (void)argv;
    const char* tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/acnet-fuzz-segment-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) abort();
    atexit(remove_files);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    g_flags = data[0];
    data++;
    size--;
    size_t split = size;
    for (size_t i = 0; i + 1 < size; ++i) {
        if (data[i] == 0 && data[i + 1] == 0) {
            split = i;
            break;
        }
    }
    char rgb[4200], depth[4200], labels[4200], logits[4200], repeat[8];
    snprintf(rgb, sizeof rgb, "%s/rgb.ppm", g_dir);
    snprintf(depth, sizeof depth, "%s/depth.pgm", g_dir);
    snprintf(labels, sizeof labels, "%s/labels.pgm", g_dir);
    snprintf(logits, sizeof logits, "%s/logits.f32", g_dir);
    snprintf(repeat, sizeof repeat, "%d", 1 + (g_flags >> 6));
    write_all(rgb, data, split);
    write_all(depth, data + (split + 2 <= size ? split + 2 : size), split + 2 <= size ? size - split - 2 : 0);
    char* args[] = {"segment", "--repeat", repeat, "--logits", logits, "model", rgb, depth, labels, NULL};
    const int skip = g_flags & 16 ? 2 : 0; /* without --logits */
    if (skip) {
        args[3] = "model";
        args[4] = rgb;
        args[5] = depth;
        args[6] = labels;
        args[7] = NULL;
    }
    segment_main(skip ? 7 : 9, args);
    return 0;
}
