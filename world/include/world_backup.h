/*
 * world_backup.h - world/: backup and restore (backup.c). Part of the folder's face; world.h is the
 * index.
 */
#ifndef KT_WORLD_BACKUP_H
#define KT_WORLD_BACKUP_H

#include "world_base.h"
#include "world_module.h"
#include "world_paths.h"

/*
 * A backup is a folder shaped like a kmdata without its module: local/world, local/audit,
 * every local/key_* file (the keys and their reduced, signed records), cards/card_* of the
 * world's current set when asked for, and BACKUP, a manifest of every file and its SHA-256
 * signed by the module key (docs/formats.md). It never holds a module file: KM is in it only
 * sealed under the card set's token (the world file) and key files only sealed under KM.
 */
#define WORLD_BACKUP_MANIFEST  "BACKUP"
#define WORLD_BACKUP_FILES_MAX 4096

/* What a backup holds, once made or checked. */
typedef struct world_backup_info {
    world_info world;
    size_t nkeys;  /* key_* files */
    size_t ntoken; /* token files: tokenso_* (sealed SO PINs), tokenkey_* (reduced-token records) */
    size_t ncards; /* card files */
    bool has_audit;
    size_t naudit; /* entries of its audit log (checked) */
} world_backup_info;

/*
 * Writes a backup of p's world into out, a folder that must not exist yet (its parent must),
 * as one change (kt_txn over the parent, the folder staged whole and renamed into place), with a
 * "world backup" entry in the audit log in the same change. m is the opened module (it signs the
 * manifest and the entry). with_cards adds the current set's card files found in p->cards.
 */
KT_MUST kt_rc world_backup(const world_paths *p, const world_module *m, const char *out,
                           bool with_cards, world_backup_info *info, kt_err *e);

/*
 * Checks the backup folder dir without any secret: the manifest's format and module signature
 * against the backup's own world file (its KNSO signature checked), every file listed present
 * with its SHA-256, nothing else there (a module file above all), and its audit log whole
 * (world_audit_parse). KT_EDENIED naming the file that fails.
 */
KT_MUST kt_rc world_backup_check_files(const char *dir, world_backup_info *info, kt_err *e);

/*
 * world_backup_check_files, then every key file of the backup opened with KM (world_key_inspect:
 * the seal, the public key, the ACL signature): KM comes from km (a module of the same world, or
 * one from world_admin_open on the backup's world). KT_EDENIED names the first key file refused.
 */
KT_MUST kt_rc world_backup_check_keys(const char *dir, const world_module *km,
                                      world_backup_info *info, kt_err *e);

/*
 * Restores the backup dir into p's kmdata, which must hold no world and no key file: the files
 * are checked as world_backup_check_files does, then written as one change. The module is not
 * programmed: `keytransfer world program` with a quorum of the cards follows (nothing in a backup
 * can do it). No audit entry is written here, as there is no module key yet to sign one: the
 * restored log goes on with the world program that follows.
 */
KT_MUST kt_rc world_restore(const world_paths *p, const char *dir, world_backup_info *info,
                            kt_err *e);

/* A module for m built from KM of an opened quorum (for world_backup_check_keys without a
 * programmed module); closed with world_module_close. */
KT_MUST kt_rc world_module_from_admin(const world_admin *a, world_module *m, kt_err *e);

#endif
