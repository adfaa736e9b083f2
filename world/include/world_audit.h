/*
 * world_audit.h - world/: the audit log (audit.c). Part of the folder's face; world.h is the index.
 */
#ifndef KT_WORLD_AUDIT_H
#define KT_WORLD_AUDIT_H

#include "world_base.h"
#include "world_key.h"
#include "world_module.h"
#include "world_paths.h"

/*
 * <kmdata>/local/audit: append-only and hash-chained. Every entry states its sequence number,
 * time, the hash of the entry before it (the world hash for the first), the operation, its
 * details (a JSON object) and the cards used, and is signed by the module key; an operation under
 * the quorum is signed by KNSO too. The log ends with a head (entry count and last entry hash)
 * signed by the module key, so a truncated log is told from a short one. docs/formats.md has the
 * layout. An entry is written in the same change (kt_txn) as the operation it records.
 */
#define WORLD_AUDIT_OP_MAX     32
#define WORLD_AUDIT_DETAIL_MAX 4096
#define WORLD_AUDIT_FILE_MAX   (64u * 1024 * 1024)
#define WORLD_AUDIT_NAME       "audit"

/* What an operation to record is. */
typedef struct world_audit_op world_audit_op;
struct world_audit_op {
    const char *op;        /* "key generate": 1..32 of [a-z -] */
    const json_t *detail;  /* an object, or NULL for {} (borrowed) */
    const unsigned *cards; /* the card numbers of the current set used, or NULL */
    size_t ncards;
};

/* Who signs: the module's signing key always; KNSO for an operation under the quorum. */
typedef struct world_audit_signer world_audit_signer;
struct world_audit_signer {
    const world_info *info;     /* the world (its hash, public keys, card set) */
    const kt_secbuf *module_sk; /* Ed25519 secret key of the module, 64 bytes */
    const kt_secbuf *knso_sk;   /* NULL unless the operation had the quorum */
};

/* One entry as read back (every field authenticated once world_audit_parse returned KT_OK). */
typedef struct world_audit_entry {
    uint64_t seq, time;
    char op[WORLD_AUDIT_OP_MAX + 1];
    char *detail; /* the JSON object's text (heap) */
    uint32_t cardset;
    unsigned cards[WORLD_MAX_CARDS];
    size_t ncards;
    bool knso_signed;
    uint8_t hash[WORLD_HASH_LEN];
} world_audit_entry;

typedef struct world_audit_log {
    world_audit_entry *entries;
    size_t n;
    uint8_t head[WORLD_HASH_LEN]; /* hash of the last entry (the world hash when empty) */
} world_audit_log;

/* The details an entry gives of a key: app, ident, type, size, curve, key hash. A new reference
 * (NULL when out of memory). */
json_t *world_audit_key_detail(const world_key_info *k);

/*
 * Removes every file of the key ident (key_<app>_<ident> for any app: the key and its reduced,
 * signed records), their bytes overwritten, as one change with a "key delete" entry signed by m.
 * KT_ENOENT when there is no such file. removed (optional, WORLD_KEY_FILES_MAX entries)
 * receives the file names, *nremoved their count.
 */
#define WORLD_KEY_FILES_MAX 64
KT_MUST kt_rc world_key_delete(const world_paths *p, const world_module *m, const char *ident,
                               char (*removed)[NAME_MAX + 1], size_t *nremoved, kt_err *e);

/* Erases the module file as world_module_erase does, with a "module erase" entry signed by m
 * (opened before) in the same change. */
KT_MUST kt_rc world_module_erase_logged(const world_paths *p, const world_module *m, kt_err *e);

/* True for the operations that need the quorum and so must carry KNSO's signature. */
bool world_audit_op_needs_knso(const char *op);

/*
 * Checks len bytes of a log against info's world: the format, that every entry is the next in
 * sequence, chained to the one before, signed by the module key (and by KNSO where the operation
 * needs the quorum), and that the head signs the count and the last entry. Any failure is
 * KT_EDENIED naming the first bad entry (1-based) and what is wrong with it. log (optional)
 * receives the entries; free it with world_audit_log_free.
 */
KT_MUST kt_rc world_audit_parse(const uint8_t *raw, size_t len, const world_info *info,
                                world_audit_log *log, kt_err *e);

/* Reads and checks <kmdata>/local/audit (world_audit_parse); a missing log is KT_ENOENT. */
KT_MUST kt_rc world_audit_read(const world_paths *p, const world_info *info, world_audit_log *log,
                               kt_err *e);
void world_audit_log_free(world_audit_log *log);

/*
 * Stages the log with op appended as part of the change t, whose folder dir is p->local
 * (KT_TXN_REPLACE, or KT_TXN_NEW for a new log). The log there is checked first, whole: a
 * damaged log is refused (KT_EDENIED, saying what to do) and nothing is staged; a missing log is
 * begun anew, its first entry chained to the world hash.
 */
KT_MUST kt_rc world_audit_stage(kt_txn *t, size_t dir, const world_paths *p,
                                const world_audit_signer *s, const world_audit_op *op, kt_err *e);

/* world_audit_stage with nops entries appended in order in the same change (a batch: one entry
 * per key, one rewrite of the log). */
KT_MUST kt_rc world_audit_stage_many(kt_txn *t, size_t dir, const world_paths *p,
                                     const world_audit_signer *s, const world_audit_op *ops,
                                     size_t nops, kt_err *e);

/* world_audit_stage in a change of its own over p->local, committed. The caller holds the world
 * lock exclusively. */
KT_MUST kt_rc world_audit_record(const world_paths *p, const world_audit_signer *s,
                                 const world_audit_op *op, kt_err *e);

#endif
