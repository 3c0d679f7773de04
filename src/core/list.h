/* list.h -- the one intrusive doubly linked list of libsockit.
 *
 * A node lives inside the object it links (a peer, a member); a list is a
 * head node linked to itself when empty, as in libuv's queue.h and the
 * Linux kernel's list.h.  Insert, remove and move are O(1) and allocate
 * nothing.  Removing a node that is in no list is harmless once it was
 * initialised.
 */
#ifndef SOCKIT_LIST_H
#define SOCKIT_LIST_H

#include <stdbool.h>
#include <stddef.h>

typedef struct sk__list {
  struct sk__list *prev, *next;
} sk__list;

/* The object that holds node, given its type and the node's member. */
#define sk__list_entry(node, type, member)                                     \
  ((type *)((char *)(node)-offsetof(type, member)))

/* Iterates over every node of head; the body may remove the current node
 * (next is read before the body runs). */
#define sk__list_each(node, next_, head)                                       \
  for ((node) = (head)->next, (next_) = (node)->next; (node) != (head);        \
       (node) = (next_), (next_) = (node)->next)

static inline void sk__list_init(sk__list *l) {
  l->prev = l->next = l;
}

static inline bool sk__list_empty(const sk__list *head) {
  return head->next == head;
}

/* Whether node is in some list (it is not linked to itself). */
static inline bool sk__list_linked(const sk__list *node) {
  return node->next != node;
}

static inline sk__list *sk__list_first(const sk__list *head) {
  return head->next != head ? head->next : NULL;
}

static inline sk__list *sk__list_last(const sk__list *head) {
  return head->prev != head ? head->prev : NULL;
}

/* The node after / before node in head's list, or NULL at the end. */
static inline sk__list *sk__list_next(const sk__list *head,
                                      const sk__list *node) {
  return node->next != head ? node->next : NULL;
}

static inline sk__list *sk__list_prev(const sk__list *head,
                                      const sk__list *node) {
  return node->prev != head ? node->prev : NULL;
}

/* Links node after pos (pos may be the head: then node goes first). */
static inline void sk__list_insert_after(sk__list *pos, sk__list *node) {
  node->prev = pos;
  node->next = pos->next;
  pos->next->prev = node;
  pos->next = node;
}

static inline void sk__list_push_back(sk__list *head, sk__list *node) {
  sk__list_insert_after(head->prev, node);
}

/* Unlinks node and leaves it initialised (linked to itself). */
static inline void sk__list_remove(sk__list *node) {
  node->prev->next = node->next;
  node->next->prev = node->prev;
  sk__list_init(node);
}

/* Moves node to the end of head's list. */
static inline void sk__list_move_back(sk__list *head, sk__list *node) {
  sk__list_remove(node);
  sk__list_push_back(head, node);
}

#endif
