/* deepear_run: raw 16 kHz mono int16 little-endian PCM -> one JSON line per window event.
 *
 *   deepear_run [--all] [--features] [--chunk N] FILE.pcm|-
 *   deepear_run --info
 *   deepear_run --time-mlp N
 *   deepear_run --pitch-track FILE.pcm|-      (only when the front end sets pitch_stats)
 *   deepear_run --time-pitch N                (only when the front end sets pitch_stats)
 *
 * --all       routing off: speech tasks run on unvoiced windows too (what the golden comparison uses)
 * --features  include the window's summary vector ("features": [...])
 * --chunk N   push the PCM in chunks of N samples (default 1024; results do not depend on it)
 * --time-mlp N  run the network (trunk + every head) N times on one window vector and print the CPU time
 *              per inference (C99 clock(); the front end is not included)
 * --pitch-track  the YIN track instead of events: one JSON line [f0_hz, aperiodicity] per frame
 * --time-pitch N  run the pitch tracker N times on each of a voiced frame (a 150 Hz harmonic tone) and a
 *              noise frame (no lag passes YIN's threshold: every lag is computed, the worst case) and print
 *              the CPU time per frame
 * The int8 or float model is chosen at compile time (-DDEEPEAR_FLOAT).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deepear_model.h"

#define MAX_CHUNK 65536

static deepear_stream g_stream;
static int16_t g_pcm[MAX_CHUNK];
static unsigned char g_bytes[2 * MAX_CHUNK];

typedef struct {
    int features;
} run_opts;

static void print_floats(const float *v, int n) {
    int i;
    putchar('[');
    for (i = 0; i < n; i++) printf(i ? ",%.9g" : "%.9g", (double)v[i]);
    putchar(']');
}

static void on_event(const deepear_event *ev, void *user) {
    const run_opts *o = (const run_opts *)user;
    int t;
    printf("{\"group\":%d,\"window_s\":%.9g,\"t_start\":%.9g,\"t_end\":%.9g,\"silent\":%s,\"voiced\":%s,"
           "\"partial\":%s,\"speech_score\":%.9g,\"n_selected\":%d,\"tasks\":{",
           ev->group, deepear_group_window_s(ev->group), ev->t_start, ev->t_end, ev->silent ? "true" : "false",
           ev->voiced ? "true" : "false", ev->partial ? "true" : "false", (double)ev->speech_score, ev->n_selected);
    for (t = 0; t < ev->n_tasks; t++) {
        int task = ev->task[t];
        printf("%s\"%s\":{", t ? "," : "", deepear_task_name(task));
        if (ev->status[t] == DEEPEAR_TASK_RAN) {
            printf("\"status\":\"ran\",\"top\":%d,\"label\":\"%s\",\"probs\":", ev->top[t],
                   deepear_label(task, ev->top[t]));
            print_floats(ev->probs[t], deepear_task_n_classes(task));
        } else {
            printf("\"status\":\"%s\"", ev->status[t] == DEEPEAR_TASK_SKIPPED_SILENT ? "silent" : "not_speech");
        }
        putchar('}');
    }
    putchar('}');
    if (o->features) {
        printf(",\"features\":");
        print_floats(ev->features, DEEPEAR_DIM);
    }
    printf("}\n");
}

static int print_info(void) {
    int g, t, c;
    printf("{\"arena_bytes\":%lu,\"float_build\":%s,\"dim\":%d,\"sample_rate\":%d,\"max_window_frames\":%d,"
           "\"tasks\":[", (unsigned long)deepear_arena_bytes(), deepear_is_float_build() ? "true" : "false",
           DEEPEAR_DIM, DEEPEAR_SAMPLE_RATE, DEEPEAR_MAX_WIN);
    for (t = 0; t < DEEPEAR_N_TASKS; t++) {
        printf("%s{\"name\":\"%s\",\"speech\":%s,\"labels\":[", t ? "," : "", deepear_task_name(t),
               deepear_task_is_speech(t) ? "true" : "false");
        for (c = 0; c < deepear_task_n_classes(t); c++) printf("%s\"%s\"", c ? "," : "", deepear_label(t, c));
        printf("]}");
    }
    printf("],\"groups\":[");
    for (g = 0; g < DEEPEAR_N_GROUPS; g++)
        printf("%s{\"window_s\":%.9g,\"hop_s\":%.9g}", g ? "," : "", deepear_group_window_s(g), deepear_group_hop_s(g));
    printf("]}\n");
    return 0;
}

static int time_mlp(long n) {
    static float x[DEEPEAR_DIM], out[DEEPEAR_TOTAL_CLASSES];
    volatile float sink = 0.0f;
    clock_t t0;
    double s;
    long i;
    int j;
    for (j = 0; j < DEEPEAR_DIM; j++) x[j] = -40.0f + (float)(j % 17);   /* a plausible log-mel statistic vector */
    deepear_init(&g_stream);
    deepear_mlp_all(&g_stream, x, out);                                 /* warm-up */
    t0 = clock();
    for (i = 0; i < n; i++) {
        x[i % DEEPEAR_DIM] += 1e-3f;
        deepear_mlp_all(&g_stream, x, out);
        sink += out[0];
    }
    s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    printf("{\"inferences\":%ld,\"seconds\":%.6f,\"us_per_inference\":%.3f,\"float_build\":%s}\n", n, s,
           1e6 * s / (double)n, deepear_is_float_build() ? "true" : "false");
    return sink == 12345.0f;   /* keeps the loop from being optimised away; always 0 in practice */
}

#ifdef DEEPEAR_PITCH
static int time_pitch(long n) {
    static int16_t voiced[DEEPEAR_N_FFT], noise[DEEPEAR_N_FFT];
    const int16_t *frames[2];
    volatile float sink = 0.0f;
    unsigned rng = 12345u;
    int j, f;
    for (j = 0; j < DEEPEAR_N_FFT; j++) {
        double t = (double)j / DEEPEAR_SAMPLE_RATE, v = 0.0;
        int h;
        for (h = 1; h <= 4; h++) v += sin(2.0 * 3.14159265358979323846 * 150.0 * h * t) / h;
        voiced[j] = (int16_t)(6000.0 * v);
        rng = rng * 1103515245u + 12345u;                      /* LCG: uniform noise */
        noise[j] = (int16_t)((int)((rng >> 16) & 0x7fffu) - 16384);
    }
    frames[0] = voiced;
    frames[1] = noise;
    deepear_init(&g_stream);
    printf("{\"frames\":%ld", n);
    for (f = 0; f < 2; f++) {
        float f0 = 0.0f, ap = 0.0f;
        clock_t t0;
        double s;
        long i;
        deepear_pitch_frame(&g_stream, frames[f], &f0, &ap);      /* warm-up */
        t0 = clock();
        for (i = 0; i < n; i++) {
            deepear_pitch_frame(&g_stream, frames[f], &f0, &ap);
            sink += f0;
        }
        s = (double)(clock() - t0) / CLOCKS_PER_SEC;
        printf(",\"%s\":{\"us_per_frame\":%.3f,\"f0_hz\":%.6g,\"aperiodicity\":%.6g}", f ? "noise" : "voiced",
               1e6 * s / (double)n, (double)f0, (double)ap);
    }
    printf("}\n");
    return sink == 12345.0f;   /* keeps the loop from being optimised away; always 0 in practice */
}

/* One JSON line [f0_hz, aperiodicity] per frame of a PCM file (frames as deepear_push cuts them). */
static int pitch_track(FILE *f) {
    static int16_t frame[DEEPEAR_N_FFT];
    size_t have = 0;
    unsigned char b[2];
    deepear_init(&g_stream);
    while (fread(b, 1, 2, f) == 2) {
        frame[have++] = (int16_t)(uint16_t)((unsigned)b[0] | ((unsigned)b[1] << 8));
        if (have == DEEPEAR_N_FFT) {
            float f0, ap;
            deepear_pitch_frame(&g_stream, frame, &f0, &ap);
            printf("[%.9g,%.9g]\n", (double)f0, (double)ap);
            memmove(frame, frame + DEEPEAR_HOP, (DEEPEAR_N_FFT - DEEPEAR_HOP) * sizeof(int16_t));
            have = DEEPEAR_N_FFT - DEEPEAR_HOP;
        }
    }
    return 0;
}
#endif

static int usage(void) {
    fprintf(stderr, "usage: deepear_run [--all] [--features] [--chunk N] FILE.pcm|-\n       deepear_run --info\n"
                    "       deepear_run --time-mlp N\n"
#ifdef DEEPEAR_PITCH
                    "       deepear_run --pitch-track FILE.pcm|-\n       deepear_run --time-pitch N\n"
#endif
                    );
    return 2;
}

int main(int argc, char **argv) {
    run_opts opts;
    const char *path = NULL;
    long chunk = 1024;
    int i, routing = 1, carry = -1, pitch = 0;
    FILE *f;
    opts.features = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--info") == 0) return print_info();
        if (strcmp(argv[i], "--time-mlp") == 0 && i + 1 < argc) return time_mlp(strtol(argv[i + 1], NULL, 10) > 0 ?
                                                                                strtol(argv[i + 1], NULL, 10) : 1);
#ifdef DEEPEAR_PITCH
        if (strcmp(argv[i], "--time-pitch") == 0 && i + 1 < argc) return time_pitch(strtol(argv[i + 1], NULL, 10) > 0 ?
                                                                                    strtol(argv[i + 1], NULL, 10) : 1);
        if (strcmp(argv[i], "--pitch-track") == 0) {
            pitch = 1;
            continue;
        }
#endif
        if (strcmp(argv[i], "--all") == 0) routing = 0;
        else if (strcmp(argv[i], "--features") == 0) opts.features = 1;
        else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc) {
            chunk = strtol(argv[++i], NULL, 10);
            if (chunk < 1 || chunk > MAX_CHUNK) {
                fprintf(stderr, "deepear_run: --chunk must be in 1..%d\n", MAX_CHUNK);
                return 2;
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') return usage();
        else path = argv[i];
    }
    if (!path) return usage();
    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "deepear_run: cannot open %s\n", path);
        return 1;
    }
    if (pitch) {
#ifdef DEEPEAR_PITCH
        i = pitch_track(f);
        if (f != stdin) fclose(f);
        return i;
#endif
    }
    deepear_init(&g_stream);
    deepear_set_routing(&g_stream, routing);
    for (;;) {
        size_t off = carry >= 0 ? 1 : 0, got, n, k;
        if (carry >= 0) g_bytes[0] = (unsigned char)carry;
        got = fread(g_bytes + off, 1, 2 * (size_t)chunk - off, f) + off;
        if (got < 2) {
            carry = got == 1 ? g_bytes[0] : -1;
            break;
        }
        n = got / 2;
        for (k = 0; k < n; k++)  /* little-endian int16, whatever the host's byte order */
            g_pcm[k] = (int16_t)(uint16_t)((unsigned)g_bytes[2 * k] | ((unsigned)g_bytes[2 * k + 1] << 8));
        carry = (got & 1u) ? g_bytes[got - 1] : -1;
        deepear_push(&g_stream, g_pcm, n, on_event, &opts);
    }
    if (f != stdin) fclose(f);
    if (carry >= 0) fprintf(stderr, "deepear_run: warning: odd number of bytes, last byte ignored\n");
    deepear_flush(&g_stream, on_event, &opts);
    return 0;
}
