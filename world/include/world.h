/*
 * world.h - the face of world/, an index of its headers (world_base.h, world_shamir.h,
 * world_paths.h, world_lock.h, world_kdf.h, world_module.h, world_key.h, world_audit.h,
 * world_backup.h): the software module, the security world and its administrator
 * card set (ACS), modeled on an nShield Security World (docs/design.md §4).
 *
 * Key hierarchy:
 *   logical token LT (32 random bytes) --Shamir K-of-N--> shares, one per card,
 *       each card sealed under Argon2id(PIN)
 *   LT --> world secrets key --AEAD--> KM (module key) and the KNSO signing seed (world file)
 *   KM --> module signing key (derived), key-file keys (derived)
 *   module file: KM for day-to-day use, readable by its owner only
 *
 * Folder layout inside kmdata: local/world, local/module_<ESN>, local/key_<app>_<ident>;
 * cards default to <kmdata>/cards/card_<hash16>_<n> (card_<hash16>_s<set>_<n> after replace-cards).
 */
#ifndef KT_WORLD_H
#define KT_WORLD_H

#include "world_base.h"
#include "world_shamir.h"
#include "world_paths.h"
#include "world_lock.h"
#include "world_kdf.h"
#include "world_module.h"
#include "world_key.h"
#include "world_audit.h"
#include "world_backup.h"

#endif
