/*
 * acnet.h - C ABI of the acnet runtime: RGB-D semantic segmentation from C.
 *
 * Plain C99. One opaque session per loaded model; every function returns an
 * acnet_status and never lets a C++ exception or a crash escape for bad input
 * (NULL pointers, bad sizes, missing or foreign artefacts).
 *
 * Artefacts
 *   - AOTInductor package (.pt2) from `acnet export aoti`, CPU or CUDA;
 *   - TensorRT engine from `acnet export trt`, with its JSON sidecar
 *     (only when the library was built with TensorRT and CUDA).
 *   Each carries the model's metadata (classes, input size, normalisation),
 *   from which the session builds the same preprocessing as the Python
 *   runtime (acnet/runtime/preprocess.py).
 *
 * Camera-native models
 *   An artefact exported with `--io camera` has that preprocessing, the
 *   resizing back and the argmax inside the model: it takes one camera's
 *   frames as the camera gives them (a fixed size, acnet_camera) and returns
 *   uint8 labels and confidence. The library runs none of its own pre- or
 *   postprocessing for it and hands the caller's buffers to the backend as
 *   they are (a TensorRT engine reads uint16 depth as its bytes: the same
 *   memory). acnet_segment works for such models with uint16 depth;
 *   acnet_segment_camera also returns the confidence and takes float32
 *   metres; acnet_logits is not available.
 *
 * Images
 *   rgb       height*width*3 bytes, row-major, interleaved R,G,B.
 *   depth_mm  height*width uint16 values, row-major, millimetres; 0 = no reading.
 *   labels    height*width bytes, row-major class ids. Class id k (1..C) is
 *             logits channel k-1 and the name acnet_class_name(s, k);
 *             0 (void) is never produced.
 *   Any height and width in 1..ACNET_MAX_SIDE: frames are resized to the
 *   model's input size (bilinear RGB, nearest depth) and the logits are
 *   resized back bilinearly before the argmax. A camera-native model takes
 *   its camera's size only (below).
 *
 * Errors
 *   Functions return ACNET_OK or an error status. The message of the most
 *   recent failure is available from acnet_last_error(session) for calls on a
 *   session and from acnet_last_error(NULL) for any call made by the calling
 *   thread (including acnet_session_create). A successful call clears both.
 *
 * Thread safety
 *   A session is internally locked: acnet_segment and acnet_logits on one
 *   session may be called from several threads and run one at a time. For
 *   parallel inference create one session per thread. Queries (class count,
 *   names, input size, backend) are lock-free and may be called at any time.
 *   acnet_last_error(session) is shared by all threads using the session; when
 *   a session is shared, read acnet_last_error(NULL) instead, which is
 *   per-thread. acnet_session_destroy must not race with other calls on the
 *   same session.
 *
 * CPU threads: the AOTInductor CPU backend uses OpenMP. Set OMP_NUM_THREADS
 * before the first session is created to bound its thread count, and on a
 * machine shared with other busy processes also OMP_WAIT_POLICY=passive:
 * spinning OpenMP threads that lose their core make latency erratic.
 */
#ifndef ACNET_H
#define ACNET_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(ACNET_BUILDING_LIBRARY)
#    define ACNET_API __declspec(dllexport)
#  else
#    define ACNET_API __declspec(dllimport)
#  endif
#else
#  define ACNET_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** Version of this ABI; bumped on any incompatible change to this header. */
#define ACNET_ABI_VERSION 1

/** Largest accepted image height or width, in pixels. */
#define ACNET_MAX_SIDE 16384

typedef enum acnet_status {
    ACNET_OK = 0,
    /** A NULL pointer, a size outside 1..ACNET_MAX_SIDE or a malformed device string. */
    ACNET_ERROR_INVALID_ARGUMENT = 1,
    /** The caller's buffer is smaller than the size query says it must be. */
    ACNET_ERROR_BUFFER_TOO_SMALL = 2,
    /** The artefact file does not exist or cannot be read. */
    ACNET_ERROR_NOT_FOUND = 3,
    /**
     * The file is not an acnet artefact, is corrupt, or its metadata is missing, malformed (against
     * acnet/runtime/metadata.schema.json: the message names the field) or does not match the model.
     */
    ACNET_ERROR_INVALID_ARTIFACT = 4,
    /** The artefact needs a backend, device or CPU feature this build or machine does not have. */
    ACNET_ERROR_UNSUPPORTED = 5,
    /** The backend failed while running the model. */
    ACNET_ERROR_INFERENCE = 6,
    ACNET_ERROR_OUT_OF_MEMORY = 7,
    /** A bug in acnet, never bad input; please report it with the message. */
    ACNET_ERROR_INTERNAL = 8
} acnet_status;

/** A loaded model with its preprocessing. Opaque. */
typedef struct acnet_session acnet_session;

/** Library version, e.g. "0.1.0" (the acnet Python package it was built from). */
ACNET_API const char* acnet_version(void);

/** ACNET_ABI_VERSION of the library; compare with the header's to detect a mismatch. */
ACNET_API int acnet_abi_version(void);

/** Name of a status, e.g. "ACNET_ERROR_NOT_FOUND"; "ACNET_UNKNOWN_STATUS" for other values. */
ACNET_API const char* acnet_status_name(acnet_status status);

/**
 * Load an artefact and prepare a session.
 *
 * device: NULL or "" for the artefact's own device, "cpu", "cuda" or
 * "cuda:N". An AOTInductor package runs on the device it was compiled for;
 * a TensorRT engine runs on a CUDA device.
 * The model is run once on a blank frame to check its output against the
 * metadata, so the first acnet_segment call is not slower than the next.
 * On success *out holds a new session; on failure *out is set to NULL.
 */
ACNET_API acnet_status acnet_session_create(const char* artifact_path, const char* device, acnet_session** out);

/** Free a session and everything it holds. NULL is accepted and ignored. */
ACNET_API void acnet_session_destroy(acnet_session* session);

/** Segment one frame: labels_out receives height*width class ids (see top of file). */
ACNET_API acnet_status acnet_segment(acnet_session* session, const uint8_t* rgb, const uint16_t* depth_mm,
                                     int height, int width, uint8_t* labels_out);

/** The depth a camera-native model takes. */
typedef enum acnet_depth_type {
    /** uint16 in units of the model's depth scale (acnet_camera; 0.001 = millimetres). */
    ACNET_DEPTH_UINT16 = 0,
    /** float32 metres (e.g. ROS 32FC1 images). */
    ACNET_DEPTH_FLOAT32 = 1
} acnet_depth_type;

/**
 * The camera a camera-native model (`--io camera`) was exported for: its
 * frame size, depth type and depth scale (metres per unit). Any output
 * pointer may be NULL. Models of normalised tensors take frames of any size
 * and have no camera: ACNET_ERROR_UNSUPPORTED.
 */
ACNET_API acnet_status acnet_camera(const acnet_session* session, int* height, int* width, acnet_depth_type* depth_type,
                                    double* depth_scale);

/**
 * Segment one frame with a camera-native model, its buffers handed to the
 * model as they are: rgb height*width*3 bytes (R, G, B), depth height*width
 * values of depth_type (the model's own, acnet_camera), at the camera's
 * size. labels_out receives height*width class ids (0 void, never produced
 * for finite depth) and confidence_out, unless NULL, height*width bytes:
 * the top class's softmax probability x 255, rounded. A depth type or frame
 * size other than the model's is ACNET_ERROR_INVALID_ARGUMENT; a model
 * without a camera, ACNET_ERROR_UNSUPPORTED (use acnet_segment).
 */
ACNET_API acnet_status acnet_segment_camera(acnet_session* session, const uint8_t* rgb, const void* depth,
                                            acnet_depth_type depth_type, int height, int width, uint8_t* labels_out,
                                            uint8_t* confidence_out);

/**
 * Wall-clock time of the session's last successful acnet_segment,
 * acnet_segment_camera or acnet_logits call, in milliseconds: the whole call
 * and the backend's run of the model in it (host-device copies included);
 * their difference is the library's own work around the model
 * (preprocessing, resizing, argmax). Either pointer may be NULL. Before any
 * call both are 0.
 */
ACNET_API acnet_status acnet_last_timing(const acnet_session* session, double* total_ms, double* model_ms);

/**
 * Number of floats acnet_logits writes: num_classes * input height * input
 * width (see acnet_input_size); the same for every frame.
 */
ACNET_API acnet_status acnet_logits_size(const acnet_session* session, size_t* count);

/**
 * The model's class scores for one frame, float32, planar, at the model's
 * input size h x w (acnet_input_size), as Segmenter.logits in Python:
 * logits_out[(c * h + y) * w + x] is the score of class id c+1.
 * acnet_segment's labels are these scores resized bilinearly (half-pixel
 * centres) to the frame's size, then argmax + 1.
 * capacity is the number of floats logits_out can hold; it must be at least
 * acnet_logits_size(), else ACNET_ERROR_BUFFER_TOO_SMALL. Models exported
 * with --argmax or --io camera have no logits: ACNET_ERROR_UNSUPPORTED.
 */
ACNET_API acnet_status acnet_logits(acnet_session* session, const uint8_t* rgb, const uint16_t* depth_mm,
                                    int height, int width, float* logits_out, size_t capacity);

/** Number of classes C; labels are 1..C. */
ACNET_API acnet_status acnet_num_classes(const acnet_session* session, int* count);

/**
 * Name of class id class_id (1..C). *name stays valid until the session is
 * destroyed.
 */
ACNET_API acnet_status acnet_class_name(const acnet_session* session, int class_id, const char** name);

/** The model's input size; every frame is resized to it before inference (camera-native models: in the model). */
ACNET_API acnet_status acnet_input_size(const acnet_session* session, int* height, int* width);

/**
 * Backend and device of a session, e.g. "aoti/cpu", "aoti/cuda:0" or
 * "tensorrt/cuda:0". *name stays valid until the session is destroyed.
 */
ACNET_API acnet_status acnet_backend(const acnet_session* session, const char** name);

/**
 * Readable message of the last failure: of the last call on session, or,
 * when session is NULL, of the last call made by this thread. "" when that
 * call succeeded. Never NULL. The pointer is valid until the next call on the
 * session (or, for NULL, by this thread).
 */
ACNET_API const char* acnet_last_error(const acnet_session* session);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ACNET_H */
