/*
 * load.c -- streaming loads of JSON Lines files: a parser thread turns lines into
 * records while the calling thread writes the previous batch (two batches in flight),
 * so parsing and durable writing overlap on two cores.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "interop/interop.h"

typedef struct batch {
    rec_person *recs;
    size_t n;
    size_t first_line, last_line;
    bool last;              /* the final batch: end of input or the batch of a bad line */
} batch;

typedef struct pipeline {
    FILE *f;
    const char *path;
    size_t cap;
    batch slots[2];
    int filled[2];          /* 1 = ready for the writer */
    bool eof, stop;
    iop_code parse_rc;
    iop_err parse_err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipeline;

static void batch_clear(batch *b) {
    for (size_t i = 0; i < b->n; i++) rec_person_clear(&b->recs[i]);
    b->n = 0;
}

static void *parser(void *arg) {
    pipeline *p = arg;
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t len;
    int slot = 0;
    bool done = false;
    while (!done) {
        pthread_mutex_lock(&p->mu);
        while (p->filled[slot] && !p->stop) pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop) break;
        batch *b = &p->slots[slot];
        b->n = 0;
        iop_code rc = IOP_OK;
        while (b->n < p->cap && (len = getline(&line, &lcap, p->f)) >= 0) {
            lineno++;
            const char *s = line;
            while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
            if (!*s) continue;
            if (b->n == 0) b->first_line = lineno;
            if ((rc = rec_parse(line, (size_t)len, &b->recs[b->n], &p->parse_err))) {
                iop_err_prefix(&p->parse_err, "%s:%zu", p->path, lineno);
                break;
            }
            b->last_line = lineno;
            b->n++;
        }
        if (!rc && b->n < p->cap && ferror(p->f)) rc = iop_fail(&p->parse_err, IOP_EIO, "%s: read error", p->path);
        pthread_mutex_lock(&p->mu);
        if (rc) {
            p->parse_rc = rc;
            batch_clear(b); /* the whole batch of the bad line is dropped */
            done = true;
        } else if (b->n < p->cap) {
            p->eof = true;
            done = true;
        }
        b->last = done;
        p->filled[slot] = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        slot ^= 1;
    }
    free(line);
    return NULL;
}

iop_code iop_load_file(iop_instance *in, const iop_actor *a, const char *path, size_t batch_size,
                       iop_progress_fn progress, void *ctx, iop_load_stats *stats, iop_err *err) {
    pipeline p = {.path = path, .cap = batch_size ? batch_size : 5000};
    p.f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!p.f) return iop_fail(err, IOP_EIO, "%s: cannot open", path);
    p.slots[0].recs = calloc(p.cap, sizeof(rec_person));
    p.slots[1].recs = calloc(p.cap, sizeof(rec_person));
    if (!p.slots[0].recs || !p.slots[1].recs) {
        free(p.slots[0].recs);
        free(p.slots[1].recs);
        if (p.f != stdin) fclose(p.f);
        return iop_fail(err, IOP_ENOMEM, "out of memory");
    }
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th;
    iop_code rc = IOP_OK;
    bool started = pthread_create(&th, NULL, parser, &p) == 0;
    if (!started) rc = iop_fail(err, IOP_EINTERNAL, "cannot start the parser thread");
    int slot = 0;
    while (!rc) {
        pthread_mutex_lock(&p.mu);
        while (!p.filled[slot]) pthread_cond_wait(&p.cv, &p.mu);
        batch *b = &p.slots[slot];
        bool last = b->last;
        pthread_mutex_unlock(&p.mu);
        if (b->n) {
            rc = iop_load_records(in, a, b->recs, b->n, stats, err);
            if (rc) iop_err_prefix(err, "%s: lines %zu-%zu (not written)", path, b->first_line, b->last_line);
            else if (progress) progress(ctx, stats);
        }
        batch_clear(b);
        pthread_mutex_lock(&p.mu);
        p.filled[slot] = 0;
        if (rc) p.stop = true;
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        slot ^= 1;
        if (last) {
            /* a parse error surfaces after every good batch before it was written */
            if (!rc && p.parse_rc) {
                rc = p.parse_rc;
                *err = p.parse_err;
            }
            break;
        }
    }
    if (started) {
        pthread_mutex_lock(&p.mu);
        p.stop = true; /* in case the writer stopped first */
        pthread_cond_broadcast(&p.cv);
        pthread_mutex_unlock(&p.mu);
        pthread_join(th, NULL);
    }
    for (int i = 0; i < 2; i++) {
        batch_clear(&p.slots[i]);
        free(p.slots[i].recs);
    }
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    if (p.f != stdin) fclose(p.f);
    return rc;
}
