/*
 * instance.c -- one interop node over a data directory (interop.h): opens the connected
 * systems' stores, the CIR, the access log, the users and the portal, and carries out
 * the operations that span them -- a load writes the source system, then the CIR
 * follows (Reg. 2019/817 Art 19(1)), and both are logged; a delete removes the record
 * and the CIR data set (Art 23); reads and searches go through the portal.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "interop/access.h"
#include "interop/audit.h"
#include "interop/cir.h"
#include "interop/interop.h"
#include "interop/names.h"
#include "interop/sbms.h"
#include "interop/store.h"
#include "interop/systems.h"

extern const unsigned char iop_default_profiles[];
extern const unsigned long iop_default_profiles_len;

struct iop_instance {
    char *dir;
    esp_profiles *profiles;
    sys_store *sys[IOP_SYS_COUNT]; /* writer handles */
    cir *cir;
    audit_log *log;
    access_db *access;
    esp *portal;
    names_engine *names;
    sbms *bio;                     /* opened on first use: building its galleries takes time */
    pthread_mutex_t bio_mu;
    pthread_mutex_t write_mu;      /* one writer at a time */
    bool audit_no_wait;            /* writes do not wait for their log entries (benchmarks of raw speed) */
};

static void path_in(char *out, size_t cap, const char *dir, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

iop_code iop_init_dir(const char *dir, const char *profiles_src, iop_err *err) {
    char path[4096];
    iop_code rc = iop_mkdirs(dir, err);
    if (rc) return rc;
    /* profiles first: an invalid file creates nothing else */
    char *text = NULL;
    size_t len = 0;
    if (profiles_src) {
        if ((rc = iop_read_file(profiles_src, &text, &len, err))) return rc;
    } else {
        len = iop_default_profiles_len;
        if (!(text = malloc(len + 1))) return iop_fail(err, IOP_ENOMEM, "out of memory");
        memcpy(text, iop_default_profiles, len + 1);
    }
    esp_profiles *ps = NULL;
    rc = esp_profiles_parse(text, len, profiles_src ? profiles_src : "built-in profiles", &ps, err);
    esp_profiles_free(ps);
    path_in(path, sizeof path, dir, "profiles.json");
    struct stat st;
    if (!rc && stat(path, &st) != 0) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "wb");
        if (!f || fwrite(text, 1, len, f) != len || fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, path)) {
            if (f) fclose(f);
            rc = iop_fail(err, IOP_EIO, "cannot write %s", path);
        }
    }
    free(text);
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) {
        sys_store *ss;
        if (!(rc = sys_open((iop_system)s, dir, STORE_CREATE, &ss, err))) sys_close(ss);
    }
    if (!rc) {
        cir *c;
        if (!(rc = cir_open(dir, STORE_CREATE, &c, err))) cir_close(c);
    }
    if (!rc) {
        sbms *b;
        if (!(rc = sbms_open(dir, STORE_CREATE, NULL, &b, err))) sbms_close(b);
    }
    if (!rc) {
        access_db *a;
        path_in(path, sizeof path, dir, "access.db");
        if (!(rc = access_open(path, NULL, &a, err))) access_close(a);
    }
    if (!rc) {
        audit_log *l;
        path_in(path, sizeof path, dir, "audit.db");
        if (!(rc = audit_open(path, NULL, &l, err))) rc = audit_close(l, err);
    }
    return rc;
}

void iop_close(iop_instance *in) {
    if (!in) return;
    esp_close(in->portal);
    names_engine_free(in->names);
    sbms_close(in->bio);
    pthread_mutex_destroy(&in->bio_mu);
    for (int s = 0; s < IOP_SYS_COUNT; s++) sys_close(in->sys[s]);
    cir_close(in->cir);
    access_close(in->access);
    audit_close(in->log, NULL);
    esp_profiles_free(in->profiles);
    pthread_mutex_destroy(&in->write_mu);
    free(in->dir);
    free(in);
}

/* The sBMS, opened (and its galleries built from DIR/sbms.db) on first use, so commands
 * that never touch biometrics -- user administration, logs -- start at once. */
static iop_code bio_get(void *ctx, sbms **out, iop_err *err) {
    iop_instance *in = ctx;
    iop_code rc = IOP_OK;
    pthread_mutex_lock(&in->bio_mu);
    if (!in->bio) rc = sbms_open(in->dir, 0, NULL, &in->bio, err);
    *out = in->bio;
    pthread_mutex_unlock(&in->bio_mu);
    return rc;
}

/* True when records belong to systems whose templates the sBMS keeps: their templates
 * are enrolled, or -- for a record sent again without biometrics -- removed. */
static bool touches_biometrics(const rec_person *recs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (sbms_system_stored(recs[i].system)) return true;
    return false;
}

iop_code iop_open(const char *dir, const iop_open_opts *opts, iop_instance **out, iop_err *err) {
    iop_open_opts o = opts ? *opts : (iop_open_opts){0};
    char path[4096];
    struct stat st;
    path_in(path, sizeof path, dir, "cir.db");
    if (stat(path, &st) != 0)
        return iop_fail(err, IOP_ENOTFOUND, "%s is not an interop data directory (run 'interop init --dir %s')", dir, dir);
    iop_instance *in = calloc(1, sizeof *in);
    if (!in || !(in->dir = strdup(dir))) { free(in); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    pthread_mutex_init(&in->write_mu, NULL);
    pthread_mutex_init(&in->bio_mu, NULL);
    path_in(path, sizeof path, dir, "profiles.json");
    iop_code rc = esp_profiles_load(o.profiles_path ? o.profiles_path : path, &in->profiles, err);
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) rc = sys_open((iop_system)s, dir, 0, &in->sys[s], err);
    if (!rc) rc = cir_open(dir, 0, &in->cir, err);
    if (!rc) {
        path_in(path, sizeof path, dir, "access.db");
        rc = access_open(path, NULL, &in->access, err);
    }
    if (!rc) {
        in->audit_no_wait = o.audit_no_wait;
        audit_options ao = {.no_wait_durable = o.audit_no_wait, .commit_delay_us = 2000, .lazy_delay_us = 10000};
        path_in(path, sizeof path, dir, "audit.db");
        rc = audit_open(path, &ao, &in->log, err);
    }
    if (!rc) {
        /* the names engine, with the nickname table when the node has one */
        const char *nick = o.nicknames_path;
        char defpath[4096];
        if (!nick) {
            snprintf(defpath, sizeof defpath, "%s/names/nicknames.csv", IOP_DEFAULT_SHARED_DATA);
            if (stat(defpath, &st) == 0) nick = defpath;
        }
        rc = names_engine_new(nick, &in->names, err);
        const char *model = o.names_model ? o.names_model : getenv("IOP_NAMES_MODEL");
        if (!rc && model && *model) {
            names_tlm *m = NULL;
            rc = names_tlm_load(model, &m, err);
            if (rc) iop_err_prefix(err, "names model");
            else names_engine_set_model(in->names, m);
        }
        /* opt-in like the model (loading takes ~0.4 s CPU): Japanese readings matter
         * for Latin queries among native-script records */
        const char *ja = o.names_ja ? o.names_ja : getenv("IOP_NAMES_JA");
        if (!rc && ja && *ja && (rc = names_engine_load_ja(in->names, ja, err))) iop_err_prefix(err, "Japanese name readings");
    }
    if (!rc) {
        esp_config cfg = {.names = in->names, .biometrics = bio_get, .biometrics_ctx = in, .dir = dir, .threads = o.search_threads, .readers = o.readers ? o.readers : 16,
                          .durable_query_logs = o.durable_query_logs, .exact_keys_only = o.exact_keys_only,
                          .full_candidate_reads = o.full_candidate_reads};
        rc = esp_open(&cfg, in->profiles, in->log, &in->portal, err);
    }
    if (rc) { iop_close(in); return rc; }
    *out = in;
    return IOP_OK;
}

const esp_profiles *iop_profiles(iop_instance *in) { return in->profiles; }
esp *iop_portal(iop_instance *in) { return in->portal; }

void iop_actor_clear(iop_actor *a) {
    free(a->user); free(a->authority); free(a->authority_type); free(a->member_state); free(a->purpose);
    for (size_t i = 0; i < a->n_profiles; i++) free(a->profiles[i]);
    free(a->profiles);
    memset(a, 0, sizeof *a);
}

static iop_code actor_from_user(iop_instance *in, const access_user *u, const char *profile, const char *purpose,
                                iop_actor *out, iop_err *err) {
    iop_actor a = {0};
    const char *chosen = profile;
    if (!chosen && u->n_profiles) chosen = u->profiles[0];
    if (!chosen) return iop_fail(err, IOP_EDENIED, "user '%s' holds no profile", u->name);
    if (!access_user_has_profile(u, chosen))
        return iop_fail(err, IOP_EDENIED, "user '%s' may not act under profile '%s'", u->name, chosen);
    a.profile = esp_profile_find(in->profiles, chosen);
    if (!a.profile) return iop_fail(err, IOP_EDENIED, "profile '%s' is not defined on this node", chosen);
    a.user = strdup(u->name);
    a.authority = strdup(u->authority);
    a.authority_type = strdup(access_authority_type_name(u->authority_type));
    a.member_state = strdup(u->member_state);
    a.purpose = purpose ? strdup(purpose) : NULL;
    a.profiles = calloc(u->n_profiles + 1, sizeof *a.profiles);
    bool bad = !a.user || !a.authority || !a.authority_type || !a.member_state || (purpose && !a.purpose) || !a.profiles;
    for (size_t i = 0; !bad && i < u->n_profiles; i++) bad = !(a.profiles[a.n_profiles++] = strdup(u->profiles[i]));
    if (bad) { iop_actor_clear(&a); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    *out = a;
    return IOP_OK;
}

iop_code iop_authenticate(iop_instance *in, const char *token, const char *profile, const char *purpose, iop_actor *out,
                          iop_err *err) {
    access_user u = {0};
    iop_code rc = access_authenticate(in->access, token ? token : "", &u, err);
    if (rc) return rc == IOP_EDENIED ? rc : iop_fail(err, IOP_EDENIED, "authentication failed");
    rc = actor_from_user(in, &u, profile, purpose, out, err);
    access_user_free(&u);
    return rc;
}

iop_code iop_actor_local(iop_instance *in, const char *user, const char *profile, const char *purpose, iop_actor *out,
                         iop_err *err) {
    access_user u = {0};
    iop_code rc = access_user_get(in->access, user, &u, err);
    if (rc) return rc;
    if (u.disabled) rc = iop_fail(err, IOP_EDENIED, "user '%s' is disabled", user);
    else rc = actor_from_user(in, &u, profile, purpose, out, err);
    access_user_free(&u);
    return rc;
}

esp_actor iop_esp_actor(const iop_actor *a) {
    esp_actor e = {.user = a->user, .authority = a->authority, .member_state = a->member_state, .profile = a->profile,
                   .purpose = a->purpose};
    return e;
}

iop_code iop_search_json(iop_instance *in, const iop_actor *a, const char *req, size_t len, iop_buf *reply, iop_err *err) {
    esp_query q;
    iop_code rc = esp_query_parse(req, len, &q, err);
    if (rc) return rc;
    esp_actor who = iop_esp_actor(a);
    rc = esp_search(in->portal, &who, &q, reply, err);
    esp_query_clear(&q);
    return rc;
}

iop_code iop_read_json(iop_instance *in, const iop_actor *a, iop_system s, const char *id, iop_buf *reply, iop_err *err) {
    esp_actor who = iop_esp_actor(a);
    return esp_read(in->portal, &who, s, id, reply, err);
}

static void log_write(iop_instance *in, const iop_actor *a, const char *component, const char *op, iop_system s,
                      size_t count, const char *first, const char *last) {
    const char *sys = iop_system_name(s);
    audit_count c = {sys, (int64_t)count};
    iop_buf d;
    iop_buf_init(&d);
    iop_buf_puts(&d, "{\"first\":");
    iop_buf_json_str(&d, first ? first : "");
    iop_buf_puts(&d, ",\"last\":");
    iop_buf_json_str(&d, last ? last : "");
    iop_buf_puts(&d, "}");
    audit_entry e = {.actor = a->user, .authority = a->authority, .profile = a->profile ? esp_profile_name(a->profile) : NULL,
                     .purpose = a->purpose, .component = component, .operation = op, .systems = &sys, .n_systems = 1,
                     .counts = &c, .n_counts = 1, .detail = d.data};
    /* queued: the writer waits once, for the last of a batch's entries (log_wait) */
    audit_append_ex(in->log, &e, false, NULL, NULL);
    iop_buf_free(&d);
}

/* Waits until the entries queued by log_write are durable: a write is acknowledged only
 * with its log entries on disk (one wait per batch, not one per entry). */
static iop_code log_wait(iop_instance *in, iop_err *err) {
    if (in->audit_no_wait) return IOP_OK;
    iop_code rc = audit_flush(in->log, err);
    if (rc) iop_err_prefix(err, "the records were written but the access log failed");
    return rc;
}

typedef struct cir_job {
    cir *c;
    const rec_person *recs;
    size_t n;
    int64_t now;
    pthread_t th;
    iop_code rc;
    iop_err err;
    /* the previous group's CIR transaction, committed by this worker before it prepares
     * (its source system committed already): the commit's disk flush runs beside the
     * next system's writes instead of between them */
    bool commit_first;
    iop_code commit_rc;
    iop_err commit_err;
    bool prepare;          /* this group has a CIR part (else the worker only commits) */
} cir_job;

static void *cir_worker(void *arg) {
    cir_job *j = arg;
    if (j->commit_first && (j->commit_rc = cir_follow_finish(j->c, true, &j->commit_err))) {
        j->rc = IOP_EINTERNAL; /* nothing prepared: the caller reports commit_err */
        j->err = j->commit_err;
        return NULL;
    }
    j->rc = j->prepare ? cir_follow_put_prepare(j->c, j->recs, j->n, j->now, &j->err) : IOP_OK;
    return NULL;
}

/* A group whose source system committed and whose CIR transaction waits for its commit. */
typedef struct cir_pending {
    bool has;
    iop_system sys;
    size_t m;
    const char *first, *last;
} cir_pending;

/* The pending group's CIR commit came back: logged when it succeeded, else the error. */
static iop_code cir_pending_done(iop_instance *in, const iop_actor *a, cir_pending *pd, iop_code frc,
                                 const iop_err *ferr, iop_load_stats *stats, iop_err *err) {
    pd->has = false;
    if (frc) {
        *err = *ferr;
        iop_err_prefix(err, "%s batch written, common identity repository not updated", iop_system_name(pd->sys));
        return frc;
    }
    log_write(in, a, "cir", "follow-write", pd->sys, pd->m, pd->first, pd->last);
    if (stats) stats->cir_files += pd->m;
    return IOP_OK;
}

iop_code iop_load_records(iop_instance *in, const iop_actor *a, const rec_person *recs, size_t n, iop_load_stats *stats,
                          iop_err *err) {
    /* authorise the whole batch before writing anything */
    for (size_t i = 0; i < n; i++)
        if (!a->profile || !esp_profile_writes(a->profile, recs[i].system))
            return iop_fail(err, IOP_EDENIED, "record '%s': profile '%s' may not write to %s", recs[i].id,
                            a->profile ? esp_profile_name(a->profile) : "(none)", iop_system_name(recs[i].system));
    /* group by system, keeping the order within each (one buffer per system: a group's
     * ids are logged after the next group is formed) */
    rec_person *group = malloc((n ? n : 1) * sizeof *group);
    if (!group) return iop_fail(err, IOP_ENOMEM, "out of memory");
    /* Art 13(3), Art 37: biometric data enter only after the quality check, and a batch
     * with a bad template writes nothing */
    sbms *bms = NULL;
    iop_code rc = IOP_OK;
    if (touches_biometrics(recs, n)) rc = bio_get(in, &bms, err);
    if (!rc && bms) rc = sbms_check(bms, recs, n, err);
    if (rc) { free(group); return rc; }
    int64_t now = iop_now_ms();
    cir_pending pend = {0};
    size_t used = 0; /* of group: each system's records follow the previous system's */
    pthread_mutex_lock(&in->write_mu);
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) {
        rec_person *g = group + used;
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (recs[i].system == (iop_system)s) g[m++] = recs[i];
        if (!m) continue;
        used += m;
        /* Art 19(1): the CIR follows the source system.  Its writes run on a second
         * thread beside the system's, and commit only after the system committed (the
         * previous group's CIR commit runs on that thread too, before it prepares). */
        bool in_cir = iop_system_in_cir((iop_system)s), threaded = false;
        /* the CIR thread: the previous group's CIR commit first (its source system
         * committed), then this group's CIR writes when it has a CIR part */
        cir_job cj = {.c = in->cir, .recs = g, .n = m, .now = now, .commit_first = pend.has, .prepare = in_cir};
        bool worker = cj.commit_first || cj.prepare, cir_open = false;
        if (worker) threaded = pthread_create(&cj.th, NULL, cir_worker, &cj) == 0;
        rc = sys_put_batch_prepare(in->sys[s], g, m, now, err);
        if (worker) {
            if (threaded) pthread_join(cj.th, NULL);
            else cir_worker(&cj);
            if (cj.commit_first) {
                iop_code prc = cir_pending_done(in, a, &pend, cj.commit_rc, &cj.commit_err, stats, err);
                if (prc) { /* nothing of this group's CIR part was prepared */
                    if (!rc) sys_put_finish(in->sys[s], false, NULL);
                    rc = prc;
                    break;
                }
            }
            cir_open = in_cir && !cj.rc;
            if (in_cir && cj.rc && !rc) {
                rc = cj.rc;
                *err = cj.err;
                iop_err_prefix(err, "common identity repository");
                sys_put_finish(in->sys[s], false, NULL);
            }
        }
        /* both prepared: the source system commits first, then the CIR follows */
        if (!rc) rc = sys_put_finish(in->sys[s], true, err);
        if (cir_open) {
            if (rc) cir_follow_finish(in->cir, false, NULL);
            else pend = (cir_pending){.has = true, .sys = (iop_system)s, .m = m, .first = g[0].id, .last = g[m - 1].id};
        }
        if (rc) break;
        log_write(in, a, iop_system_name((iop_system)s), "write", (iop_system)s, m, g[0].id, g[m - 1].id);
        if (stats) { stats->records += m; stats->per_system[s] += m; }
        if (bms && sbms_system_stored((iop_system)s)) {
            /* Art 13: the templates of the new records go to the sBMS, per source system */
            rc = sbms_enrol(bms, g, m, err);
            if (rc) { iop_err_prefix(err, "%s batch written, biometric matching service not updated", iop_system_name((iop_system)s)); break; }
            log_write(in, a, "sbms", "enrol", (iop_system)s, m, g[0].id, g[m - 1].id);
        }
    }
    if (pend.has) {
        /* the last group's CIR commit (or, after a later group failed, still this one's:
         * its source system is written) */
        iop_err ferr, perr;
        iop_code frc = cir_follow_finish(in->cir, true, &ferr);
        iop_code prc = cir_pending_done(in, a, &pend, frc, &ferr, stats, rc ? &perr : err);
        if (!rc) rc = prc;
        else if (prc) {
            /* both failed: the caller learns of both */
            size_t l = strlen(err->msg);
            snprintf(err->msg + l, sizeof err->msg - l, "; %s", perr.msg);
        }
    }
    pthread_mutex_unlock(&in->write_mu);
    free(group);
    iop_code lrc = log_wait(in, rc ? NULL : err);
    return rc ? rc : lrc;
}

iop_code iop_load_jsonl(iop_instance *in, const iop_actor *a, const char *source, const char *text, size_t len,
                        size_t batch_size, iop_load_stats *stats, iop_err *err) {
    size_t cap = batch_size ? batch_size : 1024, n = 0;
    rec_person *batch = calloc(cap, sizeof *batch);
    size_t *lines = calloc(cap, sizeof *lines);
    if (!batch || !lines) { free(batch); free(lines); return iop_fail(err, IOP_ENOMEM, "out of memory"); }
    iop_code rc = IOP_OK;
    size_t line = 0;
    const char *p = text, *end = text + len;
    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        line++;
        const char *s = p;
        p = nl ? nl + 1 : end;
        while (s < le && (*s == ' ' || *s == '\t' || *s == '\r')) s++;
        if (s == le) continue; /* blank line */
        if (n == cap) {
            if (batch_size) {
                rc = iop_load_records(in, a, batch, n, stats, err);
                if (rc) { iop_err_prefix(err, "%s: lines %zu-%zu", source, lines[0], lines[n - 1]); break; }
                for (size_t i = 0; i < n; i++) rec_person_clear(&batch[i]);
                n = 0;
            } else {
                rec_person *nb = realloc(batch, cap * 2 * sizeof *nb);
                size_t *nl2 = nb ? realloc(lines, cap * 2 * sizeof *nl2) : NULL;
                if (nb) batch = nb;
                if (nl2) lines = nl2;
                if (!nb || !nl2) { rc = iop_fail(err, IOP_ENOMEM, "out of memory"); break; }
                memset(batch + cap, 0, cap * sizeof *batch);
                cap *= 2;
            }
        }
        if ((rc = rec_parse(s, (size_t)(le - s), &batch[n], err))) {
            iop_err_prefix(err, "%s:%zu", source, line);
            break;
        }
        lines[n] = line;
        n++;
    }
    if (!rc && n) {
        rc = iop_load_records(in, a, batch, n, stats, err);
        if (rc) iop_err_prefix(err, "%s: lines %zu-%zu", source, lines[0], lines[n - 1]);
    }
    for (size_t i = 0; i < n; i++) rec_person_clear(&batch[i]);
    free(batch);
    free(lines);
    return rc;
}

iop_code iop_delete(iop_instance *in, const iop_actor *a, iop_system s, const char *id, iop_err *err) {
    if (!a->profile || !esp_profile_writes(a->profile, s))
        return iop_fail(err, IOP_EDENIED, "profile '%s' may not delete records in %s",
                        a->profile ? esp_profile_name(a->profile) : "(none)", iop_system_name(s));
    pthread_mutex_lock(&in->write_mu);
    int64_t now = iop_now_ms();
    iop_code rc = sys_delete(in->sys[s], id, err);
    if (!rc) {
        log_write(in, a, iop_system_name(s), "delete", s, 1, id, id);
        /* Art 23: the CIR data set goes with the source record */
        rc = cir_follow_delete(in->cir, s, id, now, err);
        if (!rc && iop_system_in_cir(s)) log_write(in, a, "cir", "follow-delete", s, 1, id, id);
        /* Art 15: the templates go with the record */
        sbms *bms = NULL;
        if (!rc && sbms_system_stored(s) && !(rc = bio_get(in, &bms, err))) {
            rc = sbms_remove(bms, s, id, err);
            if (!rc) log_write(in, a, "sbms", "remove", s, 1, id, id);
        }
    }
    pthread_mutex_unlock(&in->write_mu);
    iop_code lrc = log_wait(in, rc ? NULL : err);
    return rc ? rc : lrc;
}

iop_code iop_count(iop_instance *in, iop_counts *out, iop_err *err) {
    iop_code rc = IOP_OK;
    pthread_mutex_lock(&in->write_mu);
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) rc = sys_count(in->sys[s], &out->records[s], err);
    if (!rc) rc = cir_count(in->cir, &out->cir_files, err);
    pthread_mutex_unlock(&in->write_mu);
    return rc;
}

iop_code iop_log(iop_instance *in, const iop_actor *a, const char *component, const char *operation,
                 const char *detail_json, iop_err *err) {
    audit_entry e = {.actor = a ? a->user : NULL, .authority = a ? a->authority : NULL,
                     .profile = a && a->profile ? esp_profile_name(a->profile) : NULL,
                     .purpose = a ? a->purpose : NULL, .component = component, .operation = operation,
                     .detail = detail_json};
    return audit_append(in->log, &e, NULL, err);
}

typedef struct purge_ctx {
    iop_instance *in;
    int64_t now;
} purge_ctx;

static void purge_follow(void *ctx, iop_system s, const char *id) {
    purge_ctx *p = ctx;
    cir_follow_delete(p->in->cir, s, id, p->now, NULL);
    sbms *bms = NULL;
    if (sbms_system_stored(s) && bio_get(p->in, &bms, NULL) == IOP_OK) sbms_remove(bms, s, id, NULL);
}

iop_code iop_purge_expired(iop_instance *in, int64_t today, size_t *purged, iop_err *err) {
    iop_code rc = IOP_OK;
    size_t total = 0;
    pthread_mutex_lock(&in->write_mu);
    purge_ctx ctx = {in, iop_now_ms()};
    for (int s = 0; !rc && s < IOP_SYS_COUNT; s++) {
        size_t n = 0;
        rc = sys_purge_expired(in->sys[s], today, purge_follow, &ctx, &n, err);
        total += n;
        if (!rc && n) {
            iop_actor sysactor = {.user = "retention"};
            log_write(in, &sysactor, iop_system_name((iop_system)s), "retention-delete", (iop_system)s, n, NULL, NULL);
        }
    }
    pthread_mutex_unlock(&in->write_mu);
    if (purged) *purged = total;
    iop_code lrc = log_wait(in, rc ? NULL : err);
    return rc ? rc : lrc;
}

access_db *iop_access_db(iop_instance *in) { return in->access; }
audit_log *iop_audit_log(iop_instance *in) { return in->log; }
