/* deepear portable C99 inference library: 16 kHz int16 PCM -> per-window task probabilities.
 *
 * Static memory only: all state lives in a caller-owned `deepear_stream` (its size, the "arena", is
 * DEEPEAR_ARENA_BYTES, computed at export and checked here at compile time). No malloc; libc + libm only.
 *
 *     static deepear_stream s;                      // e.g. in .bss
 *     deepear_init(&s);
 *     deepear_push(&s, pcm, n, on_event, user);     // any chunk size, any number of calls
 *     deepear_flush(&s, on_event, user);            // end of stream: the partial-window rule, then re-init
 *
 * Build: the int8 path (int8 weights, int32 accumulation) by default; -DDEEPEAR_FLOAT for the fp32 model.
 * The constants (front end, mel filterbank, voicing MLP, task windows, labels, layers) are generated into
 * deepear_weights.h by deepear.export.c_codegen.
 */
#ifndef DEEPEAR_MODEL_H
#define DEEPEAR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "deepear_weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-task status in an event. */
#define DEEPEAR_TASK_RAN 0              /* the head ran; probs holds the probabilities */
#define DEEPEAR_TASK_SKIPPED_SILENT 1   /* window is silent: no inference at all */
#define DEEPEAR_TASK_SKIPPED_NOT_SPEECH 2  /* speech task on an unvoiced window (routing on) */

/* The whole state of one stream. Caller-owned; treat as opaque. Its layout uses only 8- and 4-byte fields
 * in an order with no implicit padding, so sizeof() is the same on x86-64 and 32-bit ARM (EABI). */
typedef struct {
    double floor_run_min;                         /* silence: running min of E[s] - R(s) (dB) */
#ifdef DEEPEAR_PITCH
    double pitch_dn[DEEPEAR_PITCH_N_LAGS];        /* scratch: YIN normalised difference, lags TAU_MIN..TAU_MAX */
#endif
    uint32_t n_frames;                            /* frames analysed so far */
    uint32_t n_pcm;                               /* samples waiting in pcm[] */
    uint32_t routing;                             /* 1: speech tasks only on voiced windows */
    uint32_t voi_n;                               /* frames in the voicing history (saturates at CTX) */
    uint32_t voi_pos;                             /* next slot of the voicing history ring */
    uint32_t n_emitted[DEEPEAR_N_GROUPS_PAD];     /* windows emitted per group */
    int16_t pcm[DEEPEAR_N_FFT];                   /* the samples of the next frame */
    float fft[DEEPEAR_N_FFT];                     /* N/2 complex values, interleaved re, im */
    float power[DEEPEAR_N_BINS_PAD];              /* |X[k]|^2 of the current frame */
    float ring_values[DEEPEAR_MAX_WIN * DEEPEAR_N_MELS];  /* log-mel dB of the last MAX_WIN frames */
    float ring_energy[DEEPEAR_MAX_WIN];           /* frame energy, dBFS */
    float ring_speech[DEEPEAR_MAX_WIN];           /* P(speech) per frame */
#ifdef DEEPEAR_PITCH
    float ring_st[DEEPEAR_MAX_WIN];               /* pitch: F0 in semitones re 100 Hz per frame */
    float ring_aper[DEEPEAR_MAX_WIN];             /* pitch: YIN aperiodicity per frame */
#endif
    uint8_t ring_active[DEEPEAR_MAX_WIN_PAD4];    /* silence filter: frame active */
    float voi_low[DEEPEAR_VOI_CTX * DEEPEAR_VOI_N_LOW];  /* voicing context: low log-mel bands */
    float voi_lev[DEEPEAR_VOI_CTX];               /* mean low-band level */
    float voi_flux[DEEPEAR_VOI_CTX];              /* flux to the previous frame */
    float voi_flat[DEEPEAR_VOI_CTX];              /* low-band peakiness */
    float voi_feat[DEEPEAR_VOI_N_FEAT];           /* scratch: voicing features */
    float voi_hidden[DEEPEAR_VOI_HIDDEN];         /* scratch: voicing MLP hidden layer */
    float sort_buf[DEEPEAR_MAX_WIN];              /* scratch: one band's selected values */
    float features[DEEPEAR_DIM];                  /* the window's summary vector (raw, unstandardised) */
    uint32_t ad_n;                                /* speaker adaptation: voiced windows seen (docs/adaptation.md) */
    uint32_t ad_pad;                              /* keeps the following arrays 8-byte aligned */
    float ad_mean[DEEPEAR_AD_DIM];                /* running mean of those windows (Welford) */
    float ad_m2[DEEPEAR_AD_DIM];                  /* running sum of squared deviations (Welford) */
    float ad_x[DEEPEAR_AD_DIM];                   /* scratch: the adapted vector the trunk reads */
    float act_a[DEEPEAR_MAX_WIDTH];               /* MLP activations (ping) */
    float act_b[DEEPEAR_MAX_WIDTH];               /* MLP activations (pong) */
    float trunk_out[DEEPEAR_MAX_WIDTH];           /* the trunk output the heads read */
    int8_t act_q[DEEPEAR_MAX_WIDTH_PAD4];         /* int8 quantised layer input */
    float probs[DEEPEAR_TOTAL_CLASSES];           /* per task softmax, at deepear_task_offset[t] */
    uint32_t tail_pad[DEEPEAR_TAIL_PAD];          /* makes the size a multiple of 8 on every ABI */
} deepear_stream;

/* One window of one window group. Pointers are valid only during the callback. */
typedef struct {
    double t_start;                   /* seconds from the start of the stream */
    double t_end;                     /* end of the window's last frame, seconds */
    int group;                        /* index into deepear_group_* tables */
    int silent;                       /* no audible frame: nothing ran */
    int voiced;                       /* voicing indicator: speech */
    int partial;                      /* stream shorter than one window: covers what there was */
    float speech_score;               /* mean P(speech) over the frames the statistics used */
    int n_selected;                   /* frames the statistics used */
    const float *features;            /* DEEPEAR_DIM raw summary statistics, band-major (then deltas, pitch) */
    int n_tasks;                      /* tasks of the group */
    int task[DEEPEAR_MAX_GROUP_TASKS];        /* task indices (deepear_task_name[...]) */
    int status[DEEPEAR_MAX_GROUP_TASKS];      /* DEEPEAR_TASK_* */
    int top[DEEPEAR_MAX_GROUP_TASKS];         /* argmax class (-1 when skipped) */
    const float *probs[DEEPEAR_MAX_GROUP_TASKS];  /* deepear_task_n_classes[task] probabilities, or NULL */
} deepear_event;

typedef void (*deepear_event_fn)(const deepear_event *ev, void *user);

/* Start a stream (routing on). */
void deepear_init(deepear_stream *s);

/* Routing on (default): speech tasks run only on voiced windows. Off: every task on every non-silent window. */
void deepear_set_routing(deepear_stream *s, int on);

/* Feed n samples of 16 kHz mono int16 PCM; calls cb once per completed window of each group. */
void deepear_push(deepear_stream *s, const int16_t *pcm, size_t n, deepear_event_fn cb, void *user);

/* End of stream: a group that produced no whole window yields one partial window over every frame seen
 * (nothing when the stream was shorter than one frame). Then re-initialises the stream (routing kept). */
void deepear_flush(deepear_stream *s, deepear_event_fn cb, void *user);

/* Names and shapes of the exported model (the tables in deepear_weights.h). */
const char *deepear_task_name(int task);
int deepear_task_n_classes(int task);
int deepear_task_is_speech(int task);
const char *deepear_label(int task, int cls);
double deepear_group_window_s(int group);
double deepear_group_hop_s(int group);
size_t deepear_arena_bytes(void);    /* sizeof(deepear_stream) == DEEPEAR_ARENA_BYTES */
int deepear_is_float_build(void);

/* Lower-level pieces (exposed for tests and benchmarks). */
/* log-mel (DEEPEAR_N_MELS dB) and energy (dBFS) of one frame of DEEPEAR_N_FFT samples; uses s->fft/power. */
void deepear_frame_features(deepear_stream *s, const int16_t *frame, float *log_mel, float *energy_db);
/* Raw summary vector (DEEPEAR_DIM) -> logits of every task into out (DEEPEAR_TOTAL_CLASSES, at task offsets). */
void deepear_mlp_all(deepear_stream *s, const float *x, float *out);
#ifdef DEEPEAR_PITCH
/* YIN of one frame of DEEPEAR_N_FFT samples (deepear.audio.pitch.pitch_track): F0 (Hz) and aperiodicity;
 * uses s->pitch_dn. Only in a library whose front end sets pitch_stats. */
void deepear_pitch_frame(deepear_stream *s, const int16_t *frame, float *f0_hz, float *aperiodicity);
#endif

#ifdef __cplusplus
}
#endif

#endif /* DEEPEAR_MODEL_H */
