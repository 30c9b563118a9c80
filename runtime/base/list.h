/* Private: the one parser of integer lists ("1,3,5", "[model] fpn_levels = 2, 3, 4", "--folds 1,2").
 * The rules:
 *   - items are base-10 integers (an optional sign), each in [lo, hi];
 *   - items are separated by a comma, by spaces, or by both ("1,2", "1, 2", "1 2"); spaces around
 *     items are ignored; one trailing comma is allowed ("1,2,"); an empty item ("1,,2", ",1") is not;
 *   - an empty or blank text is the empty list;
 *   - at most max items.
 * Returns the number of items stored in out, or -1 when the text breaks a rule (out then holds
 * what was read before the break). */
#ifndef CTVK_RUNTIME_LIST_H
#define CTVK_RUNTIME_LIST_H
int ctvk__parse_ints(const char *text, int *out, int max, long lo, long hi);
#endif
