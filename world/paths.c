/*
 * paths.c - where a world lives: the kmdata folder (argument, KEYTRANSFER_KMDATA, then a
 * per-user default), its local/ folder with the world, module and key files, and the folder
 * that receives new administrator cards.
 */
#include "world.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* out = a followed by b, refusing a path that does not fit. */
static kt_rc set_path(char *out, size_t outsz, kt_err *e, const char *a, const char *b)
{
    int n = snprintf(out, outsz, "%s%s", a, b);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s%s", a, b);
    return KT_OK;
}

kt_rc world_paths_init(world_paths *p, const char *kmdata, const char *cards, kt_err *e)
{
    memset(p, 0, sizeof *p);
    kt_rc rc;
    const char *env = getenv("KEYTRANSFER_KMDATA");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");

    if (kmdata != NULL && kmdata[0] != '\0')
        rc = set_path(p->kmdata, sizeof p->kmdata, e, kmdata, "");
    else if (env != NULL && env[0] != '\0')
        rc = set_path(p->kmdata, sizeof p->kmdata, e, env, "");
    else if (xdg != NULL && xdg[0] == '/')
        rc = set_path(p->kmdata, sizeof p->kmdata, e, xdg, "/keytransfer/kmdata");
    else if (home != NULL && home[0] == '/')
        rc = set_path(p->kmdata, sizeof p->kmdata, e, home, "/.local/share/keytransfer/kmdata");
    else
        return kt_fail(e, KT_EUSAGE,
                       "no kmdata folder: give --kmdata DIR or set KEYTRANSFER_KMDATA");
    if (rc != KT_OK)
        return rc;

    if ((rc = set_path(p->local, sizeof p->local, e, p->kmdata, "/local")) != KT_OK)
        return rc;
    if ((rc = set_path(p->world, sizeof p->world, e, p->local, "/world")) != KT_OK)
        return rc;
    if (cards != NULL && cards[0] != '\0')
        return set_path(p->cards, sizeof p->cards, e, cards, "");
    return set_path(p->cards, sizeof p->cards, e, p->kmdata, "/cards");
}

kt_rc world_module_path(const world_paths *p, const char *esn, char *out, size_t outsz, kt_err *e)
{
    int n = snprintf(out, outsz, "%s/module_%s", p->local, esn);
    if (n < 0 || (size_t)n >= outsz)
        return kt_fail(e, KT_EUSAGE, "path too long: %s", p->local);
    return KT_OK;
}
