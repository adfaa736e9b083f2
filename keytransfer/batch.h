/*
 * batch.h - the transfer step for many keys at once (issue "Migrating a key estate"): package
 * several keys for one KEK with the packages verified and the module opened once and the
 * durability work grouped, and reduce several keys' ACLs with one opening of the administrator
 * quorum. Built on transfer.h; the `keytransfer package` and `keytransfer modify-acls` commands
 * call these when given more than one --ident, --all-reduced or --all.
 *
 * Conventions as in transfer.h: fallible functions return a kt_rc and fill e once; nothing
 * prints; a key's own refusal is told to the caller's callback and does not stop the others
 * unless stop_on_error is set.
 */
#ifndef KT_BATCH_H
#define KT_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "kt.h"
#include "transfer.h"

/* Keys whose packages are committed together when none is asked for: a crash loses at most
 * this many keys' work (never a half pair), and the folder fsyncs and records of the commit
 * protocol are paid once per group instead of once per key. */
#define TRANSFER_BATCH_GROUP 256
/* The most a group may hold: two entries a key in one change (common/txn.c holds 4096). */
#define TRANSFER_BATCH_GROUP_MAX 2048

/* A list of key identifiers (heap strings). */
typedef struct transfer_idents {
    char **v;
    size_t n;
} transfer_idents;

void transfer_idents_free(transfer_idents *l);

/* KT_EUSAGE naming the first identifier that appears twice in idents[0..n). */
KT_MUST kt_rc transfer_idents_unique(const char *const *idents, size_t n, kt_err *e);

/*
 * Every key the world holds in key_xferacld_* whose signed ACL is exactly the one a transfer to
 * k takes (transfer_acl_is_for): what `package --all-reduced` packages, sorted by ident. Key
 * files that cannot be loaded are skipped (key list names them). out: free with
 * transfer_idents_free.
 */
KT_MUST kt_rc transfer_list_reduced(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, transfer_idents *out, kt_err *e);

/*
 * Every key key_<app>_<ident> (app NULL: the default) that has no reduced record for k yet: what
 * `modify-acls --all` reduces, sorted by ident. *skipped counts those of app that have one.
 */
KT_MUST kt_rc transfer_list_unreduced(const world_paths *p, const world_module *m,
                                      const transfer_kek *k, const char *app, transfer_idents *out,
                                      size_t *skipped, kt_err *e);

/* What became of one key of a batch package, told once its outcome is final (for a written
 * key: after its group's commit). rc KT_OK: r describes the package (r->earlier: an earlier run
 * wrote it); otherwise err says why and r is cleared. */
typedef void (*transfer_batch_fn)(void *ctx, const char *ident, const char *name, kt_rc rc,
                                  const kt_err *err, const transfer_package_result *r);

typedef struct transfer_batch_opts {
    const char *const *idents; /* the keys, in order; each is packaged at most once */
    size_t n;
    const char *name_prefix; /* each package's name is name_prefix (may be NULL) + ident */
    transfer_target target;  /* as in transfer_package_opts */
    pkg_oaep_hash hash;
    pkg_aws_wrapping aws_wrapping; /* as in transfer_package_opts */
    const char *subscription;
    const char *out_dir; /* NULL: the current folder */
    uint64_t now;
    size_t group;            /* keys per commit: 0 is TRANSFER_BATCH_GROUP; 1..GROUP_MAX */
    bool stop_on_error;      /* a key's refusal stops the batch (the keys before it stand) */
    kt_txn_report_fn report; /* told what recovery did to an interrupted earlier change */
    void *report_ctx;
    kt_progress_fn progress; /* optional: "package", keys done of n */
    void *progress_ctx;
    transfer_batch_fn done; /* required: told each key's outcome, in order */
    void *done_ctx;
} transfer_batch_opts;

/* What a batch did. */
typedef struct transfer_batch_summary {
    size_t written, earlier, failed; /* keys: new packages, packages of an earlier run, refused */
    size_t skipped;                  /* not tried: after a refusal with stop_on_error, or the
                                        keys of a group a failure undid */
    kt_rc first_rc;                  /* the first key's refusal (KT_OK when none) */
} transfer_batch_summary;

/*
 * Packages the keys of o, each as transfer_package does (the same checks, the same files, an
 * earlier run's package recognised), with the module m and the KEK k opened once by the caller.
 * The keys are taken in groups of o->group: a group's pairs are staged as one change of the
 * commit protocol with grouped durability (kt_txn_group_sync: every file written, then one
 * syncfs for all of them), then the folder is fsync'd once and the commit record makes the
 * whole group's pairs stand; so a kill leaves every committed group's
 * pairs whole and nothing of the group in progress once the next command has recovered the
 * folder (docs/formats.md, "Batch packages"). A key whose package is refused is told to o->done
 * and left out; with stop_on_error the batch stops there, the groups before it committed.
 * Returns KT_OK when every key was tried (look at s); otherwise the failure that stopped the
 * batch (a folder that cannot be written, a commit that failed), with s counting what stood.
 */
KT_MUST kt_rc transfer_package_batch(const world_paths *p, const world_module *m,
                                     const transfer_kek *k, const transfer_batch_opts *o,
                                     transfer_batch_summary *s, kt_err *e);

/* What the quorum approves for a batch: the keys (all checked already), their new ACL. */
typedef struct transfer_batch_approval {
    const transfer_kek *kek;
    const world_acl *acl; /* the same ACL for every key */
    const world_key_info *const *keys;
    const char *const *apps; /* each key's record app (transfer_reduce_check's rec_app) */
    size_t n;
} transfer_batch_approval;

/* Asked once, after every key was checked and before the first card is read (as
 * transfer_approve_fn). */
typedef kt_rc (*transfer_batch_approve_fn)(void *ctx, const transfer_batch_approval *a, kt_err *e);

/*
 * The approval for people: what transfer_approval_format says of the KEK, the target world and
 * the new ACL, then one line for every key (app/ident, type and size or curve, key hash). A heap
 * string (free()), or NULL when out of memory.
 */
char *transfer_batch_approval_text(const transfer_batch_approval *a);

/* What became of one key of a batch reduction: rc KT_OK with info the new key, else err. */
typedef void (*transfer_reduce_batch_fn)(void *ctx, const char *ident, kt_rc rc, const kt_err *err,
                                         const world_key_info *info);

typedef struct transfer_reduce_batch_opts {
    const char *app; /* the source keys' app; NULL: WORLD_KEY_APP_DEFAULT */
    const char *const *idents;
    size_t n;
    const char *const *cards;
    size_t ncards;
    world_pin_fn pin;
    void *pin_ctx;
    transfer_batch_approve_fn approve; /* required */
    void *approve_ctx;
    bool stop_on_error;            /* a key that fails its checks stops the batch before any
                                      card is read */
    transfer_reduce_batch_fn done; /* required: each key's outcome, in order */
    void *done_ctx;
} transfer_reduce_batch_opts;

/*
 * modify-acls for many keys: runs transfer_reduce_check on every key (a refusal is told to
 * o->done and the key left out, or with stop_on_error ends the batch with nothing signed), asks
 * o->approve once with every key that passed, opens the quorum once, and signs and writes each
 * key's reduced copy as transfer_reduce does. s counts the keys. KT_OK when the quorum was
 * opened and every approved key tried; the approval's refusal, the quorum's or a usage error
 * otherwise. KNSO and KM are wiped before returning.
 */
KT_MUST kt_rc transfer_reduce_batch(const world_paths *p, const world_module *m,
                                    const transfer_kek *k, const transfer_reduce_batch_opts *o,
                                    transfer_batch_summary *s, kt_err *e);

#endif
