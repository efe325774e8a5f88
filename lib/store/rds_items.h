/*
 * store/rds_items.h - itemised documents: a read-model document with one
 * array kept item by item, so that a command changing one item writes that
 * item and not the whole document (issue 19: a voucher's events document is
 * ~80 KB at 200 events, and rewriting it for each new event cost its worker
 * more than everything else the command did).
 *
 * The hash at key holds "v" (the version, as for every document of
 * store/rds.h), "h" the text of the document up to and including the
 * array's "[", "t" the text from its "]" to the end, "p" the count of
 * patches since the document was last written whole, and one field
 * "i:<item id>" per item: "<sort key>\x1f<item JSON text>". Readers
 * (rds_get_versioned) see one text: h, the items ordered by their sort keys
 * (byte order) joined by ",", t.
 *
 * The same key may hold the whole-document form of store/rds.h ("d"), as a
 * release before this one writes it, or a stale marker ("d" ""): "d", when
 * present, is what the key says, and a patch refuses such a key (the caller
 * writes it whole, which turns it into the itemised form).
 */
#ifndef PSOP_RDS_ITEMS_H
#define PSOP_RDS_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <hiredis/hiredis.h>

#include "core/mustcheck.h"
#include "store/rds.h"

struct rds_item {
    const char *id, *sort, *text; /* the item's id, sort key and JSON text */
};

/* One itemised document to write: whole (rds_items_put_many: the items are
 * all of them) or patched (rds_items_patch_many: the items added or
 * replaced; from_version is the version the stored document must have). */
struct rds_itemised {
    const char *key;
    long long from_version, version;
    const char *head, *tail;
    size_t n;
    const struct rds_item *items;
};

/* Writes each document whole, in place of what the key holds, unless the key
 * holds a newer version or this one (a stale marker of this version is
 * replaced). written[i] tells which were. 0, or -1 with err. */
PSOP_MUSTCHECK int rds_items_put_many(struct rds *r, const struct rds_itemised *docs, size_t n,
                                      bool *written, char *err, size_t errlen);

/* Adds or replaces the items of each document, and sets its version, head
 * and tail, when the key holds the itemised form at exactly from_version.
 * patched[i] tells which were (the others are for the caller to write
 * whole). 0, or -1 with err (none known patched). */
PSOP_MUSTCHECK int rds_items_patch_many(struct rds *r, const struct rds_itemised *docs, size_t n,
                                        bool *patched, char *err, size_t errlen);

/* Pure: the document text of an itemised document: head, the n item values
 * ("<sort key>\x1f<text>", lens[i] bytes each) ordered by sort key, joined
 * by ",", tail. NULL when a value has no \x1f. Caller frees. */
char *rds_items_text(const char *head, size_t head_len, const char *tail, size_t tail_len,
                     const char *const *values, const size_t *lens, size_t n);

/* The document of an HGETALL reply (an array of field, value): the whole
 * form ("d"; "" is RDS_STALE) or the itemised one. *doc (caller frees) and
 * *version (when not NULL) for RDS_FOUND, *version for RDS_STALE; RDS_ABSENT
 * for an empty or half-written hash; RDS_ERROR with err for a version that
 * is not an integer. */
enum rds_got rds_doc_of_hash(const redisReply *rep, char **doc, long long *version, char *err,
                             size_t errlen);

#endif
