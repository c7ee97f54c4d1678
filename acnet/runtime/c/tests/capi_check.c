/*
 * Exercises the C ABI from C, for tests/test_capi.py. Not installed.
 *
 *   capi_check open ARTIFACT [DEVICE]   try to open an artefact; print status and message
 *   capi_check errors PACKAGE           every argument error path on a valid package
 *   capi_check threads PACKAGE          one session shared by several threads
 *   capi_check camera PACKAGE TENSOR_PACKAGE   a camera-native package's calls and errors, and a
 *                                       tensor package's refusals of the camera calls
 *
 * Prints "ok <check>" or "FAIL <check>: ..." per check; exits 1 on any failure.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acnet.h"

static int failures = 0;

static void check(int ok, const char* name, const char* detail) {
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, detail ? detail : "");
        failures++;
    }
}

/* The call returned `want`, and the messages (thread's and, if given, the
 * session's) are non-empty, mention `word` and agree. */
static void expect(acnet_status got, acnet_status want, const acnet_session* s, const char* word, const char* name) {
    char detail[1024];
    const char* msg = acnet_last_error(NULL);
    snprintf(detail, sizeof detail, "got %s (%s), want %s mentioning '%s'", acnet_status_name(got), msg,
             acnet_status_name(want), word);
    int ok = got == want && msg[0] != '\0' && strstr(msg, word) != NULL;
    if (s) ok = ok && strcmp(acnet_last_error(s), msg) == 0;
    check(ok, name, detail);
}

/* A deterministic frame with structure (gradients and a box). */
static void make_frame(int h, int w, uint8_t* rgb, uint16_t* depth) {
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            size_t p = (size_t)y * (size_t)w + (size_t)x;
            int box = y > h / 3 && y < 2 * h / 3 && x > w / 4 && x < w / 2;
            rgb[3 * p + 0] = (uint8_t)(box ? 200 : (x * 255) / (w > 1 ? w - 1 : 1));
            rgb[3 * p + 1] = (uint8_t)(box ? 30 : (y * 255) / (h > 1 ? h - 1 : 1));
            rgb[3 * p + 2] = (uint8_t)((x + y) % 256);
            depth[p] = (uint16_t)(box ? 1200 : 1000 + 3000 * y / (h > 1 ? h : 1));
            if ((x * 7 + y * 13) % 50 == 0) depth[p] = 0; /* holes */
        }
    }
}

static int cmd_open(const char* path, const char* device) {
    acnet_session* s = (acnet_session*)&failures; /* must be reset to NULL on failure */
    acnet_status st = acnet_session_create(path, device, &s);
    printf("status=%s\nmessage=%s\n", acnet_status_name(st), acnet_last_error(NULL));
    if (st == ACNET_OK) {
        const char* backend = NULL;
        int classes = 0, h = 0, w = 0;
        acnet_backend(s, &backend);
        acnet_num_classes(s, &classes);
        acnet_input_size(s, &h, &w);
        printf("backend=%s\nclasses=%d\ninput=%dx%d\n", backend, classes, h, w);
        acnet_session_destroy(s);
    } else if (s != NULL) {
        printf("FAIL out not reset to NULL\n");
        return 1;
    }
    return 0;
}

static int cmd_errors(const char* package) {
    char detail[512];
    acnet_session* s = NULL;
    acnet_status st;

    check(acnet_abi_version() == ACNET_ABI_VERSION, "abi_version", "library and header disagree");
    printf("version=%s\n", acnet_version());
    check(strcmp(acnet_status_name(ACNET_ERROR_NOT_FOUND), "ACNET_ERROR_NOT_FOUND") == 0, "status_name", NULL);
    check(strcmp(acnet_status_name((acnet_status)99), "ACNET_UNKNOWN_STATUS") == 0, "status_name_unknown", NULL);

    /* ---- create */
    expect(acnet_session_create(package, NULL, NULL), ACNET_ERROR_INVALID_ARGUMENT, NULL, "out", "create_null_out");
    s = (acnet_session*)&failures;
    expect(acnet_session_create(NULL, NULL, &s), ACNET_ERROR_INVALID_ARGUMENT, NULL, "artifact_path", "create_null_path");
    check(s == NULL, "create_failure_resets_out", "*out not NULL after a failure");
    expect(acnet_session_create("", NULL, &s), ACNET_ERROR_INVALID_ARGUMENT, NULL, "artifact_path", "create_empty_path");
    expect(acnet_session_create(package, "tpu", &s), ACNET_ERROR_INVALID_ARGUMENT, NULL, "tpu", "create_bad_device");
    expect(acnet_session_create(package, "cuda:x", &s), ACNET_ERROR_INVALID_ARGUMENT, NULL, "cuda:x", "create_bad_cuda_index");
    expect(acnet_session_create("/nonexistent/model.pt2", NULL, &s), ACNET_ERROR_NOT_FOUND, NULL, "not found",
           "create_missing_file");

    st = acnet_session_create(package, " CPU ", &s);
    snprintf(detail, sizeof detail, "%s: %s", acnet_status_name(st), acnet_last_error(NULL));
    check(st == ACNET_OK && s != NULL, "create_ok", detail);
    if (st != ACNET_OK) return 1;
    check(acnet_last_error(NULL)[0] == '\0' && acnet_last_error(s)[0] == '\0', "success_clears_error", NULL);

    /* ---- queries */
    int classes = 0, in_h = 0, in_w = 0;
    size_t count = 0;
    const char* name = NULL;
    expect(acnet_num_classes(NULL, &classes), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "num_classes_null_session");
    expect(acnet_num_classes(s, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "count", "num_classes_null_out");
    check(acnet_num_classes(s, &classes) == ACNET_OK && classes > 0, "num_classes", NULL);
    expect(acnet_input_size(s, NULL, &in_w), ACNET_ERROR_INVALID_ARGUMENT, s, "height", "input_size_null_height");
    expect(acnet_input_size(s, &in_h, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "width", "input_size_null_width");
    expect(acnet_input_size(NULL, &in_h, &in_w), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "input_size_null_session");
    check(acnet_input_size(s, &in_h, &in_w) == ACNET_OK && in_h > 0 && in_w > 0, "input_size", NULL);
    expect(acnet_class_name(s, 0, &name), ACNET_ERROR_INVALID_ARGUMENT, s, "void", "class_name_void");
    expect(acnet_class_name(s, classes + 1, &name), ACNET_ERROR_INVALID_ARGUMENT, s, "outside", "class_name_too_big");
    expect(acnet_class_name(s, -5, &name), ACNET_ERROR_INVALID_ARGUMENT, s, "outside", "class_name_negative");
    expect(acnet_class_name(s, 1, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "name", "class_name_null_out");
    expect(acnet_class_name(NULL, 1, &name), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "class_name_null_session");
    for (int k = 1; k <= classes; ++k) {
        st = acnet_class_name(s, k, &name);
        if (st != ACNET_OK || !name) break;
        printf("class %d=%s\n", k, name);
    }
    check(st == ACNET_OK, "class_names", acnet_last_error(s));
    expect(acnet_backend(s, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "name", "backend_null_out");
    expect(acnet_backend(NULL, &name), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "backend_null_session");
    check(acnet_backend(s, &name) == ACNET_OK && strncmp(name, "aoti/", 5) == 0, "backend", name);
    expect(acnet_logits_size(s, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "count", "logits_size_null_out");
    expect(acnet_logits_size(NULL, &count), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "logits_size_null_session");
    check(acnet_logits_size(s, &count) == ACNET_OK && count == (size_t)classes * in_h * in_w, "logits_size", NULL);

    /* ---- segment and logits: bad arguments */
    int h = in_h, w = in_w;
    size_t n = (size_t)h * (size_t)w;
    uint8_t* rgb = (uint8_t*)malloc(3 * n);
    uint16_t* depth = (uint16_t*)malloc(2 * n);
    uint8_t* labels = (uint8_t*)malloc(n);
    float* logits = (float*)malloc(count * sizeof(float));
    if (!rgb || !depth || !labels || !logits) return 1;
    make_frame(h, w, rgb, depth);

    expect(acnet_segment(NULL, rgb, depth, h, w, labels), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "segment_null_session");
    expect(acnet_segment(s, NULL, depth, h, w, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "rgb", "segment_null_rgb");
    expect(acnet_segment(s, rgb, NULL, h, w, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "depth_mm", "segment_null_depth");
    expect(acnet_segment(s, rgb, depth, h, w, NULL), ACNET_ERROR_INVALID_ARGUMENT, s, "labels_out", "segment_null_labels");
    expect(acnet_segment(s, rgb, depth, 0, w, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "image size", "segment_zero_height");
    expect(acnet_segment(s, rgb, depth, h, -3, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "image size", "segment_negative_width");
    expect(acnet_segment(s, rgb, depth, ACNET_MAX_SIDE + 1, 1, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "image size",
           "segment_too_tall");
    expect(acnet_logits(NULL, rgb, depth, h, w, logits, count), ACNET_ERROR_INVALID_ARGUMENT, NULL, "session", "logits_null_session");
    expect(acnet_logits(s, NULL, depth, h, w, logits, count), ACNET_ERROR_INVALID_ARGUMENT, s, "rgb", "logits_null_rgb");
    expect(acnet_logits(s, rgb, NULL, h, w, logits, count), ACNET_ERROR_INVALID_ARGUMENT, s, "depth_mm", "logits_null_depth");
    expect(acnet_logits(s, rgb, depth, h, w, NULL, count), ACNET_ERROR_INVALID_ARGUMENT, s, "logits_out", "logits_null_out");
    expect(acnet_logits(s, rgb, depth, h, 0, logits, count), ACNET_ERROR_INVALID_ARGUMENT, s, "image size", "logits_zero_width");
    expect(acnet_logits(s, rgb, depth, h, w, logits, count - 1), ACNET_ERROR_BUFFER_TOO_SMALL, s, "acnet_logits_size",
           "logits_capacity_too_small");
    expect(acnet_logits(s, rgb, depth, h, w, logits, 0), ACNET_ERROR_BUFFER_TOO_SMALL, s, "holds 0 floats",
           "logits_capacity_zero");

    /* ---- the good path: labels are argmax + 1 of the logits at the model's size */
    st = acnet_segment(s, rgb, depth, h, w, labels);
    check(st == ACNET_OK && acnet_last_error(s)[0] == '\0', "segment_ok", acnet_last_error(s));
    st = acnet_logits(s, rgb, depth, h, w, logits, count);
    check(st == ACNET_OK, "logits_ok", acnet_last_error(s));
    size_t plane = (size_t)in_h * (size_t)in_w, mismatched = 0;
    for (size_t p = 0; p < plane; ++p) {
        int best = 0;
        for (int c = 1; c < classes; ++c)
            if (logits[(size_t)c * plane + p] > logits[(size_t)best * plane + p]) best = c;
        if (labels[p] != best + 1) mismatched++;
    }
    snprintf(detail, sizeof detail, "%zu of %zu pixels differ", mismatched, plane);
    check(mismatched == 0, "labels_are_argmax_plus_one", detail);

    /* ---- any frame size, tiny and elongated ones included */
    static const int sizes[][2] = {{1, 1}, {1, 700}, {700, 1}, {3, 7}, {37, 53}, {480, 640}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
        int fh = sizes[i][0], fw = sizes[i][1];
        size_t fn = (size_t)fh * (size_t)fw;
        uint8_t* frgb = (uint8_t*)malloc(3 * fn);
        uint16_t* fdepth = (uint16_t*)malloc(2 * fn);
        uint8_t* flabels = (uint8_t*)malloc(fn);
        make_frame(fh, fw, frgb, fdepth);
        st = acnet_segment(s, frgb, fdepth, fh, fw, flabels);
        int in_range = st == ACNET_OK;
        for (size_t p = 0; in_range && p < fn; ++p) in_range = flabels[p] >= 1 && flabels[p] <= classes;
        snprintf(detail, sizeof detail, "%dx%d: %s %s", fh, fw, acnet_status_name(st), acnet_last_error(s));
        char label[64];
        snprintf(label, sizeof label, "segment_%dx%d", fh, fw);
        check(in_range, label, detail);
        free(frgb);
        free(fdepth);
        free(flabels);
    }

    acnet_session_destroy(s);
    acnet_session_destroy(NULL);
    check(1, "destroy_null", NULL);
    free(rgb);
    free(depth);
    free(labels);
    free(logits);
    return failures ? 1 : 0;
}

/* ---- one session, several threads */

enum { THREADS = 4, RUNS = 3, TH = 45, TW = 77 };

typedef struct {
    acnet_session* session;
    const uint8_t* rgb;
    const uint16_t* depth;
    const uint8_t* expected;
    int mismatches;
    int errors;
} worker;

static void* work(void* arg) {
    worker* wk = (worker*)arg;
    uint8_t labels[TH * TW];
    for (int r = 0; r < RUNS; ++r) {
        if (acnet_segment(wk->session, wk->rgb, wk->depth, TH, TW, labels) != ACNET_OK) {
            wk->errors++;
            continue;
        }
        if (memcmp(labels, wk->expected, sizeof labels) != 0) wk->mismatches++;
    }
    return NULL;
}

static int cmd_threads(const char* package) {
    acnet_session* s = NULL;
    if (acnet_session_create(package, NULL, &s) != ACNET_OK) {
        printf("FAIL threads_create: %s\n", acnet_last_error(NULL));
        return 1;
    }
    static uint8_t rgb[TH * TW * 3], expected[TH * TW];
    static uint16_t depth[TH * TW];
    make_frame(TH, TW, rgb, depth);
    if (acnet_segment(s, rgb, depth, TH, TW, expected) != ACNET_OK) return 1;
    pthread_t threads[THREADS];
    worker workers[THREADS];
    for (int t = 0; t < THREADS; ++t) {
        workers[t] = (worker){s, rgb, depth, expected, 0, 0};
        pthread_create(&threads[t], NULL, work, &workers[t]);
    }
    int mismatches = 0, errors = 0;
    for (int t = 0; t < THREADS; ++t) {
        pthread_join(threads[t], NULL);
        mismatches += workers[t].mismatches;
        errors += workers[t].errors;
    }
    char detail[128];
    snprintf(detail, sizeof detail, "%d errors, %d runs with different labels", errors, mismatches);
    check(errors == 0 && mismatches == 0, "threads_share_one_session", detail);
    acnet_session_destroy(s);
    return failures ? 1 : 0;
}

static int cmd_camera(const char* path, const char* tensor_path) {
    acnet_session* s = NULL;
    acnet_status st = acnet_session_create(path, NULL, &s);
    check(st == ACNET_OK, "camera open", acnet_last_error(NULL));
    if (st != ACNET_OK) return 1;
    int h = 0, w = 0;
    acnet_depth_type type = ACNET_DEPTH_FLOAT32;
    double scale = 0.0;
    st = acnet_camera(s, &h, &w, &type, &scale);
    check(st == ACNET_OK && h > 0 && w > 0 && type == ACNET_DEPTH_UINT16 && scale == 0.001, "camera facts", acnet_last_error(s));
    check(acnet_camera(s, NULL, NULL, NULL, NULL) == ACNET_OK, "camera facts, NULL outputs", acnet_last_error(s));
    size_t n = (size_t)h * (size_t)w;
    uint8_t* rgb = (uint8_t*)malloc(3 * n + 3 * (n + (size_t)w));
    uint16_t* depth = (uint16_t*)malloc(2 * (n + (size_t)w));
    uint8_t *labels = (uint8_t*)malloc(n + (size_t)w), *again = (uint8_t*)malloc(n), *conf = (uint8_t*)malloc(n);
    make_frame(h, w, rgb, depth);

    st = acnet_segment_camera(s, rgb, depth, ACNET_DEPTH_UINT16, h, w, labels, conf);
    check(st == ACNET_OK, "segment_camera", acnet_last_error(s));
    int valid = 1, confident = 1;
    for (size_t p = 0; p < n; ++p) {
        valid &= labels[p] >= 1;
        confident &= conf[p] >= 1;
    }
    check(valid && confident, "labels 1..C and confidence > 0", NULL);
    double total = -1.0, model = -1.0;
    check(acnet_last_timing(s, &total, &model) == ACNET_OK && model > 0.0 && total >= model, "last timing", NULL);
    st = acnet_segment(s, rgb, depth, h, w, again);
    check(st == ACNET_OK && memcmp(labels, again, n) == 0, "segment = segment_camera's labels", acnet_last_error(s));
    st = acnet_segment_camera(s, rgb, depth, ACNET_DEPTH_UINT16, h, w, again, NULL);
    check(st == ACNET_OK && memcmp(labels, again, n) == 0, "confidence may be NULL", acnet_last_error(s));

    expect(acnet_segment_camera(s, rgb, depth, ACNET_DEPTH_UINT16, h + 1, w, labels, conf), ACNET_ERROR_INVALID_ARGUMENT,
           s, "--camera-size", "camera frame of another size");
    expect(acnet_segment(s, rgb, depth, h, w + 1, labels), ACNET_ERROR_INVALID_ARGUMENT, s, "takes", "segment: frame of another size");
    expect(acnet_segment_camera(s, rgb, depth, ACNET_DEPTH_FLOAT32, h, w, labels, conf), ACNET_ERROR_INVALID_ARGUMENT,
           s, "uint16", "float32 depth for a uint16 model");
    expect(acnet_segment_camera(s, rgb, depth, (acnet_depth_type)7, h, w, labels, conf), ACNET_ERROR_INVALID_ARGUMENT,
           s, "depth_type", "unknown depth type");
    expect(acnet_segment_camera(s, rgb, NULL, ACNET_DEPTH_UINT16, h, w, labels, conf), ACNET_ERROR_INVALID_ARGUMENT,
           s, "depth", "NULL depth");
    expect(acnet_segment_camera(s, rgb, depth, ACNET_DEPTH_UINT16, h, w, NULL, conf), ACNET_ERROR_INVALID_ARGUMENT,
           s, "labels_out", "NULL labels");
    float logits[4];
    expect(acnet_logits(s, rgb, depth, h, w, logits, 4), ACNET_ERROR_UNSUPPORTED, s, "--io camera", "no logits");
    acnet_session_destroy(s);

    acnet_session* t = NULL;
    st = acnet_session_create(tensor_path, NULL, &t);
    check(st == ACNET_OK, "tensor open", acnet_last_error(NULL));
    if (st == ACNET_OK) {
        expect(acnet_camera(t, &h, &w, &type, &scale), ACNET_ERROR_UNSUPPORTED, t, "--io camera", "tensor model: no camera");
        expect(acnet_segment_camera(t, rgb, depth, ACNET_DEPTH_UINT16, h, w, labels, conf), ACNET_ERROR_UNSUPPORTED, t,
               "acnet_segment", "tensor model: no camera buffers");
        acnet_session_destroy(t);
    }
    free(rgb);
    free(depth);
    free(labels);
    free(again);
    free(conf);
    return failures ? 1 : 0;
}

int main(int argc, char** argv) {
    if (argc >= 3 && strcmp(argv[1], "open") == 0) return cmd_open(argv[2], argc > 3 ? argv[3] : NULL);
    if (argc == 3 && strcmp(argv[1], "errors") == 0) return cmd_errors(argv[2]);
    if (argc == 3 && strcmp(argv[1], "threads") == 0) return cmd_threads(argv[2]);
    if (argc == 4 && strcmp(argv[1], "camera") == 0) return cmd_camera(argv[2], argv[3]);
    fprintf(stderr, "usage: capi_check open ARTIFACT [DEVICE] | errors PACKAGE | threads PACKAGE | camera PACKAGE TENSOR_PACKAGE\n");
    return 2;
}
