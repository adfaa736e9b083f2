/*
 * world_paths.h - world/: the paths of a kmdata folder (paths.c). Part of the folder's face;
 * world.h is the index.
 */
#ifndef KT_WORLD_PATHS_H
#define KT_WORLD_PATHS_H

#include "world_base.h"

typedef struct world_paths {
    char kmdata[PATH_MAX]; /* the key management data folder */
    char local[PATH_MAX];  /* <kmdata>/local */
    char cards[PATH_MAX];  /* where new cards are written */
    char world[PATH_MAX];  /* <kmdata>/local/world */
} world_paths;

/*
 * Resolves the folders: kmdata from the argument, else env KEYTRANSFER_KMDATA, else
 * $XDG_DATA_HOME/keytransfer/kmdata, else $HOME/.local/share/keytransfer/kmdata; cards from the
 * argument, else <kmdata>/cards. Creates nothing.
 */
KT_MUST kt_rc world_paths_init(world_paths *p, const char *kmdata, const char *cards, kt_err *e);

/* The module file path for an ESN. */
KT_MUST kt_rc world_module_path(const world_paths *p, const char *esn, char *out, size_t outsz,
                                kt_err *e);

#endif
