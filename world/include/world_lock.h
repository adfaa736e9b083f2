/*
 * world_lock.h - world/: the world lock (lock.c). Part of the folder's face; world.h is the index.
 */
#ifndef KT_WORLD_LOCK_H
#define KT_WORLD_LOCK_H

#include "world_base.h"
#include "world_paths.h"

/* A held world lock (flock on <kmdata>/local/lock); fd is -1 when there was no world to lock. */
typedef struct world_lock {
    int fd;
} world_lock;

/*
 * Takes the world lock: shared for commands that only read the world, exclusive for those that
 * write it; waits a bounded time (kt_flock_wait) and then fails naming the other holder. Before
 * that, checks that kmdata, its local/ and cards/ folders are private (kt_folder_open with
 * KT_FOLDER_PRIVATE); with create (world new), makes them first (0700). Without create, a kmdata
 * with no local/ folder holds no world: l->fd is -1 and the command goes on to say so. Then
 * finishes or undoes any change an interrupted run left there (kt_txn_recover), telling report.
 */
KT_MUST kt_rc world_lock_acquire(const world_paths *p, bool exclusive, bool create,
                                 kt_txn_report_fn report, void *ctx, world_lock *l, kt_err *e);

/* Releases the lock (safe on a lock never taken). */
void world_lock_release(world_lock *l);

#endif
