/* hexdump.c -- -x/--hexdump: both directions of every peer, as the tap
 * of the stdio service (or of connect --send) sees them.
 *
 * The format (the man page's HEXDUMP section shows it), one line per 16
 * bytes at most, is the layout of `hexdump -C` with a direction in front:
 * '>' is sent, '<' received.  The offset (8 or more lower-case hex
 * digits) counts the bytes of that direction of that peer from 0.  Each
 * chunk (one read, one message sent) starts a line of its own, so a
 * chunk's last line may be short and the next starts at its own offset.
 * Then two blanks, the bytes in lower-case hex, each followed by a blank,
 * with one more blank after the eighth, padded to 16 bytes; a blank and
 * the bytes between '|', those from 0x20 to 0x7e as they are and every
 * other one as '.'.  A line "# NAME" comes first and whenever the chunk
 * is another peer's than the last one (listen -k).  ncat -x prints no
 * direction and restarts the offset at every chunk; socat -x has both,
 * on a header line per chunk: here every line carries them, so that grep
 * finds one direction.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cli_hexdump_open(cli_hexdump *h, const char *cmd, const char *path) {
  memset(h, 0, sizeof(*h));
  if (path == NULL)
    return 0;
  if (path[0] == '\0')
    return cli_usage_error(cmd, "--hexdump: empty file name (- for stderr)");
  h->path = path;
  if (strcmp(path, "-") == 0) {
    h->f = stderr;
    return 0;
  }
  /* Truncated, as ncat's -x and a shell's > do. */
  h->f = fopen(path, "w");
  if (h->f == NULL) {
    cli_error("%s: -x %s: %s", cmd, path, strerror(errno));
    return 1;
  }
  h->own = true;
  return 0;
}

/* One line of up to 16 bytes. */
static void dump_line(FILE *f, char mark, uint64_t off, const unsigned char *b,
                      size_t n) {
  char line[128];
  int used = snprintf(line, sizeof(line), "%c %08jx  ", mark, (uintmax_t)off);

  for (size_t i = 0; i < 16; i++) {
    if (i < n)
      used += snprintf(line + used, sizeof(line) - (size_t)used, "%02x ", b[i]);
    else
      used += snprintf(line + used, sizeof(line) - (size_t)used, "   ");
    if (i == 7)
      line[used++] = ' ';
  }
  line[used++] = ' ';
  line[used++] = '|';
  for (size_t i = 0; i < n; i++)
    line[used++] = b[i] >= 0x20 && b[i] <= 0x7e ? (char)b[i] : '.';
  line[used++] = '|';
  line[used++] = '\n';
  fwrite(line, 1, (size_t)used, f);
}

void cli_hexdump_tap(sk_peer *p, sk_tap_dir dir, uint64_t offset,
                     const char *data, size_t len, void *arg) {
  cli_hexdump *h = arg;
  const unsigned char *b = (const unsigned char *)data;
  char mark = dir == SK_TAP_SENT ? '>' : '<';

  if (h->f == NULL)
    return;
  /* A peer that left frees its memory, which the next may take: the
   * name tells them apart (clients come from different ports). */
  if (p != h->last || strcmp(sk_peer_name(p), h->last_name) != 0) {
    fprintf(h->f, "# %s\n", sk_peer_name(p));
    h->last = p;
    snprintf(h->last_name, sizeof(h->last_name), "%s", sk_peer_name(p));
  }
  for (size_t at = 0; at < len; at += 16)
    dump_line(h->f, mark, offset + at, b + at, len - at < 16 ? len - at : 16);
  fflush(h->f); /* a dump is read as it grows (tail -f) */
}

int cli_hexdump_close(cli_hexdump *h, const char *cmd) {
  int bad;

  if (h->f == NULL)
    return 0;
  bad = ferror(h->f) || fflush(h->f) != 0;
  if (h->own && fclose(h->f) != 0)
    bad = 1;
  h->f = NULL;
  if (bad)
    cli_error("%s: -x %s: write error", cmd, h->path);
  return bad;
}
